//! Fault injection and the call log.

use crate::common::{Sim, job_id, read, same_shape};
use std::time::{Duration, Instant};

#[test]
fn transient_failure_at_probability_one_always_fails_and_submits_nothing() {
    let sim = Sim::new("[faults]\nbsub_transient_fail = 1.0\nseed = 5\n");
    let script = "#!/bin/sh\ntrue\n";
    for _ in 0..10 {
        let r = sim.run_stdin("bsub", &["-J", "x"], script);
        assert_eq!((r.code, r.stdout.as_str()), (255, ""));
        assert_eq!(
            r.stderr,
            "Failed in an LSF library call: LIM is down; try later. Job not submitted.\n"
        );
        same_shape(
            r"^Failed in an LSF library call: LIM is down; try later\. Job not submitted\.$",
            "bsub-error-lim-down.txt",
            &r.stderr,
        );
    }
    let r = sim.run("bjobs", &["-a"]);
    assert_eq!(r.stderr, "No job found\n");
    let calls = sim.calls();
    let bsubs: Vec<_> = calls.iter().filter(|c| c["cmd"] == "bsub").collect();
    assert_eq!(bsubs.len(), 10);
    for c in bsubs {
        assert_eq!(c["exit"], 255);
        assert_eq!(c["jobs"], serde_json::json!([]));
        assert_eq!(c["faults"], serde_json::json!(["bsub_transient_fail"]));
        assert_eq!(c["stdin_bytes"], script.len());
    }
}

