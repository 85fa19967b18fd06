//! `login`: open, check or close the shared SSH connection to a login node that asks for a
//! password and a one-time code; bsweep commands then reuse it. Opening needs a terminal (ssh
//! prompts there, and without one it would send empty answers that count as failed logins), and
//! a failed login is told in words, from ssh's own reason.

use std::io::{self, Read as _, Write as _};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use super::{AppError, Ctx};
use crate::transport::TransportError;
use crate::transport::ssh::{self, Master, SshOpts};

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(
        "`bsweep login {host}` needs a terminal to type the password and code in, and this \
         process has none (a script, a pipe or a background job); run it in a terminal window \
         (nothing was sent to {host})"
    )]
    NoTerminal { host: String },
    #[error("login to {host} failed: {}", .why.explain(host))]
    Failed { host: String, why: Failure },
    #[error("cannot run ssh")]
    Spawn(#[source] io::Error),
}

/// Why ssh did not open the connection, read from its exit and its stderr. `said` is ssh's own
/// line about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The host did not accept the answers (`Permission denied`).
    Refused {
        said: String,
    },
    /// The host name does not resolve.
    UnknownHost {
        said: String,
    },
    /// Nothing answered (refused, timed out, no route).
    Unreachable {
        said: String,
    },
    /// ssh refused the host's key: it changed, or it is unknown under strict checking.
    /// `remove` is the `ssh-keygen -R` command ssh suggests for a changed key.
    HostKey {
        said: String,
        remove: Option<String>,
    },
    /// The host closed the connection before any login.
    Closed {
        said: String,
    },
    /// ssh was stopped by a signal (Ctrl-C at the prompt).
    Interrupted,
    /// ssh ended well, but no connection is open.
    NoConnection,
    Other {
        code: i32,
        said: String,
    },
}

const UNREACHABLE: &[&str] = &[
    "Connection refused",
    "timed out",
    "No route to host",
    "Network is unreachable",
];
const CLOSED: &[&str] = &[
    "Connection closed by",
    "Connection reset by",
    "kex_exchange_identification",
];

impl Failure {
    /// Reads how ssh ended: its exit code (`None`: killed by a signal) and its stderr.
    pub fn of(code: Option<i32>, stderr: &str) -> Self {
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let find = |pats: &[&str]| {
            lines
                .iter()
                .find(|l| pats.iter().any(|p| l.contains(p)))
                .map(|l| l.to_string())
        };
        let Some(code) = code else {
            return Failure::Interrupted;
        };
        if code == 0 {
            return Failure::NoConnection;
        }
        if let Some(said) = find(&["Host key verification failed"]) {
            let remove = lines
                .iter()
                .find(|l| l.starts_with("ssh-keygen ") && l.contains(" -R "))
                .map(|l| l.to_string());
            return Failure::HostKey { said, remove };
        }
        if let Some(said) = find(&["Permission denied", "Too many authentication failures"]) {
            return Failure::Refused { said };
        }
        if let Some(said) = find(&["Could not resolve hostname"]) {
            return Failure::UnknownHost { said };
        }
        if let Some(said) = find(UNREACHABLE) {
            return Failure::Unreachable { said };
        }
        if let Some(said) = find(CLOSED) {
            return Failure::Closed { said };
        }
        Failure::Other {
            code,
            said: lines.last().map(|l| l.to_string()).unwrap_or_default(),
        }
    }

