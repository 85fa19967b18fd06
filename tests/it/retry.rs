//! Retries that fix the cause, end to end on the LSF simulator: a job killed at its memory limit
//! comes back with twice the memory (its `-M` in its script), a host that fails every job is
//! left out, and `status` and the CSV show what each attempt ran with.

use std::process::Command;

use crate::harness::{Sim, assert_ok, read_csv, text};

/// Polls fast: the jobs take a second or two.
const PACE: &str = "poll_min = 0.3\npoll_max = 1.0\nsettle = 2.0";

/// The job script bsweep kept for an attempt of a point.
fn script(sim: &Sim, sweep: &str, index: u64, attempt: u32) -> String {
    let p = sim
        .env
        .home()
        .join(format!("sweeps/{sweep}/scripts/{index:05}-{attempt}.sh"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The values of a script's `#BSUB FLAG` lines.
fn bsub(script: &str, flag: &str) -> Vec<String> {
    script
        .lines()
        .filter_map(|l| {
            l.strip_prefix("#BSUB ")?
                .strip_prefix(flag)?
                .strip_prefix(' ')
        })
        .map(|v| v.trim_matches('"').to_string())
        .collect()
}

/// A simulator command (`bjobs`, ...) with the cluster's environment.
fn lsf(sim: &Sim, cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .envs(sim.env.vars.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run the simulator");
    text(&out.stdout)
}

fn collect(sim: &Sim, name: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let csv = sim.env.path().join(format!("{name}.csv"));
    assert_ok(&sim.run(&["collect", name, "-o", csv.to_str().unwrap()]));
    read_csv(&csv).1
}

#[test]
fn a_memory_limit_death_is_retried_with_doubled_memory() {
    let sim = Sim::new("");
    // Each job holds about `mb` MB for two seconds (perl builds the string twice).
    let file = sim.env.sweep(
        "mem.toml",
        &format!(
            r#"
name = "mem"
backend = "lsf"
command = "perl -e '$x = \"x\" x ({{mb}} * 512 * 1024); sleep 2'; echo held={{mb}}"
max_attempts = 3
[grid]
mb = [20, 70]
[lsf]
memory = "50MB"
{PACE}
[retry]
on_memlimit = {{ memory = "x2", max = "200MB" }}
[collect]
stdout_kv = true
"#
        ),
    );
    let plan = sim.run(&["plan", file.to_str().unwrap()]);
    assert!(
        text(&plan.stdout).contains(
            "retries: up to 3 attempts per point, after any non-zero exit; memory x2 up to \
             200MB after a memory-limit kill\n"
        ),
        "{}",
        text(&plan.stdout)
    );
    assert_ok(&sim.run(&["launch", file.to_str().unwrap()]));
    let st = sim.status_json("mem");
    assert_eq!(st["counts"]["done"], 2, "{st}");
    // The small job fit; the big one was killed at 50 MB, then ran with 100 MB.
    let small = &st["points"][0];
    assert_eq!(small["attempts"], 1, "{small}");
    assert!(small.get("overrides").is_none(), "{small}");
    let big = &st["points"][1];
    assert_eq!(big["attempts"], 2, "{big}");
    assert_eq!(big["earlier"][0]["cause"], "memlimit", "{big}");
    assert_eq!(big["overrides"]["memory_kb"], 100 * 1024, "{big}");
    assert_eq!(bsub(&script(&sim, "mem", 1, 1), "-M"), ["50MB"]);
    assert_eq!(bsub(&script(&sim, "mem", 1, 2), "-M"), ["100MB"]);
    // What LSF said of the first attempt is in its output file, beside the second's report.
    let out = std::fs::read_to_string(sim.env.home().join("sweeps/mem/out/00001/stdout.txt"))
        .expect("the big point's output");
    assert!(out.contains("TERM_MEMLIMIT: job killed after reaching LSF memory usage limit."));
    // The jobs LSF ran asked for that memory.
    let limits = lsf(&sim, "bjobs", &["-a", "-l"]);
    assert!(limits.contains("TERM_MEMLIMIT"), "{limits}");
    let rows = collect(&sim, "mem");
    let by_mb = |mb: &str| rows.iter().find(|r| r["mb"] == mb).expect("a row");
    assert_eq!(
        (
            by_mb("20")["memory_mb"].as_str(),
            by_mb("20")["attempts"].as_str()
        ),
        ("50", "1")
    );
    assert_eq!(
        (
            by_mb("70")["memory_mb"].as_str(),
            by_mb("70")["attempts"].as_str()
        ),
        ("100", "2")
    );
    assert_eq!(by_mb("70")["held"], "70");
    assert!(
        rows.iter()
            .all(|r| r["cause"].is_empty() && r["state"] == "done")
    );
}

#[test]
fn memory_at_max_ends_the_point_with_its_cause_in_status_and_the_csv() {
    let sim = Sim::new("");
    let file = sim.env.sweep(
        "cap.toml",
        &format!(
            r#"
name = "cap"
backend = "lsf"
command = "perl -e '$x = \"x\" x (120 * 512 * 1024); sleep 3'"
max_attempts = 5
[lsf]
memory = "40MB"
{PACE}
[retry]
on_memlimit = {{ memory = "x2", max = "80MB" }}
"#
        ),
    );
    let out = sim.run(&["launch", file.to_str().unwrap()]);
    let st = sim.status_json("cap");
    assert_eq!(st["counts"]["failed"], 1, "{st}\n{}", text(&out.stderr));
    // 40 MB, then 80 MB (max), then no third attempt: it would die the same way.
    let p = &st["points"][0];
    assert_eq!(
        (p["attempts"].as_u64(), p["cause"].as_str()),
        (Some(2), Some("memlimit"))
    );
    assert_eq!(bsub(&script(&sim, "cap", 0, 2), "-M"), ["80MB"]);
    let status = text(&sim.run(&["status", "cap"]).stdout);
    assert!(
        status.contains("failed (memlimit)") && status.contains("attempt 2 with memory 80MB"),
        "{status}"
    );
    let rows = collect(&sim, "cap");
    assert_eq!(
        (rows[0]["cause"].as_str(), rows[0]["memory_mb"].as_str()),
        ("memlimit", "80")
    );
}

#[test]
fn a_host_that_fails_every_job_is_left_out() {
    let sim = Sim::new(
        "hosts = [\"h1\", \"h2\", \"h3\"]\n[[queue]]\nname = \"normal\"\nslots = 4\n\
         [faults]\nfailing_hosts = [\"h2\"]\n",
    );
    let file = sim.env.sweep(
        "hosts.toml",
        &format!(
            r#"
name = "hosts"
backend = "lsf"
command = "sleep 0.5; echo ok={{i}}"
max_attempts = 4
[grid]
i = {{ start = 0, stop = 12 }}
[lsf]
queue = "normal"
{PACE}
[retry]
exclude_hosts_after = 2
[collect]
stdout_kv = true
"#
        ),
    );
    let out = sim.run(&["launch", file.to_str().unwrap()]);
    assert_ok(&out);
    assert!(
        text(&out.stderr).contains("host h2 failed jobs of 2 point(s)"),
        "{}",
        text(&out.stderr)
    );
    let st = sim.status_json("hosts");
    assert_eq!(st["counts"]["done"], 12, "{st}");
    let status = text(&sim.run(&["status", "hosts"]).stdout);
    assert!(
        status.contains("hosts left out after failing jobs: h2"),
        "{status}"
    );
    // Every job submitted after h2 was left out says so, and none of those ran there.
    let ran = lsf(
        &sim,
        "bjobs",
        &["-a", "-noheader", "-o", "job_name exec_host delimiter='^'"],
    );
    let mut left_out = 0;
    for line in ran.lines() {
        let (name, host) = line.split_once('^').expect("name^host");
        let (_, index, attempt) = bsweep::model::names::parse(name).expect("a bsweep job");
        let s = script(&sim, "hosts", index, attempt);
        if bsub(&s, "-R").iter().any(|r| r.contains("hname!=h2")) {
            left_out += 1;
            assert_ne!(host, "h2", "{name} ran on h2 though its script left it out");
        }
    }
    assert!(left_out > 0, "no job left h2 out:\n{ran}");
    let rows = collect(&sim, "hosts");
    assert!(rows.iter().all(|r| r["ok"] == r["i"]), "{rows:?}");
}

#[test]
fn a_bad_retry_value_is_refused_at_its_place() {
    let sim = Sim::new("");
    let file = sim.env.sweep(
        "bad.toml",
        "name = \"bad\"\nbackend = \"lsf\"\ncommand = \"true\"\nmax_attempts = 2\n[retry]\n\
         on_memlimit = { memory = \"x2\", max = \"lots\" }\n",
    );
    let out = sim.run(&["plan", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.toml:6:38: retry.on_memlimit.max: `lots` is not a memory amount"),
        "{err}"
    );
}

#[test]
fn a_run_limit_kill_is_retried_with_a_longer_run_limit() {
    // A minute of a run limit lasts a second here.
    let sim = Sim::new("runlimit_minute_ms = 1000\n");
    let file = sim.env.sweep(
        "slow.toml",
        &format!(
            r#"
name = "slow"
backend = "lsf"
command = "sleep 1.6; echo ok=1"
max_attempts = 3
[lsf]
walltime = "1"
{PACE}
[retry]
on_runlimit = {{ walltime = "x2", max = "0:05" }}
[collect]
stdout_kv = true
"#
        ),
    );
    assert_ok(&sim.run(&["launch", file.to_str().unwrap()]));
    let st = sim.status_json("slow");
    let p = &st["points"][0];
    assert_eq!(
        (p["state"].as_str(), p["attempts"].as_u64()),
        (Some("done"), Some(2)),
        "{st}"
    );
    assert_eq!(p["earlier"][0]["cause"], "runlimit", "{p}");
    assert_eq!(p["earlier"][0]["exit_code"], 140, "{p}");
    assert_eq!(bsub(&script(&sim, "slow", 0, 1), "-W"), ["1"]);
    assert_eq!(bsub(&script(&sim, "slow", 0, 2), "-W"), ["0:02"]);
    let rows = collect(&sim, "slow");
    assert_eq!(
        (rows[0]["walltime_minutes"].as_str(), rows[0]["ok"].as_str()),
        ("2", "1")
    );
}
