//! When a point gets another attempt on its own, and what that attempt asks for: the sweep's
//! retry rules (`max_attempts` and `[retry]`) and the hosts left out after they failed jobs.
//!
//! The rules, in order, for an attempt that ended failed with attempts to spare:
//! 1. killed at its memory limit with `on_memlimit` set: retried with the memory it ran with
//!    grown by the step (its override, else the sweep file's, else its measured peak), capped at
//!    `max`; a job that already had `max` is not retried, as it would die the same way;
//! 2. killed at its run limit with `on_runlimit` set: the same with its run limit (else its run
//!    time);
//! 3. lost, refused, or killed by someone (its owner, an administrator): not retried. A lost job
//!    may still run somewhere, a killed one was stopped on purpose: `bsweep retry --failed` is
//!    the user's call;
//! 4. otherwise a job that exited non-zero is retried when `on_exit` lists its code (every code
//!    without `on_exit`), keeping the limits it had. A limit kill without its rule falls here.
//!
//! Every new attempt also leaves out the hosts excluded so far.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{AttemptRec, Cause, Overrides, State};
use crate::spec::{Limits, RetryOpts, Spec};

/// Most hosts a sweep leaves out: beyond that the fault is not the hosts', and a long select
/// string might leave nothing to run on.
pub const MAX_EXCLUDED_HOSTS: usize = 32;

/// The sweep's retry rules.
#[derive(Debug, Clone)]
pub struct RetryRules {
    /// Attempts per point, the first included.
    pub max_attempts: u32,
    pub opts: RetryOpts,
    /// What every job asks for unless overridden: what a retry's limits grow from.
    pub limits: Limits,
}

impl RetryRules {
    pub fn of(spec: &Spec) -> Self {
        Self {
            max_attempts: spec.max_attempts,
            opts: spec.retry.clone(),
            limits: spec.limits(),
        }
    }

    /// Whether the attempt that just ended earns its point a new one (the module's rules).
    pub fn retries(&self, a: &AttemptRec) -> bool {
        if a.state != State::Failed || a.attempt >= self.max_attempts {
            return false;
        }
        if let Some(grown) = self.limit_rule(a) {
            return grown.is_some();
        }
        if matches!(a.cause, Some(Cause::Lost | Cause::Refused | Cause::Killed)) {
            return false;
        }
        match a.exit_code {
            Some(0) | None => false,
            Some(code) => self.opts.on_exit.as_ref().is_none_or(|c| c.contains(&code)),
        }
    }

    /// What the attempt after `a` asks for, whoever decided there is one (these rules, or
    /// `bsweep retry`): grown limits after a limit kill with its rule, else the limits `a`
    /// had. Hosts are left to the caller, who knows which are excluded now.
    pub fn next_overrides(&self, a: &AttemptRec) -> Overrides {
        match self.limit_rule(a) {
            Some(Some(o)) => o,
            _ => kept(a),
        }
    }

    /// The rule for a limit kill: `None` when none applies (not such a kill, no rule for it,
    /// or nothing to grow from), `Some(None)` when the limit cannot grow any more.
    fn limit_rule(&self, a: &AttemptRec) -> Option<Option<Overrides>> {
        if a.state != State::Failed {
            return None;
        }
        let mut o = kept(a);
        match a.cause? {
            Cause::MemLimit => {
                let g = self.opts.on_memlimit.as_ref()?;
                let peak = a.max_mem_mb.map(|mb| (mb * 1024.0).ceil() as u64);
                let ran = o.memory_kb.or(self.limits.memory_kb).or(peak)?;
                match g.next(ran) {
                    Some(kb) => o.memory_kb = Some(kb),
                    None => return Some(None),
                }
            }
            Cause::RunLimit => {
                let g = self.opts.on_runlimit.as_ref()?;
                let ran_minutes = a.run_seconds.map(|s| (s / 60.0).ceil() as u32);
                let ran = o
                    .walltime_minutes
                    .or(self.limits.walltime_minutes)
                    .or(ran_minutes)?;
                match g.next(u64::from(ran)).and_then(|m| u32::try_from(m).ok()) {
                    Some(m) => o.walltime_minutes = Some(m),
                    None => return Some(None),
                }
            }
            _ => return None,
        }
        Some(Some(o))
    }
}

