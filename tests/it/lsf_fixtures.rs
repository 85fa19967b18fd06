//! Runs every captured LSF output in `tests/fixtures/lsf/` through its parser and compares the
//! reading with the hand-checked `NAME.expected.json` beside it; and feeds every parser
//! prefixes of the captures and garbage to show that no input makes one panic.
//!
//! A capture `NAME.txt` is copied unchanged from `shared/lsf/`: header lines (`# source:` ...)
//! up to the first `# ---` line, then the output. Its `NAME.expected.json` holds
//!
//! ```json
//! { "parse": "bjobs-table",           // the parser (KIND below)
//!   "fields": ["jobid", "stat"], "delimiter": "^",   // bjobs-delim only
//!   "cases": [ { "stdout": "2-7",     // body lines fed as stdout ("all" = the whole body)
//!                "stderr": "8",       // body lines fed as stderr
//!                "exit": 255,         // bsub's exit code (absent = unknown)
//!                "parse": "bkill",    // optional per-case override of the parser
//!                "wrap": ["pre", "post"],         // optional text put around stdout
//!                "strip_trailing_commas": true,   // optional: turn a Python literal into JSON
//!                "job_name": "bsw-1-00002-1",     // trailer-of and output-of only
//!                "reading": { ... } } ] }         // the expected reading, serialized
//! ```
//!
//! or, for a single case, the case's keys at the top level. Without "stdout" and "stderr" the
//! whole body is stdout. Line ranges let one file hold several sessions (captures that
//! concatenate sources with `### label` lines, or `% command` prompts) without editing it.
//! KIND: bsub, bjobs-json, bjobs-delim, bjobs-table, bkill, bqueues, bqueues-json, lsid,
//! trailer, trailer-of (the report of "job_name"), sections (`split_sections`), output-of (the
//! output of "job_name"'s attempt), bhist.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use bsweep::sched::lsf::parse::{
    BJOBS_DELIMITER, BJOBS_FIELDS, INFERRED_RUNLIMIT, LsidInfo, OPENLAVA_RUNLIMIT_EXIT, Outcome,
    output_of, parse_bhist_long, parse_bjobs_delimited, parse_bjobs_json, parse_bjobs_table,
    parse_bkill, parse_bqueues, parse_bqueues_json, parse_bsub, parse_lsid, parse_trailer,
    parse_trailer_of, split_reports, split_sections, supports_o_and_json,
};
use serde_json::Value;

/// Captures in `shared/lsf/` left out on purpose.
#[allow(dead_code)]
const SKIPPED: &[(&str, &str)] = &[
    (
        "bacct-l-accounting-table-snippet.txt",
        "a table fragment without the job header; bsweep reads end states from bhist -l",
    ),
    (
        "bhist-summary-lsf4.txt",
        "short bhist summary: time per state, no end state",
    ),
    (
        "bhist-summary-seconds.txt",
        "short bhist summary: time per state, no end state",
    ),
    (
        "bhist-w-summary-array-element-ids.txt",
        "short bhist summary: time per state, no end state",
    ),
    ("bhosts-default.txt", "bsweep does not read bhosts"),
    (
        "bpeek-running-lsf4.txt",
        "job output, not LSF's; bsweep does not bpeek",
    ),
    (
        "bqueues-l-normal.txt",
        "bqueues -l is not used; the default table and -json are",
    ),
    (
        "ref-bjobs-default-format-openlava.txt",
        "reference text, not command output",
    ),
    (
        "ref-bjobs-job-status-values.txt",
        "reference text, not command output",
    ),
    (
        "ref-bjobs-o-json-noheader-rules.txt",
        "reference text, not command output",
    ),
    (
        "ref-lsb-errmsg-catalog-openlava.txt",
        "reference text, not command output",
    ),
    // OpenLava's transcripts (shared/lsf/openlava/) not copied as openlava-*.txt:
    (
        "openlava/05_bqueues_l_normal.txt",
        "bqueues -l is not used; the default table is",
    ),
    (
        "openlava/06_bqueues_w.txt",
        "the same bytes as 04_bqueues.txt (openlava-bqueues.txt)",
    ),
    (
        "openlava/53_bqueues_gpu_reopened.txt",
        "one row of 04's table (openlava-bqueues.txt)",
    ),
    (
        "openlava/68_bqueues_final.txt",
        "the same bytes as 04_bqueues.txt (openlava-bqueues.txt)",
    ),
    (
        "openlava/07_bhosts.txt, 08_bhosts_l.txt, 47_bhosts_busy.txt, 69_bhosts_final.txt",
        "bsweep does not read bhosts",
    ),
    (
        "openlava/09_lshosts.txt, 10_bparams.txt",
        "bsweep does not read lshosts or bparams",
    ),
    (
        "openlava/49_badmin_qclose_gpu.txt, 52_badmin_qopen_gpu.txt",
        "bsweep does not run badmin",
    ),
    (
        "openlava/67_bhist_a.txt",
        "short bhist summary: time per state, no end state (lsfsim's tests use 17's)",
    ),
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lsf")
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

/// The output part of a capture: everything after the first `# ---` line.
fn body(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix("# ---\n") {
        return rest;
    }
    match text.find("\n# ---\n") {
        Some(i) => &text[i + "\n# ---\n".len()..],
        None => panic!("capture without a '# ---' line"),
    }
}

/// Body lines `spec` ("all", "3", "2-7"), 1-based, newline-terminated.
fn select(body: &str, spec: &str) -> String {
    if spec == "all" {
        return body.to_string();
    }
    let (a, b) = spec.split_once('-').unwrap_or((spec, spec));
    let (a, b): (usize, usize) = (a.parse().expect("line"), b.parse().expect("line"));
    let lines: Vec<&str> = body.lines().collect();
    assert!(
        a >= 1 && b >= a && b <= lines.len(),
        "line range {spec} outside the body"
    );
    let mut s = lines[a - 1..b].join("\n");
    s.push('\n');
    s
}

fn strip_trailing_commas(s: &str) -> String {
    let re = regex::Regex::new(r",(\s*[}\]])").expect("regex");
    re.replace_all(s, "$1").into_owned()
}

fn to_json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("readings serialize")
}

