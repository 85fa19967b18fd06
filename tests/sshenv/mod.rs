//! Helpers for the SSH transport tests: a private sshd on 127.0.0.1:2222 (`.ci/sshd-setup`),
//! the LSF simulator installed for its user behind the login profile, a scratch directory per
//! test, and masters closed when a test ends.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bsweep::transport::ssh::{self, SshOpts, SshTransport};

/// The ssh config of the test sshd (hosts `bsweep-test` and `bsweep-test-nokey`).
pub const SSH_CONFIG: &str = "/tmp/bsweep-sshd/ssh_config";
/// Key login as the test user.
pub const HOST: &str = "bsweep-test";
/// The same server without a usable key: authentication fails as a password/TOTP host does
/// under BatchMode.
pub const NOKEY_HOST: &str = "bsweep-test-nokey";
pub const REMOTE_USER: &str = "bsweeptest";
pub const REMOTE_HOME: &str = "/home/bsweeptest";

/// Runs `.ci/sshd-setup` and installs the simulator, once per test process. Panics with the
/// reason when that is impossible (no root, no apt): these tests never pass silently.
pub fn setup() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = READY.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/sshd-setup");
        let out = Command::new(&script)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed (the SSH tests need root and openssh-server):\n{}{}",
                script.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        install_lsfsim()
    }) {
        panic!("the test sshd is not available: {e}");
    }
}

/// Copies the simulator into the test user's `lsfbin` (on PATH only for login shells) with its
/// bsub/bjobs/... links. Copy then rename: a runner of an earlier test run may still execute the
/// old binary, which cannot be overwritten in place.
fn install_lsfsim() -> Result<(), String> {
    let bin = lsfsim_bin();
    let dir = Path::new(REMOTE_HOME).join("lsfbin");
    let tmp = dir.join(format!(".lsfsim.{}", std::process::id()));
    let dst = dir.join("lsfsim");
    std::fs::copy(&bin, &tmp)
        .map_err(|e| format!("copy {} to {}: {e}", bin.display(), tmp.display()))?;
    std::fs::rename(&tmp, &dst).map_err(|e| format!("rename to {}: {e}", dst.display()))?;
    let st = Command::new(&dst)
        .arg("install")
        .arg(&dir)
        .status()
        .map_err(|e| format!("lsfsim install: {e}"))?;
    if !st.success() {
        return Err("lsfsim install failed".into());
    }
    let st = Command::new("chown")
        .args(["-hR", &format!("{REMOTE_USER}:")])
        .arg(&dir)
        .status()
        .map_err(|e| format!("chown: {e}"))?;
    if !st.success() {
        return Err(format!("chown {} failed", dir.display()));
    }
    Ok(())
}

pub use crate::common::lsfsim_bin;

/// One test's world: a local control directory (so each test has its own master) and a remote
/// scratch directory holding the simulated cluster's state.
pub struct SshEnv {
    pub local: tempfile::TempDir,
    /// Absolute remote scratch directory, e.g. `/home/bsweeptest/t-1234-1-5678`.
    pub remote: String,
    /// The test's `LSFSIM_DIR` (inside `remote`).
    pub lsf: String,
}

impl SshEnv {
    pub fn new() -> Self {
        setup();
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let remote = format!(
            "{REMOTE_HOME}/t-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        Self {
            local: tempfile::tempdir().expect("temp dir"),
            lsf: format!("{remote}/lsf"),
            remote,
        }
    }

    /// Where this test's control sockets live.
    pub fn control_dir(&self) -> PathBuf {
        self.local.path().join("ssh")
    }

    /// Options for the test sshd; `init` points the simulator at this test's state, and chatters
    /// (on stdout, and reading stdin) like a `module load` would.
    pub fn opts(&self) -> SshOpts {
        SshOpts {
            init: Some(format!(
                "echo init line ran; read -r -t 1 _; export LSFSIM_DIR={}",
                self.lsf
            )),
            config_file: Some(SSH_CONFIG.into()),
            ..SshOpts::default()
        }
    }

    pub async fn connect(&self) -> SshTransport {
        SshTransport::connect(HOST, &self.control_dir(), self.opts())
            .await
            .expect("connect to the test sshd")
    }

    /// The pid of the master of `dest`, from `ssh -O check`.
    pub fn master_pid(&self, dest: &str) -> Option<i32> {
        let socket = ssh::control_socket(dest, &self.control_dir());
        let out = Command::new("ssh")
            .args(["-F", "/dev/null", "-S"])
            .arg(&socket)
            .args(["-O", "check", "x"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stderr);
        let start = text.find("pid=")? + 4;
        let end = start + text[start..].find(')')?;
        text[start..end].parse().ok()
    }

    /// Kills the master of `dest` the hard way (a dropped network, a reboot of the laptop's
    /// ssh), and waits until it is gone.
    pub fn kill_master(&self, dest: &str) {
        let pid = self.master_pid(dest).expect("a master is running");
        let st = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        for _ in 0..100 {
            if !Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("master {pid} did not die");
    }
}

impl Drop for SshEnv {
    fn drop(&mut self) {
        for dest in [HOST, NOKEY_HOST] {
            let _ = ssh::close_master(dest, &self.control_dir());
        }
        // The remote side is this machine; the tests run as root.
        let _ = std::fs::remove_dir_all(&self.remote);
    }
}
