//! IBM Spectrum LSF (and OpenLava): the sweep file's `[lsf]` options as a profile, `#BSUB`
//! scripts (`script`), pure parsers of what LSF prints (`parse`), the cluster probe (`probe`),
//! and the scheduler that runs LSF's commands through a transport, many jobs per round trip.

mod info;
pub mod parse;
pub mod probe;
pub mod reports;
pub mod script;
mod submit;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::info::state_of;
use self::info::{info_of, info_of_outcome, report_from, with_end};
use self::parse::BjobsReading;
use self::submit::Packs;
use super::{
    Accepted, Dialect, JobInfo, JobRef, JobReport, PollOpts, Profile, SchedError, Scheduler, Seen,
    Submission, SubmitError,
};
use crate::layout::JobPaths;
use crate::model::{Clock, JobId, State};
use crate::shell;
use crate::spec::{BackendKind, Spec};
use crate::transport::{
    Framed, Transport, archive, batch_script, command_line, parallel_script, parse_batch,
    windowed_script,
};

pub use probe::{Probe, probe};

/// How this cluster's bjobs is read, found by probing once and remembered in the sweep's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BjobsMode {
    /// `bjobs -o "..." -json` (LSF >= 10.1.0.2).
    Json,
    /// `bjobs -noheader -o "... delimiter='^'"`.
    Delimited,
    /// `bjobs -w -a`: old LSF and OpenLava.
    Table,
}

/// The setting of the sweep's store that remembers the bjobs mode.
pub const BJOBS_MODE_SETTING: &str = "bjobs_mode";

/// Ids per bjobs/bkill call: keeps the command line far below ARG_MAX on any site.
const IDS_PER_CALL: usize = 2000;

/// The profile of an LSF sweep: its `[lsf]` targets, policy, arrays and pacing.
pub fn profile(spec: &Spec) -> Profile {
    let lsf = &spec.lsf;
    Profile {
        backend: BackendKind::Lsf,
        targets: lsf.targets.clone(),
        policy: lsf.policy,
        arrays: lsf.array.then_some(lsf.max_array_size.max(1)),
        // Sites dislike tight bjobs loops.
        poll: PollOpts {
            initial: Duration::from_secs_f64(lsf.poll_min),
            max: Duration::from_secs_f64(lsf.poll_max),
            factor: 1.5,
        },
        settle: lsf.settle,
        lost_after: lsf.lost_after,
        batch: super::batch_for(super::pause_of(lsf.submit_rate)),
    }
}

/// A failed command's exit status and what it printed on stderr, on one line: LSF repeats its
/// "daemon not responding" line while it retries, and one of each is enough.
pub(crate) fn said(code: Option<i32>, stderr: &str) -> String {
    let status = code.map_or("no exit status".to_string(), |c| format!("exit {c}"));
    let mut lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.dedup();
    if lines.is_empty() {
        status
    } else {
        format!("{status}: {}", lines.join(" / "))
    }
}

/// `script` with LSF's commands giving up after a few tries to reach its daemons
/// (`LSB_NTRIES`; a user's own setting stands). Unset, a bsub or bjobs retries "... not
/// responding ... still trying" for as long as mbatchd or LIM is down: bsweep would hang with
/// it. Given up, a command fails like any transient failure, and is tried again later.
pub(super) fn bounded(script: &str) -> String {
    format!("export LSB_NTRIES=\"${{LSB_NTRIES:-{LSB_NTRIES}}}\"\n{script}")
}

/// Tries an LSF command makes to reach mbatchd or LIM, a few seconds apart.
const LSB_NTRIES: u32 = 4;

/// LSF's report on job `job_name` in an `-o` file (several attempts append to one file).
pub fn report_of(text: &str, job_name: &str) -> Option<JobReport> {
    parse::parse_trailer_of(text, job_name).map(report_from)
}

