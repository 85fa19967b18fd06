//! The LSF backend end to end: the real `bsweep` binary against the LSF simulator on PATH.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use crate::harness::{Sim, assert_ok, read_csv, text, wait_for};

const THREE_QUEUES: &str = r#"
[[queue]]
name = "short"
slots = 4
[[queue]]
name = "normal"
slots = 4
[[queue]]
name = "long"
slots = 4
"#;

/// A sweep of `n` points whose jobs print a metric and sleep a little.
fn sweep(sim: &Sim, name: &str, n: usize, lsf: &str) -> String {
    let text = format!(
        r#"
name = "{name}"
backend = "lsf"
command = "sleep 0.5; echo score=$(( {{i}} * 2 ))"
[grid]
i = {{ start = 0, stop = {n} }}
[lsf]
poll_min = 0.3
poll_max = 1.0
settle = 2.0
{lsf}
[collect]
stdout_kv = true
"#
    );
    sim.env
        .sweep(&format!("{name}.toml"), &text)
        .to_string_lossy()
        .into_owned()
}

/// Every bsub of the log submitted a distinct job name, and there is one per point.
fn assert_one_bsub_per_point(sim: &Sim, n: usize) {
    crate::harness::assert_one_job_per_point(&sim.calls_of("bsub"), n);
}

/// Each poll cycle is one bjobs call: polls that ask for job ids never come in bursts.
fn assert_one_bjobs_per_cycle(sim: &Sim, poll_min_ms: i64) {
    let polls: Vec<i64> = sim
        .calls_of("bjobs")
        .iter()
        .filter(|c| !c["args"].as_array().unwrap().iter().any(|a| a == "-J"))
        // The probe asks about job 0 (which never exists) once, before the sweep starts.
        .filter(|c| {
            c["args"]
                .as_array()
                .unwrap()
                .last()
                .is_none_or(|a| a != "0")
        })
        .filter(|c| {
            c["args"].as_array().unwrap().iter().any(|a| {
                a.as_str()
                    .is_some_and(|s| s.chars().all(|ch| ch.is_ascii_digit()))
            })
        })
        .map(|c| c["t"].as_i64().unwrap())
        .collect();
    assert!(polls.len() >= 2, "the sweep was polled");
    for w in polls.windows(2) {
        assert!(
            w[1] - w[0] >= poll_min_ms / 2,
            "two bjobs calls in one cycle: {} ms apart",
            w[1] - w[0]
        );
    }
}

fn launch_and_collect(
    sim: &Sim,
    file: &str,
    name: &str,
    n: usize,
) -> Vec<BTreeMap<String, String>> {
    let out = sim.run(&["launch", file]);
    assert_ok(&out);
    let st = sim.status_json(name);
    assert_eq!(st["counts"]["done"], n as u64, "{st}");
    let csv_path = sim.env.path().join(format!("{name}.csv"));
    assert_ok(&sim.run(&["collect", name, "-o", csv_path.to_str().unwrap()]));
    let rows = read_csv(&csv_path).1;
    assert_eq!(rows.len(), n);
    for r in &rows {
        let i: i64 = r["i"].parse().unwrap();
        assert_eq!(r["score"], (i * 2).to_string(), "metric of point {i}");
        assert_eq!(r["state"], "done");
        assert_eq!(r["exit_code"], "0");
        assert!(!r["job_id"].is_empty());
    }
    rows
}

fn per_target(rows: &[BTreeMap<String, String>]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in rows {
        *m.entry(r["target"].clone()).or_default() += 1;
    }
    m
}

#[test]
fn sixty_points_round_robin_over_three_queues() {
    let sim = Sim::new(THREE_QUEUES);
    let file = sweep(&sim, "rr", 60, "queues = [\"short\", \"normal\", \"long\"]");
    let rows = launch_and_collect(&sim, &file, "rr", 60);
    let m = per_target(&rows);
    assert_eq!(m.get("short"), Some(&20), "{m:?}");
    assert_eq!(m.get("normal"), Some(&20), "{m:?}");
    assert_eq!(m.get("long"), Some(&20), "{m:?}");
    assert_one_bsub_per_point(&sim, 60);
    assert_one_bjobs_per_cycle(&sim, 300);
    // The script went in on stdin with its #BSUB lines (bsub < job.sh), not as an argument.
    assert!(sim.calls_of("bsub").iter().all(
        |c| c["args"].as_array().unwrap().is_empty() && c["stdin_bytes"].as_u64().unwrap() > 0
    ));
    // Run time and memory reach the CSV.
    assert!(
        rows.iter()
            .all(|r| !r["run_seconds"].is_empty() && !r["max_mem_mb"].is_empty()),
        "{:?}",
        rows[0]
    );
}

