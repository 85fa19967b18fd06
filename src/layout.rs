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

    /// The sweep's job files here: scripts always (the record of what was submitted), outputs
    /// when the jobs run on this machine or were fetched from the cluster.
    pub fn jobs(&self) -> JobPaths {
        JobPaths::new(self.dir.clone())
    }
}

/// The cluster side of a sweep reached over SSH: `remote_dir` (default [`DEFAULT_REMOTE_DIR`])
/// and the sweep's name, both absolute once the remote home is known.
pub fn remote_sweep_dir(
    remote_home: &str,
    remote_dir: Option<&str>,
    name: &str,
) -> Result<String, NameError> {
    check_sweep_name(name)?;
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
    Ok(format!("{}/{name}", base.trim_end_matches('/')))
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
        match crate::model::names::split_element(job_name) {
            Some((array, k)) => self.array_reports(array).join(format!("{k}.out")),
            None => self.stdout(index),
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
    fn remote_dirs_resolve_against_the_remote_home() {
        let r = |d: Option<&str>| remote_sweep_dir("/home/u", d, "s").unwrap();
        assert_eq!(r(None), "/home/u/.bsweep/s");
        assert_eq!(r(Some("~")), "/home/u/s");
        assert_eq!(r(Some("/scratch/u/")), "/scratch/u/s");
        assert_eq!(r(Some("work")), "/home/u/work/s");
        assert!(remote_sweep_dir("/home/u", None, "../x").is_err());
    }
}
