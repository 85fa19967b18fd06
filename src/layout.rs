//! Every path of a sweep, in one place: bsweep's home, a sweep's directory on this machine, and
//! the directory its jobs use (the same, or its twin on a cluster), including the paths written
//! into generated job scripts.

use std::fs;
use std::path::{Path, PathBuf};

/// A job's standard streams inside its out_dir.
pub const STDOUT_FILE: &str = "stdout.txt";
pub const STDERR_FILE: &str = "stderr.txt";

/// Where a sweep's files go on a cluster when the sweep file does not say (`[cluster]
/// remote_dir`), relative to the remote home.
pub const DEFAULT_REMOTE_DIR: &str = "~/.bsweep";

/// The sweep-name rule is the sweep file's (`name`); a SWEEP argument must follow it too, so
/// `../x`, `/abs` or `a/b` is refused before anything touches the file system.
pub use crate::spec::{NameError, check_sweep_name};

/// Where bsweep keeps its state: `--home`, `$BSWEEP_HOME`, or the XDG data dir.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    /// An ssh config file to use instead of `~/.ssh/config` (tests, unusual setups).
    ssh_config: Option<PathBuf>,
}

impl Home {
    /// A home at `root`, made absolute once: paths derived from it go into job scripts, which
    /// run in other directories.
    pub fn new(root: PathBuf) -> Self {
        let root = std::path::absolute(&root).unwrap_or(root);
        Self {
            root,
            ssh_config: None,
        }
    }

    pub fn with_ssh_config(mut self, file: Option<PathBuf>) -> Self {
        self.ssh_config = file.map(|f| std::path::absolute(&f).unwrap_or(f));
        self
    }

    pub fn ssh_config(&self) -> Option<&Path> {
        self.ssh_config.as_deref()
    }

    /// `~/.local/share/bsweep` (or the platform's data dir).
    pub fn default_root() -> PathBuf {
        dirs::data_dir()
            .or_else(|| dirs::home_dir().map(|h| h.join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("bsweep")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The control sockets of shared SSH connections.
    pub fn ssh_dir(&self) -> PathBuf {
        self.root.join("ssh")
    }

    fn sweeps_dir(&self) -> PathBuf {
        self.root.join("sweeps")
    }

    /// The files of sweep `name`; refuses what is not a sweep name.
    pub fn sweep(&self, name: &str) -> Result<SweepPaths, NameError> {
        check_sweep_name(name)?;
        Ok(SweepPaths {
            dir: self.sweeps_dir().join(name),
        })
    }

    /// Names of all recorded sweeps, sorted.
    pub fn sweep_names(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.sweeps_dir()) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| check_sweep_name(n).is_ok())
            .filter(|n| self.sweeps_dir().join(n).join(DB).is_dir())
            .collect();
        names.sort();
        names
    }
}

const DB: &str = "db";

/// The directory of [`SweepPaths::fetched_reports`], relative to the sweep's directory.
pub const FETCHED_REPORTS: &str = "reports";

/// A sweep's directory on this machine, `HOME/sweeps/NAME/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepPaths {
    dir: PathBuf,
}

