//! The SSH transport: scheduler commands and file transfers over one multiplexed OpenSSH
//! connection (a ControlMaster) that every bsweep process talking to the same host shares.
//!
//! A host that asks for a password and a one-time code cannot be logged into without a terminal:
//! `bsweep login HOST` runs [`Master::login_command`] once in the user's terminal, and bsweep only
//! ever attaches to the master that opens. Such a host is recorded (by `bsweep login`, or when a
//! batch login is refused for want of a password or code), and from then on no bsweep process
//! starts an authentication there: it only checks the control socket. For a key-based host
//! bsweep starts the master itself in batch mode (ssh never prompts), and starts a new one when
//! it dies. bsweep never sees or stores a password. Connections are keyed on what `ssh -G`
//! resolves (user, host name, port), so every spelling of a destination shares one.
//!
//! Remote commands run in the login user's home directory, so relative remote paths are relative
//! to it, and a remote directory written `~/...` is expanded on the remote side (as `$HOME`).

mod download;
mod master;
mod start;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use openssh::Session;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

pub use self::download::{DownloadReport, Fetch, NotFetched};
use self::master::prepare_control_dir;
pub use self::master::{
    LOGIN_PERSIST, LoginRecord, Master, Resolved, authenticated_with, control_socket,
    is_person_method,
};
use self::start::start_master_retrying;
use super::archive;
use super::{CmdOutput, Transport, TransportError};
use crate::shell;

/// The command line the remote login shell runs for every round trip. It reads the script from
/// stdin up to a NUL byte (no length limit, unlike an argument) and runs it in a bash login shell
/// (non-interactive ssh often lacks the LSF environment), with the rest of stdin as the script's
/// stdin. The profile runs with stdin from /dev/null and stdout sent to stderr, so it can neither
/// eat our input nor corrupt an archive on stdout. Single-quoted words with no newline keep it
/// valid for csh/tcsh login shells too. Scripts start in the remote home, wherever the profile
/// left the shell, so relative paths mean the same on every site. Exit 96: no script arrived.
const REMOTE_COMMAND: &str = concat!(
    "sh -c 'exec bash -l -c \"$0\" 3<&0 4>&1 </dev/null >&2' ",
    "'exec <&3 >&4 3<&- 4>&-; cd 2>/dev/null; IFS= read -r -d \"\" s || exit 96; eval \"$s\"'"
);

/// How to reach one destination. `Default` suits a key-based host.
#[derive(Debug, Clone)]
pub struct SshOpts {
    /// A line run before every script (the sweep file's `[cluster] init`), e.g.
    /// `source /etc/profile.d/lsf.sh`, in the same shell; its output goes to stderr.
    pub init: Option<String>,
    /// An ssh config file used instead of `~/.ssh/config` (`ssh -F`). Users never need it; tests
    /// point ssh at a private sshd with it.
    pub config_file: Option<PathBuf>,
    /// The host wants a password or one-time code: never start a master, only attach to the one
    /// `bsweep login` opened, and say so when it is gone. Also true, without being set, for a
    /// host recorded as needing a person (see [`Master::needs_person`]).
    pub interactive_auth: bool,
    /// How long a master bsweep starts stays up with nothing using it.
    pub control_persist: Duration,
    /// ssh's `ConnectTimeout` when bsweep starts a master.
    pub connect_timeout: Duration,
    /// Attempts to start a master (key-based hosts) before giving up, with pauses doubling from
    /// one second, and no new attempt once `reconnect_window` has passed.
    pub reconnect_tries: u32,
    pub reconnect_window: Duration,
}

impl Default for SshOpts {
    fn default() -> Self {
        Self {
            init: None,
            config_file: None,
            interactive_auth: false,
            control_persist: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(10),
            reconnect_tries: 4,
            reconnect_window: Duration::from_secs(30),
        }
    }
}

/// Runs scripts on a remote host through a shared ControlMaster.
#[derive(Debug)]
pub struct SshTransport {
    dest: String,
    master: Master,
    opts: SshOpts,
    /// This process saw the host refuse a batch login: no further attempt from here, even if
    /// the record of it could not be written.
    refused: AtomicBool,
    /// Attached by socket path: a master restarted at the same path serves it unchanged.
    session: Session,
    round_trips: AtomicU64,
    /// One reconnect at a time within this process (the lock file covers other processes).
    reconnecting: tokio::sync::Mutex<()>,
}

