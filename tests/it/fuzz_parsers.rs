//! Property-based fuzzing of every parser bsweep runs on untrusted input: the LSF output
//! parsers (arbitrary text, mutated real captures, generated bjobs/bsub output with a known
//! reading) and the tar unpacker `collect` downloads through. Bounded for CI: set
//! PROPTEST_CASES for a longer local run. Failing seeds are kept in `proptest-regressions/`,
//! and interesting inputs in `tests/fuzz-corpus/`, which `corpus_replays_through_every_parser`
//! feeds to every parser.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use bsweep::sched::lsf::parse::{
    BJOBS_DELIMITER, BJOBS_FIELDS, BjobsReading, JobRecord, ParseError, Stat, parse_bhist_long,
    parse_bjobs_delimited, parse_bjobs_json, parse_bjobs_table, parse_bkill, parse_bqueues,
    parse_bqueues_json, parse_bsub, parse_lsid, parse_trailer, parse_trailer_of,
    supports_o_and_json,
};
use bsweep::spec::Spec;
use bsweep::transport::archive::unpack_into;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;

use crate::fuzzkit::{Mutation, floor, mutate};

// ---------------------------------------------------------------------------------------------
// Configuration and inputs

/// `default` cases, or PROPTEST_CASES when set (a longer local run).
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Seeds of past failures, replayed first on every run (kept in the repository).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/fuzz_parsers.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The output part of a capture: everything after the first `# ---` line.
fn body(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix("# ---\n") {
        return rest;
    }
    match text.find("\n# ---\n") {
        Some(i) => &text[i + "\n# ---\n".len()..],
        None => text,
    }
}

/// Bodies of the real captures in `tests/fixtures/lsf/`, sorted by file name.
static CAPTURES: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    let dir = repo_path("tests/fixtures/lsf");
    let mut out: Vec<(String, String)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .map(|p| {
            let text = fs::read_to_string(&p).expect("capture");
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, body(&text).to_string())
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 30,
        "expected the LSF captures, found {}",
        out.len()
    );
    out
});

/// Pieces of LSF output that steer parsers down their less common paths.
const TOKENS: &[&str] = &[
    "<",
    ">",
    "[",
    "]",
    "^",
    "-",
    "\"",
    "\n",
    "\r\n",
    "\t",
    " ",
    "   ",
    ":",
    ",",
    "*",
    "{",
    "}",
    "0",
    "7",
    "42",
    "-1",
    "2147483648",
    "18446744073709551616",
    "PEND",
    "RUN",
    "DONE",
    "EXIT",
    "ZOMBI",
    "POST_DONE",
    "Run",
    "Job <",
    "Job <12>",
    "Job <12[3]>",
    " is submitted",
    " submitted to queue <q>.",
    " is not found",
    " is being terminated",
    ": Job has already finished",
    "Please wait ...\n",
    "\"JOBID\":",
    "\"STAT\":",
    "\"ERROR\":",
    "\"RECORDS\":[",
    "{\"COMMAND\":\"bjobs\",\"JOBS\":1,\"RECORDS\":[{\"JOBID\":\"1\",\"STAT\":\"RUN\"}]}",
    "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME",
    "QUEUE_NAME PRIO STATUS MAX JL/U JL/P JL/H NJOBS PEND RUN SUSP",
    "Oct 22 09:22",
    "10/19-17:10:27",
    "8*m006",
    "IBM Spectrum LSF Standard 10.1.0.13, Jan 1 2024",
    "My cluster name is ",
    "Sender: LSF System <lsf@h>",
    "Subject: Job 42: <x> Done",
    "Successfully completed.",
    "Exited with exit code ",
    "TERM_MEMLIMIT: job killed",
    "Resource usage summary:",
    "    CPU time :    1.5 sec.",
    "Job <1>, User <u>, Status <",
    "Tue Jul 24 10:26:47: ",
    "Completed <exit>; ",
    "                     ",
    "é",
    "日本",
    "\u{0}",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
    "\u{feff}",
    "\u{200b}",
    "🦀",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(TOKENS).prop_map(str::to_string),
        1 => "[0-9]{1,25}",
        1 => "(?s).{1,4}",
    ]
}

/// Arbitrary text: any chars (control chars and unicode included), soups of LSF tokens, and
/// very long lines.
fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "(?s).{0,200}",
        1 => "[\\x00-\\x7f]{0,200}",
        4 => prop::collection::vec(token(), 0..60).prop_map(|v| v.concat()),
        1 => (token(), 500usize..5000, token()).prop_map(|(a, n, b)| format!("{}{b}", a.repeat(n))),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let len = prop_oneof![1usize..8, 8usize..200];
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

/// A real capture with up to 8 mutations, now and then split between stdout and stderr.
fn mutated_capture() -> impl Strategy<Value = (String, String)> {
    (
        any::<Index>(),
        prop::collection::vec(mutation(), 1..8),
        any::<Index>(),
    )
        .prop_map(|(which, ops, split)| {
            let m = mutate(&CAPTURES[which.index(CAPTURES.len())].1, &ops);
            let cut = floor(&m, split.index(m.len() * 4 + 1));
            (m[..cut].to_string(), m[cut..].to_string())
        })
}

// ---------------------------------------------------------------------------------------------
// Invariants that hold on any input

fn check_error(e: &ParseError, stdout: &str) -> Result<(), TestCaseError> {
    let shown = e.to_string();
    prop_assert!(!e.expected.trim().is_empty(), "empty expectation: {e:?}");
    prop_assert!(shown.contains("expected"), "{shown:?}");
    if let Some(l) = e.line {
        let lines = stdout.lines().count().max(1);
        prop_assert!(l >= 1 && l <= lines, "line {l} of {lines}: {e:?}");
    }
    Ok(())
}

