//! bsweep against a real OpenLava 4.0 cluster (`.ci/openlava-setup`; found through
//! `BSWEEP_OPENLAVA`, `lsid` on PATH or `/tmp/bsweep-ci/openlava.env`), on this machine
//! (`--here`) and over the loopback sshd whose login profile sources OpenLava's environment.
//!
//! The cluster (4 slots, queues short/gpu/normal/long, a dispatch every 2 s) is shared with the
//! other tests and with other users: every sweep has its own name and id, jobs are found by
//! their names, no test kills or cleans a job it did not submit, none assumes an empty queue.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::harness::services::{self, OpenLava};
use crate::harness::sshd::{self, OPENLAVA_HOST};
use crate::harness::{Env, assert_ok, read_csv, text, wait_for};
use crate::need;

/// Where bsweep reaches the cluster from.
enum Via {
    Here,
    /// The test sshd; the sweep's remote directory on "the cluster" (this machine).
    Ssh {
        config: PathBuf,
        remote: PathBuf,
    },
}

/// One test's bsweep home and way to the cluster.
struct Cluster {
    env: Env,
    ol: OpenLava,
    via: Via,
}

impl Cluster {
    fn here() -> Option<Self> {
        let ol = services::openlava()?;
        let mut env = Env::new();
        env.vars.extend(ol.vars.iter().cloned());
        Some(Self {
            env,
            ol,
            via: Via::Here,
        })
    }

    fn over_ssh() -> Option<Self> {
        let ol = services::openlava()?;
        let sshd = sshd::sshd()?;
        let env = Env::new();
        let remote = env.path().join("remote");
        Some(Self {
            env,
            ol,
            via: Via::Ssh {
                config: sshd.config.clone(),
                remote,
            },
        })
    }

    /// Writes sweep file `name`.toml: `body` plus, over SSH, the `[cluster]` table.
    fn sweep(&self, name: &str, body: &str) -> String {
        let cluster = match &self.via {
            Via::Here => String::new(),
            Via::Ssh { remote, .. } => format!(
                "\n[cluster]\nhost = \"{OPENLAVA_HOST}\"\nremote_dir = \"{}\"\n",
                remote.display()
            ),
        };
        let text = format!("name = \"{name}\"\nbackend = \"lsf\"\n{body}{cluster}");
        self.env
            .sweep(&format!("{name}.toml"), &text)
            .to_string_lossy()
            .into_owned()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(&[]);
        if let Via::Ssh { config, .. } = &self.via {
            c.arg("--ssh-config").arg(config);
        }
        c.arg("--quiet").args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        crate::harness::run_bounded(&mut self.cmd(args))
    }

    /// `launch FILE`, with `--here` when the cluster is this machine.
    fn launch_args<'a>(&self, file: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["launch"];
        if matches!(self.via, Via::Here) {
            a.push("--here");
        }
        a.extend_from_slice(extra);
        a.push(file);
        a
    }

    fn status_json(&self, sweep: &str) -> serde_json::Value {
        let out = self.run(&["status", sweep, "--json"]);
        assert_ok(&out);
        serde_json::from_slice(&out.stdout).expect("status --json")
    }

    fn collect(&self, sweep: &str) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
        let csv = self.env.path().join(format!("{sweep}.csv"));
        assert_ok(&self.run(&["collect", sweep, "-o", csv.to_str().unwrap()]));
        read_csv(&csv)
    }

    /// The names of the cluster's jobs named `pattern` (`bjobs -a -w -J`), finished ones too.
    fn job_names(&self, pattern: &str) -> Vec<String> {
        let out = self
            .ol
            .cmd("bjobs")
            .args(["-a", "-w", "-J", pattern])
            .output()
            .expect("bjobs");
        // JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME SUBMIT_TIME (-w shows `-` for no
        // host, so the name is always the seventh word).
        text(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(6).map(str::to_string))
            .collect()
    }
}

/// The metrics every test job writes: `score` and `jobid` on stdout, `v` in a JSON file;
/// `then` ends the command (a chance to fail).
fn command(then: &str) -> String {
    let job = r#"sleep 1; echo "score=$(( {i} * 3 )) jobid=$LSB_JOBID"; printf '{"v": %d}' {i} > {out_dir}/m.json"#;
    format!("command = '''{job}; {then}'''\n")
}
const COMMAND_OK: &str = "true";
/// Point `i` exits 7 on its first attempt.
fn fails_once(i: usize) -> String {
    format!("if [ {{i}} = {i} ] && [ {{attempt}} = 1 ]; then exit 7; fi")
}
const COLLECT: &str = "[collect]\nstdout_kv = true\nmetrics_json = \"m.json\"\n";
/// Polls quick enough for 1-3 s jobs, a settle above OpenLava's dispatch interval.
const PACING: &str = "poll_min = 1\npoll_max = 3\nsettle = 5\n";

