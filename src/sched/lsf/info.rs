//! What LSF's readings say about a job, in bsweep's terms: a `bjobs` record, a job report or a
//! `bhist -l` outcome as a [`JobInfo`] (state, exit code, why it failed), and a report as the
//! backend-neutral [`JobReport`].

use super::parse::{self, JobRecord, Outcome, Stat};
use crate::model::{Cause, State};
use crate::sched::{JobInfo, JobReport, ReportOutcome};

/// Maps an LSF state to bsweep's. EXIT becomes `Failed`; a cancel is recorded by the engine.
pub fn state_of(stat: Stat) -> State {
    match stat {
        Stat::Pend | Stat::Prov | Stat::Wait => State::Pending,
        Stat::Run => State::Running,
        Stat::Psusp | Stat::Ususp | Stat::Ssusp => State::Suspended,
        Stat::Done => State::Done,
        Stat::Exit => State::Failed,
        Stat::Unkwn | Stat::Zombi => State::Unknown,
    }
}

pub(super) fn info_of(r: &JobRecord) -> JobInfo {
    JobInfo {
        exit_code: match r.stat {
            Stat::Done => Some(r.exit_code.unwrap_or(0)),
            _ => r.exit_code,
        },
        host: (!r.exec_hosts.is_empty()).then(|| r.exec_hosts.join(" ")),
        max_mem_mb: r.max_mem_mb,
        run_seconds: r.run_seconds,
        ..JobInfo::new(state_of(r.stat))
    }
}

/// The cause an LSF termination reason names: `TERM_MEMLIMIT: job killed after reaching LSF
/// memory usage limit.`, `TERM_RUNLIMIT: …` (also OpenLava's inferred run-limit kill), the kills
/// of an owner or administrator; any other `TERM_*` is the scheduler's own doing.
pub(super) fn cause_of_term(reason: &str) -> Cause {
    match reason.split(':').next().unwrap_or_default().trim() {
        "TERM_MEMLIMIT" => Cause::MemLimit,
        "TERM_RUNLIMIT" => Cause::RunLimit,
        "TERM_OWNER" | "TERM_ADMIN" | "TERM_FORCE_OWNER" | "TERM_FORCE_ADMIN" => Cause::Killed,
        _ => Cause::Terminated,
    }
}

pub(super) fn info_of_outcome(o: &Outcome) -> JobInfo {
    let (state, exit_code, reason, cause) = match o {
        Outcome::Done => (State::Done, Some(0), None, None),
        Outcome::Exited { code } => (State::Failed, Some(*code), None, Some(Cause::Exit)),
        Outcome::Term { reason, code } => (
            State::Failed,
            *code,
            Some(reason.clone()),
            Some(cause_of_term(reason)),
        ),
    };
    JobInfo {
        exit_code,
        reason,
        cause,
        ..JobInfo::new(state)
    }
}

pub(super) fn report_from(t: parse::Trailer) -> JobReport {
    JobReport {
        job_id: t.job_id,
        outcome: match t.outcome {
            Outcome::Done => ReportOutcome::Done,
            Outcome::Exited { code } => ReportOutcome::Exited { code },
            Outcome::Term { reason, code } => ReportOutcome::Killed { reason, code },
        },
        started: t.started,
        ended: t.finished,
        run_seconds: t.run_seconds,
        max_mem_mb: t.max_mem_mb,
    }
}

/// A job bjobs lists as EXIT, with how it ended from its report or history: why (a `TERM_*`
/// line, which bjobs does not give), its figures, and an exit code where bjobs shows none;
/// what bjobs knows (its exit code, the host, its times) where the end says nothing. An end
/// that is not EXIT cannot be this attempt's and changes nothing.
pub(super) fn with_end(listed: &JobInfo, end: JobInfo) -> JobInfo {
    if end.state != State::Failed {
        return listed.clone();
    }
    JobInfo {
        state: listed.state,
        exit_code: listed.exit_code.or(end.exit_code),
        host: end.host.or_else(|| listed.host.clone()),
        started: end.started.or(listed.started),
        ended: end.ended.or(listed.ended),
        max_mem_mb: end.max_mem_mb.or(listed.max_mem_mb),
        run_seconds: end.run_seconds.or(listed.run_seconds),
        reason: end.reason.or_else(|| listed.reason.clone()),
        cause: end.cause.or(listed.cause),
    }
}