/// `Job <id>` appears in the text.
fn names_job(text: &str, id: &str) -> bool {
    text.contains(&format!("Job <{id}>"))
}

/// The id of an array element is `ID[index]`: ID is printed as the JOBID.
fn base_id(id: &str) -> &str {
    id.split_once('[').map_or(id, |(b, _)| b)
}

fn check_bjobs(
    what: &str,
    r: &Result<BjobsReading, ParseError>,
    stdout: &str,
    stderr: &str,
) -> Result<(), TestCaseError> {
    let r = match r {
        Ok(r) => r,
        Err(e) => return check_error(e, stdout),
    };
    let both = format!("{stdout}\n{stderr}");
    for rec in &r.records {
        let base = base_id(&rec.job_id);
        prop_assert!(!base.trim().is_empty(), "{what}: empty job id: {rec:?}");
        // JSON strings may spell the text with escapes: only checked when there are none.
        if !stdout.contains('\\') {
            prop_assert!(stdout.contains(base), "{what}: id {base} not in input");
            prop_assert!(
                stdout.contains(rec.stat.as_str()),
                "{what}: {} reported, not in the input",
                rec.stat
            );
        }
    }
    for id in &r.not_found {
        prop_assert!(
            names_job(&both, id) || both.contains('\\'),
            "{what}: not_found {id} is named nowhere"
        );
    }
    for m in &r.messages {
        prop_assert!(!m.trim().is_empty(), "{what}: empty message");
    }
    Ok(())
}