impl SweepPaths {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The writer lock (holder's pid and command).
    pub fn lock(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// How many times a bsweep has driven this sweep's scheduler: each one's number fences off
    /// the submission batches of those before it (`sched::lsf::locked`).
    pub fn generation(&self) -> PathBuf {
        self.dir.join("generation")
    }

    /// The sled database.
    pub fn db(&self) -> PathBuf {
        self.dir.join(DB)
    }

    /// Where `launch` builds the database; renamed to [`SweepPaths::db`] once every point is in,
    /// so a sweep is either not there or complete.
    pub fn db_partial(&self) -> PathBuf {
        self.dir.join("db.partial")
    }

    /// A damaged database kept aside by `recover`: `db.damaged-<secs>-<n>`.
    pub fn db_damaged(&self, secs: u64, n: u32) -> PathBuf {
        self.dir.join(format!("db.damaged-{secs}-{n}"))
    }

    /// The plain copy of the sweep's record, what `recover` starts from.
    pub fn meta(&self) -> PathBuf {
        self.dir.join("meta.json")
    }

    /// The holder's last status snapshot, read by `status`/`list`/`logs` while it is held.
    pub fn status(&self) -> PathBuf {
        self.dir.join("status.json")
    }

    /// Dropped by a second bsweep to ask the holder to cancel the sweep.
    pub fn cancel_request(&self) -> PathBuf {
        self.dir.join("cancel.request")
    }

    /// The background follower's log (`launch --detach`).
    pub fn follow_log(&self) -> PathBuf {
        self.dir.join("follow.log")
    }

    /// The copy of the CSV `collect` last wrote, which `summary` and `report` read.
    pub fn results_csv(&self) -> PathBuf {
        self.dir.join("results.csv")
    }

    /// Earlier sweep files of a sweep that follows an edited one (`--spec`).
    pub fn spec_history(&self) -> PathBuf {
        self.dir.join("spec-history")
    }

    /// The scheduler's reports `collect` brought back alone, without the rest of the job's
    /// output (a 300 MB stdout is not fetched for its report): laid out like [`Self::jobs`].
    pub fn fetched_reports(&self) -> JobPaths {
        JobPaths::new(self.dir.join(FETCHED_REPORTS))
    }

    /// The sweep's job files here: scripts always (the record of what was submitted), outputs
    /// when the jobs run on this machine or were fetched from the cluster.
    pub fn jobs(&self) -> JobPaths {
        JobPaths::new(self.dir.clone())
    }
}

/// Where sweeps reached over SSH keep their directories on the cluster: `[cluster] remote_dir`
/// (default [`DEFAULT_REMOTE_DIR`]) made absolute against the remote home.
pub fn remote_base(remote_home: &str, remote_dir: Option<&str>) -> String {
    let base = remote_dir.unwrap_or(DEFAULT_REMOTE_DIR);
    let base = if base == "~" {
        remote_home.to_string()
    } else if let Some(rest) = base.strip_prefix("~/") {
        format!("{remote_home}/{rest}")
    } else if base.starts_with('/') {
        base.to_string()
    } else {
        format!("{remote_home}/{base}")
    };
    match base.trim_end_matches('/') {
        "" => "/".to_string(),
        b => b.to_string(),
    }
}

/// A sweep's own directory on the cluster, `BASE/NAME-ID`: keyed by the sweep's id, so two
/// sweeps named alike (from two homes, two host aliases, or a relaunch after `delete`) never
/// share one.
pub fn remote_sweep_dir(base: &str, name: &str, id: &str) -> Result<String, NameError> {
    check_sweep_name(name)?;
    // The id is bsweep's own (hex), but it lands in a path: the name rule keeps it one word.
    check_sweep_name(id)?;
    Ok(format!("{}/{name}-{id}", base.trim_end_matches('/')))
}

/// The ownership marker in a sweep's remote directory, written at launch: `delete` removes
/// the directory only when it names the sweep, and `launch` never takes one that names another.
pub const OWNER_FILE: &str = ".bsweep-owner";

/// Who owns a remote sweep directory: the sweep (name, id, when it was created) and the local
/// home that recorded it.
#[derive(Debug, Clone)]
pub struct RemoteOwner<'a> {
    pub name: &'a str,
    pub id: &'a str,
    pub created: f64,
    pub home: &'a Path,
}

impl RemoteOwner<'_> {
    /// The one line that decides ownership: the id and the creation time together (two homes
    /// may draw the same 24-bit id; not at the same instant).
    pub fn key_line(&self) -> String {
        format!("owner={} {}", self.id, self.created)
    }

    /// The marker's text: the key line, and for people what it belongs to.
    pub fn marker(&self) -> String {
        format!(
            "# bsweep: this directory belongs to sweep {name}; `bsweep delete {name}` removes it\n\
             {key}\nsweep={name}\nhome={home}\n",
            name = self.name,
            key = self.key_line(),
            home = self.home.display()
        )
    }
}

/// The directory a sweep's jobs use, and every path under it: job scripts, out_dirs, array
/// reports. Paths are relative to `base` for transfers and absolute for scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPaths {
    base: PathBuf,
}

