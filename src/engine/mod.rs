//! The engine: one loop that owns a sweep's state and is the only writer of its store. It
//! reconciles unfinished submissions, submits what fits, polls what runs, retries what failed,
//! and tells a reporter what happened. It sees its backend only through the [`Scheduler`] it is
//! given, and keeps in memory only the points that have a job open: a million-point sweep costs
//! what its jobs in flight cost.

pub mod events;
pub mod placement;
pub mod poll;
pub mod recover;
pub mod retry;
mod submit;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use self::events::{Event, Reporter};
use self::placement::Placement;
use self::poll::Merged;
use self::retry::{HOSTS_SETTING, Hosts, RetryRules};
use crate::layout::JobPaths;
use crate::model::{AttemptRec, Clock, Counts, PointRec, State, names};
use crate::sched::{Dialect, JobRef, Profile, SchedError, Scheduler};
use crate::spec::{Spec, SpecError};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Points not yet submitted are cancelled and recorded; the jobs in flight are not.
    #[error(
        "the scheduler did not cancel the jobs of sweep `{sweep}`; run `bsweep cancel {sweep}` again"
    )]
    Cancel {
        sweep: String,
        #[source]
        source: SchedError,
    },
    #[error("the sweep file recorded for `{name}` no longer parses with this bsweep")]
    Spec {
        name: String,
        #[source]
        source: Box<SpecError>,
    },
}

/// How a follow loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every point reached a final state.
    Finished,
    /// `--detach`: everything that could be submitted now was; the rest waits for `resume`.
    Detached,
    /// The user pressed Ctrl-C: nothing was killed.
    Interrupted,
}

/// What one cycle did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cycle {
    pub changed: bool,
    pub submitted: usize,
}

/// How long to wait before the next cycle: `poll.initial` after a cycle that changed or
/// submitted anything, else `factor` times longer, up to `poll.max`.
pub fn next_interval(previous: Duration, cycle: Cycle, poll: &crate::sched::PollOpts) -> Duration {
    if cycle.changed || cycle.submitted > 0 {
        poll.initial
    } else {
        previous.mul_f64(poll.factor).min(poll.max)
    }
}

/// Marks never-submitted points cancelled and writes them (durably); returns how many.
fn cancel_unsubmitted(
    store: &Store,
    counts: &mut Counts,
    points: &mut Vec<PointRec>,
    sweep_id: &str,
    t: f64,
) -> Result<u64, EngineError> {
    for p in points.iter_mut() {
        p.attempts.push(AttemptRec::ended_unsubmitted(
            1,
            names::job(sweep_id, p.index, 1),
            0,
            State::Cancelled,
            "cancelled before submission".into(),
            t,
        ));
        counts.moved(State::Unsubmitted, State::Cancelled);
    }
    if !points.is_empty() {
        store.put_points(points.iter())?;
        store.flush()?;
    }
    let n = points.len() as u64;
    points.clear();
    Ok(n)
}

/// The store setting holding when the scheduler last answered a poll (unix seconds).
pub const HEARD_SETTING: &str = "heard";

/// Points per store batch when the engine walks the whole sweep (cancel, fail, retry).
const WALK_BATCH: usize = 10_000;

pub struct Engine<S: Scheduler> {
    store: Store,
    spec: Spec,
    sched: S,
    profile: Profile,
    dialect: Dialect,
    rules: RetryRules,
    /// Hosts that failed jobs, and those left out of every later submission.
    hosts: Hosts,
    clock: Clock,
    /// The sweep's directory where its jobs run: the local sweep directory, or its twin on a
    /// cluster reached over SSH (`remote`).
    jobs: JobPaths,
    remote: bool,
    counts: Counts,
    /// The last attempt of every point that has one open (an intent, or a job in flight).
    active: BTreeMap<u64, AttemptRec>,
    /// Points to give a new attempt (retries, intents that turned out unsubmitted), first.
    retry: VecDeque<u64>,
    /// How many of those have no attempt at all (they count as unsubmitted too).
    retry_fresh: u64,
    /// Points never attempted are found by walking the store from here.
    fresh_from: u64,
    /// No never-attempted point is left.
    fresh_done: bool,
    placement: Placement,
    /// Submissions in the next round trip at most: the profile's batch, smaller while the
    /// scheduler is slow (see [`crate::sched::next_batch`]).
    batch: usize,
    reporter: Box<dyn Reporter>,
    last_snapshot: Option<Instant>,
    /// When the scheduler last answered a poll.
    heard: Option<f64>,
    /// The host whose connection is gone and needs a person to log in again: nothing is
    /// submitted meanwhile, and the next cycle comes after [`LOGIN_RECHECK`].
    awaiting_login: Option<String>,
}

