//! Pure command builders and output parsers for Slurm (sbatch, squeue, sacct, scancel,
//! scontrol show config). No I/O: builders return argv, parsers take captured text.
//!
//! Built against the captures of a real Slurm 22.05 in `shared/slurm/` (copied with their
//! readings to `tests/fixtures/slurm/`). Rules that hold throughout:
//! - builders return a whole argv, program name first (`["squeue", "-h", ...]`), ready for
//!   `transport::command_line`; they refuse values that cannot travel (line breaks, NUL, an id
//!   list that would be empty) with a [`BuildError`] instead of building a wrong command;
//! - parsers take stdout, stderr and the exit code (`None` when unknown: killed, SSH dropped)
//!   separately, because Slurm's exit code means something (squeue exits 1 for "no such id");
//! - a job state is read exactly or the reading is an error: never a guessed state;
//! - a metric Slurm prints oddly (an elapsed time, a MaxRSS, a timestamp) does not hide the
//!   job's state: it is left out and noted in the reading's `messages`;
//! - every reading derives `Serialize`, so it can be printed as JSON (`bsweep debug parse`).
//!
//! # How a scheduler uses this
//!
//! Run every command with [`ENV`] set (`SLURM_TIME_FORMAT=standard`): a site or a user profile
//! may set another time format, and then no timestamp reads.
//!
//! **Submit.** Put [`sbatch_lines`] right after the script's `#!` line (sbatch stops reading
//! `#SBATCH` lines at the first command), run [`sbatch_args`] with the script on stdin and read
//! the answer with [`parse_sbatch`]. Command-line options win over `#SBATCH` lines, so the two
//! can carry the same [`SbatchOpts`]. An `Err` of kind [`ErrorKind::Transient`] may succeed
//! later; when sbatch printed nothing at all the job may exist (the answer was lost): look it
//! up by name before submitting again. An array's elements are `ID_INDEX`
//! ([`SlurmJobId::Element`]); array indices go up to [`SlurmConfig::max_array_size`] − 1.
//!
//! **Poll.** [`squeue_args`] and [`parse_squeue`] (with [`SQUEUE_FIELDS`]) answer for live jobs
//! and for finished ones until Slurm purges them, MinJobAge (see [`parse_scontrol_config`])
//! plus up to half a minute after they end. An id missing from the rows is unknown to the
//! controller (purged, or never there); when *every* id is unknown squeue fails with
//! "Invalid job id specified", which reads as [`SqueueReading::none_known`], not as an error.
//! For ids squeue no longer knows, ask [`sacct_args`] / [`sacct_steps_args`] and
//! [`parse_sacct`] (with [`SACCT_FIELDS`]): exit code, elapsed time, peak memory (MaxRSS is
//! only on the steps: use the steps variant for it), start and end.
//!
//! **sacct lags** about 5 s behind the controller: a job just submitted is absent from sacct
//! while squeue already shows it, and a job that ended within that window is first recorded
//! with JobName `allocation` and no partition (its State and ExitCode are right at once). Match
//! sacct rows by id ([`SacctRecord::job_id`], [`SacctRecord::job_id_raw`]), not by name, and
//! treat a job absent from both squeue and sacct this soon after submission as no news.
//!
//! **Find by name** (a submission whose answer was never recorded): run [`squeue_by_name_args`]
//! and [`sacct_by_name_args`] in the same round trip and take the union. squeue sees a new job
//! at once; sacct still finds it after squeue has forgotten it, but not during its first seconds,
//! nor under a name still recorded as `allocation`.
//!
//! **Cancel.** [`scancel_args`]: scancel exits 0 and prints nothing for unknown, finished and
//! purged ids alike, so [`parse_scancel`] only fails when scancel itself failed.

mod jobid;
mod sacct;
mod sbatch;
mod scancel;
mod scontrol;
mod squeue;
mod state;
mod values;

use std::fmt;

use serde::Serialize;

