//! The shared SSH connection (an OpenSSH ControlMaster) of one destination: what it is keyed on
//! (what `ssh -G` resolves), its control socket, the interactive ssh `bsweep login` runs, the
//! record of hosts that need a person to log in, checking and closing it. Starting one for a
//! key-based host is `start.rs`.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openssh::KnownHosts;

use super::check_dest;
use crate::shell;
use crate::transport::TransportError;

/// How long a master opened by `bsweep login` stays up with nothing using it: a working day
/// for one password and code. Every use starts the count again (ssh's `ControlPersist`).
pub const LOGIN_PERSIST: Duration = Duration::from_secs(8 * 3600);

/// The longest control directory whose sockets ssh can bind. macOS allows 104 bytes for a socket
/// path (with its NUL); openssh first binds `DIR/.ssh-connectionXXXXXX/master`, and ssh itself
/// binds `PATH.<16 random characters>` before linking PATH.
pub(super) const MAX_CONTROL_DIR: usize = 103 - 29 - 17;

/// Authentication methods that need a person at the keyboard.
pub(super) const PERSON_METHODS: &[&str] = &["keyboard-interactive", "password"];

/// A destination as ssh resolves it (`ssh -G`). Every spelling of one destination (`alias`,
/// `user@alias`, `user@hostname`) resolves the same, so they share one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub user: String,
    pub hostname: String,
    pub port: u16,
    /// `stricthostkeychecking` as configured, lowercased.
    strict: Option<String>,
}

impl Resolved {
    /// Reads `ssh -G` output; `None` when it lacks the user, host name or port.
    pub fn from_ssh_g(text: &str) -> Option<Self> {
        let (mut user, mut hostname, mut port, mut strict) = (None, None, None, None);
        for line in text.lines() {
            let Some((k, v)) = line.trim().split_once(' ') else {
                continue;
            };
            let v = v.trim();
            match k.to_ascii_lowercase().as_str() {
                "user" => user = Some(v.to_string()),
                "hostname" => hostname = Some(v.to_string()),
                "port" => port = v.parse().ok(),
                "stricthostkeychecking" => strict = Some(v.to_ascii_lowercase()),
                _ => {}
            }
        }
        Some(Self {
            user: user.filter(|u| !u.is_empty())?,
            hostname: hostname.filter(|h| !h.is_empty())?,
            port: port?,
            strict,
        })
    }

    /// The host-key checking for a master bsweep starts. openssh passes it on the command line,
    /// which would override the config file: reading it first keeps a stricter (or looser)
    /// choice the user made. ssh's default, `ask`, cannot prompt in batch mode: a new host is
    /// added (what answering "yes" does), a changed key still fails.
    pub(super) fn known_hosts(&self) -> KnownHosts {
        match self.strict.as_deref() {
            Some("true" | "yes") => KnownHosts::Strict,
            Some("false" | "no" | "off") => KnownHosts::Accept,
            _ => KnownHosts::Add,
        }
    }
}

/// `user@host:port`, the way the connection is keyed.
impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hostname.contains(':') {
            write!(f, "{}@[{}]:{}", self.user, self.hostname, self.port)
        } else {
            write!(f, "{}@{}:{}", self.user, self.hostname, self.port)
        }
    }
}

/// What bsweep knows of a host that needs a person to log in: the record `bsweep login`
/// writes next to the socket (or a failed batch login left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRecord {
    /// When `bsweep login` opened the connection (seconds since 1970); `None` when bsweep only
    /// learned that the host needs a person.
    pub opened: Option<u64>,
    /// How long the connection stays up unused.
    pub persist: Duration,
    /// The last time bsweep used the connection (each round trip touches the record).
    pub last_used: Option<SystemTime>,
}

impl LoginRecord {
    fn parse(text: &str) -> Self {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Self {
            opened: field("opened"),
            persist: field("persist").map_or(LOGIN_PERSIST, Duration::from_secs),
            last_used: None,
        }
    }
}

/// The shared connection of one destination in one control directory.
#[derive(Debug, Clone)]
pub struct Master {
    pub(super) dest: String,
    pub(super) resolved: Resolved,
    pub(super) socket: PathBuf,
    config_file: Option<PathBuf>,
}

impl Master {
    /// The connection of `dest` (a host, an alias, `user@host`) as ssh resolves it with
    /// `config_file` in place of `~/.ssh/config` when given. Runs `ssh -G` (nothing goes over
    /// the network); `control_dir` is not created.
    pub fn of(
        dest: &str,
        control_dir: &Path,
        config_file: Option<&Path>,
    ) -> Result<Self, TransportError> {
        check_dest(dest)?;
        let out = ssh_g(dest, config_file).output();
        Self::from_ssh_g(dest, control_dir, config_file, out)
    }