/// LSF's report on job `job_name` in the `-o` file at `path`, before or after the job's output
/// (OpenLava's comes first), however much the job printed.
pub fn report_in_file(file: std::fs::File, job_name: &str) -> Option<JobReport> {
    reports::report_in_file(file, job_name).map(report_from)
}

/// An `-o` file split into the job's own output and LSF's reports in it.
pub fn split_output(text: &str) -> (String, Vec<Option<JobReport>>) {
    let (output, reports) = parse::split_reports(text);
    (
        output,
        reports.into_iter().map(|r| r.map(report_from)).collect(),
    )
}

/// What job `job_name` printed in an `-o` file several attempts appended to: the output of the
/// attempt its last report describes, or, while it has none (running, or ended without a
/// report), the output no report claims (earlier attempts' outputs are theirs).
pub fn own_output(text: &str, job_name: &str) -> String {
    parse::output_of(text, job_name).unwrap_or_else(|| parse::split_sections(text).unreported)
}

/// An awk program printing only the reports in an `-o` file: from a "Sender: ..." line directly
/// followed by "Subject: Job N..." to the report's closing line ("The output (if any) is above
/// this job summary." or "... follows:"), at most 20,000 lines each; the parser then reads them
/// as it reads the whole file. The job's output around them, however large, is not printed.
pub const REPORT_LINES: &str = r#"awk 'n > 0 { print; n--; if ($0 ~ /^[ \t]*The output \(if any\) (is above|follows)/) n = 0; next }
p != "" && $0 ~ /^[ \t]*Subject: Job [0-9]/ { print p; print; n = 20000; p = ""; next }
{ p = ($0 ~ /^[ \t]*Sender: /) ? $0 : "" }'"#;

/// `bpeek JOB`: what a running job has printed so far (OpenLava holds a job's output file
/// until the job ends).
pub fn peek_command(job_id: &JobId) -> String {
    crate::transport::command_line(&["bpeek", &job_id.to_string()])
}

/// The plain job id bjobs and bkill take for a job: an element's array is asked for once.
fn array_part(id: &JobId) -> &str {
    id.job()
}

/// Drives LSF through a transport.
pub struct LsfScheduler<T: Transport> {
    transport: T,
    profile: Profile,
    mode: BjobsMode,
    clock: Clock,
    /// Every job of a sweep is named `bsw-<id>-…`: one `bjobs -J` pattern finds them all.
    name_pattern: String,
    /// Seconds between two bsub calls, from the sweep's `submit_rate`.
    pause: Option<f64>,
    /// bsub calls at once within a round trip (`submit_parallel`).
    parallel: usize,
    /// Whether the cluster takes job packs, learned with the first submission.
    packs: Packs,
    /// A file on the cluster side that every submission batch holds locked while it runs.
    /// Looking jobs up by name first waits for it, so a batch orphaned by a crash (it goes on
    /// submitting after bsweep died) has finished before bsweep decides what is missing.
    submit_lock: String,
    /// This bsweep's generation of the sweep, which fences off batches of earlier ones (see
    /// [`locked`]); 0 until [`Self::fenced`].
    generation: u64,
    /// Set when the cluster is remote: job scripts are sent along with each submission batch
    /// (a tar stream on its stdin, unpacked there) instead of being written locally.
    upload_to: Option<String>,
}

