//! The test harness: run the real `bsweep` binary against a private home (`Env`), with the LSF
//! simulator on PATH (`Sim`), or through the test sshd (`sshd`); find the real services the
//! tests can use (`services`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Env {
    pub dir: tempfile::TempDir,
    /// Environment variables every bsweep run gets (the simulator's PATH, for [`Sim`]).
    pub vars: Vec<(String, String)>,
}

impl Drop for Env {
    /// A bsweep the test started and did not see end (a follower, a launch it gave up on) would
    /// go on working on a sweep nobody reads, taking CPU from every later test: stop it first.
    fn drop(&mut self) {
        for pid in bsweeps_of(&self.home()) {
            eprintln!("harness: stopping bsweep pid {pid}, left running by this test");
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    }
}

/// The pids of bsweep processes run with `--home HOME`.
fn bsweeps_of(home: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let home = home.as_os_str().as_encoded_bytes();
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.windows(2).any(|w| w[0] == b"--home" && w[1] == home)
        })
        .collect()
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            vars: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bsweep"));
        c.arg("--home")
            .arg(self.home())
            .args(args)
            .current_dir(self.path());
        c.env_remove("BSWEEP_HOME");
        c.envs(self.vars.iter().map(|(k, v)| (k, v)));
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run_bounded(&mut self.cmd(args))
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bsweep")
    }

    /// Writes a sweep file into the test directory and returns its path.
    pub fn sweep(&self, file: &str, text: &str) -> PathBuf {
        let p = self.path().join(file);
        std::fs::write(&p, text).expect("write sweep file");
        p
    }

    pub fn status_json(&self, sweep: &str) -> serde_json::Value {
        let out = self.run(&["status", sweep, "--json"]);
        assert!(out.status.success(), "status failed: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Waits until `f` holds, polling; panics with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How long one bsweep command of a test may take before it is killed and the test fails:
/// a hang must end the test run with its output, not stall CI (`BSWEEP_TEST_COMMAND_LIMIT`,
/// seconds, to change it).
fn command_limit() -> Duration {
    let secs = std::env::var("BSWEEP_TEST_COMMAND_LIMIT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// Runs `cmd` like [`Command::output`] (stdin closed), but kills it and panics with what it
/// printed once it runs longer than [`command_limit`]. Output a child left to a process of its
/// own (an ssh master holding stderr) is not waited for beyond a few seconds after it exits.
pub fn run_bounded(cmd: &mut Command) -> Output {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::sync::mpsc;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("run bsweep");
    let pipe = |mut r: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
        rx
    };
    let out = pipe(Box::new(child.stdout.take().unwrap()));
    let err = pipe(Box::new(child.stderr.take().unwrap()));
    let (limit, start) = (command_limit(), Instant::now());
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for bsweep") {
            break Some(st);
        }
        if start.elapsed() > limit {
            // The whole group: a launch's own children (the local backend's jobs) too.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let grace = Duration::from_secs(5);
    let stdout = out.recv_timeout(grace).unwrap_or_default();
    let stderr = err.recv_timeout(grace).unwrap_or_default();
    match status {
        Some(status) => Output {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{cmd:?} ran longer than {limit:?} and was killed\nstdout:\n{}\nstderr:\n{}",
            text(&stdout),
            text(&stderr)
        ),
    }
}

pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

pub mod remote;
pub mod services;
mod simbin;
pub mod sshd;
pub use simbin::lsfsim_bin;

/// A private LSF cluster: the simulator installed as bsub/bjobs/... on PATH, its state in a
/// directory of the test.
pub struct Sim {
    pub env: Env,
    pub state: PathBuf,
}

impl Sim {
    pub fn new(config: &str) -> Self {
        let mut env = Env::new();
        let bin = env.path().join("bin");
        let state = env.path().join("lsf");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("config.toml"), config).unwrap();
        let st = Command::new(lsfsim_bin())
            .arg("install")
            .arg(&bin)
            .status()
            .unwrap();
        assert!(st.success());
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        env.vars.push(("PATH".into(), path));
        env.vars
            .push(("LSFSIM_DIR".into(), state.display().to_string()));
        Self { env, state }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        self.env.cmd(args)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.env.run(args)
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.env.spawn(args)
    }

    pub fn status_json(&self, sweep: &str) -> serde_json::Value {
        self.env.status_json(sweep)
    }

    /// The simulator's call log, one JSON object per call.
    pub fn calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state.join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("call log line is JSON"))
            .collect()
    }

    pub fn calls_of(&self, cmd: &str) -> Vec<serde_json::Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["cmd"] == cmd)
            .collect()
    }
}

/// Job names of the bsub calls in a simulator call log that LSF accepted (it gave them ids).
pub fn accepted_names(bsub_calls: &[serde_json::Value]) -> Vec<String> {
    bsub_calls
        .iter()
        .filter(|c| !c["jobs"].as_array().expect("jobs").is_empty())
        .flat_map(|c| {
            c["names"]
                .as_array()
                .expect("names")
                .iter()
                .map(|n| n.as_str().expect("a name").to_string())
        })
        .collect()
}

/// Asserts that the accepted submissions are exactly one per point, `points` of them: no point
/// lost, none submitted twice. Job names are `bsw-<id>-<point>-<attempt>`.
pub fn assert_one_job_per_point(bsub_calls: &[serde_json::Value], points: usize) {
    let mut per_point: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for n in accepted_names(bsub_calls) {
        let point = n
            .rsplit_once('-')
            .expect("bsw-<id>-<point>-<attempt>")
            .0
            .to_string();
        *per_point.entry(point).or_default() += 1;
    }
    let doubled: Vec<_> = per_point.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "points submitted twice: {doubled:?}");
    assert_eq!(per_point.len(), points, "every point submitted once");
}

/// A CSV file as its header and one map per row (column name → cell).
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<std::collections::BTreeMap<String, String>>) {
    let mut r = csv::Reader::from_path(path).expect("csv opens");
    let headers: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.expect("csv record");
            headers
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect();
    (headers, rows)
}