fn run(
    kind: &str,
    spec: &Value,
    case: &Value,
    stdout: &str,
    stderr: &str,
    exit: Option<i32>,
) -> Value {
    let job_name = || {
        case.get("job_name")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{kind} needs a \"job_name\""))
    };
    match kind {
        "bsub" => to_json(parse_bsub(stdout, stderr, exit)),
        "bjobs-json" => to_json(parse_bjobs_json(stdout, stderr)),
        "bjobs-delim" => {
            let fields: Vec<&str> = match spec.get("fields").and_then(Value::as_array) {
                Some(a) => a.iter().map(|f| f.as_str().expect("field name")).collect(),
                None => BJOBS_FIELDS.to_vec(),
            };
            let delimiter = spec
                .get("delimiter")
                .and_then(Value::as_str)
                .and_then(|d| d.chars().next())
                .unwrap_or(BJOBS_DELIMITER);
            to_json(parse_bjobs_delimited(stdout, stderr, &fields, delimiter))
        }
        "bjobs-table" => to_json(parse_bjobs_table(stdout, stderr)),
        "bkill" => to_json(parse_bkill(stdout, stderr)),
        "bqueues" => to_json(parse_bqueues(stdout)),
        "bqueues-json" => to_json(parse_bqueues_json(stdout)),
        "lsid" => to_json(parse_lsid(stdout)),
        "trailer" => to_json(parse_trailer(stdout)),
        "trailer-of" => to_json(parse_trailer_of(stdout, job_name())),
        "sections" => to_json(split_sections(stdout)),
        "output-of" => to_json(output_of(stdout, job_name())),
        "bhist" => to_json(parse_bhist_long(stdout)),
        other => panic!("unknown parse kind {other:?}"),
    }
}

/// Equality of JSON readings, with numbers compared as f64 (`8` and `8.0` are the same reading)
/// to 1e-9 relative. Returns the path of the first difference.
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
    for cap in captures() {
        let name = cap
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let exp_path = cap.with_extension("expected.json");
        let Ok(exp_text) = fs::read_to_string(&exp_path) else {
            failures.push(format!("{name}: no {}", exp_path.display()));
            continue;
        };
        let spec: Value = serde_json::from_str(&exp_text)
            .unwrap_or_else(|e| panic!("{}: {e}", exp_path.display()));
        let text = fs::read_to_string(&cap).expect("capture");
        let body = body(&text);
        let single = [spec.clone()];
        let list = match spec.get("cases").and_then(Value::as_array) {
            Some(l) => l.as_slice(),
            None => &single,
        };
        for (i, case) in list.iter().enumerate() {
            cases += 1;
            let kind = case
                .get("parse")
                .or_else(|| spec.get("parse"))
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{name}: no \"parse\" kind"));
            let pick = |k: &str| case.get(k).and_then(Value::as_str).map(|s| select(body, s));
            let (mut stdout, stderr) = match (pick("stdout"), pick("stderr")) {
                (None, None) => (body.to_string(), String::new()),
                (o, e) => (o.unwrap_or_default(), e.unwrap_or_default()),
            };
            if case.get("strip_trailing_commas") == Some(&Value::Bool(true)) {
                stdout = strip_trailing_commas(&stdout);
            }
            if let Some(w) = case.get("wrap").and_then(Value::as_array) {
                let part = |i: usize| w.get(i).and_then(Value::as_str).unwrap_or("");
                stdout = format!("{}{stdout}{}", part(0), part(1));
            }
            let exit = case.get("exit").and_then(Value::as_i64).map(|c| c as i32);
            let got = run(kind, &spec, case, &stdout, &stderr, exit);
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
    assert!(cases >= 50, "only {cases} cases");
}

