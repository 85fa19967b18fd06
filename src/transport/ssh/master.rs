//! The shared SSH connection (an OpenSSH ControlMaster): its control socket, starting one for a
//! key-based host, attaching to the one `bsweep login` opened, checking and closing it.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use openssh::{ControlPersist, KnownHosts, SessionBuilder};

use super::{SshOpts, check_dest, io_of};
use crate::transport::TransportError;

/// How long a master opened by `bsweep login` stays up: a working day, one password and code.
pub const LOGIN_PERSIST: &str = "8h";

/// The longest control directory whose sockets ssh can bind. macOS allows 104 bytes for a socket
/// path (with its NUL); openssh first binds `DIR/.ssh-connectionXXXXXX/master`, and ssh itself
/// binds `PATH.<16 random characters>` before linking PATH.
pub(super) const MAX_CONTROL_DIR: usize = 103 - 29 - 17;

/// ssh messages of failures that trying again will not fix.
pub(super) const PERMANENT_FAILURES: &[&str] = &[
    "Could not resolve hostname",
    "Host key verification failed",
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
    "Bad configuration option",
    "Bad owner or permissions",
    "garbage at end of line",
    "no argument after keyword",
    "Unsupported option",
    "Can't open user config file",
];

/// Why starting a master failed, and whether another attempt may help.
pub(super) enum StartFailure {
    Final(TransportError),
    Transient(String),
}

/// The control socket of `dest` in `control_dir`: a stable name (a hash of the destination), so
/// separate bsweep processes and `bsweep login` meet at the same master.
pub fn control_socket(dest: &str, control_dir: &Path) -> PathBuf {
    control_dir.join(format!("cm-{:016x}", fnv1a64(dest.as_bytes())))
}

/// The interactive ssh that `bsweep login HOST` runs in the user's terminal: the user types the
/// password and code once, and the master it leaves in the background (for [`LOGIN_PERSIST`])
/// serves every later bsweep command. Creates `control_dir` if needed.
///
/// `ControlMaster=auto`, not `yes`: a master killed uncleanly leaves its socket file behind, and
/// `yes` would then fail to bind and silently run without multiplexing; `auto` removes a stale
/// socket (it would join a live master, so call [`check_master`] first).
pub fn login_command(
    dest: &str,
    control_dir: &Path,
) -> Result<std::process::Command, TransportError> {
    login_command_with(dest, control_dir, None)
}

/// [`login_command`] with an ssh config file in place of `~/.ssh/config` (`ssh -F`).
pub fn login_command_with(
    dest: &str,
    control_dir: &Path,
    config_file: Option<&Path>,
) -> Result<std::process::Command, TransportError> {
    check_dest(dest)?;
    let dir = prepare_control_dir(control_dir)?;
    let mut c = std::process::Command::new("ssh");
    if let Some(cfg) = config_file {
        c.arg("-F").arg(cfg);
    }
    c.args(["-o", "ControlMaster=auto"])
        .arg("-o")
        .arg(format!("ControlPersist={LOGIN_PERSIST}"))
        // A dead network path ends the master instead of leaving commands hanging on it.
        .args(["-o", "ServerAliveInterval=60"])
        .arg("-S")
        .arg(control_socket(dest, &dir))
        .args(["-f", "-N", "--", dest]);
    Ok(c)
}

/// Whether a live master for `dest` listens in `control_dir` (`bsweep login --check`).
pub fn check_master(dest: &str, control_dir: &Path) -> bool {
    let Ok(dir) = std::path::absolute(control_dir) else {
        return false;
    };
    control_command(&control_socket(dest, &dir), "check")
        .status()
        .is_ok_and(|s| s.success())
}

