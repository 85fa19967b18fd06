//! The real `bsweep` binary driving the LSF simulator on a "remote" login node: the test sshd
//! (the harness's sshd on loopback), where LSF is on PATH only through the login profile.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::sshd::{HOST, NOKEY_HOST, SshEnv};
use crate::harness::{Sim, assert_ok, text, wait_for};
use crate::need;

/// One test's remote cluster: the simulator's state under the test's remote scratch directory.
struct Remote {
    env: SshEnv,
}

impl Remote {
    fn new(sim_config: &str) -> Option<Self> {
        let env = SshEnv::new()?;
        std::fs::create_dir_all(&env.lsf).unwrap();
        std::fs::write(Path::new(&env.lsf).join("config.toml"), sim_config).unwrap();
        Some(Self { env })
    }

    fn home(&self) -> &Path {
        self.env.local.path()
    }

    /// A sweep file whose `[cluster]` names `host` and this test's simulator state.
    fn sweep(&self, name: &str, host: &str, body: &str) -> String {
        let text = format!(
            "name = \"{name}\"\nbackend = \"lsf\"\n{body}\n[cluster]\nhost = \"{host}\"\ninit = \"export LSFSIM_DIR={lsf}\"\nremote_dir = \"{remote}\"\n",
            lsf = self.env.lsf,
            remote = self.env.remote
        );
        let path = self.home().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bsweep"));
        c.arg("--home")
            .arg(self.home())
            .arg("--ssh-config")
            .arg(&self.env.sshd.config)
            .args(args)
            .current_dir(self.home())
            .env("BSWEEP_DEBUG", "1")
            .env_remove("BSWEEP_HOME");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        crate::harness::run_bounded(&mut self.cmd(args))
    }

    fn status_json(&self, sweep: &str) -> serde_json::Value {
        let out = self.run(&["--quiet", "status", sweep, "--json"]);
        assert_ok(&out);
        serde_json::from_slice(&out.stdout).expect("status --json")
    }

    fn calls_of(&self, cmd: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(Path::new(&self.env.lsf).join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|c| c["cmd"] == cmd)
            .collect()
    }
}

/// `bsweep: ssh round trip N: ...` lines in a debug run's stderr.
fn round_trips(out: &Output) -> usize {
    text(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("bsweep: ssh round trip"))
        .count()
}

const TWO_QUEUES: &str =
    "[[queue]]\nname = \"short\"\nslots = 8\n[[queue]]\nname = \"long\"\nslots = 8\n";

fn grid_body(n: usize, extra_lsf: &str) -> String {
    format!(
        r#"command = '''echo score=$(( {{i}} * 2 )); printf '{{"v": %d, "sweep": "%s"}}' {{i}} {{sweep}} > {{out_dir}}/m.json'''
[grid]
i = {{ start = 0, stop = {n} }}
[lsf]
queues = ["short", "long"]
poll_min = 0.3
poll_max = 1.0
settle = 2.0
{extra_lsf}
[collect]
stdout_kv = true
metrics_json = "m.json"
"#
    )
}

/// Columns that differ between two runs of the same sweep by nature.
const VOLATILE: &[&str] = &[
    "job_id",
    "submitted",
    "started",
    "ended",
    "run_seconds",
    "max_mem_mb",
];

fn stable(rows: Vec<BTreeMap<String, String>>) -> Vec<BTreeMap<String, String>> {
    rows.into_iter()
        .map(|mut r| {
            for c in VOLATILE {
                r.remove(*c);
            }
            r
        })
        .collect()
}

#[test]
fn a_sweep_over_ssh_gives_the_csv_a_local_run_gives() {
    let remote = need!(Remote::new(TWO_QUEUES));
    let file = remote.sweep("over-ssh", HOST, &grid_body(100, ""));
    let out = remote.run(&["launch", &file]);
    assert_ok(&out);
    assert_eq!(remote.status_json("over-ssh")["counts"]["done"], 100);
    // A point's output, read on the cluster: the job's line, then LSF's report as one line.
    let out = remote.run(&["logs", "over-ssh", "7"]);
    assert_ok(&out);
    let shown = text(&out.stdout);
    assert!(shown.starts_with("score=14\n"), "{shown}");
    assert!(
        shown.contains("[LSF report: successfully completed"),
        "{shown}"
    );
    assert_eq!(shown.lines().count(), 2, "{shown}");
    let csv_remote = remote.home().join("remote.csv");
    let out = remote.run(&["collect", "over-ssh", "-o", csv_remote.to_str().unwrap()]);
    assert_ok(&out);
    assert!(
        text(&out.stderr).contains("fetched"),
        "{}",
        text(&out.stderr)
    );
    // LSF's start and end times were read by the cluster's `date`.
    assert!(
        !text(&out.stderr).contains("as bsweep saw them"),
        "{}",
        text(&out.stderr)
    );

    // The same sweep file, run where LSF is local (`--here`), with its own simulator.
    let sim = Sim::new(TWO_QUEUES);
    let local_file = sim.env.path().join("over-ssh.toml");
    std::fs::copy(&file, &local_file).unwrap();
    assert_ok(&sim.run(&["launch", local_file.to_str().unwrap(), "--here"]));
    let csv_local = sim.env.path().join("local.csv");
    assert_ok(&sim.run(&["collect", "over-ssh", "-o", csv_local.to_str().unwrap()]));

    let (r, l) = (
        crate::harness::read_csv(&csv_remote).1,
        crate::harness::read_csv(&csv_local).1,
    );
    assert_eq!(r.len(), 100);
    assert!(
        r.iter().all(|row| !row["run_seconds"].is_empty()),
        "run time from the reports fetched back"
    );
    assert_eq!(stable(r), stable(l));
}