    /// What happened and what to do, for the login of `host`.
    pub fn explain(&self, host: &str) -> String {
        let again = format!("run `bsweep login {host}` again");
        match self {
            Failure::Refused { said } => format!(
                "{host} did not accept the password and code (ssh: \"{said}\"); check them and \
                 {again} (each failed try may count against your account)"
            ),
            Failure::UnknownHost { said } => format!(
                "ssh does not know that host (ssh: \"{said}\"); check the name (user@host, or \
                 an alias of ~/.ssh/config)"
            ),
            Failure::Unreachable { said } => format!(
                "{host} cannot be reached (ssh: \"{said}\"); check the network (a VPN?), then \
                 {again}"
            ),
            Failure::HostKey {
                said,
                remove: Some(cmd),
            } => format!(
                "the host key of {host} is not the one ssh knows: it was changed, or someone is \
                 in between (ssh: \"{said}\"); if the site announced a new key, remove the old \
                 one with `{cmd}` and {again}"
            ),
            Failure::HostKey { said, remove: None } => format!(
                "ssh does not know the host key of {host} and your ssh config wants it known \
                 (ssh: \"{said}\"); add it to your known_hosts file, then {again}"
            ),
            Failure::Closed { said } => format!(
                "{host} closed the connection before the login (ssh: \"{said}\"; a site may do \
                 that after too many attempts); wait a little, then {again}"
            ),
            Failure::Interrupted => {
                format!("ssh was stopped before the login completed; {again}")
            }
            Failure::NoConnection => {
                format!("ssh ended without leaving a connection open; {again}")
            }
            Failure::Other { code, said } if said.is_empty() => {
                format!("ssh exited {code} and said nothing; {again}")
            }
            Failure::Other { code, said } => format!("ssh exited {code} (\"{said}\"); {again}"),
        }
    }
}

/// An open connection, for the user to see and share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// What ssh resolved the host to: `user@host:port`.
    pub resolved: String,
    pub socket: std::path::PathBuf,
    /// The user's own ssh over it: `ssh -S SOCKET HOST`.
    pub share: String,
    /// A `~/.ssh/config` entry that points plain `ssh HOST` at it.
    pub snippet: String,
    pub life: Life,
}

/// How long a connection lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Opened by `bsweep login`: it closes after `persist` with nothing using it. `age` is
    /// how long ago it was opened, `left` the time left if nothing uses it from now on.
    Login {
        persist: Duration,
        age: Option<Duration>,
        left: Duration,
    },
    /// Opened by bsweep itself with the user's key, for `persist` unused; bsweep opens a new one
    /// when needed.
    Key { persist: Duration },
}

/// What `login` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// A live connection was already open.
    AlreadyOpen(Connection),
    Opened(Connection),
    Closed,
    /// `--close` found none.
    NoneOpen,
}

/// Opens (or with `check`, only reports; with `close`, ends) the connection to `host`.
/// `announce` is called with what ssh resolved the host to, right before ssh prompts.
pub fn login(
    ctx: &Ctx,
    host: &str,
    check: bool,
    close: bool,
    announce: impl FnOnce(&str),
) -> Result<Login, AppError> {
    let master = Master::of(host, &ctx.home.ssh_dir(), ctx.home.ssh_config())?;
    if close {
        return Ok(match master.close()? {
            true => Login::Closed,
            false => Login::NoneOpen,
        });
    }
    if master.check() {
        return Ok(Login::AlreadyOpen(connection(&master, SystemTime::now())));
    }
    if check {
        return Err(TransportError::NeedsLogin {
            host: host.to_string(),
        }
        .into());
    }
    // Before ssh runs: without a terminal it would answer the prompt with empty strings.
    if !can_prompt() {
        return Err(LoginError::NoTerminal {
            host: host.to_string(),
        }
        .into());
    }
    announce(&master.resolved().to_string());
    let (status, stderr) = run_login(&master)?;
    if status.success() && master.check() {
        let method = ssh::authenticated_with(&stderr);
        master.remember_login(ssh::is_person_method(method))?;
        return Ok(Login::Opened(connection(&master, SystemTime::now())));
    }
    Err(LoginError::Failed {
        host: host.to_string(),
        why: Failure::of(status.code(), &stderr),
    }
    .into())
}

