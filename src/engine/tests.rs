//! The engine's policies against an in-process fake scheduler and a clock the test sets:
//! placement counts, refusals, backoff, reconcile after a crash, retry rules, cancel, and the
//! lost-job clock across a resume.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use super::events::Silent;
use super::*;
use crate::layout::Home;
use crate::model::{Cause, JobId};
use crate::sched::{Accepted, JobInfo, PollOpts, Seen, Submission, SubmitError};
use crate::store::SweepMeta;

/// A job the fake scheduler holds.
#[derive(Debug, Clone)]
struct FakeJob {
    id: JobId,
    target: usize,
    state: State,
    exit_code: Option<i32>,
    cause: Option<Cause>,
    host: Option<String>,
    /// The scheduler and the files know nothing of it any more.
    forgotten: bool,
}

/// An LSF-like scheduler in memory, with faults on demand.
struct Fake {
    profile: Profile,
    next_id: u64,
    /// Jobs by name (array elements as `name[k]`).
    jobs: BTreeMap<String, FakeJob>,
    /// Job names in submission order.
    submitted: Vec<String>,
    /// Targets whose submissions are refused for good.
    refuse: Vec<usize>,
    /// The next N submissions create their job but the answer is lost.
    lose_answers: usize,
    /// The next N submissions lose their answer and create nothing.
    lose_jobs: usize,
    /// The next N submissions are refused for now (nothing created).
    defer: usize,
    fail_status: bool,
    fail_find: bool,
    /// The connection is gone and only a person can log in again.
    needs_login: bool,
    pending: Option<Vec<u32>>,
    cancelled: Vec<JobId>,
    status_calls: usize,
    /// The size of each submission round trip.
    batches: Vec<usize>,
    /// Each submission takes this many seconds of the clock.
    seconds_each: Option<(Clock, f64)>,
}

impl Fake {
    fn new(profile: Profile) -> Self {
        Self {
            profile,
            next_id: 100,
            jobs: BTreeMap::new(),
            submitted: Vec::new(),
            refuse: Vec::new(),
            lose_answers: 0,
            lose_jobs: 0,
            defer: 0,
            fail_status: false,
            fail_find: false,
            needs_login: false,
            pending: None,
            cancelled: Vec::new(),
            status_calls: 0,
            batches: Vec::new(),
            seconds_each: None,
        }
    }

    fn failed(&self, command: &'static str) -> SchedError {
        SchedError::Failed {
            command,
            place: "the fake".into(),
            said: "exit 255: LIM is down; try later".into(),
        }
    }

    /// Ends every job of the fake that is still running, the way `outcome` says per name.
    fn end_all(&mut self, outcome: impl Fn(&str) -> (State, Option<i32>)) {
        for (name, j) in self.jobs.iter_mut() {
            if j.state.in_flight() {
                let (state, code) = outcome(name);
                j.state = state;
                j.exit_code = code;
            }
        }
    }

    /// Ends the in-flight jobs whose name contains `part` as failed, of `cause`, on `host`.
    fn fail(&mut self, part: &str, code: i32, cause: Option<Cause>, host: &str) {
        self.end_on(part, State::Failed, code, cause, host);
    }

    fn end_on(&mut self, part: &str, state: State, code: i32, cause: Option<Cause>, host: &str) {
        for (name, j) in self.jobs.iter_mut() {
            if j.state.in_flight() && name.contains(part) {
                j.state = state;
                j.exit_code = Some(code);
                j.cause = cause;
                j.host = Some(host.to_string());
            }
        }
    }

    fn per_target(&self) -> Vec<usize> {
        let mut n = vec![0; self.profile.targets.len()];
        for j in self.jobs.values() {
            n[j.target] += 1;
        }
        n
    }
}

impl Scheduler for Fake {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn dialect(&self) -> Dialect {
        Dialect::Lsf
    }

    async fn pending_per_target(&mut self) -> Option<Vec<u32>> {
        self.pending.clone()
    }