/// The first `Job <N> is submitted` / `Job <N> submitted` with N a u64, looking at every
/// occurrence on every line (stdout first) — an oracle written without the parser's regex.
fn submitted_oracle(stdout: &str, stderr: &str) -> Option<u64> {
    for line in stdout.lines().chain(stderr.lines()) {
        let mut rest = line;
        while let Some(p) = rest.find("Job <") {
            let after = &rest[p + 5..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let tail = &after[digits..];
            if digits > 0
                && (tail.starts_with("> is submitted") || tail.starts_with("> submitted"))
                && let Ok(id) = after[..digits].parse::<u64>()
            {
                return Some(id);
            }
            rest = &rest[p + 1..];
        }
    }
    None
}

/// Every LSF parser on one input, with the invariants that hold whatever the input.
fn check_all(stdout: &str, stderr: &str) -> Result<(), TestCaseError> {
    // bsub: a job id only when the text really says it was submitted, and then the first one.
    for exit in [Some(0), Some(255), None] {
        match parse_bsub(stdout, stderr, exit) {
            Ok(s) => {
                prop_assert_eq!(Some(s.job_id), submitted_oracle(stdout, stderr));
                if let Some(q) = &s.queue {
                    prop_assert!(stdout.contains(q.as_str()) || stderr.contains(q.as_str()));
                }
            }
            Err(e) => {
                prop_assert_eq!(submitted_oracle(stdout, stderr), None, "missed: {:?}", e);
                prop_assert!(!e.message.trim().is_empty(), "empty bsub message");
            }
        }
    }

    check_bjobs("json", &parse_bjobs_json(stdout, stderr), stdout, stderr)?;
    let delimited = parse_bjobs_delimited(stdout, stderr, BJOBS_FIELDS, BJOBS_DELIMITER);
    check_bjobs("delimited", &delimited, stdout, stderr)?;
    if let Ok(r) = &delimited {
        // The STAT cell of some row is exactly the state reported.
        let stat_col = BJOBS_FIELDS
            .iter()
            .position(|f| *f == "stat")
            .expect("stat");
        for rec in &r.records {
            let seen = stdout.lines().any(|l| {
                let cells: Vec<&str> = l.trim().split(BJOBS_DELIMITER).map(str::trim).collect();
                cells.len() == BJOBS_FIELDS.len()
                    && cells[0] == base_id(&rec.job_id)
                    && cells[stat_col] == rec.stat.as_str()
            });
            prop_assert!(seen, "delimited: {rec:?} matches no row");
        }
    }
    let small = parse_bjobs_delimited(stdout, stderr, &["jobid", "stat", "exec_host"], '^');
    check_bjobs("delimited-3", &small, stdout, stderr)?;
    prop_assert!(parse_bjobs_delimited(stdout, stderr, &[], ' ').is_err());
    let table = parse_bjobs_table(stdout, stderr);
    check_bjobs("table", &table, stdout, stderr)?;
    if let Ok(r) = &table {
        for rec in &r.records {
            let seen = stdout.lines().any(|l| {
                let t: Vec<&str> = l.split_whitespace().collect();
                t.len() >= 3 && base_id(t[0]) == base_id(&rec.job_id) && t[2] == rec.stat.as_str()
            });
            prop_assert!(seen, "table: {rec:?} matches no row");
        }
    }

    let both = format!("{stdout}\n{stderr}");
    let k = parse_bkill(stdout, stderr);
    for o in &k.outcomes {
        prop_assert!(names_job(&both, &o.job_id), "bkill: {o:?} named nowhere");
    }
    for m in &k.messages {
        prop_assert!(
            !m.is_empty() && both.contains(m.as_str()),
            "bkill message {m:?}"
        );
    }

    for r in [parse_bqueues(stdout), parse_bqueues_json(stdout)] {
        match r {
            Ok(qs) => {
                for q in qs {
                    prop_assert!(!q.name.is_empty() && !q.status.is_empty(), "{q:?}");
                    if !stdout.contains('\\') {
                        prop_assert!(stdout.contains(&q.name), "queue {} not in input", q.name);
                    }
                }
            }
            Err(e) => check_error(&e, stdout)?,
        }
    }

    match parse_lsid(stdout) {
        Ok(info) => {
            let _ = supports_o_and_json(&info);
            prop_assert!(!info.product.is_empty() && stdout.contains(&info.product));
            let lower = info.product.to_ascii_lowercase();
            prop_assert!(
                !lower.contains("please wait") && !lower.contains("still trying"),
                "lsid: chatter taken for the banner: {:?}",
                info.product
            );
            for v in [&info.version, &info.cluster, &info.master]
                .into_iter()
                .flatten()
            {
                prop_assert!(stdout.contains(v.as_str()), "lsid: {v:?} not in input");
            }
        }
        Err(e) => check_error(&e, stdout)?,
    }

    let trailer = parse_trailer(stdout);
    // The job script LSF echoes is the job's text, not LSF's: it cannot change the reading.
    if let Some(plain) = without_script_lines(stdout) {
        prop_assert_eq!(
            &parse_trailer(&plain),
            &trailer,
            "script lines changed the trailer"
        );
    }
    if let Some(t) = trailer {
        // A report starts at a `Sender:` line, whoever the sender (LSF, OpenLava, a site).
        prop_assert!(stdout.contains("Sender: "));
        if let Some(id) = &t.job_id {
            prop_assert!(stdout.contains(&format!("Job {id}:")), "trailer id {id}");
        }
    }

    match parse_bhist_long(stdout) {
        Ok(recs) => {
            for r in recs {
                prop_assert!(!r.job_id.is_empty());
                if let Some(s) = r.stat
                    && !s.is_finished()
                {
                    // OpenLava wraps `Status <PEND>` across lines (21-space indent), even in words.
                    let unwrapped = stdout.replace("\n                     ", "");
                    prop_assert!(unwrapped.contains(s.as_str()), "bhist: {s} not in input");
                }
            }
        }
        Err(e) => {
            prop_assert!(e.line.is_some() && !e.expected.is_empty(), "{e:?}");
        }
    }
    Ok(())
}

/// "Please wait" before any output changes no reading (beyond line numbers).
fn check_chatter(text: &str) -> Result<(), TestCaseError> {
    let chatty = format!("Cannot connect to LSF. Please wait ...\n{text}");
    let recs = |r: Result<BjobsReading, ParseError>| -> Result<Vec<String>, ()> {
        r.map(|r| r.records.iter().map(|x| format!("{x:?}")).collect())
            .map_err(|_| ())
    };
    prop_assert_eq!(
        recs(parse_bjobs_json(text, "")),
        recs(parse_bjobs_json(&chatty, ""))
    );
    prop_assert_eq!(
        recs(parse_bjobs_table(text, "")),
        recs(parse_bjobs_table(&chatty, ""))
    );
    prop_assert_eq!(
        recs(parse_bjobs_delimited(
            text,
            "",
            BJOBS_FIELDS,
            BJOBS_DELIMITER
        )),
        recs(parse_bjobs_delimited(
            &chatty,
            "",
            BJOBS_FIELDS,
            BJOBS_DELIMITER
        ))
    );
    prop_assert_eq!(parse_bqueues(text).ok(), parse_bqueues(&chatty).ok());
    prop_assert_eq!(
        parse_bqueues_json(text).ok(),
        parse_bqueues_json(&chatty).ok()
    );
    prop_assert_eq!(parse_lsid(text).ok(), parse_lsid(&chatty).ok());
    prop_assert_eq!(
        parse_bsub(text, "", Some(0)).ok(),
        parse_bsub(&chatty, "", Some(0)).ok()
    );
    prop_assert_eq!(parse_bhist_long(text).ok(), parse_bhist_long(&chatty).ok());
    Ok(())
}

/// `text` without the lines of the job scripts LSF echoes in its reports (between a line of
/// dashes + "# LSBATCH: User input" and the next line of dashes), or None if it has none.
fn without_script_lines(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut inside = false;
    let mut any = false;
    for (i, l) in lines.iter().enumerate() {
        if inside && !is_dash_line(l) {
            any = true;
            continue;
        }
        inside =
            !inside && l.trim() == "# LSBATCH: User input" && i > 0 && is_dash_line(lines[i - 1]);
        out.push(*l);
    }
    any.then(|| out.join("\n"))
}

// ---------------------------------------------------------------------------------------------
// Generated bjobs output with a known reading

/// A job as the generator makes it, and how each bjobs form prints it.
#[derive(Debug, Clone)]
struct GenJob {
    id: u64,
    /// The STAT text: a known state, or anything else.
    stat: String,
    /// The EXIT_CODE text: a number, `-`, or garbage.
    exit: String,
    queue: String,
    name: String,
    hosts: String,
    submit: String,
    run_time: String,
    max_mem: String,
}

fn known_stat(text: &str) -> Option<Stat> {
    Stat::ALL.into_iter().find(|s| s.as_str() == text.trim())
}

fn stat_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(Stat::ALL.to_vec()).prop_map(|s| s.as_str().to_string()),
        1 => prop::sample::select(Stat::ALL.to_vec())
            .prop_map(|s| format!(" {} ", s.as_str())),
        1 => "[A-Z][A-Z_]{1,9}",
        1 => prop::sample::select(vec!["Run", "done", "POST_DONE", "-", "", "RUNNING", "EXIT_"])
            .prop_map(str::to_string),
        1 => "[^\\^\\n\\r]{0,6}",
    ]
}

