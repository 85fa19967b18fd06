//! What squeue and sacct readings say about a job, as the engine's [`JobInfo`]: states by
//! class, the cluster's local times made unix seconds, exit codes, and why a job ended when
//! Slurm says more than a state (TIMEOUT, OUT_OF_MEMORY, a memory kill, `CANCELLED by N`).

use super::parse::{Class, ExitStatus, SacctRecord, SlurmState, SqueueRecord, Timestamp};
use crate::model::{Cause, State};
use crate::sched::JobInfo;

/// bsweep's state for a Slurm class.
pub fn state_of(class: Class) -> State {
    match class {
        Class::Pending => State::Pending,
        Class::Running => State::Running,
        Class::Suspended => State::Suspended,
        Class::Done => State::Done,
        Class::Failed { .. } => State::Failed,
        Class::Cancelled => State::Cancelled,
    }
}

/// Reads `date +%z` (`+0100`, `-0530`) as seconds east of UTC.
pub fn utc_offset(text: &str) -> Option<i64> {
    let t = text.trim();
    let (sign, digits) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i64, i64) = (digits[..2].parse().ok()?, digits[2..].parse().ok()?);
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

fn unix(t: Option<Timestamp>, offset: Option<i64>) -> Option<f64> {
    Some(t?.unix_seconds(offset?) as f64)
}

/// An exit status as one code: the script's own, or 128 + the signal that ended it (what a
/// shell reports).
fn code_of(e: ExitStatus) -> i32 {
    if e.code != 0 || e.signal == 0 {
        e.code
    } else {
        128 + e.signal
    }
}

/// The job's exit status: its own line's, except that Slurm prints `0:0` there for a job it
/// ended (TIMEOUT, CANCELLED), when the batch step carries the signal.
fn exit_of(r: &SacctRecord) -> Option<ExitStatus> {
    let own = r.exit?;
    if (own.code, own.signal) != (0, 0) || r.state == SlurmState::Completed {
        return Some(own);
    }
    let batch = r
        .steps
        .iter()
        .find(|s| s.step == "batch")
        .and_then(|s| s.exit);
    Some(
        batch
            .filter(|b| (b.code, b.signal) != (0, 0))
            .unwrap_or(own),
    )
}

/// Slurm's word for how a failed or cancelled job ended, with what it means.
fn reason_of(r: &SacctRecord, exit: Option<ExitStatus>) -> Option<String> {
    match r.state.class() {
        Class::Cancelled => Some(match r.cancelled_by {
            Some(uid) => format!("CANCELLED by {uid}"),
            None => "CANCELLED".to_string(),
        }),
        Class::Failed { reason: Some(name) } => Some(failed_reason(name)),
        Class::Failed { reason: None } => {
            let signal = exit.map_or(0, |e| if e.code == 0 { e.signal } else { 0 });
            // Without cgroups, Slurm's OverMemoryKill ends the batch step with SIGKILL and
            // records the step as cancelled by the daemon's uid; a user's own kill does not.
            let killed_by_slurm = r
                .steps
                .iter()
                .any(|s| s.step == "batch" && s.cancelled_by.is_some());
            match signal {
                0 => None,
                9 if killed_by_slurm => Some(
                    "FAILED: Slurm killed the batch step with signal 9, as it does when a job \
                     exceeds its memory without cgroups (OverMemoryKill); the error file \
                     Slurm writes for the job (--error) names the limit"
                        .to_string(),
                ),
                s => Some(format!("FAILED: killed by signal {s}")),
            }
        }
        _ => None,
    }
}

/// Why a job ended the way it did, in bsweep's terms (what a retry rule looks at).
fn cause_of(class: &Class, exit: Option<ExitStatus>, oom_kill: bool) -> Option<Cause> {
    Some(match class {
        Class::Failed {
            reason: Some("TIMEOUT"),
        } => Cause::RunLimit,
        Class::Failed {
            reason: Some("OUT_OF_MEMORY"),
        } => Cause::MemLimit,
        Class::Failed {
            reason: Some("PREEMPTED"),
        } => Cause::Killed,
        Class::Failed { reason: Some(_) } => Cause::Terminated,
        Class::Failed { reason: None } if oom_kill => Cause::MemLimit,
        Class::Failed { reason: None } => match exit {
            Some(e) if e.code == 0 && e.signal != 0 => Cause::Signal,
            _ => Cause::Exit,
        },
        Class::Cancelled => Cause::Killed,
        _ => return None,
    })
}

