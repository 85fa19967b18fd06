//! Slurm: the sweep file's `[slurm]` options as a profile, `#SBATCH` scripts (`script`), pure
//! builders and parsers of what Slurm prints (`parse`), readings made [`JobInfo`] (`info`), the
//! cluster probe (`probe`), and the scheduler that runs sbatch, squeue, sacct and scancel
//! through a transport, many jobs per round trip.

pub mod info;
pub mod parse;
pub mod probe;
pub mod script;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use self::parse::{
    BuildError, Class, ErrorKind, QueryError, SACCT_FIELDS, SQUEUE_FIELDS, SacctRecord,
    SbatchError, SlurmJobId, SqueueRecord,
};
use super::lsf::{locked_lookup, locked_submission, said, upload};
use super::{
    Accepted, Dialect, JobRef, PollOpts, Profile, SchedError, Scheduler, Seen, Submission,
    SubmitError,
};
use crate::layout::JobPaths;
use crate::model::{Clock, JobId, State, names};
use crate::shell;
use crate::spec::{BackendKind, Spec};
use crate::transport::{
    Framed, Transport, batch_script, command_line, parallel_script, parse_batch,
};

pub use probe::{Probe, probe};

/// What bsweep keeps about a sweep's Slurm cluster in its store (probed once, at launch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// MaxArraySize: array indices go up to this minus one.
    pub max_array_size: Option<u32>,
    /// Whether sacct has a database to ask (AccountingStorageType is not `none`).
    pub accounting: bool,
}

/// The setting of the sweep's store that keeps the [`Facts`].
pub const FACTS_SETTING: &str = "slurm_cluster";

/// Elements per job array when the file does not say and the cluster is not asked (`plan`).
const DEFAULT_ARRAY_SIZE: u32 = 1000;
/// Ids per squeue/sacct/scancel call: keeps the command line far below ARG_MAX.
const IDS_PER_CALL: usize = 2000;
/// Names per `squeue --name` / `sacct --name` call (names are about 25 bytes).
const NAMES_PER_CALL: usize = 1000;
/// How far back sacct looks for a job by name when bsweep does not know when it was submitted.
const UNKNOWN_AGE_WINDOW: u64 = 90 * 86_400;

/// The environment of every Slurm command: the one time format the parsers read.
fn env_prelude() -> String {
    parse::ENV
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", shell::quote(v)))
        .collect()
}

/// The profile of a Slurm sweep from its file alone (what `plan` shows).
pub fn profile(spec: &Spec) -> Profile {
    let s = &spec.slurm;
    Profile {
        backend: BackendKind::Slurm,
        targets: s.targets.clone(),
        policy: s.policy,
        arrays: s
            .array
            .then_some(s.max_array_size.unwrap_or(DEFAULT_ARRAY_SIZE).max(1)),
        poll: PollOpts {
            initial: Duration::from_secs_f64(s.poll_min),
            max: Duration::from_secs_f64(s.poll_max),
            factor: 1.5,
        },
        settle: s.settle,
        lost_after: s.lost_after,
        batch: super::batch_for(super::pause_of(s.submit_rate)),
    }
}

/// The profile on a cluster: arrays as large as its MaxArraySize allows (indices 1..=N need
/// N < MaxArraySize) unless the file asks for smaller ones, none where it allows none.
pub fn profile_on(spec: &Spec, facts: &Facts) -> Profile {
    let mut p = profile(spec);
    if let (Some(n), Some(max)) = (p.arrays, facts.max_array_size) {
        let largest = max.saturating_sub(1);
        let wanted = spec
            .slurm
            .max_array_size
            .map_or(largest, |asked| n.min(asked));
        p.arrays = (largest >= 1).then_some(wanted.min(largest));
    }
    p
}

/// Slurm's id for an engine job id: `123`, or element `k` of array `123` as `123_k`.
pub fn slurm_id(id: &JobId) -> Option<SlurmJobId> {
    let job: u64 = id.job().parse().ok()?;
    Some(match id.element_index() {
        Some(index) => SlurmJobId::Element { array: job, index },
        None => SlurmJobId::Job { id: job },
    })
}

