//! Output formats against the real captures: tables, -o, -json, old-version mode, lsid, bhist.

use crate::common::{Sim, capture, same_shape};

/// Column where `name` starts in a header line.
fn col(header: &str, name: &str) -> usize {
    header
        .find(name)
        .unwrap_or_else(|| panic!("{name} not in {header}"))
}

#[test]
fn default_table_matches_the_real_columns() {
    let sim = Sim::new("[[queue]]\nname = \"normal\"\nslots = 1\n");
    let run = sim.submit(&["-J", "TM-T", "sleep 30"], "");
    let pend = sim.submit(&["-J", "TM-T", "sleep 30"], "");
    sim.wait_stat(run, &["RUN"], 5);
    let r = sim.run("bjobs", &[]);
    assert_eq!(r.code, 0);
    let lines = r.lines();
    let header = lines[0];
    if let Some(cap) = capture("bjobs-default-one-running.txt") {
        assert_eq!(header, cap.lines().next().unwrap());
    }
    let (run_row, pend_row) = (lines[1], lines[2]);
    assert!(run_row.starts_with(&format!("{run:<7} tester  RUN   normal     ")));
    // RUN row: EXEC_HOST and JOB_NAME start under their headers, as in the real row.
    for (cap_name, row, stat) in [
        ("bjobs-run-default.txt", run_row, "RUN"),
        ("bjobs-pend-empty-exechost.txt", pend_row, "PEND"),
    ] {
        let check = |row: &str| {
            assert_eq!(
                &row[col(header, "STAT")..col(header, "STAT") + stat.len()],
                stat
            );
            assert_eq!(
                &row[col(header, "JOB_NAME")..col(header, "JOB_NAME") + 4],
                "TM-T"
            );
            let exec = &row[col(header, "EXEC_HOST")..col(header, "JOB_NAME")];
            if stat == "PEND" {
                assert!(
                    exec.trim().is_empty(),
                    "PEND EXEC_HOST must be blank: {row:?}"
                );
            } else {
                assert!(!exec.trim().is_empty());
            }
        };
        check(row);
        if let Some(cap) = capture(cap_name) {
            check(cap.lines().nth(1).unwrap());
        }
    }
    same_shape(
        r"^\d+\s+\S+\s+PEND\s+\S+\s+\S+\s{13,}\S+\s+\w{3} [ \d]\d \d\d:\d\d$",
        "bjobs-pend-empty-exechost.txt",
        pend_row,
    );
    let _ = pend;

    // Long names are cut from the left behind '*' without -w, kept with -w.
    let long = sim.submit(&["-J", "a_very_long_cmd_bd)", "true"], "");
    let r = sim.run("bjobs", &[&long.to_string()]);
    same_shape(
        r"^\d+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S*\s+\*\S{9} \w{3} [ \d]\d \d\d:\d\d$",
        "bjobs-nonwide-please-wait-prefix.txt",
        &r.stdout,
    );
    assert!(r.stdout.contains("*g_cmd_bd)"));
    let r = sim.run("bjobs", &["-w", &run.to_string(), &long.to_string()]);
    assert!(r.stdout.contains(" a_very_long_cmd_bd) "));
    same_shape(
        r"^\d+\s+\S+\s+(RUN|PEND|DONE)\s+\S+\s+\S+\s+\S+\s+.+ \w{3} [ \d]\d \d\d:\d\d$",
        "bjobs-w-nextflow-all-states.txt",
        &r.stdout,
    );
}

#[test]
fn wide_w_table_matches_the_real_one() {
    let sim = Sim::new("");
    let id = sim.submit(&["-J", "TM-T", "exit 1"], "");
    sim.wait_stat(id, &["EXIT"], 10);
    let r = sim.run("bjobs", &["-W", "-w", "-a", &id.to_string()]);
    let cap = capture("bjobs-W-w-wide-finished.txt");
    if let Some(cap) = &cap {
        assert_eq!(r.lines()[0], cap.lines().next().unwrap());
    }
    same_shape(
        r"^\d+\s+\S+\s+EXIT\s+\S+\s+\S+\s+\S+\s+\S+\s+\d\d/\d\d-\d\d:\d\d:\d\d \S+\s+\d{3}:\d\d:\d\d\.\d\d \d+\s+\d+\s+\S+ \d\d/\d\d-\d\d:\d\d:\d\d \d\d/\d\d-\d\d:\d\d:\d\d$",
        "bjobs-W-w-wide-finished.txt",
        &r.stdout,
    );
}