#[test]
fn weighted_policy_follows_the_weights() {
    let sim = Sim::new(THREE_QUEUES);
    let targets = r#"
policy = "weighted"
[[lsf.targets]]
queue = "short"
weight = 1
max_in_flight = 2
[[lsf.targets]]
queue = "normal"
weight = 1
max_in_flight = 2
[[lsf.targets]]
queue = "long"
weight = 4
max_in_flight = 8
"#;
    let file = sweep(&sim, "weighted", 60, targets);
    let rows = launch_and_collect(&sim, &file, "weighted", 60);
    let m = per_target(&rows);
    assert!(m["long"] > m["short"] && m["long"] > m["normal"], "{m:?}");
    assert!(m.values().all(|&c| c > 0), "{m:?}");
    assert_one_bsub_per_point(&sim, 60);
}

#[test]
fn least_pending_prefers_the_emptier_queue() {
    // `short` has 1 slot and so a backlog; `long` has 8: least-pending sends most there.
    let sim = Sim::new(
        "[[queue]]\nname = \"short\"\nslots = 1\n[[queue]]\nname = \"normal\"\nslots = 2\n[[queue]]\nname = \"long\"\nslots = 8\n",
    );
    let file = sweep(
        &sim,
        "lp",
        60,
        "queues = [\"short\", \"normal\", \"long\"]\npolicy = \"least-pending\"\nmax_in_flight = 10",
    );
    let rows = launch_and_collect(&sim, &file, "lp", 60);
    let m = per_target(&rows);
    assert!(m["long"] > m.get("short").copied().unwrap_or(0), "{m:?}");
    assert!(
        !sim.calls_of("bqueues").is_empty(),
        "least-pending reads queue loads"
    );
    assert_one_bsub_per_point(&sim, 60);
}

#[test]
fn faults_lose_nothing_and_submit_nothing_twice() {
    let sim = Sim::new(&format!(
        "clean_period = 2\n{THREE_QUEUES}\n[faults]\nbsub_transient_fail = 0.2\nbsub_fail_after_submit = 0.05\nlatency_ms = 100\nplease_wait = 0.3\nesub_chatter = [\"esub: checking project\"]\nvisibility_delay_ms = 500\nseed = 7\n"
    ));
    let file = sweep(
        &sim,
        "faulty",
        40,
        "queues = [\"short\", \"normal\", \"long\"]",
    );
    let rows = launch_and_collect(&sim, &file, "faulty", 40);
    // A bsub that failed after submitting was adopted, not repeated.
    assert_one_bsub_per_point(&sim, 40);
    let faults: Vec<String> = sim
        .calls()
        .iter()
        .flat_map(|c| c["faults"].as_array().cloned().unwrap_or_default())
        .map(|f| f.to_string())
        .collect();
    assert!(
        faults.iter().any(|f| f.contains("transient")),
        "the transient fault fired: {faults:?}"
    );
    assert!(
        rows.iter()
            .all(|r| !r["run_seconds"].is_empty() && !r["max_mem_mb"].is_empty()),
        "{:?}",
        rows[0]
    );
}

#[test]
fn old_lsf_without_o_or_json_works_through_the_table() {
    let sim = Sim::new(&format!("version = \"old\"\n{THREE_QUEUES}"));
    let file = sweep(&sim, "old", 12, "queue = \"normal\"");
    let rows = launch_and_collect(&sim, &file, "old", 12);
    let bjobs = sim.calls_of("bjobs");
    let polls: Vec<_> = bjobs.iter().filter(|c| c["exit"] == 0).collect();
    assert!(!polls.is_empty());
    assert!(
        polls
            .iter()
            .all(|c| c["args"].as_array().unwrap().iter().all(|a| a != "-o")),
        "after probing, only the table is used"
    );
    // Run time and memory come from the job report in the output file.
    assert!(
        rows.iter()
            .all(|r| !r["run_seconds"].is_empty() && !r["max_mem_mb"].is_empty()),
        "{:?}",
        rows[0]
    );
}

