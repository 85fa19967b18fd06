//! IBM Spectrum LSF: pure command builders and output parsers (`parse`), and the scheduler that
//! runs them through a transport, many jobs per round trip.

pub mod parse;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use self::parse::{BjobsReading, BsubErrorKind, JobRecord, Outcome, Stat};
use super::{
    JobId, JobInfo, JobRef, SchedError, Scheduler, State, Submission, SubmitError, Submitted,
};
use crate::shell;
use crate::spec::Target;
use crate::transport::{
    Framed, Transport, batch_script, command_line, parallel_script, parse_batch,
};

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

/// Ids per bjobs/bkill call: keeps the command line far below ARG_MAX on any site.
const IDS_PER_CALL: usize = 2000;

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

/// A failed command's exit status and what it printed on stderr, on one line: LSF repeats its
/// "daemon not responding" line while it retries, and one of each is enough.
fn said(code: Option<i32>, stderr: &str) -> String {
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

fn info_of(r: &JobRecord) -> JobInfo {
    let state = state_of(r.stat);
    JobInfo {
        state: Some(state),
        exit_code: match r.stat {
            Stat::Done => Some(r.exit_code.unwrap_or(0)),
            _ => r.exit_code,
        },
        started: None,
        ended: None,
        host: (!r.exec_hosts.is_empty()).then(|| r.exec_hosts.join(" ")),
        max_mem_mb: r.max_mem_mb,
        run_seconds: r.run_seconds,
        error: None,
    }
}

fn info_of_outcome(o: &Outcome) -> JobInfo {
    let (state, exit_code, error) = match o {
        Outcome::Done => (State::Done, Some(0), None),
        Outcome::Exited { code } => (State::Failed, Some(*code), None),
        Outcome::Term { reason, code } => (State::Failed, *code, Some(reason.clone())),
    };
    JobInfo {
        state: Some(state),
        exit_code,
        error,
        ..JobInfo::default()
    }
}

/// Drives LSF through a transport.
pub struct LsfScheduler<T: Transport> {
    transport: T,
    mode: BjobsMode,
    /// Every job of a sweep is named `bsw-<id>-…`: one `bjobs -J` pattern finds them all.
    name_pattern: String,
    /// Seconds between two bsub calls, from the sweep's `submit_rate`.
    pause: Option<f64>,
    /// When each job was first missing from bjobs with no trailer or history to explain it.
    missing_since: HashMap<JobId, f64>,
    /// A job LSF does not show this soon after bsub accepted it is not news yet, and an
    /// unanswered submission is looked up by name only after this.
    pub settle_seconds: f64,
    /// A job missing from bjobs, its output file and bhist for this long is declared lost.
    pub lost_after_seconds: f64,
    /// A file on the cluster side that every submission batch holds locked while it runs.
    /// Looking jobs up by name first waits for it, so a batch orphaned by a crash (it goes on
    /// submitting after bsweep died) has finished before bsweep decides what is missing.
    submit_lock: String,
    /// Set when the cluster is remote: job scripts are sent along with each submission batch
    /// (a tar stream on its stdin, unpacked here) instead of being written locally.
    upload_to: Option<String>,
}

/// Wraps a script so it runs holding `lock` (where `flock` exists; sites without it keep the
/// settle time as their only guard).
fn locked(lock: &str, script: &str) -> String {
    format!(
        "if command -v flock >/dev/null 2>&1; then exec 9>>{l} && flock -w 900 9; fi\n{script}",
        l = shell::quote(lock)
    )
}

impl<T: Transport> LsfScheduler<T> {
    /// `sweep_dir` is the sweep's directory as the cluster side sees it (scripts, outputs).
    pub fn new(
        transport: T,
        mode: BjobsMode,
        sweep_id: &str,
        sweep_dir: &str,
        submit_rate: Option<f64>,
    ) -> Self {
        Self {
            submit_lock: format!("{}/submit.lock", sweep_dir.trim_end_matches('/')),
            upload_to: None,
            transport,
            mode,
            name_pattern: format!("bsw-{sweep_id}-*"),
            pause: submit_rate.filter(|r| *r > 0.0).map(|r| 1.0 / r),
            missing_since: HashMap::new(),
            settle_seconds: 10.0,
            lost_after_seconds: 600.0,
        }
    }

    /// Sends job scripts to `sweep_dir` on the cluster with every submission batch.
    pub fn uploading(mut self, sweep_dir: &str) -> Self {
        self.upload_to = Some(sweep_dir.to_string());
        self
    }

    pub fn mode(&self) -> BjobsMode {
        self.mode
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
        let out = self.transport.run(script, b"").await?;
        let framed = parse_batch(&out.stdout, commands_len);
        if framed.iter().any(|f| f.code.is_none()) {
            return Err(SchedError::Failed {
                command: "the command batch",
                place: self.transport.place(),
                detail: format!("stopped early ({})", said(out.code, &out.stderr)),
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
            source,
        })?;
        // bjobs failing with no rows at all (daemon down) is no answer, not "every job vanished".
        if r.records.is_empty() && r.not_found.is_empty() && f.code != Some(0) {
            return Err(SchedError::Failed {
                command: "bjobs",
                place: self.transport.place(),
                detail: said(f.code, &f.stderr),
            });
        }
        Ok(r)
    }

    /// The last LSF report in each job's output file, when it is that job's (by name): one
    /// round trip for all of them.
    async fn reports(&self, jobs: &[&JobRef]) -> Result<Vec<Option<parse::Trailer>>, SchedError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let cmds: Vec<String> = jobs
            .iter()
            .map(|j| {
                // The report is at the end; 64 KiB holds it and the echoed job script.
                format!(
                    "tail -c 65536 {} 2>/dev/null || true",
                    shell::quote(&j.report.to_string_lossy())
                )
            })
            .collect();
        let framed = self.batch(&cmds, None).await?;
        Ok(jobs
            .iter()
            .zip(framed)
            .map(|(j, f)| parse::parse_trailer_of(&f.stdout, &j.job_name))
            .collect())
    }

    /// End states from the reports of jobs bjobs no longer lists.
    async fn trailers(&self, jobs: &[&JobRef]) -> Result<HashMap<String, JobInfo>, SchedError> {
        let reports = self.reports(jobs).await?;
        Ok(jobs
            .iter()
            .zip(reports)
            .filter_map(|(j, t)| {
                let t = t?;
                let mut info = info_of_outcome(&t.outcome);
                info.run_seconds = t.run_seconds;
                info.max_mem_mb = t.max_mem_mb;
                Some((j.job_id.clone(), info))
            })
            .collect())
    }

    /// End states from `bhist -l` for jobs bjobs forgot and that left no report.
    async fn history(&self, jobs: &[&JobRef]) -> Result<HashMap<String, JobInfo>, SchedError> {
        if jobs.is_empty() {
            return Ok(HashMap::new());
        }
        let cmds: Vec<String> = jobs
            .chunks(IDS_PER_CALL)
            .map(|c| {
                let mut argv = vec!["bhist".to_string(), "-l".to_string()];
                argv.extend(c.iter().map(|j| j.job_id.clone()));
                command_line(&argv)
            })
            .collect();
        let framed = self.batch(&cmds, None).await?;
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
                    found.insert(r.job_id.clone(), info);
                }
            }
        }
        Ok(found)
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
}

