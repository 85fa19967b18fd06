//! The real `bsweep` binary against this machine's real Slurm (`.ci/slurm-setup`): sweeps over
//! two partitions to a complete CSV, job arrays, cancel, retries, a job purged from squeue,
//! kill -9 at random moments then resume (one job per point, by `sacct --name`), and the same
//! sweep over the loopback sshd. Skipped with a notice without Slurm; required in CI.
//!
//! Jobs are short (1-3 s) and sweeps small: the node has 2 CPUs, shared by every test here.

use std::collections::{BTreeMap, HashMap};

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::services::{self, Slurm};
use crate::harness::sshd::{SLURM_HOST, SshEnv};
use crate::harness::{Env, assert_ok, read_csv, text, wait_for};
use crate::need;

/// A test's private bsweep home, with Slurm's environment.
struct Cluster {
    env: Env,
    slurm: Slurm,
}

impl Cluster {
    fn new() -> Option<Self> {
        let slurm = services::slurm()?;
        let mut env = Env::new();
        env.vars.push(("SLURM_CONF".into(), slurm.conf.clone()));
        Some(Self { env, slurm })
    }

    /// A sweep file `NAME.toml`: `body` holds the command and grid; `slurm` the table's keys.
    fn sweep(&self, name: &str, body: &str, slurm: &str) -> String {
        let text = format!(
            "name = \"{name}\"\nbackend = \"slurm\"\n{body}\n[slurm]\n{slurm}\npoll_min = 0.5\n\
             poll_max = 2.0\nsettle = 6.0\n[collect]\nstdout_kv = true\nmetrics_json = \"m.json\"\n"
        );
        self.env
            .sweep(&format!("{name}.toml"), &text)
            .to_string_lossy()
            .into_owned()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.env.run(args)
    }

    fn collect(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        let csv = self.env.path().join(format!("{name}.csv"));
        assert_ok(&self.run(&["collect", name, "-o", csv.to_str().unwrap()]));
        read_csv(&csv).1
    }