/// Every row ended done with everything LSF reports and the job's own metrics: exit code,
/// times (RFC 3339), run time, memory, and a `jobid` (what the job saw as `$LSB_JOBID`) that
/// is the job id bsweep recorded, so no submission's answer went to another.
fn assert_complete(rows: &[BTreeMap<String, String>]) {
    for r in rows {
        let i: i64 = r["i"].parse().expect("i");
        assert_eq!(r["state"], "done", "{r:?}");
        assert_eq!(r["exit_code"], "0", "{r:?}");
        for c in ["started", "ended"] {
            assert!(r[c].ends_with('Z') && r[c].len() == 20, "{c} of {r:?}");
        }
        assert!(
            r["run_seconds"].parse::<f64>().is_ok(),
            "run_seconds of {r:?}"
        );
        assert!(
            r["max_mem_mb"].parse::<f64>().is_ok_and(|m| m > 0.0),
            "max_mem_mb of {r:?}"
        );
        assert_eq!(r["score"], (i * 3).to_string(), "{r:?}");
        assert_eq!(r["v"], i.to_string(), "{r:?}");
        // An element `123[4]` sees its array's id.
        let array = r["job_id"].split('[').next().unwrap_or_default();
        assert_eq!(
            r["jobid"], array,
            "the job's own id is the recorded one: {r:?}"
        );
    }
}

fn per_target(rows: &[BTreeMap<String, String>]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r["target"].clone()).or_default() += 1;
    }
    m
}

/// The row of point `i`.
fn row(rows: &[BTreeMap<String, String>], i: usize) -> &BTreeMap<String, String> {
    rows.iter()
        .find(|r| r["i"] == i.to_string())
        .expect("a row")
}

#[test]
fn forty_points_over_two_queues_with_a_retried_point_and_a_complete_csv() {
    let c = need!(Cluster::here());
    let t = Instant::now();
    // Point 7 exits 7 on its first attempt: max_attempts = 2 runs it again, and it ends done.
    let file = c.sweep(
        "ol-forty",
        &format!(
            "{}max_attempts = 2\n[grid]\ni = {{ start = 0, stop = 40 }}\n\
             [lsf]\nqueues = [\"short\", \"normal\"]\n{PACING}{COLLECT}",
            command(&fails_once(7))
        ),
    );
    assert_ok(&c.run(&c.launch_args(&file, &[])));
    let launched = t.elapsed();
    let st = c.status_json("ol-forty");
    assert_eq!(st["counts"]["done"], 40, "{}", st["counts"]);
    let (_, rows) = c.collect("ol-forty");
    assert_eq!(rows.len(), 40);
    assert_complete(&rows);
    let retried = row(&rows, 7);
    assert_eq!(retried["attempts"], "2", "{retried:?}");
    assert!(
        rows.iter()
            .filter(|r| r["i"] != "7")
            .all(|r| r["attempts"] == "1")
    );
    let m = per_target(&rows);
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(
        m.values().all(|n| *n >= 19),
        "round robin over both queues: {m:?}"
    );
    // Point 7's first job is in OpenLava's history as EXIT: its status showed exit 7.
    let id = st["id"].as_str().unwrap();
    let names = c.job_names(&format!("bsw-{id}-00007-*"));
    assert_eq!(names.len(), 2, "{names:?}");
    eprintln!("openlava: 40 points over two queues in {launched:.1?}");
}

