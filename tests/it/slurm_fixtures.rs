//! Runs every captured Slurm output in `tests/fixtures/slurm/` through its parser and compares
//! the reading with the hand-checked `NAME.expected.json` beside it; checks that the builders
//! produce the commands that were recorded; and fuzzes every parser with random text and
//! mutated captures: no input makes one panic, and what a reading says is in its input.
//!
//! A capture `NAME.txt` is copied unchanged from `shared/slurm/`: `$ COMMAND`, then
//! `--- stdout:`, `--- stderr:`, `--- exit code: N` and `--- recorded at` sections. Its
//! `NAME.expected.json` holds
//!
//! ```json
//! { "parse": "sacct",                    // the parser (KIND below)
//!   "format": "JobID,State",             // squeue/sacct fields; default: the command's -o
//!   "cases": [ { "stdout": "2-3",        // stdout lines fed as stdout ("all" = all of it)
//!                "stderr": "none",       // "none" feeds no stderr
//!                "exit": 0,              // overrides the recorded exit code (null = unknown)
//!                "reading": { ... } } ] } // the expected reading, serialized
//! ```
//!
//! or, for a single case, the case's keys at the top level. By default a case gets the
//! capture's stdout, stderr and exit code as recorded. KIND: sbatch, squeue, sacct, scancel,
//! scontrol.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use bsweep::sched::slurm::parse::{
    Class, QueryError, SACCT_FIELDS, SQUEUE_FIELDS, SacctField, SlurmJobId, SlurmState,
    SqueueField, parse_sacct, parse_sbatch, parse_scancel, parse_scontrol_config, parse_squeue,
    sacct_args, sacct_steps_args, scancel_args,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use crate::fuzzkit::{Mutation, floor, mutate};

/// Captures in `shared/slurm/` left out on purpose.
#[allow(dead_code)]
const SKIPPED: &[(&str, &str)] = &[
    (
        "00-notes.txt",
        "the recording session's notes, not command output",
    ),
    ("07-sinfo-busy.txt", "bsweep does not read sinfo"),
    ("21-sinfo.txt", "bsweep does not read sinfo"),
    (
        "25-sacct-visibility-of-new-pending-job.txt",
        "a timing note (sacct lag), not sacct output; documented in the parser",
    ),
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slurm")
}

fn captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    v
}

/// One recorded command and what it printed.
#[derive(Debug, Clone)]
struct Capture {
    command: String,
    stdout: String,
    stderr: String,
    exit: Option<i32>,
}

fn read_capture(path: &Path) -> Capture {
    let text = fs::read_to_string(path).expect("capture");
    let name = path.display();
    // The command runs up to the first section (a heredoc spans several lines).
    let (command, body) = text
        .strip_prefix("$ ")
        .and_then(|t| t.split_once("\n--- stdout:\n"))
        .unwrap_or_else(|| panic!("{name}: no '$ command' and '--- stdout:' lines"));
    let command = command.to_string();
    let (mut stdout, mut stderr, mut exit) = (String::new(), String::new(), None);
    let mut section = Some(1);
    for line in body.lines() {
        if line == "--- stderr:" {
            section = Some(2);
        } else if let Some(code) = line.strip_prefix("--- exit code: ") {
            exit = Some(code.parse().unwrap_or_else(|_| panic!("{name}: exit code")));
            section = None;
        } else if line.starts_with("--- recorded at") {
            section = None;
        } else {
            let out = match section {
                Some(1) => &mut stdout,
                Some(2) => &mut stderr,
                _ => panic!("{name}: text outside a section: {line:?}"),
            };
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(exit.is_some(), "{name}: no exit code");
    Capture {
        command,
        stdout,
        stderr,
        exit,
    }
}

/// Lines `spec` ("all", "none", "3", "2-7") of `text`, 1-based, newline-terminated.
fn select(text: &str, spec: &str) -> String {
    match spec {
        "all" => return text.to_string(),
        "none" => return String::new(),
        _ => {}
    }
    let (a, b) = spec.split_once('-').unwrap_or((spec, spec));
    let (a, b): (usize, usize) = (a.parse().expect("line"), b.parse().expect("line"));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        a >= 1 && b >= a && b <= lines.len(),
        "line range {spec} outside the text"
    );
    let mut s = lines[a - 1..b].join("\n");
    s.push('\n');
    s
}

/// The value of `-o` in a recorded command line.
fn format_of(command: &str) -> Option<String> {
    let words = shlex::split(command)?;
    let i = words.iter().position(|w| w == "-o")?;
    words.get(i + 1).cloned()
}

fn to_json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("readings serialize")
}

