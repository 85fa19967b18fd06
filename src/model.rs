//! What bsweep records about a sweep's jobs: states, job ids, job names, attempts with an
//! explicit phase, why an attempt ended and what it asked for, points, counts per state, and
//! the clock they are stamped with.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::spec::Value;

/// The state of a point (and of one attempt), the closed set users see in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Unsubmitted,
    Pending,
    Running,
    Suspended,
    Done,
    Failed,
    Cancelled,
    Unknown,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Unsubmitted,
        State::Pending,
        State::Running,
        State::Suspended,
        State::Done,
        State::Failed,
        State::Cancelled,
        State::Unknown,
    ];

    /// A final state never changes again for that attempt.
    pub fn is_final(self) -> bool {
        matches!(self, State::Done | State::Failed | State::Cancelled)
    }

    /// Submitted and not yet final: it holds a slot of its target.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            State::Pending | State::Running | State::Suspended | State::Unknown
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Unsubmitted => "unsubmitted",
            State::Pending => "pending",
            State::Running => "running",
            State::Suspended => "suspended",
            State::Done => "done",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::Unknown => "unknown",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scheduler's id for one job: a job (an LSF or Slurm job id, a local pid) or one element of
/// a job array. Written `123` or `123[4]` everywhere bsweep shows or stores it; a backend spells
/// elements its own way in its commands.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId {
    job: CompactString,
    element: Option<u32>,
}

impl JobId {
    pub fn new(job: impl Into<CompactString>) -> Self {
        Self {
            job: job.into(),
            element: None,
        }
    }

    /// Element `index` (1-based, as schedulers count them) of the array `job`.
    pub fn element(job: impl Into<CompactString>, index: u32) -> Self {
        Self {
            job: job.into(),
            element: Some(index),
        }
    }

    /// The job, or for an element the array it belongs to.
    pub fn job(&self) -> &str {
        &self.job
    }

    pub fn element_index(&self) -> Option<u32> {
        self.element
    }

    /// Reads `123` or `123[4]`; anything else is taken whole as a job id.
    pub fn parse(s: &str) -> Self {
        if let Some((job, k)) = s.strip_suffix(']').and_then(|r| r.rsplit_once('['))
            && let Ok(k) = k.parse()
            && !job.is_empty()
        {
            return Self::element(job, k);
        }
        Self::new(s)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.element {
            Some(k) => write!(f, "{}[{k}]", self.job),
            None => f.write_str(&self.job),
        }
    }
}

impl Serialize for JobId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'_, str>>::deserialize(d)?;
        Ok(JobId::parse(&s))
    }
}

/// Job names carry the sweep's id, the point and the attempt, so any job found on a cluster can
/// be matched back to its point, even one the store never heard of.
pub mod names {
    /// `bsw-<sweep id>-<point>-<attempt>`.
    pub fn job(sweep_id: &str, index: u64, attempt: u32) -> String {
        format!("bsw-{sweep_id}-{index:05}-{attempt}")
    }

    /// The name of a job array whose first element is point `first`.
    pub fn array(sweep_id: &str, first: u64, attempt: u32) -> String {
        format!("bsw-{sweep_id}-a{first:05}-{attempt}")
    }

    /// Element `k` (1-based) of the array `array`: `array[k]`.
    pub fn element(array: &str, k: u32) -> String {
        format!("{array}[{k}]")
    }

    /// The array and element of an element's name.
    pub fn split_element(name: &str) -> Option<(&str, u32)> {
        let (array, k) = name.strip_suffix(']')?.rsplit_once('[')?;
        Some((array, k.parse().ok()?))
    }

    /// Every job of a sweep matches this pattern (`bjobs -J`, `squeue --name` prefixes).
    pub fn prefix(sweep_id: &str) -> String {
        format!("bsw-{sweep_id}-")
    }

    /// Reads a single job's name back into (sweep id, point index, attempt).
    pub fn parse(name: &str) -> Option<(&str, u64, u32)> {
        let rest = name.strip_prefix("bsw-")?;
        let mut parts = rest.rsplitn(3, '-');
        let attempt = parts.next()?.parse().ok()?;
        let index = parts.next()?.parse().ok()?;
        let id = parts.next()?;
        Some((id, index, attempt))
    }
}

/// Where an attempt is in its life. Stored with it, so that "an intent" is one test, not a
/// combination of fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Recorded before the scheduler was asked: whether a job exists is unknown until reconciled
    /// (looked up by name).
    Intent,
    /// The scheduler accepted it: `job_id` names it; its state is in flight.
    Submitted,
    /// Final: done, failed or cancelled (a refused or cancelled-before-submission attempt has no
    /// job id).
    Ended,
}