#[test]
fn over_ssh_arrays_and_a_retry_reach_the_csv() {
    let c = need!(Cluster::over_ssh());
    let file = c.sweep(
        "ol-ssh",
        &format!(
            "{}max_attempts = 2\n[grid]\ni = {{ start = 0, stop = 8 }}\n\
             [lsf]\nqueues = [\"short\", \"normal\"]\narray = true\n{PACING}{COLLECT}",
            command(&fails_once(2))
        ),
    );
    let out = c.run(&c.launch_args(&file, &[]));
    assert_ok(&out);
    let st = c.status_json("ol-ssh");
    assert_eq!(st["counts"]["done"], 8, "{st}");
    let (_, rows) = c.collect("ol-ssh");
    assert_complete(&rows);
    // Array elements: `123[k]` ids; the retry went alone, as a plain job.
    assert!(
        rows.iter()
            .filter(|r| r["i"] != "2")
            .all(|r| r["job_id"].ends_with(']')),
        "{rows:?}"
    );
    let retried = row(&rows, 2);
    assert_eq!(retried["attempts"], "2");
    assert!(!retried["job_id"].contains('['), "{retried:?}");
    assert_eq!(per_target(&rows).len(), 2);
}

#[test]
fn cancel_kills_the_running_jobs() {
    let c = need!(Cluster::here());
    let file = c.sweep(
        "ol-cancel",
        &format!(
            "command = \"sleep 120\"\n[grid]\ni = {{ start = 0, stop = 3 }}\n\
             [lsf]\nqueue = \"long\"\n{PACING}"
        ),
    );
    assert_ok(&c.run(&c.launch_args(&file, &["--detach"])));
    wait_for("a job of the sweep to run", Duration::from_secs(90), || {
        c.status_json("ol-cancel")["counts"]["running"].as_u64() > Some(0)
    });
    assert_ok(&c.run(&["cancel", "ol-cancel"]));
    wait_for("every point cancelled", Duration::from_secs(60), || {
        c.status_json("ol-cancel")["counts"]["cancelled"] == 3
    });
    // OpenLava ended them: none is left pending or running.
    let st = c.status_json("ol-cancel");
    let ids: Vec<String> = st["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["job_id"].as_str().map(String::from))
        .collect();
    assert!(!ids.is_empty());
    wait_for("OpenLava to end the jobs", Duration::from_secs(60), || {
        let out =
            c.ol.cmd("bjobs")
                .arg("-a")
                .arg("-w")
                .args(&ids)
                .output()
                .unwrap();
        text(&out.stdout)
            .lines()
            .skip(1)
            .all(|l| l.split_whitespace().nth(2) == Some("EXIT"))
    });
}

#[test]
fn a_run_limit_kill_shows_its_reason_in_status_and_the_csv() {
    let c = need!(Cluster::here());
    // OpenLava's run limits are whole minutes and it checks them every SBD_SLEEP_TIME (2 s):
    // `walltime = "1"` is the shortest, and the job is killed about 62 s after it starts.
    let file = c.sweep(
        "ol-runlimit",
        "command = \"echo started; sleep 90; echo never\"\n\
         [lsf]\nqueue = \"short\"\nwalltime = \"1\"\npoll_min = 2\npoll_max = 5\nsettle = 5\n",
    );
    let t = Instant::now();
    let out = c.run(&c.launch_args(&file, &[]));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        t.elapsed() < Duration::from_secs(85),
        "the limit ended the job: {:?}",
        t.elapsed()
    );
    let status = text(&c.run(&["status", "ol-runlimit"]).stdout);
    assert!(status.contains("exit 140"), "{status}");
    assert!(status.contains("TERM_RUNLIMIT"), "{status}");
    let (headers, rows) = c.collect("ol-runlimit");
    let r = &rows[0];
    assert_eq!(
        (r["state"].as_str(), r["exit_code"].as_str()),
        ("failed", "140"),
        "{r:?}"
    );
    assert!(
        r["run_seconds"].parse::<f64>().is_ok_and(|s| s >= 60.0),
        "{r:?}"
    );
    // The CSV's `reason` column (added with per-attempt causes) names the kill.
    if headers.iter().any(|h| h == "reason") {
        assert!(r["reason"].contains("TERM_RUNLIMIT"), "{r:?}");
    }
}

