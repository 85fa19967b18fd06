//! The local backend's measuring step (`bsweep internal-measure FILE -- PROGRAM ARGS...`): runs
//! a job, records its peak memory in FILE, and exits as the job did.
//!
//! The peak is `ru_maxrss` of the waited child, which covers the child and the descendants it
//! waited for: the largest single process of the job, not the sum of them (LSF sums).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a job could not be run or measured.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error("cannot start {program}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot wait for {program}")]
    Wait {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot record the peak memory in {}", path.display())]
    Record {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl MeasureError {
    /// The exit code a shell gives for the same failure (127: not found, 126: not runnable).
    fn exit_code(&self) -> i32 {
        match self {
            MeasureError::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound => 127,
            MeasureError::Spawn { .. } => 126,
            MeasureError::Wait { .. } | MeasureError::Record { .. } => 1,
        }
    }
}

/// Runs `program` with `args` (standard streams inherited), records its peak RSS in KB in
/// `file`, and returns the exit code a shell would give (`128 + signal` when it was killed).
/// A peak that cannot be recorded is reported on stderr and changes nothing else: the job's
/// exit status matters more than its memory.
pub fn measure(file: &Path, program: &OsStr, args: &[OsString]) -> i32 {
    let (code, maxrss_kb) = match run(program, args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bsweep: {}", crate::error_chain(&e));
            return e.exit_code();
        }
    };
    if let Err(e) = record(file, maxrss_kb) {
        eprintln!("bsweep: {}", crate::error_chain(&e));
    }
    code
}

/// Spawns and reaps the child with wait4, which hands back that child's own resource usage
/// (getrusage would mix in every other child of this process).
fn run(program: &OsStr, args: &[OsString]) -> Result<(i32, u64), MeasureError> {
    let name = || program.to_string_lossy().into_owned();
    let child = Command::new(program)
        .args(args)
        .spawn()
        .map_err(|source| MeasureError::Spawn {
            program: name(),
            source,
        })?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 writes only into the two locals it is given; `pid` is our own child,
        // not yet reaped (the `Child` handle is never waited on).
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(MeasureError::Wait {
                program: name(),
                source: err,
            });
        }
    }
    let code = if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    };
    Ok((code, u64::try_from(usage.ru_maxrss).unwrap_or(0)))
}

/// Writes the peak to a temporary name and renames it, so a reader never sees half a number.
fn record(file: &Path, maxrss_kb: u64) -> Result<(), MeasureError> {
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, format!("{maxrss_kb}\n"))
        .and_then(|()| fs::rename(&tmp, file))
        .map_err(|source| MeasureError::Record {
            path: file.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bash(script: &str) -> (OsString, Vec<OsString>) {
        ("bash".into(), vec!["-c".into(), script.into()])
    }

    #[test]
    fn records_the_peak_and_passes_the_exit_code_on() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("1.mem");
        // ~64 MB of `a`s held in the shell (bash copies it, so the peak is higher).
        let (p, a) = bash("x=$(head -c 64000000 /dev/zero | tr '\\0' a); exit 3");
        assert_eq!(measure(&file, &p, &a), 3);
        let kb: u64 = fs::read_to_string(&file).unwrap().trim().parse().unwrap();
        assert!(kb >= 60_000, "peak {kb} KB");
        assert!(!dir.path().join("1.mem.tmp").exists());
    }

    #[test]
    fn a_signal_reads_as_128_plus_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let (p, a) = bash("kill -9 $$");
        assert_eq!(measure(&dir.path().join("m"), &p, &a), 137);
        let (p, a) = bash("kill -TERM $$");
        assert_eq!(measure(&dir.path().join("m"), &p, &a), 143);
    }

    #[test]
    fn an_unwritable_file_still_runs_the_job_and_keeps_its_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        let file = dir.path().join("no/such/dir/1.mem");
        let (p, a) = bash(&format!("touch '{}'; exit 5", ran.display()));
        assert_eq!(measure(&file, &p, &a), 5);
        assert!(ran.exists(), "the job ran");
        assert!(!file.exists());
    }

    #[test]
    fn a_missing_program_exits_127_like_a_shell() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m");
        let code = measure(&file, OsStr::new("/no/such/program"), &[]);
        assert_eq!(code, 127);
        assert!(!file.exists());
    }
}