#[test]
fn every_expectation_has_its_capture_and_enough_are_covered() {
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
    assert!(caps.len() >= 50, "only {} captures covered", caps.len());
    for (skipped, _) in SKIPPED {
        assert!(
            !caps.iter().any(|c| c.ends_with(skipped)),
            "{skipped} is both skipped and covered"
        );
    }
}

#[test]
fn json_support_on_real_banners() {
    let lsid = |name: &str| -> LsidInfo {
        let text = fs::read_to_string(fixture_dir().join(name)).expect("capture");
        parse_lsid(body(&text)).expect("banner")
    };
    assert!(supports_o_and_json(&lsid(
        "lsid-lsf10-community-edition.txt"
    )));
    // 10.1.0.0 predates -json (10.1.0.2); the connector may be newer underneath, so bsweep probes.
    assert!(!supports_o_and_json(&lsid(
        "lsid-lsf10-kubernetes-connector.txt"
    )));
}

/// The STDOUT section of an OpenLava transcript (`openlava-*.txt` hold the whole transcript:
/// its header, `===== STDOUT =====`, the bytes, `===== STDERR =====`, ...).
fn transcript_stdout(body: &str) -> &str {
    let from = body.find("===== STDOUT =====\n").expect("STDOUT section") + 19;
    let to = body.find("===== STDERR =====\n").expect("STDERR section");
    &body[from..to]
}

fn openlava_stdout(name: &str) -> String {
    let text = fs::read_to_string(fixture_dir().join(name)).expect("capture");
    transcript_stdout(body(&text)).to_string()
}

#[test]
fn openlava_banner_is_clean_and_has_no_json() {
    let info = parse_lsid(&openlava_stdout("openlava-lsid.txt")).expect("banner");
    assert_eq!(
        (info.product.as_str(), info.version.as_deref()),
        ("OpenLava", Some("4.0dev4"))
    );
    assert!(!supports_o_and_json(&info));
}

/// OpenLava writes its report BEFORE the output: the job's lines are exactly those after the
/// blank line under "The output (if any) follows:", up to the "PS:" block OpenLava adds when
/// stderr went to its own file; and the report reads the same whoever signs it.
#[test]
fn openlava_reports_split_from_the_jobs_output() {
    for name in [
        "openlava-joboutput-done.txt",
        "openlava-joboutput-exit3.txt",
        "openlava-joboutput-bkill-exit130.txt",
        "openlava-joboutput-queue-runlimit.txt",
        "openlava-joboutput-array-element-runlimit.txt",
    ] {
        let file = openlava_stdout(name);
        let marker = "The output (if any) follows:\n\n";
        let at = file.find(marker).expect("the OpenLava layout") + marker.len();
        let rest = &file[at..];
        // "\n\nPS:\n\n" follows the output, whose last line ends in a newline of its own.
        let mut want = rest
            .find("\n\nPS:\n\n")
            .map_or(rest, |ps| &rest[..ps])
            .to_string();
        if !want.is_empty() && !want.ends_with('\n') {
            want.push('\n');
        }
        let (output, reports) = split_reports(&file);
        assert_eq!(output, want, "{name}");
        assert_eq!(reports, [parse_trailer(&file)], "{name}");
        let report = reports[0].clone().expect("a readable report");
        assert!(
            report.run_seconds.is_some() && report.finished.is_some(),
            "{name}"
        );
        let site = file.replace("Sender: OpenLava System", "Sender: Acme Batch System");
        assert_eq!(parse_trailer(&site), Some(report), "{name}");
        // The job's output in front of the report is no attempt's (OpenLava writes each
        // attempt's output after its report).
        let sections = split_sections(&format!("left over\n{file}"));
        assert_eq!(sections.unreported, "left over\n", "{name}");
        assert_eq!(sections.sections.len(), 1, "{name}");
        assert_eq!(sections.sections[0].output, want, "{name}");
    }
}