/// The limits an attempt asked for, carried to the next one.
fn kept(a: &AttemptRec) -> Overrides {
    Overrides {
        memory_kb: a.overrides.memory_kb,
        walltime_minutes: a.overrides.walltime_minutes,
        exclude_hosts: Vec::new(),
    }
}

/// The hosts that failed jobs, kept in the sweep's store so that a resume leaves out the same
/// ones: which points failed on each host, hosts where jobs succeeded, and the hosts left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hosts {
    /// Points whose attempts failed on each host not left out yet.
    #[serde(default)]
    failed: BTreeMap<String, BTreeSet<u64>>,
    /// Hosts where a job of the sweep succeeded (a few: enough to know there is another).
    #[serde(default)]
    good: BTreeSet<String>,
    /// Hosts left out, in the order they were.
    #[serde(default)]
    excluded: Vec<String>,
}

/// The store setting that keeps [`Hosts`] (JSON).
pub const HOSTS_SETTING: &str = "hosts";

/// Most hosts [`Hosts`] remembers as good: one more than can be left out is always enough.
const GOOD_KEPT: usize = MAX_EXCLUDED_HOSTS + 1;

impl Hosts {
    pub fn excluded(&self) -> &[String] {
        &self.excluded
    }

    /// Records how the attempt `a` of point `index` ended on its host, and returns the hosts
    /// this leaves out: a host is left out once attempts of `after` distinct points failed
    /// there and a job has succeeded on a host still in use, so that the sweep's jobs have
    /// somewhere to go (with every host left out, LSF would keep them pending forever). Only
    /// failures a host can cause count (an exit, a signal, the scheduler's own end), not limit
    /// kills, kills by people or lost jobs; a job spread over several hosts is counted on none.
    pub fn record(&mut self, index: u64, a: &AttemptRec, after: u32) -> Vec<String> {
        let Some(host) = a.host.as_deref().filter(|h| plain_host(h)) else {
            return Vec::new();
        };
        let blames = match a.cause {
            Some(Cause::Exit | Cause::Signal | Cause::Terminated) => true,
            None => a.exit_code.is_some_and(|c| c != 0),
            Some(_) => false,
        };
        match a.state {
            State::Done if self.good.len() < GOOD_KEPT => {
                self.good.insert(host.to_string());
            }
            State::Failed if blames && !self.excluded.iter().any(|h| h == host) => {
                self.failed
                    .entry(host.to_string())
                    .or_default()
                    .insert(index);
            }
            _ => return Vec::new(),
        }
        self.exclude_due(after)
    }

    /// Leaves out the hosts that failed enough points, while a good host stays in use.
    fn exclude_due(&mut self, after: u32) -> Vec<String> {
        let due: Vec<String> = self
            .failed
            .iter()
            .filter(|(_, points)| points.len() >= after as usize)
            .map(|(h, _)| h.clone())
            .collect();
        let mut out = Vec::new();
        for host in due {
            let elsewhere = self
                .good
                .iter()
                .any(|g| *g != host && !self.excluded.contains(g));
            if !elsewhere || self.excluded.len() >= MAX_EXCLUDED_HOSTS {
                break;
            }
            self.failed.remove(&host);
            self.good.remove(&host);
            self.excluded.push(host.clone());
            out.push(host);
        }
        out
    }
}