/// A round trip's raw result.
struct Raw {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    code: Option<i32>,
}

impl SshTransport {
    /// Attaches to the live master of `dest` in `control_dir`, or (key-based hosts) starts one
    /// in batch mode, honouring `~/.ssh/config` (aliases, ports, jump hosts, identity files).
    /// A host whose authentication needs a person fails at once with
    /// [`TransportError::NeedsLogin`], without a connection attempt once it is known as such.
    pub async fn connect(
        dest: &str,
        control_dir: &Path,
        opts: SshOpts,
    ) -> Result<Self, TransportError> {
        check_dest(dest)?;
        let dir = prepare_control_dir(control_dir)?;
        let master = Master::of_async(dest, &dir, opts.config_file.as_deref()).await?;
        let t = Self {
            dest: dest.to_string(),
            session: Session::resume(master.socket().to_path_buf().into_boxed_path(), None),
            master,
            opts,
            refused: AtomicBool::new(false),
            round_trips: AtomicU64::new(0),
            reconnecting: tokio::sync::Mutex::new(()),
        };
        t.ensure_master().await?;
        Ok(t)
    }

    /// Remote processes started so far (commands, uploads, downloads).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// The control socket this transport uses.
    pub fn socket(&self) -> &Path {
        self.master.socket()
    }

    /// Whether no authentication may start from here: only a master `bsweep login` opened
    /// serves this host.
    fn needs_person(&self) -> bool {
        self.opts.interactive_auth
            || self.refused.load(Ordering::Relaxed)
            || self.master.needs_person()
    }

    fn needs_login(&self) -> TransportError {
        TransportError::NeedsLogin {
            host: self.dest.clone(),
        }
    }