/// The engine ids a row's id answers for: itself, or for tasks still pending together
/// (`16_[2-4]`) the asked-for elements among them. `elements` lists the asked-for element
/// indices of each array.
fn engine_ids(id: &SlurmJobId, elements: &HashMap<u64, Vec<u32>>) -> Vec<JobId> {
    match id {
        SlurmJobId::Job { id } => vec![JobId::new(id.to_string())],
        SlurmJobId::Element { array, index } => vec![JobId::element(array.to_string(), *index)],
        SlurmJobId::Tasks { array, tasks } => elements
            .get(array)
            .into_iter()
            .flatten()
            .filter(|k| tasks.contains(**k))
            .map(|k| JobId::element(array.to_string(), *k))
            .collect(),
        SlurmJobId::HetComponent { .. } => Vec::new(),
    }
}

/// A query's failure as the engine's error.
pub(crate) fn sched_error(e: QueryError, place: &str) -> SchedError {
    match e {
        QueryError::Unreadable { command, source } => SchedError::Unreadable {
            command,
            source: Box::new(source),
        },
        QueryError::Failed {
            command,
            exit_code,
            message,
            ..
        } => SchedError::Failed {
            command,
            place: place.to_string(),
            said: said(exit_code, &message),
        },
    }
}

fn build_error(command: &'static str, e: BuildError, place: &str) -> SchedError {
    SchedError::Failed {
        command,
        place: place.to_string(),
        said: format!("bsweep could not build the command: {e}"),
    }
}

/// sacct's words when the cluster keeps no accounting: a fact of the site, not a failure.
fn no_accounting(e: &QueryError) -> bool {
    matches!(e, QueryError::Failed { message, .. }
        if message.to_ascii_lowercase().contains("accounting storage is disabled"))
}

/// Transient sbatch failures that happen before the controller takes the job: trying again
/// later cannot submit it twice. Any other transient failure may hide an accepted job.
const NOT_SUBMITTED: &[&str] = &[
    "unable to contact slurm controller",
    "connection refused",
    "temporarily unable to accept job",
    "job queue full",
    "temporarily disabled",
    "in standby mode",
    "munge",
];

/// What an sbatch that gave no job id means for the job.
fn submit_error(e: SbatchError, code: Option<i32>) -> SubmitError {
    let said = e.message;
    let lower = said.to_ascii_lowercase();
    match e.kind {
        // sbatch said it succeeded but no id reads: the job may well exist.
        _ if code == Some(0) => SubmitError::Unanswered { said },
        ErrorKind::Permanent => SubmitError::Refused { said },
        ErrorKind::Transient if NOT_SUBMITTED.iter().any(|m| lower.contains(m)) => {
            SubmitError::Retry { said }
        }
        ErrorKind::Transient => SubmitError::Unanswered { said },
    }
}

/// `SBATCH_*` variables override `#SBATCH` lines: those for what bsweep's scripts always set
/// (names, outputs, arrays, and the limits a retry raises) and what the file sets are unset
/// for sbatch, so a user's profile cannot rename jobs or move their outputs.
fn unset_line(spec: &Spec) -> String {
    let s = &spec.slurm;
    let mut vars = vec![
        "SBATCH_JOB_NAME",
        "SBATCH_OUTPUT",
        "SBATCH_ERROR",
        "SBATCH_ARRAY_INX",
        "SBATCH_MEM_PER_NODE",
        "SBATCH_MEM_PER_CPU",
        "SBATCH_TIMELIMIT",
    ];
    for (set, var) in [
        (
            s.targets.iter().any(|t| t.queue.is_some()),
            "SBATCH_PARTITION",
        ),
        (s.account.is_some(), "SBATCH_ACCOUNT"),
        (s.qos.is_some(), "SBATCH_QOS"),
        (s.gpus.is_some(), "SBATCH_GPUS"),
        (s.gres.is_some(), "SBATCH_GRES"),
        (s.constraint.is_some(), "SBATCH_CONSTRAINT"),
    ] {
        if set {
            vars.push(var);
        }
    }
    format!("unset {}; ", vars.join(" "))
}

/// Drives Slurm through a transport.
pub struct SlurmScheduler<T: Transport> {
    transport: T,
    profile: Profile,
    facts: Facts,
    clock: Clock,
    /// The cluster's offset from UTC, read (`date +%z`) with the first poll.
    utc_offset: Option<i64>,
    /// Held by every submission batch on the cluster side; looking jobs up by name waits for
    /// it, so a batch orphaned by a crash has finished first (as for LSF).
    submit_lock: String,
    /// This bsweep's generation of the sweep (see [`locked`]); 0 until [`Self::fenced`].
    generation: u64,
    /// Set when the cluster is remote: job scripts travel with each submission batch.
    upload_to: Option<String>,
    /// Seconds between two sbatch calls, from the sweep's `submit_rate`.
    pause: Option<f64>,
    unset: String,
    /// Jobs squeue shows finished while sacct has no final record yet (it lags), and since
    /// when: squeue's word is taken once `settle` has passed.
    ended_early: HashMap<JobId, f64>,
}

