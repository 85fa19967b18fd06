//! Rebuilding the attempts of a sweep whose store was damaged: every job script bsweep wrote
//! names a job; the scheduler says (by name, one lookup) which of those exist, and each point
//! takes the latest of its jobs found. Nothing is decided without the scheduler's answer.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use crate::layout::JobPaths;
use crate::model::{AttemptRec, PointRec, names};
use crate::sched::{JobRef, SchedError, Scheduler};

/// A job script found in the sweep's `scripts/`.
struct Candidate {
    index: u64,
    attempt: u32,
    name: String,
    target: usize,
}

/// Reads the job scripts under `scripts_dir` (`NNNNN-A.sh`) of the points in `points`.
fn candidates<S: Scheduler>(
    sched: &S,
    sweep_id: &str,
    scripts_dir: &Path,
    known: &HashMap<u64, usize>,
) -> Vec<Candidate> {
    let dialect = sched.dialect();
    let targets = &sched.profile().targets;
    let mut out = Vec::new();
    for entry in fs::read_dir(scripts_dir).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some((index, attempt)) = file
            .strip_suffix(".sh")
            .and_then(|stem| stem.split_once('-'))
            .and_then(|(i, a)| Some((i.parse::<u64>().ok()?, a.parse::<u32>().ok()?)))
        else {
            continue;
        };
        if !known.contains_key(&index) {
            continue;
        }
        let text = fs::read_to_string(entry.path()).unwrap_or_default();
        out.push(Candidate {
            index,
            attempt,
            // An element script carries its element's name, `array[k]`.
            name: dialect
                .job_name_in(&text)
                .unwrap_or_else(|| names::job(sweep_id, index, attempt)),
            target: dialect.target_in(&text, targets).unwrap_or(0),
        });
    }
    out
}

/// Gives each point of `points` (which have no attempts) the latest of its jobs the scheduler
/// knows, and returns how many got one. An error of the scheduler is returned as it is:
/// "could not ask" must never read as "no job exists".
pub async fn rebuild_attempts<S: Scheduler>(
    sched: &mut S,
    sweep_id: &str,
    scripts_dir: &Path,
    jobs: &JobPaths,
    points: &mut [PointRec],
) -> Result<usize, SchedError> {
    let by_index: HashMap<u64, usize> = points
        .iter()
        .enumerate()
        .map(|(pos, p)| (p.index, pos))
        .collect();
    let found_scripts = candidates(sched, sweep_id, scripts_dir, &by_index);
    if found_scripts.is_empty() {
        return Ok(0);
    }
    let refs: Vec<JobRef> = found_scripts
        .iter()
        .map(|c| JobRef {
            job_id: crate::model::JobId::new(""),
            job_name: c.name.clone(),
            attempt: c.attempt,
            out_dir: jobs.out_dir(c.index),
            report: jobs.report_file(c.index, &c.name),
            submitted: None,
        })
        .collect();
    let found = sched.find_by_name(&refs).await?;
    let mut best: HashMap<u64, &Candidate> = HashMap::new();
    for c in &found_scripts {
        if found.contains_key(&c.name) && best.get(&c.index).is_none_or(|b| c.attempt > b.attempt) {
            best.insert(c.index, c);
        }
    }
    for (index, c) in &best {
        let a = AttemptRec::found(c.attempt, c.name.clone(), c.target, found[&c.name].clone());
        points[by_index[index]].attempts = vec![a];
    }
    Ok(best.len())
}