/// Tells the master of `dest` to exit. `Ok(false)`: there was none.
pub fn close_master(dest: &str, control_dir: &Path) -> Result<bool, TransportError> {
    let dir = std::path::absolute(control_dir).map_err(|source| TransportError::LocalFile {
        path: control_dir.to_path_buf(),
        source,
    })?;
    let socket = control_socket(dest, &dir);
    let st = control_command(&socket, "exit")
        .status()
        .map_err(|source| TransportError::Ssh {
            place: dest.to_string(),
            source,
        })?;
    if st.success() {
        // A master bsweep started bound another name first, so its exit leaves this one behind.
        let _ = fs::remove_file(&socket);
    }
    Ok(st.success())
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

pub(super) async fn start_master_retrying(
    dest: &str,
    socket: &Path,
    opts: &SshOpts,
) -> Result<(), TransportError> {
    let started = Instant::now();
    let mut pause = Duration::from_secs(1);
    let mut attempt = 1;
    loop {
        match start_master(dest, socket, opts).await {
            Ok(()) => return Ok(()),
            Err(StartFailure::Final(e)) => return Err(e),
            Err(StartFailure::Transient(message)) => {
                if attempt >= opts.reconnect_tries.max(1)
                    || started.elapsed() + pause > opts.reconnect_window
                {
                    return Err(TransportError::Connection {
                        place: dest.to_string(),
                        message,
                    });
                }
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
        }
    }
}

/// Starts a master in batch mode and moves its socket to the stable name, under a lock file so
/// that bsweep processes starting at once end up sharing one master.
pub(super) async fn start_master(
    dest: &str,
    socket: &Path,
    opts: &SshOpts,
) -> Result<(), StartFailure> {
    let dir = socket.parent().unwrap_or(Path::new("."));
    let _lock = lock_file(&socket.with_extension("lock"))
        .await
        .map_err(StartFailure::Final)?;
    if master_alive(socket, dest)
        .await
        .map_err(StartFailure::Final)?
    {
        return Ok(());
    }
    let mut b = SessionBuilder::default();
    b.control_directory(dir)
        .control_persist(ControlPersist::IdleFor(
            std::num::NonZeroUsize::new(opts.control_persist.as_secs().max(1) as usize)
                .unwrap_or(std::num::NonZeroUsize::MIN),
        ))
        .connect_timeout(opts.connect_timeout)
        .server_alive_interval(Duration::from_secs(60))
        .known_hosts_check(host_key_policy(dest, opts.config_file.as_deref()).await);
    if let Some(cfg) = &opts.config_file {
        b.config_file(cfg);
    }
    let (b, d) = b.resolve(dest);
    let tmp = match b.launch_master(d).await {
        Ok(tmp) => tmp,
        Err(e) => return Err(classify(dest, dir, e)),
    };
    // rename() replaces a stale socket of a dead master in one step.
    if let Err(source) = fs::rename(tmp.path().join("master"), socket) {
        // Nobody could reach this master any more: stop it rather than leave it running.
        let _ = control_command(&tmp.path().join("master"), "exit").status();
        return Err(StartFailure::Final(TransportError::LocalFile {
            path: socket.to_path_buf(),
            source,
        }));
    }
    // The master keeps writing its log through the open file; keep it next to the socket.
    let _ = fs::rename(tmp.path().join("log"), socket.with_extension("log"));
    drop(tmp);
    Ok(())
}

/// The host-key checking the user's ssh configuration sets for `dest` (`ssh -G`), for a master
/// bsweep starts. openssh passes it on the command line, which would override the config file:
/// reading it first keeps a stricter (or looser) choice the user made.
async fn host_key_policy(dest: &str, config_file: Option<&Path>) -> KnownHosts {
    let mut c = tokio::process::Command::new("ssh");
    if let Some(cfg) = config_file {
        c.arg("-F").arg(cfg);
    }
    let out = c
        .args(["-G", "--", dest])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await;
    let text = out
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    known_hosts_of(&text)
}

/// Reads `stricthostkeychecking` from `ssh -G` output. ssh's default, `ask`, cannot prompt in
/// batch mode: a new host is added (what answering "yes" does), a changed key still fails.
pub(super) fn known_hosts_of(ssh_g: &str) -> KnownHosts {
    let value = ssh_g.lines().find_map(|l| {
        let (k, v) = l.trim().split_once(' ')?;
        k.eq_ignore_ascii_case("stricthostkeychecking")
            .then(|| v.trim().to_ascii_lowercase())
    });
    match value.as_deref() {
        Some("true" | "yes") => KnownHosts::Strict,
        Some("false" | "no" | "off") => KnownHosts::Accept,
        _ => KnownHosts::Add,
    }
}

pub(super) fn classify(dest: &str, dir: &Path, e: openssh::Error) -> StartFailure {
    match e {
        openssh::Error::Connect(io) => {
            let message = io.to_string();
            if io.kind() == io::ErrorKind::PermissionDenied || message.contains("Permission denied")
            {
                StartFailure::Final(TransportError::NeedsLogin {
                    host: dest.to_string(),
                })
            } else if PERMANENT_FAILURES.iter().any(|p| message.contains(p)) {
                StartFailure::Final(TransportError::Connection {
                    place: dest.to_string(),
                    message,
                })
            } else if message.is_empty() {
                StartFailure::Transient("ssh failed without a message".into())
            } else {
                StartFailure::Transient(message)
            }
        }
        // The temporary directory for the new socket could not be made.
        openssh::Error::Master(source) => StartFailure::Final(TransportError::LocalFile {
            path: dir.to_path_buf(),
            source,
        }),
        other => StartFailure::Transient(io_of(other).to_string()),
    }
}

/// An exclusive lock on `path`, polled so a single-threaded runtime keeps running meanwhile.
async fn lock_file(path: &Path) -> Result<Flock<fs::File>, TransportError> {
    let local = |source| TransportError::LocalFile {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(local)?;
    // A holder is starting a master: one connection attempt, bounded by ConnectTimeout.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((f, Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = f;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err((_, errno)) => return Err(local(io::Error::from(errno))),
        }
    }
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

    #[test]
    fn host_key_checking_follows_the_users_ssh_config() {
        let g =
            |v: &str| known_hosts_of(&format!("user alice\nstricthostkeychecking {v}\nport 22\n"));
        assert!(matches!(g("true"), KnownHosts::Strict));
        assert!(matches!(g("false"), KnownHosts::Accept));
        assert!(matches!(g("accept-new"), KnownHosts::Add));
        // ssh's default cannot prompt in batch mode; nothing readable falls back the same way.
        assert!(matches!(g("ask"), KnownHosts::Add));
        assert!(matches!(known_hosts_of(""), KnownHosts::Add));
    }

    #[tokio::test]
    async fn host_key_checking_is_read_with_ssh_g() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(
            &cfg,
            "Host strict\n  StrictHostKeyChecking yes\nHost loose\n  StrictHostKeyChecking no\n",
        )
        .unwrap();
        assert!(matches!(
            host_key_policy("strict", Some(&cfg)).await,
            KnownHosts::Strict
        ));
        assert!(matches!(
            host_key_policy("loose", Some(&cfg)).await,
            KnownHosts::Accept
        ));
        assert!(matches!(
            host_key_policy("other", Some(&cfg)).await,
            KnownHosts::Add
        ));
    }

    #[test]
    fn socket_names_are_stable_and_per_destination() {
        let d = Path::new("/h/ssh");
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(control_socket("host", d), control_socket("host", d));
        assert_ne!(control_socket("host", d), control_socket("user@host", d));
        assert!(control_socket("x", d).starts_with(d));
    }

    #[test]
    fn auth_failures_ask_for_login_and_typos_are_final() {
        let denied = openssh::Error::Connect(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "u@h: Permission denied (publickey,keyboard-interactive).",
        ));
        assert!(matches!(
            classify("h", Path::new("/d"), denied),
            StartFailure::Final(TransportError::NeedsLogin { .. })
        ));
        let typo = openssh::Error::Connect(io::Error::other(
            "Could not resolve hostname nope: Name or service not known",
        ));
        assert!(matches!(
            classify("h", Path::new("/d"), typo),
            StartFailure::Final(TransportError::Connection { .. })
        ));
        let refused = openssh::Error::Connect(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "connect to host h port 22: Connection refused",
        ));
        assert!(matches!(
            classify("h", Path::new("/d"), refused),
            StartFailure::Transient(_)
        ));
    }
}
