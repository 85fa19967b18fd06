//! Pure parsers for what LSF commands print (bsub, bjobs, bkill, bqueues, lsid, bhist/bjobs -l,
//! the job output trailer) and the bjobs argv bsweep runs. No I/O: callers pass captured text.
//!
//! Built against the captures in `shared/lsf/` and OpenLava's in `shared/lsf/openlava/` (copied
//! with their readings to `tests/fixtures/lsf/`, OpenLava's as `openlava-*.txt`). Rules that
//! hold throughout:
//! - stdout and stderr are passed separately where LSF splits them (bjobs prints found jobs on
//!   stdout and `Job <N> is not found` on stderr, whatever the exit code says);
//! - "Please wait" / "still trying" chatter may precede any output and is never an error;
//! - a job state is read exactly or the reading is an error: never a guessed state.
//!
//! Every reading derives `Serialize` so `bsweep debug parse KIND FILE` can print it as JSON.

mod bhist;
mod bjobs;
mod bkill;
mod bpeek;
mod bqueues;
mod bsub;
mod lsid;
mod stat;
mod trailer;
mod values;

use std::fmt;

use serde::Serialize;

pub use bhist::{HistRecord, INFERRED_RUNLIMIT, OPENLAVA_RUNLIMIT_EXIT, parse_bhist_long};
pub use bjobs::{
    BJOBS_DELIMITER, BJOBS_FIELDS, BjobsReading, JobRecord, bjobs_delimited_args, bjobs_json_args,
    bjobs_table_args, parse_bjobs_delimited, parse_bjobs_json, parse_bjobs_table,
};
pub use bkill::{BkillReading, KillOutcome, KillStatus, parse_bkill};
pub use bpeek::parse_bpeek;
pub use bqueues::{QueueLoad, parse_bqueues, parse_bqueues_json};
pub use bsub::{BsubError, BsubErrorKind, Submitted, parse_bsub};
pub use lsid::{LsidInfo, parse_lsid, supports_o_and_json};
pub use stat::{Stat, UnknownStat};
pub use trailer::{
    Section, Sections, Trailer, output_of, parse_trailer, parse_trailer_of, split_reports,
    split_sections,
};

/// How a finished job ended, as the job output trailer or bhist/bjobs -l/bacct -l tell it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Outcome {
    /// "Successfully completed." / "Done successfully." / "Completed <done>."
    Done,
    /// "Exited with exit code N." with no LSF termination reason.
    Exited { code: i32 },
    /// LSF ended the job: `reason` is LSF's line, e.g. "TERM_MEMLIMIT: job killed after reaching
    /// LSF memory usage limit."; `code` is the exit code printed with it, if any. OpenLava
    /// prints no such line: a run-limit kill its `bhist -l`/`bjobs -l` record proves reads
    /// [`INFERRED_RUNLIMIT`] with code 140.
    Term { reason: String, code: Option<i32> },
}

impl Outcome {
    /// Whether this may be OpenLava's run-limit kill, which says only "Exited with exit code
    /// 140." (SIGUSR2): the job's report cannot tell it from a program that exits 140, its
    /// `bhist -l` record can ([`parse_bhist_long`] then reads `Term` with
    /// [`INFERRED_RUNLIMIT`]).
    pub fn may_be_run_limit_kill(&self) -> bool {
        matches!(
            self,
            Outcome::Exited {
                code: OPENLAVA_RUNLIMIT_EXIT
            }
        )
    }
}

/// Output that does not have the shape a parser expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct ParseError {
    /// 1-based line of the input the problem is on, when there is one.
    pub line: Option<usize>,
    /// The offending text (the whole line, or a short excerpt).
    pub found: String,
    /// What was expected there.
    pub expected: String,
}

impl ParseError {
    pub(crate) fn new(line: Option<usize>, found: &str, expected: impl Into<String>) -> Self {
        // Keep errors readable when the offending "line" is a whole document.
        let found: String = found.chars().take(300).collect();
        ParseError {
            line,
            found,
            expected: expected.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        write!(f, "expected {}, found {:?}", self.expected, self.found)
    }
}
