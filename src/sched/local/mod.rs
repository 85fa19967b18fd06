//! The local backend: runs points as processes of this machine, each in its own process group,
//! through a wrapper that records the exit status and peak memory next to the outputs (so a
//! point's end is known even if bsweep was killed meanwhile).

pub mod measure;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::script::{self, Job};
use super::{
    Accepted, Dialect, JobInfo, JobRef, PollOpts, Profile, SchedError, Scheduler, Seen, Submission,
    SubmitError,
};
use crate::layout::{STDERR_FILE, STDOUT_FILE, control_file};
use crate::model::{JobId, State};
use crate::spec::{BackendKind, Policy, Spec, Target};

/// The profile of a local sweep: one target, this machine, with the concurrency as its cap.
pub fn profile(spec: &Spec) -> Profile {
    Profile {
        backend: BackendKind::Local,
        targets: vec![Target {
            queue: None,
            hosts: None,
            weight: 1,
            max_in_flight: Some(spec.local.concurrency as u32),
        }],
        policy: Policy::RoundRobin,
        arrays: None,
        // Local polls are a few stat calls: keep them brisk.
        poll: PollOpts {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            factor: 1.5,
        },
        // A local job exists the moment it is spawned.
        settle: 0.0,
        lost_after: 0.0,
        batch: super::MAX_BATCH,
    }
}

/// A local job script: plain bash, what the job does and nothing for a scheduler.
pub fn job_script(spec: &Spec, job: &Job<'_>) -> String {
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&script::body(spec, job));
    s
}

/// `bash -c WRAPPER JOB_NAME SCRIPT OUT_DIR ATTEMPT MEASURER STDOUT STDERR`. The job name is `$0`, so it shows
/// in the process's command line and a job can be found by name after a crash. The job runs
/// under `MEASURER internal-measure` (bsweep itself), which writes its peak memory to
/// `<attempt>.mem` and exits as the job did; without a runnable MEASURER (none given, or the
/// binary replaced since) the job runs unmeasured. The exit file is written to a temporary name
/// and renamed, so a reader never sees half a number. The closing `exit` keeps the wrapper's own
/// process to the end: bash runs the last command of `-c` in place (exec), and a wrapper turned
/// into `mv` no longer carries the job name a poll knows it by, so a poll in that moment took the
/// job for killed.
const WRAPPER: &str = r#"ctl="$2/.bsweep"
echo $$ > "$ctl/$3.pid"
if [ -f "$4" ] && [ -x "$4" ]; then
  "$4" internal-measure "$ctl/$3.mem" -- bash "$1" > "$2/$5" 2> "$2/$6" < /dev/null
else
  bash "$1" > "$2/$5" 2> "$2/$6" < /dev/null
fi
rc=$?
printf '%s\n' "$rc" > "$ctl/$3.exit.tmp" && mv -f "$ctl/$3.exit.tmp" "$ctl/$3.exit"
exit 0"#;

/// Runs jobs as local processes. Children it started are reaped here; jobs it only adopted
/// (after a restart) are followed through their pid and exit files.
pub struct LocalScheduler {
    profile: Profile,
    children: HashMap<JobId, Child>,
    cancelled: HashSet<JobId>,
    /// The bsweep binary whose `internal-measure` runs each job; `None` runs jobs unmeasured.
    measurer: Option<PathBuf>,
}

impl LocalScheduler {
    pub fn new(spec: &Spec) -> Self {
        Self {
            profile: profile(spec),
            children: HashMap::new(),
            cancelled: HashSet::new(),
            measurer: None,
        }
    }

    /// Runs each job under `exe internal-measure` to record its peak memory. Only the bsweep
    /// binary has that command, so the caller passes its own path (a test harness must not).
    pub fn measured_by(mut self, exe: PathBuf) -> Self {
        self.measurer = Some(exe);
        self
    }
}

