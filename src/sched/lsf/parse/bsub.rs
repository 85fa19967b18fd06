//! `bsub`: find the submission line, or classify why there is none (retry later or give up).

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::values::is_wait_chatter;

/// A job LSF accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Submitted {
    /// For an array this is the whole array's id; elements are `ID[index]`.
    pub job_id: u64,
    /// `None` when the line was cut short (`Job <N> is submitted`).
    pub queue: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BsubErrorKind {
    /// LSF could not be reached or was busy: the same bsub may succeed later.
    Transient,
    /// LSF refused the job: repeating the same bsub will fail the same way.
    Permanent,
}

impl fmt::Display for BsubErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BsubErrorKind::Transient => "transient",
            BsubErrorKind::Permanent => "permanent",
        })
    }
}

/// bsub printed no submission line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("bsub failed ({kind}): {message}")]
pub struct BsubError {
    pub kind: BsubErrorKind,
    /// LSF said `Job not submitted.` of a failure that is not a timeout: whatever the kind, no
    /// job exists to look for.
    pub not_submitted: bool,
    /// LSF's own line(s) (esub chatter included, "Please wait" lines left out unless they are
    /// all there is), or a description when bsub printed nothing.
    pub message: String,
}

// "is" is missing in LSF 3/4 ("Job <1234> submitted to queue <simulation>."); the queue part
// is missing in a truncated capture, which still names the job.
static SUBMITTED_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Job <([0-9]+)> (?:is )?submitted(?: to (?:default )?queue <([^<>]+)>)?")
        .expect("static regex")
});

/// Rejections that stay rejections, checked first so that a free-text esub line mentioning
/// "try later" cannot turn "Request aborted by esub" into a retry loop.
const PERMANENT_MARKERS: &[&str] = &[
    "no such queue",
    "resource requirement",
    "request aborted by esub",
    "too many processors",
    "too many tasks",
    "service class",
    "rusage section",
    "select section",
    "error near",
    "error with <",
];

/// LSF down, busy or out of reach (lsb_errmsg wording): time can fix these.
const TRANSIENT_MARKERS: &[&str] = &[
    "lim is down",
    "try later",
    "try again",
    "not responding",
    "cannot connect",
    "cannot locate master",
    "failed in an lsf library call",
    "communication timeout",
    "timeout on connect",
    "timed out",
    "connection refused",
    "server is not connected",
    "unable to contact",
    "no job id can be used now",
    "internal error",
    // Job-count limits clear as jobs finish.
    "reached its job limit",
    "threshold reached",
];