#[test]
fn o_format_rows_and_headers() {
    let sim = Sim::new("");
    let done = sim.submit(&["-J", "d", "true"], "");
    let run = sim.submit(&["-J", "r", "sleep 30"], "");
    sim.wait_stat(done, &["DONE"], 10);
    sim.wait_stat(run, &["RUN"], 10);
    let ids = [done.to_string(), run.to_string()];
    let r = sim.run(
        "bjobs",
        &[
            "-noheader",
            "-o",
            "jobid stat exec_host delimiter='^'",
            &ids[0],
            &ids[1],
        ],
    );
    assert_eq!(r.code, 0);
    for l in r.lines() {
        same_shape(r"^\d+\^[A-Z]+\^\S+$", "bjobs-o-delimiter-caret-ert.txt", l);
    }
    // With a header, and the values whose wording matters.
    let r = sim.run(
        "bjobs",
        &[
            "-a",
            "-o",
            "id stat exit_code submit_time start_time finish_time cpu_used run_time max_mem delimiter=\"|\"",
            &ids[0],
        ],
    );
    let lines = r.lines();
    assert_eq!(
        lines[0],
        "JOBID|STAT|EXIT_CODE|SUBMIT_TIME|START_TIME|FINISH_TIME|CPU_USED|RUN_TIME|MAX_MEM"
    );
    let re = regex::Regex::new(
        r"^\d+\|DONE\|-\|(\w{3} [ \d]\d \d\d:\d\d\|){3}\d+\.\d second\(s\)\|\d+ second\(s\)\|\d+ [KMG]bytes$",
    )
    .unwrap();
    assert!(re.is_match(lines[1]), "{}", lines[1]);
    // Widths pad (and truncate), even with a delimiter; "-" for empty values.
    let r = sim.run(
        "bjobs",
        &["-noheader", "-o", "jobid:8 exec_host:3 exit_code", &ids[1]],
    );
    assert_eq!(r.stdout, format!("{:<8} sim -\n", run));
}