/// Why an attempt ended without success, as the scheduler (or bsweep) knows it. Backends say it
/// in [`crate::sched::JobInfo`]; the retry rules decide on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// The job exited non-zero on its own (its code is the attempt's `exit_code`).
    Exit,
    /// A signal ended the job that no one named as a limit or a kill (a segfault, an OOM kill
    /// of the kernel's).
    Signal,
    /// The scheduler killed it at its memory limit (LSF `TERM_MEMLIMIT`, Slurm OUT_OF_MEMORY).
    MemLimit,
    /// The scheduler killed it at its run-time limit (LSF `TERM_RUNLIMIT`, Slurm TIMEOUT).
    RunLimit,
    /// Someone killed it from outside bsweep (its owner, an administrator, a preemption kill).
    Killed,
    /// The scheduler ended it for another reason of its own (another `TERM_*`, a node failure).
    Terminated,
    /// Neither the scheduler nor the job's files know the job any more.
    Lost,
    /// The scheduler refused the submission: there never was a job.
    Refused,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Exit => "exit",
            Cause::Signal => "signal",
            Cause::MemLimit => "memlimit",
            Cause::RunLimit => "runlimit",
            Cause::Killed => "killed",
            Cause::Terminated => "terminated",
            Cause::Lost => "lost",
            Cause::Refused => "refused",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one attempt asks the scheduler for instead of the sweep file's values, because an
/// earlier attempt died of a known cause (more memory, a longer run limit) or a host failed
/// jobs. Empty for an attempt that runs as the file says. Backends write it into the job's
/// script (LSF `-M`/`-W`/`-R "select[hname!=…]"`, Slurm `--mem`/`--time`/`--exclude`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overrides {
    /// The job's memory limit, in KB (exact for the bare KB numbers LSF reads by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_kb: Option<u64>,
    /// The job's run-time limit, in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walltime_minutes: Option<u32>,
    /// Hosts the job must not run on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_hosts: Vec<String>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        self.memory_kb.is_none() && self.walltime_minutes.is_none() && self.exclude_hosts.is_empty()
    }

    /// The memory limit in MB, for people.
    pub fn memory_mb(&self) -> Option<f64> {
        self.memory_kb.map(|kb| kb as f64 / 1024.0)
    }
}

/// A memory amount in KB as people read it: the largest unit it is a whole number of
/// (`16GB`, `1536MB`, `100KB`).
pub fn memory_text(kb: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("TB", 1 << 30), ("GB", 1 << 20), ("MB", 1 << 10)];
    for (unit, size) in UNITS {
        if kb >= size && kb.is_multiple_of(size) {
            return format!("{}{unit}", kb / size);
        }
    }
    format!("{kb}KB")
}

/// A run limit in minutes as `hours:minutes`, the form LSF's `-W` and people both read.
pub fn walltime_text(minutes: u32) -> String {
    format!("{}:{:02}", minutes / 60, minutes % 60)
}

/// One attempt to run a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredAttempt")]
pub struct AttemptRec {
    pub attempt: u32,
    pub job_name: String,
    /// Index into the sweep's targets.
    pub target: usize,
    pub phase: Phase,
    pub job_id: Option<JobId>,
    pub queue: Option<String>,
    pub state: State,
    pub exit_code: Option<i32>,
    /// When the intent was recorded, then when the scheduler accepted the job (unix seconds).
    pub submitted: Option<f64>,
    pub started: Option<f64>,
    pub ended: Option<f64>,
    pub host: Option<String>,
    pub max_mem_mb: Option<f64>,
    pub run_seconds: Option<f64>,
    /// Why the attempt failed when bsweep knows more than an exit code (a refused submission,
    /// the scheduler's reason, a lost job).
    pub error: Option<String>,
    /// Since when (unix seconds) neither the scheduler nor the job's files know the job. Stored,
    /// so the `lost_after` clock keeps running across a resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_since: Option<f64>,
    /// Why a failed attempt failed, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// What the attempt asked for instead of the sweep file's values.
    #[serde(default, skip_serializing_if = "Overrides::is_empty")]
    pub overrides: Overrides,
}