fn exit_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("-".to_string()),
        4 => any::<i32>().prop_map(|c| c.to_string()),
        1 => prop::sample::select(vec!["1.5", "abc", "2147483648", "0x1", "--3"])
            .prop_map(str::to_string),
    ]
}

fn gen_job() -> impl Strategy<Value = GenJob> {
    (
        (1u64..u64::MAX, stat_text(), exit_text()),
        prop_oneof![Just("-".to_string()), "[a-z][a-z0-9._]{0,10}"],
        prop_oneof![
            Just("-".to_string()),
            "[A-Za-z0-9_.-]{1,12}",
            "[a-z]{1,8}\\[[0-9]{1,4}\\]",
        ],
        prop_oneof![
            Just("-".to_string()),
            "[a-z][a-z0-9-]{0,8}",
            "([0-9]{1,2}\\*)?[a-z][a-z0-9]{0,5}(:([0-9]{1,2}\\*)?[a-z][a-z0-9]{0,5}){0,3}",
        ],
        prop_oneof![Just("-".to_string()), Just("Oct 22 09:22".to_string())],
        prop_oneof![
            Just("-".to_string()),
            (0u32..100_000).prop_map(|s| format!("{s} second(s)"))
        ],
        prop_oneof![
            Just("-".to_string()),
            (0u32..100_000).prop_map(|s| format!("{s} Mbytes")),
            Just("5208".to_string()),
        ],
    )
        .prop_map(
            |((id, stat, exit), queue, name, hosts, submit, run_time, max_mem)| GenJob {
                id,
                stat,
                exit,
                queue,
                name,
                hosts,
                submit,
                run_time,
                max_mem,
            },
        )
}

fn dash(s: &str) -> Option<String> {
    (s.trim() != "-" && !s.trim().is_empty()).then(|| s.trim().to_string())
}

impl GenJob {
    /// What a parser must say: `Err(())` for an unknown state or a non-numeric exit code.
    fn expected(&self) -> Result<JobRecord, ()> {
        let stat = known_stat(&self.stat).ok_or(())?;
        let exit_code = match dash(&self.exit) {
            None => None,
            Some(t) => Some(t.parse::<i32>().map_err(|_| ())?),
        };
        let name = dash(&self.name);
        let job_id = match name.as_deref().and_then(|n| n.strip_suffix(']')) {
            Some(n) => match n.rsplit_once('[') {
                Some((_, i)) if !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) => {
                    format!("{}[{i}]", self.id)
                }
                _ => self.id.to_string(),
            },
            None => self.id.to_string(),
        };
        let mut hosts: Vec<String> = Vec::new();
        for part in self.hosts.split(':') {
            let h = part.split_once('*').map_or(part, |(_, h)| h);
            if dash(h).is_some() && !hosts.iter().any(|x| x == h) {
                hosts.push(h.to_string());
            }
        }
        Ok(JobRecord {
            job_id: job_id.into(),
            stat,
            queue: dash(&self.queue).map(Into::into),
            job_name: name.map(Into::into),
            exec_hosts: hosts.into_iter().map(Into::into).collect(),
            exit_code,
            submit_time: dash(&self.submit).map(Into::into),
            start_time: None,
            finish_time: None,
            run_seconds: dash(&self.run_time)
                .map(|t| t.trim_end_matches(" second(s)").parse().expect("secs")),
            cpu_seconds: None,
            max_mem_mb: dash(&self.max_mem)
                .and_then(|t| t.strip_suffix(" Mbytes").map(|n| n.parse().expect("mb"))),
        })
    }

    /// Values by -o field name (`BJOBS_FIELDS`).
    fn value(&self, field: &str) -> &str {
        match field {
            "jobid" => "",
            "stat" => &self.stat,
            "queue" => &self.queue,
            "job_name" => &self.name,
            "exec_host" => &self.hosts,
            "exit_code" => &self.exit,
            "submit_time" => &self.submit,
            "run_time" => &self.run_time,
            "max_mem" => &self.max_mem,
            _ => "-",
        }
    }

    fn delimited_row(&self) -> String {
        BJOBS_FIELDS
            .iter()
            .map(|f| match *f {
                "jobid" => self.id.to_string(),
                f => self.value(f).to_string(),
            })
            .collect::<Vec<_>>()
            .join(&BJOBS_DELIMITER.to_string())
    }

    fn json_record(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for f in BJOBS_FIELDS {
            let v = match *f {
                "jobid" => self.id.to_string(),
                // -json prints an empty string where -o prints `-`.
                f => match self.value(f) {
                    "-" => String::new(),
                    v => v.to_string(),
                },
            };
            m.insert(f.to_ascii_uppercase(), serde_json::Value::String(v));
        }
        serde_json::Value::Object(m)
    }
}

/// Lines interleaved with the rows: chatter and not-found notices.
#[derive(Debug, Clone)]
enum Side {
    Chatter,
    NotFound(u64, Option<u16>),
}

impl Side {
    fn text(&self) -> String {
        match self {
            Side::Chatter => "Cannot connect to LSF. Please wait ...".to_string(),
            Side::NotFound(id, None) => format!("Job <{id}> is not found"),
            Side::NotFound(id, Some(i)) => format!("Job <{id}[{i}]> is not found"),
        }
    }
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![
        Just(Side::Chatter),
        (any::<u64>(), proptest::option::of(0u16..1000)).prop_map(|(i, e)| Side::NotFound(i, e)),
    ]
}