#[test]
fn failure_after_submit_leaves_a_job_to_reconcile_by_name() {
    let sim = Sim::new("[faults]\nbsub_fail_after_submit = 1.0\n");
    let r = sim.run_stdin("bsub", &[], "#BSUB -J bsw-3f9a1c-00042-1\nsleep 0.2\n");
    assert_eq!(r.code, 255);
    assert_eq!(job_id(&r.stdout), None);
    assert!(r.stderr.ends_with("Job not submitted.\n"), "{}", r.stderr);
    // ... yet the job exists, under its name.
    let r = sim.run(
        "bjobs",
        &[
            "-a",
            "-noheader",
            "-o",
            "jobid job_name delimiter='^'",
            "-J",
            "bsw-3f9a1c-00042-1",
        ],
    );
    assert_eq!(r.code, 0);
    let rows: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(rows.len(), 1, "{}", r.stdout);
    assert!(rows[0].ends_with("^bsw-3f9a1c-00042-1"));
    let c = &sim.calls()[0];
    assert_eq!(c["names"], serde_json::json!(["bsw-3f9a1c-00042-1"]));
    assert_eq!(c["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(c["faults"], serde_json::json!(["bsub_fail_after_submit"]));
}

#[test]
fn chatter_before_the_submission_line() {
    let sim = Sim::new(
        "[faults]\nplease_wait = 1.0\nesub_chatter = [\"Info: project charged: default\"]\n",
    );
    let r = sim.run("bsub", &["true"]);
    assert_eq!(r.code, 0);
    let lines = r.lines();
    assert!(lines.len() >= 3, "{}", r.stdout);
    same_shape(
        r"^Cannot connect to LSF\. Please wait \.\.\.$",
        "bsub-please-wait-prefix.txt",
        lines[0],
    );
    assert_eq!(lines[lines.len() - 2], "Info: project charged: default");
    assert!(job_id(lines[lines.len() - 1]).is_some());
    let r = sim.run("bjobs", &["-a"]);
    same_shape(
        r"^LSF is processing your request\. Please wait \.\.\.$",
        "bjobs-nonwide-please-wait-prefix.txt",
        &r.stdout,
    );
    assert!(r.stdout.contains("JOBID   USER"));
}

#[test]
fn bjobs_daemon_failure() {
    let sim = Sim::new("[faults]\nbjobs_fail = 1.0\n");
    sim.submit(&["true"], "");
    let r = sim.run("bjobs", &["-a"]);
    assert_eq!((r.code, r.stdout.as_str()), (255, ""));
    same_shape(
        r"^batch system daemon not responding \.\.\. still trying$",
        "lsf-daemon-not-responding-still-trying.txt",
        &r.stderr,
    );
}

#[test]
fn fresh_jobs_are_invisible_for_the_visibility_delay() {
    let sim = Sim::new("[faults]\nvisibility_delay_ms = 1500\n");
    let id = sim.submit(&["sleep 5"], "");
    let r = sim.run("bjobs", &[&id.to_string()]);
    assert_eq!(r.stderr, format!("Job <{id}> is not found\n"));
    std::thread::sleep(Duration::from_millis(1600));
    assert_eq!(sim.stat(id), "RUN");
}

#[test]
fn seeded_faults_repeat_and_latency_is_applied() {
    let outcomes = |seed: u64| -> Vec<i32> {
        let sim = Sim::new(&format!(
            "[faults]\nbsub_transient_fail = 0.5\nseed = {seed}\nlatency_ms = 30\n"
        ));
        (0..12).map(|_| sim.run("bsub", &["true"]).code).collect()
    };
    let a = outcomes(42);
    assert_eq!(a, outcomes(42));
    assert!(a.contains(&0) && a.contains(&255), "{a:?}");
    let sim = Sim::new("[faults]\nlatency_ms = 200\n");
    let t = Instant::now();
    sim.run("bqueues", &[]);
    assert!(t.elapsed() >= Duration::from_millis(200));
}

#[test]
fn call_log_has_one_line_per_call() {
    let sim = Sim::new("");
    let script = "#BSUB -J logged\ntrue\n";
    let id = sim.submit(&[], script);
    sim.run("bjobs", &["-a", &id.to_string()]);
    sim.run("bkill", &[&id.to_string()]);
    sim.run("lsid", &[]);
    let calls = sim.calls();
    let cmds: Vec<&str> = calls.iter().map(|c| c["cmd"].as_str().unwrap()).collect();
    assert_eq!(cmds, vec!["bsub", "bjobs", "bkill", "lsid"]);
    let b = &calls[0];
    assert!(b["t"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(b["args"], serde_json::json!([]));
    assert_eq!(b["exit"], 0);
    assert_eq!(b["jobs"], serde_json::json!([id]));
    assert_eq!(b["names"], serde_json::json!(["logged"]));
    assert_eq!(b["stdin_bytes"], script.len());
    assert_eq!(calls[1]["args"], serde_json::json!(["-a", id.to_string()]));
    for c in &calls {
        for k in ["t", "cmd", "args", "exit", "jobs", "names", "stdin_bytes"] {
            assert!(c.get(k).is_some(), "{k} missing in {c}");
        }
    }
}

#[test]
fn missing_state_dir_is_a_clear_error() {
    let sim = Sim::new("");
    let r = sim
        .cmd("bjobs")
        .env_remove("LSFSIM_DIR")
        .output()
        .expect("run bjobs");
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("LSFSIM_DIR is not set"));
}

/// A job holding about `mb` MB (perl's `x` builds the string twice, so half of it is asked).
fn hog(mb: u32, secs: u32) -> String {
    format!(
        "#!/bin/bash\nperl -e '$x = \"x\" x ({} * 1024 * 1024); sleep {secs}'\n",
        mb / 2
    )
}

#[test]
fn a_job_over_its_memory_limit_is_killed_with_term_memlimit() {
    let sim = Sim::new("");
    let over = sim.submit(&["-M", "40MB", "-o", "over.out"], &hog(90, 5));
    let under = sim.submit(&["-M", "200MB", "-o", "under.out"], &hog(90, 1));
    assert_eq!(sim.wait_stat(over, &["DONE", "EXIT"], 30), "EXIT");
    assert_eq!(sim.wait_stat(under, &["DONE", "EXIT"], 30), "DONE");
    let out = read(&sim.work.join("over.out"));
    // As LSF 10 writes it (shared/lsf/joboutput-term-memlimit-snippet.txt): the TERM_ line, then
    // the exit line.
    let term = out
        .lines()
        .position(|l| l == "TERM_MEMLIMIT: job killed after reaching LSF memory usage limit.")
        .unwrap_or_else(|| panic!("no TERM_MEMLIMIT line in\n{out}"));
    assert!(
        out.lines()
            .nth(term + 1)
            .is_some_and(|l| l.starts_with("Exited with exit code ")),
        "{out}"
    );
    let rows = sim.rows("stat exit_code exit_reason", &[&over.to_string()]);
    assert_eq!(rows[0][0], "EXIT");
    assert!(rows[0][1].parse::<i32>().is_ok_and(|c| c > 0), "{rows:?}");
    assert!(rows[0][2].contains("memory"), "{rows:?}");
    let long = sim.run("bjobs", &["-l", &over.to_string()]).stdout;
    assert!(long.contains("TERM_MEMLIMIT"), "{long}");
    assert!(!read(&sim.work.join("under.out")).contains("TERM_"));
}

#[test]
fn a_failing_host_fails_every_job_and_hname_leaves_it_out() {
    let sim = Sim::new("hosts = [\"h1\", \"h2\"]\n[faults]\nfailing_hosts = [\"h2\"]\n");
    let bad = sim.submit(
        &["-m", "h2", "-o", "bad.out", "-e", "bad.err"],
        "echo ran\n",
    );
    assert_eq!(sim.wait_stat(bad, &["DONE", "EXIT"], 20), "EXIT");
    assert_eq!(sim.rows("exit_code", &[&bad.to_string()])[0][0], "1");
    assert!(read(&sim.work.join("bad.err")).contains("host h2 failed the job"));
    // The script never ran: the -o file holds LSF's report alone.
    let out = read(&sim.work.join("bad.out"));
    assert!(
        out.starts_with("------") && out.contains("Exited with exit code 1."),
        "{out}"
    );
    // Left out by the select string, every job runs on the other host, even with h2 idle.
    let ids: Vec<String> = (0..4)
        .map(|_| {
            sim.submit(&["-R", "select[(type==any) && hname!=h2]"], "sleep 0.3\n")
                .to_string()
        })
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    for id in &ids {
        sim.wait_stat(id.parse().unwrap(), &["DONE"], 20);
    }
    let hosts = sim.rows("exec_host", &refs);
    assert!(hosts.iter().all(|r| r[0] == "h1"), "{hosts:?}");
}

#[test]
fn a_job_past_its_run_limit_is_killed_with_term_runlimit() {
    let sim = Sim::new("runlimit_minute_ms = 400\n");
    let slow = sim.submit(&["-W", "1", "-o", "slow.out"], "sleep 3\necho late\n");
    let quick = sim.submit(&["-W", "5", "-o", "quick.out"], "sleep 0.2\n");
    assert_eq!(sim.wait_stat(slow, &["DONE", "EXIT"], 20), "EXIT");
    assert_eq!(sim.wait_stat(quick, &["DONE", "EXIT"], 20), "DONE");
    let rows = sim.rows("exit_code exit_reason", &[&slow.to_string()]);
    assert_eq!(rows[0][0], "140", "SIGUSR2 ends the script: {rows:?}");
    assert!(rows[0][1].contains("run time limit"), "{rows:?}");
    let out = read(&sim.work.join("slow.out"));
    assert!(
        out.contains("TERM_RUNLIMIT: job killed after reaching LSF run time limit.\nExited with exit code 140."),
        "{out}"
    );
    assert!(!read(&sim.work.join("quick.out")).contains("TERM_"));
}
