//! Schedulers: the backends that run points (local processes, LSF, Slurm) behind one batched trait, each
//! with its own job-script dialect and its own reading of the sweep file's options.
//!
//! The engine sees a backend only through this module: a [`Profile`] (targets, policy, arrays,
//! pacing) and a [`Dialect`] decided from the sweep file, and a [`Scheduler`] that submits,
//! polls, cancels and finds jobs by name, many at a time.

pub mod local;
pub mod lsf;
pub mod script;
pub mod slurm;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::{Cause, JobId, State};
use crate::spec::{BackendKind, Policy, Spec, Target};

/// How often to poll: starts at `initial`, backs off by `factor` while nothing changes, up to
/// `max`; any change resets it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollOpts {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
}

/// What a backend decides about a sweep from its file, before anything runs: where its jobs go
/// and how the engine paces them. `plan` and the engine share it.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub backend: BackendKind,
    /// Where jobs may go, in the file's order (attempts refer to them by position). Never empty.
    pub targets: Vec<Target>,
    pub policy: Policy,
    /// First attempts go as job arrays of at most this many elements.
    pub arrays: Option<u32>,
    pub poll: PollOpts,
    /// Seconds the scheduler may take to list a job it accepted: an unanswered submission is
    /// looked up by name, and a missing job counted as missing, only after this.
    pub settle: f64,
    /// Seconds a job may be unknown to the scheduler and its files before it counts as lost.
    pub lost_after: f64,
    /// Submissions (scheduler calls) per round trip: see [`batch_for`].
    pub batch: usize,
}

/// Submissions in one round trip at most. A round trip to a login node costs about as much as
/// 20 to 40 fast bsubs (channel, login shell, `init`, lock), so batches are large; past a few
/// hundred the saving is small and a cut connection leaves more submissions to look up by name.
pub const MAX_BATCH: usize = 256;

/// Seconds one submission round trip should take at most: it stays well inside every
/// transport's time limit, and bsweep hears of its jobs (and shows progress) about this often,
/// however paced or slow the scheduler.
const ROUND_TRIP_SECONDS: f64 = 60.0;

/// Seconds between two submissions at `submit_rate` per second, if paced.
pub fn pause_of(submit_rate: Option<f64>) -> Option<f64> {
    submit_rate.filter(|r| *r > 0.0).map(|r| 1.0 / r)
}

/// Submissions per round trip for a backend whose calls are `pause` seconds apart (its
/// `submit_rate`), if paced.
pub fn batch_for(pause: Option<f64>) -> usize {
    match pause {
        Some(p) if p > 0.0 => ((ROUND_TRIP_SECONDS / p) as usize).clamp(1, MAX_BATCH),
        _ => MAX_BATCH,
    }
}

/// The size of the next submission round trip, after one of `n` submissions took `took`
/// seconds: as many as fit in [`ROUND_TRIP_SECONDS`] at that pace (a busy mbatchd taking a
/// second a bsub gets round trips of 60), at most `max` (the profile's batch). The pace
/// includes the round trip itself, so it errs on the small side.
pub fn next_batch(max: usize, n: usize, took: f64) -> usize {
    if n == 0 || took <= 0.0 {
        return max;
    }
    ((ROUND_TRIP_SECONDS * n as f64 / took) as usize).clamp(1, max)
}

impl Profile {
    /// The profile a sweep file gives its backend.
    pub fn of(spec: &Spec) -> Self {
        match spec.backend {
            BackendKind::Local => local::profile(spec),
            BackendKind::Lsf => lsf::profile(spec),
            BackendKind::Slurm => slurm::profile(spec),
        }
    }

    /// How target `t` is named to users: `short`, `@hostgroup`, `gpu@hostgroup`, `local`.
    pub fn label(&self, t: usize) -> String {
        match self.backend {
            BackendKind::Local => "local".to_string(),
            _ => self.targets.get(t).map(Target::label).unwrap_or_default(),
        }
    }

    pub fn labels(&self) -> Vec<String> {
        (0..self.targets.len()).map(|t| self.label(t)).collect()
    }
}

/// How a backend writes job scripts and reads what its scheduler leaves in a job's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Plain bash scripts run by this machine.
    Local,
    /// `#BSUB` scripts for `bsub < script`; LSF writes a report into the `-o` file.
    Lsf,
    /// `#SBATCH` scripts for `sbatch < script`; Slurm keeps its reports in sacct, not in
    /// the output.
    Slurm,
}

