//! `bkill` (and `bstop`/`bresume`, which answer the same way): one outcome per job LSF names.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum KillStatus {
    /// "Job <N> is being terminated" (bkill).
    Terminating,
    /// "Job <N> is being stopped" (bstop).
    Stopping,
    /// "Job <N> is being resumed" (bresume).
    Resuming,
    /// "Job <N> is being signaled" (bkill -s; old LSF spells it "signalled").
    Signaled,
    /// "Job <N>: Job has already finished": nothing left to kill.
    AlreadyFinished,
    /// "Job <N>: No matching job found": LSF does not know the id (any more).
    NotFound,
    /// "Job <N>: Operation is in progress": OpenLava's answer (on stderr, exit 255) to bkill of
    /// a whole job array, whose elements are being killed all the same.
    InProgress,
    /// Anything else LSF said about this job ("User permission denied", "is being checkpointed").
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KillOutcome {
    /// As printed: `"123"` or `"123[4]"`.
    pub job_id: String,
    pub outcome: KillStatus,
}

/// What one bkill call said. Lines that name no job ("No matching job found" without an id,
/// "batch system daemon not responding") go to `messages` rather than inventing an id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BkillReading {
    pub outcomes: Vec<KillOutcome>,
    pub messages: Vec<String>,
}

static BEING_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Job <([^<>\s]+)> is being ([A-Za-z]+)").expect("static regex"));
static ERR_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Job <([^<>\s]+)>: (.*)$").expect("static regex"));

/// Reads bkill/bstop/bresume output. Successes come on stdout, per-job errors on stderr.
pub fn parse_bkill(stdout: &str, stderr: &str) -> BkillReading {
    let mut reading = BkillReading::default();
    for line in stdout.lines().chain(stderr.lines()) {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(c) = BEING_RE.captures(t) {
            let outcome = match &c[2] {
                "terminated" => KillStatus::Terminating,
                "stopped" => KillStatus::Stopping,
                "resumed" => KillStatus::Resuming,
                "signaled" | "signalled" => KillStatus::Signaled,
                verb => KillStatus::Other(format!("is being {verb}")),
            };
            reading.outcomes.push(KillOutcome {
                job_id: c[1].to_string(),
                outcome,
            });
        } else if let Some(c) = ERR_RE.captures(t) {
            let msg = c[2].trim();
            let outcome = if msg.starts_with("Job has already finished") {
                KillStatus::AlreadyFinished
            } else if msg.starts_with("No matching job found") {
                KillStatus::NotFound
            } else if msg.starts_with("Operation is in progress") {
                KillStatus::InProgress
            } else {
                KillStatus::Other(msg.to_string())
            };
            reading.outcomes.push(KillOutcome {
                job_id: c[1].to_string(),
                outcome,
            });
        } else {
            reading.messages.push(t.to_string());
        }
    }
    reading
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(id: &str, outcome: KillStatus) -> KillOutcome {
        KillOutcome {
            job_id: id.to_string(),
            outcome,
        }
    }

    #[test]
    fn all_answers() {
        let r = parse_bkill(
            "Job <1878080> is being terminated\nJob <1878081[1]> is being terminated\nJob <5> is being signalled\n",
            "Job <11>: Job has already finished\nJob <22>: No matching job found\nJob <3>: User permission denied\nNo matching job found\n",
        );
        assert_eq!(
            r.outcomes,
            [
                one("1878080", KillStatus::Terminating),
                one("1878081[1]", KillStatus::Terminating),
                one("5", KillStatus::Signaled),
                one("11", KillStatus::AlreadyFinished),
                one("22", KillStatus::NotFound),
                one("3", KillStatus::Other("User permission denied".into())),
            ]
        );
        assert_eq!(r.messages, ["No matching job found"]);
    }
}
