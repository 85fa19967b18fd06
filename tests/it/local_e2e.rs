//! End-to-end runs of the real binary on the local backend: quickstart, collect, quoting,
//! status shape, crash and resume, the writer lock.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

use crate::harness::{Env, assert_ok, read_csv, text, wait_for};

#[test]
fn quickstart_runs_every_point_and_collects_a_row_each() {
    let env = Env::new();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/sweeps/quickstart.toml");
    let out = env.run(&["launch", file]);
    assert_ok(&out);
    let st = env.status_json("quickstart");
    assert_eq!(st["counts"]["done"], 12, "{st}");
    let csv_path = env.path().join("q.csv");
    assert_ok(&env.run(&["collect", "quickstart", "-o", csv_path.to_str().unwrap()]));
    let (headers, rows) = read_csv(&csv_path);
    for col in [
        "sweep",
        "index",
        "lr",
        "layers",
        "optimizer",
        "job_id",
        "state",
        "exit_code",
        "run_seconds",
        "loss",
        "eval.acc",
        "epoch",
    ] {
        assert!(
            headers.iter().any(|h| h == col),
            "missing column {col} in {headers:?}"
        );
    }
    assert_eq!(rows.len(), 12);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["index"], i.to_string());
        assert_eq!(row["state"], "done");
        assert_eq!(row["exit_code"], "0");
        assert_eq!(row["epoch"], "3");
        // The metric really comes from this point's run: loss = (1 + layers*lr) / (3*layers).
        let lr: f64 = row["lr"].parse().unwrap();
        let l: f64 = row["layers"].parse().unwrap();
        let loss: f64 = row["loss"].parse().unwrap();
        assert!(
            (loss - (1.0 + l * lr) / (3.0 * l)).abs() < 1e-3,
            "row {row:?}"
        );
    }
}

#[test]
fn hostile_values_arrive_as_one_literal_argument_and_never_run() {
    let env = Env::new();
    let pwned = env.path().join("pwned");
    let hostile = r#"a b; rm -rf ~ $(id) 'x""#;
    let sweep = format!(
        r#"
name = "quoting"
command = "printf '%s\\n' {{v}} > {{out_dir}}/arg.txt; printf '%s' {{v}} | wc -l > {{out_dir}}/words.txt"
[grid]
v = [{hostile:?}, "$(touch {pwned})", "`touch {pwned}`", "line1\nline2", "ünïcødé ✓"]
"#,
        hostile = hostile,
        pwned = pwned.display()
    );
    let file = env.sweep("quoting.toml", &sweep);
    assert_ok(&env.run(&["launch", file.to_str().unwrap()]));
    let expected = [
        hostile.to_string(),
        format!("$(touch {})", pwned.display()),
        format!("`touch {}`", pwned.display()),
        "line1\nline2".to_string(),
        "ünïcødé ✓".to_string(),
    ];
    for (i, want) in expected.iter().enumerate() {
        let got = fs::read_to_string(
            env.home()
                .join(format!("sweeps/quoting/out/{i:05}/arg.txt")),
        )
        .unwrap();
        assert_eq!(got, format!("{want}\n"), "point {i}");
    }
    assert!(!pwned.exists(), "a value was executed");
}