impl<T: Transport> SlurmScheduler<T> {
    /// `jobs` is the sweep's directory as the cluster side sees it; `remote` says it is on
    /// another machine, reached through `transport`.
    pub fn new(
        transport: T,
        spec: &Spec,
        facts: Facts,
        jobs: &JobPaths,
        remote: bool,
        clock: Clock,
    ) -> Self {
        Self {
            transport,
            profile: profile_on(spec, &facts),
            facts,
            clock,
            utc_offset: None,
            submit_lock: jobs.submit_lock().to_string_lossy().into_owned(),
            generation: 0,
            upload_to: remote.then(|| jobs.base().to_string_lossy().into_owned()),
            pause: super::pause_of(spec.slurm.submit_rate),
            unset: unset_line(spec),
            ended_early: HashMap::new(),
        }
    }

    /// Runs as `generation` of the sweep: batches of earlier bsweeps do not run after this
    /// one's (see [`locked`]).
    pub fn fenced(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }

    pub fn facts(&self) -> Facts {
        self.facts
    }

    /// Runs a script (after the Slurm environment) and splits its `n` commands' outputs.
    async fn run(&self, script: &str, stdin: &[u8], n: usize) -> Result<Vec<Framed>, SchedError> {
        let out = self
            .transport
            .run(&format!("{}{script}", env_prelude()), stdin)
            .await?;
        let framed = parse_batch(&out.stdout, n);
        if framed.iter().any(|f| f.code.is_none()) {
            return Err(SchedError::Failed {
                command: "the command batch",
                place: self.transport.place(),
                said: format!("it stopped early ({})", said(out.code, &out.stderr)),
            });
        }
        Ok(framed)
    }

    /// Independent queries, at the same time, in one round trip.
    async fn parallel(&self, cmds: &[String]) -> Result<Vec<Framed>, SchedError> {
        let script = if cmds.len() < 2 {
            batch_script(cmds, None)
        } else {
            parallel_script(cmds)
        };
        self.run(&script, b"", cmds.len()).await
    }

