//! The engine: one loop that owns a sweep's state and is the only writer of its store. It
//! reconciles unfinished submissions, submits what fits, polls what runs, retries what failed,
//! and hands events to the progress display. Concurrency is for I/O only.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::report::{self, Progress};
use crate::sched::{JobRef, SchedError, Scheduler, State, Submission};
use crate::script::{self, ScriptCtx};
use crate::spec::{BackendKind, Point, Spec, Target};
use crate::store::{AttemptRec, PointRec, Store, StoreError};

/// File a second bsweep drops into a sweep directory to ask its holder to cancel the sweep.
pub const CANCEL_REQUEST: &str = "cancel.request";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recovery could not ask the scheduler about the sweep's jobs")]
    Recover(#[source] SchedError),
    /// Points not yet submitted are cancelled and recorded; the jobs in flight are not.
    #[error("the scheduler did not cancel the sweep's jobs; run `bsweep cancel` again")]
    Cancel(#[source] SchedError),
    #[error("the sweep file recorded for `{name}` no longer parses with this bsweep")]
    Spec {
        name: String,
        #[source]
        source: Box<crate::spec::SpecError>,
    },
}

/// How often to poll: starts at `initial`, backs off by `factor` while nothing changes, up to
/// `max`; any change resets it.
#[derive(Debug, Clone, Copy)]
pub struct PollOpts {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
}

impl PollOpts {
    pub fn for_backend(backend: BackendKind) -> Self {
        match backend {
            // Local polls are a few stat calls: keep them brisk.
            BackendKind::Local => Self {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(1),
                factor: 1.5,
            },
            // Sites dislike tight bjobs loops.
            BackendKind::Lsf => Self {
                initial: Duration::from_secs(10),
                max: Duration::from_secs(180),
                factor: 1.5,
            },
        }
    }
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

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The targets a sweep's points spread over. Local runs have one: this machine, with the
/// concurrency as its cap.
pub fn targets_of(spec: &Spec) -> Vec<Target> {
    match spec.backend {
        BackendKind::Lsf => spec.lsf.targets.clone(),
        BackendKind::Local => vec![Target {
            queue: None,
            hosts: None,
            weight: 1,
            max_in_flight: Some(spec.local.concurrency as u32),
        }],
    }
}

/// What one bsub submits: one point, or several as a job array.
struct Unit {
    points: Vec<usize>,
    target: usize,
    /// The array's job name, for a job array.
    array: Option<String>,
}

/// The file LSF writes a job's report into (`-o`): the point's stdout file, or for an element
/// `name[k]` of a job array, `arrays/<name>/<k>.out` in the sweep directory.
pub fn report_file(sweep_dir: &Path, index: u64, job_name: &str) -> PathBuf {
    match job_name.strip_suffix(']').and_then(|n| n.rsplit_once('[')) {
        Some((array, k)) => sweep_dir
            .join("arrays")
            .join(array)
            .join(format!("{k}.out")),
        None => out_dir(sweep_dir, index).join(script::STDOUT_FILE),
    }
}

/// A point's out_dir: `<sweep dir>/out/<index>`.
pub fn out_dir(sweep_dir: &Path, index: u64) -> PathBuf {
    sweep_dir.join("out").join(format!("{index:05}"))
}

pub struct Engine<S: Scheduler> {
    store: Store,
    spec: Spec,
    sched: S,
    points: Vec<PointRec>,
    targets: Vec<Target>,
    /// Points waiting to be submitted, in order.
    ready: VecDeque<usize>,
    rr_next: usize,
    /// Targets that refused a job for good (a wrong queue, a bad option), with LSF's message.
    disabled: Vec<Option<String>>,
    /// Targets that accepted a job in this run. Until one has, it gets one job per batch, so
    /// a wrong queue costs one refused bsub rather than a batch of them.
    trusted: Vec<bool>,
    /// Pending jobs per target as the scheduler last reported them (least-pending policy).
    pending: Option<Vec<u32>>,
    poll: PollOpts,
    progress: Progress,
    last_snapshot: Instant,
    /// The sweep's directory where jobs run: the local sweep directory, or its twin on a
    /// cluster reached over SSH (`remote`).
    cluster_dir: PathBuf,
    remote: bool,
}

impl<S: Scheduler> Engine<S> {
    /// Loads a sweep the caller has opened (and so locked).
    pub fn new(store: Store, sched: S, quiet: bool) -> Result<Self, EngineError> {
        let meta = store.meta().clone();
        let spec =
            Spec::from_toml(&meta.spec_text, &meta.source).map_err(|source| EngineError::Spec {
                name: meta.name.clone(),
                source: Box::new(source),
            })?;
        let points = store.load_points()?;
        let remote = meta.cluster_dir.is_some();
        let cluster_dir = meta
            .cluster_dir
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| store.dir().to_path_buf());
        let targets = targets_of(&spec);
        let ready = points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.attempts.is_empty())
            .map(|(i, _)| i)
            .collect();
        let mut poll = PollOpts::for_backend(spec.backend);
        if spec.backend == BackendKind::Lsf {
            poll.initial = Duration::from_secs_f64(spec.lsf.poll_min);
            poll.max = Duration::from_secs_f64(spec.lsf.poll_max);
        }
        let n_targets = targets.len();
        let progress = Progress::new(meta.count, quiet);
        Ok(Self {
            store,
            spec,
            sched,
            points,
            targets,
            disabled: vec![None; n_targets],
            trusted: vec![false; n_targets],
            pending: None,
            ready,
            rr_next: 0,
            poll,
            progress,
            last_snapshot: Instant::now() - Duration::from_secs(3600),
            cluster_dir,
            remote,
        })
    }

    pub fn set_poll(&mut self, poll: PollOpts) {
        self.poll = poll;
    }

    pub fn points(&self) -> &[PointRec] {
        &self.points
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn job_ref(&self, i: usize) -> Option<JobRef> {
        let p = &self.points[i];
        let a = p.last()?;
        Some(JobRef {
            job_id: a.job_id.clone()?,
            job_name: a.job_name.clone(),
            attempt: a.attempt,
            out_dir: out_dir(&self.cluster_dir, p.index),
            report: report_file(&self.cluster_dir, p.index, &a.job_name),
            submitted: a.submitted,
        })
    }

    /// Writes `status.json` for readers while this process holds the sweep.
    pub fn write_snapshot(&mut self, force: bool) {
        if !force && self.last_snapshot.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_snapshot = Instant::now();
        let view = report::status_view(self.store.meta(), &self.points);
        self.write_view(&view);
    }

    /// Writes `view` (this sweep's status now) as the snapshot.
    pub fn write_view(&self, view: &report::StatusView) {
        let dir = self.store.dir();
        let tmp = dir.join("status.json.tmp");
        if let Ok(json) = serde_json::to_vec(view)
            && fs::write(&tmp, json).is_ok()
        {
            let _ = fs::rename(&tmp, dir.join("status.json"));
        }
    }

    fn save(&self, idx: &[usize]) -> Result<(), EngineError> {
        self.store
            .put_points(idx.iter().map(|&i| &self.points[i]))?;
        self.store.flush()?;
        Ok(())
    }

    /// Submissions whose outcome was never recorded (bsweep died between recording the intent
    /// and recording the job id): adopt the job if the scheduler has it, else forget the intent
    /// so the point is submitted again under the same job name.
    pub async fn reconcile(&mut self) -> Result<(), EngineError> {
        // A scheduler may not list a job it accepted a moment ago: only look up intents older
        // than its settling time, the younger ones wait for a later cycle.
        let settled = now() - self.sched.settle_seconds();
        let open: Vec<usize> = (0..self.points.len())
            .filter(|&i| {
                self.points[i].last().is_some_and(|a| {
                    a.job_id.is_none()
                        && a.state == State::Unsubmitted
                        && a.submitted.is_none_or(|t| t <= settled)
                })
            })
            .collect();
        if open.is_empty() {
            return Ok(());
        }
        let refs: Vec<JobRef> = open
            .iter()
            .map(|&i| {
                let p = &self.points[i];
                let a = p.last().expect("filtered on last attempt");
                JobRef {
                    job_id: String::new(),
                    job_name: a.job_name.clone(),
                    attempt: a.attempt,
                    out_dir: out_dir(&self.cluster_dir, p.index),
                    report: report_file(&self.cluster_dir, p.index, &a.job_name),
                    submitted: a.submitted,
                }
            })
            .collect();
        let found = match self.sched.find_by_name(&refs).await {
            Ok(found) => found,
            Err(e) => {
                // Without an answer we cannot tell submitted from not: leave the intents for
                // a later cycle rather than risk a duplicate.
                self.progress.note(&format!(
                    "warning: could not look up unfinished submissions: {}",
                    crate::error_chain(&e)
                ));
                return Ok(());
            }
        };
        let mut adopted = 0;
        for &i in &open {
            let a = self.points[i].last_mut().expect("filtered on last attempt");
            match found.get(&a.job_name) {
                Some(id) => {
                    a.job_id = Some(id.clone());
                    a.state = State::Pending;
                    // The target took this job: it is not refusing jobs.
                    self.trusted[a.target] = true;
                    adopted += 1;
                }
                None => {
                    self.points[i].attempts.pop();
                    self.ready.push_front(i);
                }
            }
        }
        self.save(&open)?;
        if adopted > 0 {
            self.progress.note(&format!(
                "adopted {adopted} job(s) whose submission had not been recorded"
            ));
        }
        Ok(())
    }

    /// Submissions recorded as intents whose outcome is still unknown.
    fn open_intents(&self) -> usize {
        self.points
            .iter()
            .filter(|p| {
                p.last()
                    .is_some_and(|a| a.job_id.is_none() && a.state == State::Unsubmitted)
            })
            .count()
    }

    fn in_flight_per_target(&self) -> Vec<u32> {
        let mut n = vec![0u32; self.targets.len()];
        for p in &self.points {
            if let Some(a) = p.last()
                && (a.state.in_flight() || (a.state == State::Unsubmitted && a.job_id.is_none()))
                && let Some(slot) = n.get_mut(a.target)
            {
                *slot += 1;
            }
        }
        n
    }

    /// Picks a target with a free slot by the sweep's policy. A job array is not held back by
    /// a target's cap: the cap becomes the array's `%k` limit instead.
    fn pick_target(&mut self, in_flight: &[u32], probing: &[bool], array: bool) -> Option<usize> {
        let free = |t: usize| {
            self.disabled[t].is_none()
                && !probing[t]
                && (array
                    || self.targets[t]
                        .max_in_flight
                        .is_none_or(|cap| in_flight[t] < cap))
        };
        let n = self.targets.len();
        match self.spec.lsf.policy {
            crate::spec::Policy::LeastPending if self.pending.is_some() => {
                let pending = self.pending.as_deref().unwrap_or_default();
                // The queue's own backlog plus what we sent there since it was measured.
                (0..n)
                    .filter(|&t| free(t))
                    .min_by_key(|&t| pending.get(t).copied().unwrap_or(0) + in_flight[t])
            }
            crate::spec::Policy::Weighted => (0..n)
                .filter(|&t| free(t))
                // Lowest load relative to weight goes next, so shares follow the weights.
                .min_by(|&a, &b| {
                    let la = in_flight[a] as f64 / self.targets[a].weight.max(1) as f64;
                    let lb = in_flight[b] as f64 / self.targets[b].weight.max(1) as f64;
                    la.total_cmp(&lb)
                }),
            // Least-pending needs queue loads from the scheduler; until it reports them,
            // round-robin over free targets is the honest fallback.
            _ => {
                let t = (0..n).map(|k| (self.rr_next + k) % n).find(|&t| free(t))?;
                self.rr_next = (t + 1) % n;
                Some(t)
            }
        }
    }

    /// Submits as many ready points as the targets' caps allow, in batches: intents are made
    /// durable before the scheduler is asked, job ids right after.
    pub async fn submit_ready(&mut self) -> Result<usize, EngineError> {
        if self.ready.is_empty() {
            return Ok(0);
        }
        if self.spec.lsf.policy == crate::spec::Policy::LeastPending {
            self.pending = self.sched.pending_per_target(&self.targets).await;
        }
        let arrays = self.spec.backend == BackendKind::Lsf && self.spec.lsf.array;
        let mut in_flight = self.in_flight_per_target();
        let mut submitted = 0;
        // Submissions (bsub calls) per round trip.
        const BATCH: usize = 64;
        loop {
            let mut units: Vec<Unit> = Vec::new();
            let mut probing = vec![false; self.targets.len()];
            while units.len() < BATCH && !self.ready.is_empty() {
                // First attempts go as job arrays when asked; retries always go alone.
                let as_array = arrays
                    && self
                        .ready
                        .front()
                        .is_some_and(|&i| self.points[i].attempts.is_empty());
                let Some(t) = self.pick_target(&in_flight, &probing, as_array) else {
                    break;
                };
                if !self.trusted[t] {
                    probing[t] = true;
                }
                let unit = if as_array {
                    self.take_array(t)
                } else {
                    self.take_single(t)
                };
                in_flight[t] += unit.points.len() as u32;
                units.push(unit);
            }
            if units.is_empty() {
                return Ok(submitted);
            }
            let all: Vec<usize> = units
                .iter()
                .flat_map(|u| u.points.iter().copied())
                .collect();
            let subs = units
                .iter()
                .map(|u| self.write_unit(u))
                .collect::<Result<Vec<_>, _>>()?;
            // The intents are durable before the scheduler hears of the jobs.
            self.save(&all)?;
            let results = self.sched.submit(&subs).await;
            let t = now();
            let mut backoff = false;
            for (unit, result) in units.iter().zip(results) {
                let first = self.points[unit.points[0]].index;
                match result {
                    Ok(s) => {
                        self.trusted[unit.target] = true;
                        for (k, &i) in unit.points.iter().enumerate() {
                            let a = self.points[i].last_mut().expect("attempt pushed above");
                            a.job_id = Some(if unit.array.is_some() {
                                format!("{}[{}]", s.job_id, k + 1)
                            } else {
                                s.job_id.clone()
                            });
                            a.queue = s.queue.clone();
                            a.state = State::Pending;
                            a.submitted = Some(t);
                        }
                        submitted += unit.points.len();
                    }
                    Err(e) if e.maybe_submitted => {
                        // The jobs may exist: keep the intents, a later cycle looks them up
                        // by name before anything is submitted again.
                        self.progress.note(&format!(
                            "point {first}: no answer from the scheduler, will check by name: {e}"
                        ));
                        backoff = true;
                    }
                    Err(e) if e.transient => {
                        // Nothing was submitted: forget the intents and try again next cycle.
                        self.progress
                            .note(&format!("submission failed, will retry: {e}"));
                        for &i in &unit.points {
                            self.points[i].attempts.pop();
                            self.ready.push_back(i);
                        }
                        backoff = true;
                    }
                    Err(e) => {
                        let label = self.targets[unit.target].label();
                        let reason = e.message.trim().trim_end_matches('.');
                        let fix = match self.spec.backend {
                            BackendKind::Lsf => format!(
                                ". Fix that target in the sweep file's [lsf] table, then \
                                 `bsweep retry {} --failed --spec FILE`",
                                self.store.meta().name
                            ),
                            BackendKind::Local => String::new(),
                        };
                        self.progress.note(&format!(
                            "point {first} was refused by target {label} (\"{reason}\"); no more \
                             jobs go there{fix}"
                        ));
                        self.disabled[unit.target] = Some(e.message.clone());
                        for &i in &unit.points {
                            let a = self.points[i].last_mut().expect("attempt pushed above");
                            a.state = State::Failed;
                            a.error = Some(e.message.clone());
                            a.ended = Some(t);
                        }
                    }
                }
            }
            self.save(&all)?;
            if backoff {
                // The scheduler is struggling: give it until the next cycle.
                return Ok(submitted);
            }
        }
    }

    /// Records the intent of a new attempt of point `i` on target `t`.
    fn push_attempt(&mut self, i: usize, t: usize, job_name: String) {
        let p = &mut self.points[i];
        let attempt = p.next_attempt();
        let mut a = AttemptRec::new(attempt, job_name, t, State::Unsubmitted);
        // The time of the attempt; reconciliation waits for the scheduler to settle.
        a.submitted = Some(now());
        p.attempts.push(a);
    }

    fn take_single(&mut self, t: usize) -> Unit {
        let i = self.ready.pop_front().expect("caller checked ready");
        let p = &self.points[i];
        let name = script::job_name(&self.store.meta().id, p.index, p.next_attempt());
        self.push_attempt(i, t, name);
        Unit {
            points: vec![i],
            target: t,
            array: None,
        }
    }

    /// Takes up to `max_array_size` waiting first attempts, in order, as one job array.
    fn take_array(&mut self, t: usize) -> Unit {
        let max = self.spec.lsf.max_array_size.max(1) as usize;
        let mut idx = Vec::new();
        while idx.len() < max
            && let Some(&i) = self.ready.front()
            && self.points[i].attempts.is_empty()
        {
            self.ready.pop_front();
            idx.push(i);
        }
        let name = script::array_name(&self.store.meta().id, self.points[idx[0]].index, 1);
        for (k, &i) in idx.iter().enumerate() {
            self.push_attempt(i, t, format!("{name}[{}]", k + 1));
        }
        Unit {
            points: idx,
            target: t,
            array: Some(name),
        }
    }

    /// Writes the scripts of a unit and returns what to submit.
    fn write_unit(&self, unit: &Unit) -> Result<Submission, EngineError> {
        let singles = unit
            .points
            .iter()
            .map(|&i| self.write_script(i))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(name) = &unit.array else {
            return Ok(singles.into_iter().next().expect("a unit has a point"));
        };
        let meta = self.store.meta();
        let report_rel = format!("arrays/{name}");
        let report_dir = self.cluster_dir.join(&report_rel);
        let indices: Vec<u64> = unit.points.iter().map(|&i| self.points[i].index).collect();
        let limit = self.targets[unit.target].max_in_flight;
        let text = script::render_array(
            &self.spec,
            &script::ArrayCtx {
                sweep_name: &meta.name,
                sweep_id: &meta.id,
                array_name: name,
                indices: &indices,
                attempt: 1,
                limit,
                sweep_dir: &self.cluster_dir,
                report_dir: &report_dir,
                target: &self.targets[unit.target],
            },
        );
        let rel = format!("scripts/{name}.sh");
        self.write_local(&rel, &text)?;
        if !self.remote {
            let local = self.store.dir().join(&report_rel);
            fs::create_dir_all(&local).map_err(|source| EngineError::Io {
                path: local,
                source,
            })?;
        }
        // The element scripts and out_dirs travel with the array's own submission.
        let mut files = vec![(rel.clone(), text.into_bytes())];
        let mut dirs = vec![report_rel];
        for s in singles {
            files.extend(s.files);
            dirs.extend(s.dirs);
        }
        Ok(Submission {
            index: indices[0],
            attempt: 1,
            job_name: name.clone(),
            script_path: self.cluster_dir.join(rel),
            out_dir: report_dir,
            target: unit.target,
            files,
            dirs,
        })
    }

    /// Keeps a copy of a job script in the local sweep directory (what was submitted, for the
    /// record; where the local backends run it from).
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

    fn write_script(&self, i: usize) -> Result<Submission, EngineError> {
        let p = &self.points[i];
        let a = p.last().expect("attempt pushed before writing its script");
        let meta = self.store.meta();
        let out = out_dir(&self.cluster_dir, p.index);
        let point = Point {
            index: p.index,
            params: p.params.clone(),
        };
        let remote_home = meta.remote_home.as_deref().map(Path::new);
        let text = script::render(
            &self.spec,
            &point,
            &ScriptCtx {
                sweep_name: &meta.name,
                sweep_id: &meta.id,
                job_name: &a.job_name,
                attempt: a.attempt,
                out_dir: &out,
                target: &self.targets[a.target],
                workdir_base: remote_home,
            },
        );
        let rel = format!("scripts/{:05}-{}.sh", p.index, a.attempt);
        let out_rel = format!("out/{:05}", p.index);
        self.write_local(&rel, &text)?;
        if !self.remote {
            fs::create_dir_all(&out).map_err(|source| EngineError::Io {
                path: out.clone(),
                source,
            })?;
        }
        Ok(Submission {
            index: p.index,
            attempt: a.attempt,
            job_name: a.job_name.clone(),
            script_path: self.cluster_dir.join(&rel),
            out_dir: out,
            target: a.target,
            files: vec![(rel, text.into_bytes())],
            dirs: vec![out_rel],
        })
    }

    /// Polls every in-flight job in one scheduler call; returns whether anything changed.
    pub async fn poll_once(&mut self) -> Result<bool, EngineError> {
        let idx: Vec<usize> = (0..self.points.len())
            .filter(|&i| {
                self.points[i]
                    .last()
                    .is_some_and(|a| a.job_id.is_some() && a.state.in_flight())
            })
            .collect();
        if idx.is_empty() {
            return Ok(false);
        }
        let refs: Vec<JobRef> = idx.iter().filter_map(|&i| self.job_ref(i)).collect();
        let infos = match self.sched.status(&refs).await {
            Ok(infos) => infos,
            Err(e) => {
                // No answer is no evidence: states stay as they are.
                self.progress.note(&format!(
                    "disconnected or no answer from the scheduler, retrying: {}",
                    crate::error_chain(&e)
                ));
                return Ok(false);
            }
        };
        let mut changed = Vec::new();
        for &i in &idx {
            let max_attempts = self.spec.max_attempts;
            let p = &mut self.points[i];
            let a = p.last_mut().expect("filtered on last attempt");
            let Some(info) = a.job_id.as_ref().and_then(|id| infos.get(id)) else {
                continue;
            };
            let before = a.clone();
            if let Some(s) = info.state {
                a.state = s;
            }
            if a.state == State::Running && a.started.is_none() && info.started.is_none() {
                // LSF's own start time has no year or zone; when it was first seen running is
                // accurate to one poll interval.
                a.started = Some(now());
            }
            a.exit_code = info.exit_code.or(a.exit_code);
            a.started = info.started.or(a.started);
            a.ended = info.ended.or(a.ended);
            a.host = info.host.clone().or(a.host.take());
            a.max_mem_mb = info.max_mem_mb.or(a.max_mem_mb);
            a.run_seconds = info.run_seconds.or(a.run_seconds);
            if info.error.is_some() {
                a.error = info.error.clone();
            }
            if a.state.is_final() && a.ended.is_none() {
                a.ended = Some(now());
            }
            if a.state.is_final()
                && a.started.is_none()
                && let (Some(end), Some(run)) = (a.ended, a.run_seconds)
            {
                // Finished between two polls: the scheduler's run time places the start.
                a.started = Some(end - run);
            }
            if *a != before {
                // Retried automatically only when the job ran and exited non-zero: a job that
                // vanished (lost, killed from outside) might still be running somewhere, and a
                // second copy is worse than a wait; `retry --failed` is the user's call then.
                if a.state == State::Failed && a.exit_code.is_some() && a.attempt < max_attempts {
                    self.ready.push_back(i);
                }
                changed.push(i);
            }
        }
        if !changed.is_empty() {
            self.save(&changed)?;
        }
        Ok(!changed.is_empty())
    }

    /// Cancels every point not yet final: unsubmitted ones are marked cancelled, in-flight jobs
    /// are cancelled with the scheduler. The unsubmitted ones are recorded before the scheduler
    /// is asked, so a failing bkill ([`EngineError::Cancel`]) loses none of it.
    pub async fn cancel_all(&mut self) -> Result<usize, EngineError> {
        self.ready.clear();
        let mut unsubmitted = Vec::new();
        let mut in_flight = Vec::new();
        let mut refs = Vec::new();
        let t = now();
        for i in 0..self.points.len() {
            let p = &mut self.points[i];
            match p.last() {
                None => {
                    let attempt = 1;
                    let mut a = AttemptRec::new(
                        attempt,
                        script::job_name(&self.store.meta().id, p.index, attempt),
                        0,
                        State::Cancelled,
                    );
                    a.ended = Some(t);
                    a.error = Some("cancelled before submission".into());
                    p.attempts.push(a);
                    unsubmitted.push(i);
                }
                // An intent without a job id is left to reconcile, which finds its job (or
                // not) by name; a later cancel then reaches it.
                Some(a) if a.state.in_flight() => {
                    if let Some(r) = self.job_ref(i) {
                        refs.push(r);
                        in_flight.push(i);
                    }
                }
                _ => {}
            }
        }
        if !unsubmitted.is_empty() {
            self.save(&unsubmitted)?;
        }
        if !refs.is_empty() {
            if let Err(e) = self.sched.cancel(&refs).await {
                self.write_snapshot(true);
                return Err(EngineError::Cancel(e));
            }
            for &i in &in_flight {
                if let Some(a) = self.points[i].last_mut() {
                    a.state = State::Cancelled;
                    a.ended = Some(t);
                }
            }
            self.save(&in_flight)?;
        }
        self.write_snapshot(true);
        Ok(unsubmitted.len() + in_flight.len())
    }

    /// Queues failed points (and points whose submission was refused) for a new attempt.
    pub fn retry_failed(&mut self) -> usize {
        let failed: Vec<usize> = (0..self.points.len())
            .filter(|&i| self.points[i].state() == State::Failed)
            .collect();
        let n = failed.len();
        self.ready.extend(failed);
        n
    }

    fn all_final(&self) -> bool {
        self.ready.is_empty() && self.points.iter().all(|p| p.state().is_final())
    }

    /// The follow loop: reconcile, then submit, poll and retry until every point is final,
    /// the user interrupts, or (`detach`) nothing more can be submitted right now.
    pub async fn follow(&mut self, detach: bool) -> Result<Outcome, EngineError> {
        self.reconcile().await?;
        let cancel_path = self.store.dir().join(CANCEL_REQUEST);
        let mut interval = self.poll.initial;
        let outcome = loop {
            if cancel_path.exists() {
                self.progress.note("cancel requested: cancelling the sweep");
                // The request stays until the scheduler has done it: a failing bkill is tried
                // again next cycle, and a crash in between leaves it for the next follower.
                match self.cancel_all().await {
                    Ok(_) => {
                        let _ = fs::remove_file(&cancel_path);
                    }
                    Err(EngineError::Cancel(e)) => self.progress.note(&format!(
                        "warning: cancelling failed, will try again: {}",
                        crate::error_chain(&e)
                    )),
                    Err(e) => return Err(e),
                }
            }
            if self.open_intents() > 0 {
                self.reconcile().await?;
            }
            let changed = self.poll_once().await?;
            let submitted = self.submit_ready().await?;
            self.fail_unplaceable()?;
            let counts = report::counts(&self.points);
            self.progress.update(&counts, false);
            self.write_snapshot(changed || submitted > 0);
            if self.all_final() {
                break Outcome::Finished;
            }
            if detach {
                break Outcome::Detached;
            }
            interval = if changed || submitted > 0 {
                self.poll.initial
            } else {
                interval.mul_f64(self.poll.factor).min(self.poll.max)
            };
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = tokio::signal::ctrl_c() => break Outcome::Interrupted,
            }
        };
        let counts = report::counts(&self.points);
        self.progress.update(&counts, true);
        self.progress.finish();
        self.write_snapshot(true);
        Ok(outcome)
    }

    /// When every target has refused jobs for good, nothing waiting can ever be submitted:
    /// record that on each waiting point (with LSF's message) so the sweep can end.
    fn fail_unplaceable(&mut self) -> Result<(), EngineError> {
        if self.ready.is_empty() || self.disabled.iter().any(Option::is_none) {
            return Ok(());
        }
        let why = self
            .disabled
            .iter()
            .flatten()
            .next_back()
            .cloned()
            .unwrap_or_default();
        let t = now();
        let idx: Vec<usize> = self.ready.drain(..).collect();
        for &i in &idx {
            let p = &mut self.points[i];
            let attempt = p.next_attempt();
            let mut a = AttemptRec::new(
                attempt,
                script::job_name(&self.store.meta().id, p.index, attempt),
                0,
                State::Failed,
            );
            a.ended = Some(t);
            a.error = Some(format!("not submitted: every target refused jobs ({why})"));
            p.attempts.push(a);
        }
        self.save(&idx)?;
        Ok(())
    }

    /// Rebuilds the attempts of a recovered sweep (whose store was re-created with none):
    /// every job script bsweep wrote names a job; the scheduler says which of those exist
    /// (by name, one lookup), and each point takes the latest of its jobs found. Points with
    /// none wait to be submitted. Returns (points with a job, points to submit).
    pub async fn recover_attempts(&mut self) -> Result<(usize, usize), EngineError> {
        let meta = self.store.meta().clone();
        let by_index: HashMap<u64, usize> = self
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| (p.index, i))
            .collect();
        // (point position, attempt, job name, script text)
        let mut candidates: Vec<(usize, u32, String, String)> = Vec::new();
        let scripts = self.store.dir().join("scripts");
        for entry in fs::read_dir(&scripts).into_iter().flatten().flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = file.strip_suffix(".sh") else {
                continue;
            };
            let text = fs::read_to_string(entry.path()).unwrap_or_default();
            if let Some((i, a)) = stem
                .split_once('-')
                .and_then(|(i, a)| Some((i.parse::<u64>().ok()?, a.parse::<u32>().ok()?)))
                && let Some(&pos) = by_index.get(&i)
            {
                let name = match text.lines().find_map(|l| l.strip_prefix("#BSUB -J ")) {
                    // An element script carries its element's name, `array[k]`.
                    Some(n) => n.trim().trim_matches('"').to_string(),
                    None => script::job_name(&meta.id, i, a),
                };
                candidates.push((pos, a, name, text));
            }
        }
        let refs: Vec<JobRef> = candidates
            .iter()
            .map(|(pos, a, name, _)| {
                let index = self.points[*pos].index;
                JobRef {
                    job_id: String::new(),
                    job_name: name.clone(),
                    attempt: *a,
                    out_dir: out_dir(&self.cluster_dir, index),
                    report: report_file(&self.cluster_dir, index, name),
                    submitted: None,
                }
            })
            .collect();
        let found = if refs.is_empty() {
            HashMap::new()
        } else {
            self.sched
                .find_by_name(&refs)
                .await
                .map_err(EngineError::Recover)?
        };
        let mut best: HashMap<usize, (u32, String, String, usize)> = HashMap::new();
        for (pos, a, name, text) in &candidates {
            let Some(id) = found.get(name) else { continue };
            let target = self.target_of_script(text);
            if best.get(pos).is_none_or(|(b, ..)| a > b) {
                best.insert(*pos, (*a, name.clone(), id.clone(), target));
            }
        }
        let with_jobs = best.len();
        for (pos, (attempt, job_name, job_id, target)) in best {
            let mut a = AttemptRec::new(attempt, job_name, target, State::Pending);
            a.job_id = Some(job_id);
            self.points[pos].attempts = vec![a];
        }
        let all: Vec<usize> = (0..self.points.len()).collect();
        self.save(&all)?;
        self.ready = (0..self.points.len())
            .filter(|&i| self.points[i].attempts.is_empty())
            .collect();
        // Learn the states of what was found now, so the recovered store is current.
        self.poll_once().await?;
        self.write_snapshot(true);
        Ok((with_jobs, self.ready.len()))
    }

    /// Which target a job script was written for, from its `-q`/`-m` lines.
    fn target_of_script(&self, text: &str) -> usize {
        let opt = |flag: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("#BSUB {flag} ")))
                .map(|v| v.trim().trim_matches('"').to_string())
        };
        let (q, m) = (opt("-q"), opt("-m"));
        self.targets
            .iter()
            .position(|t| t.queue == q && t.hosts == m)
            .unwrap_or(0)
    }

    /// Points still waiting to be submitted.
    pub fn waiting(&self) -> usize {
        self.ready.len()
    }

    /// Every recorded point with its job reference, for `collect`.
    pub fn into_parts(self) -> (Store, Spec, Vec<PointRec>) {
        (self.store, self.spec, self.points)
    }
}

/// Groups point indices per target label, for `plan`.
pub fn distribution(spec: &Spec, count: u64) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    match spec.backend {
        BackendKind::Local => {
            m.insert("local".to_string(), count);
        }
        BackendKind::Lsf => {
            let n = spec.lsf.targets.len().max(1) as u64;
            let total_w: u64 = spec
                .lsf
                .targets
                .iter()
                .map(|t| t.weight.max(1) as u64)
                .sum();
            for (k, t) in spec.lsf.targets.iter().enumerate() {
                let share = match spec.lsf.policy {
                    crate::spec::Policy::Weighted => {
                        count * t.weight.max(1) as u64 / total_w.max(1)
                    }
                    _ => count / n + u64::from((k as u64) < count % n),
                };
                m.insert(t.label(), share);
            }
        }
    }
    m
}