/// A tiny generator: kill moments that are random but the same on every run.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn kill_9_at_ten_random_moments_then_resume_gives_one_job_per_point() {
    let c = need!(Cluster::here());
    const POINTS: usize = 24;
    let file = c.sweep(
        "ol-kill9",
        &format!(
            "{}[grid]\ni = {{ start = 0, stop = {POINTS} }}\n\
             [lsf]\nqueues = [\"short\", \"normal\"]\npoll_min = 0.5\npoll_max = 1\nsettle = 5\n{COLLECT}",
            command(COMMAND_OK)
        ),
    );
    let mut seed = 0x5DEE_CE66_D1CE_4E5B;
    let mut kills = 0;
    let recorded = c.env.home().join("sweeps/ol-kill9/db");
    while kills < 10 {
        // A launch killed before it recorded the sweep is launched again.
        let args = if recorded.exists() {
            vec!["resume", "ol-kill9"]
        } else {
            c.launch_args(&file, &[])
        };
        let mut child = c.cmd(&args).spawn().expect("spawn bsweep");
        std::thread::sleep(Duration::from_millis(300 + next(&mut seed) % 1700));
        match child.try_wait().expect("try_wait") {
            None => {
                child.kill().expect("kill -9");
                let _ = child.wait();
                kills += 1;
            }
            Some(status) => {
                assert!(status.success(), "bsweep failed by itself");
                break;
            }
        }
    }
    assert_eq!(kills, 10, "the sweep ended before 10 kills");
    assert_ok(&c.run(&["resume", "ol-kill9"]));
    let st = c.status_json("ol-kill9");
    assert_eq!(st["counts"]["done"], POINTS as u64, "{}", st["counts"]);
    // OpenLava's own list of the sweep's jobs: exactly one per point, all first attempts.
    let id = st["id"].as_str().unwrap();
    let mut names = c.job_names(&format!("bsw-{id}-*"));
    names.sort();
    let want: Vec<String> = (0..POINTS).map(|i| format!("bsw-{id}-{i:05}-1")).collect();
    assert_eq!(names, want);
    let (_, rows) = c.collect("ol-kill9");
    assert_complete(&rows);
}

/// Closes an OpenLava queue for a test and opens it again when the test ends, even by a panic.
struct Closed<'a> {
    ol: &'a OpenLava,
    queue: &'static str,
}

impl<'a> Closed<'a> {
    fn new(ol: &'a OpenLava, queue: &'static str) -> Option<Self> {
        let out = ol.cmd("badmin").args(["qclose", queue]).output().ok()?;
        if !out.status.success() {
            services::missing(
                "OpenLava administration (badmin qclose)",
                "run the tests as root, or as the cluster's administrator",
            );
            return None;
        }
        Some(Self { ol, queue })
    }
}

impl Drop for Closed<'_> {
    fn drop(&mut self) {
        let _ = self.ol.cmd("badmin").args(["qopen", self.queue]).output();
    }
}

#[test]
fn a_closed_queue_refuses_its_jobs_in_lsf_s_words_and_the_other_queue_runs_them() {
    let c = need!(Cluster::here());
    let file = c.sweep(
        "ol-closed",
        &format!(
            "{}[grid]\ni = {{ start = 0, stop = 4 }}\n\
             [lsf]\nqueues = [\"gpu\", \"short\"]\n{PACING}{COLLECT}",
            command(COMMAND_OK)
        ),
    );
    let out = {
        let _closed = need!(Closed::new(&c.ol, "gpu"));
        c.run(&c.launch_args(&file, &[]))
    };
    // The one job tried on gpu failed with OpenLava's words; the rest ran on short.
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let status = text(&c.run(&["status", "ol-closed"]).stdout);
    assert!(
        status.contains("gpu: Queue has been closed. Job not submitted"),
        "{status}"
    );
    let st = c.status_json("ol-closed");
    assert_eq!(st["counts"]["done"], 3, "{}", st["counts"]);
    assert_eq!(st["counts"]["failed"], 1, "{}", st["counts"]);
}