#[test]
fn status_json_has_the_documented_shape() {
    let env = Env::new();
    let file = env.sweep(
        "shape.toml",
        r#"
name = "shape"
command = "exit {code}"
[grid]
code = [0, 3]
"#,
    );
    let out = env.run(&["launch", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "a failed point makes launch exit 4: {}",
        text(&out.stderr)
    );
    let st = env.status_json("shape");
    assert_eq!(st["sweep"], "shape");
    let counts = st["counts"].as_object().unwrap();
    let keys: Vec<&str> = counts.keys().map(String::as_str).collect();
    let mut want = vec![
        "unsubmitted",
        "pending",
        "running",
        "suspended",
        "done",
        "failed",
        "cancelled",
        "unknown",
    ];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(st["counts"]["done"], 1);
    assert_eq!(st["counts"]["failed"], 1);
    let points = st["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    let p1 = &points[1];
    for key in [
        "index",
        "params",
        "state",
        "job_id",
        "queue",
        "exit_code",
        "attempts",
    ] {
        assert!(p1.get(key).is_some(), "point lacks {key}: {p1}");
    }
    assert_eq!(p1["index"], 1);
    assert_eq!(p1["params"]["code"], 3);
    assert_eq!(p1["state"], "failed");
    assert_eq!(p1["exit_code"], 3);
    assert_eq!(p1["attempts"], 1);
    assert!(p1["job_id"].as_str().is_some_and(|s| !s.is_empty()));

    // retry --failed runs the failed point again as attempt 2 (it fails again: exit 3 is its fate).
    let out = env.run(&["retry", "shape", "--failed"]);
    assert_eq!(out.status.code(), Some(4));
    let st = env.status_json("shape");
    assert_eq!(st["points"][1]["attempts"], 2);
    assert_eq!(st["points"][0]["attempts"], 1);
}

/// A sweep whose every job appends its index to a marker file when it starts.
fn marker_sweep(
    env: &Env,
    name: &str,
    n: usize,
    sleep: &str,
    concurrency: usize,
) -> std::path::PathBuf {
    let marker = env.path().join("marker.txt");
    env.sweep(
        &format!("{name}.toml"),
        &format!(
            r#"
name = "{name}"
command = "echo {{index}} >> {marker}; sleep {sleep}; echo value={{i}}"
[grid]
i = {{ start = 0, stop = {n} }}
[local]
concurrency = {concurrency}
[collect]
stdout_kv = true
"#,
            marker = marker.display()
        ),
    )
}

fn marker_counts(env: &Env) -> HashMap<u64, usize> {
    let mut m = HashMap::new();
    for line in fs::read_to_string(env.path().join("marker.txt"))
        .unwrap_or_default()
        .lines()
    {
        *m.entry(line.trim().parse::<u64>().expect("index"))
            .or_default() += 1;
    }
    m
}

#[test]
fn kill_9_mid_sweep_then_resume_runs_every_point_exactly_once() {
    let env = Env::new();
    let n = 24;
    let file = marker_sweep(&env, "crash", n, "0.4", 4);
    let mut child = env.spawn(&["launch", file.to_str().unwrap()]);
    // Let some points finish and some run, then kill bsweep without warning.
    wait_for("a few points to start", Duration::from_secs(30), || {
        marker_counts(&env).len() >= 6
    });
    child.kill().expect("kill -9");
    let _ = child.wait();
    let started_before = marker_counts(&env).len();
    assert!(
        started_before < n,
        "the sweep finished before the kill; make jobs slower"
    );

    // A second run of resume is the user coming back.
    let out = env.run(&["resume", "crash"]);
    assert_ok(&out);
    let st = env.status_json("crash");
    assert_eq!(st["counts"]["done"], n as u64, "{st}");
    let counts = marker_counts(&env);
    assert_eq!(counts.len(), n, "every point ran: {counts:?}");
    assert!(
        counts.values().all(|&c| c == 1),
        "a point ran twice: {counts:?}"
    );
    let csv_path = env.path().join("crash.csv");
    assert_ok(&env.run(&["collect", "crash", "-o", csv_path.to_str().unwrap()]));
    let (_, rows) = read_csv(&csv_path);
    assert_eq!(rows.len(), n);
    assert!(
        rows.iter().all(|r| r["value"] == r["i"]),
        "each row has its own metric"
    );
}

#[test]
fn a_second_writer_is_refused_at_once_while_status_still_answers() {
    let env = Env::new();
    let file = marker_sweep(&env, "busy", 6, "1", 2);
    let child = env.spawn(&["launch", file.to_str().unwrap()]);
    let status_ready = || env.home().join("sweeps/busy/status.json").exists();
    wait_for(
        "the follower's first snapshot",
        Duration::from_secs(30),
        status_ready,
    );

    let start = std::time::Instant::now();
    let out = env.run(&["resume", "busy"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("in use by pid {}", child.id())),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the refusal must be immediate"
    );

    let st = env.status_json("busy");
    assert_eq!(st["sweep"], "busy");
    let list = env.run(&["list"]);
    assert_ok(&list);
    assert!(
        text(&list.stdout).contains(&format!("followed by pid {}", child.id())),
        "{}",
        text(&list.stdout)
    );

    let out = child.wait_with_output().expect("launch ends");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(env.status_json("busy")["counts"]["done"], 6);
}

#[test]
fn ctrl_c_stops_following_without_killing_jobs_and_resume_finishes() {
    let env = Env::new();
    let file = marker_sweep(&env, "intr", 8, "0.5", 4);
    let child = env.spawn(&["launch", file.to_str().unwrap()]);
    wait_for("jobs to start", Duration::from_secs(30), || {
        marker_counts(&env).len() >= 4
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bsweep resume intr"),
        "{}",
        text(&out.stderr)
    );
    assert_ok(&env.run(&["resume", "intr"]));
    let counts = marker_counts(&env);
    assert_eq!(counts.len(), 8);
    assert!(counts.values().all(|&c| c == 1), "{counts:?}");
    // The jobs running at Ctrl-C were not killed: they finished with exit 0.
    assert_eq!(env.status_json("intr")["counts"]["done"], 8);
}

#[test]
fn launching_an_existing_name_is_refused_with_a_hint() {
    let env = Env::new();
    let file = env.sweep("dup.toml", "name = \"dup\"\ncommand = \"true\"\n");
    assert_ok(&env.run(&["launch", file.to_str().unwrap()]));
    let out = env.run(&["launch", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.contains("already exists") && err.contains("bsweep resume dup"),
        "{err}"
    );
}

#[test]
fn cancel_stops_running_points_and_marks_the_rest() {
    let env = Env::new();
    let file = marker_sweep(&env, "stop", 6, "30", 2);
    assert_ok(&env.run(&["launch", file.to_str().unwrap(), "--detach"]));
    wait_for("two jobs to start", Duration::from_secs(30), || {
        marker_counts(&env).len() >= 2
    });
    let out = env.run(&["cancel", "stop"]);
    assert_ok(&out);
    wait_for(
        "the background follower to stop",
        Duration::from_secs(30),
        || {
            let st = env.status_json("stop");
            st["counts"]["cancelled"] == 6
        },
    );
    assert!(
        marker_counts(&env).len() <= 4,
        "cancelled points must not start"
    );
}

#[test]
fn failed_points_are_retried_up_to_max_attempts() {
    let env = Env::new();
    let file = env.sweep(
        "flaky.toml",
        r#"
name = "flaky"
max_attempts = 3
command = "[ {attempt} -ge {succeeds_at} ] || exit 7"
[grid]
succeeds_at = [1, 3, 5]
"#,
    );
    let out = env.run(&["launch", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "the third point never succeeds: {}",
        text(&out.stderr)
    );
    let st = env.status_json("flaky");
    let p = st["points"].as_array().unwrap();
    assert_eq!(
        (p[0]["state"].as_str(), p[0]["attempts"].as_u64()),
        (Some("done"), Some(1))
    );
    assert_eq!(
        (p[1]["state"].as_str(), p[1]["attempts"].as_u64()),
        (Some("done"), Some(3))
    );
    assert_eq!(
        (p[2]["state"].as_str(), p[2]["attempts"].as_u64()),
        (Some("failed"), Some(3))
    );
    assert_eq!(p[2]["exit_code"], 7);
    // Each attempt has its own job name and script.
    assert!(env.home().join("sweeps/flaky/scripts/00001-3.sh").exists());
}

/// Whether process `pid` is gone or only a zombie waiting to be reaped (dead either way).
fn dead(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses: `pid (comm) S ...`.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

/// The parent pid of a live process, from `/proc/PID/stat`.
fn parent_of(pid: i32) -> i32 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("process is alive");
    let (_, rest) = stat.rsplit_once(')').expect("stat has a comm");
    rest.split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("stat has a ppid")
}

#[test]
fn local_runs_record_peak_memory_exit_codes_and_signals() {
    let env = Env::new();
    // `big` holds ~150 MB in the job's bash (a command substitution of 150 MB of `a`s; bash
    // copies it, so its peak is about twice that); `tiny` holds nothing.
    let file = env.sweep(
        "mem.toml",
        r#"
name = "mem"
command = '''
case {kind} in
  big) x=$(head -c 150000000 /dev/zero | tr '\0' a); sleep 0.2 ;;
  tiny) true ;;
  exit3) exit 3 ;;
  killed) kill -9 $$ ;;
esac
'''
[grid]
kind = ["big", "tiny", "exit3", "killed"]
[local]
concurrency = 2
"#,
    );
    let out = env.run(&["launch", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "two points fail, so launch exits 4: {}",
        text(&out.stderr)
    );
    let csv_path = env.path().join("mem.csv");
    assert_ok(&env.run(&["collect", "mem", "-o", csv_path.to_str().unwrap()]));
    let (_, rows) = read_csv(&csv_path);
    let row = |kind: &str| rows.iter().find(|r| r["kind"] == kind).expect("a row");
    let mem = |kind: &str| -> f64 {
        let cell = &row(kind)["max_mem_mb"];
        cell.parse()
            .unwrap_or_else(|_| panic!("{kind}: max_mem_mb {cell:?} is not a number"))
    };
    eprintln!(
        "max_mem_mb: big {}, tiny {}, exit3 {}",
        mem("big"),
        mem("tiny"),
        mem("exit3")
    );
    assert!((140.0..1000.0).contains(&mem("big")), "big: {}", mem("big"));
    assert!(mem("tiny") < 50.0, "tiny: {}", mem("tiny"));
    assert!(mem("exit3") < 50.0, "exit3: {}", mem("exit3"));
    // The measuring step outlives a job killed by a signal, so it is measured too.
    assert!(mem("killed") < 50.0, "killed: {}", mem("killed"));

    assert_eq!(row("big")["state"], "done");
    assert_eq!(row("tiny")["state"], "done");
    assert_eq!(
        (
            row("exit3")["state"].as_str(),
            row("exit3")["exit_code"].as_str()
        ),
        ("failed", "3")
    );
    // Killed by SIGKILL: failed, with the shell's 128 + 9.
    assert_eq!(
        (
            row("killed")["state"].as_str(),
            row("killed")["exit_code"].as_str()
        ),
        ("failed", "137")
    );
}

#[test]
fn cancel_kills_every_process_of_a_running_local_job() {
    let env = Env::new();
    let file = env.sweep(
        "tree.toml",
        r#"
name = "tree"
command = "sleep 300 & echo $! > {out_dir}/child.pid; echo $$ > {out_dir}/job.pid; wait"
"#,
    );
    assert_ok(&env.run(&["launch", file.to_str().unwrap(), "--detach"]));
    let out_dir = env.home().join("sweeps/tree/out/00000");
    let read_pid = |name: &str| -> Option<i32> {
        fs::read_to_string(out_dir.join(name))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    };
    wait_for("the job to start", Duration::from_secs(30), || {
        read_pid("job.pid").is_some() && read_pid("child.pid").is_some()
    });
    let job = read_pid("job.pid").unwrap();
    let child = read_pid("child.pid").unwrap();
    // The job's shell runs under the measuring step, which runs under the wrapper.
    let measurer = parent_of(job);
    let cmdline = fs::read(format!("/proc/{measurer}/cmdline")).unwrap();
    assert!(
        cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == b"internal-measure"),
        "the job's parent is not the measuring step: {}",
        text(&cmdline)
    );
    let wrapper = parent_of(measurer);

    assert_ok(&env.run(&["cancel", "tree"]));
    wait_for(
        "every process of the job to end",
        Duration::from_secs(30),
        || [wrapper, measurer, job, child].into_iter().all(dead),
    );
    wait_for(
        "the point to read cancelled",
        Duration::from_secs(30),
        || env.status_json("tree")["counts"]["cancelled"] == 1,
    );
}

#[test]
fn status_names_the_failed_points_and_logs_shows_their_output() {
    let env = Env::new();
    let file = env.sweep(
        "why.toml",
        r#"
name = "why"
command = "for k in $(seq 1 100); do echo line $k of {i}; done; echo 'bad {i}' >&2; exit {i}"
[grid]
i = [0, 1, 2]
"#,
    );
    assert_eq!(
        env.run(&["launch", file.to_str().unwrap()]).status.code(),
        Some(4)
    );
    let out = env.run(&["status", "why"]);
    assert_ok(&out);
    let shown = text(&out.stdout);
    assert!(shown.contains("point 1 (i=1): failed, exit 1"), "{shown}");
    assert!(shown.contains("point 2 (i=2): failed, exit 2"), "{shown}");
    assert!(!shown.contains("point 0 "), "point 0 is done: {shown}");
    assert!(shown.contains("bsweep logs why 1"), "{shown}");

    let out = env.run(&["logs", "why", "2", "-n", "3"]);
    assert_ok(&out);
    assert_eq!(
        text(&out.stdout),
        "line 98 of 2\nline 99 of 2\nline 100 of 2\n"
    );
    let out = env.run(&["logs", "why", "1", "--stderr"]);
    assert_eq!(text(&out.stdout), "bad 1\n");
    // A point that does not exist, a sweep that does not exist.
    assert_eq!(env.run(&["logs", "why", "3"]).status.code(), Some(2));
    assert_eq!(env.run(&["logs", "nope", "0"]).status.code(), Some(3));
}
