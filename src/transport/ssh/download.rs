//! Downloads over SSH: the files a caller asks for, packed by one remote `tar` and unpacked here
//! as the stream arrives (memory stays bounded whatever the sizes). Only regular files and
//! directories are sent; anything else asked for is named with what it is. A download cut by a
//! lost connection is taken up again once, for what had not arrived.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{SshTransport, remote_dir_word, show_code};
use crate::shell;
use crate::transport::TransportError;
use crate::transport::archive::{
    ArchiveError, Refusal, Unpacked, clean_relative, relative_path, unpack_from,
};

/// One path to bring back, relative to the remote directory: a file or a whole directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetch {
    pub path: String,
    /// A regular file larger than this is not sent (it is named, with its size).
    pub max_bytes: Option<u64>,
    /// Bring back what this shell command prints with the file on its stdin instead of the file
    /// (e.g. only the scheduler's report from a job's output), at this path under the local
    /// directory.
    pub filter: Option<(String, String)>,
}

impl Fetch {
    pub fn whole(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            max_bytes: None,
            filter: None,
        }
    }

    pub fn capped(path: impl Into<String>, max_bytes: u64) -> Self {
        Self {
            max_bytes: Some(max_bytes),
            ..Self::whole(path)
        }
    }

    pub fn filtered(path: impl Into<String>, command: &str, into: impl Into<String>) -> Self {
        Self {
            filter: Some((command.to_string(), into.into())),
            ..Self::whole(path)
        }
    }

    /// Where it lands under the local directory.
    fn local(&self) -> &str {
        self.filter.as_ref().map_or(&self.path, |(_, into)| into)
    }
}

/// Why a requested path (or an entry under a requested directory) did not come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotFetched {
    /// A symbolic link on the cluster: not followed.
    Symlink,
    /// A FIFO, socket or device there: never read (it could block forever or never end).
    Special(String),
    /// Larger than the cap set for it.
    TooLarge { size: u64, max: u64 },
    /// There, but tar could not read it (permissions), or not a file where a file was needed.
    Unreadable,
    /// Its archive entry was not written here.
    Refused(Refusal),
}

impl std::fmt::Display for NotFetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotFetched::Symlink => {
                f.write_str("it is a symbolic link on the cluster (links are not followed)")
            }
            NotFetched::Special(kind) => {
                write!(f, "it is a {kind} on the cluster, not a regular file")
            }
            NotFetched::TooLarge { size, max } => write!(
                f,
                "it has {size} bytes on the cluster, more than the {max} allowed"
            ),
            NotFetched::Unreadable => f.write_str("it could not be read on the cluster"),
            NotFetched::Refused(r) => r.fmt(f),
        }
    }
}

/// What a download brought back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DownloadReport {
    /// Requested paths unpacked under the local directory (a directory counts when anything of
    /// it arrived). Every path of this report is named where it lands here: a filtered fetch
    /// by its `into`.
    pub fetched: Vec<String>,
    /// Requested paths that do not exist remotely.
    pub missing: Vec<String>,
    /// Everything else that did not come back, each once: requested paths, and entries under
    /// a requested directory (links, FIFOs, unsafe names), with why.
    pub rejected: Vec<(String, NotFetched)>,
    /// The regular files written, relative to the local directory, with their sizes.
    pub files: Vec<(PathBuf, u64)>,
    /// The connection was lost during the transfer and the rest fetched over a new one.
    pub reconnected: bool,
}

/// Prefix of the lines the remote script prints on stderr about a requested path.
const SAID_PREFIX: &str = "bsweep-";

/// The remote side: checks each requested path (regular files and directories are sent,
/// anything else is named on stderr as `bsweep-KIND: PATH`), runs the filters into a scratch
/// directory, and packs both into one tar stream. Names get a `./` so none reads as an option.
const SCRIPT_HEAD: &str = r#"t=$(mktemp -d 2>/dev/null || mktemp -d -t bsweep) || exit 97
trap 'rm -rf -- "$t"' EXIT
W=(); F=()
say() { printf 'bsweep-%s: %s\n' "$1" "$2" >&2; }
ok() {
  local f="$d/$1" n
  if [ -L "$f" ]; then say symlink "$1"; return 1; fi
  if [ -f "$f" ]; then
    [ -r "$f" ] || { say unreadable "$1"; return 1; }
    if [ -n "$2" ]; then
      n=$(wc -c < "$f") || { say unreadable "$1"; return 1; }
      if [ "$n" -gt "$2" ]; then say "large:$((n))" "$1"; return 1; fi
    fi
    return 0
  fi
  [ -d "$f" ] && return 0
  if [ -p "$f" ]; then say fifo "$1"; elif [ -S "$f" ]; then say socket "$1"
  elif [ -b "$f" ] || [ -c "$f" ]; then say device "$1"; elif [ -e "$f" ]; then say special "$1"
  else say missing "$1"; fi
  return 1
}
whole() { ok "$1" "$2" && W+=("./$1"); }
filtered() {
  ok "$2" '' || return 0
  [ -f "$d/$2" ] || { say unreadable "$2"; return 0; }
  mkdir -p -- "$t/$(dirname -- "$3")" && "$1" < "$d/$2" > "$t/$3" && F+=("./$3")
}
"#;