fn not_found_ids(sides: &[Side]) -> Vec<String> {
    sides
        .iter()
        .filter_map(|s| match s {
            Side::NotFound(id, None) => Some(id.to_string()),
            Side::NotFound(id, Some(i)) => Some(format!("{id}[{i}]")),
            Side::Chatter => None,
        })
        .collect()
}

/// Rows (with side lines before some of them), and the stderr lines.
type GenOutput = (Vec<(Option<Side>, GenJob)>, Vec<Side>);

fn gen_output() -> impl Strategy<Value = GenOutput> {
    (
        prop::collection::vec((proptest::option::weighted(0.2, side()), gen_job()), 0..12),
        prop::collection::vec(side(), 0..4),
    )
}

/// What a bjobs reading of `rows` must be: the records, or the 1-based stdout line of the
/// first bad row.
fn expected_reading(rows: &[(Option<Side>, GenJob)]) -> Result<Vec<JobRecord>, usize> {
    let mut line = 0;
    let mut records = Vec::new();
    for (side, job) in rows {
        line += usize::from(side.is_some()) + 1;
        records.push(job.expected().map_err(|()| line)?);
    }
    Ok(records)
}

/// A hand-written table row (`bjobs -w` layout; the EXEC_HOST cell blank when `exec` is None).
fn table_row(id: &str, stat: &str, exec: Option<&str>, name: &str) -> String {
    format!(
        "{id:<7} {:<8}{stat:<5} {:<11}{:<12}{:<12}{name:<10} Oct 22 09:22",
        "user1",
        "normal",
        "hostA",
        exec.unwrap_or("")
    )
}

const TABLE_HEADER: &str =
    "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME";

#[derive(Debug, Clone)]
struct TableJob {
    id: u64,
    stat: String,
    exec: Option<String>,
    name: String,
}

fn table_job() -> impl Strategy<Value = TableJob> {
    (
        0u64..10_000_000,
        prop_oneof![
            3 => prop::sample::select(Stat::ALL.to_vec()).prop_map(|s| s.as_str().to_string()),
            1 => "[A-Z][A-Z_]{1,5}",
            1 => "[A-Za-z]{1,5}",
        ],
        proptest::option::of("[a-z][a-z0-9-]{0,10}"),
        "[a-z]{1,5}( [a-z]{1,4})?(\\[[0-9]{1,3}\\])?",
    )
        .prop_map(|(id, stat, exec, name)| TableJob {
            id,
            stat,
            exec,
            name,
        })
}

/// Lines of LSF's job report, which a job may print too.
fn trailer_line() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "Sender: LSF System <lsfadmin@fake>",
        "Subject: Job 1: <fake> in cluster <c> Done",
        "Successfully completed.",
        "Exited with exit code 77.",
        "TERM_OWNER: job killed by owner.",
        "Resource usage summary:",
        "    CPU time :   999.00 sec.",
        "    Max Memory :   999 MB",
        "Your job looked like:",
        "The output (if any) follows:",
        "The output (if any) is above this job summary.",
        "Started at Mon Jan  1 00:00:00 2001",
        "# LSBATCH: User input",
        "------------------------------------------------------------",
    ])
    .prop_map(|l| format!("{l}\n"))
}

/// The dashes that frame the echoed job script (a script line of them cannot be told apart).
fn is_dash_line(l: &str) -> bool {
    let t = l.trim();
    t.len() >= 20 && t.bytes().all(|b| b == b'-')
}

// ---------------------------------------------------------------------------------------------
// The LSF parsers

