//! `bsweep login` as users live it, on the 2FA login node CI runs (`.ci/totp-sshd-setup`: an
//! sshd on loopback that wants `<password> <TOTP code>` at one `Password:` prompt and logs every
//! authentication attempt): the answer typed in a pseudo-terminal, a wrong code, no terminal at
//! all, another spelling of the host, and a follower whose connection dies (a real OpenLava
//! sweep through the login), counting the server's attempts each time.

use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::harness::services::{ci_fact, missing};
use crate::harness::{Env, assert_ok, text, wait_for};
use crate::need;

/// The 2FA login node, as `.ci/totp-sshd-setup` describes it in `totp.env`.
struct Totp {
    config: PathBuf,
    host: String,
    user: String,
    password: String,
    secret: String,
    /// One line per authentication attempt.
    log: PathBuf,
    /// sshd's own log: a connection that never authenticated leaves a `[preauth]` line.
    sshd_log: PathBuf,
    /// OpenLava, whose environment the user's login profile reads.
    openlava: String,
}

impl Totp {
    fn find() -> Option<Self> {
        let how = "run .ci/totp-sshd-setup (it writes /tmp/bsweep-ci/totp.env)";
        let fact = |k: &str| ci_fact(k);
        let found = (|| {
            let t = Totp {
                config: fact("BSWEEP_TOTP_CONFIG")?.into(),
                host: fact("BSWEEP_TOTP_HOST")?,
                user: fact("BSWEEP_TOTP_USER")?,
                password: fact("BSWEEP_TOTP_PASSWORD")?,
                secret: fact("BSWEEP_TOTP_SECRET")?,
                log: fact("BSWEEP_TOTP_LOG")?.into(),
                sshd_log: Path::new(&fact("BSWEEP_TOTP_DIR")?).join("sshd.log"),
                openlava: fact("BSWEEP_OPENLAVA").unwrap_or_else(|| "/opt/openlava".into()),
            };
            let port: u16 = fact("BSWEEP_TOTP_PORT")?.parse().ok()?;
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            Command::new("oathtool").arg("--version").output().ok()?;
            Some(t)
        })();
        if found.is_none() {
            missing(
                "the 2FA login node (sshd on 127.0.0.1:2223 and oathtool)",
                how,
            );
        }
        found
    }