const SCRIPT_TAIL: &str = r#"a=()
[ "${#W[@]}" -gt 0 ] && a+=(-C "$d" "${W[@]}")
[ "${#F[@]}" -gt 0 ] && a+=(-C "$t" "${F[@]}")
[ "${#a[@]}" -gt 0 ] || exit 0
o=()
# GNU tar sends holes as holes; others send sparse files in full.
tar --version 2>/dev/null | grep -q 'GNU tar' && o=(--sparse --format=gnu)
tar -c -f - "${o[@]}" "${a[@]}"
"#;

/// The remote script fetching `wanted[i]` for each `i` of `todo` from `remote_dir`.
fn script(remote_dir: &str, wanted: &[Fetch], todo: &[usize]) -> String {
    let mut s = format!("d={}\n{SCRIPT_HEAD}", remote_dir_word(remote_dir));
    let mut filters: Vec<&str> = Vec::new();
    let mut lines = String::new();
    for f in todo.iter().map(|&i| &wanted[i]) {
        let path = shell::quote(&f.path);
        match &f.filter {
            None => {
                let max = f.max_bytes.map(|m| m.to_string()).unwrap_or_default();
                lines.push_str(&format!("whole {path} {}\n", shell::quote(&max)));
            }
            Some((command, into)) => {
                let k = match filters.iter().position(|c| c == command) {
                    Some(k) => k,
                    None => {
                        filters.push(command);
                        filters.len() - 1
                    }
                };
                lines.push_str(&format!("filtered f{k} {path} {}\n", shell::quote(into)));
            }
        }
    }
    for (k, command) in filters.iter().enumerate() {
        s.push_str(&format!("f{k}() {{\n{command}\n}}\n"));
    }
    s.push_str(&lines);
    s.push_str(SCRIPT_TAIL);
    s
}

/// What the remote script said about a path.
fn said_of(kind: &str) -> Option<Option<NotFetched>> {
    Some(match kind {
        "missing" => None,
        "symlink" => Some(NotFetched::Symlink),
        "fifo" => Some(NotFetched::Special("FIFO".into())),
        "socket" => Some(NotFetched::Special("socket".into())),
        "device" => Some(NotFetched::Special("device".into())),
        "special" => Some(NotFetched::Special("special file".into())),
        "unreadable" => Some(NotFetched::Unreadable),
        k => {
            let size = k.strip_prefix("large:")?.parse().ok()?;
            // The cap is the caller's; it is filled in by whoever knows it.
            Some(NotFetched::TooLarge { size, max: 0 })
        }
    })
}

/// The `bsweep-KIND: PATH` lines of a download's stderr; `None`: the path is missing.
fn parse_said(stderr: &str) -> HashMap<String, Option<NotFetched>> {
    stderr
        .lines()
        .filter_map(|l| {
            let (kind, path) = l.strip_prefix(SAID_PREFIX)?.split_once(": ")?;
            Some((path.to_string(), said_of(kind)?))
        })
        .collect()
}

/// A download in progress: what has arrived, and what the cluster said.
#[derive(Default)]
struct Progress {
    unpacked: Unpacked,
    said: HashMap<String, Option<NotFetched>>,
}

impl SshTransport {
    /// Fetches `paths` (relative to `remote_dir`; files or whole directories) into
    /// `local_dir`: [`SshTransport::fetch`] with no caps or filters.
    pub async fn download(
        &self,
        remote_dir: &str,
        paths: &[String],
        local_dir: &Path,
    ) -> Result<DownloadReport, TransportError> {
        let wanted: Vec<Fetch> = paths.iter().map(Fetch::whole).collect();
        self.fetch(remote_dir, &wanted, local_dir).await
    }