    /// One Slurm client command's stdout (it must succeed).
    fn client(&self, program: &str, args: &[&str]) -> String {
        let out = self.slurm.command(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `JobName|State|ExitCode` of every job sacct has under the sweep's point names.
    fn sacct_by_name(&self, names: &[String]) -> Vec<(String, String)> {
        let list = names.join(",");
        self.client(
            "sacct",
            &[
                "-X",
                "-P",
                "-n",
                "-S",
                "now-7200",
                "--name",
                &list,
                "-o",
                "JobName,State",
            ],
        )
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect()
    }
}

/// A command that allocates `mb` MB, holds it 2 s (Slurm samples memory every 2 s here), and
/// reports a metric both ways.
fn work(mb: u32) -> String {
    format!(
        r#"command = '''python3 -c "x = bytearray({mb} << 20); import time; time.sleep(2)"; echo score=$(( {{i}} * 2 )); printf '{{"v": %d}}' {{i}} > {{out_dir}}/m.json'''"#
    )
}

fn grid(n: usize) -> String {
    format!("[grid]\ni = {{ start = 0, stop = {n} }}\n")
}

fn status(c: &Cluster, name: &str) -> serde_json::Value {
    c.env.status_json(name)
}

fn sweep_id(c: &Cluster, name: &str) -> String {
    status(c, name)["id"].as_str().expect("an id").to_string()
}

fn job_ids(st: &serde_json::Value) -> Vec<String> {
    st["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["job_id"].as_str().map(str::to_string))
        .collect()
}

fn assert_complete_csv(rows: &[BTreeMap<String, String>], n: usize, mb: f64) {
    assert_eq!(rows.len(), n);
    for r in rows {
        let i: i64 = r["i"].parse().unwrap();
        assert_eq!(r["state"], "done", "{r:?}");
        assert_eq!(r["exit_code"], "0", "{r:?}");
        assert_eq!(r["score"], (i * 2).to_string(), "{r:?}");
        assert_eq!(r["v"], i.to_string(), "{r:?}");
        let run: f64 = r["run_seconds"].parse().unwrap_or(0.0);
        assert!((1.0..60.0).contains(&run), "elapsed from sacct: {r:?}");
        let mem: f64 = r["max_mem_mb"].parse().unwrap_or(0.0);
        assert!(
            mem >= mb,
            "MaxRSS of the batch step, at least the {mb} MB held: {r:?}"
        );
        assert!(!r["started"].is_empty() && !r["ended"].is_empty(), "{r:?}");
        assert!(r["started"] <= r["ended"], "{r:?}");
    }
}

#[test]
fn a_sweep_over_two_partitions_ends_with_a_complete_csv() {
    let c = need!(Cluster::new());
    let s = &c.slurm;
    let file = c.sweep(
        "two",
        &format!("{}\n{}", work(40), grid(4)),
        &format!(
            "partitions = [\"{}\", \"{}\"]\naccount = \"{}\"\nqos = \"{}\"\ntime = \"0:05:00\"\nmem = \"300M\"",
            s.short, s.long, s.account, s.qos
        ),
    );
    let out = c.run(&["launch", &file]);
    assert_ok(&out);
    let st = status(&c, "two");
    assert_eq!(st["counts"]["done"], 4, "{st}");
    assert_eq!(st["targets"][&s.short]["done"], 2, "{st}");
    assert_eq!(st["targets"][&s.long]["done"], 2, "{st}");
    let rows = c.collect("two");
    assert_complete_csv(&rows, 4, 35.0);
    // Each job went where its row says, as Slurm recorded it.
    for r in &rows {
        let part = c.client(
            "sacct",
            &["-X", "-P", "-n", "-j", &r["job_id"], "-o", "Partition"],
        );
        assert_eq!(part.trim(), r["target"], "{r:?}");
    }
}

#[test]
fn arrays_split_at_their_size_and_run_every_point() {
    let c = need!(Cluster::new());
    let file = c.sweep(
        "arr",
        &format!("{}\n{}", work(20), grid(5)),
        &format!(
            "partition = \"{}\"\narray = true\nmax_array_size = 3\narray_parallel = 2\nmem = \"200M\"",
            c.slurm.long
        ),
    );
    assert_ok(&c.run(&["launch", &file]));
    let rows = c.collect("arr");
    assert_complete_csv(&rows, 5, 15.0);
    let arrays: Vec<&str> = rows
        .iter()
        .map(|r| r["job_id"].split_once('[').expect("an element id").0)
        .collect();
    assert_eq!(arrays[0], arrays[2], "points 0-2 in one array");
    assert_eq!(arrays[3], arrays[4], "points 3-4 in another");
    assert_ne!(arrays[0], arrays[3]);
    let script = std::fs::read_dir(c.env.home().join("sweeps/arr/scripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("-a00000-"))
        .expect("the first array's driver");
    let driver = std::fs::read_to_string(script).unwrap();
    assert!(driver.contains("#SBATCH --array=1-3%2"), "{driver}");
    // sacct knows element k of each array as ARRAY_k.
    let ids = c.client(
        "sacct",
        &["-X", "-P", "-n", "-j", arrays[0], "-o", "JobID,State"],
    );
    for k in 1..=3 {
        assert!(
            ids.contains(&format!("{}_{k}|COMPLETED", arrays[0])),
            "{ids}"
        );
    }
}

#[test]
fn cancel_ends_running_and_pending_jobs_in_slurm() {
    let c = need!(Cluster::new());
    let file = c.sweep(
        "stop",
        &format!("command = \"sleep 120\"\n{}", grid(3)),
        &format!(
            "partitions = [\"{}\", \"{}\"]\nmem = \"100M\"",
            c.slurm.short, c.slurm.long
        ),
    );
    assert_ok(&c.run(&["launch", &file, "--detach"]));
    let st = status(&c, "stop");
    let ids = job_ids(&st);
    assert_eq!(ids.len(), 3, "{st}");
    assert_ok(&c.run(&["cancel", "stop"]));
    wait_for("the cancel", Duration::from_secs(30), || {
        status(&c, "stop")["counts"]["cancelled"] == 3
    });
    // Slurm has them cancelled too (squeue keeps them a while, sacct for good).
    let list = ids.join(",");
    wait_for("Slurm to cancel them", Duration::from_secs(30), || {
        let states = c.client(
            "sacct",
            &["-X", "-P", "-n", "-j", &list, "-o", "JobID,State"],
        );
        states.lines().count() == 3 && states.lines().all(|l| l.contains("CANCELLED"))
    });
}

#[test]
fn a_failing_point_is_retried_and_ends_done() {
    let c = need!(Cluster::new());
    // Point 1 fails on its first attempt only.
    let file = c.sweep(
        "again",
        &format!(
            "max_attempts = 2\ncommand = '''sleep 1; [ {{i}} != 1 ] || [ {{attempt}} -ge 2 ] || exit 3; echo score=$(( {{i}} * 2 )); printf '{{\"v\": %d}}' {{i}} > {{out_dir}}/m.json'''\n{}",
            grid(2)
        ),
        &format!("partition = \"{}\"\nmem = \"100M\"", c.slurm.long),
    );
    assert_ok(&c.run(&["launch", &file]));
    let st = status(&c, "again");
    assert_eq!(st["counts"]["done"], 2, "{st}");
    assert_eq!(st["points"][1]["attempts"], 2, "{st}");
    assert_eq!(st["points"][0]["attempts"], 1, "{st}");
    let id = sweep_id(&c, "again");
    let first = format!("bsw-{id}-00001-1");
    // slurmdbd records a job's end a few seconds after squeue shows it (more on a busy host).
    let names = [first.clone(), format!("bsw-{id}-00001-2")];
    wait_for(
        "sacct to record the first attempt",
        Duration::from_secs(60),
        || c.sacct_by_name(&names).iter().any(|(n, _)| n == &first),
    );
    let jobs = c.sacct_by_name(&names);
    assert!(
        jobs.iter().any(|(n, s)| n == &first && s == "FAILED"),
        "the first attempt failed in Slurm: {jobs:?}"
    );
}

/// Waits until squeue no longer knows job `id`.
fn wait_purged(c: &Cluster, id: &str, timeout: Duration) {
    wait_for(&format!("Slurm to purge job {id}"), timeout, || {
        let out = c
            .slurm
            .command("squeue")
            .args(["-h", "-t", "all", "-j", id, "-o", "%i"])
            .output()
            .unwrap();
        text(&out.stderr).contains("Invalid job id")
            || (out.status.success() && out.stdout.is_empty())
    });
}

#[test]
fn a_job_purged_from_squeue_ends_right_from_sacct() {
    let c = need!(Cluster::new());
    let file = c.sweep(
        "purged",
        &format!("{}\n{}", work(30), grid(1)),
        &format!("partition = \"{}\"\nmem = \"200M\"", c.slurm.long),
    );
    // No bsweep follows the job: launch it, and stop bsweep once Slurm has it.
    let mut child = c.env.spawn(&["launch", &file]);
    // Read from the holder's snapshot: no other bsweep polls Slurm about the job.
    let mut id = None;
    wait_for("the job id", Duration::from_secs(30), || {
        let out = c.run(&["status", "purged", "--json"]);
        id = serde_json::from_slice(&out.stdout)
            .ok()
            .and_then(|st: serde_json::Value| job_ids(&st).pop());
        id.is_some()
    });
    child.kill().unwrap();
    let _ = child.wait();
    let id = id.expect("a job id");
    // MinJobAge and the purge cycle: 13-19 s here after the job ends.
    wait_purged(&c, &id, Duration::from_secs(c.slurm.min_job_age * 3 + 60));
    assert_ok(&c.run(&["resume", "purged"]));
    let rows = c.collect("purged");
    assert_complete_csv(&rows, 1, 25.0);
}

#[test]
fn bsweep_killed_at_ten_random_moments_resumes_with_one_job_per_point() {
    let c = need!(Cluster::new());
    let n = 12;
    let file = c.sweep(
        "kill9",
        &format!(
            "command = '''sleep 1; echo score=$(( {{i}} * 2 )); printf '{{\"v\": %d}}' {{i}} > {{out_dir}}/m.json'''\n{}",
            grid(n)
        ),
        &format!(
            "partitions = [\"{}\", \"{}\"]\nmem = \"100M\"\nmax_in_flight = 2",
            c.slurm.short, c.slurm.long
        ),
    );
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |lo: u64, hi: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Duration::from_millis(lo + seed % (hi - lo))
    };
    let recorded = c.env.home().join("sweeps/kill9/db");
    let log = c.env.path().join("kill9.log");
    let mut kills = 0;
    while kills < 10 {
        // Killed before it recorded the sweep, a launch is simply run again.
        let args = match recorded.exists() {
            true => vec!["resume", "kill9"],
            false => vec!["launch", file.as_str()],
        };
        let mut child = c
            .env
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        std::thread::sleep(next(100, 1500));
        if let Some(st) = child.try_wait().unwrap() {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(st.success(), "{args:?} failed: {said}");
            break;
        }
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        kills += 1;
    }
    assert!(kills >= 10, "only {kills} kills: the sweep ended too soon");
    assert_ok(&c.run(&["resume", "kill9"]));
    let st = status(&c, "kill9");
    assert_eq!(st["counts"]["done"], n, "{st}");
    // One job per point in Slurm: every name once (sacct names fast jobs late, so wait).
    let id = sweep_id(&c, "kill9");
    let names: Vec<String> = (0..n).map(|i| format!("bsw-{id}-{i:05}-1")).collect();
    let start = Instant::now();
    let per_name = loop {
        let mut per_name: HashMap<String, usize> = HashMap::new();
        for (name, _) in c.sacct_by_name(&names) {
            *per_name.entry(name).or_default() += 1;
        }
        if per_name.len() == n || start.elapsed() > Duration::from_secs(20) {
            break per_name;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(per_name.len(), n, "every point has its job: {per_name:?}");
    assert!(
        per_name.values().all(|k| *k == 1),
        "no point twice: {per_name:?}"
    );
    assert_eq!(c.collect("kill9").len(), n);
}

#[test]
fn the_same_sweep_runs_over_ssh_where_only_the_login_profile_knows_slurm() {
    let c = need!(Cluster::new());
    let ssh = need!(SshEnv::new());
    // A scratch directory the test's SshEnv removes; the login's HOME is elsewhere.
    let remote = ssh.remote.clone();
    let body = format!(
        "{}\n{}\n[cluster]\nhost = \"{SLURM_HOST}\"\nremote_dir = \"{remote}\"\n",
        work(30),
        grid(2)
    );
    let file = c.sweep(
        "remote",
        &body,
        &format!(
            "partitions = [\"{}\", \"{}\"]\nmem = \"200M\"",
            c.slurm.short, c.slurm.long
        ),
    );
    let bsweep = |args: &[&str]| {
        let mut cmd = c.env.cmd(&[]);
        cmd.arg("--ssh-config")
            .arg(&ssh.sshd.config)
            .args(args)
            .env_remove("SLURM_CONF");
        crate::harness::run_bounded(&mut cmd)
    };
    let out = bsweep(&["doctor", &file]);
    assert_ok(&out);
    assert!(
        text(&out.stdout).contains("partition"),
        "{}",
        text(&out.stdout)
    );
    assert_ok(&bsweep(&["launch", &file]));
    let csv = c.env.path().join("remote.csv");
    assert_ok(&bsweep(&["collect", "remote", "-o", csv.to_str().unwrap()]));
    assert_complete_csv(&read_csv(&csv).1, 2, 25.0);
    // The sweep's directory there is `remote-ID`, its own.
    let dirs: Vec<_> = std::fs::read_dir(&remote)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("remote-"))
        })
        .collect();
    assert_eq!(dirs.len(), 1, "one directory for the sweep: {dirs:?}");
    assert!(
        dirs[0].join("out/00001/m.json").exists(),
        "the jobs wrote on the cluster side"
    );
}

#[test]
fn launch_refuses_what_slurm_would_refuse_at_the_line_that_says_it() {
    let c = need!(Cluster::new());
    let file = c.sweep(
        "bad",
        &format!("command = \"true\"\n{}", grid(1)),
        &format!("partitions = [\"{}\", \"nosuchpart\"]", c.slurm.short),
    );
    let out = c.run(&["launch", &file]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    // Line 8 of the file, where the partition is written.
    let col = "partitions = [\"".len() + c.slurm.short.len() + "\", ".len() + 1;
    assert!(
        err.contains(&format!(
            "bad.toml:8:{col}: slurm.partitions[1]: Slurm on this machine has no partition `nosuchpart`"
        )),
        "{err}"
    );
    assert!(err.contains("launch again (nothing was recorded)"), "{err}");
    let over = c.sweep(
        "slow",
        &format!("command = \"true\"\n{}", grid(1)),
        &format!(
            "partition = \"{}\"\ntime = \"{}:00\"",
            c.slurm.short,
            c.slurm.short_max_minutes + 5
        ),
    );
    let err = text(&c.run(&["launch", &over]).stderr);
    assert!(
        err.contains("slurm.time: Slurm on this machine limits partition"),
        "{err}"
    );
    let out = c.run(&["doctor", &over]);
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("PartitionTimeLimit"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_job_over_its_memory_ends_failed_saying_so() {
    let c = need!(Cluster::new());
    // Slurm samples memory every 2 s here: hold the excess long enough to be seen.
    let file = c.sweep(
        "oom",
        &format!(
            "command = '''python3 -c \"x = bytearray(300 << 20); import time; time.sleep(8)\"'''\n{}",
            grid(1)
        ),
        &format!("partition = \"{}\"\nmem = \"60M\"", c.slurm.long),
    );
    let out = c.run(&["launch", &file]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "ended with a failed point: {}",
        text(&out.stderr)
    );
    let st = status(&c, "oom");
    let p = &st["points"][0];
    assert_eq!(p["state"], "failed", "{st}");
    // With cgroups Slurm says OUT_OF_MEMORY; without, its OverMemoryKill ends the batch step.
    let why = p["error"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("OUT_OF_MEMORY") || why.contains("OverMemoryKill"),
        "{st}"
    );
}