    /// [`Master::of`] without blocking the runtime.
    pub(super) async fn of_async(
        dest: &str,
        control_dir: &Path,
        config_file: Option<&Path>,
    ) -> Result<Self, TransportError> {
        check_dest(dest)?;
        let out = tokio::process::Command::from(ssh_g(dest, config_file))
            .kill_on_drop(true)
            .output()
            .await;
        Self::from_ssh_g(dest, control_dir, config_file, out)
    }

    fn from_ssh_g(
        dest: &str,
        control_dir: &Path,
        config_file: Option<&Path>,
        out: io::Result<Output>,
    ) -> Result<Self, TransportError> {
        let out = out.map_err(|source| TransportError::Ssh {
            place: dest.to_string(),
            source,
        })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let resolved = Resolved::from_ssh_g(&text).filter(|_| out.status.success());
        let Some(resolved) = resolved else {
            let said = String::from_utf8_lossy(&out.stderr);
            return Err(TransportError::Config {
                dest: dest.to_string(),
                said: match said.trim() {
                    "" => "`ssh -G` printed no user, host name and port".to_string(),
                    s => s
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .collect::<Vec<_>>()
                        .join("; "),
                },
            });
        };
        let dir = std::path::absolute(control_dir).map_err(|source| TransportError::LocalFile {
            path: control_dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            dest: dest.to_string(),
            socket: control_socket(&resolved, &dir),
            resolved,
            config_file: config_file.map(Path::to_path_buf),
        })
    }

    /// The destination as the user wrote it.
    pub fn dest(&self) -> &str {
        &self.dest
    }

    pub fn resolved(&self) -> &Resolved {
        &self.resolved
    }