    /// Fetches `wanted` from `remote_dir` into `local_dir` in one round trip (two when the
    /// connection drops on the way and the host needs no interactive login: what had arrived
    /// is kept, the rest asked for again). Paths that do not exist remotely are reported, not an
    /// error. Entries are unpacked without ever writing outside `local_dir`.
    pub async fn fetch(
        &self,
        remote_dir: &str,
        wanted: &[Fetch],
        local_dir: &Path,
    ) -> Result<DownloadReport, TransportError> {
        for f in wanted {
            relative_path(&f.path).map_err(|e| self.archive_error(e))?;
            relative_path(f.local()).map_err(|e| self.archive_error(e))?;
        }
        let mut progress = Progress::default();
        if wanted.is_empty() {
            return Ok(DownloadReport::default());
        }
        let mut todo: Vec<usize> = (0..wanted.len()).collect();
        let mut reconnected = false;
        loop {
            match self
                .fetch_once(remote_dir, wanted, &todo, local_dir, &mut progress)
                .await
            {
                Ok(()) => break,
                Err(TransportError::Connection { .. })
                    if !reconnected && !self.opts.interactive_auth =>
                {
                    reconnected = true;
                    // Files arrive whole (written aside, then renamed): those are kept.
                    let done: HashSet<&Path> = progress
                        .unpacked
                        .files
                        .iter()
                        .map(|(p, _)| p.as_path())
                        .collect();
                    todo.retain(|&i| {
                        clean_relative(Path::new(wanted[i].local()))
                            .is_none_or(|p| !done.contains(p.as_path()))
                    });
                }
                Err(e) => return Err(e),
            }
        }
        let mut report = account(wanted, progress);
        report.reconnected = reconnected;
        Ok(report)
    }

    /// One round trip of [`Self::fetch`] for `wanted[i]`, `i` in `todo`, adding to `progress`
    /// (also when the connection is lost on the way).
    async fn fetch_once(
        &self,
        remote_dir: &str,
        wanted: &[Fetch],
        todo: &[usize],
        local_dir: &Path,
        progress: &mut Progress,
    ) -> Result<(), TransportError> {
        let caps: HashMap<PathBuf, u64> = todo
            .iter()
            .map(|&i| &wanted[i])
            .filter_map(|f| Some((clean_relative(Path::new(&f.path))?, f.max_bytes?)))
            .collect();
        let shared = Arc::new(Mutex::new(std::mem::take(&mut progress.unpacked)));
        let (sink, root) = (shared.clone(), local_dir.to_path_buf());
        let take_stdout = move |out: Option<openssh::ChildStdout>| async move {
            let Some(out) = out else {
                return Ok(Ok(()));
            };
            // Blocking reads on their own thread: the tar crate reads any `Read`.
            let file = std::fs::File::from(out.into_owned_fd()?);
            tokio::task::spawn_blocking(move || {
                let mut u = sink.lock().unwrap_or_else(|p| p.into_inner());
                unpack_from(file, &root, &|p| caps.get(p).copied(), &mut u)
            })
            .await
            .map_err(io::Error::other)
        };
        let ran = self
            .process(&script(remote_dir, wanted, todo), b"", take_stdout)
            .await;
        progress.unpacked = std::mem::take(&mut *shared.lock().unwrap_or_else(|p| p.into_inner()));
        let (unpacked, stderr, code) = ran?;
        let stderr = String::from_utf8_lossy(&stderr);
        for (path, why) in parse_said(&stderr) {
            let why = match why {
                Some(NotFetched::TooLarge { size, .. }) => {
                    let max = wanted
                        .iter()
                        .find(|f| f.path == path)
                        .and_then(|f| f.max_bytes);
                    Some(NotFetched::TooLarge {
                        size,
                        max: max.unwrap_or(0),
                    })
                }
                w => w,
            };
            progress.said.insert(path, why);
        }
        let unpacked = unpacked.map_err(|source| TransportError::LocalFile {
            path: local_dir.to_path_buf(),
            source,
        })?;
        // A local failure first: it is why the remote side stopped (its stdout was closed).
        if let Err(e @ ArchiveError::Local { .. }) = unpacked {
            return Err(self.archive_error(e));
        }
        // tar: 1 = a file changed while read (a job still writing), 2 = some file unreadable.
        if !matches!(code, Some(0..=2)) {
            return Err(self.transfer_error(format!(
                "packing in {remote_dir} failed (exit {}): {}",
                show_code(code),
                stderr.trim()
            )));
        }
        unpacked.map_err(|e| self.archive_error(e))
    }
}

