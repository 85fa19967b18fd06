//! A private sshd on 127.0.0.1 for the SSH tests, started once per test process as the current
//! user on a free port: no root, no package installs, no extra users. Its key logins set HOME
//! to a scratch "remote home" whose login profile is the only thing that puts the scheduler on
//! PATH or says where it is (the LSF simulator, OpenLava, or Slurm's config), as on a real
//! cluster. A watchdog stops it when the
//! test process ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::services;

/// Key login to the simulated cluster.
pub const HOST: &str = "bsweep-test";
/// The same server without a usable key: authentication fails the way a password/TOTP host
/// fails under BatchMode.
pub const NOKEY_HOST: &str = "bsweep-test-nokey";
/// Key login whose profile sources OpenLava's environment (when OpenLava is installed).
pub const OPENLAVA_HOST: &str = "bsweep-openlava";
/// Key login whose profile exports this machine's Slurm environment (`SLURM_CONF`).
pub const SLURM_HOST: &str = "bsweep-slurm";

pub struct Sshd {
    pub dir: PathBuf,
    /// The client ssh config naming the hosts above.
    pub config: PathBuf,
    /// HOME of logins to [`HOST`]: `lsfbin/` holds the simulator, on PATH in its profile.
    pub home: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().ok();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|u| !u.is_empty())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into())
}

/// The test sshd, started on first use; `None` (with a notice) when this machine has no sshd.
pub fn sshd() -> Option<&'static Sshd> {
    static SSHD: OnceLock<Result<Sshd, String>> = OnceLock::new();
    let sshd = match services::which(&["/usr/sbin/sshd", "sshd"]) {
        Some(p) => p,
        None => {
            services::missing(
                "sshd",
                "install OpenSSH's server, e.g. `sudo apt-get install openssh-server`; the tests run it themselves as you",
            );
            return None;
        }
    };
    match SSHD.get_or_init(|| start(&sshd)) {
        Ok(s) => Some(s),
        Err(e) => panic!("cannot start the test sshd ({}): {e}", sshd.display()),
    }
}

fn start(sshd: &Path) -> Result<Sshd, String> {
    let dir = std::env::temp_dir().join(format!("bsweep-sshd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let keygen = |name: &str| {
        run(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                .arg(dir.join(name)),
            "ssh-keygen",
        )
    };
    for k in ["host", "sim", "openlava", "slurm"] {
        keygen(k)?;
    }
    let user = current_user();
    let home = dir.join("home-sim");
    let openlava_home = dir.join("home-openlava");
    let slurm_home = dir.join("home-slurm");
    std::fs::create_dir_all(home.join("lsfbin")).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&openlava_home).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&slurm_home).map_err(|e| e.to_string())?;
    install_lsfsim(&home.join("lsfbin"))?;
    // Like many cluster profiles: a banner on stdout and a read from stdin. bsweep's round
    // trips must keep both away from their own stdin and stdout (scripts, tar archives).
    std::fs::write(
        home.join(".bash_profile"),
        format!(
            "export PATH={}/lsfbin:$PATH\necho \"Welcome to the bsweep test cluster\"\nread -r -t 1 _ || true\n",
            home.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let openlava = services::ci_fact("BSWEEP_OPENLAVA").unwrap_or_else(|| "/opt/openlava".into());
    std::fs::write(
        openlava_home.join(".bash_profile"),
        format!(
            "[ -f {o}/etc/openlava.sh ] && . {o}/etc/openlava.sh\necho \"Welcome to the OpenLava test cluster\"\n",
            o = openlava
        ),
    )
    .map_err(|e| e.to_string())?;
    // As on a Slurm cluster, only the login profile says where Slurm's config is.
    let slurm_conf = std::env::var("SLURM_CONF")
        .ok()
        .or_else(|| services::ci_facts("slurm").get("SLURM_CONF").cloned())
        .unwrap_or_else(|| "/etc/slurm/slurm.conf".into());
    std::fs::write(
        slurm_home.join(".bash_profile"),
        format!("export SLURM_CONF={slurm_conf}\necho \"Welcome to the Slurm test cluster\"\n"),
    )
    .map_err(|e| e.to_string())?;
    let pubkey =
        |k: &str| std::fs::read_to_string(dir.join(format!("{k}.pub"))).unwrap_or_default();
    std::fs::write(
        dir.join("authorized_keys"),
        format!(
            "environment=\"HOME={}\" {}environment=\"HOME={}\" {}environment=\"HOME={}\" {}",
            home.display(),
            pubkey("sim"),
            openlava_home.display(),
            pubkey("openlava"),
            slurm_home.display(),
            pubkey("slurm")
        ),
    )
    .map_err(|e| e.to_string())?;
    let port = free_port()?;
    let d = dir.display();
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nPermitUserEnvironment yes\nPermitRootLogin prohibit-password\n\
             PidFile {d}/sshd.pid\nStrictModes no\nMaxSessions 100\nMaxStartups 100:30:200\n\
             AllowUsers {user}\nPrintMotd no\nLogLevel ERROR\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let host = |alias: &str, key: &str| host_block(alias, port, &user, &dir, key);
    let config = dir.join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "{}{}{}{}",
            host(HOST, "sim"),
            host(NOKEY_HOST, "no-such-key"),
            host(OPENLAVA_HOST, "openlava"),
            host(SLURM_HOST, "slurm")
        ),
    )
    .map_err(|e| e.to_string())?;
    // sshd run by root wants its privilege-separation directory.
    if current_user() == "root" {
        let _ = std::fs::create_dir_all("/run/sshd");
    }
    run(
        Command::new(sshd)
            .arg("-t")
            .arg("-f")
            .arg(dir.join("sshd_config")),
        "sshd -t",
    )?;
    // sshd in the foreground under a watchdog that stops it once this test process is gone.
    let script = format!(
        "{sshd} -D -f {d}/sshd_config -E {d}/sshd.log & s=$!; \
         while kill -0 {pid} 2>/dev/null && kill -0 $s 2>/dev/null; do sleep 1; done; kill $s 2>/dev/null",
        sshd = sshd.display(),
        pid = std::process::id()
    );
    use std::os::unix::process::CommandExt;
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("start sshd: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default();
            return Err(format!("nothing listens on 127.0.0.1:{port}: {log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Sshd {
        dir,
        config,
        home,
        port,
    })
}

