//! The report LSF writes into a job's `-o` file ("Sender: LSF System ..."): how the job ended
//! and what it used.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::Outcome;
use super::values::{parse_duration_secs, parse_mem_mb};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trailer {
    /// From the Subject line ("Job 5989126: <name> in cluster <c> Done").
    pub job_id: Option<String>,
    /// The job name from the Subject line: tells which attempt wrote a report when several
    /// attempts append to one `-o` file.
    pub job_name: Option<String>,
    pub outcome: Outcome,
    pub cpu_seconds: Option<f64>,
    pub max_mem_mb: Option<f64>,
    pub avg_mem_mb: Option<f64>,
    pub run_seconds: Option<f64>,
    /// "Started at ..." / "Terminated at ..." as LSF wrote them.
    pub started: Option<String>,
    pub finished: Option<String>,
}

static SUBJECT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^Subject: Job ([0-9]+(?:\[[0-9]+\])?):(?: <([^<>]*)>)?").expect("static regex")
});
static EXITED_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Exited with exit code (-?[0-9]+)\.?$").expect("static regex"));
static USAGE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*?)\s*$").expect("static regex")
});

fn is_dashes(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 20 && t.bytes().all(|b| b == b'-')
}

/// Which lines are the job script LSF echoes under "Your job looked like:": from the
/// "# LSBATCH: User input" line right after a line of dashes, to the next line of dashes.
fn script_echo(lines: &[&str]) -> Vec<bool> {
    let mut echo = vec![false; lines.len()];
    let mut inside = false;
    for (i, l) in lines.iter().enumerate() {
        if inside {
            inside = !is_dashes(l);
        } else {
            inside = l.trim() == "# LSBATCH: User input" && i > 0 && is_dashes(lines[i - 1]);
        }
        echo[i] = inside;
    }
    echo
}

/// Reads the LAST report in an `-o` file (a file appended to by several attempts holds one per
/// attempt). `None` when there is no "Sender: LSF System" report or its outcome line is not one
/// LSF is known to print. Note that a report left by an earlier attempt is still found while a
/// later attempt runs: give each attempt its own file (or `-oo`).
pub fn parse_trailer(text: &str) -> Option<Trailer> {
    let lines: Vec<&str> = text.lines().collect();
    let echo = script_echo(&lines);
    let start = report_starts(&lines, &echo).next()?;
    report_at(&lines, &echo, start)
}

/// The last report in an `-o` file that job `job_name` wrote: earlier ones may be other
/// attempts', and in the older layout (report first, the job's output after it) a job that
/// prints another job's output file shows that job's report below its own.
pub fn parse_trailer_of(text: &str, job_name: &str) -> Option<Trailer> {
    let lines: Vec<&str> = text.lines().collect();
    let echo = script_echo(&lines);
    report_starts(&lines, &echo)
        .filter_map(|start| report_at(&lines, &echo, start))
        .find(|t| t.job_name.as_deref() == Some(job_name))
}

/// An `-o` file split into what the job printed and LSF's reports in it (each read with
/// [`parse_trailer`]; `None` for one it cannot read). A report runs from its "Sender: LSF System"
/// line (and the dashes above it) to "The output (if any) is above this job summary." and the
/// "PS: Read file <...> for stderr" note after it, or, in the older layout, to "The output (if
/// any) follows:".
pub fn split_reports(text: &str) -> (String, Vec<Option<Trailer>>) {
    let lines: Vec<&str> = text.lines().collect();
    let echo = script_echo(&lines);
    let mut output = String::new();
    let mut reports = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let starts = !echo[i] && lines[i].trim_start().starts_with("Sender: LSF System");
        if !starts {
            output.push_str(lines[i]);
            output.push('\n');
            i += 1;
            continue;
        }
        // The dashes LSF prints above "Sender" belong to the report.
        if output.ends_with('\n') && output.lines().last().is_some_and(is_dashes) {
            let keep = output
                .trim_end_matches('\n')
                .rfind('\n')
                .map_or(0, |p| p + 1);
            output.truncate(keep);
        }
        let mut end = i;
        while end < lines.len() {
            let l = lines[end].trim();
            let last = !echo[end]
                && (l.starts_with("The output (if any) is above this job summary")
                    || l.starts_with("The output (if any) follows"));
            end += 1;
            if last {
                break;
            }
        }
        // "PS:", blank lines and "Read file <...> for stderr output of this job." follow it.
        while end < lines.len() {
            let l = lines[end].trim();
            if l.is_empty()
                || l == "PS:"
                || (l.starts_with("Read file <") && l.contains("for stderr"))
            {
                end += 1;
            } else {
                break;
            }
        }
        reports.push(parse_trailer(&lines[i..end].join("\n")));
        i = end;
    }
    (output, reports)
}