/// Says for every requested path whether it arrived, is missing, or why not, and for every
/// other entry not written why: each once.
fn account(wanted: &[Fetch], progress: Progress) -> DownloadReport {
    let Progress { unpacked, said } = progress;
    let arrived: HashSet<&Path> = unpacked
        .written
        .iter()
        .flat_map(|w| w.ancestors())
        .collect();
    // The last word on each refused entry (a retry may refuse one again).
    let mut refused: Vec<(String, Refusal)> = Vec::new();
    for (name, why) in unpacked.rejected {
        refused.retain(|(n, _)| *n != name);
        refused.push((name, why));
    }
    let mut report = DownloadReport::default();
    for f in wanted {
        // Named by where it lands: a filtered copy apart from the file itself.
        let name = f.local().to_string();
        let rel = clean_relative(Path::new(&name)).unwrap_or_default();
        if let Some(why) = said.get(&f.path) {
            match why {
                None => report.missing.push(name),
                Some(w) => report.rejected.push((name, w.clone())),
            }
        } else if arrived.contains(rel.as_path()) {
            report.fetched.push(name);
        } else if let Some(k) = refused
            .iter()
            .position(|(n, _)| clean_relative(Path::new(n)).as_deref() == Some(rel.as_path()))
        {
            let (_, why) = refused.remove(k);
            report.rejected.push((name, NotFetched::Refused(why)));
        } else {
            report.rejected.push((name, NotFetched::Unreadable));
        }
    }
    report.rejected.extend(
        refused
            .into_iter()
            .map(|(n, why)| (n, NotFetched::Refused(why))),
    );
    report.files = unpacked.files;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The remote script, run here by bash in `dir` as the remote side would run it.
    fn run_here(dir: &Path, wanted: &[Fetch]) -> (Vec<u8>, String, Option<i32>) {
        let todo: Vec<usize> = (0..wanted.len()).collect();
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(script(dir.to_str().unwrap(), wanted, &todo))
            .output()
            .unwrap();
        (
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code(),
        )
    }

    #[test]
    fn only_regular_files_and_directories_are_sent_and_the_rest_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("remote");
        std::fs::create_dir_all(d.join("dir/sub")).unwrap();
        std::fs::write(d.join("a.json"), "{}").unwrap();
        std::fs::write(d.join("big"), vec![b'x'; 100]).unwrap();
        std::fs::write(d.join("dir/sub/f"), "F").unwrap();
        std::fs::write(d.join("-dash"), "D").unwrap();
        std::fs::write(d.join("log"), "noise\nSender: x\nreport\n").unwrap();
        std::os::unix::fs::symlink("/dev/zero", d.join("zero")).unwrap();
        nix::unistd::mkfifo(&d.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let wanted = [
            Fetch::capped("a.json", 10),
            Fetch::capped("big", 10),
            Fetch::whole("dir"),
            Fetch::whole("-dash"),
            Fetch::whole("zero"),
            Fetch::whole("fifo"),
            Fetch::whole("nope"),
            Fetch::filtered("log", "grep -A1 '^Sender: '", "reports/log"),
        ];
        let (tar, stderr, code) = run_here(&d, &wanted);
        assert_eq!(code, Some(0), "{stderr}");
        let local = tmp.path().join("local");
        let mut u = Unpacked::default();
        unpack_from(tar.as_slice(), &local, &|_| None, &mut u).unwrap();
        let progress = Progress {
            unpacked: u,
            said: parse_said(&stderr),
        };
        let r = account(&wanted, progress);
        assert_eq!(r.fetched, ["a.json", "dir", "-dash", "reports/log"]);
        assert_eq!(r.missing, ["nope"]);
        assert_eq!(
            r.rejected,
            [
                (
                    "big".to_string(),
                    NotFetched::TooLarge { size: 100, max: 0 }
                ),
                ("zero".to_string(), NotFetched::Symlink),
                ("fifo".to_string(), NotFetched::Special("FIFO".into())),
            ]
        );
        assert_eq!(std::fs::read(local.join("dir/sub/f")).unwrap(), b"F");
        assert_eq!(
            std::fs::read_to_string(local.join("reports/log")).unwrap(),
            "Sender: x\nreport\n"
        );
        assert!(!local.join("log").exists() && !local.join("big").exists());
    }

    #[test]
    fn nothing_to_send_is_an_empty_answer() {
        let tmp = tempfile::tempdir().unwrap();
        let (tar, stderr, code) = run_here(tmp.path(), &[Fetch::whole("nope")]);
        assert_eq!((tar.len(), code), (0, Some(0)), "{stderr}");
        let mut u = Unpacked::default();
        unpack_from(tar.as_slice(), tmp.path(), &|_| None, &mut u).unwrap();
        assert!(u.written.is_empty());
    }
}