impl JobPaths {
    pub fn new(base: PathBuf) -> Self {
        Self { base }
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// A point's out_dir relative to the base: `out/00042`.
    pub fn out_rel(index: u64) -> String {
        format!("out/{index:05}")
    }

    /// A point's out_dir (`{out_dir}` of its command).
    pub fn out_dir(&self, index: u64) -> PathBuf {
        self.base.join(Self::out_rel(index))
    }

    pub fn stdout(&self, index: u64) -> PathBuf {
        self.out_dir(index).join(STDOUT_FILE)
    }

    pub fn stderr(&self, index: u64) -> PathBuf {
        self.out_dir(index).join(STDERR_FILE)
    }

    /// The job script of one attempt, relative: `scripts/00042-1.sh`.
    pub fn script_rel(index: u64, attempt: u32) -> String {
        format!("scripts/{index:05}-{attempt}.sh")
    }

    pub fn script(&self, index: u64, attempt: u32) -> PathBuf {
        self.base.join(Self::script_rel(index, attempt))
    }

    /// The driver script of a job array, relative: `scripts/<array>.sh`.
    pub fn array_script_rel(array: &str) -> String {
        format!("scripts/{array}.sh")
    }

    /// Where a scheduler writes the reports of an array's elements, relative: `arrays/<array>`.
    pub fn array_reports_rel(array: &str) -> String {
        format!("arrays/{array}")
    }

    pub fn array_reports(&self, array: &str) -> PathBuf {
        self.base.join(Self::array_reports_rel(array))
    }

    /// The file a scheduler writes a job's report into (LSF's `-o`): the point's stdout, or
    /// for element `name[k]` of a job array, `arrays/<name>/<k>.out`.
    pub fn report_file(&self, index: u64, job_name: &str) -> PathBuf {
        self.base.join(Self::report_rel(index, job_name))
    }

    /// [`Self::report_file`] relative to the base.
    pub fn report_rel(index: u64, job_name: &str) -> String {
        match crate::model::names::split_element(job_name) {
            Some((array, k)) => format!("{}/{k}.out", Self::array_reports_rel(array)),
            None => format!("{}/{STDOUT_FILE}", Self::out_rel(index)),
        }
    }

    /// Held by every submission batch on the side where the scheduler runs, so a batch
    /// orphaned by a crash finishes before bsweep looks its jobs up by name.
    pub fn submit_lock(&self) -> PathBuf {
        self.base.join("submit.lock")
    }

    /// The bash lines an array element runs: find its point from `index_expr` (a shell
    /// expression giving the point's index), make its out_dir, run its job script with the
    /// point's own stdout and stderr. `sweep_var` names a shell variable holding the base.
    pub fn element_lines(sweep_var: &str, index_expr: &str, attempt: u32) -> String {
        format!(
            "p=$(printf %05d \"{index_expr}\")\n\
             out=\"${sweep_var}/out/$p\"\n\
             mkdir -p \"$out\"\n\
             bash \"${sweep_var}/scripts/$p-{attempt}.sh\" > \"$out/{STDOUT_FILE}\" 2> \"$out/{STDERR_FILE}\"\n"
        )
    }
}

/// Where the local backend keeps a job's control files (pid, exit status, peak memory, cancel
/// marker), beside its outputs.
pub fn control_file(out_dir: &Path, attempt: u32, ext: &str) -> PathBuf {
    out_dir.join(".bsweep").join(format!("{attempt}.{ext}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_arguments_must_be_names() {
        let home = Home::new("/h".into());
        assert_eq!(
            home.sweep("lr-1.a_b").unwrap().dir(),
            Path::new("/h/sweeps/lr-1.a_b")
        );
        for bad in [
            "../../x",
            "/abs",
            "a/b",
            "",
            ".hidden",
            "-x",
            "x\n",
            &"a".repeat(65),
        ] {
            assert!(home.sweep(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_relative_home_is_made_absolute() {
        let home = Home::new("relhome".into());
        assert!(home.root().is_absolute());
        assert!(home.root().ends_with("relhome"));
    }

    #[test]
    fn job_paths_and_reports() {
        let j = JobPaths::new("/s".into());
        assert_eq!(j.out_dir(42), Path::new("/s/out/00042"));
        assert_eq!(j.script(42, 2), Path::new("/s/scripts/00042-2.sh"));
        assert_eq!(
            j.report_file(42, "bsw-x-00042-2"),
            Path::new("/s/out/00042/stdout.txt")
        );
        assert_eq!(
            j.report_file(3, "bsw-x-a00000-1[4]"),
            Path::new("/s/arrays/bsw-x-a00000-1/4.out")
        );
    }

    #[test]
    fn remote_dirs_resolve_against_the_remote_home_and_are_keyed_by_id() {
        let r =
            |d: Option<&str>| remote_sweep_dir(&remote_base("/home/u", d), "s", "0a1b2c").unwrap();
        assert_eq!(r(None), "/home/u/.bsweep/s-0a1b2c");
        assert_eq!(r(Some("~")), "/home/u/s-0a1b2c");
        assert_eq!(r(Some("/scratch/u/")), "/scratch/u/s-0a1b2c");
        assert_eq!(r(Some("work")), "/home/u/work/s-0a1b2c");
        assert_eq!(r(Some("/")), "/s-0a1b2c");
        assert!(remote_sweep_dir("/home/u", "../x", "0a1b2c").is_err());
        assert!(remote_sweep_dir("/home/u", "s", "../x").is_err());
    }

    #[test]
    fn the_owner_marker_names_the_sweep_and_its_key() {
        let o = RemoteOwner {
            name: "s",
            id: "0a1b2c",
            created: 1.5,
            home: Path::new("/h"),
        };
        let m = o.marker();
        assert!(m.lines().any(|l| l == o.key_line()), "{m}");
        assert_eq!(o.key_line(), "owner=0a1b2c 1.5");
        assert!(
            m.contains("home=/h\n") && m.contains("bsweep delete s"),
            "{m}"
        );
    }
}