/// The client config block of a key login (`key`) to the test sshd as `alias` through `port`.
fn host_block(alias: &str, port: u16, user: &str, dir: &Path, key: &str) -> String {
    let d = dir.display();
    format!(
        "Host {alias}\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n    IdentityFile {d}/{key}\n    \
         IdentitiesOnly yes\n    IdentityAgent none\n    UserKnownHostsFile {d}/known_hosts\n    \
         StrictHostKeyChecking accept-new\n    LogLevel ERROR\n\n"
    )
}

impl Sshd {
    /// A client config block naming `alias`: the key login of [`HOST`], through `port` (another
    /// port that forwards to this sshd, such as a throttling proxy).
    pub fn host_via(&self, alias: &str, port: u16) -> String {
        host_block(alias, port, &current_user(), &self.dir, "sim")
    }
}

/// The simulator with its bsub/bjobs/... links in `dir` (on PATH only for login shells there).
fn install_lsfsim(dir: &Path) -> Result<(), String> {
    let bin = super::lsfsim_bin();
    let dst = dir.join("lsfsim");
    std::fs::copy(&bin, &dst).map_err(|e| format!("copy {}: {e}", bin.display()))?;
    run(Command::new(&dst).arg("install").arg(dir), "lsfsim install")
}

/// One test's world on the test sshd: a local control directory (so each test has its own
/// master) and a remote scratch directory holding the simulated cluster's state.
pub struct SshEnv {
    pub sshd: &'static Sshd,
    pub local: tempfile::TempDir,
    /// Absolute remote scratch directory, under the remote home.
    pub remote: String,
    /// The test's `LSFSIM_DIR` (inside `remote`).
    pub lsf: String,
}

impl SshEnv {
    /// `None` (with a notice) when this machine has no sshd.
    pub fn new() -> Option<Self> {
        use std::sync::atomic::{AtomicU32, Ordering};
        let sshd = sshd()?;
        static N: AtomicU32 = AtomicU32::new(0);
        let remote = format!(
            "{}/t-{}",
            sshd.home.display(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        Some(Self {
            sshd,
            local: tempfile::tempdir().expect("temp dir"),
            lsf: format!("{remote}/lsf"),
            remote,
        })
    }

    /// Where this test's control sockets live.
    pub fn control_dir(&self) -> PathBuf {
        self.local.path().join("ssh")
    }

    /// Options for the test sshd; `init` points the simulator at this test's state, and chatters
    /// (on stdout, and reading stdin) like a `module load` would.
    pub fn opts(&self) -> bsweep::transport::ssh::SshOpts {
        bsweep::transport::ssh::SshOpts {
            init: Some(format!(
                "echo init line ran; read -r -t 1 _; export LSFSIM_DIR={}",
                self.lsf
            )),
            config_file: Some(self.sshd.config.clone()),
            ..Default::default()
        }
    }

    pub async fn connect(&self) -> bsweep::transport::ssh::SshTransport {
        bsweep::transport::ssh::SshTransport::connect(HOST, &self.control_dir(), self.opts())
            .await
            .expect("connect to the test sshd")
    }

    /// The shared connection of `dest` in this test's control directory.
    pub fn master(&self, dest: &str) -> bsweep::transport::ssh::Master {
        bsweep::transport::ssh::Master::of(dest, &self.control_dir(), Some(&self.sshd.config))
            .expect("ssh -G resolves the test hosts")
    }

    /// The pid of the master of `dest`, from `ssh -O check`.
    pub fn master_pid(&self, dest: &str) -> Option<i32> {
        let master = self.master(dest);
        let socket = master.socket();
        let out = Command::new("ssh")
            .args(["-F", "/dev/null", "-S"])
            .arg(socket)
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
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("master {pid} did not die");
    }
}

impl Drop for SshEnv {
    fn drop(&mut self) {
        for dest in [HOST, NOKEY_HOST, OPENLAVA_HOST, SLURM_HOST] {
            let _ = self.master(dest).close();
        }
        // The remote side is this machine, as this user.
        let _ = std::fs::remove_dir_all(&self.remote);
    }
}