/// Every OpenLava bjobs table reads one record per row, with the row's own id and name: no
/// row lost, and no `   -   ` EXEC_HOST of a job without a host taken for part of its name.
#[test]
fn every_openlava_bjobs_table_keeps_every_row() {
    let mut tables = 0;
    for cap in captures() {
        let name = cap
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        // -l and -UF are long records; -A (array summaries) has a table of its own, refused.
        if !name.starts_with("openlava-bjobs-")
            || ["-l-", "-UF-", "-A-"].iter().any(|k| name.contains(k))
        {
            continue;
        }
        let text = fs::read_to_string(&cap).expect("capture");
        let out = transcript_stdout(body(&text));
        let rows: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        let r = parse_bjobs_table(out, "").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.records.len(), rows.len(), "{name}");
        for (rec, row) in r.records.iter().zip(&rows) {
            let job = rec.job_name.as_deref().expect("a name");
            assert!(!job.starts_with('-'), "{name}: {row:?} read as {job:?}");
            assert!(
                row.contains(&format!(" {job} ")),
                "{name}: {job:?} not in {row:?}"
            );
            assert!(row.contains(&format!(" {} ", rec.stat)), "{name}: {row:?}");
            let base = rec.job_id.split('[').next().unwrap_or_default();
            assert!(row.starts_with(&format!("{base} ")), "{name}: {row:?}");
            let index = job.rsplit_once('[').map(|(_, i)| format!("[{i}"));
            assert_eq!(
                rec.job_id.strip_prefix(base).filter(|i| !i.is_empty()),
                index.as_deref(),
                "{name}: {row:?}"
            );
            assert_eq!(rec.exit_code, None, "OpenLava prints no exit code: {row:?}");
        }
        tables += 1;
    }
    assert!(tables >= 15, "only {tables} OpenLava bjobs tables");
}

/// OpenLava ends a job at its run limit with SIGUSR2 (exit 140) and says nothing more. Across
/// the real records, a run-limit kill is read exactly where the record shows a run limit and a
/// run that long; exit 140 without them stays a plain exit.
#[test]
fn openlava_run_limit_kills_need_the_limit_and_the_run() {
    let (mut kills, mut plain_140) = (0, 0);
    for cap in captures() {
        let name = cap
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        if !name.starts_with("openlava-bhist-") && !name.starts_with("openlava-bjobs-l-") {
            continue;
        }
        let text = fs::read_to_string(&cap).expect("capture");
        let out = transcript_stdout(body(&text));
        let records = parse_bhist_long(out).unwrap_or_else(|e| panic!("{name}: {e}"));
        for r in &records {
            match &r.outcome {
                Some(Outcome::Term { reason, code }) => {
                    assert_eq!(reason, INFERRED_RUNLIMIT, "{name}");
                    assert_eq!(*code, Some(OPENLAVA_RUNLIMIT_EXIT), "{name}");
                    assert!(r.run_limit_seconds.is_some(), "{name}");
                    kills += 1;
                }
                Some(Outcome::Exited { code: 140 }) => {
                    let ran_long = r
                        .run_limit_seconds
                        .zip(r.run_seconds)
                        .is_some_and(|(l, s)| s >= l);
                    assert!(
                        !ran_long,
                        "{name}: {} not read as a run-limit kill",
                        r.job_id
                    );
                    plain_140 += 1;
                }
                _ => {}
            }
        }
        // Without the RUNLIMIT lines the same record is an ordinary exit 140.
        let no_limit = out.replace(" RUNLIMIT", " ").replace(" min of vm", "");
        for r in parse_bhist_long(&no_limit).expect("still readable") {
            assert!(!matches!(r.outcome, Some(Outcome::Term { .. })), "{name}");
        }
    }
    // bhist -l and bjobs -l of attempt 1, and the two elements of the array; jobs 105 and 106
    // (exit 140 on their own) and 101 (its queue's limit, which bhist does not show).
    assert_eq!((kills, plain_140), (4, 3));
}