/// One host name as schedulers print them (no list, nothing a select string would misread).
fn plain_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobId;
    use crate::spec::{Grow, Step};

    fn ended(attempt: u32, state: State, exit_code: Option<i32>) -> AttemptRec {
        let mut a = AttemptRec::found(attempt, "j".into(), 0, JobId::new("1"));
        a.exit_code = exit_code;
        a.end(state, 1.0);
        a
    }

    fn killed(attempt: u32, cause: Cause, code: i32) -> AttemptRec {
        let mut a = ended(attempt, State::Failed, Some(code));
        a.cause = Some(cause);
        a
    }

    fn rules(max_attempts: u32, opts: RetryOpts, limits: Limits) -> RetryRules {
        RetryRules {
            max_attempts,
            opts,
            limits,
        }
    }

    const GB: u64 = 1 << 20;

    #[test]
    fn only_jobs_that_exited_non_zero_are_retried_up_to_max_attempts() {
        let r = rules(3, RetryOpts::default(), Limits::default());
        assert!(r.retries(&ended(1, State::Failed, Some(7))));
        assert!(r.retries(&ended(2, State::Failed, Some(7))));
        assert!(!r.retries(&ended(3, State::Failed, Some(7))));
        // Lost or killed without an exit code: might still run somewhere.
        assert!(!r.retries(&ended(1, State::Failed, None)));
        assert!(!r.retries(&ended(1, State::Done, Some(0))));
        assert!(!r.retries(&ended(1, State::Cancelled, Some(130))));
        let one = rules(1, RetryOpts::default(), Limits::default());
        assert!(!one.retries(&ended(1, State::Failed, Some(1))));
        // Killed by someone, lost, refused: not retried even with an exit code.
        for c in [Cause::Killed, Cause::Lost, Cause::Refused] {
            assert!(!r.retries(&killed(1, c, 130)), "{c}");
        }
        // The scheduler's own ends and signals are retried like exits.
        assert!(r.retries(&killed(1, Cause::Terminated, 143)));
        assert!(r.retries(&killed(1, Cause::Signal, 139)));
    }

    #[test]
    fn on_exit_chooses_the_exit_codes_worth_a_retry() {
        let opts = RetryOpts {
            on_exit: Some(vec![137, 143]),
            ..RetryOpts::default()
        };
        let r = rules(3, opts, Limits::default());
        assert!(r.retries(&ended(1, State::Failed, Some(137))));
        assert!(!r.retries(&ended(1, State::Failed, Some(7))));
        // A run-limit kill without on_runlimit is an exit like any other.
        assert!(!r.retries(&killed(1, Cause::RunLimit, 140)));
        assert!(r.retries(&killed(1, Cause::MemLimit, 137)));
    }

    #[test]
    fn a_memory_limit_kill_doubles_the_memory_up_to_max() {
        let opts = RetryOpts {
            on_memlimit: Some(Grow {
                step: Step::Times(2.0),
                max: 6 * GB,
            }),
            on_exit: Some(vec![99]),
            ..RetryOpts::default()
        };
        let r = rules(
            5,
            opts,
            Limits {
                memory_kb: Some(2 * GB),
                walltime_minutes: Some(60),
            },
        );
        // From the sweep file's 2 GB, whatever the exit code.
        let a1 = killed(1, Cause::MemLimit, 1);
        assert!(r.retries(&a1));
        let o2 = r.next_overrides(&a1);
        assert_eq!((o2.memory_kb, o2.walltime_minutes), (Some(4 * GB), None));
        // Then from what the attempt ran with, capped at max.
        let mut a2 = killed(2, Cause::MemLimit, 1);
        a2.overrides = o2;
        assert_eq!(r.next_overrides(&a2).memory_kb, Some(6 * GB));
        // An attempt that had max already dies the same way: not retried.
        let mut a3 = killed(3, Cause::MemLimit, 1);
        a3.overrides.memory_kb = Some(6 * GB);
        assert!(!r.retries(&a3));
        // The grown memory stays for a later failure of another kind.
        let mut a4 = ended(3, State::Failed, Some(99));
        a4.overrides.memory_kb = Some(6 * GB);
        assert!(r.retries(&a4));
        assert_eq!(r.next_overrides(&a4).memory_kb, Some(6 * GB));
        // Without a memory in the file, from the peak LSF measured.
        let bare = rules(3, r.opts.clone(), Limits::default());
        let mut peak = killed(1, Cause::MemLimit, 1);
        peak.max_mem_mb = Some(1000.0);
        assert_eq!(bare.next_overrides(&peak).memory_kb, Some(2_048_000));
        // Nothing to grow from: the exit code decides, with nothing changed.
        let blind = killed(1, Cause::MemLimit, 1);
        assert!(!bare.retries(&blind));
        assert_eq!(bare.next_overrides(&blind), Overrides::default());
    }

    #[test]
    fn a_run_limit_kill_lengthens_the_run_limit() {
        let opts = RetryOpts {
            on_runlimit: Some(Grow {
                step: Step::Plus(30),
                max: 100,
            }),
            ..RetryOpts::default()
        };
        let r = rules(3, opts, Limits::default());
        // No walltime in the file: from the run time LSF measured (61 s: 2 minutes).
        let mut a = killed(1, Cause::RunLimit, 140);
        a.run_seconds = Some(61.0);
        assert!(r.retries(&a));
        assert_eq!(r.next_overrides(&a).walltime_minutes, Some(32));
        a.overrides.walltime_minutes = Some(90);
        assert_eq!(r.next_overrides(&a).walltime_minutes, Some(100));
        a.overrides.walltime_minutes = Some(100);
        assert!(!r.retries(&a));
        // Max attempts still bound it.
        let mut last = killed(3, Cause::RunLimit, 140);
        last.run_seconds = Some(60.0);
        assert!(!r.retries(&last));
    }

    #[test]
    fn a_host_is_left_out_after_failures_of_enough_distinct_points() {
        let on = |host: &str, state: State, cause: Option<Cause>, code: i32| {
            let mut a = ended(1, state, Some(code));
            a.host = Some(host.into());
            a.cause = cause;
            a
        };
        let fail = |host: &str| on(host, State::Failed, None, 1);
        let mut h = Hosts::default();
        assert!(
            h.record(1, &on("n2", State::Failed, Some(Cause::Exit), 127), 2)
                .is_empty()
        );
        // The same point failing again there is not a second point.
        assert!(h.record(1, &fail("n2"), 2).is_empty());
        // Limit kills, kills by people, multi-host jobs and odd names blame no host.
        let none = [
            on("n2", State::Failed, Some(Cause::MemLimit), 1),
            on("n2", State::Failed, Some(Cause::Killed), 130),
            fail("n2 n3"),
            fail("n]2"),
        ];
        for (i, a) in none.iter().enumerate() {
            assert!(h.record(10 + i as u64, a, 2).is_empty());
        }
        // A second point fails there, but no job has succeeded elsewhere yet: n2 stays, as it
        // may be the only host there is.
        assert!(h.record(6, &fail("n2"), 2).is_empty());
        assert!(h.record(7, &on("n2", State::Done, None, 0), 2).is_empty());
        assert!(h.excluded().is_empty());
        // A job succeeds on n3: n2 is left out now.
        assert_eq!(h.record(8, &on("n3", State::Done, None, 0), 2), ["n2"]);
        assert_eq!(h.excluded(), ["n2"]);
        assert!(h.record(9, &fail("n2"), 2).is_empty());
        // n3 fails two points too, but it is the only good host left: it stays.
        assert!(h.record(20, &fail("n3"), 2).is_empty());
        assert!(h.record(21, &fail("n3"), 2).is_empty());
        assert_eq!(h.excluded(), ["n2"]);
        // The record survives being written and read back.
        let again: Hosts = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(again, h);
        let mut full = Hosts::default();
        full.record(0, &on("ok", State::Done, None, 0), 1);
        for i in 0..MAX_EXCLUDED_HOSTS + 3 {
            full.record(i as u64, &fail(&format!("h{i}")), 1);
        }
        assert_eq!(full.excluded().len(), MAX_EXCLUDED_HOSTS);
    }
}