fn now() -> f64 {
    crate::engine::now()
}

impl<T: Transport> Scheduler for LsfScheduler<T> {
    fn settle_seconds(&self) -> f64 {
        self.settle_seconds
    }

    async fn pending_per_target(&mut self, targets: &[Target]) -> Option<Vec<u32>> {
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
            targets
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

    async fn submit(&mut self, batch: &[Submission]) -> Vec<Result<Submitted, SubmitError>> {
        let cmds: Vec<String> = batch
            .iter()
            .map(|s| format!("bsub < {}", shell::quote(&s.script_path.to_string_lossy())))
            .collect();
        // Scripts and out_dirs reach a remote cluster in the same round trip as the bsubs.
        let (prelude, stdin) = match &self.upload_to {
            None => (String::new(), Vec::new()),
            Some(dir) => {
                let files: Vec<(String, Vec<u8>, u32)> = batch
                    .iter()
                    .flat_map(|s| s.files.iter().map(|(p, b)| (p.clone(), b.clone(), 0o644)))
                    .collect();
                let archive = match crate::transport::ssh::build_archive(&files) {
                    Ok(a) => a,
                    Err(message) => {
                        let e = SubmitError {
                            transient: false,
                            maybe_submitted: false,
                            message,
                        };
                        return vec![Err(e); batch.len()];
                    }
                };
                let dirs: Vec<String> = batch
                    .iter()
                    .flat_map(|s| s.dirs.iter().map(|d| shell::quote(d).into_owned()))
                    .collect();
                let d = shell::quote(dir);
                (
                    format!(
                        "mkdir -p -- {d} && cd -- {d} && tar --no-same-owner -x -f - && mkdir -p -- {} || exit 96\n",
                        dirs.join(" ")
                    ),
                    archive,
                )
            }
        };
        let script = locked(
            &self.submit_lock,
            &format!("{prelude}{}", batch_script(&cmds, self.pause)),
        );
        let (framed, cut) = match self.transport.run(&script, &stdin).await {
            Ok(out) => (parse_batch(&out.stdout, cmds.len()), None),
            Err(e) => (vec![Framed::default(); cmds.len()], Some(e.to_string())),
        };
        framed
            .into_iter()
            .map(|f| {
                if f.code.is_none() {
                    // The batch was cut before this bsub answered: it may or may not have run.
                    return Err(SubmitError {
                        transient: true,
                        maybe_submitted: true,
                        message: cut
                            .clone()
                            .unwrap_or_else(|| "the submission batch stopped early".into()),
                    });
                }
                match parse::parse_bsub(&f.stdout, &f.stderr, f.code) {
                    Ok(s) => Ok(Submitted {
                        job_id: s.job_id.to_string(),
                        queue: s.queue,
                    }),
                    Err(e) => Err(SubmitError {
                        transient: e.kind == BsubErrorKind::Transient,
                        // A transient failure can hide an accepted job (timeouts, a daemon that
                        // answered late): look it up by name before submitting again.
                        maybe_submitted: e.kind == BsubErrorKind::Transient,
                        message: e.message,
                    }),
                }
            })
            .collect()
    }

    async fn status(&mut self, jobs: &[JobRef]) -> Result<HashMap<JobId, JobInfo>, SchedError> {
        // Elements `123[4]` of a job array are asked for through their array, once: bjobs
        // lists every element of an array id.
        let mut seen = HashSet::new();
        let ids: Vec<String> = jobs
            .iter()
            .map(|j| j.job_id.split('[').next().unwrap_or(&j.job_id).to_string())
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
                    detail: format!(
                        "it answered nothing about the jobs asked for: {}",
                        f.stderr.trim()
                    ),
                });
            }
            for r in &reading.records {
                infos.insert(r.job_id.to_string(), info_of(r));
            }
            not_found.extend(reading.not_found);
        }
        // Jobs bjobs says it does not know: too new to be listed, or finished and forgotten.
        // A job merely absent from the answer (no row, no "not found") is no news: only what
        // LSF says moves a job.
        let t = now();
        let missing: Vec<&JobRef> = jobs
            .iter()
            .filter(|j| !infos.contains_key(&j.job_id))
            .filter(|j| {
                let array = j.job_id.split('[').next().unwrap_or(&j.job_id);
                not_found.contains(&j.job_id) || not_found.contains(array)
            })
            .filter(|j| j.submitted.is_none_or(|s| t - s > self.settle_seconds))
            .collect();
        let mut ended = self.trailers(&missing).await?;
        let rest: Vec<&JobRef> = missing
            .iter()
            .copied()
            .filter(|j| !ended.contains_key(&j.job_id))
            .collect();
        ended.extend(self.history(&rest).await?);
        for j in &missing {
            if let Some(info) = ended.remove(&j.job_id) {
                self.missing_since.remove(&j.job_id);
                infos.insert(j.job_id.clone(), info);
                continue;
            }
            let since = *self.missing_since.entry(j.job_id.clone()).or_insert(t);
            let info = if t - since > self.lost_after_seconds {
                JobInfo {
                    state: Some(State::Failed),
                    error: Some(format!(
                        "LSF no longer knows job {} and it left no output report or history",
                        j.job_id
                    )),
                    ..JobInfo::default()
                }
            } else {
                JobInfo {
                    state: Some(State::Unknown),
                    ..JobInfo::default()
                }
            };
            infos.insert(j.job_id.clone(), info);
        }
        Ok(infos)
    }

    async fn cancel(&mut self, jobs: &[JobRef]) -> Result<(), SchedError> {
        let ids: Vec<String> = jobs.iter().map(|j| j.job_id.clone()).collect();
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
                    detail: said(f.code, &f.stderr),
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
        let script = locked(
            &self.submit_lock,
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
                    found.insert(name.to_string(), r.job_id.to_string());
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
                found.insert(j.job_name.clone(), id);
            }
        }
        Ok(found)
    }
}