impl Dialect {
    pub fn of(backend: BackendKind) -> Self {
        match backend {
            BackendKind::Local => Dialect::Local,
            BackendKind::Lsf => Dialect::Lsf,
            BackendKind::Slurm => Dialect::Slurm,
        }
    }

    /// The job script of one attempt of one point.
    pub fn job_script(self, spec: &Spec, job: &script::Job<'_>) -> String {
        match self {
            Dialect::Local => local::job_script(spec, job),
            Dialect::Lsf => lsf::script::job_script(spec, job),
            Dialect::Slurm => slurm::script::job_script(spec, job),
        }
    }

    /// The driver script of a job array (`None`: this backend has no arrays).
    pub fn array_script(self, spec: &Spec, array: &script::Array<'_>) -> Option<String> {
        match self {
            Dialect::Local => None,
            Dialect::Lsf => Some(lsf::script::array_script(spec, array)),
            Dialect::Slurm => Some(slurm::script::array_script(spec, array)),
        }
    }

    /// The name a job script gives its job, read back from the script (what `recover` matches
    /// against the scheduler).
    pub fn job_name_in(self, script: &str) -> Option<String> {
        match self {
            Dialect::Local => None,
            Dialect::Lsf => lsf::script::job_name_in(script),
            Dialect::Slurm => slurm::script::job_name_in(script),
        }
    }

    /// Which of `targets` a job script was written for.
    pub fn target_in(self, script: &str, targets: &[Target]) -> Option<usize> {
        match self {
            Dialect::Local => Some(0),
            Dialect::Lsf => lsf::script::target_in(script, targets),
            Dialect::Slurm => slurm::script::target_in(script, targets),
        }
    }

    /// Whether the scheduler writes a report on each job into its output files (LSF does;
    /// Slurm keeps it in sacct).
    pub fn writes_reports(self) -> bool {
        self == Dialect::Lsf
    }

    /// The scheduler's report on job `job_name` in an output file, if it writes one there.
    pub fn report_of(self, text: &str, job_name: &str) -> Option<JobReport> {
        match self {
            Dialect::Local | Dialect::Slurm => None,
            Dialect::Lsf => lsf::report_of(text, job_name),
        }
    }

    /// The scheduler's report on job `job_name` in the output file at `path`, wherever in the
    /// file it is and however large the file.
    pub fn report_in_file(self, file: std::fs::File, job_name: &str) -> Option<JobReport> {
        match self {
            Dialect::Local | Dialect::Slurm => None,
            Dialect::Lsf => lsf::report_in_file(file, job_name),
        }
    }

    /// An output file split into the job's own output and the scheduler's reports in it
    /// (`None` for a report that cannot be read).
    pub fn split_output(self, text: &str) -> (String, Vec<Option<JobReport>>) {
        match self {
            Dialect::Local | Dialect::Slurm => (text.to_string(), Vec::new()),
            Dialect::Lsf => lsf::split_output(text),
        }
    }

    /// What job `job_name` itself printed into an output file that several attempts appended
    /// to: the output of the attempt its report describes, or while it has none, the output no
    /// report claims. Never the scheduler's report lines or the job script it echoes.
    pub fn own_output(self, text: &str, job_name: &str) -> String {
        match self {
            // Slurm writes no reports into output files: all of it is the job's.
            Dialect::Local | Dialect::Slurm => text.to_string(),
            Dialect::Lsf => lsf::own_output(text, job_name),
        }
    }

    /// A shell command printing only the scheduler's report lines of the output file on its
    /// stdin (`None`: this backend writes no reports), so a cluster sends a report without the
    /// job's output around it.
    pub fn report_lines_command(self) -> Option<&'static str> {
        match self {
            Dialect::Local | Dialect::Slurm => None,
            Dialect::Lsf => Some(lsf::REPORT_LINES),
        }
    }

    /// The command showing what a running job has printed so far where its output file is not
    /// written yet (`None`: this backend has none, its output file is the place to look).
    pub fn peek_command(self, job_id: &JobId) -> Option<String> {
        match self {
            // Slurm writes a running job's output file as it goes.
            Dialect::Local | Dialect::Slurm => None,
            Dialect::Lsf => Some(lsf::peek_command(job_id)),
        }
    }

    /// The job's output in what [`Self::peek_command`] printed.
    pub fn peek_output(self, stdout: &str) -> String {
        match self {
            Dialect::Local | Dialect::Slurm => stdout.to_string(),
            Dialect::Lsf => lsf::parse::parse_bpeek(stdout),
        }
    }
}