/// Reads bsub's output. `exit_code` is `None` when unknown (killed by a signal, SSH dropped).
///
/// A submission line wins whatever the exit code says: the job exists, and retrying would
/// submit it twice. (If a wrapper printed several, the first is taken.) With no submission
/// line and no output at all the error is Transient even for exit 0; a caller that fears a
/// lost-but-submitted job should look for it by name before retrying.
pub fn parse_bsub(
    stdout: &str,
    stderr: &str,
    exit_code: Option<i32>,
) -> Result<Submitted, BsubError> {
    for line in stdout.lines().chain(stderr.lines()) {
        // The substring test keeps the capture search off the (many) other lines.
        if !line.contains("submitted") {
            continue;
        }
        // Every match on the line, not only the first: digits that overflow u64 are not a job
        // id, and a real id after them on the same line was missed (found by fuzzing), which
        // would have made the caller submit the job again.
        for c in SUBMITTED_RE.captures_iter(line) {
            // Digits that overflow u64 are not a job id; keep looking.
            if let Ok(job_id) = c[1].parse::<u64>() {
                return Ok(Submitted {
                    job_id,
                    queue: c.get(2).map(|q| q.as_str().to_string()),
                });
            }
        }
    }
    let lines: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let said: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !is_wait_chatter(l))
        .collect();
    let lower = lines.join("\n").to_ascii_lowercase();
    let has = |markers: &[&str]| markers.iter().any(|m| lower.contains(m));
    let kind = if lines.is_empty() {
        BsubErrorKind::Transient
    } else if has(PERMANENT_MARKERS) {
        BsubErrorKind::Permanent
    } else if has(TRANSIENT_MARKERS) || said.is_empty() {
        // Only "Please wait"/"still trying" lines: LSF was busy and we gave up waiting.
        BsubErrorKind::Transient
    } else {
        // Anything else LSF says instead of a job id (it ends in ". Job not submitted.") is a
        // refusal of this job.
        BsubErrorKind::Permanent
    };
    // bsub ends a timeout with "Job not submitted." too, but mbatchd may have taken the job
    // before the answer was lost (LSBE_PROTOCOL, "Communication timeout"): only a failure
    // that is not a timeout proves there is no job to look for.
    let timed_out = ["timeout", "timed out"].iter().any(|m| lower.contains(m));
    let not_submitted = lower.contains("job not submitted") && !timed_out;
    let message = if !said.is_empty() {
        said.join("\n")
    } else if let Some(last) = lines.last() {
        last.to_string()
    } else {
        match exit_code {
            Some(c) => format!("bsub printed nothing and exited with {c}"),
            None => "bsub printed nothing and its exit status is unknown".to_string(),
        }
    };
    Err(BsubError {
        kind,
        not_submitted,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(stdout: &str, stderr: &str, exit: Option<i32>) -> BsubError {
        match parse_bsub(stdout, stderr, exit) {
            Err(e) => e,
            Ok(s) => panic!("expected an error, got {s:?}"),
        }
    }

    #[test]
    fn submission_line_variants() {
        let ok = |s: &str| parse_bsub(s, "", Some(0));
        assert_eq!(
            ok("Job <542935> is submitted to queue <short>.\n"),
            Ok(Submitted {
                job_id: 542935,
                queue: Some("short".into())
            })
        );
        assert_eq!(
            ok("Job <2812> is submitted to default queue <normal>. \n"),
            Ok(Submitted {
                job_id: 2812,
                queue: Some("normal".into())
            })
        );
        assert_eq!(
            ok("Job <1234> submitted to queue <simulation>.\n"),
            Ok(Submitted {
                job_id: 1234,
                queue: Some("simulation".into())
            })
        );
        assert_eq!(
            ok("Cannot connect to LSF. Please wait ...\nJob <12345678> is submitted\n"),
            Ok(Submitted {
                job_id: 12345678,
                queue: None
            })
        );
    }

    /// Found by fuzzing: an overflowing id hid a real one later on the same line.
    #[test]
    fn overflowing_id_does_not_hide_the_next_one() {
        assert_eq!(
            parse_bsub(
                "Job <20000000000000000000> is submitted. Job <7> is submitted to queue <q>.\n",
                "",
                Some(0)
            ),
            Ok(Submitted {
                job_id: 7,
                queue: Some("q".into())
            })
        );
    }

    #[test]
    fn submission_wins_over_exit_code_and_stream() {
        let r = parse_bsub(
            "",
            "esub: note\nJob <7> is submitted to queue <q>.\n",
            Some(255),
        );
        assert_eq!(
            r,
            Ok(Submitted {
                job_id: 7,
                queue: Some("q".into())
            })
        );
    }

    #[test]
    fn transient_failures() {
        let e = err(
            "",
            "Failed in an LSF library call: LIM is down; try later. Job not submitted.\n",
            Some(255),
        );
        assert_eq!(e.kind, BsubErrorKind::Transient);
        assert!(e.not_submitted, "LSF says so: no job to look for");
        assert_eq!(
            e.message,
            "Failed in an LSF library call: LIM is down; try later. Job not submitted."
        );
        let e = err(
            "",
            "batch system daemon not responding ... still trying\n",
            None,
        );
        assert_eq!(e.kind, BsubErrorKind::Transient);
        // Cut off while LSF retried: it may have taken the job.
        assert!(!e.not_submitted);
        assert_eq!(
            e.message,
            "batch system daemon not responding ... still trying"
        );
        // A lost answer says "Job not submitted." too (LSBE_PROTOCOL in lsb.errmsg), yet
        // mbatchd may hold the job: look it up before submitting again.
        let e = err(
            "",
            "Contacting batch daemon: Communication timeout. Job not submitted.\n",
            Some(255),
        );
        assert_eq!(e.kind, BsubErrorKind::Transient);
        assert!(!e.not_submitted);
        let e = err("", "", Some(255));
        assert_eq!(e.kind, BsubErrorKind::Transient);
        assert_eq!(e.message, "bsub printed nothing and exited with 255");
    }

    #[test]
    fn permanent_failures() {
        for msg in [
            "missingqueue: No such queue. Job not submitted.",
            "Bad resource requirement syntax. Job not submitted",
            "Error in rusage section. Job not submitted.",
            "Too many processors requested. Job not submitted.",
            "Service class does not exist. Job not submitted.",
            "Something new. Job not submitted.",
        ] {
            let e = err("", msg, Some(255));
            assert_eq!(e.kind, BsubErrorKind::Permanent, "{msg}");
            assert_eq!(e.message, msg);
        }
    }

    #[test]
    fn esub_rejection_keeps_the_esub_lines_and_stays_permanent() {
        let e = err(
            "",
            "Error: LDAP lookup timed out, try later\nRequest aborted by esub. Job not submitted.\n",
            Some(255),
        );
        assert_eq!(e.kind, BsubErrorKind::Permanent);
        assert_eq!(
            e.message,
            "Error: LDAP lookup timed out, try later\nRequest aborted by esub. Job not submitted."
        );
    }
}