/// Slurm's OverMemoryKill (no cgroups): the batch step ended by SIGKILL, cancelled by the
/// daemon's uid.
fn over_memory_kill(r: &SacctRecord, exit: Option<ExitStatus>) -> bool {
    exit.is_some_and(|e| e.code == 0 && e.signal == 9)
        && r.steps
            .iter()
            .any(|s| s.step == "batch" && s.cancelled_by.is_some())
}

fn failed_reason(state: &str) -> String {
    let means = match state {
        "TIMEOUT" => "the job ran into its time limit",
        "OUT_OF_MEMORY" => "the job used more memory than it asked for",
        "NODE_FAIL" => "a node the job ran on failed",
        "BOOT_FAIL" => "its node failed to boot",
        "DEADLINE" => "it could not run before its deadline",
        "PREEMPTED" => "a job of higher priority took its place",
        other => return other.to_string(),
    };
    format!("{state}: {means}")
}

/// What sacct says about a job.
pub fn from_sacct(r: &SacctRecord, offset: Option<i64>) -> JobInfo {
    let class = r.state.class();
    let exit = class.is_final().then(|| exit_of(r)).flatten();
    JobInfo {
        exit_code: exit.map(code_of),
        started: unix(r.start, offset),
        ended: class.is_final().then(|| unix(r.end, offset)).flatten(),
        host: r.node_list.clone(),
        max_mem_mb: r.max_rss_mb,
        run_seconds: r.elapsed_seconds,
        reason: reason_of(r, exit),
        cause: cause_of(&class, exit, over_memory_kill(r, exit)),
        ..JobInfo::new(state_of(class))
    }
}