/// How a finished job ended, as its scheduler's report tells it.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportOutcome {
    Done,
    Exited {
        code: i32,
    },
    /// The scheduler ended it (a limit, a kill): `reason` is its words.
    Killed {
        reason: String,
        code: Option<i32>,
    },
}

/// What a scheduler's report on a finished job says. Times are as the cluster wrote them (its
/// local time, no zone); the cluster's own `date` reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct JobReport {
    pub job_id: Option<String>,
    pub outcome: ReportOutcome,
    pub started: Option<String>,
    pub ended: Option<String>,
    pub run_seconds: Option<f64>,
    pub max_mem_mb: Option<f64>,
}

/// One job to submit: a rendered script for one attempt of one point (or a job array).
#[derive(Debug, Clone)]
pub struct Submission {
    pub index: u64,
    pub attempt: u32,
    pub job_name: String,
    /// The job script where the scheduler reads it.
    pub script_path: PathBuf,
    pub out_dir: PathBuf,
    /// Index into the profile's targets.
    pub target: usize,
    /// Files the job needs on the cluster, relative to the sweep's directory there (its job
    /// scripts), and directories to create there (its out_dirs). A remote backend sends them
    /// in the same round trip as the submission; locally they are already in place.
    pub files: Vec<(String, Vec<u8>)>,
    pub dirs: Vec<String>,
}

/// What the scheduler said when it accepted a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The job's id (a job array's own id for an array).
    pub job_id: JobId,
    pub queue: Option<String>,
    /// The job's state right after submission: pending on a batch scheduler, running for a
    /// process started here.
    pub state: State,
}

/// Why a submission failed, and what that means for the job.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubmitError {
    /// Refused for good (a queue that does not exist, a bad option): nothing was submitted and
    /// this target takes no more jobs.
    #[error("{said}")]
    Refused { said: String },
    /// Nothing was submitted; trying again later may work.
    #[error("{said}")]
    Retry { said: String },
    /// The answer was lost (a cut connection, a timeout): the job may exist, so it is looked up
    /// by name before anything is submitted again.
    #[error("{said}")]
    Unanswered { said: String },
}

/// A job the scheduler knows about, as the engine refers to it when polling or cancelling.
#[derive(Debug, Clone)]
pub struct JobRef {
    pub job_id: JobId,
    pub job_name: String,
    pub attempt: u32,
    pub out_dir: PathBuf,
    /// The file the scheduler writes its report on the job into (LSF's `-o` file).
    pub report: PathBuf,
    /// When the job was submitted (unix seconds), if known: a scheduler may not show a job
    /// for a moment after accepting it.
    pub submitted: Option<f64>,
}

/// What a poll learned about one job. Times are unix seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    pub state: State,
    pub exit_code: Option<i32>,
    pub started: Option<f64>,
    pub ended: Option<f64>,
    pub host: Option<String>,
    pub max_mem_mb: Option<f64>,
    pub run_seconds: Option<f64>,
    /// Why the job ended the way it did, when the scheduler says more than a state.
    pub reason: Option<String>,
    /// Why a failed job failed, when the scheduler says (a limit, a kill); `None` leaves the
    /// engine to read an exit code as [`Cause::Exit`].
    pub cause: Option<Cause>,
}

impl JobInfo {
    pub fn new(state: State) -> Self {
        Self {
            state,
            exit_code: None,
            started: None,
            ended: None,
            host: None,
            max_mem_mb: None,
            run_seconds: None,
            reason: None,
            cause: None,
        }
    }
}

/// A poll's answer about one job.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Known(JobInfo),
    /// Neither the scheduler nor the job's files know the job (any more): the engine decides,
    /// with its `lost_after` clock, when that makes it lost.
    Missing,
}

#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    /// The scheduler's commands could not be run where it lives (no connection, a timeout).
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    /// A scheduler command printed what its parser cannot read.
    #[error("{command} printed something bsweep cannot read")]
    Unreadable {
        command: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A scheduler command failed, or gave no answer about what it was asked; `said` is its
    /// exit status and words.
    #[error("{command} failed on {place}: {said}")]
    Failed {
        command: &'static str,
        place: String,
        said: String,
    },
}