#[test]
fn jobs_bjobs_forgot_end_from_their_report_or_from_bhist() {
    let (ol, forget_after) = need!(services::openlava_clean());
    let mut env = Env::new();
    env.vars.extend(ol.vars.iter().cloned());
    let c = Cluster {
        env,
        ol,
        via: Via::Here,
    };
    // Point 1 exits 3, point 2 exits 5; nobody watches them end: the first poll comes a minute
    // after submission, and bsweep is killed before that.
    let file = c.sweep(
        "ol-forgot",
        "command = 'sleep 1; echo i={i}; exit $(( {i} * 2 + ({i} > 0) ))'\n\
         [grid]\ni = { start = 0, stop = 3 }\n\
         [lsf]\nqueue = \"short\"\npoll_min = 60\npoll_max = 60\nsettle = 5\n",
    );
    let mut child = c.cmd(&c.launch_args(&file, &[])).spawn().expect("spawn");
    let home = c.env.home();
    let ids = || -> Vec<String> {
        let Ok(s) = std::fs::read_to_string(home.join("sweeps/ol-forgot/status.json")) else {
            return Vec::new();
        };
        let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        v["points"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|p| p["job_id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    wait_for("the three jobs submitted", Duration::from_secs(30), || {
        ids().len() == 3
    });
    child.kill().expect("kill -9");
    let _ = child.wait();
    let ids = ids();
    // OpenLava forgets a job about CLEAN_PERIOD after it ended.
    wait_for(
        "bjobs to forget the sweep's jobs",
        Duration::from_secs(forget_after + 90),
        || {
            let out = c.ol.cmd("bjobs").arg("-a").args(&ids).output().unwrap();
            text(&out.stderr).matches("is not found").count() == 3
        },
    );
    // Point 2's report is gone too: only bhist knows how it ended.
    std::fs::remove_file(home.join("sweeps/ol-forgot/out/00002/stdout.txt")).unwrap();
    let out = c.run(&["resume", "ol-forgot"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let st = c.status_json("ol-forgot");
    let codes: Vec<(String, i64)> = st["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["state"].as_str().unwrap().to_string(),
                p["exit_code"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("done".into(), 0),
            ("failed".into(), 3),
            ("failed".into(), 5)
        ],
        "{st}"
    );
    let (_, rows) = c.collect("ol-forgot");
    // The reports give LSF's times and figures.
    for r in &rows[..2] {
        assert!(
            !r["started"].is_empty() && !r["max_mem_mb"].is_empty(),
            "{r:?}"
        );
    }
}

#[test]
fn a_site_that_claims_job_packs_but_refuses_them_gets_plain_bsubs() {
    let c = need!(Cluster::here());
    // OpenLava with an lsf.conf that says LSB_MAX_PACK_JOBS: bsweep tries `bsub -pack`, which
    // OpenLava reads as `-p ack` and refuses, and goes on with plain bsubs. A `bsub` in front
    // of OpenLava's logs how it is called.
    let envdir = c.env.path().join("envdir");
    let bin = c.env.path().join("bin");
    std::fs::create_dir_all(&envdir).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let conf = std::fs::read_to_string(c.ol.prefix.join("etc/lsf.conf")).unwrap();
    std::fs::write(
        envdir.join("lsf.conf"),
        format!("{conf}\nLSB_MAX_PACK_JOBS=100\n"),
    )
    .unwrap();
    let log = c.env.path().join("bsub.log");
    let real = c.ol.prefix.join("bin/bsub");
    write_exe(
        &bin.join("bsub"),
        &format!(
            "#!/bin/bash\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    );
    let mut c = c;
    for (k, v) in c.env.vars.iter_mut() {
        match k.as_str() {
            "LSF_ENVDIR" => *v = envdir.display().to_string(),
            "PATH" => *v = format!("{}:{v}", bin.display()),
            _ => {}
        }
    }
    // 70 held jobs (`-H`: they take no slot): a first plain bsub (one job tries the queue),
    // which also reads lsf.conf, then the other 69 in one batch, tried as a pack, refused,
    // and submitted plain.
    let file = c.sweep(
        "ol-nopack",
        &format!(
            "command = \"true\"\n[grid]\ni = {{ start = 0, stop = 70 }}\n\
             [lsf]\nqueue = \"short\"\nextra = [\"-H\"]\n{PACING}"
        ),
    );
    assert_ok(&c.run(&c.launch_args(&file, &["--detach"])));
    let st = c.status_json("ol-nopack");
    let cancel = c.run(&["cancel", "ol-nopack"]);
    let calls = std::fs::read_to_string(&log).unwrap();
    let packs = calls.lines().filter(|l| l.starts_with("-pack ")).count();
    assert_eq!(packs, 1, "one pack tried, then plain bsubs only:\n{calls}");
    assert_eq!(calls.lines().count(), 71, "{calls}");
    // Each point's recorded job is the one OpenLava has under its name.
    let id = st["id"].as_str().unwrap();
    let out =
        c.ol.cmd("bjobs")
            .args(["-a", "-w", "-J", &format!("bsw-{id}-*")])
            .output()
            .unwrap();
    let listed: BTreeMap<String, String> = text(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some((w.get(6)?.to_string(), w.first()?.to_string()))
        })
        .collect();
    let recorded: BTreeMap<String, String> = st["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["job_name"].as_str().unwrap().to_string(),
                p["job_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(recorded.len(), 70);
    assert_eq!(listed, recorded);
    assert_ok(&cancel);
}

fn write_exe(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
