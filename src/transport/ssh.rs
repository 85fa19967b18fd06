//! The SSH transport: scheduler commands and file transfers over one multiplexed OpenSSH
//! connection (a ControlMaster) that every bsweep process talking to the same host shares.
//!
//! A host that asks for a password and a one-time code cannot be logged into without a terminal:
//! `bsweep login HOST` runs [`login_command`] once in the user's terminal, and bsweep only ever
//! attaches to the master that opens. For a key-based host bsweep starts the master itself in
//! batch mode (ssh never prompts), and starts a new one when it dies. bsweep never sees or stores
//! a password.
//!
//! Remote commands run in the login user's home directory, so relative remote paths are relative
//! to it, and a remote directory written `~/...` is expanded on the remote side (as `$HOME`).

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

use super::{CmdOutput, Transport, TransportError};
use crate::shell;

/// How long a master opened by `bsweep login` stays up: a working day, one password and code.
pub const LOGIN_PERSIST: &str = "8h";

/// The command line the remote login shell runs for every round trip. It reads the script from
/// stdin up to a NUL byte (no length limit, unlike an argument) and runs it in a bash login shell
/// (non-interactive ssh often lacks the LSF environment), with the rest of stdin as the script's
/// stdin. The profile runs with stdin from /dev/null and stdout sent to stderr, so it can neither
/// eat our input nor corrupt an archive on stdout. Single-quoted words with no newline keep it
/// valid for csh/tcsh login shells too. Exit 96: no script arrived.
const REMOTE_COMMAND: &str = concat!(
    "sh -c 'exec bash -l -c \"$0\" 3<&0 4>&1 </dev/null >&2' ",
    "'exec <&3 >&4 3<&- 4>&-; IFS= read -r -d \"\" s || exit 96; eval \"$s\"'"
);

/// Prefix of the lines a download's remote script prints to stderr for absent paths.
const MISSING_PREFIX: &str = "bsweep-missing: ";

/// The longest control directory whose sockets ssh can bind. macOS allows 104 bytes for a socket
/// path (with its NUL); openssh first binds `DIR/.ssh-connectionXXXXXX/master`, and ssh itself
/// binds `PATH.<16 random characters>` before linking PATH.
const MAX_CONTROL_DIR: usize = 103 - 29 - 17;

/// ssh messages of failures that trying again will not fix.
const PERMANENT_FAILURES: &[&str] = &[
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
    /// `bsweep login` opened, and say so when it is gone.
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

/// What a [`SshTransport::download`] brought back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DownloadReport {
    /// Requested paths unpacked under the local directory (a directory counts when anything of
    /// it arrived).
    pub fetched: Vec<String>,
    /// Requested paths that do not exist remotely, or that tar could not read there.
    pub missing: Vec<String>,
    /// Archive entries that were not written: unsafe names (absolute, `..`), symlinks, hard
    /// links, devices, or a name whose parent is not a plain directory here.
    pub rejected: Vec<String>,
}

