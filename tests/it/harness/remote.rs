//! A simulated cluster reached over the test sshd, for tests of the remote side: bsweep homes
//! on "laptops" (several may share one cluster), a throttling proxy whose connections a test
//! can cut (a master dropped mid-transfer), and the peak memory of a bsweep run.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::sshd::SshEnv;
use super::{assert_ok, text};

/// One test's cluster: the simulator's state under the test's remote scratch directory, and a
/// bsweep home on this machine (more with [`Remote::home_at`]).
pub struct Remote {
    pub env: SshEnv,
    /// The ssh config bsweep runs with (the test sshd's, or one a test wrote).
    pub config: PathBuf,
}

impl Remote {
    pub fn new(sim_config: &str) -> Option<Self> {
        let env = SshEnv::new()?;
        std::fs::create_dir_all(&env.lsf).unwrap();
        std::fs::write(Path::new(&env.lsf).join("config.toml"), sim_config).unwrap();
        let config = env.sshd.config.clone();
        Some(Self { env, config })
    }

    /// The first home (and where sweep files are written).
    pub fn home(&self) -> &Path {
        self.env.local.path()
    }

    /// Another bsweep home on this machine (another laptop, another user's home).
    pub fn home_at(&self, name: &str) -> PathBuf {
        let h = self.home().join(name);
        std::fs::create_dir_all(&h).unwrap();
        h
    }

    /// A sweep file (`FILE_NAME.toml`, named `name`) whose `[cluster]` names `host`, this test's
    /// simulator state and `remote_dir` (this test's remote scratch directory by default).
    pub fn sweep_file(&self, file: &str, name: &str, host: &str, body: &str) -> String {
        self.sweep_in(file, name, host, body, &self.env.remote)
    }

    pub fn sweep_in(
        &self,
        file: &str,
        name: &str,
        host: &str,
        body: &str,
        remote_dir: &str,
    ) -> String {
        let text = format!(
            "name = \"{name}\"\nbackend = \"lsf\"\n{body}\n[cluster]\nhost = \"{host}\"\ninit = \"export LSFSIM_DIR={lsf}\"\nremote_dir = \"{remote_dir}\"\n",
            lsf = self.env.lsf,
        );
        let path = self.home().join(format!("{file}.toml"));
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// bsweep with `home`.
    pub fn cmd_in(&self, home: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bsweep"));
        c.arg("--home")
            .arg(home)
            .arg("--ssh-config")
            .arg(&self.config)
            .args(args)
            .current_dir(self.home())
            .env_remove("BSWEEP_HOME")
            .env_remove("BSWEEP_DEBUG");
        c
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_in(self.home(), args)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        super::run_bounded(&mut self.cmd(args))
    }

    pub fn run_in(&self, home: &Path, args: &[&str]) -> Output {
        super::run_bounded(&mut self.cmd_in(home, args))
    }

    pub fn status_json_in(&self, home: &Path, sweep: &str) -> serde_json::Value {
        let out = self.run_in(home, &["--quiet", "status", sweep, "--json"]);
        assert_ok(&out);
        serde_json::from_slice(&out.stdout).expect("status --json")
    }

    /// The simulator's calls of `cmd` (`bsub`, `bjobs`, ...).
    pub fn calls_of(&self, cmd: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(Path::new(&self.env.lsf).join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|c| c["cmd"] == cmd)
            .collect()
    }

    /// The directories under `remote_dir` (the sweeps' own, `NAME-ID`), sorted.
    pub fn remote_dirs(&self, remote_dir: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(remote_dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Writes an ssh config that has the test sshd's hosts and `alias` reaching it through
    /// `port`, and makes bsweep use it.
    pub fn add_host_via(&mut self, alias: &str, port: u16) {
        let mut text = std::fs::read_to_string(&self.env.sshd.config).unwrap();
        text.push_str(&self.env.sshd.host_via(alias, port));
        let path = self.home().join("ssh_config");
        std::fs::write(&path, text).unwrap();
        self.config = path;
    }
}

/// Runs `cmd` to its end and returns its output with its peak resident memory in KiB (the
/// kernel's `ru_maxrss` of that one process) and how long it took. It runs under the LSF
/// simulator's small `__peak_rss` helper: a child's `ru_maxrss` counts the RSS of the process
/// that spawned it, which for this test process can be hundreds of MB.
pub fn measured(cmd: Command) -> (Output, u64, Duration) {
    let peak = tempfile::NamedTempFile::new().unwrap();
    let mut wrapped = Command::new(super::lsfsim_bin());
    wrapped
        .arg("__peak_rss")
        .arg(peak.path())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    let start = Instant::now();
    let output = super::run_bounded(&mut wrapped);
    let took = start.elapsed();
    let kb = std::fs::read_to_string(peak.path())
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no peak RSS from {wrapped:?}: {}",
                super::text(&output.stderr)
            )
        });
    (output, kb, took)
}

/// A TCP proxy to `127.0.0.1:target` that sends at most `rate` bytes a second towards the
/// client (a slow link), and whose open connections [`Proxy::cut`] drops at once (a dropped
/// network) while new ones are still let through.
pub struct Proxy {
    pub port: u16,
    generation: Arc<AtomicU64>,
}

impl Proxy {
    pub fn start(target: u16, rate: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let generation = Arc::new(AtomicU64::new(0));
        let g = generation.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let born = g.load(Ordering::SeqCst);
                for (from, to, limit) in [
                    (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        None,
                    ),
                    (server, client, Some(rate)),
                ] {
                    let g = g.clone();
                    std::thread::spawn(move || pump(from, to, limit, &g, born));
                }
            }
        });
        Proxy { port, generation }
    }

    /// Drops every connection open now.
    pub fn cut(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` (at most `rate` bytes a second) until either end closes or the
/// proxy's generation moves on from `born`.
fn pump(mut from: TcpStream, mut to: TcpStream, rate: Option<u64>, g: &AtomicU64, born: u64) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if g.load(Ordering::SeqCst) != born {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                if let Some(rate) = rate {
                    std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// The stderr of an output, for messages.
pub fn err_of(out: &Output) -> String {
    text(&out.stderr)
}