    /// The control socket: the user's own ssh joins the connection with `ssh -S SOCKET HOST`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn record_path(&self) -> PathBuf {
        self.socket.with_extension("login")
    }

    /// The command that runs the user's own ssh over this connection: no new password or code.
    pub fn share_command(&self) -> String {
        let mut c = String::from("ssh");
        if let Some(cfg) = &self.config_file {
            c.push_str(&format!(" -F {}", shell::quote(&cfg.to_string_lossy())));
        }
        format!(
            "{c} -S {} {}",
            shell::quote(&self.socket.to_string_lossy()),
            shell::quote(&self.dest)
        )
    }

    /// A `~/.ssh/config` entry that makes every plain `ssh HOST` use this connection while it
    /// is up (and log in as usual when it is not: `ControlMaster` stays `no`).
    pub fn config_snippet(&self) -> String {
        format!(
            "Host {}\n    ControlPath {}\n",
            host_pattern(&self.dest),
            self.socket.display()
        )
    }

    /// Whether a live master listens on the socket (`ssh -O check`, nothing over the network).
    pub fn check(&self) -> bool {
        self.socket.exists()
            && control_command(&self.socket, "check")
                .status()
                .is_ok_and(|s| s.success())
    }

    pub(super) async fn alive(&self) -> Result<bool, TransportError> {
        // No socket file, no master: spares a process on every check while a login is awaited.
        if !self.socket.exists() {
            return Ok(false);
        }
        master_alive(&self.socket, &self.dest).await
    }

    /// Tells the master to exit. `Ok(false)`: there was none. The record of a host that needs a
    /// person stays: the next connection needs one too.
    pub fn close(&self) -> Result<bool, TransportError> {
        if !self.socket.exists() {
            return Ok(false);
        }
        let st = control_command(&self.socket, "exit")
            .status()
            .map_err(|source| TransportError::Ssh {
                place: self.dest.clone(),
                source,
            })?;
        if st.success() {
            // A master bsweep started bound another name first, so its exit leaves this one.
            let _ = fs::remove_file(&self.socket);
        }
        Ok(st.success())
    }

    /// The interactive ssh that `bsweep login HOST` runs in the user's terminal: the user types
    /// the password and code once, and the master it leaves in the background (for
    /// [`LOGIN_PERSIST`] unused) serves every later bsweep command. Creates the control
    /// directory if needed. `LogLevel=VERBOSE` makes ssh say which method let the user in
    /// (see [`authenticated_with`]).
    ///
    /// `ControlMaster=auto`, not `yes`: a master killed uncleanly leaves its socket file behind,
    /// and `yes` would then fail to bind and silently run without multiplexing; `auto` removes a
    /// stale socket (it would join a live master, so call [`Master::check`] first).
    pub fn login_command(&self) -> Result<std::process::Command, TransportError> {
        if let Some(dir) = self.socket.parent() {
            prepare_control_dir(dir)?;
        }
        let mut c = std::process::Command::new("ssh");
        if let Some(cfg) = &self.config_file {
            c.arg("-F").arg(cfg);
        }
        c.args(["-o", "ControlMaster=auto"])
            .arg("-o")
            .arg(format!("ControlPersist={}", LOGIN_PERSIST.as_secs()))
            // A dead network path ends the master instead of leaving commands hanging on it.
            .args(["-o", "ServerAliveInterval=60", "-o", "LogLevel=VERBOSE"])
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "-N", "--", &self.dest]);
        Ok(c)
    }

    /// Whether this destination needs a person to log in: bsweep then never starts a master
    /// for it, it only checks for the one `bsweep login` opens.
    pub fn needs_person(&self) -> bool {
        self.record_path().exists()
    }

    /// The record of a host that needs a person, if there is one.
    pub fn login_record(&self) -> Option<LoginRecord> {
        let path = self.record_path();
        let text = fs::read_to_string(&path).ok()?;
        let mut r = LoginRecord::parse(&text);
        r.last_used = fs::metadata(&path).and_then(|m| m.modified()).ok();
        Some(r)
    }

    /// After a successful `bsweep login`: a login that needed a person (or whose method ssh did
    /// not say) is recorded, with its time; one made with a key removes the record, so bsweep
    /// opens the next connection itself.
    pub fn remember_login(&self, needed_person: bool) -> Result<(), TransportError> {
        let path = self.record_path();
        if !needed_person {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    Err(TransportError::LocalFile { path, source: e })
                }
                _ => Ok(()),
            };
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.write_record(Some(now))
    }

    /// A batch login was refused for want of a password or code: remember it, so that no
    /// bsweep process opens another authentication there.
    pub(super) fn mark_needs_person(&self) {
        if !self.needs_person() {
            // Best effort: without the record this process still stops trying (see the
            // transport), only a later one would try once more.
            let _ = self.write_record(None);
        }
    }

    fn write_record(&self, opened: Option<u64>) -> Result<(), TransportError> {
        let path = self.record_path();
        let mut text = format!(
            "# bsweep: {} needs a person to log in; bsweep only ever checks for the connection\n\
             # that `bsweep login {}` opens\ndest={}\npersist={}\n",
            self.resolved,
            self.dest,
            self.dest,
            LOGIN_PERSIST.as_secs()
        );
        if let Some(t) = opened {
            text.push_str(&format!("opened={t}\n"));
        }
        let tmp = path.with_extension("login.tmp");
        let write = || -> io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|source| TransportError::LocalFile { path, source })
    }

    /// Notes a use of the connection (the record's modification time), for the time left that
    /// `bsweep login --check` shows. Best effort.
    pub(super) fn touch(&self) {
        if let Ok(f) = fs::OpenOptions::new().write(true).open(self.record_path()) {
            let _ = f.set_modified(SystemTime::now());
        }
    }
}

/// The authentication method ssh says let the user in (`LogLevel=VERBOSE`: `Authenticated to
/// HOST ([ADDR]:PORT) using "keyboard-interactive".`).
pub fn authenticated_with(stderr: &str) -> Option<&str> {
    stderr.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("Authenticated to ")?;
        let (_, method) = rest.rsplit_once(" using \"")?;
        method
            .strip_suffix("\".")
            .or_else(|| method.strip_suffix('"'))
    })
}

/// Whether a login made with `method` needed a person; a method ssh did not name counts as
/// one (the safe side: bsweep then never starts an authentication there itself).
pub fn is_person_method(method: Option<&str>) -> bool {
    method.is_none_or(|m| PERSON_METHODS.contains(&m))
}

/// The `Host` pattern a `~/.ssh/config` entry for `dest` matches on: the host part as written.
fn host_pattern(dest: &str) -> &str {
    let d = dest.strip_prefix("ssh://").unwrap_or(dest);
    let d = d.rsplit_once('@').map_or(d, |(_, h)| h);
    match d.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None if dest.starts_with("ssh://") => d.split(':').next().unwrap_or(d),
        None => d,
    }
}

