//! Exit codes, in one place: what each means, and which error maps to which.

use crate::app::AppError;
use crate::engine::EngineError;
use crate::store::StoreError;

/// bsweep's exit codes (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Exit {
    Success = 0,
    /// Something failed at run time (an I/O error, a scheduler that answered badly).
    Failure = 1,
    /// Bad input: a sweep file error (with `file:line:col`), an argument, a check `doctor`
    /// found failing.
    BadInput = 2,
    /// The sweep is in use by another bsweep (named by pid), is being recorded, does not exist,
    /// already exists, or has points in flight for `delete`.
    Conflict = 3,
    /// The sweep was followed to its end with failed or cancelled points.
    Unfinished = 4,
    /// The cluster could not be reached (run `bsweep login HOST`, or check with `doctor`).
    Unreachable = 5,
    /// Interrupted while following (no job was killed).
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

fn store(e: &StoreError) -> Exit {
    match e {
        StoreError::Name(_) => Exit::BadInput,
        e if e.is_conflict() => Exit::Conflict,
        _ => Exit::Failure,
    }
}

/// The exit code of an error.
pub fn of(e: &AppError) -> Exit {
    match e {
        AppError::Spec(_)
        | AppError::Usage(_)
        | AppError::Name(_)
        | AppError::Input { .. }
        | AppError::Login(crate::app::login::LoginError::NoTerminal { .. }) => Exit::BadInput,
        AppError::Offline(_) => Exit::Unreachable,
        AppError::Store(s)
        | AppError::Engine(EngineError::Store(s))
        | AppError::View(crate::view::ViewError::Store(s)) => store(s),
        AppError::InFlight(_) => Exit::Conflict,
        AppError::Summary(s) if s.is_usage() => Exit::BadInput,
        AppError::Unfinished(_) => Exit::Unfinished,
        AppError::Transport(_) | AppError::Login(_) => Exit::Unreachable,
        AppError::Sched(s)
        | AppError::Engine(EngineError::Cancel { source: s, .. })
        | AppError::Recover { source: s, .. }
            if s.is_unreachable() =>
        {
            Exit::Unreachable
        }
        AppError::Problems { unreachable, .. } => match unreachable {
            true => Exit::Unreachable,
            false => Exit::BadInput,
        },
        AppError::Interrupted => Exit::Interrupted,
        _ => Exit::Failure,
    }
}