proptest! {
    #![proptest_config(config(1000))]

    /// (a) Arbitrary text, in either stream.
    #[test]
    fn lsf_parsers_hold_on_arbitrary_text(out in arbitrary_text(), err in arbitrary_text()) {
        check_all(&out, &err)?;
        check_all(&out, "")?;
        check_all("", &out)?;
    }

    /// (b) Mutations of the real captures.
    #[test]
    fn lsf_parsers_hold_on_mutated_captures((out, err) in mutated_capture()) {
        check_all(&out, &err)?;
    }

    /// LSF may print "Please wait" before any output; it changes no reading.
    #[test]
    fn leading_chatter_changes_no_reading(
        which in any::<Index>(),
        ops in prop::collection::vec(mutation(), 0..4),
    ) {
        let (name, text) = &CAPTURES[which.index(CAPTURES.len())];
        check_chatter(&mutate(text, &ops)).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
    }

    /// A job's own output comes before LSF's report, and its script is echoed inside it:
    /// neither can change how the report reads.
    #[test]
    fn job_output_and_script_do_not_change_the_trailer(
        which in prop::sample::select(vec!["joboutput-trailer-done.txt", "joboutput-trailer-exited.txt"]),
        before in prop::collection::vec(prop_oneof![arbitrary_text(), trailer_line()], 0..6),
        script in prop::collection::vec(prop_oneof![arbitrary_text(), trailer_line()], 0..6),
    ) {
        let text = &CAPTURES.iter().find(|(n, _)| n == which).expect("trailer capture").1;
        let want = parse_trailer(text);
        prop_assert!(want.is_some());
        // Every line the job printed, then the report with extra script lines.
        let script: String = script
            .iter()
            .flat_map(|s| s.lines())
            .filter(|l| !is_dash_line(l))
            .map(|l| format!("{l}\n"))
            .collect();
        let marker = "# LSBATCH: User input\n";
        let at = text.find(marker).expect("script echo") + marker.len();
        let report = format!("{}{script}{}", &text[..at], &text[at..]);
        let out = format!("{}\n{report}", before.concat());
        let name = want.as_ref().and_then(|t| t.job_name.clone()).expect("a named report");
        prop_assert_eq!(&parse_trailer_of(&out, &name), &want, "{}", out);
        prop_assert_eq!(parse_trailer(&out), want, "{}", out);
    }

    /// Rows made from random (jobid, stat, exit code, ...) read back exactly; an unknown STAT or
    /// a non-numeric EXIT_CODE is an error on that row's line, never a record.
    #[test]
    fn delimited_rows_round_trip((rows, stderr) in gen_output()) {
        let mut out = String::new();
        for (side, job) in &rows {
            if let Some(s) = side {
                out.push_str(&s.text());
                out.push('\n');
            }
            out.push_str(&job.delimited_row());
            out.push('\n');
        }
        let err: String = stderr.iter().map(|s| s.text() + "\n").collect();
        let got = parse_bjobs_delimited(&out, &err, BJOBS_FIELDS, BJOBS_DELIMITER);
        match expected_reading(&rows) {
            Ok(records) => {
                let got = got.map_err(|e| TestCaseError::fail(format!("{e} in\n{out}")))?;
                prop_assert_eq!(&got.records, &records);
                let mut nf: Vec<Side> = rows.iter().filter_map(|(s, _)| s.clone()).collect();
                nf.extend(stderr.iter().cloned());
                prop_assert_eq!(got.not_found, not_found_ids(&nf));
            }
            Err(line) => {
                let e = got.err().ok_or_else(|| TestCaseError::fail("accepted a bad row"))?;
                prop_assert_eq!(e.line, Some(line));
            }
        }
    }

    /// The same jobs as a -json document read back the same way.
    #[test]
    fn json_records_round_trip((rows, stderr) in gen_output()) {
        let records: Vec<serde_json::Value> = rows.iter().map(|(_, j)| j.json_record()).collect();
        let doc = serde_json::json!({"COMMAND": "bjobs", "JOBS": records.len(), "RECORDS": records});
        let out = format!("{}\n", doc);
        let err: String = stderr.iter().map(|s| s.text() + "\n").collect();
        let got = parse_bjobs_json(&out, &err);
        match expected_reading(&rows) {
            Ok(records) => {
                let got = got.map_err(|e| TestCaseError::fail(format!("{e} in\n{out}")))?;
                prop_assert_eq!(&got.records, &records);
                prop_assert_eq!(got.not_found, not_found_ids(&stderr));
            }
            Err(_) => prop_assert!(got.is_err(), "accepted a bad record: {}", out),
        }
    }

    /// Table rows: a STAT-like cell that is not a known state is an error, a known one is read
    /// as that state, and a row whose STAT cell is not STAT-like is no record.
    #[test]
    fn table_rows_read_their_stat(jobs in prop::collection::vec(table_job(), 0..10)) {
        let mut out = format!("{TABLE_HEADER}\n");
        for j in &jobs {
            out.push_str(&table_row(&j.id.to_string(), &j.stat, j.exec.as_deref(), &j.name));
            out.push('\n');
        }
        let stat_like = |s: &str| {
            s.len() >= 2
                && s.as_bytes()[0].is_ascii_uppercase()
                && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        };
        let got = parse_bjobs_table(&out, "");
        let first_bad = jobs
            .iter()
            .position(|j| stat_like(&j.stat) && known_stat(&j.stat).is_none());
        match first_bad {
            Some(i) => {
                let e = got.err().ok_or_else(|| TestCaseError::fail("accepted an unknown STAT"))?;
                prop_assert_eq!(e.line, Some(i + 2));
            }
            None => {
                let got = got.map_err(|e| TestCaseError::fail(format!("{e} in\n{out}")))?;
                let rows: Vec<&TableJob> = jobs.iter().filter(|j| known_stat(&j.stat).is_some()).collect();
                prop_assert_eq!(got.records.len(), rows.len(), "{}", out);
                for (rec, j) in got.records.iter().zip(rows) {
                    prop_assert_eq!(Some(rec.stat), known_stat(&j.stat));
                    prop_assert_eq!(rec.job_name.as_deref(), Some(j.name.as_str()));
                    let want_hosts: Vec<String> = j.exec.iter().cloned().collect();
                    prop_assert_eq!(&rec.exec_hosts, &want_hosts, "{}", out);
                    prop_assert_eq!(base_id(&rec.job_id), j.id.to_string());
                }
            }
        }
    }

    /// bsub: `Ok(id)` exactly when some line says `Job <id> [is ]submitted`, and that id.
    #[test]
    fn bsub_reports_only_submitted_ids(
        lines in prop::collection::vec(
            prop_oneof![
                2 => arbitrary_text(),
                1 => (any::<u64>(), any::<bool>(), "[a-z]{1,8}").prop_map(|(id, is, q)| {
                    format!("Job <{id}> {}submitted to queue <{q}>.", if is { "is " } else { "" })
                }),
                1 => ("[0-9]{19,24}", prop_oneof![Just(" is submitted"), Just(" submitted"), Just(" was submitted")])
                    .prop_map(|(id, tail)| format!("Job <{id}>{tail}")),
                1 => prop::sample::select(TOKENS).prop_map(str::to_string),
                // Several on one line, the first one's id too long for a job id.
                1 => ("[0-9]{20,22}", any::<u32>()).prop_map(|(big, id)| {
                    format!("Job <{big}> is submitted. Job <{id}> is submitted to queue <q>.")
                }),
            ],
            0..6,
        ),
        in_stderr in any::<bool>(),
    ) {
        let text = lines.join("\n");
        let (out, err) = if in_stderr { ("", text.as_str()) } else { (text.as_str(), "") };
        let want = submitted_oracle(out, err);
        let got = parse_bsub(out, err, Some(0));
        prop_assert_eq!(got.as_ref().ok().map(|s| s.job_id), want, "{:?}", text);
    }
}

