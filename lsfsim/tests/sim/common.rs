//! Test harness: a simulated cluster in a temp dir with the LSF commands installed on PATH, and
//! access to the real LSF captures the simulator's formats are checked against.

use regex::Regex;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sim {
    _tmp: tempfile::TempDir,
    pub bin: PathBuf,
    pub state: PathBuf,
    pub work: PathBuf,
}

#[derive(Debug)]
pub struct Res {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Res {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl Sim {
    pub fn new(config: &str) -> Sim {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bin = tmp.path().join("bin");
        let state = tmp.path().join("state");
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(state.join("config.toml"), config).unwrap();
        let st = Command::new(env!("CARGO_BIN_EXE_lsfsim"))
            .arg("install")
            .arg(&bin)
            .status()
            .expect("lsfsim install");
        assert!(st.success());
        Sim {
            _tmp: tmp,
            bin,
            state,
            work,
        }
    }

    pub fn cmd(&self, name: &str) -> Command {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new(self.bin.join(name));
        c.env("PATH", path)
            .env("LSFSIM_DIR", &self.state)
            .env("USER", "tester")
            .current_dir(&self.work);
        c
    }

    pub fn run(&self, name: &str, args: &[&str]) -> Res {
        self.run_stdin(name, args, "")
    }

    pub fn run_stdin(&self, name: &str, args: &[&str], stdin: &str) -> Res {
        let mut child = self
            .cmd(name)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let o = child.wait_with_output().expect("wait");
        Res {
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            code: o.status.code().unwrap_or(-1),
        }
    }

    /// bsub that must succeed; returns the job id.
    pub fn submit(&self, args: &[&str], stdin: &str) -> u64 {
        let r = self.run_stdin("bsub", args, stdin);
        assert_eq!(r.code, 0, "bsub failed: {r:?}");
        job_id(&r.stdout).unwrap_or_else(|| panic!("no job id in {r:?}"))
    }

    /// `bjobs -a -noheader -o "<fields>" delimiter='^'` rows, split.
    pub fn rows(&self, fields: &str, ids: &[&str]) -> Vec<Vec<String>> {
        let fmt = format!("{fields} delimiter='^'");
        let mut args = vec!["-a", "-noheader", "-o", fmt.as_str()];
        args.extend_from_slice(ids);
        let r = self.run("bjobs", &args);
        r.stdout
            .lines()
            .map(|l| l.split('^').map(str::to_string).collect())
            .collect()
    }

    pub fn stat(&self, id: u64) -> String {
        let rows = self.rows("stat", &[&id.to_string()]);
        rows.first().map(|r| r[0].clone()).unwrap_or_default()
    }

    pub fn wait_stat(&self, id: u64, want: &[&str], secs: u64) -> String {
        let mut last = String::new();
        let ok = wait_until(secs, || {
            last = self.stat(id);
            want.contains(&last.as_str())
        });
        assert!(ok, "job {id} stayed {last:?}, wanted {want:?}");
        last
    }

    pub fn calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state.join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("call log line is JSON"))
            .collect()
    }
}

impl Drop for Sim {
    /// Leaves no sleeping jobs behind when a test ends early.
    fn drop(&mut self) {
        let _ = self.cmd("bkill").arg("0").output();
    }
}

pub fn job_id(stdout: &str) -> Option<u64> {
    let re = Regex::new(r"Job <(\d+)> is submitted").unwrap();
    re.captures(stdout).map(|c| c[1].parse().unwrap())
}

pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// The real LSF outputs the simulator is checked against: the parser fixtures of the main crate
/// (copied unchanged from the capture corpus), plus the few only the simulator uses.
fn capture_path(name: &str) -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let own = manifest.join("tests/captures").join(name);
    if own.exists() {
        own
    } else {
        manifest.join("../tests/fixtures/lsf").join(name)
    }
}

/// The output part of a capture file (after the first `# ---` line). A missing capture fails
/// the test: a format check that silently skips its reference checks nothing.
pub fn capture(name: &str) -> Option<String> {
    let path = capture_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("capture {} is missing: {e}", path.display()));
    let i = text.find("\n# ---\n").expect("capture header");
    Some(text[i + "\n# ---\n".len()..].to_string())
}

/// Asserts `re` matches at least one line of the capture (when present) and of `ours`: the
/// simulator prints the line shape the real LSF printed.
pub fn same_shape(re: &str, capture_name: &str, ours: &str) {
    let r = Regex::new(re).unwrap();
    if let Some(cap) = capture(capture_name) {
        assert!(
            cap.lines().any(|l| r.is_match(l)),
            "regex {re} matches no line of capture {capture_name}:\n{cap}"
        );
    }
    assert!(
        ours.lines().any(|l| r.is_match(l)),
        "regex {re} (from {capture_name}) matches no line of our output:\n{ours}"
    );
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