/// What [`probe`] learned about a cluster.
#[derive(Debug, Clone)]
pub struct Probe {
    pub mode: BjobsMode,
    pub lsid: Option<parse::LsidInfo>,
    /// Queues asked about that LSF says it does not have, with its words (`gpu: No such queue`).
    pub missing_queues: Vec<(String, String)>,
    /// Every queue `bqueues -w` lists (empty if it was not asked or could not be read).
    pub all_queues: Vec<String>,
}

/// Probes a cluster in one round trip: `lsid`, trial `-json` and delimited bjobs calls on a job
/// id that does not exist (which bjobs mode works), and whether `queues` exist.
pub async fn probe<T: Transport>(transport: &T, queues: &[String]) -> Result<Probe, SchedError> {
    let mut cmds = vec![
        "lsid".to_string(),
        command_line(&["bjobs", "-o", "jobid stat", "-json", "0"]),
        command_line(&["bjobs", "-noheader", "-o", "jobid stat delimiter='^'", "0"]),
    ];
    if !queues.is_empty() {
        let mut argv = vec!["bqueues".to_string(), "-w".to_string()];
        argv.extend(queues.iter().cloned());
        cmds.push(command_line(&argv));
        cmds.push(command_line(&["bqueues", "-w"]));
    }
    let out = transport.run(&batch_script(&cmds, None), b"").await?;
    let f = parse_batch(&out.stdout, cmds.len());
    let lsid = parse::parse_lsid(&f[0].stdout).ok();
    if f[0].code != Some(0) && lsid.is_none() {
        return Err(SchedError::Failed {
            command: "lsid",
            place: transport.place(),
            detail: format!(
                "{}{}; is LSF set up there (PATH, profile)?",
                f[0].stdout.trim(),
                f[0].stderr.trim()
            ),
        });
    }
    let rejected = |f: &Framed| {
        let e = f.stderr.to_lowercase();
        e.contains("invalid option")
            || e.contains("illegal option")
            || e.contains("unknown option")
            || e.contains("usage")
    };
    let json_ok = lsid.as_ref().is_some_and(parse::supports_o_and_json)
        || (!rejected(&f[1])
            && serde_json::from_str::<serde_json::Value>(f[1].stdout.trim()).is_ok());
    let mode = if json_ok {
        BjobsMode::Json
    } else if !rejected(&f[2]) {
        BjobsMode::Delimited
    } else {
        BjobsMode::Table
    };
    let (missing_queues, all_queues) = match f.get(3..5) {
        Some([asked, all]) => (
            missing_queues(queues, asked),
            parse::parse_bqueues(&all.stdout)
                .map(|q| q.into_iter().map(|q| q.name).collect())
                .unwrap_or_default(),
        ),
        _ => Default::default(),
    };
    Ok(Probe {
        mode,
        lsid,
        missing_queues,
        all_queues,
    })
}

/// The queues `bqueues -w QUEUE...` says do not exist. Only LSF's own "No such queue" for a
/// queue counts: an answer bsweep cannot read proves nothing, and the submission would tell.
fn missing_queues(queues: &[String], f: &Framed) -> Vec<(String, String)> {
    let listed: Vec<String> = parse::parse_bqueues(&f.stdout)
        .map(|q| q.into_iter().map(|q| q.name).collect())
        .unwrap_or_default();
    queues
        .iter()
        .filter(|q| !listed.contains(q))
        .filter_map(|q| {
            let line = f.stderr.lines().map(str::trim).find(|l| {
                l.to_ascii_lowercase().contains("no such queue")
                    && l.split(|c: char| c == ':' || c.is_whitespace())
                        .any(|w| w == q)
            })?;
            Some((q.clone(), line.to_string()))
        })
        .collect()
}