    /// squeue's rows for `asked`, by engine id, in one round trip (with the cluster's UTC
    /// offset the first time).
    async fn squeue(
        &mut self,
        asked: &[(&JobRef, SlurmJobId)],
        elements: &HashMap<u64, Vec<u32>>,
    ) -> Result<HashMap<JobId, SqueueRecord>, SchedError> {
        let place = self.transport.place();
        // An element is asked for through its array: `-r` lists every element of it.
        let mut seen = HashSet::new();
        let ids: Vec<SlurmJobId> = asked
            .iter()
            .map(|(_, s)| SlurmJobId::Job { id: s.base() })
            .filter(|s| seen.insert(s.clone()))
            .collect();
        let mut cmds = ids
            .chunks(IDS_PER_CALL)
            .map(|c| parse::squeue_args(c).map(|a| command_line(&a)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| build_error("squeue", e, &place))?;
        let queries = cmds.len();
        if self.utc_offset.is_none() {
            cmds.push("date +%z".to_string());
        }
        let framed = self.parallel(&cmds).await?;
        if let Some(f) = framed.get(queries) {
            self.utc_offset = info::utc_offset(&f.stdout);
        }
        let mut rows: HashMap<JobId, SqueueRecord> = HashMap::new();
        for f in &framed[..queries] {
            let reading = parse::parse_squeue(&f.stdout, &f.stderr, f.code, SQUEUE_FIELDS)
                .map_err(|e| sched_error(e, &place))?;
            for r in reading.records {
                let pending_tasks = matches!(r.job_id, SlurmJobId::Tasks { .. });
                for id in engine_ids(&r.job_id, elements) {
                    // An element's own row wins over its array's pending-tasks row.
                    if !(pending_tasks && rows.contains_key(&id)) {
                        rows.insert(id, r.clone());
                    }
                }
            }
        }
        Ok(rows)
    }

    /// sacct's records (with steps, for MaxRSS) for `jobs`, by engine id; empty when the
    /// cluster keeps no accounting.
    async fn sacct(
        &mut self,
        jobs: &[&JobRef],
        elements: &HashMap<u64, Vec<u32>>,
    ) -> Result<HashMap<JobId, SacctRecord>, SchedError> {
        let place = self.transport.place();
        let mut seen = HashSet::new();
        let ids: Vec<SlurmJobId> = jobs
            .iter()
            .filter_map(|j| slurm_id(&j.job_id))
            .map(|s| SlurmJobId::Job { id: s.base() })
            .filter(|s| seen.insert(s.clone()))
            .collect();
        let cmds = ids
            .chunks(IDS_PER_CALL)
            .map(|c| parse::sacct_steps_args(c).map(|a| command_line(&a)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| build_error("sacct", e, &place))?;
        let framed = self.parallel(&cmds).await?;
        let mut out: HashMap<JobId, SacctRecord> = HashMap::new();
        for f in &framed {
            let reading = match parse::parse_sacct(&f.stdout, &f.stderr, f.code, SACCT_FIELDS) {
                Ok(r) => r,
                Err(e) if no_accounting(&e) => {
                    self.facts.accounting = false;
                    return Ok(HashMap::new());
                }
                Err(e) => return Err(sched_error(e, &place)),
            };
            for r in reading.records {
                let pending_tasks = matches!(r.job_id, SlurmJobId::Tasks { .. });
                for id in engine_ids(&r.job_id, elements) {
                    if !(pending_tasks && out.contains_key(&id)) {
                        out.insert(id, r.clone());
                    }
                }
            }
        }
        Ok(out)
    }

    /// The sacct window for a name lookup: back to the oldest of `jobs`, with an hour to spare
    /// for clock skew; a job of unknown age is looked for far back.
    fn window(&self, jobs: &[JobRef]) -> u64 {
        let now = self.clock.now();
        jobs.iter()
            .map(|j| match j.submitted {
                Some(s) => (now - s).max(0.0) as u64 + 3600,
                None => UNKNOWN_AGE_WINDOW,
            })
            .max()
            .unwrap_or(3600)
    }

    /// Every job id Slurm has under each name asked for, from squeue and sacct.
    async fn ids_by_name(
        &mut self,
        queries: &[String],
        window: u64,
    ) -> Result<HashMap<String, Vec<SlurmJobId>>, SchedError> {
        let place = self.transport.place();
        let accounting = self.facts.accounting;
        let mut cmds = Vec::new();
        for c in queries.chunks(NAMES_PER_CALL) {
            let sq = parse::squeue_by_name_args(c).map_err(|e| build_error("squeue", e, &place))?;
            cmds.push(command_line(&sq));
            if accounting {
                let sa = parse::sacct_by_name_args(c, window)
                    .map_err(|e| build_error("sacct", e, &place))?;
                cmds.push(command_line(&sa));
            }
        }
        // Under the submit lock: a batch still submitting (orphaned by a crash) ends first.
        let script = locked_lookup(
            &self.submit_lock,
            self.generation,
            self.profile.settle,
            &batch_script(&cmds, None),
        );
        let framed = self.run(&script, b"", cmds.len()).await?;
        let mut found: HashMap<String, Vec<SlurmJobId>> = HashMap::new();
        let step = if accounting { 2 } else { 1 };
        for pair in framed.chunks(step) {
            let sq = &pair[0];
            let reading = parse::parse_squeue(&sq.stdout, &sq.stderr, sq.code, SQUEUE_FIELDS)
                .map_err(|e| sched_error(e, &place))?;
            for r in reading.records {
                if let Some(n) = r.name {
                    found.entry(n).or_default().push(r.job_id);
                }
            }
            let Some(sa) = pair.get(1) else { continue };
            match parse::parse_sacct(&sa.stdout, &sa.stderr, sa.code, SACCT_FIELDS) {
                Ok(reading) => {
                    for r in reading.records {
                        if let Some(n) = r.job_name {
                            found.entry(n).or_default().push(r.job_id);
                        }
                    }
                }
                Err(e) if no_accounting(&e) => self.facts.accounting = false,
                Err(e) => return Err(sched_error(e, &place)),
            }
        }
        Ok(found)
    }
}

/// The asked-for element indices of each array among `ids`.
fn elements_of<'a>(ids: impl Iterator<Item = &'a JobId>) -> HashMap<u64, Vec<u32>> {
    let mut out: HashMap<u64, Vec<u32>> = HashMap::new();
    for id in ids {
        if let (Ok(array), Some(k)) = (id.job().parse::<u64>(), id.element_index()) {
            out.entry(array).or_default().push(k);
        }
    }
    out
}

/// The job Slurm has for `name` (`array[k]`: element k of the array so named): the newest.
fn pick(found: &HashMap<String, Vec<SlurmJobId>>, name: &str) -> Option<JobId> {
    if let Some((array, k)) = names::split_element(name) {
        let best = found
            .get(array)?
            .iter()
            .filter(|id| match id {
                SlurmJobId::Element { index, .. } => *index == k,
                SlurmJobId::Tasks { tasks, .. } => tasks.contains(k),
                // An array's own row once its pending tasks are cancelled: the tasks are
                // somewhere under it.
                SlurmJobId::Job { .. } => true,
                SlurmJobId::HetComponent { .. } => false,
            })
            .map(SlurmJobId::base)
            .max()?;
        return Some(JobId::element(best.to_string(), k));
    }
    let best = found
        .get(name)?
        .iter()
        .filter_map(|id| match id {
            SlurmJobId::Job { id } => Some(*id),
            _ => None,
        })
        .max()?;
    Some(JobId::new(best.to_string()))
}

impl<T: Transport> Scheduler for SlurmScheduler<T> {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn dialect(&self) -> Dialect {
        Dialect::Slurm
    }