fn run(kind: &str, format: Option<&str>, stdout: &str, stderr: &str, exit: Option<i32>) -> Value {
    match kind {
        "sbatch" => to_json(parse_sbatch(stdout, stderr, exit)),
        "squeue" => {
            let fields = SqueueField::parse_format(format.expect("a squeue format"))
                .expect("known squeue fields");
            to_json(parse_squeue(stdout, stderr, exit, &fields))
        }
        "sacct" => {
            let fields = SacctField::parse_format(format.expect("a sacct format"))
                .expect("known sacct fields");
            to_json(parse_sacct(stdout, stderr, exit, &fields))
        }
        "scancel" => to_json(parse_scancel(stdout, stderr, exit)),
        "scontrol" => to_json(parse_scontrol_config(stdout, stderr, exit)),
        other => panic!("unknown parse kind {other:?}"),
    }
}

/// Equality of JSON readings, with numbers compared as f64 to 1e-9 relative. Returns the path
/// of the first difference.
fn diff(path: &str, want: &Value, got: &Value) -> Option<String> {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            ((a - b).abs() > 1e-9 * a.abs().max(1.0)).then(|| format!("{path}: want {a}, got {b}"))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: want {} items, got {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| diff(&format!("{path}[{i}]"), x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| match (a.get(k), b.get(k)) {
                (Some(x), Some(y)) => diff(&format!("{path}.{k}"), x, y),
                (Some(_), None) => Some(format!("{path}.{k}: missing from the reading")),
                (None, Some(_)) => Some(format!("{path}.{k}: not in the expected reading")),
                (None, None) => None,
            })
        }
        _ => (want != got).then(|| format!("{path}: want {want}, got {got}")),
    }
}

