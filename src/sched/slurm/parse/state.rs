//! Slurm job states: the closed set squeue and sacct print (long names, and squeue's `%t`
//! codes), and the coarse class bsweep reasons with. An unknown state is an error, not a guess.
//!
//! The set is Slurm's `job_state_string`: 12 base states and the 12 flags that are shown
//! instead of the base state when set (checked against the squeue/sacct "JOB STATE CODES" and
//! `job_state_codes.html`; the brief's 22 plus CONFIGURING and RESV_DEL_HOLD).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A job state exactly as squeue (`%T`) or sacct (`State`) prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SlurmState {
    /// Waiting for resources, a dependency, a hold (see the reason).
    Pending,
    /// Allocated, waiting for its nodes to boot or be configured.
    Configuring,
    Running,
    /// The job's processes ended; Slurm is cleaning up (epilog) before the final state.
    Completing,
    /// Exit code zero on every node.
    Completed,
    /// Non-zero exit code or another failure.
    Failed,
    Cancelled,
    /// Ran into its time limit.
    Timeout,
    OutOfMemory,
    NodeFail,
    /// Ended by preemption (a requeued job pends again instead).
    Preempted,
    BootFail,
    /// Could no longer start in time for its deadline.
    Deadline,
    /// Being requeued; it pends again next.
    Requeued,
    /// Requeued by its federation.
    RequeueFed,
    /// Requeued and held.
    RequeueHold,
    /// Requeued in a held "special exit" state (set by an epilog for chosen exit values).
    SpecialExit,
    /// Held because its reservation was deleted.
    ResvDelHold,
    /// Changing size.
    Resizing,
    /// A federation sibling revoked because another cluster started the job.
    Revoked,
    /// A signal to the job is pending.
    Signaling,
    /// Staging out data (burst buffer) after running.
    StageOut,
    /// Stopped by SIGSTOP, keeping its CPUs.
    Stopped,
    /// Suspended, its CPUs released.
    Suspended,
}

/// bsweep's coarse view of a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Class {
    Pending,
    Running,
    Suspended,
    /// Completed with exit code zero.
    Done,
    /// Ended without success. `reason` names how when the state says more than "failed":
    /// `TIMEOUT`, `OUT_OF_MEMORY`, `NODE_FAIL`, `BOOT_FAIL`, `DEADLINE`, `PREEMPTED`,
    /// `REVOKED`; plain FAILED has none (its exit code tells).
    Failed {
        reason: Option<&'static str>,
    },
    Cancelled,
}

impl Class {
    /// A final class never changes again for that job.
    pub fn is_final(self) -> bool {
        matches!(self, Class::Done | Class::Failed { .. } | Class::Cancelled)
    }
}

impl SlurmState {
    pub const ALL: [SlurmState; 24] = [
        SlurmState::Pending,
        SlurmState::Configuring,
        SlurmState::Running,
        SlurmState::Completing,
        SlurmState::Completed,
        SlurmState::Failed,
        SlurmState::Cancelled,
        SlurmState::Timeout,
        SlurmState::OutOfMemory,
        SlurmState::NodeFail,
        SlurmState::Preempted,
        SlurmState::BootFail,
        SlurmState::Deadline,
        SlurmState::Requeued,
        SlurmState::RequeueFed,
        SlurmState::RequeueHold,
        SlurmState::SpecialExit,
        SlurmState::ResvDelHold,
        SlurmState::Resizing,
        SlurmState::Revoked,
        SlurmState::Signaling,
        SlurmState::StageOut,
        SlurmState::Stopped,
        SlurmState::Suspended,
    ];