    /// Writes `files` (path relative to `remote_dir`, contents, mode) under `remote_dir` in one
    /// round trip: a tar archive built here, unpacked there. `remote_dir` is created if missing;
    /// `~/...` and relative directories are in the remote home.
    pub async fn upload(
        &self,
        remote_dir: &str,
        files: &[(String, Vec<u8>, u32)],
    ) -> Result<(), TransportError> {
        let archive = archive::build(files).map_err(|e| self.archive_error(e))?;
        let dir = remote_dir_word(remote_dir);
        let script = format!("mkdir -p -- {dir} && exec tar --no-same-owner -x -f - -C {dir}");
        let out = self.round_trip(&script, &archive).await?;
        if out.code != Some(0) {
            return Err(self.transfer_error(format!(
                "unpacking into {remote_dir} failed (exit {}): {}",
                show_code(out.code),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    fn archive_error(&self, source: archive::ArchiveError) -> TransportError {
        TransportError::Archive {
            place: self.place(),
            source,
        }
    }

    fn transfer_error(&self, message: String) -> TransportError {
        TransportError::Transfer {
            place: self.place(),
            message,
        }
    }

    /// Makes sure a master is up before a command goes out, so a command never starts on a
    /// connection already known dead (a cut command may have half run; one not started is safe
    /// to run on a new master).
    ///
    /// For a host that needs a person this only ever checks the socket (a local question), so
    /// a follower waiting for `bsweep login` never knocks at the login node.
    async fn ensure_master(&self) -> Result<(), TransportError> {
        if self.master.alive().await? {
            return Ok(());
        }
        if self.needs_person() {
            return Err(self.needs_login());
        }
        let _one = self.reconnecting.lock().await;
        if self.master.alive().await? {
            return Ok(());
        }
        match start_master_retrying(&self.master, &self.opts).await {
            Err(e @ TransportError::NeedsLogin { .. }) => {
                self.refused.store(true, Ordering::Relaxed);
                Err(e)
            }
            r => r,
        }
    }

    /// One remote process: `script` (after the `init` line) in a bash login shell, fed `input`.
    async fn round_trip(&self, script: &str, input: &[u8]) -> Result<Raw, TransportError> {
        let (stdout, stderr, code) = self.process(script, input, read_all).await?;
        Ok(Raw {
            stdout: stdout.map_err(|source| TransportError::Ssh {
                place: self.place(),
                source,
            })?,
            stderr,
            code,
        })
    }

    /// [`Self::round_trip`] with the remote stdout given to `take_stdout` as it arrives (a
    /// download unpacks it to disk instead of holding it). Its result comes back as it is
    /// when the process ended well; a lost connection is an error after it has run, so what it
    /// did (files written) is already done.
    async fn process<T, F, Fut>(
        &self,
        script: &str,
        input: &[u8],
        take_stdout: F,
    ) -> Result<(io::Result<T>, Vec<u8>, Option<i32>), TransportError>
    where
        F: FnOnce(Option<openssh::ChildStdout>) -> Fut,
        Fut: std::future::Future<Output = io::Result<T>>,
    {
        let init = self.opts.init.as_deref().unwrap_or("");
        if script.contains('\0') || init.contains('\0') {
            return Err(TransportError::Spawn {
                place: self.place(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "the script has a NUL byte"),
            });
        }
        self.ensure_master().await?;
        let n = self.round_trips.fetch_add(1, Ordering::Relaxed) + 1;
        if std::env::var_os("BSWEEP_DEBUG").is_some_and(|v| v == "1") {
            eprintln!("{}", debug_line(n, script));
        }
        let mut payload = Vec::with_capacity(init.len() + script.len() + input.len() + 32);
        if !init.is_empty() {
            // In this shell (a group, not a subshell), but like the profile unable to read our
            // stdin or write to our stdout (`module load` chatter would corrupt an archive).
            payload.extend_from_slice(b"{ ");
            payload.extend_from_slice(init.as_bytes());
            // Its status is kept for `doctor`, which says when the line fails.
            payload.extend_from_slice(b"\n} </dev/null >&2; BSWEEP_INIT_STATUS=$?\n");
        }
        payload.extend_from_slice(script.as_bytes());
        payload.push(0);
        payload.extend_from_slice(input);

        let ssh_err = |source| TransportError::Ssh {
            place: self.place(),
            source,
        };
        let mut cmd = self.session.raw_command(REMOTE_COMMAND);
        cmd.stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
        let mut child = cmd.spawn().await.map_err(|e| ssh_err(io_of(e)))?;
        let stdin = child.stdin().take();
        let feed = async move {
            if let Some(mut w) = stdin {
                // A script that does not read all its stdin closes it early: not an error.
                let _ = w.write_all(&payload).await;
                let _ = w.shutdown().await;
            }
        };
        let (_, stdout, stderr) = tokio::join!(
            feed,
            take_stdout(child.stdout().take()),
            read_all(child.stderr().take())
        );
        let stderr = stderr.map_err(ssh_err)?;
        // openssh reports exit 255 and 127 as errors; here they are exit codes like any other,
        // and 255 is told apart from a lost connection by asking the master.
        let code = match child.wait().await {
            Ok(st) => st.code(),
            Err(openssh::Error::RemoteProcessTerminated) => Some(255),
            Err(openssh::Error::Remote(e)) if e.kind() == io::ErrorKind::NotFound => Some(127),
            Err(e) => return Err(ssh_err(io_of(e))),
        };
        if matches!(code, None | Some(255)) && !self.master.alive().await? {
            if self.needs_person() {
                return Err(self.needs_login());
            }
            let said = String::from_utf8_lossy(&stderr);
            return Err(TransportError::Connection {
                place: self.place(),
                message: format!(
                    "the connection was lost during a command (it may have partly run){}",
                    said.lines()
                        .last()
                        .map(|l| format!(": {l}"))
                        .unwrap_or_default()
                ),
            });
        }
        // For `bsweep login --check`: the master's idle clock started again with this use.
        self.master.touch();
        Ok((stdout, stderr, code))
    }
}

impl Transport for SshTransport {
    async fn run(&self, script: &str, stdin: &[u8]) -> Result<CmdOutput, TransportError> {
        let raw = self.round_trip(script, stdin).await?;
        Ok(CmdOutput {
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
            code: raw.code,
        })
    }

    fn place(&self) -> String {
        self.dest.clone()
    }
}

/// Lets a scheduler borrow the transport while the caller keeps it for file transfers.
impl Transport for &SshTransport {
    async fn run(&self, script: &str, stdin: &[u8]) -> Result<CmdOutput, TransportError> {
        (**self).run(script, stdin).await
    }

    fn place(&self) -> String {
        (**self).place()
    }
}

/// Refuses what ssh would read as an option (a destination from a shared sweep file must not
/// become `-oProxyCommand=...`) or split into words.
pub(super) fn check_dest(dest: &str) -> Result<(), TransportError> {
    if dest.is_empty()
        || dest.starts_with('-')
        || dest.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(TransportError::BadDestination {
            dest: dest.to_string(),
        });
    }
    Ok(())
}

/// The `BSWEEP_DEBUG=1` line of round trip `n`.
fn debug_line(n: u64, script: &str) -> String {
    format!(
        "bsweep: ssh round trip {n}: {}",
        script.lines().next().unwrap_or("")
    )
}

/// A remote directory as one shell word. A quoted `~` would not expand, so a leading `~` becomes
/// `"$HOME"`; an empty directory is the home itself.
fn remote_dir_word(dir: &str) -> String {
    if dir.is_empty() || dir == "~" {
        "\"$HOME\"".to_string()
    } else if let Some(rest) = dir.strip_prefix("~/") {
        format!("\"$HOME\"/{}", shell::quote(rest))
    } else {
        shell::quote(dir).into_owned()
    }
}

async fn read_all<R: AsyncRead + Unpin>(r: Option<R>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if let Some(mut r) = r {
        r.read_to_end(&mut buf).await?;
    }
    Ok(buf)
}

/// An openssh error as an io::Error carrying its whole message (the crate's own display is
/// generic; the useful text is in the source).
pub(super) fn io_of(e: openssh::Error) -> io::Error {
    use std::error::Error as _;
    let mut message = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    io::Error::other(message)
}

fn show_code(code: Option<i32>) -> String {
    code.map_or_else(|| "none".to_string(), |c| c.to_string())
}

#[cfg(test)]
mod tests {
    use std::process::Stdio;

    use super::*;

    #[test]
    fn destinations_that_look_like_options_are_refused() {
        for bad in ["", "-oProxyCommand=x", "a b", "a\nb"] {
            assert!(check_dest(bad).is_err(), "{bad:?}");
        }
        for good in [
            "access.nju.edu.cn",
            "me@host",
            "ssh://me@host:2222",
            "alias",
        ] {
            assert!(check_dest(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn remote_dirs_expand_home_remotely() {
        assert_eq!(remote_dir_word("~/.bsweep"), "\"$HOME\"/.bsweep");
        assert_eq!(remote_dir_word("~"), "\"$HOME\"");
        assert_eq!(remote_dir_word("~/a b"), "\"$HOME\"/'a b'");
        assert_eq!(remote_dir_word("/abs/x"), "/abs/x");
        assert_eq!(remote_dir_word("rel"), "rel");
        assert_eq!(remote_dir_word("$(id)"), "'$(id)'");
    }

    #[test]
    fn debug_line_names_the_first_line() {
        assert_eq!(
            debug_line(3, "bjobs -json\nmore"),
            "bsweep: ssh round trip 3: bjobs -json"
        );
        assert_eq!(debug_line(1, ""), "bsweep: ssh round trip 1: ");
    }

    /// The remote wrapper, run here by `sh` as sshd would run it through the login shell.
    fn wrapper(payload: &[u8]) -> std::process::Output {
        use std::io::Write as _;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(REMOTE_COMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let mut w = child.stdin.take().expect("stdin");
        let _ = w.write_all(payload);
        drop(w);
        child.wait_with_output().expect("sh ends")
    }

    #[test]
    fn the_wrapper_reads_the_script_then_gives_the_rest_as_stdin() {
        let mut payload = b"echo \"it's $((6*7))\"\necho err >&2\ncat\nexit 3".to_vec();
        payload.push(0);
        payload.extend_from_slice(b"data\x00\xffline\n");
        let out = wrapper(&payload);
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"it's 42\ndata\x00\xffline\n");
        assert!(String::from_utf8_lossy(&out.stderr).ends_with("err\n"));
        // No script at all: a distinct code, nothing run.
        assert_eq!(wrapper(b"").status.code(), Some(96));
    }
}