    async fn submit(&mut self, batch: &[Submission]) -> Vec<Result<Accepted, SubmitError>> {
        self.batches.push(batch.len());
        if let Some((clock, s)) = &self.seconds_each {
            clock.advance(s * batch.len() as f64);
        }
        batch
            .iter()
            .map(|s| {
                if self.refuse.contains(&s.target) {
                    return Err(SubmitError::Refused {
                        said: "nosuch: No such queue. Job not submitted.".into(),
                    });
                }
                if self.lose_jobs > 0 {
                    self.lose_jobs -= 1;
                    return Err(SubmitError::Unanswered {
                        said: "the connection was lost".into(),
                    });
                }
                if self.defer > 0 {
                    self.defer -= 1;
                    return Err(SubmitError::Retry {
                        said: "LIM is down; try later".into(),
                    });
                }
                self.next_id += 1;
                let id = JobId::new(self.next_id.to_string());
                // An array's submission carries its driver and one script per element.
                let elements = if s.job_name.contains("-a") {
                    s.files.len() - 1
                } else {
                    0
                };
                let mut add = |name: String, id: JobId| {
                    self.submitted.push(name.clone());
                    self.jobs.insert(
                        name,
                        FakeJob {
                            id,
                            target: s.target,
                            state: State::Pending,
                            exit_code: None,
                            cause: None,
                            host: None,
                            forgotten: false,
                        },
                    );
                };
                if elements == 0 {
                    add(s.job_name.clone(), id.clone());
                } else {
                    for k in 1..=elements as u32 {
                        add(names::element(&s.job_name, k), JobId::element(id.job(), k));
                    }
                }
                if self.lose_answers > 0 {
                    self.lose_answers -= 1;
                    return Err(SubmitError::Unanswered {
                        said: "the connection was lost".into(),
                    });
                }
                Ok(Accepted {
                    job_id: id,
                    queue: None,
                    state: State::Pending,
                })
            })
            .collect()
    }

    async fn status(&mut self, jobs: &[JobRef]) -> Result<HashMap<JobId, Seen>, SchedError> {
        self.status_calls += 1;
        if self.needs_login {
            return Err(SchedError::Transport(
                crate::transport::TransportError::NeedsLogin { host: "nju".into() },
            ));
        }
        if self.fail_status {
            return Err(self.failed("bjobs"));
        }
        let by_id: HashMap<&JobId, &FakeJob> = self.jobs.values().map(|j| (&j.id, j)).collect();
        Ok(jobs
            .iter()
            .filter_map(|r| {
                let j = by_id.get(&r.job_id)?;
                Some((
                    r.job_id.clone(),
                    if j.forgotten {
                        Seen::Missing
                    } else {
                        Seen::Known(JobInfo {
                            exit_code: j.exit_code,
                            cause: j.cause,
                            host: j.host.clone(),
                            ..JobInfo::new(j.state)
                        })
                    },
                ))
            })
            .collect())
    }

    async fn cancel(&mut self, jobs: &[JobRef]) -> Result<(), SchedError> {
        for r in jobs {
            self.cancelled.push(r.job_id.clone());
            if let Some(j) = self.jobs.values_mut().find(|j| j.id == r.job_id) {
                j.state = State::Failed;
                j.exit_code = Some(130);
            }
        }
        Ok(())
    }

    async fn find_by_name(
        &mut self,
        jobs: &[JobRef],
    ) -> Result<HashMap<String, JobId>, SchedError> {
        if self.fail_find {
            return Err(self.failed("bjobs -J"));
        }
        Ok(jobs
            .iter()
            .filter_map(|r| Some((r.job_name.clone(), self.jobs.get(&r.job_name)?.id.clone())))
            .collect())
    }
}

/// A sweep in a temporary home, recorded from `toml` (an LSF sweep file).
struct World {
    _dir: tempfile::TempDir,
    home: Home,
    name: String,
    clock: Clock,
}

impl World {
    fn new(toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().to_path_buf());
        let spec = Spec::from_toml(toml, Path::new("t.toml")).unwrap();
        let meta = SweepMeta {
            name: spec.name.clone(),
            id: "t1".into(),
            created: 0.0,
            source: "t.toml".into(),
            spec_text: toml.to_string(),
            backend: spec.backend,
            count: spec.count(),
            param_names: spec.param_names(),
            targets: Profile::of(&spec).labels(),
            host: None,
            remote_home: None,
            cluster_dir: None,
        };
        let points = spec.points().map(|p| PointRec::new(p.index, p.params));
        drop(Store::create(&home, meta, points, "test", &mut |_| {}).unwrap());
        Self {
            _dir: dir,
            home,
            name: spec.name,
            clock: Clock::manual(1_000.0),
        }
    }

    fn fake(&self) -> Fake {
        let store = Store::open(&self.home, &self.name, "test").unwrap();
        let spec = Spec::from_toml(&store.meta().spec_text, Path::new("t.toml")).unwrap();
        Fake::new(Profile::of(&spec))
    }

    fn engine(&self, fake: Fake) -> Engine<Fake> {
        let store = Store::open(&self.home, &self.name, "test").unwrap();
        Engine::new(store, fake, Box::new(Silent), self.clock.clone()).unwrap()
    }
}