/// Wraps a script so it runs holding the sweep's submit lock (where `flock` exists; sites
/// without it keep the settle time as their only guard) and only if no later bsweep of this
/// sweep has taken over. Slurm's scheduler shares it.
///
/// The lock alone cannot stop a batch that a killed bsweep sent but whose shell starts late
/// (its ssh client outlived it): it would take the lock after the next bsweep had looked its
/// jobs up by name and submitted them again. So each bsweep of a sweep has a larger
/// `generation` (see [`crate::layout::SweepPaths::generation`]); a script under the lock
/// claims it in `LOCK.gen`, and one from an earlier generation exits 75 without running.
/// Generation 0 (no fence) runs always.
pub(crate) fn locked(lock: &str, generation: u64, script: &str) -> String {
    let l = shell::quote(lock);
    let mut s =
        format!("if command -v flock >/dev/null 2>&1; then exec 9>>{l} && flock -w 900 9; fi\n");
    if generation > 0 {
        let g = shell::quote(&format!("{lock}.gen")).into_owned();
        s.push_str(&format!(
            "bsw_g=0; read -r bsw_g 2>/dev/null < {g}; case $bsw_g in ''|*[!0-9]*) bsw_g=0;; esac\n\
             if [ \"$bsw_g\" -gt {generation} ]; then echo \"bsweep: not run: a later bsweep of this \
             sweep (generation $bsw_g, this one {generation}) has taken over\" >&2; exit 75; fi\n\
             if [ \"$bsw_g\" -lt {generation} ]; then echo {generation} > {g}.tmp && mv -f {g}.tmp {g}; fi\n"
        ));
    }
    s.push_str(script);
    s
}

/// A submission batch under the lock ([`locked`]) that, however it ends, leaves the time it
/// ended in `LOCK.end`, for [`locked_lookup`].
pub(crate) fn locked_submission(lock: &str, generation: u64, script: &str) -> String {
    let end = shell::quote(&format!("{lock}.end")).into_owned();
    locked(
        lock,
        generation,
        &format!(
            "(\n{script}\n)\nbsw_rc=$?\n\
             date +%s > {end}.tmp 2>/dev/null && mv -f {end}.tmp {end}\nexit $bsw_rc\n"
        ),
    )
}

/// A lookup by name under the lock ([`locked`]) that first lets the scheduler settle after the
/// last submission batch: a batch orphaned by a crash may have ended a moment ago (the lock
/// made the lookup wait for it), and the scheduler may not list its last jobs yet although
/// their intents are older than `settle`. Whole seconds, rounded up.
pub(crate) fn locked_lookup(lock: &str, generation: u64, settle: f64, script: &str) -> String {
    let end = shell::quote(&format!("{lock}.end")).into_owned();
    let wait = settle.max(0.0).ceil() as u64 + 1;
    locked(
        lock,
        generation,
        &format!(
            "bsw_e=; read -r bsw_e 2>/dev/null < {end}\n\
             case $bsw_e in ''|*[!0-9]*) ;; *) bsw_w=$((bsw_e + {wait} - $(date +%s))); \
             if [ \"$bsw_w\" -gt 0 ]; then sleep \"$bsw_w\"; fi;; esac\n{script}"
        ),
    )
}

/// The script prelude that unpacks a batch's job scripts into `upload_to` on a remote cluster,
/// and the archive for its stdin (nothing when the cluster is this machine, `None`). Slurm's
/// scheduler shares it.
pub(crate) fn upload(
    upload_to: Option<&str>,
    batch: &[Submission],
) -> Result<(String, Vec<u8>), archive::ArchiveError> {
    let Some(dir) = upload_to else {
        return Ok((String::new(), Vec::new()));
    };
    let files: Vec<(String, Vec<u8>, u32)> = batch
        .iter()
        .flat_map(|s| s.files.iter().map(|(p, b)| (p.clone(), b.clone(), 0o644)))
        .collect();
    let archive = archive::build(&files)?;
    let dirs: Vec<String> = batch
        .iter()
        .flat_map(|s| s.dirs.iter().map(|d| shell::quote(d).into_owned()))
        .collect();
    let d = shell::quote(dir);
    Ok((
        format!(
            "mkdir -p -- {d} && cd -- {d} && tar --no-same-owner -x -f - && mkdir -p -- {} || exit 96\n",
            dirs.join(" ")
        ),
        archive,
    ))
}

