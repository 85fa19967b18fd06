//! `scancel IDS`: silent on success, and silent too for ids that are unknown, finished or
//! purged (exit 0; only `-v` names them), so only a failure of scancel itself is news.

use serde::Serialize;

use super::jobid::SlurmJobId;
use super::{BuildError, QueryError, comma_list, failed};

/// `scancel ID...`. Pending tasks (`16_[2-4]`) are cancelled through their array's id, which
/// cancels every element of it.
pub fn scancel_args(ids: &[SlurmJobId]) -> Result<Vec<String>, BuildError> {
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<String> = ids
        .iter()
        .map(SlurmJobId::selector)
        .filter(|s| seen.insert(s.clone()))
        .collect();
    // Checked as a list, passed as separate words (scancel takes both).
    comma_list("scancel", "job id", "job id", &ids)?;
    Ok(std::iter::once("scancel".to_string()).chain(ids).collect())
}

/// What one scancel call said (with `-v` it names the ids it could not signal).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ScancelReading {
    /// `Kill job error on job id N: Invalid job id specified`: Slurm does not know N (any more).
    pub not_found: Vec<String>,
    /// `... Job/step already completing or completed`: nothing left to cancel.
    pub already_done: Vec<String>,
    /// Every other line.
    pub messages: Vec<String>,
}

const KILL_ERROR: &str = "Kill job error on job id ";

/// Reads scancel's output. Exit 0 is success whatever it printed; another exit is a failure
/// unless every line is a per-job "unknown" or "already done" (older Slurm exits 1 for those).
pub fn parse_scancel(
    stdout: &str,
    stderr: &str,
    exit_code: Option<i32>,
) -> Result<ScancelReading, QueryError> {
    let mut r = ScancelReading::default();
    let mut other = false;
    for line in stderr.lines().chain(stdout.lines()).map(str::trim) {
        if line.is_empty() {
            continue;
        }
        let per_job = line.find(KILL_ERROR).and_then(|at| {
            let (id, why) = line[at + KILL_ERROR.len()..].split_once(": ")?;
            // An id is one word; anything else is not about a job.
            (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| (id.to_string(), why))
        });
        match per_job {
            Some((id, why)) if why.contains("Invalid job id specified") => r.not_found.push(id),
            Some((id, why)) if why.contains("already completing or completed") => {
                r.already_done.push(id)
            }
            _ => {
                // `scancel: Terminating job N` (-v) is chatter, not a failure.
                if !line.starts_with("scancel: Terminating job") {
                    other = true;
                }
                r.messages.push(line.to_string());
            }
        }
    }
    if exit_code == Some(0) || (exit_code.is_some() && !other) {
        Ok(r)
    } else {
        Err(failed("scancel", stdout, stderr, exit_code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder() {
        let ids: Vec<SlurmJobId> = ["13", "16_[2-4%1]", "16_1"]
            .iter()
            .map(|s| s.parse().expect("id"))
            .collect();
        assert_eq!(
            scancel_args(&ids).expect("argv"),
            ["scancel", "13", "16", "16_1"]
        );
        assert!(scancel_args(&[]).is_err());
    }

    #[test]
    fn per_job_answers_and_failures() {
        let r = parse_scancel(
            "",
            "scancel: error: Kill job error on job id 5: Job/step already completing or completed\n",
            Some(1),
        )
        .expect("reading");
        assert_eq!(r.already_done, ["5"]);
        // Slurm 22.05.8's scancel with its controller unreachable: exit 8, a per-job line.
        let e = parse_scancel(
            "",
            "scancel: error: Kill job error on job id 5: Unable to contact slurm controller (connect failure)\n",
            Some(8),
        )
        .expect_err("failure");
        assert!(matches!(
            e,
            QueryError::Failed {
                kind: super::super::ErrorKind::Transient,
                ..
            }
        ));
        assert!(
            parse_scancel("", "", None).is_err(),
            "unknown exit: no news"
        );
        // Found by fuzzing: text after "job id" that is no id named a job "slurm_load_jobs error".
        let r = parse_scancel(
            "",
            "Kill job error on job id  slurm_load_jobs error: Job/step already completing or completed\n",
            Some(0),
        )
        .expect("reading");
        assert!(r.already_done.is_empty() && r.messages.len() == 1, "{r:?}");
        assert_eq!(
            parse_scancel("", "", Some(0)),
            Ok(ScancelReading::default())
        );
    }
}