pub use jobid::{SlurmJobId, TaskRange, TaskSet};
pub use sacct::{
    SACCT_FIELDS, SacctField, SacctReading, SacctRecord, SacctStep, parse_sacct, sacct_args,
    sacct_by_name_args, sacct_format, sacct_steps_args,
};
pub use sbatch::{
    ArraySpec, Memory, SbatchError, SbatchOk, SbatchOpts, parse_sbatch, sbatch_args, sbatch_lines,
};
pub use scancel::{ScancelReading, parse_scancel, scancel_args};
pub use scontrol::{SlurmConfig, parse_scontrol_config, scontrol_config_args};
pub use squeue::{
    SQUEUE_DELIMITER, SQUEUE_FIELDS, SqueueField, SqueueReading, SqueueRecord, parse_squeue,
    squeue_args, squeue_by_name_args, squeue_format,
};
pub use state::{Class, SlurmState, UnknownState, parse_state_text};
pub use values::{ExitStatus, Timestamp};

/// Environment every Slurm command should run with: timestamps in the one format the parsers
/// read (`2026-12-01T08:01:41`), whatever the site or the user's profile sets.
pub const ENV: &[(&str, &str)] = &[("SLURM_TIME_FORMAT", "standard")];

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

/// Whether trying the same command again later may work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorKind {
    /// Slurm could not be reached or was busy: the same command may succeed later.
    Transient,
    /// Slurm refused: repeating the same command will fail the same way.
    Permanent,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
        })
    }
}

/// Why a query (squeue, sacct, scancel, scontrol) gave no reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum QueryError {
    /// The command printed something the parser cannot read.
    #[error("{command} printed something bsweep cannot read")]
    Unreadable {
        command: &'static str,
        #[source]
        source: ParseError,
    },
    /// The command failed and answered nothing about the jobs (controller down, bad option).
    #[error("{command} failed ({kind}, {}): {message}", exit_text(*.exit_code))]
    Failed {
        command: &'static str,
        kind: ErrorKind,
        exit_code: Option<i32>,
        /// Slurm's own lines, or a description when it printed nothing.
        message: String,
    },
}

fn exit_text(code: Option<i32>) -> String {
    code.map_or_else(
        || "exit status unknown".to_string(),
        |c| format!("exit {c}"),
    )
}

/// A builder refused its input: the command it would build would not say what was meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum BuildError {
    /// No job ids or names: Slurm would take the empty list as "every job".
    #[error("{command} needs at least one {what}")]
    Empty {
        command: &'static str,
        what: &'static str,
    },
    /// A value that cannot be passed as given (a line break, a NUL, a list separator).
    #[error("{option} value {value:?} {problem}")]
    BadValue {
        option: &'static str,
        value: String,
        problem: &'static str,
    },
}

/// Slurm's messages (lowercase) for conditions that go away: the controller or the database
/// unreachable, busy or restarting, munge down. From `slurm_strerror` and sbatch's own retries.
const TRANSIENT_MARKERS: &[&str] = &[
    "unable to contact slurm controller",
    "socket timed out",
    "temporarily unable to accept job",
    "job queue full",
    "temporarily disabled",
    "resource temporarily unavailable",
    "connection refused",
    "connection timed out",
    "connection reset",
    "zero bytes were transmitted or received",
    "communication connection failure",
    "unexpected message received",
    "not responding",
    "in standby mode",
    "problem talking to the database",
    "slurmdbd connection",
    "munge",
    "try again",
];

/// Refusals of this particular request, checked first: sbatch prints its retry chatter
/// ("sleeping and retrying") before the final verdict, and the verdict decides.
const PERMANENT_MARKERS: &[&str] = &[
    "invalid partition",
    "invalid account",
    "violates accounting/qos policy",
    "invalid qos",
    "requested node configuration is not available",
    "requested time limit is invalid",
    "invalid generic resource",
    "invalid feature specification",
    "invalid job array specification",
    "job array index too large",
    "memory required by task is not available",
    "invalid trackable resource",
    "unrecognized option",
    "invalid option",
    "unable to open file",
    "does not look like a batch script",
    "dos line breaks",
    "invalid user id",
    "access/permission denied",
    "not permitted to use this partition",
    "node count specification invalid",
    "more processors requested than permitted",
    "invalid wckey",
];