/// What squeue says about a job. A finished job's exit code is not in squeue: COMPLETED means
/// 0, any other end leaves it unknown (sacct normally answers for those).
pub fn from_squeue(r: &SqueueRecord, offset: Option<i64>) -> JobInfo {
    let class = r.state.class();
    JobInfo {
        exit_code: (class == Class::Done).then_some(0),
        started: unix(r.start_time, offset),
        host: r.node_list.clone(),
        run_seconds: r.time_used_seconds.filter(|_| class != Class::Pending),
        reason: match class {
            Class::Failed { reason: Some(name) } => Some(failed_reason(name)),
            Class::Cancelled => Some("CANCELLED".to_string()),
            _ => None,
        },
        // Only the limits: what else ended the job is sacct's to say (it has the exit status).
        cause: match class {
            Class::Failed {
                reason: Some("TIMEOUT"),
            } => Some(Cause::RunLimit),
            Class::Failed {
                reason: Some("OUT_OF_MEMORY"),
            } => Some(Cause::MemLimit),
            _ => None,
        },
        ..JobInfo::new(state_of(class))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::slurm::parse::{SACCT_FIELDS, SQUEUE_FIELDS, parse_sacct, parse_squeue};

    /// `stdout` of a recorded output (`--- stdout:` up to `--- stderr:`).
    fn stdout_of(capture: &str) -> &str {
        let from = capture.find("--- stdout:\n").expect("a stdout section") + 12;
        let to = capture[from..]
            .find("--- stderr:")
            .expect("a stderr section")
            + from;
        &capture[from..to]
    }

    /// The records of a capture of `sacct -o` bsweep's fields and one more (ReqMem,
    /// Timelimit), that last column left out.
    fn sacct(capture: &str) -> Vec<SacctRecord> {
        let rows: String = stdout_of(capture)
            .lines()
            .map(|l| format!("{}\n", l.rsplit_once('|').map_or(l, |(a, _)| a)))
            .collect();
        parse_sacct(&rows, "", Some(0), SACCT_FIELDS)
            .expect("reads")
            .records
    }

    #[test]
    fn offsets_read_both_ways() {
        assert_eq!(utc_offset("+0000\n"), Some(0));
        assert_eq!(utc_offset("+0100"), Some(3600));
        assert_eq!(utc_offset("-0530"), Some(-19_800));
        for bad in ["", "0100", "+01", "+2400", "+01:00", "UTC"] {
            assert_eq!(utc_offset(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn timeout_and_cancel_keep_the_batch_steps_signal() {
        // Real sacct of a job that timed out (24) and of OOM and cancel under cgroups (32).
        let cap = include_str!("../../../.ci/slurm/recorded/24-sacct-timeout.txt");
        let rec = &sacct(cap)[0];
        let info = from_sacct(rec, Some(3600));
        assert_eq!(info.state, State::Failed);
        assert_eq!(info.exit_code, Some(143), "SIGTERM of the batch step");
        assert_eq!(
            info.reason.as_deref(),
            Some("TIMEOUT: the job ran into its time limit")
        );
        assert_eq!(info.run_seconds, Some(67.0));
        assert_eq!(info.max_mem_mb.map(|m| (m * 1024.0).round()), Some(3304.0));
        // 2026-12-01T09:15:54 at +01:00.
        assert_eq!(info.started, Some(1_796_116_554.0 - 3600.0));
        assert_eq!(info.ended.zip(info.started).map(|(e, s)| e - s), Some(67.0));

        let cap = include_str!("../../../.ci/slurm/recorded/32-sacct-mem-cgroup.txt");
        let recs = sacct(cap);
        let oom = from_sacct(&recs[0], Some(0));
        assert_eq!(oom.state, State::Failed);
        assert!(
            oom.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("OUT_OF_MEMORY")),
            "{oom:?}"
        );
        let cancelled = from_sacct(&recs[2], Some(0));
        assert_eq!(cancelled.state, State::Cancelled);
        assert_eq!(cancelled.reason.as_deref(), Some("CANCELLED by 0"));
    }

    #[test]
    fn failures_tell_exit_codes_signals_and_memory_kills_apart() {
        let cap = include_str!("../../../.ci/slurm/recorded/23-sacct-signal-and-step.txt");
        let recs = parse_sacct(stdout_of(cap), "", Some(0), SACCT_FIELDS)
            .expect("reads")
            .records;
        let killed = from_sacct(&recs[0], None);
        assert_eq!(killed.exit_code, Some(137));
        assert_eq!(killed.reason.as_deref(), Some("FAILED: killed by signal 9"));
        assert_eq!(killed.started, None, "no offset, no time");
        let exited = from_sacct(&recs[1], None);
        assert_eq!((exited.state, exited.exit_code), (State::Failed, Some(3)));
        assert_eq!(exited.reason, None, "the exit code tells");

        let cap = include_str!("../../../.ci/slurm/recorded/04-sacct-mem-linuxproc.txt");
        let recs = sacct(cap);
        let done = from_sacct(&recs[0], Some(0));
        assert_eq!((done.state, done.exit_code), (State::Done, Some(0)));
        let mem = from_sacct(&recs[1], Some(0));
        assert_eq!(mem.exit_code, Some(137));
        assert!(
            mem.reason
                .as_deref()
                .is_some_and(|r| r.contains("OverMemoryKill")),
            "{mem:?}"
        );
        assert!(mem.max_mem_mb.is_some_and(|m| m > 200.0));
    }

    #[test]
    fn squeue_rows_give_live_states_and_final_ones_without_codes() {
        let out = "14|14|RUNNING|None|short|2026-12-01T08:01:41|0:03|vm|bsw-x-00001-1\n\
                   15|15|COMPLETED|None|short|2026-12-01T08:01:41|0:01|vm|bsw-x-00002-1\n\
                   16|16|TIMEOUT|TimeLimit|long|2026-12-01T08:01:41|1:07|vm|bsw-x-00003-1\n\
                   17|17|PENDING|Priority|long|N/A|0:00||bsw-x-00004-1\n";
        let r = parse_squeue(out, "", Some(0), SQUEUE_FIELDS).expect("reads");
        let infos: Vec<JobInfo> = r.records.iter().map(|r| from_squeue(r, Some(0))).collect();
        assert_eq!(infos[0].state, State::Running);
        assert_eq!(infos[0].host.as_deref(), Some("vm"));
        assert_eq!(infos[0].run_seconds, Some(3.0));
        assert_eq!((infos[1].state, infos[1].exit_code), (State::Done, Some(0)));
        assert_eq!((infos[2].state, infos[2].exit_code), (State::Failed, None));
        assert_eq!((infos[3].state, infos[3].started), (State::Pending, None));
    }
}
