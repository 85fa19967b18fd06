//! Long-format job histories: `bhist -l`, and `bjobs -l`/`-UF` and `bacct -l`, which share the
//! layout ("Job <N>, ..." header, timestamped events, lines wrapped at 80 columns).
//! Used to learn how a job ended once bjobs has forgotten it.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::stat::Stat;
use super::values::{add_host, parse_mem_mb, seconds_between};
use super::{Outcome, ParseError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistRecord {
    /// `"123"` or `"123[4]"`.
    pub job_id: String,
    pub job_name: Option<String>,
    pub user: Option<String>,
    pub queue: Option<String>,
    /// The `Status <...>` of bjobs -l / bacct -l, else DONE/EXIT once an end event is seen.
    pub stat: Option<Stat>,
    /// How the job ended, when an end event says so.
    pub outcome: Option<Outcome>,
    pub exec_hosts: Vec<String>,
    /// Event times as printed ("Tue Jul 24 10:03:15", with a year on some clusters).
    pub submitted: Option<String>,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub cpu_seconds: Option<f64>,
    pub max_mem_mb: Option<f64>,
    pub avg_mem_mb: Option<f64>,
    /// Seconds in RUN from the "Summary of time in seconds spent in various states" table.
    pub run_seconds: Option<f64>,
    /// The job's own run limit (`bsub -W`), from the `RUNLIMIT` heading and the "480.0 min of
    /// hostA" under it; a queue's limit is not shown here.
    pub run_limit_seconds: Option<f64>,
}

/// What OpenLava's job starter exits with when the run limit's SIGUSR2 kills the job script
/// (128 + 12). OpenLava prints no `TERM_RUNLIMIT` line anywhere.
pub const OPENLAVA_RUNLIMIT_EXIT: i32 = 140;

/// The reason given for a run-limit kill that OpenLava did not name but its record proves.
pub const INFERRED_RUNLIMIT: &str =
    "TERM_RUNLIMIT: job killed after reaching its run limit (OpenLava: SIGUSR2, exit 140)";

static HEADER_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Job (?:Id )?<([^<>\s]+)>,").expect("static regex"));
static EVENT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Z][a-z]{2} [A-Z][a-z]{2} +[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?: [0-9]{4})?): (.*)$")
        .expect("static regex")
});
// The space after a comma is lost when LSF wrapped the line right there.
static FIELD_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|,\s*)(Job Name|User|Status|Queue) <([^<>]*)>").expect("static regex")
});
static COMMAND_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r",\s*Command\s*<").expect("static regex"));
static QUEUE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[Tt]o Queue <([^<>]+)>").expect("static regex"));
static HOSTS_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:Started|Dispatched)[^<]*((?:<[^<>]+>\s*)+)").expect("static regex")
});
static CPU_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"The CPU time used is ([0-9]+(?:\.[0-9]+)?) seconds").expect("static regex")
});
static EXITED_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Exited with exit code (-?[0-9]+)").expect("static regex"));
static COMPLETED_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^Completed <(done|exit)>(?:[.;]\s*(.*))?$").expect("static regex")
});
static MEM_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"MAX MEM: ([^;]+);\s*AVG MEM: ([^;]+)").expect("static regex"));
// "RUNLIMIT" among the limit headings, and each limit's value under it ("480.0 min of a6122";
// PROCLIMIT, always last, is a bare number).
static LIMITS_HEAD_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:(?:CPULIMIT|RUNLIMIT|PROCLIMIT)\s*)+$").expect("static regex")
});
static LIMIT_VALUE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([0-9]+(?:\.[0-9]+)?) min(?: of [^\s]+)?").expect("static regex")
});
static STATES_HEAD_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*PEND\s+PSUSP\s+RUN\s+USUSP\s+SSUSP\s+UNKWN\s+TOTAL\s*$").expect("static regex")
});

/// Joins the 80-column wrapping back into logical lines. Continuations are indented to the
/// width of an event's time stamp (21 columns, 26 when the cluster shows years) and split
/// words anywhere ("Comma" / "nd <sleep 5>"), so exactly that indent is removed.
fn unwrap_lines(text: &str) -> Vec<(usize, String)> {
    let indent = text
        .lines()
        .find_map(|l| EVENT_RE.captures(l).map(|c| c[1].len() + 2))
        .unwrap_or(21);
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lead = line.len() - line.trim_start_matches(' ').len();
        let continues = lead >= 20 && out.last().is_some_and(|(_, prev)| !prev.trim().is_empty());
        match out.last_mut() {
            Some((_, prev)) if continues => prev.push_str(&line[lead.min(indent)..]),
            _ => out.push((i + 1, line.to_string())),
        }
    }
    out
}

