//! What the engine tells the people watching it, as typed events: a reporter (the progress bar,
//! the background follower's log, JSON lines) decides how each reads.

use crate::model::Counts;
use crate::sched::SchedError;

/// Something the engine did or learned while following a sweep.
#[derive(Debug)]
pub enum Event<'a> {
    /// The counts per state now (after every cycle; a reporter shows what changed).
    Counts(&'a Counts),
    /// Jobs found by name whose submission had not been recorded.
    Adopted { jobs: usize },
    /// Submissions whose fate is unknown until they are looked up by name.
    Unanswered { point: u64, said: &'a str },
    /// The scheduler refused a batch for now; it is tried again next cycle.
    Deferred { point: u64, said: &'a str },
    /// A target refused a job for good: no more jobs go there.
    TargetRefused {
        point: u64,
        target: &'a str,
        said: &'a str,
    },
    /// A poll got no answer; states stay as they were.
    PollFailed(&'a SchedError),
    /// Unfinished submissions could not be looked up; they wait for a later cycle.
    LookupFailed(&'a SchedError),
    /// The connection to `host` is gone and only a person can open it again (`bsweep login
    /// HOST`): the engine waits for it, checking now and then, without connecting. Said once.
    AwaitingLogin { host: &'a str },
    /// The connection awaited is back; following goes on.
    LoginBack { host: &'a str },
    /// Another bsweep asked for the sweep to be cancelled.
    CancelRequested,
    /// Cancelling failed; it is tried again next cycle.
    CancelFailed(&'a SchedError),
    /// Points were queued for a new attempt.
    Retrying { points: usize },
    /// A job nobody knows of any more was declared lost.
    Lost { point: u64, job: &'a str },
    /// Jobs of `points` points failed on `host`: no more jobs of the sweep go there.
    HostExcluded { host: &'a str, points: u32 },
}

/// Hears the engine's events.
pub trait Reporter {
    fn event(&mut self, e: &Event<'_>);

    /// The engine stopped following (the bar, if any, goes away).
    fn finish(&mut self) {}
}

/// A reporter that hears nothing (status polls, tests).
pub struct Silent;

impl Reporter for Silent {
    fn event(&mut self, _: &Event<'_>) {}
}