#[test]
fn round_trips_stay_few_when_launching_and_polling() {
    let remote = need!(Remote::new(TWO_QUEUES));
    let file = remote.sweep("trips", HOST, &grid_body(200, ""));
    let out = remote.run(&["launch", &file, "--detach"]);
    assert_ok(&out);
    let launch_trips = round_trips(&out);
    eprintln!("launch of 200 points: {launch_trips} round trips");
    // The home and the probe (at once), the remote directory, one job per queue trying it,
    // then the other 198 in one batch.
    assert!(
        launch_trips <= 5,
        "{launch_trips} round trips:\n{}",
        text(&out.stderr)
    );
    assert_eq!(remote.calls_of("bsub").len(), 200, "every point submitted");

    let out = remote.run(&["--quiet", "status", "trips"]);
    assert_ok(&out);
    assert_eq!(
        round_trips(&out),
        1,
        "one poll of 200 jobs:\n{}",
        text(&out.stderr)
    );
    // Let the jobs finish before the test's remote directory goes away.
    wait_for("the jobs to finish", Duration::from_secs(120), || {
        remote.status_json("trips")["counts"]["done"] == 200
    });
}

#[test]
fn commands_attach_to_a_login_connection_and_fail_fast_once_it_is_gone() {
    let remote = need!(Remote::new(TWO_QUEUES));
    // The no-key host stands in for a password + TOTP host: only a master opened by a person
    // (here: the test, with the key in hand) lets bsweep in.
    let master = bsweep::transport::ssh::Master::of(
        NOKEY_HOST,
        &remote.home().join("ssh"),
        Some(&remote.env.sshd.config),
    )
    .unwrap();
    let socket = master.socket();
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    let st = Command::new("ssh")
        .args([
            "-F",
            &remote.env.sshd.config.to_string_lossy(),
            "-i",
            &remote.env.sshd.dir.join("sim").to_string_lossy(),
        ])
        .args(["-o", "ControlMaster=yes", "-o", "ControlPersist=120", "-S"])
        .arg(socket)
        .args(["-fN", NOKEY_HOST])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "the test's own login");
    let check = remote.run(&["login", NOKEY_HOST, "--check"]);
    assert_ok(&check);

    let file = remote.sweep("twofa", NOKEY_HOST, &grid_body(6, ""));
    assert_ok(&remote.run(&["launch", &file]));
    assert_eq!(remote.status_json("twofa")["counts"]["done"], 6);

    // The connection goes away (the laptop slept, the VPN dropped).
    let out = Command::new("ssh")
        .args(["-S"])
        .arg(socket)
        .args(["-O", "exit", NOKEY_HOST])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // What a finished sweep's status shows is all in the local record: it needs no login.
    let out = remote.run(&["status", "twofa"]);
    assert_ok(&out);
    assert!(
        text(&out.stdout).contains("6 done"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("the cluster was not asked"),
        "{}",
        text(&out.stdout)
    );
    // What needs the cluster fails at once and says how to log in.
    let start = Instant::now();
    let out = remote.run(&["collect", "twofa"]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        text(&out.stderr).contains(&format!("bsweep login {NOKEY_HOST}")),
        "{}",
        text(&out.stderr)
    );
    let check = remote.run(&["login", NOKEY_HOST, "--check"]);
    assert_eq!(check.status.code(), Some(5));
}

#[test]
fn a_master_killed_while_following_is_replaced_and_the_sweep_ends() {
    let remote = need!(Remote::new(TWO_QUEUES));
    let body = grid_body(16, "").replace("echo score=", "sleep 1.5; echo score=");
    let file = remote.sweep("drop", HOST, &body);
    let child = remote
        .cmd(&["launch", &file])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("jobs to be submitted", Duration::from_secs(60), || {
        remote.calls_of("bsub").len() >= 4
    });
    remote.env.kill_master(HOST);
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    assert_eq!(remote.status_json("drop")["counts"]["done"], 16);
}

