//! What the sweep file says about retries (`[retry]`) and the limits every job asks for, which
//! a retry's limits grow from.

use serde::{Deserialize, Serialize};

use super::{BackendKind, Spec, parse};

/// The `[retry]` table: which failed attempts earn another one (within `max_attempts`) and what
/// changes for it. Without the table every non-zero exit is retried as it was.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryOpts {
    /// Exit codes worth another attempt; `None`: every non-zero one.
    pub on_exit: Option<Vec<i32>>,
    /// A job killed at its memory limit gets more memory (amounts in KB).
    pub on_memlimit: Option<Grow>,
    /// A job killed at its run limit gets a longer one (amounts in minutes).
    pub on_runlimit: Option<Grow>,
    /// A host where attempts of this many points failed is left out for the rest of the sweep.
    pub exclude_hosts_after: Option<u32>,
    /// Memory limits bsweep chooses are written as bare numbers of KB, as the sweep file writes
    /// its own (a bare number is in the site's unit, KB unless `LSF_UNIT_FOR_LIMITS` says
    /// otherwise; OpenLava takes nothing else); otherwise with a unit (`16GB`).
    pub bare_memory: bool,
}

/// How a limit grows for the next attempt, never beyond `max` (KB or minutes).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Grow {
    pub step: Step,
    pub max: u64,
}

/// One step of a growing limit: `x2`, `+1:00` or `16GB` as the sweep file writes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Step {
    Times(f64),
    Plus(u64),
    To(u64),
}

impl Grow {
    /// The limit after `current`, at most `max`; `None` when it would not grow (already at
    /// `max`, or a `To` amount no larger), since a retry with the same limit dies the same way.
    pub fn next(&self, current: u64) -> Option<u64> {
        let grown = match self.step {
            Step::Times(f) => (current as f64 * f).ceil().min(u64::MAX as f64) as u64,
            Step::Plus(n) => current.saturating_add(n),
            Step::To(n) => n,
        };
        let next = grown.min(self.max);
        (next > current).then_some(next)
    }
}

/// The memory and run-time limit every job of a sweep asks for, from its backend's table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory_kb: Option<u64>,
    pub walltime_minutes: Option<u32>,
}

impl Spec {
    /// The limits the sweep file gives every job (what a retry's limits grow from).
    pub fn limits(&self) -> Limits {
        match self.backend {
            BackendKind::Local => Limits::default(),
            BackendKind::Lsf => Limits {
                memory_kb: self.lsf.memory.as_deref().and_then(parse::memory_kb),
                walltime_minutes: self
                    .lsf
                    .walltime
                    .as_deref()
                    .and_then(parse::walltime_minutes),
            },
            BackendKind::Slurm => Limits {
                // `mem = 0` asks for all of a node's memory: nothing to grow from.
                memory_kb: self.slurm.mem_mb.filter(|m| *m > 0).map(|m| m * 1024),
                walltime_minutes: self
                    .slurm
                    .time_seconds
                    .map(|s| u32::try_from(s.div_ceil(60)).unwrap_or(u32::MAX)),
            },
        }
    }
}