impl SchedError {
    /// True when the cluster could not be reached, as opposed to the scheduler answering badly.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, SchedError::Transport(_))
    }

    /// The host, when the cluster cannot be reached until a person logs in (`bsweep login`).
    pub fn needs_login(&self) -> Option<&str> {
        match self {
            SchedError::Transport(crate::transport::TransportError::NeedsLogin { host }) => {
                Some(host)
            }
            _ => None,
        }
    }
}

/// A batch scheduler. Every call takes many jobs at once so a backend can use one round trip.
#[allow(async_fn_in_trait)] // used only inside this crate, on a single-threaded runtime
pub trait Scheduler {
    /// What this backend decided about the sweep.
    fn profile(&self) -> &Profile;

    fn dialect(&self) -> Dialect;

    /// Pending jobs per target (the profile's order), for the least-pending policy; `None`
    /// when the scheduler cannot tell.
    async fn pending_per_target(&mut self) -> Option<Vec<u32>> {
        None
    }

    /// Submits a batch; one result per submission, in the same order.
    async fn submit(&mut self, batch: &[Submission]) -> Vec<Result<Accepted, SubmitError>>;

    /// Polls jobs. A job absent from the answer has no news (not a change of state).
    async fn status(&mut self, jobs: &[JobRef]) -> Result<HashMap<JobId, Seen>, SchedError>;

    /// Cancels jobs; jobs already finished or unknown are not an error.
    async fn cancel(&mut self, jobs: &[JobRef]) -> Result<(), SchedError>;

    /// Finds jobs by name, for submissions whose outcome was never recorded (a crash between
    /// recording the intent and recording the job id). Names not found are absent from the map.
    /// An error means "could not ask", never "none exists".
    async fn find_by_name(&mut self, jobs: &[JobRef])
    -> Result<HashMap<String, JobId>, SchedError>;
}

/// The scheduler a sweep's backend names, chosen at run time.
pub enum AnySched {
    Local(Box<local::LocalScheduler>),
    Lsf(Box<lsf::LsfScheduler<crate::transport::AnyTransport>>),
    Slurm(Box<slurm::SlurmScheduler<crate::transport::AnyTransport>>),
}

impl Scheduler for AnySched {
    fn profile(&self) -> &Profile {
        match self {
            AnySched::Local(s) => s.profile(),
            AnySched::Lsf(s) => s.profile(),
            AnySched::Slurm(s) => s.profile(),
        }
    }

    fn dialect(&self) -> Dialect {
        match self {
            AnySched::Local(s) => s.dialect(),
            AnySched::Lsf(s) => s.dialect(),
            AnySched::Slurm(s) => s.dialect(),
        }
    }

    async fn pending_per_target(&mut self) -> Option<Vec<u32>> {
        match self {
            AnySched::Local(s) => s.pending_per_target().await,
            AnySched::Lsf(s) => s.pending_per_target().await,
            AnySched::Slurm(s) => s.pending_per_target().await,
        }
    }

    async fn submit(&mut self, batch: &[Submission]) -> Vec<Result<Accepted, SubmitError>> {
        match self {
            AnySched::Local(s) => s.submit(batch).await,
            AnySched::Lsf(s) => s.submit(batch).await,
            AnySched::Slurm(s) => s.submit(batch).await,
        }
    }

    async fn status(&mut self, jobs: &[JobRef]) -> Result<HashMap<JobId, Seen>, SchedError> {
        match self {
            AnySched::Local(s) => s.status(jobs).await,
            AnySched::Lsf(s) => s.status(jobs).await,
            AnySched::Slurm(s) => s.status(jobs).await,
        }
    }

    async fn cancel(&mut self, jobs: &[JobRef]) -> Result<(), SchedError> {
        match self {
            AnySched::Local(s) => s.cancel(jobs).await,
            AnySched::Lsf(s) => s.cancel(jobs).await,
            AnySched::Slurm(s) => s.cancel(jobs).await,
        }
    }

    async fn find_by_name(
        &mut self,
        jobs: &[JobRef],
    ) -> Result<HashMap<String, JobId>, SchedError> {
        match self {
            AnySched::Local(s) => s.find_by_name(jobs).await,
            AnySched::Lsf(s) => s.find_by_name(jobs).await,
            AnySched::Slurm(s) => s.find_by_name(jobs).await,
        }
    }
}
