//! The use cases, one module each. They compose the layers below (spec, store, engine, sched,
//! transport) and return typed results and errors; the command line (`cli`) renders them.
//! `connect` is the only place that picks a transport, probes a cluster and resolves remote
//! directories.

pub mod cancel;
pub mod collect;
pub mod connect;
pub mod debug;
pub mod delete;
pub mod doctor;
pub mod follow;
pub mod launch;
pub mod list;
pub mod login;
pub mod logs;
pub mod plan;
pub mod recover;
pub mod report;
pub mod status;
pub mod summary;
pub mod swap;

use std::path::PathBuf;

use crate::engine::EngineError;
use crate::layout::{Home, NameError};
use crate::sched::SchedError;
use crate::spec::SpecError;
use crate::store::StoreError;
use crate::transport::TransportError;

/// Grids above this many points need `--yes` (a typo in a range can mean millions of jobs).
pub const LARGE_GRID: u64 = 100_000;

/// What every use case gets from the command line.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub home: Home,
    /// No progress display.
    pub quiet: bool,
}

/// A command-line request that cannot be carried out as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UsageError {
    #[error(
        "the grid has up to {bound} points before exclusions (more than {LARGE_GRID}); check the file, then pass --yes to confirm"
    )]
    GridBound { bound: u64 },
    #[error(
        "the grid has {count} points (more than {LARGE_GRID}); check the grid in the sweep file, then pass --yes to confirm"
    )]
    GridSize { count: u64 },
    #[error("the sweep has no points")]
    NoPoints,
    #[error(
        "{}: backend \"local\" runs points on this machine; a cluster host needs a scheduler backend such as backend = \"lsf\" (or drop --host)",
        file.display()
    )]
    HostForLocal { file: PathBuf },
    #[error("sweep {sweep} has points 0 to {last}; there is no point {index}")]
    NoSuchPoint {
        sweep: String,
        last: u64,
        index: u64,
    },
    #[error("`{given}` is not a number of lines: give 1 to {max}")]
    Lines { given: usize, max: usize },
}

/// The cluster answered, but not as bsweep needs.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read the home directory on {place}: {said}")]
    NoHome { place: String, said: String },
    #[error(
        "cannot create the sweep's directory {dir} on {place}: {said}; set [cluster] remote_dir to a directory you can write"
    )]
    RemoteDir {
        place: String,
        dir: String,
        said: String,
    },
    #[error(
        "the sweep directories tried on {place} belong to other sweeps: {dirs}; launch again (nothing was recorded), or set [cluster] remote_dir to another directory"
    )]
    RemoteDirTaken { place: String, dirs: String },
    #[error("`date` on {place} could not read the scheduler's times: {said}")]
    Date { place: String, said: String },
}

/// A sweep that was followed to its end, or checked, with points or checks that did not pass.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unfinished {
    #[error(
        "{bad} point(s) of sweep {sweep} did not finish successfully; see `bsweep status {sweep}`, then `bsweep retry {sweep} --failed`"
    )]
    Points { sweep: String, bad: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Spec(Box<SpecError>),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Collect(#[from] crate::collect::CollectError),
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Sched(#[from] SchedError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Summary(#[from] crate::summary::SummaryError),
    #[error(transparent)]
    Results(#[from] crate::summary::ResultsError),
    #[error(transparent)]
    View(#[from] crate::view::ViewError),
    #[error(transparent)]
    Login(#[from] login::LoginError),
    #[error(transparent)]
    InFlight(#[from] delete::InFlight),
    #[error(
        "recovery could not ask the scheduler about the jobs of sweep `{sweep}`; nothing was changed: run `bsweep recover {sweep}` again once it answers"
    )]
    Recover {
        sweep: String,
        #[source]
        source: SchedError,
    },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write to standard output")]
    Stdout(#[source] std::io::Error),
    /// A file the user named cannot be read (bad input, not a failure of bsweep).
    #[error("cannot read {}", path.display())]
    Input {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The figures shown are as of the last contact: the cluster was not reached now.
    #[error("the cluster was not reached; the figures shown are as of the last contact")]
    Offline(#[source] Box<AppError>),
    #[error(transparent)]
    Unfinished(#[from] Unfinished),
    /// `doctor` found things to fix (it showed each with what to do).
    #[error("{problems} problem(s) found; fix them and run `bsweep doctor {}` again", file.display())]
    Problems {
        problems: usize,
        file: PathBuf,
        /// The cluster could not be reached at all.
        unreachable: bool,
    },
    #[error("interrupted")]
    Interrupted,
}

impl From<SpecError> for AppError {
    fn from(e: SpecError) -> Self {
        AppError::Spec(Box::new(e))
    }
}

impl AppError {
    /// A closed pipe on stdout (`bsweep status | head -1`): not a failure of bsweep.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, AppError::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
            || matches!(self, AppError::View(crate::view::ViewError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// An I/O error on `path` while doing `action`.
pub(crate) fn io(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> AppError {
    let path = path.into();
    move |source| AppError::Io {
        action,
        path,
        source,
    }
}

/// Refuses a grid that is huge before exclusions without `--yes`, before anything walks it.
pub(crate) fn check_bound(spec: &crate::spec::Spec, yes: bool) -> Result<(), UsageError> {
    let bound = spec.upper_bound();
    if bound > LARGE_GRID && !yes {
        return Err(UsageError::GridBound { bound });
    }
    Ok(())
}

pub(crate) fn check_size(count: u64, yes: bool) -> Result<(), UsageError> {
    if count > LARGE_GRID && !yes {
        return Err(UsageError::GridSize { count });
    }
    if count == 0 {
        return Err(UsageError::NoPoints);
    }
    Ok(())
}