fn ctl_file(job: &JobRef, ext: &str) -> PathBuf {
    control_file(&job.out_dir, job.attempt, ext)
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

/// Reads the measuring step's peak memory (KB) of an ended job, in MB.
fn read_mem_mb(job: &JobRef) -> Option<f64> {
    let text = fs::read_to_string(ctl_file(job, "mem")).ok()?;
    let kb: u64 = text.trim().parse().ok()?;
    Some(kb as f64 / 1024.0)
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
    fn spawn(&mut self, sub: &Submission) -> Result<Accepted, SubmitError> {
        let fail = |what: &str, e: std::io::Error| SubmitError::Refused {
            said: format!("{what}: {e}"),
        };
        let ctl = control_file(&sub.out_dir, sub.attempt, "pid");
        fs::create_dir_all(ctl.parent().unwrap_or(&sub.out_dir))
            .map_err(|e| fail(&format!("cannot create {}", sub.out_dir.display()), e))?;
        let child = self
            .wrapper(sub)
            .spawn()
            .map_err(|e| fail("cannot start bash", e))?;
        let job_id = JobId::new(child.id().to_string());
        self.children.insert(job_id.clone(), child);
        Ok(Accepted {
            job_id,
            queue: None,
            state: State::Running,
        })
    }

    /// The command that runs one job through [`WRAPPER`].
    fn wrapper(&self, sub: &Submission) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(WRAPPER)
            .arg(&sub.job_name)
            .arg(&sub.script_path)
            .arg(&sub.out_dir)
            .arg(sub.attempt.to_string())
            .arg(self.measurer.as_deref().unwrap_or(Path::new("")))
            .arg(STDOUT_FILE)
            .arg(STDERR_FILE)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: Ctrl-C in bsweep's terminal does not reach the job, and
            // cancel can stop the whole tree at once.
            .process_group(0);
        cmd
    }

    fn poll_one(&mut self, job: &JobRef) -> JobInfo {
        let started = mtime_secs(&ctl_file(job, "pid"));
        if let Some((code, ended)) = read_exit(job) {
            if let Some(mut child) = self.children.remove(&job.job_id) {
                // Reap it so it does not linger as a zombie; it has written its exit file.
                let _ = child.wait();
            }
            let state = match (code, self.was_cancelled(job)) {
                (0, _) => State::Done,
                (_, true) => State::Cancelled,
                _ => State::Failed,
            };
            return JobInfo {
                exit_code: Some(code),
                started,
                ended,
                run_seconds: started.zip(ended).map(|(s, e)| (e - s).max(0.0)),
                max_mem_mb: read_mem_mb(job),
                ..JobInfo::new(state)
            };
        }
        let alive = match self.children.get_mut(&job.job_id) {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => wrapper_alive(job.job_id.job(), &job.job_name),
        };
        if alive {
            return JobInfo {
                started,
                ..JobInfo::new(State::Running)
            };
        }
        // The wrapper may have written its exit file between our two looks.
        if read_exit(job).is_some() {
            return self.poll_one(job);
        }
        self.children.remove(&job.job_id);
        // The wrapper died without recording an exit status: killed from outside (or cancelled).
        let state = if self.was_cancelled(job) {
            State::Cancelled
        } else {
            State::Failed
        };
        JobInfo {
            started,
            // The job may have ended and been measured before its wrapper was killed.
            max_mem_mb: read_mem_mb(job),
            reason: (state == State::Failed)
                .then(|| "the job's process ended without an exit status (killed)".to_string()),
            ..JobInfo::new(state)
        }
    }

    fn was_cancelled(&self, job: &JobRef) -> bool {
        self.cancelled.contains(&job.job_id) || ctl_file(job, "cancelled").exists()
    }
}

impl Scheduler for LocalScheduler {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn dialect(&self) -> Dialect {
        Dialect::Local
    }

    async fn submit(&mut self, batch: &[Submission]) -> Vec<Result<Accepted, SubmitError>> {
        batch.iter().map(|sub| self.spawn(sub)).collect()
    }

    async fn status(&mut self, jobs: &[JobRef]) -> Result<HashMap<JobId, Seen>, SchedError> {
        Ok(jobs
            .iter()
            .map(|job| (job.job_id.clone(), Seen::Known(self.poll_one(job))))
            .collect())
    }