fn ssh_g(dest: &str, config_file: Option<&Path>) -> std::process::Command {
    let mut c = std::process::Command::new("ssh");
    if let Some(cfg) = config_file {
        c.arg("-F").arg(cfg);
    }
    c.args(["-G", "--", dest])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// The control socket of a resolved destination in `control_dir`: a stable name (a hash of
/// `user@host:port`), so separate bsweep processes, `bsweep login` and every spelling of the
/// destination meet at the same master.
pub fn control_socket(resolved: &Resolved, control_dir: &Path) -> PathBuf {
    control_dir.join(format!(
        "cm-{:016x}",
        fnv1a64(resolved.to_string().as_bytes())
    ))
}

/// `ssh -O OP` on a control socket. `-F /dev/null`: only the socket matters, and a user config
/// with `Match exec` or canonicalization must not run for a local question.
pub(super) fn control_command(socket: &Path, op: &str) -> std::process::Command {
    let mut c = std::process::Command::new("ssh");
    c.args(["-F", "/dev/null", "-o", "BatchMode=yes", "-S"])
        .arg(socket)
        .args(["-O", op, "bsweep-master"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

pub(super) async fn master_alive(socket: &Path, dest: &str) -> Result<bool, TransportError> {
    let st = tokio::process::Command::from(control_command(socket, "check"))
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|source| TransportError::Ssh {
            place: dest.to_string(),
            source,
        })?;
    Ok(st.success())
}

/// The control directory, absolute, created private: whoever can connect to a control socket
/// runs commands on the cluster as the user.
pub(super) fn prepare_control_dir(control_dir: &Path) -> Result<PathBuf, TransportError> {
    let local = |source| TransportError::LocalFile {
        path: control_dir.to_path_buf(),
        source,
    };
    let dir = std::path::absolute(control_dir).map_err(local)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(local)?;
    let mode = fs::metadata(&dir).map_err(local)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(local)?;
    }
    let bytes = dir.as_os_str().as_bytes();
    let problem = if bytes.len() > MAX_CONTROL_DIR {
        Some(format!(
            "the path is too long for ssh control sockets ({} bytes, at most {MAX_CONTROL_DIR})",
            bytes.len()
        ))
    } else if bytes.iter().any(|b| matches!(b, b'%' | b'$')) {
        // ssh expands %-tokens and ${VAR} in control socket paths.
        Some("ssh control socket paths cannot contain `%` or `$`".to_string())
    } else {
        None
    };
    match problem {
        Some(p) => Err(TransportError::LocalFile {
            path: dir,
            source: io::Error::new(io::ErrorKind::InvalidInput, p),
        }),
        None => Ok(dir),
    }
}

/// FNV-1a: stable across Rust releases (std's hasher is not), so every bsweep build agrees on
/// socket names.
pub(super) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of `ssh -G -F ssh_config bsweep-totp` (OpenSSH 9.2p1, the CI's 2FA login node
    /// config) and its host-key line.
    const SSH_G_TOTP: &str = "host bsweep-totp\nuser bsweeptotp\nhostname 127.0.0.1\nport 2223\n\
        addressfamily any\nbatchmode no\ncanonicalizefallbacklocal yes\ncanonicalizehostname false\n\
        checkhostip no\ncompression no\ncontrolmaster false\nenablesshkeysign no\n\
        stricthostkeychecking accept-new\n";

    #[test]
    fn ssh_g_gives_the_key_and_the_host_key_policy() {
        let r = Resolved::from_ssh_g(SSH_G_TOTP).unwrap();
        assert_eq!(r.to_string(), "bsweeptotp@127.0.0.1:2223");
        assert!(matches!(r.known_hosts(), KnownHosts::Add));
        let with = |v: &str| {
            Resolved::from_ssh_g(&format!("{SSH_G_TOTP}stricthostkeychecking {v}\n"))
                .unwrap()
                .known_hosts()
        };
        // The last line wins here only because the fixture repeats it; ssh prints each once.
        assert!(matches!(with("true"), KnownHosts::Strict));
        assert!(matches!(with("false"), KnownHosts::Accept));
        // ssh's default cannot prompt in batch mode: a new host is added.
        assert!(matches!(with("ask"), KnownHosts::Add));
        let v6 = Resolved::from_ssh_g("user u\nhostname ::1\nport 22\n").unwrap();
        assert_eq!(v6.to_string(), "u@[::1]:22");
        // Missing or unreadable essentials are no resolution at all.
        assert!(Resolved::from_ssh_g("").is_none());
        assert!(Resolved::from_ssh_g("user u\nhostname h\nport x\n").is_none());
    }

    #[test]
    fn every_spelling_of_a_destination_shares_one_socket() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(
            &cfg,
            "Host nju\n  HostName 127.0.0.1\n  Port 2223\n  User njuuser\n\
             Host strict\n  HostName 127.0.0.1\n  StrictHostKeyChecking yes\n",
        )
        .unwrap();
        let d = dir.path().join("ssh");
        let m = |dest: &str| Master::of(dest, &d, Some(&cfg)).unwrap();
        let alias = m("nju");
        assert_eq!(alias.resolved().to_string(), "njuuser@127.0.0.1:2223");
        assert_eq!(m("njuuser@nju").socket(), alias.socket());
        assert_eq!(m("ssh://njuuser@127.0.0.1:2223").socket(), alias.socket());
        assert_ne!(m("other@nju").socket(), alias.socket());
        assert_ne!(m("strict").socket(), alias.socket());
        assert!(matches!(
            m("strict").resolved().known_hosts(),
            KnownHosts::Strict
        ));
        assert!(alias.socket().starts_with(&d));
        assert!(!d.exists(), "resolving creates nothing");
        // What ssh cannot read is said in its words.
        std::fs::write(&cfg, "Host x\n  NoSuchOption 1\n").unwrap();
        let e = Master::of("x", &d, Some(&cfg)).unwrap_err();
        assert!(
            matches!(&e, TransportError::Config { said, .. }
                if said.contains("line 2: Bad configuration option: nosuchoption")),
            "{e:?}"
        );
    }

    #[test]
    fn socket_names_are_stable() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        let r = Resolved::from_ssh_g(SSH_G_TOTP).unwrap();
        assert_eq!(
            control_socket(&r, Path::new("/h/ssh")),
            Path::new("/h/ssh").join(format!("cm-{:016x}", fnv1a64(b"bsweeptotp@127.0.0.1:2223")))
        );
    }

    #[test]
    fn a_login_is_recorded_by_how_it_was_made() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(&cfg, "Host nju\n  HostName 127.0.0.1\n  User u\n").unwrap();
        let d = dir.path().join("ssh");
        let m = Master::of("nju", &d, Some(&cfg)).unwrap();
        prepare_control_dir(&d).unwrap();
        assert!(!m.needs_person());
        assert_eq!(m.login_record(), None);
        m.mark_needs_person();
        let r = m.login_record().unwrap();
        assert_eq!((r.opened, r.persist), (None, LOGIN_PERSIST));
        assert!(m.needs_person());
        // Another spelling sees the same record.
        assert!(Master::of("u@nju", &d, Some(&cfg)).unwrap().needs_person());
        m.remember_login(true).unwrap();
        let r = m.login_record().unwrap();
        assert!(r.opened.is_some_and(|t| t > 1_700_000_000), "{r:?}");
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(m.record_path())
            .unwrap()
            .set_modified(old)
            .unwrap();
        m.touch();
        assert!(m.login_record().unwrap().last_used.unwrap() > old);
        // A login made with a key: bsweep opens the next connection itself.
        m.remember_login(false).unwrap();
        assert!(!m.needs_person());
        m.remember_login(false).unwrap();
    }

    #[test]
    fn the_method_that_let_the_user_in_is_read_from_ssh() {
        // OpenSSH 9.2p1 with LogLevel=VERBOSE, against the 2FA login node and a key host.
        let kbd =
            "Authenticated to 127.0.0.1 ([127.0.0.1]:2223) using \"keyboard-interactive\".\r\n";
        assert_eq!(authenticated_with(kbd), Some("keyboard-interactive"));
        let key = "Authenticated to 127.0.0.1 ([127.0.0.1]:40013) using \"publickey\".\r\n";
        assert_eq!(authenticated_with(key), Some("publickey"));
        assert!(is_person_method(authenticated_with(kbd)));
        assert!(!is_person_method(authenticated_with(key)));
        assert!(is_person_method(Some("password")));
        assert!(
            is_person_method(authenticated_with("")),
            "unknown: the safe side"
        );
    }

    #[test]
    fn sharing_lines_name_the_socket_and_the_host_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("my config");
        std::fs::write(&cfg, "Host nju\n  HostName 127.0.0.1\n").unwrap();
        let m = Master::of("me@nju", dir.path(), Some(&cfg)).unwrap();
        let sock = m.socket().display().to_string();
        assert_eq!(
            m.share_command(),
            format!("ssh -F '{}' -S {sock} me@nju", cfg.display())
        );
        assert_eq!(
            m.config_snippet(),
            format!("Host nju\n    ControlPath {sock}\n")
        );
        assert_eq!(host_pattern("ssh://me@h.example:2222"), "h.example");
        assert_eq!(host_pattern("me@[::1]"), "::1");
        assert_eq!(host_pattern("alias"), "alias");
    }
}