/// How often a follower whose connection needs a new login checks whether it is back (a local
/// look at the control socket, never a connection attempt).
pub const LOGIN_RECHECK: Duration = Duration::from_secs(3);

impl<S: Scheduler> Engine<S> {
    /// Loads a sweep the caller has opened (and so locked), in one pass over its points.
    pub fn new(
        store: Store,
        sched: S,
        reporter: Box<dyn Reporter>,
        clock: Clock,
    ) -> Result<Self, EngineError> {
        let meta = store.meta().clone();
        let spec =
            Spec::from_toml(&meta.spec_text, &meta.source).map_err(|source| EngineError::Spec {
                name: meta.name.clone(),
                source: Box::new(source),
            })?;
        let remote = meta.cluster_dir.is_some();
        let jobs = match &meta.cluster_dir {
            Some(d) => JobPaths::new(PathBuf::from(d)),
            None => store.paths().jobs(),
        };
        let rules = RetryRules::of(&spec);
        // A damaged record of hosts only costs their exclusion, never the sweep.
        let hosts = store
            .setting(HOSTS_SETTING)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let mut counts = Counts::default();
        let mut active = BTreeMap::new();
        let mut retry = VecDeque::new();
        let mut fresh_from = None;
        let mut seen = 0u64;
        for p in store.points() {
            let p = p?;
            seen += 1;
            counts.add(p.state());
            match p.last() {
                None => {
                    fresh_from.get_or_insert(p.index);
                }
                Some(a) if a.holds_slot() => {
                    active.insert(p.index, a.clone());
                }
                // An automatic retry that a crash or `--detach` left undone.
                Some(a) if rules.retries(a) => retry.push_back(p.index),
                Some(_) => {}
            }
        }
        if seen != meta.count {
            return Err(StoreError::Damaged {
                name: meta.name.clone(),
                what: format!("{seen} point records, expected {}", meta.count),
            }
            .into());
        }
        let profile = sched.profile().clone();
        let dialect = sched.dialect();
        Ok(Self {
            placement: Placement::new(&profile),
            batch: profile.batch,
            profile,
            dialect,
            rules,
            hosts,
            clock,
            jobs,
            remote,
            counts,
            active,
            retry,
            retry_fresh: 0,
            fresh_done: fresh_from.is_none(),
            fresh_from: fresh_from.unwrap_or(0),
            store,
            spec,
            sched,
            reporter,
            last_snapshot: None,
            heard: None,
            awaiting_login: None,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Gives the sweep back (still held by this process).
    pub fn into_store(self) -> Store {
        self.store
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// When the scheduler last answered this engine's poll (unix seconds).
    pub fn heard(&self) -> Option<f64> {
        self.heard
    }

    /// Points with a job in flight or an unresolved intent.
    pub fn open_jobs(&self) -> usize {
        self.active.len()
    }

    /// Points still waiting for a (new) attempt.
    pub fn waiting(&self) -> u64 {
        let intents = self.active.values().filter(|a| a.is_intent()).count() as u64;
        let fresh = self
            .counts
            .get(State::Unsubmitted)
            .saturating_sub(intents + self.retry_fresh);
        fresh + self.retry.len() as u64
    }

    /// Whether a follower could still do something without the user: submit, retry, or
    /// reconcile.
    pub fn needs_follower(&self) -> bool {
        self.waiting() > 0 || (!self.active.is_empty() && self.rules.max_attempts > 1)
    }

    fn job_ref(&self, index: u64, a: &AttemptRec) -> JobRef {
        JobRef {
            job_id: a
                .job_id
                .clone()
                .unwrap_or_else(|| crate::model::JobId::new("")),
            job_name: a.job_name.clone(),
            attempt: a.attempt,
            out_dir: self.jobs.out_dir(index),
            report: self.jobs.report_file(index, &a.job_name),
            submitted: a.submitted,
        }
    }

    /// The scheduler gave no answer: `event` says so, except while a login is awaited, which
    /// is said once (every failure until then has that one cause).
    fn unanswered(&mut self, event: Event<'_>, e: &crate::sched::SchedError) {
        match e.needs_login() {
            Some(host) => {
                if self.awaiting_login.is_none() {
                    self.reporter.event(&Event::AwaitingLogin { host });
                    self.awaiting_login = Some(host.to_string());
                }
            }
            None => self.reporter.event(&event),
        }
    }

    /// The scheduler answered: a login awaited has come.
    fn answered(&mut self) {
        if let Some(host) = self.awaiting_login.take() {
            self.reporter.event(&Event::LoginBack { host: &host });
        }
    }

    /// Writes points durably.
    fn save(&self, points: &[PointRec]) -> Result<(), EngineError> {
        if points.is_empty() {
            return Ok(());
        }
        self.store.put_points(points)?;
        self.store.flush()?;
        Ok(())
    }

    /// Replaces the last attempt of each point with the given one and writes them durably.
    fn save_attempts<'a>(
        &self,
        changed: impl IntoIterator<Item = (u64, &'a AttemptRec)>,
    ) -> Result<(), EngineError> {
        let changed: Vec<(u64, &AttemptRec)> = changed.into_iter().collect();
        let indices: Vec<u64> = changed.iter().map(|(i, _)| *i).collect();
        let mut points = self.store.points_at(&indices)?;
        for (p, (_, a)) in points.iter_mut().zip(&changed) {
            match p.last_mut() {
                Some(last) if last.attempt == a.attempt => *last = (*a).clone(),
                _ => p.attempts.push((*a).clone()),
            }
        }
        self.save(&points)
    }

    /// Writes `status.json` for readers while this process holds the sweep: at most every
    /// second, and less often for large sweeps (each snapshot reads every point).
    pub fn write_snapshot(&mut self, force: bool) {
        let every = Duration::from_secs_f64((self.store.meta().count as f64 / 20_000.0).max(1.0));
        if !force && self.last_snapshot.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last_snapshot = Some(Instant::now());
        // Best effort: a reader without a fresh snapshot waits for the next one.
        let _ = self.snapshot_now();
    }

    fn snapshot_now(&self) -> Result<(), crate::view::ViewError> {
        let path = self.store.paths().status();
        let tmp = path.with_extension("json.tmp");
        let file = fs::File::create(&tmp).map_err(crate::view::ViewError::Write)?;
        crate::view::write_json(
            self.store.meta(),
            &self.counts,
            self.heard,
            self.store.points(),
            std::io::BufWriter::new(file),
            false,
        )?;
        fs::rename(&tmp, &path).map_err(crate::view::ViewError::Write)
    }

    /// Polls every in-flight job in one scheduler call; returns whether anything changed.
    pub async fn poll_once(&mut self) -> Result<bool, EngineError> {
        let refs: Vec<JobRef> = self
            .active
            .iter()
            .filter(|(_, a)| !a.is_intent())
            .map(|(&i, a)| self.job_ref(i, a))
            .collect();
        if refs.is_empty() {
            return Ok(false);
        }
        let seen = match self.sched.status(&refs).await {
            Ok(s) => s,
            Err(e) => {
                // No answer is no evidence: states stay as they are.
                self.unanswered(Event::PollFailed(&e), &e);
                return Ok(false);
            }
        };
        self.answered();
        let now = self.clock.now();
        self.heard = Some(now);
        // Kept, so that a reader who cannot reach the scheduler can say how old the figures are.
        self.store.put_setting(HEARD_SETTING, &now.to_string())?;
        let mut changed: Vec<u64> = Vec::new();
        let mut ended: Vec<u64> = Vec::new();
        for (&index, a) in self.active.iter_mut() {
            let Some(s) = a.job_id.as_ref().and_then(|id| seen.get(id)) else {
                continue;
            };
            let before = a.state;
            match poll::merge(a, s, now, &self.profile) {
                Merged::Unchanged => continue,
                Merged::Lost => {
                    let job = a.job_id.as_ref().map(|j| j.to_string()).unwrap_or_default();
                    self.reporter.event(&Event::Lost {
                        point: index,
                        job: &job,
                    });
                }
                Merged::Changed => {}
            }
            self.counts.moved(before, a.state);
            changed.push(index);
            if a.state.is_final() {
                ended.push(index);
            }
        }
        if changed.is_empty() {
            return Ok(false);
        }
        self.save_attempts(changed.iter().map(|i| (*i, &self.active[i])))?;
        self.count_host_failures(&ended)?;
        let mut retried = 0;
        for i in ended {
            if let Some(a) = self.active.remove(&i)
                && self.rules.retries(&a)
            {
                self.retry.push_back(i);
                retried += 1;
            }
        }
        if retried > 0 {
            self.reporter.event(&Event::Retrying { points: retried });
        }
        Ok(true)
    }

    /// Records how attempts that just ended did on their hosts, and leaves out a host (durably,
    /// so a resume still does) once enough points failed there.
    fn count_host_failures(&mut self, ended: &[u64]) -> Result<(), EngineError> {
        let Some(after) = self.rules.opts.exclude_hosts_after else {
            return Ok(());
        };
        let before = self.hosts.clone();
        for i in ended {
            let Some(a) = self.active.get(i) else {
                continue;
            };
            for host in self.hosts.record(*i, a, after) {
                self.reporter.event(&Event::HostExcluded {
                    host: &host,
                    points: after,
                });
            }
        }
        if self.hosts != before {
            let text = serde_json::to_string(&self.hosts).unwrap_or_default();
            self.store.put_setting(HOSTS_SETTING, &text)?;
        }
        Ok(())
    }

    /// Submissions whose outcome was never recorded (bsweep died between recording the intent
    /// and recording the job id): adopt the job if the scheduler has it, else forget the intent
    /// so the point is submitted again under the same job name. "Could not ask" changes nothing.
    pub async fn reconcile(&mut self) -> Result<(), EngineError> {
        // A scheduler may not list a job it accepted a moment ago: only look up intents older
        // than its settling time, the younger ones wait for a later cycle.
        let settled = self.clock.now() - self.profile.settle;
        let open: Vec<(u64, JobRef)> = self
            .active
            .iter()
            .filter(|(_, a)| a.is_intent() && a.submitted.is_none_or(|t| t <= settled))
            .map(|(&i, a)| (i, self.job_ref(i, a)))
            .collect();
        if open.is_empty() {
            return Ok(());
        }
        let refs: Vec<JobRef> = open.iter().map(|(_, r)| r.clone()).collect();
        let found = match self.sched.find_by_name(&refs).await {
            Ok(found) => found,
            Err(e) => {
                // Without an answer we cannot tell submitted from not: leave the intents for
                // a later cycle rather than risk a duplicate.
                self.unanswered(Event::LookupFailed(&e), &e);
                return Ok(());
            }
        };
        self.answered();
        let now = self.clock.now();
        let mut adopted = Vec::new();
        let mut forgotten = Vec::new();
        for (i, r) in &open {
            match found.get(&r.job_name) {
                Some(id) => {
                    let a = self.active.get_mut(i).expect("an open intent");
                    let at = a.submitted.unwrap_or(now);
                    a.accept(id.clone(), None, at);
                    // The target took this job: it is not refusing jobs.
                    self.placement.trust(a.target);
                    self.counts.moved(State::Unsubmitted, State::Pending);
                    adopted.push(*i);
                }
                None => forgotten.push(*i),
            }
        }
        self.save_attempts(adopted.iter().map(|i| (*i, &self.active[i])))?;
        let mut points = Vec::new();
        for &i in &forgotten {
            let mut p = self.store.point(i)?;
            p.attempts.pop();
            self.active.remove(&i);
            self.counts.moved(State::Unsubmitted, p.state());
            points.push(p);
        }
        self.save(&points)?;
        for p in points.iter().rev() {
            self.requeue_front(p);
        }
        if !adopted.is_empty() {
            self.reporter.event(&Event::Adopted {
                jobs: adopted.len(),
            });
        }
        Ok(())
    }

    /// Cancels every point not yet final: unsubmitted ones are marked cancelled, in-flight jobs
    /// are cancelled with the scheduler. The unsubmitted ones are recorded before the scheduler
    /// is asked, so a failing cancel ([`EngineError::Cancel`]) loses none of it.
    pub async fn cancel_all(&mut self) -> Result<u64, EngineError> {
        let t = self.clock.now();
        let id = self.store.meta().id.clone();
        let mut unsubmitted = 0u64;
        // Queued points that never had an attempt are cancelled like the fresh ones; queued
        // retries of failed points stay failed.
        let mut batch: Vec<PointRec> = Vec::new();
        while let Some(p) = self.next_retry()? {
            if p.attempts.is_empty() {
                batch.push(p);
            }
        }
        unsubmitted += cancel_unsubmitted(&self.store, &mut self.counts, &mut batch, &id, t)?;
        if !self.fresh_done {
            for p in self.store.points_from(self.fresh_from) {
                let p = p?;
                if p.attempts.is_empty() {
                    batch.push(p);
                }
                if batch.len() >= WALK_BATCH {
                    unsubmitted +=
                        cancel_unsubmitted(&self.store, &mut self.counts, &mut batch, &id, t)?;
                }
            }
            unsubmitted += cancel_unsubmitted(&self.store, &mut self.counts, &mut batch, &id, t)?;
            self.fresh_done = true;
        }
        // An intent without a job id is left to reconcile, which finds its job (or not) by
        // name; a later cancel then reaches it.
        let refs: Vec<(u64, JobRef)> = self
            .active
            .iter()
            .filter(|(_, a)| !a.is_intent() && a.state.in_flight())
            .map(|(&i, a)| (i, self.job_ref(i, a)))
            .collect();
        if !refs.is_empty() {
            let jobs: Vec<JobRef> = refs.iter().map(|(_, r)| r.clone()).collect();
            if let Err(source) = self.sched.cancel(&jobs).await {
                self.write_snapshot(true);
                return Err(EngineError::Cancel {
                    sweep: self.store.meta().name.clone(),
                    source,
                });
            }
            for (i, _) in &refs {
                if let Some(a) = self.active.get_mut(i) {
                    self.counts.moved(a.state, State::Cancelled);
                    a.end(State::Cancelled, t);
                }
            }
            self.save_attempts(refs.iter().map(|(i, _)| (*i, &self.active[i])))?;
            for (i, _) in &refs {
                self.active.remove(i);
            }
        }
        self.write_snapshot(true);
        Ok(unsubmitted + refs.len() as u64)
    }

    /// Puts a point first in line for a new attempt.
    fn requeue_front(&mut self, p: &PointRec) {
        self.retry_fresh += u64::from(p.attempts.is_empty());
        self.retry.push_front(p.index);
    }

    /// Puts a point last in line for a new attempt.
    fn requeue(&mut self, p: &PointRec) {
        self.retry_fresh += u64::from(p.attempts.is_empty());
        self.retry.push_back(p.index);
    }

    /// The next point in line for a new attempt.
    fn next_retry(&mut self) -> Result<Option<PointRec>, EngineError> {
        let Some(i) = self.retry.pop_front() else {
            return Ok(None);
        };
        let p = self.store.point(i)?;
        if p.attempts.is_empty() {
            self.retry_fresh = self.retry_fresh.saturating_sub(1);
        }
        Ok(Some(p))
    }

    /// Queues the points whose last attempt failed (with `failed`) or was cancelled (with
    /// `cancelled`) for a new attempt; returns how many.
    pub fn retry_ended(&mut self, failed: bool, cancelled: bool) -> Result<usize, EngineError> {
        let queued: std::collections::HashSet<u64> = self.retry.iter().copied().collect();
        let mut n = 0;
        for p in self.store.points() {
            let p = p?;
            let wanted = match p.state() {
                State::Failed => failed,
                State::Cancelled => cancelled,
                _ => false,
            };
            if wanted && !queued.contains(&p.index) {
                self.retry.push_back(p.index);
                n += 1;
            }
        }
        if n > 0 {
            self.reporter.event(&Event::Retrying { points: n });
        }
        Ok(n)
    }

    fn all_final(&self) -> bool {
        self.retry.is_empty()
            && self.active.is_empty()
            && self.counts.finished() == self.store.meta().count
    }

    /// One cycle: a cancel request, unfinished submissions, a poll, submissions, and the
    /// points nothing can place.
    pub async fn cycle(&mut self) -> Result<Cycle, EngineError> {
        let cancel_path = self.store.paths().cancel_request();
        if cancel_path.exists() {
            self.reporter.event(&Event::CancelRequested);
            // The request stays until the scheduler has done it: a failing cancel is tried
            // again next cycle, and a crash in between leaves it for the next follower.
            match self.cancel_all().await {
                Ok(_) => {
                    let _ = fs::remove_file(&cancel_path);
                }
                Err(EngineError::Cancel { source, .. }) => {
                    self.reporter.event(&Event::CancelFailed(&source))
                }
                Err(e) => return Err(e),
            }
        }
        if self.active.values().any(AttemptRec::is_intent) {
            self.reconcile().await?;
        }
        let changed = self.poll_once().await?;
        // Without the connection a submission could only fail, and say so once per batch.
        let submitted = match self.awaiting_login {
            Some(_) => 0,
            None => self.submit_ready().await?,
        };
        self.fail_unplaceable()?;
        self.reporter.event(&Event::Counts(&self.counts));
        self.write_snapshot(changed || submitted > 0);
        Ok(Cycle { changed, submitted })
    }

    /// The follow loop: reconcile, then submit, poll and retry until every point is final,
    /// the user interrupts, or (`detach`) nothing more can be submitted right now.
    pub async fn follow(&mut self, detach: bool) -> Result<Outcome, EngineError> {
        self.reconcile().await?;
        let poll = self.profile.poll;
        let mut interval = poll.initial;
        let outcome = loop {
            // A follower whose sweep was deleted under it would go on for ever, unseen.
            self.store.check_still_there()?;
            let c = self.cycle().await?;
            if self.all_final() {
                break Outcome::Finished;
            }
            if detach {
                break Outcome::Detached;
            }
            interval = next_interval(interval, c, &poll);
            // Waiting for a login: look for it often (a local check), and poll promptly once
            // it is back.
            let pause = match self.awaiting_login {
                Some(_) => {
                    interval = poll.initial;
                    LOGIN_RECHECK.min(poll.initial)
                }
                None => interval,
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = tokio::signal::ctrl_c() => break Outcome::Interrupted,
            }
        };
        self.reporter.event(&Event::Counts(&self.counts));
        self.reporter.finish();
        self.write_snapshot(true);
        Ok(outcome)
    }

    /// When every target has refused jobs for good, nothing waiting can ever be submitted:
    /// record that on each waiting point (with the scheduler's words) so the sweep can end.
    fn fail_unplaceable(&mut self) -> Result<(), EngineError> {
        let Some(why) = self.placement.all_refused().map(str::to_string) else {
            return Ok(());
        };
        if self.retry.is_empty() && self.fresh_done {
            return Ok(());
        }
        let t = self.clock.now();
        let id = self.store.meta().id.clone();
        let why = format!("not submitted: every target refused jobs ({why})");
        let mut batch: Vec<PointRec> = Vec::new();
        let fail = |p: &mut PointRec, counts: &mut Counts| {
            let before = p.state();
            let attempt = p.next_attempt();
            p.attempts.push(AttemptRec::ended_unsubmitted(
                attempt,
                names::job(&id, p.index, attempt),
                0,
                State::Failed,
                why.clone(),
                t,
            ));
            counts.moved(before, State::Failed);
        };
        let retry: Vec<u64> = self.retry.drain(..).collect();
        self.retry_fresh = 0;
        for i in retry {
            let mut p = self.store.point(i)?;
            fail(&mut p, &mut self.counts);
            batch.push(p);
        }
        if !self.fresh_done {
            for p in self.store.points_from(self.fresh_from) {
                let mut p = p?;
                if p.attempts.is_empty() {
                    fail(&mut p, &mut self.counts);
                    batch.push(p);
                }
                if batch.len() >= WALK_BATCH {
                    self.store.put_points(&batch)?;
                    batch.clear();
                }
            }
            self.fresh_done = true;
        }
        self.save(&batch)?;
        Ok(())
    }

    /// The job scripts bsweep keeps in the sweep's local directory (what was submitted).
    fn write_local(&self, rel: &str, text: &str) -> Result<(), EngineError> {
        let path = self.store.dir().join(rel);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EngineError::Io { path, source }
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        fs::write(&path, text).map_err(io(&path))
    }
}