/// Non-empty trimmed lines of stderr then stdout, consecutive repeats dropped (sbatch repeats
/// its retry line).
fn said_lines<'a>(stderr: &'a str, stdout: &'a str) -> Vec<&'a str> {
    let mut lines: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.dedup();
    lines
}

/// Classifies what a failed command said; anything unrecognised is a refusal, except silence.
fn classify(lines: &[&str]) -> ErrorKind {
    if lines.is_empty() {
        return ErrorKind::Transient;
    }
    let lower = lines.join("\n").to_ascii_lowercase();
    let has = |markers: &[&str]| markers.iter().any(|m| lower.contains(m));
    if has(PERMANENT_MARKERS) {
        ErrorKind::Permanent
    } else if has(TRANSIENT_MARKERS) {
        ErrorKind::Transient
    } else {
        ErrorKind::Permanent
    }
}

/// The error for a command that failed and answered nothing.
fn failed(command: &'static str, stdout: &str, stderr: &str, exit_code: Option<i32>) -> QueryError {
    let lines = said_lines(stderr, stdout);
    let message = if lines.is_empty() {
        format!("{command} printed nothing")
    } else {
        lines.join("\n")
    };
    QueryError::Failed {
        command,
        kind: classify(&lines),
        exit_code,
        message,
    }
}

/// Checks a value that goes into an argv or an `#SBATCH` line: non-empty, no line break and no
/// NUL (neither survives an `#SBATCH` line, and a line break would split a squeue row).
fn check_value(option: &'static str, value: &str) -> Result<(), BuildError> {
    let bad = |problem| {
        Err(BuildError::BadValue {
            option,
            value: value.to_string(),
            problem,
        })
    };
    if value.is_empty() {
        return bad("is empty");
    }
    if value.contains(['\n', '\r', '\0']) {
        return bad("contains a line break or a NUL");
    }
    Ok(())
}

/// `a,b,c` for `-j`/`--name`: each item checked, none may hold the separator.
fn comma_list<S: AsRef<str>>(
    command: &'static str,
    option: &'static str,
    what: &'static str,
    items: &[S],
) -> Result<String, BuildError> {
    if items.is_empty() {
        return Err(BuildError::Empty { command, what });
    }
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let item = item.as_ref();
        check_value(option, item)?;
        if item.contains(',') || item.contains(char::is_whitespace) {
            return Err(BuildError::BadValue {
                option,
                value: item.to_string(),
                problem: "contains a comma or a space (the list separator)",
            });
        }
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_final_verdict() {
        use ErrorKind::*;
        for (lines, kind) in [
            (
                &[
                    "sbatch: error: invalid partition specified: nosuchpart",
                    "sbatch: error: Batch job submission failed: Invalid partition name specified",
                ][..],
                Permanent,
            ),
            (
                &[
                    "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)",
                ],
                Transient,
            ),
            (
                &[
                    "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying",
                    "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified",
                ],
                Permanent,
            ),
            (
                &["sbatch: error: Batch job submission failed: Something new"],
                Permanent,
            ),
            (&[], Transient),
        ] {
            assert_eq!(classify(lines), kind, "{lines:?}");
        }
    }

    #[test]
    fn lists_refuse_separators_and_emptiness() {
        assert_eq!(
            comma_list("squeue", "--name", "name", &["a", "b"]),
            Ok("a,b".to_string())
        );
        assert!(matches!(
            comma_list::<&str>("squeue", "--name", "name", &[]),
            Err(BuildError::Empty { .. })
        ));
        for bad in ["a,b", "a b", "", "a\nb"] {
            assert!(
                matches!(
                    comma_list("squeue", "--name", "name", &[bad]),
                    Err(BuildError::BadValue { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn errors_read_as_sentences() {
        let e = failed(
            "squeue",
            "",
            "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n",
            Some(1),
        );
        assert_eq!(
            e.to_string(),
            "squeue failed (transient, exit 1): slurm_load_jobs error: Unable to contact slurm controller (connect failure)"
        );
        let e = failed("sacct", "", "", None);
        assert_eq!(
            e.to_string(),
            "sacct failed (transient, exit status unknown): sacct printed nothing"
        );
    }
}