#[test]
fn every_capture_reads_as_expected() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for path in captures() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let exp_path = path.with_extension("expected.json");
        let Ok(exp_text) = fs::read_to_string(&exp_path) else {
            failures.push(format!("{name}: no {}", exp_path.display()));
            continue;
        };
        let spec: Value = serde_json::from_str(&exp_text)
            .unwrap_or_else(|e| panic!("{}: {e}", exp_path.display()));
        let cap = read_capture(&path);
        let kind = spec
            .get("parse")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{name}: no \"parse\" kind"));
        let format = spec
            .get("format")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| format_of(&cap.command));
        let single = [spec.clone()];
        let list = match spec.get("cases").and_then(Value::as_array) {
            Some(l) => l.as_slice(),
            None => &single,
        };
        for (i, case) in list.iter().enumerate() {
            cases += 1;
            let pick = |k: &str, all: &str| match case.get(k).and_then(Value::as_str) {
                Some(s) => select(all, s),
                None => all.to_string(),
            };
            let (stdout, stderr) = (pick("stdout", &cap.stdout), pick("stderr", &cap.stderr));
            let exit = match case.get("exit") {
                None => cap.exit,
                Some(v) => v.as_i64().map(|c| c as i32),
            };
            let got = run(kind, format.as_deref(), &stdout, &stderr, exit);
            let want = case
                .get("reading")
                .unwrap_or_else(|| panic!("{name}: no \"reading\""));
            if let Some(d) = diff("reading", want, &got) {
                failures.push(format!(
                    "{name} case {i} ({kind}): {d}\n  got: {}",
                    serde_json::to_string(&got).unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases >= 26, "only {cases} cases");
}

#[test]
fn every_expectation_has_its_capture_and_none_is_skipped_twice() {
    let caps = captures();
    for entry in fs::read_dir(fixture_dir()).expect("fixture dir") {
        let p = entry.expect("dir entry").path();
        let name = p.to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".expected.json") {
            assert!(
                Path::new(&format!("{stem}.txt")).exists(),
                "{name} has no capture"
            );
        }
    }
    assert_eq!(caps.len(), 24, "captures covered");
    for (skipped, _) in SKIPPED {
        assert!(
            !caps.iter().any(|c| c.ends_with(skipped)),
            "{skipped} is both skipped and covered"
        );
    }
}

/// The ids after `-j` (or scancel's words) in a recorded command.
fn ids_in(words: &[String]) -> Vec<SlurmJobId> {
    let list = match words.iter().position(|w| w == "-j") {
        Some(i) => words[i + 1].split(',').map(str::to_string).collect(),
        None => words[1..].to_vec(),
    };
    list.iter()
        .map(|s| s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
        .collect()
}

#[test]
fn builders_reproduce_the_recorded_commands() {
    let mut checked = 0;
    for path in captures() {
        let cap = read_capture(&path);
        let Some(words) = shlex::split(&cap.command) else {
            continue;
        };
        let built = match words.first().map(String::as_str) {
            Some("sacct") if format_of(&cap.command).as_deref() == Some(&sacct_fmt()) => {
                let ids = ids_in(&words);
                if words.iter().any(|w| w == "-X") {
                    sacct_args(&ids)
                } else {
                    sacct_steps_args(&ids)
                }
            }
            Some("scancel") if !words.iter().any(|w| w == "-v") => scancel_args(&ids_in(&words)),
            _ => continue,
        };
        assert_eq!(built.expect("argv"), words, "{}", path.display());
        checked += 1;
    }
    // 08, 08b, 15, 16, 17, 23 (sacct) and 02, 09, 10, 14 (scancel).
    assert_eq!(checked, 10);
}

fn sacct_fmt() -> String {
    bsweep::sched::slurm::parse::sacct_format(SACCT_FIELDS)
}

/// The real readings the engine leans on, spelled out beyond the JSON comparison.
#[test]
fn the_facts_a_scheduler_relies_on() {
    let read = |name: &str| read_capture(&fixture_dir().join(name));
    let fields = |cap: &Capture| {
        SqueueField::parse_format(&format_of(&cap.command).expect("-o")).expect("fields")
    };
    // squeue with only purged ids: none known, not a failure.
    let c = read("11-squeue-purged-alone.txt");
    let r = parse_squeue(&c.stdout, &c.stderr, c.exit, &fields(&c)).expect("reading");
    assert!(r.none_known && r.records.is_empty());
    // Pending tasks stay one typed line, distinct from the running element.
    let c = read("05-squeue-all-states.txt");
    let r = parse_squeue(&c.stdout, &c.stderr, c.exit, &fields(&c)).expect("reading");
    let tasks: Vec<&SlurmJobId> = r
        .records
        .iter()
        .map(|r| &r.job_id)
        .filter(|id| matches!(id, SlurmJobId::Tasks { .. }))
        .collect();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].to_string(), "16_[2-4%1]");
    // Timed out: TIMEOUT on the job, the batch step CANCELLED 0:15, its MaxRSS merged.
    let c = read("23-sacct-timeout-job.txt");
    let r = parse_sacct(&c.stdout, &c.stderr, c.exit, SACCT_FIELDS).expect("reading");
    let job = &r.records[0];
    assert_eq!(
        job.state.class(),
        Class::Failed {
            reason: Some("TIMEOUT")
        }
    );
    assert_eq!(job.steps[0].state, SlurmState::Cancelled);
    assert_eq!(job.max_rss_mb, Some(4616.0 / 1024.0));
    assert_eq!(job.elapsed_seconds, Some(88.0));
    // The fast job first recorded as "allocation" keeps the id it can be matched by.
    let c = read("24-sacct-race-fast-job.txt");
    let f = SacctField::parse_format(
        "JobID,JobIDRaw,JobName,Partition,State,ExitCode,Elapsed,MaxRSS,Start,End",
    )
    .expect("fields");
    let early = parse_sacct(&select(&c.stdout, "4-5"), "", Some(0), &f).expect("reading");
    assert_eq!(early.records[0].job_name.as_deref(), Some("allocation"));
    assert_eq!(early.records[0].job_id_raw, Some(19));
    assert_eq!(early.records[0].partition, None);
    // A failing squeue is not "no jobs".
    assert!(matches!(
        parse_squeue("", "", Some(1), SQUEUE_FIELDS),
        Err(QueryError::Failed { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Fuzzing: every parser on random text and on mutated captures

static CAPTURES: LazyLock<Vec<Capture>> =
    LazyLock::new(|| captures().iter().map(|p| read_capture(p)).collect());

/// Pieces of Slurm output that steer the parsers down their less common paths.
const TOKENS: &[&str] = &[
    "|",
    "||",
    "_",
    "[",
    "]",
    "%",
    "-",
    ",",
    ".",
    ":",
    ";",
    "+",
    " ",
    "\n",
    "\r\n",
    "\t",
    "0",
    "7",
    "16_",
    "16_[2-4%1]",
    "10_3",
    "7+0",
    ".batch",
    ".extern",
    "...",
    "18446744073709551616",
    "4294967296",
    "RUNNING",
    "PENDING",
    "COMPLETED",
    "CANCELLED by 0",
    "CANCELLED by ",
    "TIMEOUT",
    "DONE",
    "R",
    "PD",
    "CG",
    "None",
    "Unknown",
    "N/A",
    "INVALID",
    "0:0",
    "0:15",
    "3:",
    "63192K",
    "1.5G",
    "12X",
    "00:00:03",
    "1-02:03:04",
    "0:03",
    "2026-12-01T08:01:41",
    "2026-02-30T00:00:00",
    "Invalid job id specified",
    "slurm_load_jobs error: ",
    "sbatch: error: ",
    "Batch job submission failed: ",
    "Unable to contact slurm controller",
    "Socket timed out on send/recv operation",
    "Invalid partition name specified",
    "Submitted batch job ",
    "8;cluster",
    "Kill job error on job id ",
    ": ",
    "Job/step already completing or completed",
    "MaxArraySize = ",
    "MinJobAge = 30 sec",
    " = ",
    "é",
    "日本",
    "\u{0}",
    "\u{85}",
    "\u{2028}",
    "\u{feff}",
    "🦀",
];

fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Failures are turned into unit tests beside the parser, not kept as seed files.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(TOKENS).prop_map(str::to_string),
        1 => "[0-9]{1,22}",
        1 => "(?s).{1,4}",
    ]
}

fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "(?s).{0,200}",
        4 => prop::collection::vec(token(), 0..60).prop_map(|v| v.concat()),
        1 => (token(), 500usize..4000, token()).prop_map(|(a, n, b)| format!("{}{b}", a.repeat(n))),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let len = prop_oneof![1usize..8, 8usize..120];
    prop_oneof![
        3 => (any::<Index>(), len.clone()).prop_map(|(i, n)| Mutation::Delete(i, n)),
        2 => (any::<Index>(), len.clone()).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        5 => (any::<Index>(), token()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        2 => (any::<Index>(), len, token()).prop_map(|(i, n, t)| Mutation::Replace(i, n, t)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => any::<Index>().prop_map(Mutation::DropLine),
        1 => any::<Index>().prop_map(Mutation::DupLine),
    ]
}

/// A real capture's stdout and stderr with up to 8 mutations each, its command's fields, and
/// its exit code (sometimes another one).
fn mutated_capture() -> impl Strategy<Value = (usize, String, String, Option<i32>)> {
    (
        any::<Index>(),
        prop::collection::vec(mutation(), 0..8),
        prop::collection::vec(mutation(), 0..3),
        prop_oneof![3 => Just(None), 1 => Just(Some(None)), 1 => (0i32..3).prop_map(|c| Some(Some(c)))],
    )
        .prop_map(|(which, out_ops, err_ops, exit)| {
            let i = which.index(CAPTURES.len());
            let c = &CAPTURES[i];
            let exit = exit.unwrap_or(c.exit);
            (i, mutate(&c.stdout, &out_ops), mutate(&c.stderr, &err_ops), exit)
        })
}

/// The digits of an id's base appear in the text it was read from.
fn base_in(id: &SlurmJobId, text: &str) -> bool {
    text.contains(&id.base().to_string())
}

/// Every parser on one input, with what holds whatever the input.
fn check_all(
    stdout: &str,
    stderr: &str,
    exit: Option<i32>,
    squeue_fields: &[SqueueField],
    sacct_fields: &[SacctField],
) -> Result<(), TestCaseError> {
    let both = format!("{stdout}\n{stderr}");
    match parse_sbatch(stdout, stderr, exit) {
        Ok(ok) => prop_assert!(both.contains(&ok.job_id.to_string()), "sbatch id {ok:?}"),
        Err(e) => prop_assert!(!e.message.trim().is_empty(), "empty sbatch message"),
    }
    let check_query_error = |e: &QueryError| -> Result<(), TestCaseError> {
        match e {
            QueryError::Unreadable { source, .. } => {
                prop_assert!(!source.expected.is_empty());
                if let Some(l) = source.line {
                    prop_assert!(l >= 1 && l <= stdout.lines().count().max(1), "line {l}");
                }
            }
            QueryError::Failed { message, .. } => {
                prop_assert!(exit != Some(0), "failed on exit 0: {e:?}");
                prop_assert!(!message.trim().is_empty());
            }
        }
        Ok(())
    };
    for fields in [squeue_fields, SQUEUE_FIELDS] {
        match parse_squeue(stdout, stderr, exit, fields) {
            Ok(r) => {
                for rec in &r.records {
                    prop_assert!(base_in(&rec.job_id, stdout), "squeue id {:?}", rec.job_id);
                    prop_assert!(
                        stdout.contains(rec.state.as_str()) || stdout.contains(rec.state.code()),
                        "squeue state {} not in the input",
                        rec.state
                    );
                    if let Some(n) = &rec.name {
                        prop_assert!(stdout.contains(n.as_str()), "squeue name {n:?}");
                    }
                }
                if r.none_known {
                    prop_assert!(r.records.is_empty());
                    prop_assert!(stderr.contains("Invalid job id specified"));
                }
                for m in &r.messages {
                    prop_assert!(!m.trim().is_empty());
                }
            }
            Err(e) => check_query_error(&e)?,
        }
    }
    for fields in [sacct_fields, SACCT_FIELDS] {
        match parse_sacct(stdout, stderr, exit, fields) {
            Ok(r) => {
                for rec in &r.records {
                    prop_assert!(base_in(&rec.job_id, stdout), "sacct id {:?}", rec.job_id);
                    prop_assert!(stdout.contains(rec.state.as_str()), "sacct {}", rec.state);
                    if let Some(uid) = rec.cancelled_by {
                        let said = format!("CANCELLED by {uid}");
                        prop_assert!(stdout.contains(&said), "{said} not in the input");
                    }
                    for s in &rec.steps {
                        prop_assert!(stdout.contains(&format!(".{}", s.step)), "step {s:?}");
                        if let (Some(a), Some(b)) = (s.max_rss_mb, rec.max_rss_mb) {
                            prop_assert!(a <= b, "merged MaxRSS below a step's");
                        }
                    }
                }
            }
            Err(e) => check_query_error(&e)?,
        }
    }
    match parse_scancel(stdout, stderr, exit) {
        Ok(r) => {
            for id in r.not_found.iter().chain(&r.already_done) {
                prop_assert!(both.contains(&format!("job id {id}:")), "scancel {id}");
            }
        }
        Err(e) => check_query_error(&e)?,
    }
    match parse_scontrol_config(stdout, stderr, exit) {
        Ok(c) => {
            if let Some(n) = c.max_array_size {
                prop_assert!(stdout.contains("MaxArraySize") && stdout.contains(&n.to_string()));
            }
        }
        Err(e) => check_query_error(&e)?,
    }
    // Any id that reads prints back as text that reads the same.
    for word in stdout.split(['|', '\n', ' ']) {
        if let Ok(id) = word.parse::<SlurmJobId>() {
            prop_assert_eq!(id.to_string().parse::<SlurmJobId>().ok(), Some(id.clone()));
        }
    }
    Ok(())
}

fn capture_fields(i: usize) -> (Vec<SqueueField>, Vec<SacctField>) {
    let fmt = format_of(&CAPTURES[i].command).unwrap_or_default();
    (
        SqueueField::parse_format(&fmt).unwrap_or_else(|_| SQUEUE_FIELDS.to_vec()),
        SacctField::parse_format(&fmt).unwrap_or_else(|_| SACCT_FIELDS.to_vec()),
    )
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn random_text_breaks_no_parser(
        stdout in arbitrary_text(),
        stderr in arbitrary_text(),
        exit in prop_oneof![Just(None), (0i32..3).prop_map(Some)],
    ) {
        check_all(&stdout, &stderr, exit, SQUEUE_FIELDS, SACCT_FIELDS)?;
    }

    #[test]
    fn mutated_captures_break_no_parser((i, stdout, stderr, exit) in mutated_capture()) {
        let (sq, sa) = capture_fields(i);
        check_all(&stdout, &stderr, exit, &sq, &sa)?;
    }

    #[test]
    fn captures_split_anywhere_break_no_parser(which in any::<Index>(), at in any::<Index>()) {
        let i = which.index(CAPTURES.len());
        let c = &CAPTURES[i];
        let text = format!("{}{}", c.stdout, c.stderr);
        let cut = floor(&text, at.index(text.len() + 1));
        let (sq, sa) = capture_fields(i);
        check_all(&text[..cut], &text[cut..], None, &sq, &sa)?;
        check_all(&text[cut..], "", c.exit, &sq, &sa)?;
    }
}