    async fn pending_per_target(&mut self) -> Option<Vec<u32>> {
        let parts: Vec<String> = self
            .profile
            .targets
            .iter()
            .filter_map(|t| t.queue.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if parts.is_empty() {
            return None;
        }
        let cmd = command_line(&[
            "squeue",
            "-h",
            "-r",
            "-t",
            "PENDING",
            "-p",
            &parts.join(","),
            "-o",
            "%P",
        ]);
        let f = self.parallel(&[cmd]).await.ok()?.pop()?;
        if f.code != Some(0) {
            return None;
        }
        let mut count: HashMap<&str, u32> = HashMap::new();
        for l in f.stdout.lines() {
            *count.entry(l.trim()).or_default() += 1;
        }
        Some(
            self.profile
                .targets
                .iter()
                .map(|t| {
                    t.queue
                        .as_deref()
                        .and_then(|q| count.get(q))
                        .copied()
                        .unwrap_or(0)
                })
                .collect(),
        )
    }

    async fn submit(&mut self, batch: &[Submission]) -> Vec<Result<Accepted, SubmitError>> {
        let cmds: Vec<String> = batch
            .iter()
            .map(|s| {
                format!(
                    "{}sbatch --parsable < {}",
                    self.unset,
                    shell::quote(&s.script_path.to_string_lossy())
                )
            })
            .collect();
        // Scripts and out_dirs reach a remote cluster in the same round trip as the sbatches.
        let (prelude, stdin) = match upload(self.upload_to.as_deref(), batch) {
            Ok(u) => u,
            Err(e) => {
                let e = SubmitError::Refused {
                    said: crate::error_chain(&e),
                };
                return vec![Err(e); batch.len()];
            }
        };
        let script = locked_submission(
            &self.submit_lock,
            self.generation,
            &format!("{prelude}{}", batch_script(&cmds, self.pause)),
        );
        let (framed, cut) = match self.transport.run(&script, &stdin).await {
            Ok(out) => (parse_batch(&out.stdout, cmds.len()), None),
            Err(e) => (
                vec![Framed::default(); cmds.len()],
                Some(crate::error_chain(&e)),
            ),
        };
        framed
            .into_iter()
            .zip(batch)
            .map(|(f, s)| {
                if f.code.is_none() {
                    // The batch was cut before this sbatch answered: it may or may not have run.
                    return Err(SubmitError::Unanswered {
                        said: cut
                            .clone()
                            .unwrap_or_else(|| "the submission batch stopped early".into()),
                    });
                }
                match parse::parse_sbatch(&f.stdout, &f.stderr, f.code) {
                    Ok(ok) => Ok(Accepted {
                        job_id: JobId::new(ok.job_id.to_string()),
                        queue: self
                            .profile
                            .targets
                            .get(s.target)
                            .and_then(|t| t.queue.clone()),
                        state: State::Pending,
                    }),
                    Err(e) => Err(submit_error(e, f.code)),
                }
            })
            .collect()
    }

    async fn status(&mut self, jobs: &[JobRef]) -> Result<HashMap<JobId, Seen>, SchedError> {
        let asked: Vec<(&JobRef, SlurmJobId)> = jobs
            .iter()
            .filter_map(|j| Some((j, slurm_id(&j.job_id)?)))
            .collect();
        if asked.is_empty() {
            return Ok(HashMap::new());
        }
        let elements = elements_of(asked.iter().map(|(j, _)| &j.job_id));
        let rows = self.squeue(&asked, &elements).await?;
        let now = self.clock.now();
        let settle = self.profile.settle;
        let offset = self.utc_offset;
        let mut out = HashMap::new();
        // Jobs squeue shows ended, or no longer shows: sacct has their exit code, times and
        // peak memory. A job squeue does not list yet, just after sbatch, is no news.
        let mut ask_sacct: Vec<&JobRef> = Vec::new();
        for (j, _) in &asked {
            match rows.get(&j.job_id) {
                Some(r) if !r.state.is_final() => {
                    self.ended_early.remove(&j.job_id);
                    out.insert(j.job_id.clone(), Seen::Known(info::from_squeue(r, offset)));
                }
                None if j.submitted.is_some_and(|s| now - s <= settle) => {}
                _ => ask_sacct.push(j),
            }
        }
        if ask_sacct.is_empty() {
            return Ok(out);
        }
        let acct = if self.facts.accounting {
            self.sacct(&ask_sacct, &elements).await?
        } else {
            HashMap::new()
        };
        for j in ask_sacct {
            let id = &j.job_id;
            let seen = match (acct.get(id), rows.get(id)) {
                (Some(r), _) if r.state.is_final() => Seen::Known(info::from_sacct(r, offset)),
                // squeue forgot a job sacct still has running (rare, but its word).
                (Some(r), None) => Seen::Known(info::from_sacct(r, offset)),
                (_, Some(r)) => {
                    // Ended, but sacct lags. A success only lacks its memory and times: wait
                    // `settle` for them. Any other end lacks its exit code, which decides a
                    // retry: wait for sacct while squeue still shows the job, up to
                    // `lost_after`.
                    let patience = if r.state.class() == Class::Done {
                        settle
                    } else {
                        self.profile.lost_after
                    };
                    let since = *self.ended_early.entry(id.clone()).or_insert(now);
                    if self.facts.accounting && now - since <= patience {
                        continue;
                    }
                    Seen::Known(info::from_squeue(r, offset))
                }
                (None, None) => Seen::Missing,
            };
            if matches!(&seen, Seen::Known(i) if i.state.is_final()) {
                self.ended_early.remove(id);
            }
            out.insert(id.clone(), seen);
        }
        Ok(out)
    }

    async fn cancel(&mut self, jobs: &[JobRef]) -> Result<(), SchedError> {
        let place = self.transport.place();
        let ids: Vec<SlurmJobId> = jobs.iter().filter_map(|j| slurm_id(&j.job_id)).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let cmds = ids
            .chunks(IDS_PER_CALL)
            .map(|c| parse::scancel_args(c).map(|a| command_line(&a)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| build_error("scancel", e, &place))?;
        let framed = self
            .run(&batch_script(&cmds, None), b"", cmds.len())
            .await?;
        for f in framed {
            parse::parse_scancel(&f.stdout, &f.stderr, f.code)
                .map_err(|e| sched_error(e, &place))?;
        }
        Ok(())
    }

    async fn find_by_name(
        &mut self,
        jobs: &[JobRef],
    ) -> Result<HashMap<String, JobId>, SchedError> {
        // Elements are found through their array's name, which they all carry in Slurm.
        let mut seen = HashSet::new();
        let queries: Vec<String> = jobs
            .iter()
            .map(|j| {
                names::split_element(&j.job_name)
                    .map_or(j.job_name.as_str(), |(array, _)| array)
                    .to_string()
            })
            .filter(|n| seen.insert(n.clone()))
            .collect();
        if queries.is_empty() {
            return Ok(HashMap::new());
        }
        let found = self.ids_by_name(&queries, self.window(jobs)).await?;
        Ok(jobs
            .iter()
            .filter_map(|j| Some((j.job_name.clone(), pick(&found, &j.job_name)?)))
            .collect())
    }
}
