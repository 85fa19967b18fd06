//! Starting a master for a key-based host: in batch mode (ssh never prompts), under a lock so
//! that bsweep processes starting at once share one, trying again after failures that may pass,
//! and telling a host that wants a person (then recorded, and never tried again) from the rest.

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use openssh::{ControlPersist, SessionBuilder};

use super::master::{Master, PERSON_METHODS, control_command, master_alive};
use super::{SshOpts, io_of};
use crate::transport::TransportError;

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
    /// The host wants a password or code: final, and remembered so no bsweep tries again.
    Person(TransportError),
    Transient(String),
}

/// Starts a master (key-based hosts), trying again after failures that may pass; a host found
/// to want a person is recorded as such and never tried again.
pub(super) async fn start_master_retrying(
    master: &Master,
    opts: &SshOpts,
) -> Result<(), TransportError> {
    let started = Instant::now();
    let mut pause = Duration::from_secs(1);
    let mut attempt = 1;
    loop {
        match start_master(master, opts).await {
            Ok(()) => return Ok(()),
            Err(StartFailure::Final(e)) => return Err(e),
            Err(StartFailure::Person(e)) => {
                master.mark_needs_person();
                return Err(e);
            }
            Err(StartFailure::Transient(message)) => {
                if attempt >= opts.reconnect_tries.max(1)
                    || started.elapsed() + pause > opts.reconnect_window
                {
                    return Err(TransportError::Connection {
                        place: master.dest.clone(),
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
pub(super) async fn start_master(master: &Master, opts: &SshOpts) -> Result<(), StartFailure> {
    let (dest, socket) = (master.dest.as_str(), master.socket.as_path());
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
    // Another bsweep may have learned, while this one waited for the lock, that the host wants
    // a person: then no authentication starts from here.
    if master.needs_person() {
        return Err(StartFailure::Final(TransportError::NeedsLogin {
            host: dest.to_string(),
        }));
    }
    let mut b = SessionBuilder::default();
    b.control_directory(dir)
        .control_persist(ControlPersist::IdleFor(
            std::num::NonZeroUsize::new(opts.control_persist.as_secs().max(1) as usize)
                .unwrap_or(std::num::NonZeroUsize::MIN),
        ))
        .connect_timeout(opts.connect_timeout)
        .server_alive_interval(Duration::from_secs(60))
        .known_hosts_check(master.resolved.known_hosts());
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

pub(super) fn classify(dest: &str, dir: &Path, e: openssh::Error) -> StartFailure {
    match e {
        openssh::Error::Connect(io) => {
            let message = io.to_string();
            let methods = denied_methods(&message);
            if methods
                .as_ref()
                .is_some_and(|m| m.iter().any(|m| PERSON_METHODS.contains(m)))
            {
                StartFailure::Person(TransportError::NeedsLogin {
                    host: dest.to_string(),
                })
            } else if io.kind() == io::ErrorKind::PermissionDenied || methods.is_some() {
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

/// The methods a `Permission denied (publickey,keyboard-interactive).` message lists.
pub(super) fn denied_methods(message: &str) -> Option<Vec<&str>> {
    let rest = &message[message.find("Permission denied (")? + "Permission denied (".len()..];
    let list = &rest[..rest.find(')')?];
    Some(list.split(',').map(str::trim).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_for_want_of_a_person_are_remembered_and_others_are_final() {
        let d = Path::new("/d");
        let denied = |m: &str| {
            openssh::Error::Connect(io::Error::new(
                io::ErrorKind::PermissionDenied,
                m.to_string(),
            ))
        };
        // Real: the 2FA login node under BatchMode (0 attempts in its log).
        let kbd = denied("bsweeptotp@127.0.0.1: Permission denied (keyboard-interactive).");
        assert!(matches!(
            classify("h", d, kbd),
            StartFailure::Person(TransportError::NeedsLogin { .. })
        ));
        let both = denied("u@h: Permission denied (publickey,password).");
        assert!(matches!(classify("h", d, both), StartFailure::Person(_)));
        // A key host whose key was refused: a person cannot type it in either.
        let key = denied("u@127.0.0.1: Permission denied (publickey).");
        assert!(matches!(
            classify("h", d, key),
            StartFailure::Final(TransportError::NeedsLogin { .. })
        ));
        let typo = openssh::Error::Connect(io::Error::other(
            "ssh: Could not resolve hostname nosuchhost.invalid: Name or service not known",
        ));
        assert!(matches!(
            classify("h", d, typo),
            StartFailure::Final(TransportError::Connection { .. })
        ));
        let refused = openssh::Error::Connect(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "ssh: connect to host 127.0.0.1 port 1: Connection refused",
        ));
        assert!(matches!(
            classify("h", d, refused),
            StartFailure::Transient(_)
        ));
    }
}
