//! Schedulers: the backends that run points (local processes, LSF), behind one batched trait.

pub mod local;
pub mod lsf;
pub mod measure;
pub mod slurm;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A scheduler's id for one job (an LSF job id such as `123` or `123[4]`, a local pid).
pub type JobId = String;

/// The state of a point (and of one attempt), the closed set users see in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Unsubmitted,
    Pending,
    Running,
    Suspended,
    Done,
    Failed,
    Cancelled,
    Unknown,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Unsubmitted,
        State::Pending,
        State::Running,
        State::Suspended,
        State::Done,
        State::Failed,
        State::Cancelled,
        State::Unknown,
    ];

    /// A final state never changes again for that attempt.
    pub fn is_final(self) -> bool {
        matches!(self, State::Done | State::Failed | State::Cancelled)
    }

    /// Submitted and not yet final: it holds a slot of its target.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            State::Pending | State::Running | State::Suspended | State::Unknown
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Unsubmitted => "unsubmitted",
            State::Pending => "pending",
            State::Running => "running",
            State::Suspended => "suspended",
            State::Done => "done",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::Unknown => "unknown",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One job to submit: a rendered script for one attempt of one point.
#[derive(Debug, Clone)]
pub struct Submission {
    pub index: u64,
    pub attempt: u32,
    pub job_name: String,
    pub script_path: PathBuf,
    pub out_dir: PathBuf,
    /// Index into the sweep's targets.
    pub target: usize,
    /// Files the job needs on the cluster, relative to the sweep's directory there (its job
    /// scripts), and directories to create there (its out_dir). A remote backend sends them
    /// in the same round trip as the submission; locally they are already in place.
    pub files: Vec<(String, Vec<u8>)>,
    pub dirs: Vec<String>,
}

/// What the scheduler said when it accepted a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    pub job_id: JobId,
    pub queue: Option<String>,
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobInfo {
    pub state: Option<State>,
    pub exit_code: Option<i32>,
    pub started: Option<f64>,
    pub ended: Option<f64>,
    pub host: Option<String>,
    pub max_mem_mb: Option<f64>,
    pub run_seconds: Option<f64>,
    /// Why the job ended the way it did, when the scheduler says more than a state.
    pub error: Option<String>,
}

/// Why a submission failed, and whether trying again later may help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SubmitError {
    /// Trying again later may work.
    pub transient: bool,
    /// The job may exist although no id came back (the answer was lost): look it up by name
    /// before submitting again.
    pub maybe_submitted: bool,
    pub message: String,
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
        source: lsf::parse::ParseError,
    },
    /// A scheduler command failed, or gave no answer about what it was asked.
    #[error("{command} failed on {place}: {detail}")]
    Failed {
        command: &'static str,
        place: String,
        detail: String,
    },
}

impl SchedError {
    /// True when the cluster could not be reached, as opposed to the scheduler answering badly.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, SchedError::Transport(_))
    }
}

/// A batch scheduler. Every call takes many jobs at once so a backend can use one round trip.
#[allow(async_fn_in_trait)] // used only inside this crate, on a single-threaded runtime
pub trait Scheduler {
    /// Seconds to wait after an unanswered submission before looking it up by name: a
    /// scheduler may not list a job it has just accepted.
    fn settle_seconds(&self) -> f64 {
        0.0
    }

    /// Pending jobs per target (same order as `targets`), for the least-pending policy; `None`
    /// when the scheduler cannot tell.
    async fn pending_per_target(&mut self, targets: &[crate::spec::Target]) -> Option<Vec<u32>> {
        let _ = targets;
        None
    }

    /// Submits a batch; one result per submission, in the same order.
    async fn submit(&mut self, batch: &[Submission]) -> Vec<Result<Submitted, SubmitError>>;

    /// Polls jobs. A job missing from the answer has no news (not a change of state).
    async fn status(&mut self, jobs: &[JobRef]) -> Result<HashMap<JobId, JobInfo>, SchedError>;

    /// Cancels jobs; jobs already finished or unknown are not an error.
    async fn cancel(&mut self, jobs: &[JobRef]) -> Result<(), SchedError>;

    /// Finds jobs by name, for submissions whose outcome was never recorded (a crash between
    /// recording the intent and recording the job id). Names not found are absent from the map.
    async fn find_by_name(&mut self, jobs: &[JobRef])
    -> Result<HashMap<String, JobId>, SchedError>;
}

/// The scheduler a sweep's backend names, chosen at run time.
pub enum AnySched {
    Local(local::LocalScheduler),
    Lsf(Box<lsf::LsfScheduler<crate::transport::AnyTransport>>),
}

impl Scheduler for AnySched {
    fn settle_seconds(&self) -> f64 {
        match self {
            AnySched::Local(s) => s.settle_seconds(),
            AnySched::Lsf(s) => s.settle_seconds(),
        }
    }

    async fn pending_per_target(&mut self, targets: &[crate::spec::Target]) -> Option<Vec<u32>> {
        match self {
            AnySched::Local(s) => s.pending_per_target(targets).await,
            AnySched::Lsf(s) => s.pending_per_target(targets).await,
        }
    }

    async fn submit(&mut self, batch: &[Submission]) -> Vec<Result<Submitted, SubmitError>> {
        match self {
            AnySched::Local(s) => s.submit(batch).await,
            AnySched::Lsf(s) => s.submit(batch).await,
        }
    }

    async fn status(&mut self, jobs: &[JobRef]) -> Result<HashMap<JobId, JobInfo>, SchedError> {
        match self {
            AnySched::Local(s) => s.status(jobs).await,
            AnySched::Lsf(s) => s.status(jobs).await,
        }
    }

    async fn cancel(&mut self, jobs: &[JobRef]) -> Result<(), SchedError> {
        match self {
            AnySched::Local(s) => s.cancel(jobs).await,
            AnySched::Lsf(s) => s.cancel(jobs).await,
        }
    }

    async fn find_by_name(
        &mut self,
        jobs: &[JobRef],
    ) -> Result<HashMap<String, JobId>, SchedError> {
        match self {
            AnySched::Local(s) => s.find_by_name(jobs).await,
            AnySched::Lsf(s) => s.find_by_name(jobs).await,
        }
    }
}