fn sweep(n: usize, lsf: &str) -> String {
    format!(
        "name = \"e\"\nbackend = \"lsf\"\ncommand = \"echo {{i}}\"\nmax_attempts = 3\n\
         [grid]\ni = {{ start = 0, stop = {n} }}\n[lsf]\nsettle = 10\nlost_after = 600\n{lsf}\n"
    )
}

/// Runs cycles until `done` holds (at most `max` of them), the clock a second on each time.
async fn cycles(
    e: &mut Engine<Fake>,
    clock: &Clock,
    max: usize,
    done: impl Fn(&Engine<Fake>) -> bool,
) {
    for _ in 0..max {
        e.cycle().await.unwrap();
        if done(e) {
            return;
        }
        clock.advance(1.0);
    }
    panic!("not done after {max} cycles: {}", e.counts());
}

#[tokio::test(flavor = "current_thread")]
async fn round_robin_spreads_exactly_and_caps_hold_until_slots_free() {
    let w = World::new(&sweep(
        10,
        "queues = [\"a\", \"b\", \"c\"]\nmax_in_flight = 2\n",
    ));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    // Two per target at most, in round-robin order.
    assert_eq!(e.sched.per_target(), [2, 2, 2]);
    assert_eq!(e.counts().get(State::Pending), 6);
    assert_eq!(e.waiting(), 4);
    e.sched.end_all(|_| (State::Done, Some(0)));
    e.cycle().await.unwrap();
    assert_eq!(e.sched.per_target(), [4, 3, 3]);
    e.sched.end_all(|_| (State::Done, Some(0)));
    cycles(&mut e, &w.clock, 5, |e| e.all_final()).await;
    assert_eq!(e.counts().get(State::Done), 10);
    assert_eq!(e.sched.submitted.len(), 10, "one job per point");
}

#[tokio::test(flavor = "current_thread")]
async fn round_trips_carry_up_to_the_batch_and_a_paced_one_fewer() {
    // One job tries the queue first, then batches of at most MAX_BATCH.
    let w = World::new(&sweep(600, ""));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    assert_eq!(e.sched.batches, [1, 256, 256, 87]);
    // At 4 bsubs a second a round trip holds a minute of them: 240.
    let w = World::new(&sweep(300, "submit_rate = 4"));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    assert_eq!(e.sched.batches, [1, 240, 59]);
    // A scheduler taking 2 s a submission gets round trips of 30 after the first.
    let w = World::new(&sweep(100, ""));
    let mut fake = w.fake();
    fake.seconds_each = Some((w.clock.clone(), 2.0));
    let mut e = w.engine(fake);
    e.cycle().await.unwrap();
    assert_eq!(e.sched.batches, [1, 30, 30, 30, 9]);
}

#[test]
fn batch_sizes_follow_the_pacing() {
    use crate::sched::{MAX_BATCH, batch_for, next_batch};
    assert_eq!(batch_for(None), MAX_BATCH);
    assert_eq!(batch_for(Some(0.001)), MAX_BATCH);
    assert_eq!(batch_for(Some(1.0)), 60);
    assert_eq!(batch_for(Some(100.0)), 1);
    assert_eq!(next_batch(MAX_BATCH, 1, 0.2), MAX_BATCH);
    assert_eq!(next_batch(MAX_BATCH, 64, 32.0), 120);
    assert_eq!(next_batch(MAX_BATCH, 10, 900.0), 1);
    assert_eq!(next_batch(40, 10, 0.0), 40);
}