impl<T: Transport> LsfScheduler<T> {
    /// `jobs` is the sweep's directory as the cluster side sees it (scripts, outputs);
    /// `remote` says it is on another machine, reached through `transport`.
    pub fn new(
        transport: T,
        spec: &Spec,
        mode: BjobsMode,
        sweep_id: &str,
        jobs: &JobPaths,
        remote: bool,
        clock: Clock,
    ) -> Self {
        let base = jobs.base().to_string_lossy().into_owned();
        Self {
            submit_lock: jobs.submit_lock().to_string_lossy().into_owned(),
            generation: 0,
            upload_to: remote.then_some(base),
            transport,
            profile: profile(spec),
            mode,
            clock,
            name_pattern: format!("{}*", crate::model::names::prefix(sweep_id)),
            pause: super::pause_of(spec.lsf.submit_rate),
            parallel: spec.lsf.submit_parallel.max(1) as usize,
            packs: Packs::Unknown,
        }
    }

    pub fn mode(&self) -> BjobsMode {
        self.mode
    }

    /// Runs as `generation` of the sweep: batches of earlier bsweeps do not run after this
    /// one's (see [`locked`]).
    pub fn fenced(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }

    async fn batch(
        &self,
        commands: &[String],
        pause: Option<f64>,
    ) -> Result<Vec<Framed>, SchedError> {
        self.run_framed(&batch_script(commands, pause), commands.len())
            .await
    }

    /// Independent queries (a bjobs split in several calls) run at the same time, still in
    /// one round trip.
    async fn parallel(&self, commands: &[String]) -> Result<Vec<Framed>, SchedError> {
        if commands.len() < 2 {
            return self.batch(commands, None).await;
        }
        self.run_framed(&parallel_script(commands), commands.len())
            .await
    }

    async fn run_framed(
        &self,
        script: &str,
        commands_len: usize,
    ) -> Result<Vec<Framed>, SchedError> {
        let out = self.transport.run(&bounded(script), b"").await?;
        let framed = parse_batch(&out.stdout, commands_len);
        if framed.iter().any(|f| f.code.is_none()) {
            return Err(SchedError::Failed {
                command: "the command batch",
                place: self.transport.place(),
                said: format!("it stopped early ({})", said(out.code, &out.stderr)),
            });
        }
        Ok(framed)
    }

    fn bjobs_args(&self, ids: &[String]) -> Vec<String> {
        match self.mode {
            BjobsMode::Json => parse::bjobs_json_args(ids),
            BjobsMode::Delimited => parse::bjobs_delimited_args(ids),
            BjobsMode::Table => parse::bjobs_table_args(ids),
        }
    }

    fn read_bjobs(&self, f: &Framed) -> Result<BjobsReading, SchedError> {
        let r = match self.mode {
            BjobsMode::Json => parse::parse_bjobs_json(&f.stdout, &f.stderr),
            BjobsMode::Delimited => parse::parse_bjobs_delimited(
                &f.stdout,
                &f.stderr,
                parse::BJOBS_FIELDS,
                parse::BJOBS_DELIMITER,
            ),
            BjobsMode::Table => parse::parse_bjobs_table(&f.stdout, &f.stderr),
        };
        let r = r.map_err(|source| SchedError::Unreadable {
            command: "bjobs",
            source: Box::new(source),
        })?;
        // bjobs failing with no rows at all (daemon down) is no answer, not "every job vanished".
        if r.records.is_empty() && r.not_found.is_empty() && f.code != Some(0) {
            return Err(SchedError::Failed {
                command: "bjobs",
                place: self.transport.place(),
                said: said(f.code, &f.stderr),
            });
        }
        Ok(r)
    }