/// An attempt as stored: records of schema 1 have no phase, which their fields imply.
#[derive(Deserialize)]
struct StoredAttempt {
    attempt: u32,
    job_name: String,
    target: usize,
    #[serde(default)]
    phase: Option<Phase>,
    job_id: Option<JobId>,
    queue: Option<String>,
    state: State,
    exit_code: Option<i32>,
    submitted: Option<f64>,
    started: Option<f64>,
    ended: Option<f64>,
    host: Option<String>,
    max_mem_mb: Option<f64>,
    run_seconds: Option<f64>,
    error: Option<String>,
    #[serde(default)]
    missing_since: Option<f64>,
    #[serde(default)]
    cause: Option<Cause>,
    #[serde(default)]
    overrides: Overrides,
}

impl From<StoredAttempt> for AttemptRec {
    fn from(s: StoredAttempt) -> Self {
        let phase = s.phase.unwrap_or(if s.state.is_final() {
            Phase::Ended
        } else if s.job_id.is_some() {
            Phase::Submitted
        } else {
            Phase::Intent
        });
        Self {
            attempt: s.attempt,
            job_name: s.job_name,
            target: s.target,
            phase,
            job_id: s.job_id,
            queue: s.queue,
            state: s.state,
            exit_code: s.exit_code,
            submitted: s.submitted,
            started: s.started,
            ended: s.ended,
            host: s.host,
            max_mem_mb: s.max_mem_mb,
            run_seconds: s.run_seconds,
            error: s.error,
            missing_since: s.missing_since,
            cause: s.cause,
            overrides: s.overrides,
        }
    }
}

impl AttemptRec {
    fn blank(attempt: u32, job_name: String, target: usize, phase: Phase, state: State) -> Self {
        Self {
            attempt,
            job_name,
            target,
            phase,
            job_id: None,
            queue: None,
            state,
            exit_code: None,
            submitted: None,
            started: None,
            ended: None,
            host: None,
            max_mem_mb: None,
            run_seconds: None,
            error: None,
            missing_since: None,
            cause: None,
            overrides: Overrides::default(),
        }
    }

    /// The intent of a submission, recorded (durably, by the caller) before the scheduler hears
    /// of the job.
    pub fn intent(attempt: u32, job_name: String, target: usize, at: f64) -> Self {
        let mut a = Self::blank(attempt, job_name, target, Phase::Intent, State::Unsubmitted);
        a.submitted = Some(at);
        a
    }

    /// A job the scheduler has (accepted now, or found by name).
    pub fn found(attempt: u32, job_name: String, target: usize, job_id: JobId) -> Self {
        let mut a = Self::blank(attempt, job_name, target, Phase::Submitted, State::Pending);
        a.job_id = Some(job_id);
        a
    }

    /// An attempt that ended without a job (cancelled before submission, never placeable: a
    /// failed one was refused).
    pub fn ended_unsubmitted(
        attempt: u32,
        job_name: String,
        target: usize,
        state: State,
        why: String,
        at: f64,
    ) -> Self {
        debug_assert!(state.is_final());
        let mut a = Self::blank(attempt, job_name, target, Phase::Ended, state);
        a.ended = Some(at);
        a.error = Some(why);
        a.cause = (state == State::Failed).then_some(Cause::Refused);
        a
    }

    pub fn is_intent(&self) -> bool {
        self.phase == Phase::Intent
    }

    /// The scheduler accepted the intent as job `id`.
    pub fn accept(&mut self, id: JobId, queue: Option<String>, at: f64) {
        self.phase = Phase::Submitted;
        self.job_id = Some(id);
        self.queue = queue;
        self.state = State::Pending;
        self.submitted = Some(at);
    }

    /// Ends the attempt in a final state (the end time is kept if already known).
    pub fn end(&mut self, state: State, at: f64) {
        debug_assert!(state.is_final());
        self.phase = Phase::Ended;
        self.state = state;
        self.ended = self.ended.or(Some(at));
        self.missing_since = None;
    }

    /// Sets a state learned from the scheduler, keeping the phase in step with it.
    pub fn set_state(&mut self, state: State) {
        self.state = state;
        self.phase = if state.is_final() {
            Phase::Ended
        } else if self.job_id.is_some() {
            Phase::Submitted
        } else {
            Phase::Intent
        };
    }