    /// The long name (`%T`, sacct's State).
    pub fn as_str(self) -> &'static str {
        use SlurmState::*;
        match self {
            Pending => "PENDING",
            Configuring => "CONFIGURING",
            Running => "RUNNING",
            Completing => "COMPLETING",
            Completed => "COMPLETED",
            Failed => "FAILED",
            Cancelled => "CANCELLED",
            Timeout => "TIMEOUT",
            OutOfMemory => "OUT_OF_MEMORY",
            NodeFail => "NODE_FAIL",
            Preempted => "PREEMPTED",
            BootFail => "BOOT_FAIL",
            Deadline => "DEADLINE",
            Requeued => "REQUEUED",
            RequeueFed => "REQUEUE_FED",
            RequeueHold => "REQUEUE_HOLD",
            SpecialExit => "SPECIAL_EXIT",
            ResvDelHold => "RESV_DEL_HOLD",
            Resizing => "RESIZING",
            Revoked => "REVOKED",
            Signaling => "SIGNALING",
            StageOut => "STAGE_OUT",
            Stopped => "STOPPED",
            Suspended => "SUSPENDED",
        }
    }

    /// squeue's compact code (`%t`).
    pub fn code(self) -> &'static str {
        use SlurmState::*;
        match self {
            Pending => "PD",
            Configuring => "CF",
            Running => "R",
            Completing => "CG",
            Completed => "CD",
            Failed => "F",
            Cancelled => "CA",
            Timeout => "TO",
            OutOfMemory => "OOM",
            NodeFail => "NF",
            Preempted => "PR",
            BootFail => "BF",
            Deadline => "DL",
            Requeued => "RQ",
            RequeueFed => "RF",
            RequeueHold => "RH",
            SpecialExit => "SE",
            ResvDelHold => "RD",
            Resizing => "RS",
            Revoked => "RV",
            Signaling => "SI",
            StageOut => "SO",
            Stopped => "ST",
            Suspended => "S",
        }
    }

    /// Reads a compact code (`%t`): `PD`, `R`, `CD`, ...
    pub fn from_code(code: &str) -> Result<Self, UnknownState> {
        let t = code.trim();
        SlurmState::ALL
            .into_iter()
            .find(|s| s.code() == t)
            .ok_or_else(|| UnknownState(t.to_string()))
    }

    /// bsweep's coarse class. States that still hold or will again hold the job's slot are not
    /// final: COMPLETING and STAGE_OUT run cleanup before the final state, the REQUEUE states
    /// and the holds pend again (a held job waits for a release), CONFIGURING is counted as
    /// pending like LSF's PROV (nodes booting, the job's command not started).
    pub fn class(self) -> Class {
        use SlurmState::*;
        let failed = |reason| Class::Failed {
            reason: Some(reason),
        };
        match self {
            Pending | Configuring | Requeued | RequeueFed | RequeueHold | SpecialExit
            | ResvDelHold => Class::Pending,
            Running | Completing | Resizing | Signaling | StageOut => Class::Running,
            Suspended | Stopped => Class::Suspended,
            Completed => Class::Done,
            Failed => Class::Failed { reason: None },
            Cancelled => Class::Cancelled,
            Timeout | OutOfMemory | NodeFail | BootFail | Deadline | Preempted | Revoked => {
                failed(self.as_str())
            }
        }
    }

    /// The job will not change state again (see [`SlurmState::class`]).
    pub fn is_final(self) -> bool {
        self.class().is_final()
    }
}

impl fmt::Display for SlurmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state outside Slurm's set (a new Slurm, a typo, a truncated `CANCELLED+`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("unknown Slurm job state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for SlurmState {
    type Err = UnknownState;

    /// Reads a long name exactly (`RUNNING`); see [`parse_state_text`] for sacct's
    /// `CANCELLED by 1000`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        SlurmState::ALL
            .into_iter()
            .find(|st| st.as_str() == t)
            .ok_or_else(|| UnknownState(t.to_string()))
    }
}

