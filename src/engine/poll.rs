//! A poll's answers merged into the records: pure, one attempt at a time, with the lost-job
//! clock kept in the record so it survives a resume.

use crate::model::{AttemptRec, Cause, State};
use crate::sched::{Profile, Seen};

/// What merging one answer did to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merged {
    Unchanged,
    Changed,
    /// Unknown to everyone for longer than `lost_after`: ended as failed.
    Lost,
}

/// Merges what a poll `seen` of the attempt's job at time `now`.
pub fn merge(a: &mut AttemptRec, seen: &Seen, now: f64, profile: &Profile) -> Merged {
    let before = a.clone();
    match seen {
        Seen::Missing => {
            // A job the scheduler has just accepted may not be listed yet: no news.
            if a.submitted.is_some_and(|s| now - s <= profile.settle) {
                return Merged::Unchanged;
            }
            let since = *a.missing_since.get_or_insert(now);
            if now - since > profile.lost_after {
                a.error = Some(format!(
                    "the scheduler no longer knows job {} and it left no report or history",
                    a.job_id
                        .as_ref()
                        .map_or_else(|| a.job_name.clone(), |j| j.to_string())
                ));
                a.end(State::Failed, now);
                a.cause = Some(Cause::Lost);
                return Merged::Lost;
            }
            a.set_state(State::Unknown);
        }
        Seen::Known(info) => {
            a.missing_since = None;
            a.set_state(info.state);
            if a.state == State::Running && a.started.is_none() && info.started.is_none() {
                // A scheduler's own start time may have no year or zone; when it was first
                // seen running is accurate to one poll interval.
                a.started = Some(now);
            }
            a.exit_code = info.exit_code.or(a.exit_code);
            a.started = info.started.or(a.started);
            a.ended = info.ended.or(a.ended);
            a.host = info.host.clone().or(a.host.take());
            a.max_mem_mb = info.max_mem_mb.or(a.max_mem_mb);
            a.run_seconds = info.run_seconds.or(a.run_seconds);
            if info.reason.is_some() {
                a.error = info.reason.clone();
            }
            a.cause = info.cause.or(a.cause);
            if a.state.is_final() {
                a.end(a.state, now);
                if a.state == State::Failed && a.cause.is_none() && a.exit_code.is_some() {
                    // The scheduler said no more than an exit code.
                    a.cause = Some(Cause::Exit);
                }
                if a.started.is_none()
                    && let (Some(end), Some(run)) = (a.ended, a.run_seconds)
                {
                    // Finished between two polls: the run time places the start.
                    a.started = Some(end - run);
                }
            }
        }
    }
    if *a == before {
        Merged::Unchanged
    } else {
        Merged::Changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobId, Phase};
    use crate::sched::{JobInfo, PollOpts};
    use crate::spec::{BackendKind, Policy};
    use std::time::Duration;

    fn profile() -> Profile {
        Profile {
            backend: BackendKind::Lsf,
            targets: Vec::new(),
            policy: Policy::RoundRobin,
            arrays: None,
            poll: PollOpts {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(1),
                factor: 1.0,
            },
            settle: 10.0,
            lost_after: 600.0,
            batch: crate::sched::MAX_BATCH,
        }
    }

    fn submitted(at: f64) -> AttemptRec {
        let mut a = AttemptRec::intent(1, "bsw-x-00000-1".into(), 0, at);
        a.accept(JobId::new("5"), Some("short".into()), at);
        a
    }

    #[test]
    fn a_missing_job_is_unknown_then_lost_after_lost_after() {
        let p = profile();
        let mut a = submitted(0.0);
        assert_eq!(merge(&mut a, &Seen::Missing, 5.0, &p), Merged::Unchanged);
        assert_eq!(a.state, State::Pending);
        assert_eq!(merge(&mut a, &Seen::Missing, 20.0, &p), Merged::Changed);
        assert_eq!((a.state, a.missing_since), (State::Unknown, Some(20.0)));
        assert_eq!(merge(&mut a, &Seen::Missing, 620.0, &p), Merged::Unchanged);
        assert_eq!(merge(&mut a, &Seen::Missing, 620.5, &p), Merged::Lost);
        assert_eq!((a.state, a.phase), (State::Failed, Phase::Ended));
        assert_eq!((a.exit_code, a.cause), (None, Some(Cause::Lost)));
        assert!(a.error.as_deref().unwrap().contains("job 5"));
    }

    #[test]
    fn seeing_the_job_again_resets_the_lost_clock() {
        let p = profile();
        let mut a = submitted(0.0);
        merge(&mut a, &Seen::Missing, 20.0, &p);
        let running = Seen::Known(JobInfo::new(State::Running));
        assert_eq!(merge(&mut a, &running, 30.0, &p), Merged::Changed);
        assert_eq!(
            (a.state, a.missing_since, a.started),
            (State::Running, None, Some(30.0))
        );
        merge(&mut a, &Seen::Missing, 40.0, &p);
        assert_eq!(a.missing_since, Some(40.0));
    }

    #[test]
    fn an_end_keeps_what_the_scheduler_said_and_places_the_start() {
        let p = profile();
        let mut a = submitted(0.0);
        let done = Seen::Known(JobInfo {
            exit_code: Some(0),
            run_seconds: Some(7.0),
            max_mem_mb: Some(12.5),
            host: Some("n1".into()),
            ..JobInfo::new(State::Done)
        });
        assert_eq!(merge(&mut a, &done, 100.0, &p), Merged::Changed);
        assert_eq!(
            (a.phase, a.ended, a.started),
            (Phase::Ended, Some(100.0), Some(93.0))
        );
        assert_eq!((a.max_mem_mb, a.host.as_deref()), (Some(12.5), Some("n1")));
        // The same answer again changes nothing.
        assert_eq!(merge(&mut a, &done, 110.0, &p), Merged::Unchanged);
        let killed = Seen::Known(JobInfo {
            exit_code: Some(140),
            reason: Some("TERM_RUNLIMIT: job killed after reaching LSF run time limit".into()),
            ..JobInfo::new(State::Failed)
        });
        let mut b = submitted(0.0);
        merge(&mut b, &killed, 50.0, &p);
        assert_eq!(b.exit_code, Some(140));
        assert!(b.error.as_deref().unwrap().starts_with("TERM_RUNLIMIT"));
        // No cause given: an exit code is an exit; a cause given is kept.
        assert_eq!(b.cause, Some(Cause::Exit));
        let memlimit = Seen::Known(JobInfo {
            exit_code: Some(1),
            cause: Some(Cause::MemLimit),
            ..JobInfo::new(State::Failed)
        });
        let mut c = submitted(0.0);
        merge(&mut c, &memlimit, 50.0, &p);
        assert_eq!(c.cause, Some(Cause::MemLimit));
    }
}