fn new_record(job_id: &str, header: &str) -> Result<HistRecord, (String, String)> {
    // Fields after "Command <" belong to the command text, which may contain anything.
    let head = COMMAND_RE.split(header).next().unwrap_or(header);
    let mut rec = HistRecord {
        job_id: job_id.to_string(),
        job_name: None,
        user: None,
        queue: None,
        stat: None,
        outcome: None,
        exec_hosts: Vec::new(),
        submitted: None,
        started: None,
        finished: None,
        cpu_seconds: None,
        max_mem_mb: None,
        avg_mem_mb: None,
        run_seconds: None,
        run_limit_seconds: None,
    };
    for c in FIELD_RE.captures_iter(head) {
        let v = c[2].to_string();
        match &c[1] {
            "Job Name" => rec.job_name = Some(v),
            "User" => rec.user = Some(v),
            "Queue" => rec.queue = Some(v),
            _ => {
                rec.stat = Some(
                    v.parse()
                        .map_err(|_| (v, "a known job state in Status <...>".to_string()))?,
                )
            }
        }
    }
    Ok(rec)
}

fn end_event(rec: &mut HistRecord, time: &str, stat: Stat) {
    rec.stat = Some(stat);
    rec.finished.get_or_insert_with(|| time.to_string());
}

fn event(rec: &mut HistRecord, time: &str, text: &str) {
    if let Some(c) = CPU_RE.captures(text) {
        rec.cpu_seconds = c[1].parse().ok();
    }
    if text.starts_with("Submitted from host") {
        rec.submitted.get_or_insert_with(|| time.to_string());
        if rec.queue.is_none() {
            rec.queue = QUEUE_RE.captures(text).map(|c| c[1].to_string());
        }
    } else if text.starts_with("Dispatched")
        || text.starts_with("Started")
        || text.starts_with("Starting")
    {
        rec.started.get_or_insert_with(|| time.to_string());
        if let Some(c) = HOSTS_RE.captures(text) {
            for h in c[1].split(['<', '>']) {
                for host in super::values::exec_hosts::<String>(h) {
                    add_host(&mut rec.exec_hosts, &host);
                }
            }
        }
    } else if text.starts_with("Done successfully") {
        rec.outcome = Some(Outcome::Done);
        end_event(rec, time, Stat::Done);
    } else if let Some(c) = EXITED_RE.captures(text) {
        rec.outcome = c[1].parse().ok().map(|code| Outcome::Exited { code });
        end_event(rec, time, Stat::Exit);
    } else if text.starts_with("Exited") {
        // Another way of exiting ("Exited by signal ..."): finished, but how is not stated.
        end_event(rec, time, Stat::Exit);
    } else if let Some(c) = COMPLETED_RE.captures(text) {
        let reason = c
            .get(2)
            .map(|m| m.as_str().trim())
            .filter(|r| r.starts_with("TERM_"));
        if &c[1] == "done" {
            rec.outcome.get_or_insert(Outcome::Done);
            end_event(rec, time, Stat::Done);
        } else {
            if let Some(reason) = reason {
                let code = match rec.outcome {
                    Some(Outcome::Exited { code }) => Some(code),
                    _ => None,
                };
                rec.outcome = Some(Outcome::Term {
                    reason: reason.to_string(),
                    code,
                });
            }
            end_event(rec, time, Stat::Exit);
        }
    }
}