/// Reads sacct's State: a long name, or `CANCELLED by UID` (the uid that cancelled the job).
pub fn parse_state_text(s: &str) -> Result<(SlurmState, Option<u32>), UnknownState> {
    let t = s.trim();
    if let Some(uid) = t.strip_prefix("CANCELLED by ") {
        // Slurm prints the uid as plain digits: no sign (`u32::from_str` takes a `+`), no
        // leading zero.
        return match uid.parse::<u32>() {
            Ok(n) if n.to_string() == uid => Ok((SlurmState::Cancelled, Some(n))),
            _ => Err(UnknownState(t.to_string())),
        };
    }
    t.parse().map(|st| (st, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_by_name_and_code() {
        let mut codes = std::collections::HashSet::new();
        for st in SlurmState::ALL {
            assert_eq!(st.as_str().parse::<SlurmState>(), Ok(st));
            assert_eq!(SlurmState::from_code(st.code()), Ok(st));
            assert_eq!(st.to_string(), st.as_str());
            assert_eq!(
                serde_json::to_value(st).ok(),
                Some(serde_json::json!(st.as_str()))
            );
            assert!(codes.insert(st.code()), "code {} twice", st.code());
        }
        assert_eq!(codes.len(), 24);
    }

    #[test]
    fn classes_and_finality() {
        use SlurmState::*;
        let cases = [
            (Pending, Class::Pending, false),
            (Configuring, Class::Pending, false),
            (Running, Class::Running, false),
            (Completing, Class::Running, false),
            (Completed, Class::Done, true),
            (Failed, Class::Failed { reason: None }, true),
            (Cancelled, Class::Cancelled, true),
            (
                Timeout,
                Class::Failed {
                    reason: Some("TIMEOUT"),
                },
                true,
            ),
            (
                OutOfMemory,
                Class::Failed {
                    reason: Some("OUT_OF_MEMORY"),
                },
                true,
            ),
            (
                NodeFail,
                Class::Failed {
                    reason: Some("NODE_FAIL"),
                },
                true,
            ),
            (
                Preempted,
                Class::Failed {
                    reason: Some("PREEMPTED"),
                },
                true,
            ),
            (
                BootFail,
                Class::Failed {
                    reason: Some("BOOT_FAIL"),
                },
                true,
            ),
            (
                Deadline,
                Class::Failed {
                    reason: Some("DEADLINE"),
                },
                true,
            ),
            (Requeued, Class::Pending, false),
            (RequeueFed, Class::Pending, false),
            (RequeueHold, Class::Pending, false),
            (SpecialExit, Class::Pending, false),
            (ResvDelHold, Class::Pending, false),
            (Resizing, Class::Running, false),
            (
                Revoked,
                Class::Failed {
                    reason: Some("REVOKED"),
                },
                true,
            ),
            (Signaling, Class::Running, false),
            (StageOut, Class::Running, false),
            (Stopped, Class::Suspended, false),
            (Suspended, Class::Suspended, false),
        ];
        assert_eq!(cases.len(), SlurmState::ALL.len());
        for (st, class, fin) in cases {
            assert_eq!(st.class(), class, "{st}");
            assert_eq!(st.is_final(), fin, "{st}");
        }
    }

    #[test]
    fn cancelled_by_keeps_the_uid() {
        assert_eq!(
            parse_state_text("CANCELLED by 0"),
            Ok((SlurmState::Cancelled, Some(0)))
        );
        assert_eq!(
            parse_state_text("CANCELLED by 4294967294"),
            Ok((SlurmState::Cancelled, Some(4294967294)))
        );
        assert_eq!(parse_state_text("TIMEOUT"), Ok((SlurmState::Timeout, None)));
        for bad in [
            "CANCELLED by ",
            "CANCELLED by x",
            "CANCELLED by +1",
            "CANCELLED by 010",
            "CANCELLED by 99999999999",
            "CANCELLED+",
            "RUNNING by 3",
        ] {
            assert!(parse_state_text(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_states_are_errors() {
        for bad in ["", "running", "Running", "DONE", "PEND", "COMPLETED+", "?"] {
            assert_eq!(
                bad.parse::<SlurmState>(),
                Err(UnknownState(bad.to_string())),
                "{bad:?}"
            );
        }
        for bad in ["", "pd", "P", "XX", "CDX"] {
            assert!(SlurmState::from_code(bad).is_err(), "{bad:?}");
        }
    }
}