/// Where reports start ("Sender: LSF System"), last first. Lines of the echoed job script do not
/// count: a script line like "Sender: LSF System" or "Resource usage summary:" passed for LSF's
/// and hid the real report (found by fuzzing).
fn report_starts<'a>(lines: &'a [&str], echo: &'a [bool]) -> impl Iterator<Item = usize> + 'a {
    (0..lines.len())
        .rev()
        .filter(|&i| !echo[i] && lines[i].trim_start().starts_with("Sender: LSF System"))
}

/// The report starting at line `start`.
fn report_at(lines: &[&str], echo: &[bool], start: usize) -> Option<Trailer> {
    let report = |at: usize, f: &dyn Fn(&str) -> bool| !echo[at] && f(lines[at]);
    // The first report line of a kind in lines[start..upto], relative to `start`.
    let find = |f: &dyn Fn(&str) -> bool, upto: usize| {
        (start..upto).find(|&i| report(i, f)).map(|i| i - start)
    };
    // Older LSF puts the report first and the job's output after "follows:".
    let end = find(
        &|l| l.trim_start().starts_with("The output (if any) follows"),
        lines.len(),
    )
    .unwrap_or(lines.len() - start);
    let block = &lines[start..start + end];
    let usage_at =
        find(&|l| l.trim() == "Resource usage summary:", start + end).unwrap_or(block.len());
    let script_at = find(&|l| l.trim() == "Your job looked like:", start + end).unwrap_or(usage_at);

    // The outcome sits just above the usage summary, below the echoed job script: search
    // upwards and stop at the script's closing dashes, so a script that prints
    // "Successfully completed." cannot pass for LSF's line.
    let mut outcome = None;
    let mut term: Option<String> = None;
    for (i, l) in block[..usage_at].iter().enumerate().rev() {
        // Also stop inside a script echo that was never closed (a report cut short while LSF
        // was writing it): its lines are the job's (found by fuzzing).
        let l = l.trim();
        if is_dashes(l) || echo[start + i] {
            break;
        }
        if l == "Successfully completed." {
            outcome = Some(Outcome::Done);
            break;
        }
        if let Some(c) = EXITED_RE.captures(l) {
            let code: i32 = c[1].parse().ok()?;
            outcome = Some(Outcome::Exited { code });
            // Keep looking up for the TERM_ reason LSF prints right above it.
            continue;
        }
        if l.starts_with("TERM_") {
            term = Some(l.to_string());
            break;
        }
        if !l.is_empty() && outcome.is_some() {
            break;
        }
    }
    let outcome = match (outcome, term) {
        (Some(Outcome::Exited { code }), Some(reason)) => Outcome::Term {
            reason,
            code: Some(code),
        },
        (None, Some(reason)) => Outcome::Term { reason, code: None },
        (Some(o), _) => o,
        (None, None) => return None,
    };

    let header = &block[..script_at];
    let after = |prefix: &str| {
        header
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|s| s.trim().to_string())
    };
    let subject = header.iter().find_map(|l| SUBJECT_RE.captures(l.trim()));
    let mut t = Trailer {
        job_id: subject.as_ref().map(|c| c[1].to_string()),
        job_name: subject
            .as_ref()
            .and_then(|c| c.get(2))
            .map(|m| m.as_str().to_string()),
        outcome,
        cpu_seconds: None,
        max_mem_mb: None,
        avg_mem_mb: None,
        run_seconds: None,
        started: after("Started at "),
        finished: after("Terminated at "),
    };
    for l in block.get(usage_at..).unwrap_or_default() {
        let Some(c) = USAGE_RE.captures(l) else {
            continue;
        };
        let value = &c[2];
        // A value LSF prints oddly ("-" for Max Swap) is left out rather than guessed.
        match &c[1] {
            "CPU time" => t.cpu_seconds = parse_duration_secs(value).ok().flatten(),
            "Max Memory" => t.max_mem_mb = parse_mem_mb(value).ok().flatten(),
            "Average Memory" => t.avg_mem_mb = parse_mem_mb(value).ok().flatten(),
            "Run time" => t.run_seconds = parse_duration_secs(value).ok().flatten(),
            _ => {}
        }
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcome: &str, cpu: &str) -> String {
        format!(
            "------------------------------------------------------------\n\
             Sender: LSF System <lsfadmin@h1>\n\
             Subject: Job 42: <bsw-1-00001-1> in cluster <c> Done\n\n\
             Started at Sat Mar 28 09:31:50 2020\n\
             Terminated at Sat Mar 28 12:54:45 2020\n\
             Your job looked like:\n\n\
             ------------------------------------------------------------\n\
             # LSBATCH: User input\n\
             echo Successfully completed.\n\
             ------------------------------------------------------------\n\n\
             {outcome}\n\n\
             Resource usage summary:\n\n\
             \x20   CPU time :                                   {cpu} sec.\n\
             \x20   Max Memory :                                 12 MB\n\
             \x20   Max Swap :                                   -\n\
             \x20   Run time :                                   3 sec.\n\n\
             The output (if any) is above this job summary.\n"
        )
    }

    #[test]
    fn last_trailer_wins() {
        let text = format!(
            "out 1\n{}out 2\n{}",
            report("Exited with exit code 3.", "1.00"),
            report("Successfully completed.", "2.50")
        );
        let t = parse_trailer(&text);
        assert_eq!(t.as_ref().map(|t| &t.outcome), Some(&Outcome::Done));
        assert_eq!(t.as_ref().and_then(|t| t.cpu_seconds), Some(2.5));
        assert_eq!(
            t.as_ref().and_then(|t| t.job_id.clone()).as_deref(),
            Some("42")
        );
    }

    #[test]
    fn term_reason_with_exit_code() {
        let text = report(
            "TERM_MEMLIMIT: job killed after reaching LSF memory usage limit.\nExited with exit code 1.",
            "0.5",
        );
        assert_eq!(
            parse_trailer(&text).map(|t| t.outcome),
            Some(Outcome::Term {
                reason: "TERM_MEMLIMIT: job killed after reaching LSF memory usage limit.".into(),
                code: Some(1),
            })
        );
    }

    /// Found by fuzzing: report lines inside the echoed script were taken for LSF's.
    #[test]
    fn script_lines_are_not_report_lines() {
        let script = "Sender: LSF System <fake>\nSubject: Job 9: <fake> in cluster <c> Exited\n\
                      Your job looked like:\nExited with exit code 9.\nResource usage summary:\n\
                      \x20   CPU time :  999 sec.\nThe output (if any) follows:\n";
        let text = report("Successfully completed.", "2.50").replace(
            "# LSBATCH: User input\n",
            &format!("# LSBATCH: User input\n{script}"),
        );
        let t = parse_trailer(&text);
        assert_eq!(t.as_ref().map(|t| &t.outcome), Some(&Outcome::Done));
        assert_eq!(t.as_ref().and_then(|t| t.job_id.as_deref()), Some("42"));
        assert_eq!(t.as_ref().and_then(|t| t.cpu_seconds), Some(2.5));
        assert_eq!(
            parse_trailer(&text.replace("Successfully completed.\n\n", "")),
            None
        );
        // Cut short inside the script: no outcome yet.
        let cut = text.find("    CPU time :  999").expect("fake line");
        assert_eq!(parse_trailer(&text[..cut]), None);
    }

    #[test]
    fn script_text_is_not_an_outcome() {
        let text = report("Exited with signal termination: Killed.", "0.5");
        assert_eq!(parse_trailer(&text), None);
    }

    #[test]
    fn a_jobs_own_report_is_found_below_another_jobs_in_the_older_layout() {
        // Older LSF: the report first, then the job's output; this job printed another job's
        // output file, report included.
        let old_layout = |name: &str, outcome: &str| {
            report(outcome, "1.00")
                .replace("bsw-1-00001-1", name)
                .replace(
                    "The output (if any) is above this job summary.\n",
                    "The output (if any) follows:\n\n",
                )
        };
        let text = format!(
            "{}step 2 read:\n{}done\n",
            old_layout("bsw-1-00002-1", "Successfully completed."),
            old_layout("bsw-1-00001-1", "Exited with exit code 3.")
        );
        let mine = parse_trailer_of(&text, "bsw-1-00002-1");
        assert_eq!(mine.map(|t| t.outcome), Some(Outcome::Done));
        let other = parse_trailer_of(&text, "bsw-1-00001-1");
        assert_eq!(other.map(|t| t.outcome), Some(Outcome::Exited { code: 3 }));
        assert_eq!(parse_trailer_of(&text, "bsw-1-00003-1"), None);
        // Without the name, the last report is all there is to go on.
        assert_eq!(
            parse_trailer(&text).and_then(|t| t.job_name).as_deref(),
            Some("bsw-1-00001-1")
        );
    }

    #[test]
    fn reports_are_split_from_the_jobs_output() {
        let text = format!(
            "out 1\n{}\nPS:\n\nRead file </x/stderr.txt> for stderr output of this job.\n\nout 2\n{}",
            report("Exited with exit code 3.", "1.00"),
            report("Successfully completed.", "2.50")
        );
        let (output, reports) = split_reports(&text);
        assert_eq!(output, "out 1\nout 2\n");
        let outcomes: Vec<Option<Outcome>> =
            reports.into_iter().map(|r| r.map(|t| t.outcome)).collect();
        assert_eq!(
            outcomes,
            [Some(Outcome::Exited { code: 3 }), Some(Outcome::Done)]
        );
        // The older layout: report first, output after.
        let old = report("Successfully completed.", "1.00").replace(
            "The output (if any) is above this job summary.\n",
            "The output (if any) follows:\n\nhello\n",
        );
        let (output, reports) = split_reports(&old);
        assert_eq!(output, "hello\n");
        assert_eq!(reports.len(), 1);
        // No report: the text as it is.
        assert_eq!(split_reports("a\nb\n"), ("a\nb\n".to_string(), vec![]));
    }

    #[test]
    fn no_report_no_trailer() {
        assert_eq!(parse_trailer("Successfully completed.\n"), None);
        assert_eq!(parse_trailer(""), None);
    }
}