/// Every parser on one input; a panic is reported with the input that caused it.
fn all_parsers(input: &str) {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let half = input.len() / 2;
        let cut = (0..=half)
            .rev()
            .find(|&i| input.is_char_boundary(i))
            .unwrap_or(0);
        let (a, b) = input.split_at(cut);
        let _ = parse_bsub(input, input, Some(255));
        let _ = parse_bsub(a, b, None);
        let _ = parse_bjobs_json(input, b);
        let _ = parse_bjobs_delimited(input, b, BJOBS_FIELDS, BJOBS_DELIMITER);
        let _ = parse_bjobs_delimited(input, b, &["jobid", "stat", "exec_host"], '^');
        let _ = parse_bjobs_delimited(input, b, &[], ' ');
        let _ = parse_bjobs_table(input, b);
        let _ = parse_bkill(input, b);
        let _ = parse_bqueues(input);
        let _ = parse_bqueues_json(input);
        if let Ok(info) = parse_lsid(input) {
            let _ = supports_o_and_json(&info);
        }
        let _ = parse_trailer(input);
        let _ = split_reports(input);
        let _ = parse_bhist_long(input);
    }));
    if r.is_err() {
        panic!("a parser panicked on {input:?}");
    }
}

/// `bsweep logs` shows a job's output without LSF's report: on the real reports, the job's own
/// lines stay, the report goes whole, and it reads as `parse_trailer` reads it.
#[test]
fn real_reports_split_from_the_jobs_output() {
    for name in ["joboutput-trailer-done.txt", "joboutput-trailer-exited.txt"] {
        let text = fs::read_to_string(fixture_dir().join(name)).expect("capture");
        let report = body(&text);
        let job = "epoch 1 loss=0.5\nepoch 2 loss=0.25\n";
        let (output, reports) = split_reports(&format!("{job}{report}"));
        assert_eq!(output, job, "{name}");
        assert_eq!(reports, [parse_trailer(report)], "{name}");
        assert!(reports[0].is_some(), "{name}");
    }
}

#[test]
fn no_parser_panics_on_prefixes_of_captures() {
    for cap in captures() {
        let text = fs::read_to_string(&cap).expect("capture");
        let body = body(&text);
        let line_ends: Vec<usize> = body.match_indices('\n').map(|(i, _)| i).collect();
        // Prefixes: every character for the first few hundred bytes, then every line end and
        // every 37th byte (every byte of the long captures takes long in a debug build).
        // Suffixes: from every line start.
        let cuts = (0..=body.len()).filter(|&i| i < 300 || i % 37 == 0 || i == body.len());
        for i in cuts.chain(line_ends.iter().copied()) {
            if body.is_char_boundary(i) {
                all_parsers(&body[..i]);
            }
        }
        for i in line_ends {
            all_parsers(&body[i + 1..]);
        }
    }
}

#[test]
fn no_parser_panics_on_garbage() {
    const PIECES: &[&str] = &[
        "Job <",
        ">",
        "[",
        "]",
        "123",
        "4",
        "^",
        ":",
        "*",
        " ",
        "  ",
        "\n",
        "\r\n",
        "\t",
        "{",
        "}",
        "\"",
        ",",
        "RECORDS",
        "\"JOBID\":",
        "\"STAT\":",
        "\"ERROR\":",
        "RUN",
        "PEND",
        "DONE",
        "EXIT",
        "JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME SUBMIT_TIME",
        "Oct 22 09:22",
        "10/19-17:10:27",
        "QUEUE_NAME PRIO STATUS MAX JL/U JL/P JL/H NJOBS PEND RUN SUSP",
        "Sender: LSF System <a@b>",
        "Subject: Job 1: <x> Done",
        "Successfully completed.",
        "Exited with exit code 99999999999.",
        "TERM_MEMLIMIT: x",
        "Resource usage summary:",
        "------------------------------------------------------------",
        "Your job looked like:",
        "    CPU time :   1.5 sec.",
        "MAX MEM: 1 Gbytes;  AVG MEM: 2 Kbytes",
        "Status <RUN>",
        "Tue Jul 24 10:26:53: ",
        "Exited with exit code 42",
        "Completed <exit>; TERM_X: y",
        "                     ",
        "  PEND     PSUSP    RUN      USUSP    SSUSP    UNKWN    TOTAL",
        "is submitted to queue <q>.",
        "is being terminated",
        ": No matching job found",
        "é",
        "€",
        "\u{0}",
        "My cluster name is ",
        "IBM Spectrum LSF 10.1.0.2, x",
        "-",
        "8*",
        "99999999999999999999999",
    ];
    // A fixed xorshift stream keeps the test reproducible without a dependency.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let n = (next() % 40) as usize;
        let s: String = (0..n)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        all_parsers(&s);
    }
}