    async fn cancel(&mut self, jobs: &[JobRef]) -> Result<(), SchedError> {
        for job in jobs {
            // The marker survives a restart of bsweep, so the end reads as cancelled, not failed.
            let _ = fs::write(ctl_file(job, "cancelled"), b"");
            self.cancelled.insert(job.job_id.clone());
            let alive = self.children.contains_key(&job.job_id)
                || wrapper_alive(job.job_id.job(), &job.job_name);
            if let (true, Ok(pid)) = (alive, job.job_id.job().parse::<i32>()) {
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
                found.insert(job.job_name.clone(), JobId::new(id));
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_spec() -> Spec {
        Spec::from_toml("name = \"t\"\ncommand = \"true\"\n", Path::new("t.toml")).unwrap()
    }

    /// Runs `command` as attempt 1 of a job through the wrapper and polls it to its end.
    fn run_job(sched: &mut LocalScheduler, dir: &Path, name: &str, command: &str) -> JobInfo {
        let script = dir.join(format!("{name}.sh"));
        fs::write(&script, command).unwrap();
        let out_dir = dir.join(name);
        let sub = Submission {
            index: 0,
            attempt: 1,
            job_name: format!("bsw-test-{name}-1"),
            script_path: script,
            out_dir: out_dir.clone(),
            target: 0,
            files: Vec::new(),
            dirs: Vec::new(),
        };
        let job_id = sched.spawn(&sub).unwrap().job_id;
        let job = JobRef {
            job_id,
            job_name: sub.job_name.clone(),
            attempt: 1,
            out_dir,
            report: dir.join("report"),
            submitted: None,
        };
        let start = std::time::Instant::now();
        loop {
            let info = sched.poll_one(&job);
            if info.state.is_final() {
                return info;
            }
            assert!(start.elapsed().as_secs() < 30, "job {name} never ended");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn without_a_runnable_measurer_jobs_run_unmeasured_with_their_exit_codes() {
        let dir = tempfile::tempdir().unwrap();
        let spec = test_spec();
        let missing = dir.path().join("no-such-bsweep");
        for (mut sched, tag) in [
            (LocalScheduler::new(&spec), "none"),
            (LocalScheduler::new(&spec).measured_by(missing), "missing"),
            // A directory is "executable" to `-x` but cannot be run.
            (
                LocalScheduler::new(&spec).measured_by(dir.path().into()),
                "dir",
            ),
        ] {
            let info = run_job(&mut sched, dir.path(), &format!("{tag}-ok"), "echo hi");
            assert_eq!((info.state, info.exit_code), (State::Done, Some(0)));
            assert_eq!(info.max_mem_mb, None, "{tag}");
            let out = fs::read_to_string(dir.path().join(format!("{tag}-ok/stdout.txt")));
            assert_eq!(out.unwrap(), "hi\n", "{tag}");
            let info = run_job(&mut sched, dir.path(), &format!("{tag}-bad"), "exit 3");
            assert_eq!((info.state, info.exit_code), (State::Failed, Some(3)));
        }
    }

    #[test]
    fn a_wrapper_recording_its_exit_is_still_running_not_killed() {
        // A slow `mv` holds the wrapper in its last step, where bash would exec it in place.
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        let started = dir.path().join("mv-started");
        fs::write(
            bin.join("mv"),
            format!(
                "#!/bin/bash\ntouch '{}'\nsleep 1\nexec /bin/mv \"$@\"\n",
                started.display()
            ),
        )
        .unwrap();
        fs::set_permissions(
            bin.join("mv"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let script = dir.path().join("job.sh");
        fs::write(&script, "true").unwrap();
        let out_dir = dir.path().join("out");
        fs::create_dir_all(out_dir.join(".bsweep")).unwrap();
        let sub = Submission {
            index: 0,
            attempt: 1,
            job_name: "bsw-test-00000-1".into(),
            script_path: script,
            out_dir: out_dir.clone(),
            target: 0,
            files: Vec::new(),
            dirs: Vec::new(),
        };
        let mut sched = LocalScheduler::new(&test_spec());
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = sched.wrapper(&sub).env("PATH", path).spawn().unwrap();
        let job = JobRef {
            job_id: JobId::new(child.id().to_string()),
            job_name: sub.job_name.clone(),
            attempt: 1,
            out_dir,
            report: dir.path().join("report"),
            submitted: None,
        };
        let start = std::time::Instant::now();
        while !started.exists() {
            assert!(
                start.elapsed().as_secs() < 30,
                "the wrapper never reached mv"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Adopted, as after a restart: known by its pid and job name only.
        let info = sched.poll_one(&job);
        assert_eq!(info.state, State::Running, "{:?}", info.reason);
        child.wait().unwrap();
        let info = sched.poll_one(&job);
        assert_eq!((info.state, info.exit_code), (State::Done, Some(0)));
    }

    #[test]
    fn an_ended_job_reads_its_measured_peak_in_mb() {
        let dir = tempfile::tempdir().unwrap();
        let job = JobRef {
            job_id: JobId::new("1"),
            job_name: "bsw-test-00000-2".into(),
            attempt: 2,
            out_dir: dir.path().into(),
            report: dir.path().join("report"),
            submitted: None,
        };
        fs::create_dir_all(dir.path().join(".bsweep")).unwrap();
        assert_eq!(read_mem_mb(&job), None);
        fs::write(ctl_file(&job, "mem"), "153600\n").unwrap();
        fs::write(ctl_file(&job, "exit"), "0\n").unwrap();
        let info = LocalScheduler::new(&test_spec()).poll_one(&job);
        assert_eq!(info.state, State::Done);
        assert_eq!(info.max_mem_mb, Some(150.0));
        fs::write(ctl_file(&job, "mem"), "garbage").unwrap();
        assert_eq!(read_mem_mb(&job), None);
    }
}