/// Whether ssh can ask the user: a terminal it can open, or an askpass program the user
/// forces (`SSH_ASKPASS_REQUIRE=force`).
fn can_prompt() -> bool {
    let askpass = std::env::var_os("SSH_ASKPASS_REQUIRE").is_some_and(|v| v == "force")
        && std::env::var_os("SSH_ASKPASS").is_some_and(|v| !v.is_empty());
    askpass
        || std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_ok()
}

/// Runs the login ssh in the user's terminal (it prompts on the terminal itself) and passes
/// its stderr on as it comes, keeping a copy to tell why it failed. The line saying which
/// method let the user in is bsweep's to read, not shown.
fn run_login(master: &Master) -> Result<(ExitStatus, String), AppError> {
    let mut child = master
        .login_command()?
        .stderr(Stdio::piped())
        .spawn()
        .map_err(LoginError::Spawn)?;
    let mut kept = Vec::new();
    if let Some(mut err) = child.stderr.take() {
        let mut buf = [0u8; 4096];
        let mut line = Vec::new();
        // The background master's stderr is /dev/null once it forks, so this ends with ssh.
        loop {
            let n = match err.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            kept.extend_from_slice(&buf[..n]);
            line.extend_from_slice(&buf[..n]);
            // Whole lines, so the method line can be left out; a prompt never comes this way.
            while let Some(i) = line.iter().position(|&b| b == b'\n') {
                let l: Vec<u8> = line.drain(..=i).collect();
                if ssh::authenticated_with(&String::from_utf8_lossy(&l)).is_none() {
                    let _ = io::stderr().write_all(&l);
                }
            }
        }
        let _ = io::stderr().write_all(&line);
    }
    let status = child.wait().map_err(LoginError::Spawn)?;
    Ok((status, String::from_utf8_lossy(&kept).into_owned()))
}

/// The open connection of `master` as the user sees it, at `now`.
fn connection(master: &Master, now: SystemTime) -> Connection {
    let life = match master.login_record() {
        Some(r) => life_of(&r, now),
        None => Life::Key {
            persist: SshOpts::default().control_persist,
        },
    };
    Connection {
        resolved: master.resolved().to_string(),
        socket: master.socket().to_path_buf(),
        share: master.share_command(),
        snippet: master.config_snippet(),
        life,
    }
}