    /// Holds a slot of its target: in flight, or an intent whose job may exist.
    pub fn holds_slot(&self) -> bool {
        self.is_intent() || (self.phase == Phase::Submitted && self.state.in_flight())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointRec {
    pub index: u64,
    pub params: Vec<(String, Value)>,
    pub attempts: Vec<AttemptRec>,
}

impl PointRec {
    pub fn new(index: u64, params: Vec<(String, Value)>) -> Self {
        Self {
            index,
            params,
            attempts: Vec::new(),
        }
    }

    pub fn last(&self) -> Option<&AttemptRec> {
        self.attempts.last()
    }

    pub fn last_mut(&mut self) -> Option<&mut AttemptRec> {
        self.attempts.last_mut()
    }

    /// The number the next attempt gets: one more than the last (a recovered store may not
    /// have every earlier attempt).
    pub fn next_attempt(&self) -> u32 {
        self.last().map_or(0, |a| a.attempt) + 1
    }

    /// The point's state is its last attempt's.
    pub fn state(&self) -> State {
        self.last().map_or(State::Unsubmitted, |a| a.state)
    }

    /// Attempts that reached the scheduler (had a job).
    pub fn jobs(&self) -> usize {
        self.attempts.iter().filter(|a| a.job_id.is_some()).count()
    }
}

/// How many points are in each state. Shown with every state, zeros included, so scripts can
/// rely on the keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts([u64; 8]);

impl Counts {
    pub fn of<'a>(points: impl IntoIterator<Item = &'a PointRec>) -> Self {
        let mut c = Self::default();
        for p in points {
            c.add(p.state());
        }
        c
    }

    pub fn get(&self, s: State) -> u64 {
        self.0[s.slot()]
    }

    pub fn add(&mut self, s: State) {
        self.0[s.slot()] += 1;
    }

    /// A point moved from `from` to `to`.
    pub fn moved(&mut self, from: State, to: State) {
        if from != to {
            self.0[from.slot()] = self.0[from.slot()].saturating_sub(1);
            self.0[to.slot()] += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Points in a final state.
    pub fn finished(&self) -> u64 {
        State::ALL
            .iter()
            .filter(|s| s.is_final())
            .map(|&s| self.get(s))
            .sum()
    }

    /// Points that ended without success.
    pub fn unsuccessful(&self) -> u64 {
        self.get(State::Failed) + self.get(State::Cancelled)
    }

    pub fn iter(&self) -> impl Iterator<Item = (State, u64)> + '_ {
        State::ALL.iter().map(|&s| (s, self.get(s)))
    }
}

impl fmt::Display for Counts {
    /// The non-zero counts on one line: `10 done · 2 running`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for (s, n) in self.iter().filter(|(_, n)| *n > 0) {
            if any {
                f.write_str(" · ")?;
            }
            write!(f, "{n} {s}")?;
            any = true;
        }
        if !any {
            f.write_str("no points")?;
        }
        Ok(())
    }
}

impl Serialize for Counts {
    /// A map from every state's name to its count, in name order (as scripts have seen it).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sorted: std::collections::BTreeMap<&str, u64> =
            self.iter().map(|(k, v)| (k.as_str(), v)).collect();
        s.collect_map(sorted)
    }
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = std::collections::BTreeMap::<State, u64>::deserialize(d)?;
        let mut c = Counts::default();
        for (s, n) in m {
            c.0[s.slot()] = n;
        }
        Ok(c)
    }
}

/// The clock records are stamped with (unix seconds): the system's, or one a test sets. Cloned
/// handles share one time, so an engine and its scheduler agree.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicU64>>);

impl Clock {
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that stands still at `t` until [`Clock::advance`] or [`Clock::set`].
    pub fn manual(t: f64) -> Self {
        Self(Some(Arc::new(AtomicU64::new(t.to_bits()))))
    }

    pub fn now(&self) -> f64 {
        match &self.0 {
            Some(t) => f64::from_bits(t.load(Ordering::Relaxed)),
            None => now(),
        }
    }

    pub fn is_manual(&self) -> bool {
        self.0.is_some()
    }

    pub fn set(&self, t: f64) {
        if let Some(c) = &self.0 {
            c.store(t.to_bits(), Ordering::Relaxed);
        }
    }

    pub fn advance(&self, seconds: f64) {
        self.set(self.now() + seconds);
    }
}