/// Runs scripts on a remote host through a shared ControlMaster.
#[derive(Debug)]
pub struct SshTransport {
    dest: String,
    socket: PathBuf,
    opts: SshOpts,
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

/// Why starting a master failed, and whether another attempt may help.
enum StartFailure {
    Final(TransportError),
    Transient(String),
}

impl SshTransport {
    /// Attaches to the live master of `dest` in `control_dir`, or (key-based hosts) starts one
    /// in batch mode, honouring `~/.ssh/config` (aliases, ports, jump hosts, identity files).
    /// A host whose authentication needs a person fails at once with
    /// [`TransportError::NeedsLogin`].
    pub async fn connect(
        dest: &str,
        control_dir: &Path,
        opts: SshOpts,
    ) -> Result<Self, TransportError> {
        check_dest(dest)?;
        let dir = prepare_control_dir(control_dir)?;
        let socket = control_socket(dest, &dir);
        let t = Self {
            dest: dest.to_string(),
            session: Session::resume(socket.clone().into_boxed_path(), None),
            socket,
            opts,
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
        &self.socket
    }

    /// Writes `files` (path relative to `remote_dir`, contents, mode) under `remote_dir` in one
    /// round trip: a tar archive built here, unpacked there. `remote_dir` is created if missing;
    /// `~/...` and relative directories are in the remote home.
    pub async fn upload(
        &self,
        remote_dir: &str,
        files: &[(String, Vec<u8>, u32)],
    ) -> Result<(), TransportError> {
        let archive = build_archive(files).map_err(|e| self.transfer_error(e))?;
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

    /// Fetches `paths` (relative to `remote_dir`; files or whole directories) into `local_dir`
    /// in one round trip. Paths that do not exist remotely are reported, not an error. Entries
    /// are unpacked without ever writing outside `local_dir` (see [`DownloadReport::rejected`]).
    pub async fn download(
        &self,
        remote_dir: &str,
        paths: &[String],
        local_dir: &Path,
    ) -> Result<DownloadReport, TransportError> {
        let mut wanted = Vec::with_capacity(paths.len());
        for p in paths {
            wanted.push(relative_path(p).map_err(|e| self.transfer_error(e))?);
        }
        let mut report = DownloadReport::default();
        if paths.is_empty() {
            return Ok(report);
        }
        let mut script = format!("d={}\nset --\nfor p in", remote_dir_word(remote_dir));
        for p in paths {
            script.push(' ');
            script.push_str(&shell::quote(p));
        }
        script.push_str(&format!(
            "; do\n  if [ -e \"$d/$p\" ] || [ -L \"$d/$p\" ]; then set -- \"$@\" \"$p\"\n  \
             else printf '%s%s\\n' '{MISSING_PREFIX}' \"$p\" >&2; fi\ndone\n\
             [ \"$#\" -gt 0 ] || exit 0\nexec tar -c -f - -C \"$d\" -- \"$@\"\n"
        ));
        let out = self.round_trip(&script, b"").await?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let absent: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix(MISSING_PREFIX))
            .collect();
        // tar: 1 = a file changed while read (a job still writing), 2 = some file unreadable.
        if !matches!(out.code, Some(0..=2)) {
            return Err(self.transfer_error(format!(
                "packing in {remote_dir} failed (exit {}): {}",
                show_code(out.code),
                stderr.trim()
            )));
        }
        let unpacked = if out.stdout.is_empty() {
            Unpacked::default()
        } else {
            unpack_safely(&out.stdout, local_dir)?
        };
        // A requested path arrived when it, or anything under it, was written.
        let arrived: HashSet<&Path> = unpacked
            .written
            .iter()
            .flat_map(|w| w.ancestors())
            .collect();
        let absent: HashSet<&str> = absent.into_iter().collect();
        for (p, rel) in paths.iter().zip(&wanted) {
            if !absent.contains(p.as_str()) && arrived.contains(rel.as_path()) {
                report.fetched.push(p.clone());
            } else {
                report.missing.push(p.clone());
            }
        }
        report.rejected = unpacked.rejected;
        Ok(report)
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
    async fn ensure_master(&self) -> Result<(), TransportError> {
        if master_alive(&self.socket, &self.dest).await? {
            return Ok(());
        }
        if self.opts.interactive_auth {
            return Err(TransportError::NeedsLogin {
                host: self.dest.clone(),
            });
        }
        let _one = self.reconnecting.lock().await;
        if master_alive(&self.socket, &self.dest).await? {
            return Ok(());
        }
        start_master_retrying(&self.dest, &self.socket, &self.opts).await
    }

    /// One remote process: `script` (after the `init` line) in a bash login shell, fed `input`.
    async fn round_trip(&self, script: &str, input: &[u8]) -> Result<Raw, TransportError> {
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
            payload.extend_from_slice(b"\n} </dev/null >&2\n");
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
            read_all(child.stdout().take()),
            read_all(child.stderr().take())
        );
        let (stdout, stderr) = (stdout.map_err(ssh_err)?, stderr.map_err(ssh_err)?);
        // openssh reports exit 255 and 127 as errors; here they are exit codes like any other,
        // and 255 is told apart from a lost connection by asking the master.
        let code = match child.wait().await {
            Ok(st) => st.code(),
            Err(openssh::Error::RemoteProcessTerminated) => Some(255),
            Err(openssh::Error::Remote(e)) if e.kind() == io::ErrorKind::NotFound => Some(127),
            Err(e) => return Err(ssh_err(io_of(e))),
        };
        if matches!(code, None | Some(255)) && !master_alive(&self.socket, &self.dest).await? {
            if self.opts.interactive_auth {
                return Err(TransportError::NeedsLogin {
                    host: self.dest.clone(),
                });
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
        Ok(Raw {
            stdout,
            stderr,
            code,
        })
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
fn control_command(socket: &Path, op: &str) -> std::process::Command {
    let mut c = std::process::Command::new("ssh");
    c.args(["-F", "/dev/null", "-o", "BatchMode=yes", "-S"])
        .arg(socket)
        .args(["-O", op, "bsweep-master"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

async fn master_alive(socket: &Path, dest: &str) -> Result<bool, TransportError> {
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

async fn start_master_retrying(
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
async fn start_master(dest: &str, socket: &Path, opts: &SshOpts) -> Result<(), StartFailure> {
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
fn known_hosts_of(ssh_g: &str) -> KnownHosts {
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

fn classify(dest: &str, dir: &Path, e: openssh::Error) -> StartFailure {
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
fn prepare_control_dir(control_dir: &Path) -> Result<PathBuf, TransportError> {
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

/// Refuses what ssh would read as an option (a destination from a shared sweep file must not
/// become `-oProxyCommand=...`) or split into words.
fn check_dest(dest: &str) -> Result<(), TransportError> {
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

/// FNV-1a: stable across Rust releases (std's hasher is not), so every bsweep build agrees on
/// socket names.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
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

/// A transfer path: relative, with no `..`, and no byte that would break the line-based report.
fn relative_path(p: &str) -> Result<PathBuf, String> {
    let bad = || format!("`{p}` is not a relative path inside the directory");
    if p.contains(['\n', '\r', '\0']) {
        return Err(bad());
    }
    clean_relative(Path::new(p))
        .filter(|c| c.components().next().is_some())
        .ok_or_else(bad)
}

/// `p` without `.` components, or `None` when it is absolute or has `..`.
fn clean_relative(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// A tar archive of `files` (relative path, contents, mode), as `upload` sends them.
pub fn build_archive(files: &[(String, Vec<u8>, u32)]) -> Result<Vec<u8>, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let rel = relative_path(path)?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(mode & 0o7777);
        h.set_mtime(now);
        b.append_data(&mut h, &rel, data.as_slice())
            .map_err(|e| format!("cannot pack {path}: {e}"))?;
    }
    b.into_inner()
        .map_err(|e| format!("cannot pack files: {e}"))
}

#[derive(Debug, Default)]
struct Unpacked {
    /// Relative paths written (files) or made (directories).
    written: Vec<PathBuf>,
    rejected: Vec<String>,
}

/// [`unpack_safely`] for tests and fuzzing: unpacks `archive` under `root` the way `download`
/// does and returns the relative paths written (files) or made (directories), and the entry
/// names rejected (absolute, with `..`, links, special files, blocked by a file or symlink).
pub fn unpack_into(
    archive: &[u8],
    root: &Path,
) -> Result<(Vec<PathBuf>, Vec<String>), TransportError> {
    let u = unpack_safely(archive, root)?;
    Ok((u.written, u.rejected))
}

/// Unpacks a tar archive under `root`, writing only regular files and directories at clean
/// relative names, and never through a symlink: an archive from the remote side is not trusted.
fn unpack_safely(archive: &[u8], root: &Path) -> Result<Unpacked, TransportError> {
    let local = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TransportError::LocalFile { path, source }
    };
    let unreadable = |e: io::Error| TransportError::Transfer {
        place: "the downloaded archive".into(),
        message: format!("it is not a readable tar archive: {e}"),
    };
    fs::create_dir_all(root).map_err(local(root))?;
    let mut out = Unpacked::default();
    let mut ar = tar::Archive::new(archive);
    for entry in ar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        let raw = entry.path().map_err(unreadable)?.into_owned();
        let shown = raw.to_string_lossy().into_owned();
        let Some(rel) = clean_relative(&raw) else {
            out.rejected.push(shown);
            continue;
        };
        if kind.is_dir() {
            match safe_dirs(root, &rel)? {
                Some(_) => out.written.push(rel),
                None => out.rejected.push(shown),
            }
            continue;
        }
        let (Some(name), true) = (rel.file_name(), kind.is_file() || kind.is_contiguous()) else {
            out.rejected.push(shown);
            continue;
        };
        let Some(parent) = safe_dirs(root, rel.parent().unwrap_or(Path::new("")))? else {
            out.rejected.push(shown);
            continue;
        };
        let target = parent.join(name);
        if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            out.rejected.push(shown);
            continue;
        }
        // Write beside the target, then rename over it: rename replaces a symlink that sits at
        // the target instead of writing through it.
        // A short name: the entry's own name may already be as long as a name can be.
        // The archive may hold an entry of that very name (found by fuzzing: removing a stale
        // temporary file deleted a file written a moment before), so never remove or reuse
        // one: take the first free name.
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777 | 0o600;
        let mut tmp = PathBuf::new();
        let written = (|| {
            let mut f = free_file(&parent, mode, &mut tmp)?;
            io::copy(&mut entry, &mut f)?;
            f.sync_all()?;
            fs::rename(&tmp, &target)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(local(&target)(e));
        }
        out.written.push(rel);
    }
    Ok(out)
}

/// Creates a new file `.bsweep-part-PID-N` in `dir` with the first N whose name is free, and
/// sets `path` to it (only once it is created, so that a caller cleaning up after an error
/// removes nothing it did not make).
fn free_file(dir: &Path, mode: u32, path: &mut PathBuf) -> io::Result<fs::File> {
    let pid = std::process::id();
    let mut n = 0u32;
    loop {
        let p = dir.join(format!(".bsweep-part-{pid}-{n}"));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&p)
        {
            Ok(f) => {
                *path = p;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < u32::MAX => n += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Makes the directories of `rel` under `root`, one component at a time, refusing to pass
/// through anything that is not a plain directory (a symlink could point anywhere). `None`: the
/// path is blocked by a symlink or a file.
fn safe_dirs(root: &Path, rel: &Path) -> Result<Option<PathBuf>, TransportError> {
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Err(e) = fs::create_dir(&cur)
                    && e.kind() != io::ErrorKind::AlreadyExists
                {
                    return Err(TransportError::LocalFile {
                        path: cur,
                        source: e,
                    });
                }
                if !fs::symlink_metadata(&cur).is_ok_and(|m| m.is_dir()) {
                    return Ok(None);
                }
            }
            Err(source) => return Err(TransportError::LocalFile { path: cur, source }),
        }
    }
    Ok(Some(cur))
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
fn io_of(e: openssh::Error) -> io::Error {
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
    fn transfer_paths_stay_inside() {
        assert_eq!(relative_path("a/./b").unwrap(), PathBuf::from("a/b"));
        for bad in ["/etc/x", "../x", "a/../../x", "", ".", "a\nb"] {
            assert!(relative_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn debug_line_names_the_first_line() {
        assert_eq!(
            debug_line(3, "bjobs -json\nmore"),
            "bsweep: ssh round trip 3: bjobs -json"
        );
        assert_eq!(debug_line(1, ""), "bsweep: ssh round trip 1: ");
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

    #[test]
    fn archives_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            ("a.txt".to_string(), b"A".to_vec(), 0o644),
            (
                "sub/deep/run.sh".to_string(),
                b"#!/bin/sh\n".to_vec(),
                0o755,
            ),
            (format!("{}/long", "x".repeat(150)), b"L".to_vec(), 0o600),
        ];
        let ar = build_archive(&files).unwrap();
        let u = unpack_safely(&ar, dir.path()).unwrap();
        assert!(u.rejected.is_empty(), "{:?}", u.rejected);
        assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"A");
        let m = fs::metadata(dir.path().join("sub/deep/run.sh")).unwrap();
        assert_eq!(m.permissions().mode() & 0o111, 0o111);
        assert_eq!(
            fs::read(dir.path().join("x".repeat(150)).join("long")).unwrap(),
            b"L"
        );
        assert!(build_archive(&[("../up".into(), vec![], 0o644)]).is_err());
        assert!(build_archive(&[("/abs".into(), vec![], 0o644)]).is_err());
    }

    /// A header whose name and link name are written raw: the tar crate refuses to build
    /// unsafe names, the remote side's tar will not.
    fn raw_entry(
        b: &mut tar::Builder<Vec<u8>>,
        kind: tar::EntryType,
        name: &str,
        link: &str,
        data: &[u8],
    ) {
        let mut h = tar::Header::new_gnu();
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name.as_bytes());
            g.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    #[test]
    fn a_malicious_archive_writes_nothing_outside() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("in");
        let outside = base.path().join("out");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("target"), b"original").unwrap();
        // Symlinks already under the download directory must not be followed either.
        std::os::unix::fs::symlink(&outside, root.join("pre")).unwrap();
        std::os::unix::fs::symlink(outside.join("target"), root.join("pre-file")).unwrap();
        let out = outside.to_str().unwrap();
        let abs = format!("{out}/abs-x");

        let mut b = tar::Builder::new(Vec::new());
        use tar::EntryType as T;
        raw_entry(&mut b, T::Regular, "../x", "", b"up");
        raw_entry(&mut b, T::Regular, "ok/../../y", "", b"up2");
        raw_entry(&mut b, T::Regular, &abs, "", b"abs");
        raw_entry(&mut b, T::Regular, "/etc/bsweep-unpack-test-x", "", b"etc");
        raw_entry(&mut b, T::Symlink, "evil", out, b"");
        raw_entry(&mut b, T::Regular, "evil/y", "", b"through the link");
        raw_entry(&mut b, T::Link, "hl", &format!("{out}/target"), b"");
        raw_entry(&mut b, T::Regular, "hl", "", b"pwned");
        raw_entry(&mut b, T::Char, "dev", "", b"");
        raw_entry(&mut b, T::Fifo, "fifo", "", b"");
        raw_entry(&mut b, T::Regular, "pre/z", "", b"via existing link");
        raw_entry(&mut b, T::Regular, "pre-file", "", b"replaced");
        raw_entry(&mut b, T::Regular, "good/file.txt", "", b"fine");
        let ar = b.into_inner().unwrap();

        let u = unpack_safely(&ar, &root).unwrap();

        // Nothing outside changed or appeared.
        assert_eq!(fs::read(outside.join("target")).unwrap(), b"original");
        let mut names: Vec<_> = fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, vec![std::ffi::OsString::from("target")]);
        assert!(!base.path().join("x").exists());
        assert!(!base.path().join("y").exists());
        assert!(!Path::new("/etc/bsweep-unpack-test-x").exists());
        // Unsafe entries are reported, safe ones written.
        for r in [
            "../x",
            "ok/../../y",
            abs.as_str(),
            "/etc/bsweep-unpack-test-x",
        ] {
            assert!(u.rejected.iter().any(|x| x == r), "{r} not rejected");
        }
        for r in ["evil", "dev", "fifo", "pre/z"] {
            assert!(u.rejected.iter().any(|x| x == r), "{r} not rejected");
        }
        assert!(u.rejected.iter().filter(|x| *x == "hl").count() == 1);
        assert_eq!(fs::read(root.join("good/file.txt")).unwrap(), b"fine");
        // `evil` was never a link here, so evil/y is a plain file inside.
        assert!(
            !fs::symlink_metadata(root.join("evil"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(fs::read(root.join("evil/y")).unwrap(), b"through the link");
        // A regular entry at a hard link's name is a new file, not a write to the link target.
        assert_eq!(fs::read(root.join("hl")).unwrap(), b"pwned");
        // The existing symlink was replaced, not written through.
        assert!(
            !fs::symlink_metadata(root.join("pre-file"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(fs::read(root.join("pre-file")).unwrap(), b"replaced");
        assert!(!root.join("dev").exists() && !root.join("fifo").exists());
    }

    /// Found by fuzzing: an entry named like the unpacker's temporary file was deleted by the
    /// next entry of its directory, yet reported written.
    #[test]
    fn an_entry_named_like_the_temporary_file_survives() {
        let dir = tempfile::tempdir().unwrap();
        let pid = std::process::id();
        let mut b = tar::Builder::new(Vec::new());
        for name in [
            format!(".bsweep-part-{pid}"),
            format!(".bsweep-part-{pid}-0"),
            "next".to_string(),
        ] {
            raw_entry(&mut b, tar::EntryType::Regular, &name, "", name.as_bytes());
        }
        let dir_name = format!(".bsweep-part-{pid}-1");
        raw_entry(&mut b, tar::EntryType::Directory, &dir_name, "", b"");
        raw_entry(&mut b, tar::EntryType::Regular, "last", "", b"last");
        let ar = b.into_inner().unwrap();
        let u = unpack_safely(&ar, dir.path()).unwrap();
        assert!(u.rejected.is_empty(), "{:?}", u.rejected);
        for w in &u.written {
            assert!(
                dir.path().join(w).exists(),
                "{w:?} reported written, not there"
            );
        }
        for name in [
            format!(".bsweep-part-{pid}"),
            format!(".bsweep-part-{pid}-0"),
        ] {
            assert_eq!(fs::read(dir.path().join(&name)).unwrap(), name.as_bytes());
        }
        assert_eq!(fs::read(dir.path().join("last")).unwrap(), b"last");
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 5);
    }

    #[test]
    fn garbage_is_not_an_archive() {
        let dir = tempfile::tempdir().unwrap();
        assert!(unpack_safely(&[1u8; 700], dir.path()).is_err());
    }
}