#[tokio::test(flavor = "current_thread")]
async fn an_unanswered_submission_settles_from_the_end_of_its_round_trip() {
    // The round trip takes 5 s: the job may have been made at its very end, so the lookup by
    // name waits the settle time (10 s) from then, not from the intent.
    let w = World::new(&sweep(2, ""));
    let mut fake = w.fake();
    fake.seconds_each = Some((w.clock.clone(), 5.0));
    fake.lose_answers = 1;
    let mut e = w.engine(fake);
    e.cycle().await.unwrap();
    assert_eq!(e.active[&0].submitted, Some(1_005.0));
    assert!(e.active[&0].is_intent());
    // 9 s after the round trip ended: still settling, not looked up.
    w.clock.advance(9.0);
    e.reconcile().await.unwrap();
    assert!(e.active[&0].is_intent());
    w.clock.advance(1.0);
    e.reconcile().await.unwrap();
    assert!(!e.active[&0].is_intent(), "adopted once settled");
    assert_eq!(e.sched.submitted.len(), 1, "and not submitted again");
}

#[tokio::test(flavor = "current_thread")]
async fn a_follower_stops_when_its_sweep_directory_is_removed() {
    let w = World::new(&sweep(3, ""));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    std::fs::remove_dir_all(w.home.sweep(&w.name).unwrap().dir()).unwrap();
    match e.follow(false).await {
        Err(EngineError::Store(err @ StoreError::Removed { .. })) => {
            let msg = err.to_string();
            assert!(
                msg.contains("was removed while this bsweep followed it"),
                "{msg}"
            );
            assert!(msg.contains("bsw-t1-"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn weighted_shares_follow_the_weights() {
    let w = World::new(&sweep(
        40,
        "policy = \"weighted\"\n[[lsf.targets]]\nqueue = \"big\"\nweight = 3\n[[lsf.targets]]\nqueue = \"small\"\n",
    ));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    assert_eq!(e.sched.per_target(), [30, 10]);
}

#[tokio::test(flavor = "current_thread")]
async fn least_pending_fills_the_emptiest_queue_first() {
    let w = World::new(&sweep(
        14,
        "policy = \"least-pending\"\nqueues = [\"q0\", \"q1\", \"q2\"]\n",
    ));
    let mut fake = w.fake();
    fake.pending = Some(vec![10, 0, 4]);
    let mut e = w.engine(fake);
    e.cycle().await.unwrap();
    // The first batch probes each new target with one job; then the loads (10+1, 0+1, 4+1)
    // decide: queue 1 catches up with queue 2 at 5, and they share the rest.
    assert_eq!(e.sched.per_target(), [1, 9, 4]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_refusing_target_costs_one_job_and_the_rest_go_elsewhere() {
    let w = World::new(&sweep(6, "queues = [\"nosuch\", \"good\"]\n"));
    let mut fake = w.fake();
    fake.refuse = vec![0];
    let mut e = w.engine(fake);
    e.cycle().await.unwrap();
    let pts = w.points_while(&e);
    // Point 0 went to the refused target and failed with its words; the others to `good`.
    assert_eq!(pts[0].state(), State::Failed);
    assert!(
        pts[0]
            .last()
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("No such queue")
    );
    assert_eq!(e.sched.per_target(), [0, 5]);
    assert_eq!(e.counts().get(State::Pending), 5);
}

impl World {
    /// The points as the engine has written them, read while it holds the store.
    fn points_while(&self, e: &Engine<Fake>) -> Vec<PointRec> {
        e.store().load_points().unwrap()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn when_every_target_refuses_the_waiting_points_fail_with_the_reason() {
    let w = World::new(&sweep(5, "queue = \"nosuch\"\n"));
    let mut fake = w.fake();
    fake.refuse = vec![0];
    let mut e = w.engine(fake);
    e.cycle().await.unwrap();
    assert!(e.all_final());
    assert_eq!(e.counts().get(State::Failed), 5);
    let pts = w.points_while(&e);
    assert!(
        pts[4]
            .last()
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .starts_with("not submitted")
    );
    assert_eq!(e.sched.submitted.len(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_deferred_batch_is_tried_again_next_cycle_and_stops_this_one() {
    let w = World::new(&sweep(3, "queue = \"q\"\n"));
    let mut fake = w.fake();
    fake.defer = 1;
    let mut e = w.engine(fake);
    let c = e.cycle().await.unwrap();
    // The first submission was deferred: the batch stopped there and its intent was dropped.
    assert_eq!(c.submitted, 0);
    assert_eq!(e.counts().get(State::Unsubmitted), 3);
    assert_eq!(e.open_jobs(), 0);
    assert_eq!(e.waiting(), 3);
    let c = e.cycle().await.unwrap();
    assert_eq!(c.submitted, 3);
    assert_eq!(e.sched.submitted.len(), 3);
}

#[test]
fn polling_backs_off_while_nothing_changes_and_resets_on_news() {
    let poll = PollOpts {
        initial: Duration::from_secs(10),
        max: Duration::from_secs(30),
        factor: 1.5,
    };
    let quiet = Cycle::default();
    let news = Cycle {
        changed: true,
        submitted: 0,
    };
    let mut t = poll.initial;
    let mut seen = Vec::new();
    for _ in 0..5 {
        t = next_interval(t, quiet, &poll);
        seen.push(t.as_secs_f64());
    }
    assert_eq!(seen, [15.0, 22.5, 30.0, 30.0, 30.0]);
    assert_eq!(next_interval(t, news, &poll), poll.initial);
}

#[tokio::test(flavor = "current_thread")]
async fn after_a_crash_lost_answers_are_adopted_and_unsubmitted_intents_resubmitted() {
    let w = World::new(&sweep(4, "queue = \"q\"\n"));
    let mut fake = w.fake();
    fake.lose_answers = 1; // point 0's job exists, its answer never arrived
    let mut e = w.engine(fake);
    e.cycle().await.unwrap();
    assert_eq!(e.counts().get(State::Unsubmitted), 4);
    assert!(e.active[&0].is_intent());
    let mut fake = std::mem::replace(&mut e.sched, Fake::new(e.profile.clone()));
    drop(e); // bsweep dies here
    fake.lose_jobs = 1; // point 1's submission is cut before the scheduler took it
    let mut e = w.engine(fake);
    // Intents younger than `settle` are not looked up yet; others go on meanwhile.
    e.cycle().await.unwrap();
    assert!(e.active[&0].is_intent() && e.active[&1].is_intent());
    w.clock.advance(11.0);
    cycles(&mut e, &w.clock, 3, |e| e.counts().get(State::Pending) == 4).await;
    // Point 0 adopted its job, point 1 was submitted again under the same name, 2 and 3 new.
    let mut names_seen = e.sched.submitted.clone();
    names_seen.sort();
    let want: Vec<String> = (0..4).map(|i| names::job("t1", i, 1)).collect();
    assert_eq!(names_seen, want, "exactly one job per point");
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_lookup_never_reads_as_no_job_exists() {
    let w = World::new(&sweep(2, "queue = \"q\"\n"));
    let mut fake = w.fake();
    fake.lose_answers = 1;
    let mut e = w.engine(fake);
    e.cycle().await.unwrap();
    e.sched.fail_find = true;
    w.clock.advance(20.0);
    for _ in 0..3 {
        e.cycle().await.unwrap();
    }
    // Still an intent, never resubmitted while the scheduler cannot be asked.
    let point0 = |e: &Engine<Fake>| {
        e.sched
            .submitted
            .iter()
            .filter(|n| n.contains("-00000-"))
            .count()
    };
    assert_eq!(point0(&e), 1);
    assert!(e.active[&0].is_intent());
    e.sched.fail_find = false;
    e.cycle().await.unwrap();
    assert_eq!(point0(&e), 1);
    assert!(!e.active.values().any(AttemptRec::is_intent));
    assert_eq!(e.sched.submitted.len(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn failed_jobs_are_retried_up_to_max_attempts_lost_ones_are_not() {
    let w = World::new(&sweep(2, "queue = \"q\"\n"));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    // Point 0 exits 7 every time; point 1's job is forgotten by everyone.
    for _ in 0..3 {
        let fail0 = |n: &str| {
            if n.contains("-00000-") {
                (State::Failed, Some(7))
            } else {
                (State::Running, None)
            }
        };
        e.sched.end_all(fail0);
        e.cycle().await.unwrap();
        w.clock.advance(1.0);
    }
    let p0: Vec<String> = e
        .sched
        .submitted
        .iter()
        .filter(|n| n.contains("-00000-"))
        .cloned()
        .collect();
    assert_eq!(p0, ["bsw-t1-00000-1", "bsw-t1-00000-2", "bsw-t1-00000-3"]);
    let pts = w.points_while(&e);
    assert_eq!((pts[0].state(), pts[0].attempts.len()), (State::Failed, 3));
    // Lost without an exit code: failed, never retried on its own.
    for j in e.sched.jobs.values_mut().filter(|j| j.state.in_flight()) {
        j.forgotten = true;
    }
    w.clock.advance(20.0);
    e.cycle().await.unwrap();
    assert_eq!(e.counts().get(State::Unknown), 1);
    w.clock.advance(601.0);
    e.cycle().await.unwrap();
    let pts = w.points_while(&e);
    assert_eq!((pts[1].state(), pts[1].attempts.len()), (State::Failed, 1));
    assert!(e.all_final());
    // `retry --failed` is the user's call: both come back.
    assert_eq!(e.retry_ended(true, false).unwrap(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn the_lost_job_clock_keeps_running_across_a_resume() {
    let w = World::new(&sweep(1, "queue = \"q\"\n"));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    for j in e.sched.jobs.values_mut() {
        j.forgotten = true;
    }
    w.clock.advance(20.0);
    e.cycle().await.unwrap();
    assert_eq!(e.counts().get(State::Unknown), 1);
    let fake = std::mem::replace(&mut e.sched, Fake::new(e.profile.clone()));
    drop(e);
    // 590 s later (600 s after it went missing) bsweep resumes: not lost yet.
    w.clock.advance(590.0);
    let mut e = w.engine(fake);
    e.cycle().await.unwrap();
    assert_eq!(e.counts().get(State::Unknown), 1);
    // 11 s more: past lost_after since it first went missing, though this run saw it 11 s.
    w.clock.advance(11.0);
    e.cycle().await.unwrap();
    assert_eq!(e.counts().get(State::Failed), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn detach_leaves_a_follower_when_retries_may_still_be_needed() {
    let w = World::new(&sweep(2, "queue = \"q\"\n"));
    let mut e = w.engine(w.fake());
    assert_eq!(e.follow(true).await.unwrap(), Outcome::Detached);
    // Everything is submitted, but max_attempts = 3: a failure must still be retried.
    assert_eq!(e.waiting(), 0);
    assert!(e.needs_follower());
    // A resume of a sweep whose failures were never retried picks them up at once.
    e.sched.end_all(|_| (State::Failed, Some(1)));
    e.poll_once().await.unwrap();
    let fake = std::mem::replace(&mut e.sched, Fake::new(e.profile.clone()));
    e.retry.clear(); // as if bsweep died before it submitted the retries
    drop(e);
    let mut e = w.engine(fake);
    assert_eq!(e.waiting(), 2);
    e.cycle().await.unwrap();
    assert_eq!(e.sched.submitted.len(), 4);
}

#[tokio::test(flavor = "current_thread")]
async fn cancel_marks_the_unsubmitted_and_kills_the_rest_and_cancelled_can_run_again() {
    let w = World::new(&sweep(5, "queue = \"q\"\nmax_in_flight = 2\n"));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    assert_eq!(e.cancel_all().await.unwrap(), 5);
    assert_eq!(e.counts().get(State::Cancelled), 5);
    assert_eq!(e.sched.cancelled.len(), 2);
    assert!(e.all_final());
    assert_eq!(e.retry_ended(true, false).unwrap(), 0);
    assert_eq!(e.retry_ended(false, true).unwrap(), 5);
    for _ in 0..10 {
        e.cycle().await.unwrap();
        e.sched.end_all(|_| (State::Done, Some(0)));
        if e.sched.submitted.len() == 7 {
            break;
        }
    }
    assert_eq!(e.sched.submitted.len(), 7);
    let pts = w.points_while(&e);
    // A point cancelled before it ever ran gets attempt 1, not 2.
    assert_eq!(pts[4].last().unwrap().job_name, "bsw-t1-00004-1");
    assert_eq!(pts[0].last().unwrap().job_name, "bsw-t1-00000-2");
}

#[tokio::test(flavor = "current_thread")]
async fn job_arrays_take_first_attempts_and_retries_go_alone() {
    let w = World::new(&sweep(
        5,
        "queue = \"q\"\narray = true\nmax_array_size = 3\n",
    ));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    let names_seen = e.sched.submitted.clone();
    assert_eq!(names_seen.len(), 5);
    assert_eq!(names_seen[0], "bsw-t1-a00000-1[1]");
    assert_eq!(names_seen[3], "bsw-t1-a00003-1[1]");
    let pts = w.points_while(&e);
    assert_eq!(
        pts[2].last().unwrap().job_id,
        Some(JobId::element("101", 3))
    );
    e.sched.end_all(|n| {
        if n.ends_with("[2]") {
            (State::Failed, Some(1))
        } else {
            (State::Done, Some(0))
        }
    });
    cycles(&mut e, &w.clock, 5, |e| e.sched.submitted.len() == 7).await;
    assert_eq!(
        &e.sched.submitted[5..],
        ["bsw-t1-00001-2", "bsw-t1-00004-2"]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_unanswered_poll_changes_nothing() {
    let w = World::new(&sweep(2, "queue = \"q\"\n"));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    w.clock.advance(1.0);
    e.cycle().await.unwrap();
    assert_eq!(e.heard(), Some(1001.0));
    e.sched.fail_status = true;
    e.sched.end_all(|_| (State::Done, Some(0)));
    w.clock.advance(1.0);
    let c = e.cycle().await.unwrap();
    assert!(!c.changed);
    assert_eq!(e.counts().get(State::Pending), 2);
    assert_eq!(e.heard(), Some(1001.0));
}

/// Names the events it hears, in order (counts left out).
struct Heard(std::rc::Rc<std::cell::RefCell<Vec<String>>>);

impl super::events::Reporter for Heard {
    fn event(&mut self, e: &Event<'_>) {
        let name = match e {
            Event::Counts(_) => return,
            Event::AwaitingLogin { host } => format!("awaiting login {host}"),
            Event::LoginBack { host } => format!("login back {host}"),
            other => format!("{other:?}"),
        };
        self.0.borrow_mut().push(name);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_that_needs_a_login_is_awaited_quietly_then_followed_again() {
    let w = World::new(&sweep(4, "queue = \"q\"\nmax_in_flight = 2\n"));
    let heard = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let fake = w.fake();
    let store = Store::open(&w.home, &w.name, "test").unwrap();
    let mut e = Engine::new(store, fake, Box::new(Heard(heard.clone())), w.clock.clone()).unwrap();
    e.cycle().await.unwrap();
    assert_eq!(e.sched.submitted.len(), 2);
    e.sched.needs_login = true;
    e.sched.end_all(|_| (State::Done, Some(0)));
    for _ in 0..5 {
        w.clock.advance(1.0);
        let c = e.cycle().await.unwrap();
        assert_eq!(
            c.submitted, 0,
            "nothing is submitted without the connection"
        );
    }
    assert_eq!(*heard.borrow(), ["awaiting login nju"], "said once");
    e.sched.needs_login = false;
    for _ in 0..10 {
        w.clock.advance(1.0);
        e.cycle().await.unwrap();
        e.sched.end_all(|_| (State::Done, Some(0)));
        if e.all_final() {
            break;
        }
    }
    assert!(e.all_final(), "{}", e.counts());
    assert_eq!(
        *heard.borrow(),
        ["awaiting login nju", "login back nju"],
        "no failure repeated while waiting"
    );
    assert_eq!(e.sched.submitted.len(), 4, "one job per point");
}

impl World {
    /// The job script bsweep wrote for an attempt of a point.
    fn script(&self, e: &Engine<Fake>, index: u64, attempt: u32) -> String {
        let path = e.store().dir().join(JobPaths::script_rel(index, attempt));
        fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
    }
}

/// The `#BSUB FLAG` values of a script.
fn bsub(script: &str, flag: &str) -> Vec<String> {
    script
        .lines()
        .filter_map(|l| {
            l.strip_prefix("#BSUB ")?
                .strip_prefix(flag)?
                .strip_prefix(' ')
        })
        .map(|v| v.trim_matches('"').to_string())
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_memory_limit_kill_is_retried_with_doubled_memory_up_to_max() {
    let w = World::new(&sweep(
        1,
        "queue = \"q\"\nmemory = \"1GB\"\n[retry]\non_memlimit = { memory = \"x2\", max = \"2GB\" }\n",
    ));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    assert_eq!(bsub(&w.script(&e, 0, 1), "-M"), ["1GB"]);
    e.sched.fail("-00000-1", 1, Some(Cause::MemLimit), "n1");
    e.cycle().await.unwrap();
    // Attempt 2 asks for twice what attempt 1 had, and says so in its record and script.
    assert_eq!(bsub(&w.script(&e, 0, 2), "-M"), ["2GB"]);
    let pts = w.points_while(&e);
    let a = &pts[0].attempts;
    assert_eq!(
        (a[0].cause, a[0].overrides.memory_kb),
        (Some(Cause::MemLimit), None)
    );
    assert_eq!(a[1].overrides.memory_kb, Some(2 << 20));
    // Killed again at max: a third attempt would die the same way, so there is none.
    w.clock.advance(1.0);
    e.sched.fail("-00000-2", 1, Some(Cause::MemLimit), "n1");
    e.cycle().await.unwrap();
    assert!(e.all_final());
    assert_eq!(e.sched.submitted.len(), 2);
    // `retry --failed` still runs it, with the memory at max.
    assert_eq!(e.retry_ended(true, false).unwrap(), 1);
    e.cycle().await.unwrap();
    assert_eq!(bsub(&w.script(&e, 0, 3), "-M"), ["2GB"]);
}

#[tokio::test(flavor = "current_thread")]
async fn on_exit_and_on_runlimit_decide_what_is_retried() {
    let w = World::new(&sweep(
        3,
        "queue = \"q\"\n[retry]\non_exit = [137]\non_runlimit = { walltime = \"+0:30\", max = \"2:00\" }\n",
    ));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    e.sched.fail("-00000-1", 7, None, "n1");
    e.sched.fail("-00001-1", 137, None, "n1");
    // No walltime in the file: the limit grows from the run time.
    e.sched.fail("-00002-1", 140, Some(Cause::RunLimit), "n1");
    e.cycle().await.unwrap();
    let again: Vec<&String> = e
        .sched
        .submitted
        .iter()
        .filter(|n| n.ends_with("-2"))
        .collect();
    assert_eq!(again, ["bsw-t1-00001-2"], "exit 7 is not in on_exit");
    // The run-limit kill had no run time to grow from: its exit code decides (140: no).
    let pts = w.points_while(&e);
    assert_eq!(pts[2].state(), State::Failed);
    assert!(bsub(&w.script(&e, 1, 2), "-W").is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_host_is_left_out_for_the_rest_of_the_sweep_even_after_a_resume() {
    let w = World::new(&sweep(
        8,
        "queue = \"q\"\nmax_in_flight = 3\nresources = \"select[mem>100]\"\n[retry]\nexclude_hosts_after = 2\n",
    ));
    let mut e = w.engine(w.fake());
    e.cycle().await.unwrap();
    assert_eq!(e.sched.submitted.len(), 3);
    // Points 0 and 1 both fail on n2 while point 2 succeeds on n1: n2 is out.
    e.sched.fail("-00000-1", 127, None, "n2");
    e.sched.fail("-00001-1", 127, None, "n2");
    e.sched.end_on("-00002-1", State::Done, 0, None, "n1");
    e.cycle().await.unwrap();
    let want = ["select[(mem>100) && hname!=n2]"];
    assert_eq!(bsub(&w.script(&e, 0, 2), "-R"), want);
    assert_eq!(bsub(&w.script(&e, 1, 2), "-R"), want);
    let pts = w.points_while(&e);
    assert_eq!(pts[0].attempts[1].overrides.exclude_hosts, ["n2"]);
    // A memory-limit kill on another host blames no host.
    e.sched.fail("-00000-2", 1, Some(Cause::MemLimit), "n3");
    e.sched.end_all(|_| (State::Done, Some(0)));
    e.cycle().await.unwrap();
    assert!(w.points_while(&e)[7].attempts.is_empty(), "point 7 waits");
    let fake = std::mem::replace(&mut e.sched, Fake::new(e.profile.clone()));
    drop(e);
    // A resume still leaves n2 out of fresh points' jobs.
    let mut e = w.engine(fake);
    for _ in 0..10 {
        e.cycle().await.unwrap();
        if e.all_final() {
            break;
        }
        e.sched.end_all(|_| (State::Done, Some(0)));
        w.clock.advance(1.0);
    }
    assert_eq!(e.counts().get(State::Done), 8, "{}", e.counts());
    assert_eq!(bsub(&w.script(&e, 7, 1), "-R"), want);
}