    /// LSF's report on each job in its output file, when there is one that is that job's (by
    /// name), before or after the output: one round trip for all of them, and only the
    /// reports' lines travel (see [`reports`]).
    async fn reports(&self, jobs: &[&JobRef]) -> Result<Vec<Option<parse::Trailer>>, SchedError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let marker = reports::marker(self.clock.now().to_bits() ^ u64::from(std::process::id()));
        let cmds: Vec<String> = jobs
            .iter()
            .map(|j| reports::window_command(&j.report.to_string_lossy(), &marker))
            .collect();
        let framed = self.batch(&cmds, None).await?;
        Ok(jobs
            .iter()
            .zip(framed)
            .map(|(j, f)| {
                let windows = reports::split_windows(&f.stdout, &marker);
                reports::report_in(windows.into_iter(), &j.job_name)
            })
            .collect())
    }

    /// How jobs ended, for those bjobs no longer lists and those it lists as EXIT without an
    /// exit code (OpenLava, old LSF): from each job's report, else from one `bhist -l` call for
    /// all the rest. A report's "exited with 140" may be OpenLava's run-limit kill, which only
    /// `bhist -l` can prove: those are asked too, and a proven kill wins.
    async fn ends(&self, jobs: &[&JobRef]) -> Result<HashMap<JobId, JobInfo>, SchedError> {
        let reports = self.reports(jobs).await?;
        let mut found = HashMap::new();
        let mut ask: Vec<&JobRef> = Vec::new();
        for (j, t) in jobs.iter().zip(reports) {
            match t {
                Some(t) => {
                    if t.outcome.may_be_run_limit_kill() {
                        ask.push(j);
                    }
                    let mut info = info_of_outcome(&t.outcome);
                    info.run_seconds = t.run_seconds;
                    info.max_mem_mb = t.max_mem_mb;
                    found.insert(j.job_id.clone(), info);
                }
                None => ask.push(j),
            }
        }
        for (id, mut h) in self.history(&ask).await? {
            match found.get(&id) {
                // The report's figures are LSF's own; bhist only adds how the job ended.
                Some(report) if h.reason.is_some() => {
                    h.run_seconds = h.run_seconds.or(report.run_seconds);
                    h.max_mem_mb = h.max_mem_mb.or(report.max_mem_mb);
                    found.insert(id, h);
                }
                Some(_) => {}
                None => {
                    found.insert(id, h);
                }
            }
        }
        Ok(found)
    }

    /// End states from `bhist -l` (one call per 2,000 jobs, in one round trip), for jobs that
    /// left no report, or one that cannot tell a run-limit kill from an exit.
    async fn history(&self, jobs: &[&JobRef]) -> Result<HashMap<JobId, JobInfo>, SchedError> {
        if jobs.is_empty() {
            return Ok(HashMap::new());
        }
        let cmds: Vec<String> = jobs
            .chunks(IDS_PER_CALL)
            .map(|c| {
                let mut argv = vec!["bhist".to_string(), "-l".to_string()];
                argv.extend(c.iter().map(|j| j.job_id.to_string()));
                command_line(&argv)
            })
            .collect();
        let framed = self.parallel(&cmds).await?;
        let mut found = HashMap::new();
        for f in framed {
            // bhist knows nothing of very old jobs on some sites: an unreadable answer is no news.
            let Ok(records) = parse::parse_bhist_long(&f.stdout) else {
                continue;
            };
            for r in records {
                if let Some(o) = &r.outcome {
                    let mut info = info_of_outcome(o);
                    info.run_seconds = r.run_seconds;
                    info.max_mem_mb = r.max_mem_mb;
                    info.host = (!r.exec_hosts.is_empty()).then(|| r.exec_hosts.join(" "));
                    found.insert(JobId::parse(&r.job_id), info);
                }
            }
        }
        Ok(found)
    }

    /// Scripts and out_dirs for a remote cluster (they travel in the same round trip as the
    /// bsubs) and the script running `body` under the submit lock.
    fn submission_script(
        &self,
        batch: &[Submission],
        body: &str,
    ) -> Result<(String, Vec<u8>), SubmitError> {
        let (prelude, stdin) = self.upload(batch).map_err(|e| SubmitError::Refused {
            said: crate::error_chain(&e),
        })?;
        Ok((
            locked_submission(
                &self.submit_lock,
                self.generation,
                &format!("{prelude}{body}"),
            ),
            stdin,
        ))
    }

    /// Runs a submission script; without an answer, why (every command then has no code).
    async fn run_submission(
        &self,
        script: &str,
        stdin: &[u8],
        n: usize,
    ) -> (Vec<Framed>, Option<String>) {
        match self.transport.run(&bounded(script), stdin).await {
            Ok(out) => (parse_batch(&out.stdout, n), None),
            Err(e) => (vec![Framed::default(); n], Some(crate::error_chain(&e))),
        }
    }

    /// One `bsub < script` per submission, up to `submit_parallel` at once, in one round trip.
    /// The first batch also asks whether the site takes job packs.
    async fn submit_plain(&mut self, batch: &[Submission]) -> Vec<Result<Accepted, SubmitError>> {
        let mut cmds: Vec<String> = batch.iter().map(submit::bsub_command).collect();
        let probing = self.packs == Packs::Unknown;
        if probing {
            cmds.push(probe::pack_limit_command());
        }
        let body = windowed_script(&cmds, self.parallel, self.pause);
        let (script, stdin) = match self.submission_script(batch, &body) {
            Ok(s) => s,
            Err(e) => return vec![Err(e); batch.len()],
        };
        let (mut framed, cut) = self.run_submission(&script, &stdin, cmds.len()).await;
        if probing && let Some(f) = framed.pop().filter(|f| f.code == Some(0)) {
            self.packs = probe::read_pack_limit(&f.stdout).map_or(Packs::Off, Packs::Upto);
        }
        framed
            .iter()
            .take(batch.len())
            .map(|f| submit::read_bsub(f, cut.as_deref()))
            .collect()
    }

    /// The batch as job packs of at most `limit` jobs, one `bsub -pack` call each (`submit_rate`
    /// paces the calls). `None` for the submissions of a pack that submitted nothing.
    async fn submit_packs(
        &mut self,
        batch: &[Submission],
        lines: &[String],
        limit: usize,
    ) -> Vec<Option<Result<Accepted, SubmitError>>> {
        let chunks = submit::pack_chunks(lines, limit);
        let cmds: Vec<String> = chunks
            .iter()
            .map(|r| submit::pack_command(&lines[r.clone()]))
            .collect();
        let (script, stdin) = match self.submission_script(batch, &batch_script(&cmds, self.pause))
        {
            Ok(s) => s,
            Err(e) => return vec![Some(Err(e)); batch.len()],
        };
        let (framed, cut) = self.run_submission(&script, &stdin, cmds.len()).await;
        let mut results = vec![None; batch.len()];
        for (range, f) in chunks.into_iter().zip(&framed) {
            match submit::read_pack(f, range.len(), cut.as_deref()) {
                submit::PackAnswer::All(accepted) => {
                    for (i, a) in range.zip(accepted) {
                        results[i] = Some(Ok(a));
                    }
                }
                submit::PackAnswer::Nothing { .. } => {}
                submit::PackAnswer::Unclear { said } => {
                    // Found by name later; further jobs go one bsub each, which says which.
                    self.packs = Packs::Off;
                    for i in range {
                        results[i] = Some(Err(SubmitError::Unanswered { said: said.clone() }));
                    }
                }
            }
        }
        results
    }

    /// Pending counts per queue from one `bqueues` call.
    async fn queue_pending(&self, queues: &[String]) -> Option<HashMap<String, u32>> {
        let mut argv = vec!["bqueues".to_string(), "-w".to_string()];
        argv.extend(queues.iter().cloned());
        let f = self.batch(&[command_line(&argv)], None).await.ok()?.pop()?;
        let loads = parse::parse_bqueues(&f.stdout).ok()?;
        Some(
            loads
                .into_iter()
                .map(|q| (q.name, q.pend.unwrap_or(0)))
                .collect(),
        )
    }

    /// The script prelude that unpacks a batch's job scripts on a remote cluster, and the
    /// archive for its stdin (nothing when the cluster is this machine).
    fn upload(&self, batch: &[Submission]) -> Result<(String, Vec<u8>), archive::ArchiveError> {
        upload(self.upload_to.as_deref(), batch)
    }
}