#[test]
fn json_output_parses_and_has_the_real_layout() {
    let sim = Sim::new("");
    let id = sim.submit(&["-J", "ls -l", "-o", "/tmp/x.%J", "true"], "");
    sim.wait_stat(id, &["DONE"], 10);
    let r = sim.run(
        "bjobs",
        &[
            "-json",
            "-o",
            "jobid job_name stat exit_code exec_host output_file run_time",
            &id.to_string(),
            "999999",
        ],
    );
    assert_eq!(r.code, 255, "mixed found/not found");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("valid JSON");
    assert_eq!(v["COMMAND"], "bjobs");
    assert_eq!(v["JOBS"], 2);
    let recs = v["RECORDS"].as_array().unwrap();
    let rec = recs[0].as_object().unwrap();
    let keys: Vec<&str> = rec.keys().map(String::as_str).collect();
    let mut want = vec![
        "JOBID",
        "JOB_NAME",
        "STAT",
        "EXIT_CODE",
        "EXEC_HOST",
        "OUTPUT_FILE",
        "RUN_TIME",
    ];
    want.sort_unstable();
    let mut got = keys.clone();
    got.sort_unstable();
    assert_eq!(got, want);
    assert!(
        rec.values().all(|x| x.is_string()),
        "all values are strings"
    );
    assert_eq!(rec["STAT"], "DONE");
    assert_eq!(rec["EXIT_CODE"], "");
    assert_eq!(rec["OUTPUT_FILE"], format!("/tmp/x.{id}"));
    assert_eq!(recs[1]["JOBID"], "999999");
    assert_eq!(recs[1]["ERROR"], "Job <999999> is not found");
    assert!(recs[1].get("STAT").is_none());
    assert!(
        r.stdout.contains(r#""OUTPUT_FILE":"\/tmp\/x."#),
        "slashes escaped as LSF does"
    );
    for re in [
        r"^\{$",
        r#"^  "COMMAND":"bjobs",$"#,
        r#"^  "JOBS":\d+,$"#,
        r#"^  "RECORDS":\[$"#,
        r"^    \{$",
        r#"^      "JOBID":"\d+",$"#,
        r#"^      "STAT":"DONE",$"#,
        r#"^      "EXEC_HOST":"[^"]+",$"#,
        r"^  \]$",
        r"^\}$",
    ] {
        same_shape(re, "bjobs-json-done-single.txt", &r.stdout);
    }
    if let Some(cap) = capture("bjobs-json-not-found-record-SYNTHETIC.txt") {
        assert!(cap.contains(r#"{"JOBID": "13", "ERROR": "Job <13> is not found"}"#));
    }
}

#[test]
fn nothing_to_show() {
    let sim = Sim::new("");
    let r = sim.run("bjobs", &[]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert_eq!(r.stderr, "No unfinished job found\n");
    same_shape(
        r"^No unfinished job found$",
        "bjobs-no-unfinished-job.txt",
        &r.stderr,
    );
    let r = sim.run(
        "bjobs",
        &["-noheader", "-o", "jobid stat exec_host delimiter='^'", "1"],
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert_eq!(r.stderr, "Job <1> is not found\n");
    same_shape(
        r"^Job <\d+> is not found$",
        "bjobs-not-found-exit0-ert.txt",
        &r.stderr,
    );
}

#[test]
fn old_version_rejects_o_and_json_but_keeps_the_table() {
    let sim = Sim::new("version = \"old\"\n");
    sim.submit(&["true"], "");
    assert!(crate::common::wait_until(10, || sim
        .run("bjobs", &["-a"])
        .stdout
        .contains(" DONE ")));
    for (args, bad) in [
        (vec!["-o", "jobid stat"], 'o'),
        (vec!["-json", "-o", "jobid"], 'j'),
        (vec!["-noheader", "-a"], 'n'),
    ] {
        let r = sim.run("bjobs", &args);
        assert_eq!(r.code, 255, "{args:?}");
        assert_eq!(r.stdout, "");
        assert!(
            r.stderr.contains(&format!("invalid option -- '{bad}'")),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("Usage: "), "{}", r.stderr);
    }
    let r = sim.run("bjobs", &["-w", "-a"]);
    assert_eq!(r.code, 0);
    assert!(r.lines()[0].starts_with("JOBID   USER    STAT"));
    assert!(r.lines()[1].contains(" DONE "));
    let r = sim.run("lsid", &[]);
    same_shape(
        r"^LSF \d+\.\d+, \w{3} \d+, \d{4}$",
        "lsid-lsf3.txt",
        &r.stdout,
    );
    same_shape(r"^My cluster name is \S+$", "lsid-lsf3.txt", &r.stdout);
    same_shape(r"^My master name is \S+$", "lsid-lsf3.txt", &r.stdout);
}

#[test]
fn lsid_lsf10() {
    let sim = Sim::new("cluster_name = \"test-cluster\"\nhosts = [\"node1\"]\n");
    let r = sim.run("lsid", &[]);
    assert_eq!(r.code, 0);
    same_shape(
        r"^IBM Spectrum LSF .+ 10\.1\.0\.\d+, \w{3} \d+ \d{4}$",
        "lsid-lsf10-community-edition.txt",
        &r.stdout,
    );
    if let Some(cap) = capture("lsid-lsf10-community-edition.txt") {
        let ours: Vec<&str> = r.stdout.lines().collect();
        let real: Vec<&str> = cap.lines().collect();
        assert_eq!(ours[..5], real[..5]);
    }
    assert!(r.stdout.ends_with("My master name is node1\n"));
}

#[test]
fn bhist_summary_and_long() {
    let sim = Sim::new("");
    let id = sim.submit(&["-J", "test-job", "sleep 1"], "");
    sim.wait_stat(id, &["DONE"], 10);
    let r = sim.run("bhist", &["-w", &id.to_string()]);
    if let Some(cap) = capture("bhist-w-summary-array-element-ids.txt") {
        assert_eq!(r.lines()[..2], cap.lines().collect::<Vec<_>>()[..2]);
    }
    same_shape(
        r"^\d+(\[\d+\])?\s+\S+\s+\S+\s+\d+\s+0\s+\d+\s+0\s+0\s+0\s+\d+$",
        "bhist-w-summary-array-element-ids.txt",
        &r.stdout,
    );
    let r = sim.run("bhist", &["-l", &id.to_string()]);
    for re in [
        r"^Job <\d+(\[\d+\])?>, Job Name <[^>]+>, User <\S+>, Project <\S+>, Comma",
        r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d: Done successfully\. The CPU time used is \d+\.\d seconds;$",
        r"^MAX MEM: \d+ Mbytes;  AVG MEM: \d+ Mbytes; MEM Efficiency: \d+\.\d\d%$",
        r"^Summary of time in seconds spent in various states by  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d$",
        r"^  \d+\s+0\s+\d+\s+0\s+0\s+0\s+\d+$",
    ] {
        same_shape(re, "bhist-l-array-elements-done-lsf10.txt", &r.stdout);
    }
}
