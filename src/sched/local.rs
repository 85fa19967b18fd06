//! The local backend: runs points as processes of this machine, each in its own process group,
//! through a wrapper that records the exit status next to the outputs (so a point's end is known
//! even if bsweep was killed meanwhile).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::UNIX_EPOCH;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::{
    JobId, JobInfo, JobRef, SchedError, Scheduler, State, Submission, SubmitError, Submitted,
};

/// `bash -c WRAPPER JOB_NAME SCRIPT OUT_DIR ATTEMPT`. The job name is `$0`, so it shows in the
/// process's command line and a job can be found by name after a crash. The exit file is written
/// to a temporary name and renamed, so a reader never sees half a number.
const WRAPPER: &str = r#"ctl="$2/.bsweep"
echo $$ > "$ctl/$3.pid"
bash "$1" > "$2/stdout.txt" 2> "$2/stderr.txt" < /dev/null
rc=$?
printf '%s\n' "$rc" > "$ctl/$3.exit.tmp" && mv -f "$ctl/$3.exit.tmp" "$ctl/$3.exit""#;

/// Runs jobs as local processes. Children it started are reaped here; jobs it only adopted
/// (after a restart) are followed through their pid and exit files.
#[derive(Default)]
pub struct LocalScheduler {
    children: HashMap<JobId, Child>,
    cancelled: HashSet<JobId>,
}

impl LocalScheduler {
    pub fn new() -> Self {
        Self::default()
    }
}

fn ctl_dir(out_dir: &Path) -> PathBuf {
    out_dir.join(".bsweep")
}

fn ctl_file(job: &JobRef, ext: &str) -> PathBuf {
    ctl_dir(&job.out_dir).join(format!("{}.{ext}", job.attempt))
}

fn mtime_secs(path: &Path) -> Option<f64> {
    let m = fs::metadata(path).ok()?.modified().ok()?;
    Some(m.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
}

/// Reads the wrapper's exit file: `Some(code)` once the job has ended.
fn read_exit(job: &JobRef) -> Option<(i32, Option<f64>)> {
    let path = ctl_file(job, "exit");
    let text = fs::read_to_string(&path).ok()?;
    let code = text.trim().parse().ok()?;
    Some((code, mtime_secs(&path)))
}

/// True when `pid` is alive and is the wrapper of `job_name` (guards against pid reuse).
fn wrapper_alive(pid: &str, job_name: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == job_name.as_bytes())
}

/// Finds a live wrapper process by its job name, scanning /proc (for the moment between spawn
/// and the wrapper writing its pid file).
fn find_process(job_name: &str) -> Option<String> {
    let entries = fs::read_dir("/proc").ok()?;
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .find(|pid| wrapper_alive(pid, job_name))
}

impl LocalScheduler {
    fn spawn(&mut self, sub: &Submission) -> Result<Submitted, SubmitError> {
        let fail = |what: &str, e: std::io::Error| SubmitError {
            transient: false,
            maybe_submitted: false,
            message: format!("{what}: {e}"),
        };
        fs::create_dir_all(ctl_dir(&sub.out_dir))
            .map_err(|e| fail(&format!("cannot create {}", sub.out_dir.display()), e))?;
        let child = Command::new("bash")
            .arg("-c")
            .arg(WRAPPER)
            .arg(&sub.job_name)
            .arg(&sub.script_path)
            .arg(&sub.out_dir)
            .arg(sub.attempt.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: Ctrl-C in bsweep's terminal does not reach the job, and
            // cancel can stop the whole tree at once.
            .process_group(0)
            .spawn()
            .map_err(|e| fail("cannot start bash", e))?;
        let job_id = child.id().to_string();
        self.children.insert(job_id.clone(), child);
        Ok(Submitted {
            job_id,
            queue: None,
        })
    }

    fn poll_one(&mut self, job: &JobRef) -> JobInfo {
        let started = mtime_secs(&ctl_file(job, "pid"));
        if let Some((code, ended)) = read_exit(job) {
            if let Some(mut child) = self.children.remove(&job.job_id) {
                // Reap it so it does not linger as a zombie; it has written its exit file.
                let _ = child.wait();
            }
            let cancelled =
                self.cancelled.contains(&job.job_id) || ctl_file(job, "cancelled").exists();
            let state = match (code, cancelled) {
                (0, _) => State::Done,
                (_, true) => State::Cancelled,
                _ => State::Failed,
            };
            return JobInfo {
                state: Some(state),
                exit_code: Some(code),
                started,
                ended,
                run_seconds: started.zip(ended).map(|(s, e)| (e - s).max(0.0)),
                ..JobInfo::default()
            };
        }
        let alive = match self.children.get_mut(&job.job_id) {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => wrapper_alive(&job.job_id, &job.job_name),
        };
        if alive {
            return JobInfo {
                state: Some(State::Running),
                started,
                ..JobInfo::default()
            };
        }
        // The wrapper may have written its exit file between our two looks.
        if read_exit(job).is_some() {
            return self.poll_one(job);
        }
        self.children.remove(&job.job_id);
        let cancelled = self.cancelled.contains(&job.job_id) || ctl_file(job, "cancelled").exists();
        // The wrapper died without recording an exit status: killed from outside (or cancelled).
        JobInfo {
            state: Some(if cancelled {
                State::Cancelled
            } else {
                State::Failed
            }),
            started,
            ..JobInfo::default()
        }
    }
}

impl Scheduler for LocalScheduler {
    async fn submit(&mut self, batch: &[Submission]) -> Vec<Result<Submitted, SubmitError>> {
        batch.iter().map(|sub| self.spawn(sub)).collect()
    }

    async fn status(&mut self, jobs: &[JobRef]) -> Result<HashMap<JobId, JobInfo>, SchedError> {
        Ok(jobs
            .iter()
            .map(|job| (job.job_id.clone(), self.poll_one(job)))
            .collect())
    }

    async fn cancel(&mut self, jobs: &[JobRef]) -> Result<(), SchedError> {
        for job in jobs {
            // The marker survives a restart of bsweep, so the end reads as cancelled, not failed.
            let _ = fs::write(ctl_file(job, "cancelled"), b"");
            self.cancelled.insert(job.job_id.clone());
            let alive = self.children.contains_key(&job.job_id)
                || wrapper_alive(&job.job_id, &job.job_name);
            if let (true, Ok(pid)) = (alive, job.job_id.parse::<i32>()) {
                // The wrapper leads its own process group (process_group(0) at spawn).
                let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        Ok(())
    }

    async fn find_by_name(
        &mut self,
        jobs: &[JobRef],
    ) -> Result<HashMap<String, JobId>, SchedError> {
        let mut found = HashMap::new();
        for job in jobs {
            let from_file = fs::read_to_string(ctl_file(job, "pid"))
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty());
            // A pid file or an exit file means the wrapper started: the job exists.
            let id = match from_file {
                Some(pid) => Some(pid),
                None => find_process(&job.job_name),
            };
            if let Some(id) = id {
                found.insert(job.job_name.clone(), id);
            }
        }
        Ok(found)
    }
}