// ---------------------------------------------------------------------------------------------
// The tar unpacker

/// One tar entry with a raw name (anything: `..`, absolute, long).
#[derive(Debug, Clone)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    HardLink(String),
    Fifo,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    kind: Kind,
    /// Long names go through a GNU long-name record or a PAX header.
    pax: bool,
}

/// An absolute path some entries aim at: it must never appear.
const ESCAPE: &str = "/tmp/bsweep-fuzz-escape";

/// Names, where `@C` stands for the absolute path of the canary directory beside the root and
/// `@P` for the parent both live in: escapes would land there.
fn entry_name() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        4 => "[a-z]{1,6}",
        2 => Just("..".to_string()),
        1 => Just(".".to_string()),
        1 => Just("".to_string()),
        1 => Just("canary".to_string()),
        1 => Just(".bsweep-part-X".to_string()),
        1 => "[a-z]{100,160}",
        1 => "(?s).{1,3}",
    ];
    prop_oneof![
        4 => prop::collection::vec(part, 1..5).prop_map(|v| v.join("/")),
        1 => prop::sample::select(vec![
            "..", "../canary/x", "../../canary/x", "/abs", "@C/x", "@C", "@P/y", "a/../../b",
            "a/../../canary/z", "./../canary/w", "a/b/../../../canary/v", "a//b", "/", "./",
            "x/", "a/./b", ESCAPE, "/tmp/bsweep-fuzz-escape/x", "../../../../../../../../tmp/bsweep-fuzz-escape",
        ])
        .prop_map(str::to_string),
        1 => "[a-z/.]{90,300}",
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    let kind = prop_oneof![
        5 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Kind::File),
        2 => Just(Kind::Dir),
        2 => entry_name().prop_map(Kind::Symlink),
        2 => entry_name().prop_map(Kind::HardLink),
        1 => Just(Kind::Fifo),
    ];
    (entry_name(), kind, any::<bool>()).prop_map(|(name, kind, pax)| Entry { name, kind, pax })
}

fn expand(name: &str, parent: &Path) -> String {
    name.replace("@C", &parent.join("canary").to_string_lossy())
        .replace("@P", &parent.to_string_lossy())
        .replace("X", &std::process::id().to_string())
}

/// A header with `name` written raw (no validation), `size` bytes of data following.
fn raw_header(name: &[u8], kind: tar::EntryType, size: u64, link: &[u8]) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    let old = h.as_old_mut();
    let n = name.len().min(old.name.len() - 1);
    old.name[..n].copy_from_slice(&name[..n]);
    let l = link.len().min(old.linkname.len() - 1);
    old.linkname[..l].copy_from_slice(&link[..l]);
    h.set_cksum();
    h
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // "LEN key=value\n" where LEN counts itself.
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len.to_string().len() + rest != len {
        len = len.to_string().len() + rest;
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

fn build_tar(entries: &[Entry], parent: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let name = expand(&e.name, parent);
        let name = name.as_bytes();
        let (kind, data, link): (tar::EntryType, &[u8], String) = match &e.kind {
            Kind::File(d) => (tar::EntryType::Regular, d, String::new()),
            Kind::Dir => (tar::EntryType::Directory, &[], String::new()),
            Kind::Symlink(t) => (tar::EntryType::Symlink, &[], expand(t, parent)),
            Kind::HardLink(t) => (tar::EntryType::Link, &[], expand(t, parent)),
            Kind::Fifo => (tar::EntryType::Fifo, &[], String::new()),
        };
        if name.len() >= 100 || link.len() >= 100 {
            if e.pax {
                let mut recs = pax_record("path", name);
                recs.extend(pax_record("linkpath", link.as_bytes()));
                let h = raw_header(
                    b"PaxHeaders/x",
                    tar::EntryType::XHeader,
                    recs.len() as u64,
                    b"",
                );
                b.append(&h, recs.as_slice()).expect("pax");
            } else {
                let mut n = name.to_vec();
                n.push(0);
                let h = raw_header(
                    b"././@LongLink",
                    tar::EntryType::GNULongName,
                    n.len() as u64,
                    b"",
                );
                b.append(&h, n.as_slice()).expect("longname");
                if !link.is_empty() {
                    let mut l = link.as_bytes().to_vec();
                    l.push(0);
                    let h = raw_header(
                        b"././@LongLink",
                        tar::EntryType::GNULongLink,
                        l.len() as u64,
                        b"",
                    );
                    b.append(&h, l.as_slice()).expect("longlink");
                }
            }
        }
        let h = raw_header(name, kind, data.len() as u64, link.as_bytes());
        b.append(&h, data).expect("entry");
    }
    b.into_inner().expect("archive")
}

/// Every path under `dir` (relative), and whether each is a symlink.
fn walk(dir: &Path) -> BTreeMap<PathBuf, fs::Metadata> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p.strip_prefix(dir).expect("under dir").to_path_buf(), m);
        }
    }
    out
}