/// Reads `bhist -l` (and `bjobs -l`/`-UF`, `bacct -l`) output into one record per job or
/// array element. An unknown `Status <...>` is an error; everything not understood is skipped.
pub fn parse_bhist_long(stdout: &str) -> Result<Vec<HistRecord>, ParseError> {
    let lines = unwrap_lines(stdout);
    let mut out: Vec<HistRecord> = Vec::new();
    let mut states_head = false;
    // Which "N min" under a limits heading is the run limit.
    let mut run_limit_at: Option<usize> = None;
    for (lineno, line) in &lines {
        if let Some(c) = HEADER_RE.captures(line) {
            if let Some(done) = out.last_mut() {
                infer_run_limit_kill(done);
            }
            let rec = new_record(&c[1], line).map_err(|(found, expected)| {
                ParseError::new(Some(*lineno), &format!("{line} ({found:?})"), expected)
            })?;
            out.push(rec);
            states_head = false;
            run_limit_at = None;
            continue;
        }
        let Some(rec) = out.last_mut() else { continue };
        if let Some(at) = run_limit_at.take() {
            rec.run_limit_seconds = LIMIT_VALUE_RE
                .captures_iter(line)
                .nth(at)
                .and_then(|c| c[1].parse::<f64>().ok())
                .map(|min| min * 60.0);
        }
        if states_head {
            states_head = false;
            // PEND PSUSP RUN ...: the third number is the time spent running.
            rec.run_seconds = line.split_whitespace().nth(2).and_then(|v| v.parse().ok());
        } else if STATES_HEAD_RE.is_match(line) {
            states_head = true;
        } else if LIMITS_HEAD_RE.is_match(line) {
            let heads: Vec<&str> = line.split_whitespace().collect();
            run_limit_at = heads.iter().position(|h| *h == "RUNLIMIT");
        } else if let Some(c) = EVENT_RE.captures(line) {
            event(rec, &c[1], &c[2]);
        } else if let Some(c) = MEM_RE.captures(line) {
            rec.max_mem_mb = parse_mem_mb(&c[1]).ok().flatten();
            rec.avg_mem_mb = parse_mem_mb(&c[2]).ok().flatten();
        }
    }
    if let Some(done) = out.last_mut() {
        infer_run_limit_kill(done);
    }
    Ok(out)
}

/// OpenLava ends a job at its run limit with SIGUSR2, so the job exits 140 and no `TERM_` line
/// says why. Exit 140 alone proves nothing (a program may exit 140, and a job that traps the
/// signal may exit with anything later): it is read as a run-limit kill only when the record
/// also shows the job's run limit and a run at least that long (RUN seconds, or the time from
/// its start to its end event).
fn infer_run_limit_kill(rec: &mut HistRecord) {
    let Some(Outcome::Exited { code }) = rec.outcome else {
        return;
    };
    let Some(limit) = rec.run_limit_seconds else {
        return;
    };
    let ran = rec.run_seconds.or_else(|| {
        let (s, f) = (rec.started.as_deref()?, rec.finished.as_deref()?);
        seconds_between(s, f).map(|s| s as f64)
    });
    if code == OPENLAVA_RUNLIMIT_EXIT && ran.is_some_and(|r| r >= limit) {
        rec.outcome = Some(Outcome::Term {
            reason: INFERRED_RUNLIMIT.to_string(),
            code: Some(code),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_exit_line_and_term_reason() {
        let text = "\nJob <132286>, User <u>, Project <default>, Status <EXIT>, Queue <pub.1h>,\n\
                    \x20                    Command <./x.sh>\n\
                    Tue Jul 24 10:26:47: Started on <a3010>, Execution Home </h>;\n\
                    Tue Jul 24 10:26:53: Exited with exit code 42. The CPU time used is 0.0 seconds\n\
                    \x20                    .\n\
                    Tue Jul 24 10:26:53: Completed <exit>; TERM_OWNER: job killed by owner.\n";
        let r = parse_bhist_long(text).unwrap_or_default();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].exec_hosts, ["a3010"]);
        assert_eq!(
            r[0].outcome,
            Some(Outcome::Term {
                reason: "TERM_OWNER: job killed by owner.".into(),
                code: Some(42)
            })
        );
        assert_eq!(r[0].stat, Some(Stat::Exit));
    }

    #[test]
    fn unknown_status_is_an_error() {
        let e = parse_bhist_long("Job <1>, User <u>, Status <POST_DONE>, Queue <q>, Command <x>\n");
        assert_eq!(e.map_err(|e| e.line), Err(Some(1)));
    }

    #[test]
    fn command_text_cannot_fake_fields() {
        let r = parse_bhist_long("Job <1>, User <u>, Command <echo , Status <DONE>>\n")
            .unwrap_or_default();
        assert_eq!(r[0].stat, None);
    }
}