/// The system time in unix seconds.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_round_trip_with_typed_elements() {
        let e = JobId::parse("123[4]");
        assert_eq!((e.job(), e.element_index()), ("123", Some(4)));
        assert_eq!(e.to_string(), "123[4]");
        let j = JobId::parse("4711");
        assert_eq!((j.job(), j.element_index()), ("4711", None));
        // Not an element: kept whole rather than guessed apart.
        for odd in ["[3]", "12[x]", "12[3", "abc"] {
            assert_eq!(JobId::parse(odd).to_string(), odd);
            assert_eq!(JobId::parse(odd).element_index(), None);
        }
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, "\"123[4]\"");
        assert_eq!(serde_json::from_str::<JobId>(&json).unwrap(), e);
    }

    #[test]
    fn job_names_round_trip() {
        let n = names::job("3f9a1c", 42, 1);
        assert_eq!(n, "bsw-3f9a1c-00042-1");
        assert_eq!(names::parse(&n), Some(("3f9a1c", 42, 1)));
        assert_eq!(
            names::parse("bsw-3f9a1c-123456-12"),
            Some(("3f9a1c", 123456, 12))
        );
        assert_eq!(names::parse("train_model"), None);
        let e = names::element(&names::array("3f9a1c", 0, 1), 7);
        assert_eq!(e, "bsw-3f9a1c-a00000-1[7]");
        assert_eq!(names::split_element(&e), Some(("bsw-3f9a1c-a00000-1", 7)));
        assert_eq!(names::split_element(&n), None);
    }

    #[test]
    fn schema_1_attempts_get_the_phase_their_fields_imply() {
        let v1 = |job_id: &str, state: &str| {
            format!(
                r#"{{"attempt":1,"job_name":"j","target":0,"job_id":{job_id},"queue":null,"state":"{state}","exit_code":null,"submitted":1.0,"started":null,"ended":null,"host":null,"max_mem_mb":null,"run_seconds":null,"error":null}}"#
            )
        };
        let read = |s: String| serde_json::from_str::<AttemptRec>(&s).unwrap();
        assert_eq!(read(v1("null", "unsubmitted")).phase, Phase::Intent);
        assert_eq!(read(v1("\"7\"", "running")).phase, Phase::Submitted);
        assert_eq!(read(v1("\"7[2]\"", "done")).phase, Phase::Ended);
        // A refused submission: failed without a job.
        assert_eq!(read(v1("null", "failed")).phase, Phase::Ended);
        let a = read(v1("\"7[2]\"", "done"));
        assert_eq!(a.job_id, Some(JobId::element("7", 2)));
        // What is written now reads back the same.
        let again: AttemptRec = serde_json::from_slice(&serde_json::to_vec(&a).unwrap()).unwrap();
        assert_eq!(again, a);
    }

    #[test]
    fn causes_and_overrides_are_optional_in_records_and_round_trip() {
        // A record written before causes and overrides existed.
        let old = r#"{"attempt":2,"job_name":"j","target":0,"phase":"ended","job_id":"7","queue":null,"state":"failed","exit_code":1,"submitted":1.0,"started":null,"ended":null,"host":null,"max_mem_mb":null,"run_seconds":null,"error":null}"#;
        let a: AttemptRec = serde_json::from_str(old).unwrap();
        assert_eq!((a.cause, a.overrides.is_empty()), (None, true));
        // Nothing new is written for an attempt without them, so older readers see the same.
        assert!(!serde_json::to_string(&a).unwrap().contains("overrides"));
        let mut b = a.clone();
        b.cause = Some(Cause::MemLimit);
        b.overrides = Overrides {
            memory_kb: Some(2 << 20),
            walltime_minutes: Some(90),
            exclude_hosts: vec!["n7".into()],
        };
        let json = serde_json::to_string(&b).unwrap();
        assert!(json.contains(r#""cause":"memlimit""#), "{json}");
        assert_eq!(serde_json::from_str::<AttemptRec>(&json).unwrap(), b);
        assert_eq!(b.overrides.memory_mb(), Some(2048.0));
    }

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(memory_text(16 << 20), "16GB");
        assert_eq!(memory_text(1536 << 10), "1536MB");
        assert_eq!(memory_text(1000), "1000KB");
        assert_eq!(memory_text(3 << 30), "3TB");
        assert_eq!(walltime_text(90), "1:30");
        assert_eq!(walltime_text(2880), "48:00");
        assert_eq!(walltime_text(5), "0:05");
    }

    #[test]
    fn counts_move_and_show_every_state() {
        let mut c = Counts::default();
        c.add(State::Unsubmitted);
        c.add(State::Unsubmitted);
        c.moved(State::Unsubmitted, State::Done);
        assert_eq!((c.get(State::Unsubmitted), c.get(State::Done)), (1, 1));
        assert_eq!(c.to_string(), "1 unsubmitted · 1 done");
        assert_eq!(Counts::default().to_string(), "no points");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 8);
        assert_eq!(json["done"], 1);
        assert_eq!(serde_json::from_value::<Counts>(json).unwrap(), c);
    }

    #[test]
    fn a_manual_clock_is_shared_by_its_clones() {
        let c = Clock::manual(100.0);
        let d = c.clone();
        c.advance(5.0);
        assert_eq!(d.now(), 105.0);
        assert!(Clock::system().now() > 1.7e9);
    }
}