    /// The TOTP code of the 30 s window `ago` seconds back.
    fn code_at(&self, ago: u64) -> String {
        let out = Command::new("oathtool")
            .args(["--totp", "-b", "-N"])
            .arg(format!("now - {ago} seconds"))
            .arg(&self.secret)
            .output()
            .expect("oathtool runs");
        assert!(out.status.success(), "oathtool: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }

    /// What the user types: the password, a space, the current code.
    fn answer(&self) -> String {
        format!("{} {}", self.password, self.code_at(0))
    }

    /// A six-digit code that is neither the current nor the previous one (both are accepted).
    fn wrong_answer(&self) -> String {
        let taken = [self.code_at(0), self.code_at(30), self.code_at(60)];
        let code = (0..)
            .map(|n: u32| format!("{:06}", (123_456 + n * 7919) % 1_000_000))
            .find(|c| !taken.contains(c))
            .expect("a free code");
        format!("{} {code}", self.password)
    }

    /// The attempt lines of the server's log so far.
    fn attempts(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Connections that ended without a login, so far (a batch-mode try leaves one).
    fn unauthenticated(&self) -> usize {
        std::fs::read_to_string(&self.sshd_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("[preauth]"))
            .count()
    }
}

/// One test at a time on the login node: each counts the attempts in its log.
fn node_lock() -> MutexGuard<'static, ()> {
    static NODE: Mutex<()> = Mutex::new(());
    NODE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A test's world: a private bsweep home, ssh configured for the login node.
struct World {
    totp: Totp,
    env: Env,
    /// Sweeps whose files are under the login user's home, removed at the end.
    remote: std::cell::RefCell<Vec<String>>,
    _node: MutexGuard<'static, ()>,
}

impl World {
    fn new() -> Option<Self> {
        let totp = Totp::find()?;
        Some(Self {
            _node: node_lock(),
            totp,
            env: Env::new(),
            remote: Default::default(),
        })
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut all = vec!["--ssh-config", self.totp.config.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut c = self.env.cmd(&all);
        // No way to answer but the terminal a test gives.
        c.env_remove("SSH_ASKPASS")
            .env_remove("SSH_ASKPASS_REQUIRE");
        c
    }

    /// Runs bsweep with no controlling terminal at all (a script, cron, a background job).
    fn run_detached(&self, args: &[&str]) -> Output {
        let mut c = self.cmd(args);
        no_terminal(&mut c);
        c.stdin(Stdio::null()).output().expect("run bsweep")
    }

    /// `bsweep login HOST` in a pseudo-terminal, typing `answers` at each prompt in turn.
    fn login(&self, host: &str, answers: &[String]) -> (Option<i32>, String) {
        let mut pty = Pty::spawn(self.cmd(&["login", host]));
        for (n, a) in answers.iter().enumerate() {
            pty.expect_count("Password:", n + 1, Duration::from_secs(20));
            pty.send(a);
        }
        pty.finish(Duration::from_secs(30))
    }

    /// Logs in with the right answer, checking that it took exactly one attempt.
    fn login_ok(&self, host: &str) -> String {
        let before = self.totp.attempts().len();
        let (code, out) = self.login(host, &[self.totp.answer()]);
        assert_eq!(code, Some(0), "{out}");
        let added = &self.totp.attempts()[before..];
        assert_eq!(added.len(), 1, "{added:?}");
        assert!(added[0].ends_with(" ok"), "{added:?}");
        out
    }

    fn status_json(&self, sweep: &str) -> serde_json::Value {
        let out = self.cmd(&["status", sweep, "--json"]).output().unwrap();
        assert_ok(&out);
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }
}

/// A test leaves no 8-hour master and no remote files behind, failed or not.
impl Drop for World {
    fn drop(&mut self) {
        let dir = self.env.home().join("ssh");
        let master =
            bsweep::transport::ssh::Master::of(&self.totp.host, &dir, Some(&self.totp.config));
        if let Ok(m) = master {
            let _ = m.close();
        }
        let out = Command::new("getent")
            .args(["passwd", &self.totp.user])
            .output();
        let passwd = out.map(|o| text(&o.stdout)).unwrap_or_default();
        if let Some(home) = passwd.trim().split(':').nth(5) {
            for name in self.remote.borrow().iter() {
                let _ = std::fs::remove_dir_all(Path::new(home).join("bsweep-tests").join(name));
            }
        }
    }
}

/// The child gets no controlling terminal: a new session, none opened.
fn no_terminal(c: &mut Command) {
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        c.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A child on a pseudo-terminal of its own (its controlling terminal), everything it prints
/// collected.
struct Pty {
    master: std::fs::File,
    child: Child,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    fn spawn(mut cmd: Command) -> Self {
        let (mut m, mut s) = (-1, -1);
        // SAFETY: openpty writes two descriptors into the given integers; no name, default
        // terminal settings and size.
        let rc = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here alone.
        let (master, slave) =
            unsafe { (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(s)) };
        cmd.stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        // SAFETY: setsid and ioctl are async-signal-safe; stdin is the terminal by then.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn in a pty");
        drop(cmd); // the parent's copies of the terminal's slave side
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once nothing holds the terminal any more.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self {
            master,
            child,
            seen,
        }
    }

    fn text(&self) -> String {
        text(&self.seen.lock().unwrap())
    }

    fn expect_count(&self, what: &str, n: usize, timeout: Duration) {
        let start = Instant::now();
        while self.text().matches(what).count() < n {
            assert!(
                start.elapsed() < timeout,
                "no {what:?} (#{n}) within {timeout:?}; the terminal shows:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, line: &str) {
        self.master.write_all(line.as_bytes()).unwrap();
        self.master.write_all(b"\r").unwrap();
    }

    /// Waits for the child to end; its exit code and what the terminal showed.
    fn finish(mut self, timeout: Duration) -> (Option<i32>, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                panic!("still running after {timeout:?}:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // What was printed last is read by the thread a moment later.
        std::thread::sleep(Duration::from_millis(200));
        (status.code(), self.text())
    }
}

/// The value after `label` on the line that has it.
fn line_after<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.split_once(label).map(|(_, v)| v.trim()))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{out}"))
}

#[test]
fn login_with_password_and_code_opens_a_connection_the_users_ssh_can_share() {
    let w = need!(World::new());
    let host = w.totp.host.clone();
    let out = w.login_ok(&host);
    assert!(
        out.contains(&format!(
            "connected to {host} ({}@127.0.0.1:2223)",
            w.totp.user
        )),
        "{out}"
    );
    assert!(
        out.contains("closes after 8 h with nothing using it"),
        "{out}"
    );
    let socket = line_after(&out, "socket:").to_string();
    assert!(out.contains(&format!("ControlPath {socket}")), "{out}");
    let attempts = w.totp.attempts().len();

    // The user's own ssh, through the line bsweep printed: no password, no code, no attempt.
    let share = line_after(&out, "no new password or code:");
    let mut words = shlex::split(share).expect("a shell line");
    assert_eq!(words[0], "ssh");
    words.splice(1..1, ["-o".to_string(), "BatchMode=yes".to_string()]);
    words.push("echo shared as $USER".into());
    let mut ssh = Command::new(&words[0]);
    ssh.args(&words[1..]).stdin(Stdio::null());
    no_terminal(&mut ssh);
    let shared = ssh.output().unwrap();
    assert_ok(&shared);
    assert_eq!(
        text(&shared.stdout).trim(),
        format!("shared as {}", w.totp.user)
    );

    // The time left, without a terminal (it asks nothing).
    let check = w.run_detached(&["login", &host, "--check"]);
    assert_ok(&check);
    let said = text(&check.stdout);
    assert!(said.contains("is open, opened "), "{said}");
    assert!(said.contains("left if nothing uses it"), "{said}");
    assert!(said.contains(&socket), "{said}");

    let close = w.run_detached(&["login", &host, "--close"]);
    assert_ok(&close);
    let check = w.run_detached(&["login", &host, "--check"]);
    assert_eq!(check.status.code(), Some(5), "{}", text(&check.stderr));
    assert!(text(&check.stderr).contains(&format!("run `bsweep login {host}`")));
    assert_eq!(w.totp.attempts().len(), attempts, "nothing but the login");
}

#[test]
fn a_wrong_code_then_the_right_one_logs_in_and_wrong_ones_only_fail_in_words() {
    let w = need!(World::new());
    let host = w.totp.host.clone();
    let before = w.totp.attempts().len();
    let (code, out) = w.login(&host, &[w.totp.wrong_answer(), w.totp.answer()]);
    assert_eq!(code, Some(0), "{out}");
    let added = w.totp.attempts()[before..].to_vec();
    assert_eq!(added.len(), 2, "{added:?}");
    assert!(added[0].ends_with(" fail bad-code"), "{added:?}");
    assert!(added[1].ends_with(" ok"), "{added:?}");
    assert_ok(&w.run_detached(&["login", &host, "--close"]));

    // ssh asks three times, then gives up: said in words, exit 5.
    let before = w.totp.attempts().len();
    let wrong = vec![w.totp.wrong_answer(); 3];
    let (code, out) = w.login(&host, &wrong);
    assert_eq!(code, Some(5), "{out}");
    assert!(
        out.contains(&format!(
            "login to {host} failed: {host} did not accept the password and code"
        )),
        "{out}"
    );
    assert!(
        out.contains("Permission denied (keyboard-interactive)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("run `bsweep login {host}` again")),
        "{out}"
    );
    assert!(!out.contains("Some("), "no debug formatting: {out}");
    assert_eq!(w.totp.attempts().len() - before, 3);
}

#[test]
fn without_a_terminal_login_is_refused_before_any_attempt() {
    let w = need!(World::new());
    let host = w.totp.host.clone();
    let (attempts, unauthenticated) = (w.totp.attempts().len(), w.totp.unauthenticated());
    let start = Instant::now();
    let out = w.run_detached(&["login", &host]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(start.elapsed() < Duration::from_secs(5));
    let said = text(&out.stderr);
    assert!(said.contains("needs a terminal"), "{said}");
    assert!(
        said.contains(&format!("nothing was sent to {host}")),
        "{said}"
    );
    // Give sshd a moment to log anything that did reach it.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(w.totp.attempts().len(), attempts, "no attempt at all");
    assert_eq!(w.totp.unauthenticated(), unauthenticated, "no connection");
}

/// A sweep file for the login node's OpenLava, two jobs at a time; its files under the user's
/// home there.
fn sweep_file(w: &World, name: &str, host: &str, points: usize, command: &str) -> PathBuf {
    w.remote.borrow_mut().push(name.to_string());
    w.env.sweep(
        &format!("{name}.toml"),
        &format!(
            "name = \"{name}\"\nbackend = \"lsf\"\ncommand = '''{command}'''\n\
             [grid]\ni = {{ start = 0, stop = {points} }}\n\
             [lsf]\npoll_min = 0.5\npoll_max = 2\nsettle = 2\nmax_in_flight = 2\n\
             [collect]\nstdout_kv = true\n\
             [cluster]\nhost = \"{host}\"\nremote_dir = \"~/bsweep-tests/{name}\"\n"
        ),
    )
}

/// A sweep name no other run uses (its files live in the shared remote home).
fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() % 100_000);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{t}-{n}", std::process::id())
}

#[test]
fn user_at_alias_reuses_a_login_made_as_the_alias() {
    let w = need!(World::new());
    let alias = w.totp.host.clone();
    w.login_ok(&alias);
    let attempts = w.totp.attempts().len();
    let spelled = format!("{}@{alias}", w.totp.user);
    let check = w.run_detached(&["login", &spelled, "--check"]);
    assert_ok(&check);
    assert!(
        text(&check.stdout).contains("is open"),
        "{}",
        text(&check.stdout)
    );

    // A sweep naming the host the other way goes through the same connection: doctor reaches
    // OpenLava there (and names it as lsid does, without its build date).
    let name = unique("alias");
    let file = sweep_file(&w, &name, &spelled, 1, "echo v={i}");
    let out = w.run_detached(&["doctor", file.to_str().unwrap()]);
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(said.contains(&format!("connection to {spelled}")), "{said}");
    let lsf = said
        .lines()
        .find(|l| l.contains("LSF"))
        .unwrap_or_else(|| panic!("no LSF line:\n{said}"));
    assert!(lsf.contains("OpenLava 4.0dev4;"), "{lsf}");
    assert!(!lsf.contains("Dec") && !lsf.contains(" ;"), "{lsf}");
    assert_eq!(w.totp.attempts().len(), attempts, "no second login");
    assert_ok(&w.run_detached(&["login", &alias, "--close"]));
}

/// The pid of the master on `socket`, from `ssh -O check`.
fn master_pid(socket: &str) -> Option<i32> {
    let out = Command::new("ssh")
        .args(["-F", "/dev/null", "-S", socket, "-O", "check", "x"])
        .output()
        .ok()?;
    let said = text(&out.stderr);
    let start = said.find("pid=")? + 4;
    said[start..].split(')').next()?.parse().ok()
}

/// Job names OpenLava lists for the login user (`bjobs -a -w`), as root here.
fn openlava_job_names(w: &World) -> Vec<String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            ". {}/etc/openlava.sh && bjobs -a -w -u {}",
            w.totp.openlava, w.totp.user
        ))
        .output()
        .unwrap();
    // JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME SUBMIT_TIME (3 words)
    text(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().rev().nth(3).map(String::from))
        .collect()
}

#[test]
fn a_follower_waits_for_a_new_login_without_knocking_then_finishes() {
    let w = need!(World::new());
    let host = w.totp.host.clone();
    let out = w.login_ok(&host);
    let socket = line_after(&out, "socket:").to_string();
    let name = unique("drop");
    let points = 6;
    let file = sweep_file(&w, &name, &host, points, "sleep 2; echo v={i}");
    let mut launch = w.cmd(&["launch", file.to_str().unwrap()]);
    no_terminal(&mut launch);
    let follower = launch
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Until `launch` has recorded the sweep, there is none to ask about.
    let submitted = |w: &World| {
        let out = w.cmd(&["status", &name, "--json"]).output().unwrap();
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let left = s["counts"]["unsubmitted"].as_u64().unwrap_or(points as u64);
        points as u64 - left
    };
    wait_for("a first submission", Duration::from_secs(60), || {
        submitted(&w) > 0
    });

    // The connection dies the hard way (the laptop slept, the site dropped it).
    let pid = master_pid(&socket).expect("the login's master runs");
    assert!(
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    wait_for("the master to go", Duration::from_secs(10), || {
        master_pid(&socket).is_none()
    });
    let (attempts, unauthenticated) = (w.totp.attempts().len(), w.totp.unauthenticated());
    // Many of the follower's cycles (poll_min 0.5 s) pass meanwhile.
    std::thread::sleep(Duration::from_secs(8));
    let mut follower = follower;
    assert!(follower.try_wait().unwrap().is_none(), "the follower waits");
    let knocked = w.totp.attempts()[attempts..].to_vec();
    // The issue allows one; bsweep knows the host needs a person and makes none.
    assert!(knocked.is_empty(), "attempts while waiting: {knocked:?}");
    assert_eq!(
        w.totp.unauthenticated(),
        unauthenticated,
        "no batch-mode try either"
    );

    w.login_ok(&host);
    let start = Instant::now();
    let out = loop {
        if follower.try_wait().unwrap().is_some() {
            break follower.wait_with_output().unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "the sweep did not end"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_ok(&out);
    let said = text(&out.stderr);
    let asked: Vec<&str> = said
        .lines()
        .filter(|l| l.contains(&format!("run `bsweep login {host}`")))
        .collect();
    assert_eq!(asked.len(), 1, "said once:\n{said}");
    assert!(asked[0].contains("waits for it"), "{}", asked[0]);
    assert!(
        said.contains(&format!("connected to {host} again")),
        "{said}"
    );

    // One job per point: in bsweep's record and in OpenLava's.
    let s = w.status_json(&name);
    assert_eq!(s["counts"]["done"], points as u64, "{s}");
    let names: Vec<String> = s["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["attempts"], 1, "{p}");
            p["job_name"].as_str().unwrap().to_string()
        })
        .collect();
    let prefix = names[0].rsplitn(3, '-').nth(2).unwrap().to_string();
    let mut listed: Vec<String> = openlava_job_names(&w)
        .into_iter()
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .collect();
    listed.sort();
    let mut want = names.clone();
    want.sort();
    assert_eq!(listed, want, "OpenLava ran one job per point");

    // A finished sweep's status needs no connection: it says where its figures come from.
    assert_ok(&w.run_detached(&["login", &host, "--close"]));
    let st = w.run_detached(&["status", &name]);
    assert_ok(&st);
    let said = text(&st.stdout);
    assert!(said.contains(&format!("{points} done")), "{said}");
    assert!(said.contains("the cluster was not asked"), "{said}");
}

#[test]
fn a_host_that_needs_a_person_is_tried_once_in_batch_mode_then_never() {
    let w = need!(World::new());
    let host = w.totp.host.clone();
    let name = unique("fresh");
    let file = sweep_file(&w, &name, &host, 2, "echo v={i}");
    let file = file.to_str().unwrap();
    let (attempts, unauthenticated) = (w.totp.attempts().len(), w.totp.unauthenticated());
    // A home that never logged in: one batch-mode try (ssh sends no answer), refused.
    let start = Instant::now();
    let out = w.run_detached(&["launch", file]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(
        text(&out.stderr).contains(&format!("run `bsweep login {host}` in a terminal")),
        "{}",
        text(&out.stderr)
    );
    let list = w.run_detached(&["list"]);
    assert!(!text(&list.stdout).contains(&name), "nothing recorded");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(w.totp.attempts().len(), attempts, "no answer was sent");
    assert_eq!(w.totp.unauthenticated(), unauthenticated + 1);
    // From then on bsweep knows: no connection at all, whatever the command or spelling.
    for args in [
        vec!["doctor", file],
        vec!["launch", file],
        vec!["login", &host, "--check"],
    ] {
        let out = w.run_detached(&args);
        assert_eq!(
            out.status.code(),
            Some(5),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let spelled = format!("{}@{host}", w.totp.user);
    let other = sweep_file(&w, &format!("{name}b"), &spelled, 2, "echo v={i}");
    let out = w.run_detached(&["launch", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        w.totp.unauthenticated(),
        unauthenticated + 1,
        "no second try"
    );
    assert_eq!(w.totp.attempts().len(), attempts);
}