/// The life of a connection `bsweep login` opened: its age and the time left at `now` if
/// nothing uses it (ssh's `ControlPersist` counts from the last use).
fn life_of(r: &ssh::LoginRecord, now: SystemTime) -> Life {
    let since = |t: SystemTime| now.duration_since(t).unwrap_or_default();
    let opened = r
        .opened
        .map(|t| SystemTime::UNIX_EPOCH + Duration::from_secs(t));
    let last = r.last_used.or(opened);
    Life::Login {
        persist: r.persist,
        age: opened.map(since),
        left: r
            .persist
            .saturating_sub(last.map(since).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real stderr of OpenSSH 9.2p1 (`-o LogLevel=VERBOSE`, as `bsweep login` runs it), with the
    // exit code it gave: against the 2FA login node here, and against what failed on purpose.
    const REFUSED: &str = "bsweeptotp@127.0.0.1: Permission denied (keyboard-interactive).\r\n";
    const CONNECTION_REFUSED: &str =
        "ssh: connect to host 127.0.0.1 port 1: Connection refused\r\n";
    const UNKNOWN: &str =
        "ssh: Could not resolve hostname nosuchhost.invalid: Name or service not known\r\n";
    const TIMEOUT: &str = "Connection timed out during banner exchange\r\nConnection to 127.0.0.1 port 2298 timed out\r\n";
    const CLOSED_EARLY: &str = "kex_exchange_identification: Connection closed by remote host\r\nConnection closed by 127.0.0.1 port 2299\r\n";
    const KEY_CHANGED: &str = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r
Someone could be eavesdropping on you right now (man-in-the-middle attack)!\r
It is also possible that a host key has just been changed.\r
The fingerprint for the ED25519 key sent by the remote host is
SHA256:qiQ3Czx45sHplbCndWPHZQuxJjalw68C+3fFO7Cc+U8.\r
Please contact your system administrator.\r
Add correct host key in /tmp/w2x/kh to get rid of this message.\r
Offending ED25519 key in /tmp/w2x/kh:1\r
  remove with:\r
  ssh-keygen -f \"/tmp/w2x/kh\" -R \"[127.0.0.1]:2223\"\r
Host key for [127.0.0.1]:2223 has changed and you have requested strict checking.\r
Host key verification failed.\r
";
    const KEY_UNKNOWN: &str = "No ED25519 host key is known for [127.0.0.1]:2223 and you have requested strict checking.\r\nHost key verification failed.\r\n";

    #[test]
    fn ssh_failures_are_told_in_words() {
        let f = Failure::of(Some(255), REFUSED);
        assert_eq!(
            f,
            Failure::Refused {
                said: "bsweeptotp@127.0.0.1: Permission denied (keyboard-interactive).".into()
            }
        );
        let text = f.explain("nju");
        assert!(
            text.contains("did not accept the password and code"),
            "{text}"
        );
        assert!(text.contains("`bsweep login nju` again"), "{text}");
        assert!(matches!(
            Failure::of(Some(255), CONNECTION_REFUSED),
            Failure::Unreachable { .. }
        ));
        assert!(matches!(
            Failure::of(Some(255), TIMEOUT),
            Failure::Unreachable { said } if said == "Connection timed out during banner exchange"
        ));
        assert!(matches!(
            Failure::of(Some(255), UNKNOWN),
            Failure::UnknownHost { .. }
        ));
        assert!(matches!(
            Failure::of(Some(255), CLOSED_EARLY),
            Failure::Closed { .. }
        ));
        let changed = Failure::of(Some(255), KEY_CHANGED);
        assert_eq!(
            changed,
            Failure::HostKey {
                said: "Host key verification failed.".into(),
                remove: Some("ssh-keygen -f \"/tmp/w2x/kh\" -R \"[127.0.0.1]:2223\"".into()),
            }
        );
        assert!(changed.explain("nju").contains("`ssh-keygen -f"));
        assert!(matches!(
            Failure::of(Some(255), KEY_UNKNOWN),
            Failure::HostKey { remove: None, .. }
        ));
        assert_eq!(Failure::of(None, ""), Failure::Interrupted);
        assert_eq!(Failure::of(Some(0), ""), Failure::NoConnection);
        let other = Failure::of(Some(1), "something new\n");
        assert_eq!(
            other.explain("h"),
            "ssh exited 1 (\"something new\"); run `bsweep login h` again"
        );
        assert!(
            Failure::of(Some(3), "")
                .explain("h")
                .contains("said nothing")
        );
    }

    #[test]
    fn time_left_counts_from_the_last_use() {
        let opened = 1_800_000_000;
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let r = ssh::LoginRecord {
            opened: Some(opened),
            persist: Duration::from_secs(8 * 3600),
            last_used: Some(at(opened + 3600)),
        };
        assert_eq!(
            life_of(&r, at(opened + 2 * 3600)),
            Life::Login {
                persist: Duration::from_secs(8 * 3600),
                age: Some(Duration::from_secs(2 * 3600)),
                left: Duration::from_secs(7 * 3600),
            }
        );
        // Long unused: nothing left (ssh closes it at any moment, or already did).
        assert!(matches!(
            life_of(&r, at(opened + 10 * 3600)),
            Life::Login { left, .. } if left.is_zero()
        ));
        // Never used since the login: counted from the login.
        let fresh = ssh::LoginRecord {
            last_used: None,
            ..r
        };
        assert!(matches!(
            life_of(&fresh, at(opened + 60)),
            Life::Login { left, .. } if left == Duration::from_secs(8 * 3600 - 60)
        ));
    }
}
