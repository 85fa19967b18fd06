//! `bsweep debug parse`: how bsweep reads a captured LSF output, printed as JSON.

use crate::harness::{Env, assert_ok, text};

fn parse(kind: &str, fixture: &str, extra: &[&str]) -> serde_json::Value {
    let env = Env::new();
    let path = format!(
        "{}/tests/fixtures/lsf/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut args = vec!["debug", "parse", kind, path.as_str()];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

#[test]
fn reads_a_wide_table_with_every_state() {
    let v = parse("bjobs-table", "bjobs-w-nextflow-all-states.txt", &[]);
    let recs = v["Ok"]["records"].as_array().expect("records");
    let stats: Vec<&str> = recs.iter().map(|r| r["stat"].as_str().unwrap()).collect();
    for s in ["RUN", "PEND", "PSUSP", "EXIT", "UNKWN", "ZOMBI", "DONE"] {
        assert!(stats.contains(&s), "{s} missing from {stats:?}");
    }
    assert_eq!(recs[0]["job_id"], "5085109");
}

#[test]
fn reads_bsub_success_and_refusal() {
    let ok = parse("bsub", "bsub-success-summit-queue-batch.txt", &[]);
    assert_eq!(ok["Ok"]["job_id"], 3386667);
    assert_eq!(ok["Ok"]["queue"], "batch");
    let err = parse("bsub", "bsub-error-lim-down.txt", &["--exit", "255"]);
    assert_eq!(err["Err"]["kind"], "Transient");
}

#[test]
fn reads_a_job_report_and_json_from_stdin() {
    let t = parse("trailer", "joboutput-trailer-exited.txt", &[]);
    assert_eq!(t["outcome"]["Exited"]["code"], 1);
    let env = Env::new();
    let mut child = env
        .cmd(&["debug", "parse", "bjobs-json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"COMMAND":"bjobs","JOBS":1,"RECORDS":[{"JOBID":"7","STAT":"DONE","EXIT_CODE":"","EXEC_HOST":"h1"}]}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Ok"]["records"][0]["stat"], "DONE");
    assert_eq!(v["Ok"]["records"][0]["exec_hosts"][0], "h1");
}