#[test]
fn bsweep_killed_mid_launch_with_the_connection_cut_resumes_without_duplicates() {
    let remote = need!(Remote::new(&format!(
        "{TWO_QUEUES}\n[faults]\nlatency_ms = 20\n"
    )));
    let file = remote.sweep("cut", HOST, &grid_body(200, ""));
    let mut child = remote
        .cmd(&["launch", &file])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("submission to start", Duration::from_secs(60), || {
        !remote.calls_of("bsub").is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    let _ = child.wait();
    remote.env.kill_master(HOST);
    let before = remote.calls_of("bsub").len();
    assert!(
        before < 200,
        "the kill came too late to test anything ({before} bsubs)"
    );

    let out = remote.run(&["resume", "cut"]);
    assert_ok(&out);
    assert_eq!(remote.status_json("cut")["counts"]["done"], 200);
    crate::harness::assert_one_job_per_point(&remote.calls_of("bsub"), 200);
}

#[test]
fn torture_over_ssh_kills_bsweep_and_cuts_the_connection_at_random_moments() {
    let remote = need!(Remote::new(&format!(
        "{TWO_QUEUES}\n[faults]\nlatency_ms = 15\nbsub_transient_fail = 0.1\nbsub_fail_after_submit = 0.05\nseed = 5\n"
    )));
    let body =
        grid_body(300, "max_in_flight = 20").replace("echo score=", "sleep 1.5; echo score=");
    let file = remote.sweep("storm", HOST, &body);
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |lo: u64, hi: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Duration::from_millis(lo + seed % (hi - lo))
    };
    let mut args: Vec<String> = vec!["launch".into(), file.clone()];
    let mut cuts = 0;
    while cuts < 20 {
        let mut child = remote
            .cmd(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(next(300, 1500));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap();
        let _ = child.wait();
        // The connection goes down with it (when a master is up at that moment).
        if remote.env.master_pid(HOST).is_some() {
            remote.env.kill_master(HOST);
        }
        cuts += 1;
        // A kill while the sweep was being recorded leaves no sweep: launch it again.
        args = if remote.home().join("sweeps/storm/db").is_dir() {
            vec!["resume".into(), "storm".into()]
        } else {
            vec!["launch".into(), file.clone()]
        };
    }
    assert!(
        cuts >= 20,
        "only {cuts} cuts: the sweep ended too soon to torture it"
    );
    let out = remote.run(&["resume", "storm"]);
    assert_ok(&out);
    assert_eq!(remote.status_json("storm")["counts"]["done"], 300);
    crate::harness::assert_one_job_per_point(&remote.calls_of("bsub"), 300);
    let csv = remote.home().join("storm.csv");
    assert_ok(&remote.run(&["collect", "storm", "-o", csv.to_str().unwrap()]));
    assert_eq!(crate::harness::read_csv(&csv).1.len(), 300);
}

#[test]
fn login_check_and_close() {
    let remote = need!(Remote::new(TWO_QUEUES));
    let out = remote.run(&["login", HOST, "--check"]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "no connection yet: {}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains(&format!("bsweep login {HOST}")));
    // A key host logs in without a prompt; a TOTP host would ask here, once. `login` wants a
    // way to prompt: without a terminal here, an askpass program that a key login never asks.
    let out = remote
        .cmd(&["login", HOST])
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("SSH_ASKPASS", "/bin/false")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ok(&out);
    assert_ok(&remote.run(&["login", HOST, "--check"]));
    let out = remote.run(&["login", HOST, "--close"]);
    assert_ok(&out);
    assert!(
        text(&out.stdout).contains("closed"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        remote.run(&["login", HOST, "--check"]).status.code(),
        Some(5)
    );
}

#[test]
fn doctor_reports_what_works_and_what_to_fix() {
    let remote = need!(Remote::new(TWO_QUEUES));
    let good = remote.sweep("ok", HOST, &grid_body(2, ""));
    let out = remote.run(&["doctor", &good]);
    assert_ok(&out);
    let report = text(&out.stdout);
    for line in [
        "connection to bsweep-test: ok",
        "LSF: IBM Spectrum LSF",
        "-json",
        "queue short: ok",
        "queue long: ok",
        "writable",
        "all checks passed",
    ] {
        assert!(report.contains(line), "missing {line:?} in:\n{report}");
    }
    let bad = remote.sweep(
        "bad",
        HOST,
        &grid_body(2, "").replace(
            "queues = [\"short\", \"long\"]",
            "queues = [\"short\", \"gpu\"]",
        ),
    );
    let out = remote.run(&["doctor", &bad]);
    // A check that fails is something to fix in the sweep file or the setup: bad input.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let report = text(&out.stdout);
    assert!(report.contains("queue gpu: PROBLEM: not found"), "{report}");
    assert!(report.contains("fix:"), "{report}");
    // The failure is said once, with the command that checks again.
    let err = text(&out.stderr);
    assert_eq!(err.matches("gpu").count(), 0, "{err}");
    assert!(err.contains("1 problem(s) found"), "{err}");
    assert!(err.contains(&format!("bsweep doctor {bad}")), "{err}");
}