impl<T: Transport> Scheduler for LsfScheduler<T> {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    fn dialect(&self) -> Dialect {
        Dialect::Lsf
    }

    async fn pending_per_target(&mut self) -> Option<Vec<u32>> {
        let targets = &self.profile.targets;
        let queues: Vec<String> = targets
            .iter()
            .filter_map(|t| t.queue.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if queues.is_empty() {
            return None;
        }
        let pend = self.queue_pending(&queues).await?;
        Some(
            self.profile
                .targets
                .iter()
                .map(|t| {
                    t.queue
                        .as_ref()
                        .and_then(|q| pend.get(q))
                        .copied()
                        .unwrap_or(0)
                })
                .collect(),
        )
    }

    async fn submit(&mut self, batch: &[Submission]) -> Vec<Result<Accepted, SubmitError>> {
        let packed = match self.packs {
            Packs::Upto(limit) if batch.len() > 1 => batch
                .iter()
                .map(submit::pack_line)
                .collect::<Option<Vec<_>>>()
                .map(|lines| (limit, lines)),
            _ => None,
        };
        let Some((limit, lines)) = packed else {
            return self.submit_plain(batch).await;
        };
        let mut results = self.submit_packs(batch, &lines, limit).await;
        // What the packs submitted nothing of goes as plain bsubs, which also say exactly why
        // a job is refused.
        let again: Vec<usize> = (0..batch.len()).filter(|&i| results[i].is_none()).collect();
        if !again.is_empty() {
            let subset: Vec<Submission> = again.iter().map(|&i| batch[i].clone()).collect();
            let plain = self.submit_plain(&subset).await;
            if plain.iter().any(Result::is_ok) {
                // bsub takes these jobs but bsub -pack did not: this site's packs do not work.
                self.packs = Packs::Off;
            }
            for (i, r) in again.into_iter().zip(plain) {
                results[i] = Some(r);
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(SubmitError::Unanswered {
                        said: "the submission batch stopped early".into(),
                    })
                })
            })
            .collect()
    }

    async fn status(&mut self, jobs: &[JobRef]) -> Result<HashMap<JobId, Seen>, SchedError> {
        // Elements `123[4]` of a job array are asked for through their array, once: bjobs
        // lists every element of an array id.
        let mut seen = HashSet::new();
        let ids: Vec<String> = jobs
            .iter()
            .map(|j| array_part(&j.job_id).to_string())
            .filter(|id| seen.insert(id.clone()))
            .collect();
        let cmds: Vec<String> = ids
            .chunks(IDS_PER_CALL)
            .map(|c| {
                let mut argv = vec!["bjobs".to_string()];
                argv.extend(self.bjobs_args(c));
                command_line(&argv)
            })
            .collect();
        let framed = self.parallel(&cmds).await?;
        let mut infos = HashMap::new();
        let mut not_found: HashSet<String> = HashSet::new();
        for f in &framed {
            let reading = self.read_bjobs(f)?;
            if reading.records.is_empty() && reading.not_found.is_empty() {
                // Asked about jobs, told nothing of any: no answer, not "they all vanished".
                return Err(SchedError::Failed {
                    command: "bjobs",
                    place: self.transport.place(),
                    said: format!(
                        "it answered nothing about the jobs asked for: {}",
                        f.stderr.trim()
                    ),
                });
            }
            for r in &reading.records {
                infos.insert(JobId::parse(&r.job_id), Seen::Known(info_of(r)));
            }
            not_found.extend(reading.not_found);
        }
        // Jobs bjobs says it does not know: too new to be listed, or finished and forgotten.
        // A job merely absent from the answer (no row, no "not found") is no news: only what
        // LSF says moves a job. One it has just accepted is not news either.
        let t = self.clock.now();
        let missing: Vec<&JobRef> = jobs
            .iter()
            .filter(|j| !infos.contains_key(&j.job_id))
            .filter(|j| {
                not_found.contains(&j.job_id.to_string())
                    || not_found.contains(array_part(&j.job_id))
            })
            .filter(|j| j.submitted.is_none_or(|s| t - s > self.profile.settle))
            .collect();
        // Jobs bjobs lists EXIT: their reports say why (`TERM_MEMLIMIT`, …), which bjobs does
        // not, and the exit code its table lacks (OpenLava, old LSF). Only the poll in which a
        // job ends asks.
        let exited: Vec<&JobRef> = jobs
            .iter()
            .filter(|j| {
                matches!(infos.get(&j.job_id), Some(Seen::Known(i)) if i.state == State::Failed)
            })
            .collect();
        let mut ended = self
            .ends(&missing.iter().chain(&exited).copied().collect::<Vec<_>>())
            .await?;
        for j in &exited {
            if let (Some(end), Some(Seen::Known(listed))) =
                (ended.remove(&j.job_id), infos.get_mut(&j.job_id))
            {
                *listed = with_end(listed, end);
            }
        }
        for j in &missing {
            let seen = match ended.remove(&j.job_id) {
                Some(info) => Seen::Known(info),
                None => Seen::Missing,
            };
            infos.insert(j.job_id.clone(), seen);
        }
        Ok(infos)
    }

    async fn cancel(&mut self, jobs: &[JobRef]) -> Result<(), SchedError> {
        let ids: Vec<String> = jobs.iter().map(|j| j.job_id.to_string()).collect();
        let cmds: Vec<String> = ids
            .chunks(IDS_PER_CALL)
            .map(|c| {
                let mut argv = vec!["bkill".to_string()];
                argv.extend(c.iter().cloned());
                command_line(&argv)
            })
            .collect();
        let framed = self.batch(&cmds, None).await?;
        for f in framed {
            let r = parse::parse_bkill(&f.stdout, &f.stderr);
            if r.outcomes.is_empty() && f.code != Some(0) {
                return Err(SchedError::Failed {
                    command: "bkill",
                    place: self.transport.place(),
                    said: said(f.code, &f.stderr),
                });
            }
        }
        Ok(())
    }

    async fn find_by_name(
        &mut self,
        jobs: &[JobRef],
    ) -> Result<HashMap<String, JobId>, SchedError> {
        let wanted: HashSet<&str> = jobs.iter().map(|j| j.job_name.as_str()).collect();
        let mut argv = vec!["bjobs".to_string()];
        argv.extend(self.bjobs_args(&[]));
        argv.extend(["-J".to_string(), self.name_pattern.clone()]);
        // Under the submit lock: a batch still submitting (orphaned by a crash) ends first.
        let script = locked_lookup(
            &self.submit_lock,
            self.generation,
            self.profile.settle,
            &batch_script(&[command_line(&argv)], None),
        );
        let framed = self.run_framed(&script, 1).await?;
        let mut found = HashMap::new();
        for f in &framed {
            // "No job found" for the pattern is an empty answer, not a failure.
            let reading = match self.read_bjobs(f) {
                Ok(r) => r,
                Err(_) if f.stdout.trim().is_empty() && f.stderr.contains("found") => {
                    BjobsReading::default()
                }
                Err(e) => return Err(e),
            };
            for r in reading.records {
                if let Some(name) = r.job_name.as_deref()
                    && wanted.contains(name)
                {
                    found.insert(name.to_string(), JobId::parse(&r.job_id));
                }
            }
        }
        // Jobs bjobs has forgotten still left their report in the output file.
        let rest: Vec<&JobRef> = jobs
            .iter()
            .filter(|j| !found.contains_key(&j.job_name))
            .collect();
        for (j, t) in rest.iter().zip(self.reports(&rest).await?) {
            if let Some(id) = t.and_then(|t| t.job_id) {
                found.insert(j.job_name.clone(), JobId::parse(&id));
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests;