/// Unpacks into `parent/root` beside an empty `parent/canary`, and checks that nothing was
/// made outside the root, that the root holds no symlink and no hard link, and that every
/// path reported written is clean, relative and there.
fn check_unpack(archive: &[u8], parent: &Path) -> Result<(), TestCaseError> {
    let root = parent.join("root");
    let canary = parent.join("canary");
    fs::create_dir(&canary).expect("canary");
    let result = unpack_into(archive, &root);
    let top: Vec<PathBuf> = fs::read_dir(parent)
        .expect("parent")
        .map(|e| e.expect("entry").path())
        .collect();
    let mut top_names: Vec<String> = top
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    top_names.sort();
    prop_assert_eq!(
        top_names,
        ["canary", "root"],
        "something was made beside the root"
    );
    prop_assert!(
        walk(&canary).is_empty(),
        "the canary was written to: {:?}",
        walk(&canary)
    );
    prop_assert!(fs::symlink_metadata(ESCAPE).is_err(), "{ESCAPE} was made");
    for (p, m) in walk(&root) {
        prop_assert!(!m.file_type().is_symlink(), "symlink {p:?} inside the root");
        prop_assert!(m.is_dir() || m.is_file(), "special file {p:?}");
        if m.is_file() {
            prop_assert_eq!(m.nlink(), 1, "hard link {:?}", p);
        }
    }
    if let Ok((written, _rejected)) = result {
        for w in written {
            prop_assert!(
                w.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
                "unclean written path {w:?}"
            );
            prop_assert!(
                fs::symlink_metadata(root.join(&w)).is_ok(),
                "{w:?} not there"
            );
        }
    }
    Ok(())
}

fn safe_name() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z]{1,5}", 1..4).prop_map(|v| v.join("/"))
}

proptest! {
    #![proptest_config(config(200))]

    /// Archives of hostile entries: nothing lands outside the root, no link is made.
    #[test]
    fn unpack_stays_inside_the_root(entries in prop::collection::vec(entry(), 0..12)) {
        let parent = tempfile::tempdir().expect("tempdir");
        let archive = build_tar(&entries, parent.path());
        check_unpack(&archive, parent.path())?;
    }

    /// Random bytes, and archives with random bytes written over them.
    #[test]
    fn unpack_survives_garbage(
        entries in prop::collection::vec(entry(), 0..6),
        noise in prop::collection::vec((any::<Index>(), any::<u8>()), 0..16),
        raw in prop::collection::vec(any::<u8>(), 0..2048),
        use_raw in any::<bool>(),
    ) {
        let parent = tempfile::tempdir().expect("tempdir");
        let archive = if use_raw {
            raw
        } else {
            let mut a = build_tar(&entries, parent.path());
            for (i, byte) in &noise {
                if !a.is_empty() {
                    let at = i.index(a.len());
                    a[at] = *byte;
                }
            }
            a
        };
        check_unpack(&archive, parent.path())?;
    }

    /// Clean archives unpack completely: the last entry of a name wins.
    #[test]
    fn clean_archives_unpack_whole(
        files in prop::collection::vec((safe_name(), prop::collection::vec(any::<u8>(), 0..300)), 1..10),
    ) {
        let parent = tempfile::tempdir().expect("tempdir");
        let entries: Vec<Entry> = files
            .iter()
            .map(|(n, d)| Entry { name: n.clone(), kind: Kind::File(d.clone()), pax: false })
            .collect();
        let archive = build_tar(&entries, parent.path());
        let root = parent.path().join("root");
        let (written, rejected) = unpack_into(&archive, &root)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        // A file whose path another entry needs as a directory (or the other way round) is
        // rejected; every other entry lands, the last of a name with its contents.
        prop_assert_eq!(written.len() + rejected.len(), files.len());
        let mut last: BTreeMap<&str, &Vec<u8>> = BTreeMap::new();
        for (n, d) in &files {
            last.insert(n, d);
        }
        for w in &written {
            prop_assert!(last.contains_key(w.to_str().expect("utf-8")), "{:?} written", w);
        }
        for (n, d) in last {
            let p = root.join(n);
            if p.is_file() {
                let mut got = Vec::new();
                fs::File::open(&p).expect("open").read_to_end(&mut got).expect("read");
                prop_assert!(&got == d, "{} has other contents", n);
            } else {
                prop_assert!(rejected.iter().any(|r| r == n), "{} lost", n);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus

/// Every file in `tests/fuzz-corpus/` through every parser: the LSF parsers (as stdout, as
/// stderr, and split between them), the sweep-file parser and the tar unpacker.
#[test]
fn corpus_replays_through_every_parser() {
    let dir = repo_path("tests/fuzz-corpus");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the corpus is empty");
    let mut failed = Vec::new();
    for f in &files {
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        if let Err(e) = replay(&fs::read(f).expect("corpus file")) {
            failed.push(format!("{name}: {e}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

fn replay(bytes: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    let half = floor(&text, text.len() / 2);
    let (a, b) = text.split_at(half);
    for (out, err) in [(&*text, ""), ("", &*text), (a, b)] {
        check_all(out, err)?;
    }
    check_chatter(&text)?;
    match Spec::from_toml(&text, Path::new("corpus.toml")) {
        Ok(spec) => {
            let names = spec.param_names();
            for (i, p) in spec.points().take(1000).enumerate() {
                prop_assert_eq!(p.index, i as u64);
                for ((n, v), want) in p.params.iter().zip(&names) {
                    prop_assert_eq!(n, want);
                    if let bsweep::spec::Value::Float(x) = v {
                        prop_assert!(x.is_finite(), "{n} = {x}");
                    }
                }
            }
        }
        Err(e) => {
            let shown = e.to_string();
            prop_assert!(
                shown.starts_with("corpus.toml:") && !e.message.trim().is_empty(),
                "{shown:?}"
            );
        }
    }
    let parent = tempfile::tempdir().expect("tempdir");
    check_unpack(bytes, parent.path())
}