#[test]
fn a_queue_that_does_not_exist_is_a_sweep_file_error_before_anything_is_recorded() {
    let sim = Sim::new(THREE_QUEUES);
    let file = sweep(&sim, "noq", 4, "queue = \"gpu\"");
    let out = sim.run(&["launch", &file]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // The file, line and column of the queue name, the field, LSF's words and the way out.
    assert!(err.contains("noq.toml:11:9: lsf.queue: "), "{err}");
    assert!(err.contains("gpu: No such queue"), "{err}");
    assert!(err.contains("its queues: short, normal, long"), "{err}");
    assert!(sim.calls_of("bsub").is_empty(), "nothing submitted");
    assert_eq!(
        sim.run(&["status", "noq"]).status.code(),
        Some(3),
        "nothing recorded"
    );

    // Fixed, the same command goes through.
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("\"gpu\"", "\"short\""),
    )
    .unwrap();
    assert_ok(&sim.run(&["launch", &file]));
    assert_eq!(sim.status_json("noq")["counts"]["done"], 4);
    // Launched twice: refused at once, before the cluster is asked anything.
    let asked = sim.calls().len();
    assert_eq!(sim.run(&["launch", &file]).status.code(), Some(3));
    assert_eq!(sim.calls().len(), asked);
}

#[test]
fn a_target_the_cluster_refuses_stops_with_lsfs_message() {
    // bsweep cannot check host groups beforehand everywhere (bmgroup); bsub's refusal stops
    // that target after one job.
    let sim = Sim::new(THREE_QUEUES);
    let file = sweep(
        &sim,
        "nohg",
        4,
        "queue = \"short\"\nhosts = \"nosuchgroup\"",
    );
    let out = sim.run(&["launch", &file]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("nosuchgroup: Bad host name, host group name or cluster name"),
        "{err}"
    );
    assert!(
        err.contains("bsweep retry nohg --failed --spec FILE"),
        "{err}"
    );
    let st = sim.status_json("nohg");
    assert_eq!(st["counts"]["failed"], 4);
    assert_eq!(
        sim.calls_of("bsub").len(),
        1,
        "no more bsub after a permanent refusal"
    );
    // The target never got a job, so a fixed file may replace it.
    let fixed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("hosts = \"nosuchgroup\"", "");
    let fixed_file = sim.env.sweep("nohg-fixed.toml", &fixed);
    let out = sim.run(&[
        "retry",
        "nohg",
        "--failed",
        "--spec",
        fixed_file.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let st = sim.status_json("nohg");
    assert_eq!(st["counts"]["done"], 4, "{st}");
    assert_eq!(st["targets"]["short"]["done"], 4, "{st}");
}

#[test]
fn cancel_kills_jobs_on_the_cluster() {
    let sim = Sim::new(THREE_QUEUES);
    let file = sim.env.sweep(
        "long.toml",
        "name = \"long\"\nbackend = \"lsf\"\ncommand = \"sleep 60\"\n[grid]\ni = { start = 0, stop = 6 }\n[lsf]\nqueue = \"short\"\npoll_min = 0.3\nsettle = 1.0\n",
    );
    assert_ok(&sim.run(&["launch", file.to_str().unwrap(), "--detach"]));
    assert_ok(&sim.run(&["cancel", "long"]));
    let st = sim.status_json("long");
    assert_eq!(st["counts"]["cancelled"], 6, "{st}");
    let killed: usize = sim
        .calls_of("bkill")
        .iter()
        .map(|c| c["jobs"].as_array().unwrap().len())
        .sum();
    assert_eq!(killed, 6);
}

#[test]
fn jobs_whose_bsub_answer_was_lost_are_adopted_not_resubmitted() {
    // Every bsub accepts the job and then fails as if the answer never came back.
    let sim = Sim::new(&format!(
        "{THREE_QUEUES}\n[faults]\nbsub_fail_after_submit = 1.0\n"
    ));
    let file = sweep(&sim, "lost", 8, "queue = \"normal\"");
    let out = sim.run(&["launch", &file]);
    assert_ok(&out);
    assert!(
        text(&out.stderr).contains("adopted"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(sim.status_json("lost")["counts"]["done"], 8);
    assert_one_bsub_per_point(&sim, 8);
    let fired = sim
        .calls_of("bsub")
        .iter()
        .filter(|c| {
            c["faults"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "bsub_fail_after_submit")
        })
        .count();
    assert_eq!(fired, 8);
    // They were found with one `bjobs -J` pattern call per reconciliation, not one per job.
    let lookups = sim
        .calls_of("bjobs")
        .into_iter()
        .filter(|c| c["args"].as_array().unwrap().iter().any(|a| a == "-J"))
        .count();
    assert!((1..8).contains(&lookups), "{lookups} bjobs -J calls");
}

#[test]
fn job_arrays_split_at_the_size_limit_and_map_elements_back() {
    let sim = Sim::new("max_array_size = 1000\n[[queue]]\nname = \"normal\"\nslots = 64\n");
    let file = sim.env.sweep(
        "arr.toml",
        r#"
name = "arr"
backend = "lsf"
command = "echo score=$(( {i} * 2 )) job=$LSB_JOBINDEX"
[grid]
i = { start = 0, stop = 2500 }
[lsf]
queue = "normal"
array = true
max_array_size = 1000
poll_min = 0.5
poll_max = 2.0
settle = 2.0
[collect]
stdout_kv = true
"#,
    );
    let out = sim.run(&["launch", file.to_str().unwrap()]);
    assert_ok(&out);
    let bsubs = sim.calls_of("bsub");
    assert_eq!(
        bsubs.len(),
        3,
        "2,500 points in arrays of at most 1,000: three bsub calls"
    );
    let csv_path = sim.env.path().join("arr.csv");
    assert_ok(&sim.run(&["collect", "arr", "-o", csv_path.to_str().unwrap()]));
    let rows = read_csv(&csv_path).1;
    assert_eq!(rows.len(), 2500);
    let mut ids = HashSet::new();
    for r in &rows {
        let i: i64 = r["i"].parse().unwrap();
        assert_eq!(r["state"], "done", "point {i}");
        // The element that ran this point really ran this point's command.
        assert_eq!(r["score"], (i * 2).to_string(), "point {i}");
        // Element k of the array starting at point a runs point a + k - 1.
        let k: i64 = r["job"].parse().unwrap();
        assert_eq!((i % 1000) + 1, k, "point {i} ran as element {k}");
        assert!(r["job_id"].ends_with(&format!("[{k}]")), "{}", r["job_id"]);
        assert!(
            !r["run_seconds"].is_empty(),
            "run time from the element's report"
        );
        ids.insert(r["job_id"].clone());
    }
    assert_eq!(ids.len(), 2500, "every point has its own element");
}

#[test]
fn jobs_forgotten_by_bjobs_end_from_their_report() {
    // Jobs end and vanish from bjobs (clean period 1 s) long before the first poll (3 s):
    // their end states can only come from the LSF report in their output files.
    let sim = Sim::new(&format!("clean_period = 1\n{THREE_QUEUES}"));
    let file = sim.env.sweep(
        "gone.toml",
        r#"
name = "gone"
backend = "lsf"
command = "echo score=1; exit {code}"
[grid]
code = [0, 0, 3, 0, 5, 0]
[lsf]
queue = "normal"
poll_min = 3.0
poll_max = 3.0
settle = 0.5
"#,
    );
    let out = sim.run(&["launch", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "two points fail: {}",
        text(&out.stderr)
    );
    let st = sim.status_json("gone");
    assert_eq!(st["counts"]["done"], 4, "{st}");
    assert_eq!(st["counts"]["failed"], 2, "{st}");
    let codes: Vec<i64> = st["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["exit_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![0, 0, 3, 0, 5, 0]);
    // The premise: the first poll came well after the jobs ended and were forgotten.
    let polls: Vec<i64> = sim
        .calls_of("bjobs")
        .into_iter()
        .filter(|c| {
            c["args"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a != "-J" && a != "0")
        })
        .map(|c| c["t"].as_i64().unwrap())
        .collect();
    let last_bsub = sim
        .calls_of("bsub")
        .iter()
        .map(|c| c["t"].as_i64().unwrap())
        .max()
        .unwrap();
    assert!(
        polls[0] - last_bsub > 2500,
        "first poll {} ms after the last bsub",
        polls[0] - last_bsub
    );
}

/// A sweep of six `sleep 60` jobs on the short queue, with `lsf_extra` in its [lsf] table.
fn sleepers(sim: &Sim, name: &str, lsf_extra: &str) -> String {
    let file = sim.env.sweep(
        &format!("{name}.toml"),
        &format!("name = \"{name}\"\nbackend = \"lsf\"\ncommand = \"sleep 60\"\n[grid]\ni = {{ start = 0, stop = 6 }}\n[lsf]\nqueue = \"short\"\npoll_min = 0.3\npoll_max = 0.5\nsettle = 1.0\n{lsf_extra}"),
    );
    file.to_str().unwrap().to_string()
}

fn in_flight(st: &serde_json::Value) -> u64 {
    ["pending", "running"]
        .iter()
        .map(|s| st["counts"][s].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn a_cancel_that_bkill_refuses_fails_and_can_be_run_again() {
    let sim = Sim::new(&format!("{THREE_QUEUES}\n[faults]\nbkill_fail = 1.0\n"));
    assert_ok(&sim.run(&["launch", &sleepers(&sim, "stuck", ""), "--detach"]));
    let out = sim.run(&["cancel", "stuck"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        !text(&out.stdout).contains("cancelled"),
        "{}",
        text(&out.stdout)
    );
    assert!(err.contains("run `bsweep cancel stuck` again"), "{err}");
    // The cause chain names the command and what the scheduler said.
    assert!(err.contains("caused by: bkill failed"), "{err}");
    assert!(
        err.contains("exit 255: batch system daemon not responding"),
        "{err}"
    );
    assert_eq!(
        err.matches("daemon not responding").count(),
        1,
        "said once: {err}"
    );
    let st = sim.status_json("stuck");
    assert_eq!(in_flight(&st), 6, "nothing was cancelled: {st}");

    // The daemon is back: the same command does it.
    std::fs::write(sim.state.join("config.toml"), THREE_QUEUES).unwrap();
    assert_ok(&sim.run(&["cancel", "stuck"]));
    assert_eq!(sim.status_json("stuck")["counts"]["cancelled"], 6);
}

#[test]
fn a_follower_keeps_a_cancel_request_until_bkill_does_it() {
    // Two jobs go out (max_in_flight), four points wait for a slot with a background follower.
    let sim = Sim::new(&format!("{THREE_QUEUES}\n[faults]\nbkill_fail = 1.0\n"));
    let file = sleepers(&sim, "held", "max_in_flight = 2\n");
    assert_ok(&sim.run(&["launch", &file, "--detach"]));
    let out = sim.run(&["cancel", "held"]);
    assert_ok(&out);
    assert!(
        text(&out.stdout).contains("to cancel it"),
        "{}",
        text(&out.stdout)
    );
    let dir = sim.env.home().join("sweeps/held");
    let log = || std::fs::read_to_string(dir.join("follow.log")).unwrap_or_default();
    wait_for("the follower to try bkill", Duration::from_secs(30), || {
        log().contains("cancelling failed, will try again")
    });
    // What needed no scheduler is recorded; the refused jobs are still in flight and the
    // request is still there.
    let st = sim.status_json("held");
    assert_eq!(st["counts"]["cancelled"], 4, "the unsubmitted points: {st}");
    assert_eq!(in_flight(&st), 2, "{st}");
    assert!(dir.join("cancel.request").exists());
    assert!(log().contains("daemon not responding"), "{}", log());

    std::fs::write(sim.state.join("config.toml"), THREE_QUEUES).unwrap();
    wait_for(
        "the follower to cancel the rest",
        Duration::from_secs(30),
        || sim.status_json("held")["counts"]["cancelled"] == 6,
    );
    wait_for("the request to be taken", Duration::from_secs(10), || {
        !dir.join("cancel.request").exists()
    });
}

#[test]
fn logs_show_a_jobs_output_and_lsfs_report_in_one_line() {
    let sim = Sim::new(THREE_QUEUES);
    let file = sim.env.sweep(
        "rep.toml",
        "name = \"rep\"\nbackend = \"lsf\"\ncommand = \"echo hello {i}; echo warn >&2; exit {i}\"\n[grid]\ni = [0, 3]\n[lsf]\nqueue = \"short\"\npoll_min = 0.3\nsettle = 1.0\n",
    );
    assert_eq!(
        sim.run(&["launch", file.to_str().unwrap()]).status.code(),
        Some(4)
    );
    let shown = text(&sim.run(&["status", "rep"]).stdout);
    assert!(
        shown.contains("point 1 (i=3): failed, exit 3, job "),
        "{shown}"
    );
    assert!(shown.contains(" on short"), "{shown}");

    let out = sim.run(&["logs", "rep", "1"]);
    assert_ok(&out);
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines[0], "hello 3", "{lines:?}");
    assert!(
        lines[1].starts_with("[LSF report: exited with code 3; run time "),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 2, "the report is one line: {lines:?}");
    // --raw is the file as LSF wrote it.
    let raw = text(&sim.run(&["logs", "rep", "1", "--raw", "-n", "1000"]).stdout);
    assert!(raw.contains("Sender: LSF System"), "{raw}");
    assert!(raw.contains("Exited with exit code 3."), "{raw}");
}

/// The cluster's `date`, as a test oracle: `text` read in the zone `tz`, printed as UTC.
fn utc_of(text: &str, tz: &str) -> String {
    let out = std::process::Command::new("date")
        .env("TZ", tz)
        .args(["-d", text, "+%s"])
        .output()
        .unwrap();
    let secs = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_csv_has_the_start_and_end_lsf_recorded_in_the_clusters_time_zone() {
    // The cluster (here: the simulator and bsweep's local transport) lives at UTC+8, like NJU.
    let tz = "CST-8";
    let sim = Sim::new(THREE_QUEUES);
    let file = sweep(&sim, "when", 2, "queue = \"short\"");
    let run = |args: &[&str]| sim.cmd(args).env("TZ", tz).output().unwrap();
    assert_ok(&run(&["launch", &file]));
    let csv = sim.env.path().join("when.csv");
    assert_ok(&run(&["collect", "when", "-o", csv.to_str().unwrap()]));
    let (_, rows) = read_csv(&csv);
    for (i, row) in rows.iter().enumerate() {
        let report = std::fs::read_to_string(
            sim.env
                .home()
                .join(format!("sweeps/when/out/{i:05}/stdout.txt")),
        )
        .unwrap();
        let at = |prefix: &str| {
            report
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .expect("the report line")
                .trim()
                .to_string()
        };
        assert_eq!(row["started"], utc_of(&at("Started at "), tz), "{report}");
        assert_eq!(row["ended"], utc_of(&at("Terminated at "), tz), "{report}");
    }
}

#[test]
fn logs_of_an_array_element_show_its_report_from_the_arrays_file() {
    let sim = Sim::new(THREE_QUEUES);
    let file = sim.env.sweep(
        "arr.toml",
        "name = \"arr\"\nbackend = \"lsf\"\ncommand = \"echo element {i}; exit {i}\"\n[grid]\ni = [0, 2]\n[lsf]\nqueue = \"short\"\narray = true\npoll_min = 0.3\nsettle = 1.0\n",
    );
    assert_eq!(
        sim.run(&["launch", file.to_str().unwrap()]).status.code(),
        Some(4)
    );
    assert_eq!(sim.calls_of("bsub").len(), 1, "one array");
    let out = sim.run(&["logs", "arr", "1"]);
    assert_ok(&out);
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines[0], "element 2", "{lines:?}");
    assert!(
        lines[1].starts_with("[LSF report: exited with code 2;"),
        "{lines:?}"
    );
    assert!(lines[1].contains("; job "), "{lines:?}");
    assert_eq!(lines.len(), 2, "{lines:?}");
}
