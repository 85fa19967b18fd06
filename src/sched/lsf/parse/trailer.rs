//! The report LSF writes into a job's `-o` file ("Sender: LSF System ...", "Sender: OpenLava
//! System ..."): how the job ended and what it used, and which lines of the file are the job's
//! own output.
//!
//! Two layouts exist, and one file may hold several reports (each attempt appends):
//! - LSF 10 appends the report after the job's output: a line of 60 dashes, the report, "The
//!   output (if any) is above this job summary." and, with `-e`, a "PS:" naming the stderr file;
//! - OpenLava (and older LSF) puts the report before the output: the report, "The output (if
//!   any) follows:", a blank line, the output, and with `-e` a "PS:" block after the output.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::Outcome;
use super::values::{parse_duration_secs, parse_mem_mb, report_time_seconds};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trailer {
    /// From the Subject line ("Job 5989126: <name> in cluster <c> Done").
    pub job_id: Option<String>,
    /// The job name from the Subject line: tells which attempt wrote a report when several
    /// attempts append to one `-o` file. OpenLava names an array element by its array
    /// (`arr[1-3]`, with `job_id` `108[2]`).
    pub job_name: Option<String>,
    pub outcome: Outcome,
    pub cpu_seconds: Option<f64>,
    pub max_mem_mb: Option<f64>,
    pub avg_mem_mb: Option<f64>,
    /// LSF's "Run time" line; without one (OpenLava), the seconds from "Started at" to
    /// "Terminated at" or, without that too, to "Results reported at".
    pub run_seconds: Option<f64>,
    /// "Started at ..." / "Terminated at ..." as LSF wrote them; without a "Terminated at" line
    /// (OpenLava), `finished` is the "Results reported at" time.
    pub started: Option<String>,
    pub finished: Option<String>,
}

/// One report in an output file and the job output that belongs to it: the attempt the report
/// describes (LSF 10: the output above it; OpenLava: the output below it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// The report, read as [`parse_trailer`] reads it; `None` for one it cannot read.
    pub report: Option<Trailer>,
    /// What the job printed, without any report line or echoed job script.
    pub output: String,
}

/// An `-o` file taken apart by [`split_sections`].
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Sections {
    /// The reports in file order, each with its attempt's output.
    pub sections: Vec<Section>,
    /// Output no report claims: in the LSF 10 layout, what an attempt that has not ended (or
    /// ended without a report) printed after the last report; in the OpenLava layout, text
    /// before the first report.
    pub unreported: String,
}

static SUBJECT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^Subject: Job ([0-9]+(?:\[[0-9]+\])?):(?: <([^<>]*)>)?").expect("static regex")
});
static EXITED_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Exited with exit code (-?[0-9]+)\.?$").expect("static regex"));
static USAGE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*?)\s*$").expect("static regex")
});

const ABOVE: &str = "The output (if any) is above this job summary";
const FOLLOWS: &str = "The output (if any) follows";

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

/// A text split into lines once, with the echoed job scripts marked and the report starts
/// found: a "Sender: ..." line (whoever the sender is: `LSF System`, `OpenLava System`, a
/// site's own name) directly followed by LSF's "Subject: Job N: ..." line. Lines of an echoed
/// job script never count: a script line like "Sender: LSF System" or "Resource usage summary:"
/// passed for LSF's and hid the real report (found by fuzzing).
struct Doc<'a> {
    lines: Vec<&'a str>,
    echo: Vec<bool>,
    starts: Vec<usize>,
}

impl<'a> Doc<'a> {
    fn new(text: &'a str) -> Doc<'a> {
        let lines: Vec<&str> = text.lines().collect();
        let echo = script_echo(&lines);
        let starts = (0..lines.len())
            .filter(|&i| {
                !echo[i]
                    && lines[i].trim_start().starts_with("Sender: ")
                    && lines
                        .get(i + 1)
                        .is_some_and(|s| !echo[i + 1] && SUBJECT_RE.is_match(s.trim()))
            })
            .collect();
        Doc {
            lines,
            echo,
            starts,
        }
    }

    /// The line after the report starting at `start` can end, exclusive: the next report's start
    /// or the end of the text.
    fn limit(&self, start: usize) -> usize {
        self.starts
            .iter()
            .copied()
            .find(|&s| s > start)
            .unwrap_or(self.lines.len())
    }

    /// The report's closing line ("... is above this job summary." / "... follows:") and
    /// whether the output comes after it, if the report has one before `limit`.
    fn closing(&self, start: usize) -> Option<(usize, bool)> {
        (start..self.limit(start)).find_map(|i| {
            let l = self.lines[i].trim_start();
            if self.echo[i] {
                None
            } else if l.starts_with(ABOVE) {
                Some((i, false))
            } else if l.starts_with(FOLLOWS) {
                Some((i, true))
            } else {
                None
            }
        })
    }
}

/// The "PS:" notes LSF and OpenLava add to a report (stderr and stdout files, files it could
/// not open or copy), and nothing a job would print by chance.
fn is_ps_note(line: &str) -> bool {
    let l = line.trim();
    (l.starts_with("Read file <") && l.ends_with("of this job."))
        || l.starts_with("Fail to open output file ")
        || l.starts_with("Fail to open stderr file ")
        || l.starts_with("Output is stored in this mail.")
        || l.starts_with("The stderr output is included in this report.")
        || l.starts_with("Unable to read output data from the stdout buffer file")
        || l.starts_with("Unable to read stderr data from stderr buffer file")
        || (l.starts_with("Copy file <") && l.contains("on submission host"))
        || (l.starts_with("Unable to copy file <") && l.contains("on submission host"))
}

/// Reads the LAST report in an `-o` file (a file appended to by several attempts holds one per
/// attempt). `None` when there is no report or its outcome line is not one LSF is known to
/// print. Note that a report left by an earlier attempt is still found while a later attempt
/// runs: use [`parse_trailer_of`] with the attempt's job name.
pub fn parse_trailer(text: &str) -> Option<Trailer> {
    let doc = Doc::new(text);
    let start = *doc.starts.last()?;
    report_at(&doc, start)
}

/// The last report in an `-o` file that job `job_name` wrote: earlier ones may be other
/// attempts', and in the OpenLava layout (report first, the job's output after it) a job that
/// prints another job's output file shows that job's report below its own. An array element
/// `name[3]` matches OpenLava's report of element 3 too, which names the whole array
/// (`Subject: Job 108[3]: <name[1-10]> ...`).
pub fn parse_trailer_of(text: &str, job_name: &str) -> Option<Trailer> {
    let doc = Doc::new(text);
    doc.starts
        .iter()
        .rev()
        .filter_map(|&start| report_at(&doc, start))
        .find(|t| names_match(t, job_name))
}

/// Whether report `t` is the one job `job_name` wrote.
fn names_match(t: &Trailer, job_name: &str) -> bool {
    let Some(name) = t.job_name.as_deref() else {
        return false;
    };
    if name == job_name {
        return true;
    }
    // An element `base[i]` reported under its array's name `base[spec]` (or `base[spec]%k`).
    let (Some((base, index)), Some(id)) = (element_of(job_name), t.job_id.as_deref()) else {
        return false;
    };
    id.strip_suffix(']')
        .and_then(|s| s.rsplit_once('['))
        .is_some_and(|(_, i)| i == index)
        && name
            .strip_prefix(base)
            .is_some_and(|spec| spec.starts_with('[') && spec.contains(']'))
}

/// `("name", "3")` for `name[3]`.
fn element_of(job_name: &str) -> Option<(&str, &str)> {
    let (base, index) = job_name.strip_suffix(']')?.rsplit_once('[')?;
    (!index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())).then_some((base, index))
}

/// An `-o` file split into what the job printed and LSF's reports in it (each read with
/// [`parse_trailer`]; `None` for one it cannot read), in file order. Shorthand for
/// [`split_sections`] with every attempt's output (and the unreported rest) together.
pub fn split_reports(text: &str) -> (String, Vec<Option<Trailer>>) {
    let doc = Doc::new(text);
    let (spans, owner) = layout(&doc);
    let mut output = String::new();
    for (i, line) in doc.lines.iter().enumerate() {
        if !matches!(owner[i], Owner::Report) {
            output.push_str(line);
            output.push('\n');
        }
    }
    let reports = spans.iter().map(|s| report_at(&doc, s.sender)).collect();
    (output, reports)
}

/// Every report in an `-o` file with the output of the attempt it describes, and the output no
/// report claims. The output never holds a report line or the job script LSF echoes in one.
pub fn split_sections(text: &str) -> Sections {
    let doc = Doc::new(text);
    let (spans, owner) = layout(&doc);
    let mut sections: Vec<Section> = spans
        .iter()
        .map(|s| Section {
            report: report_at(&doc, s.sender),
            output: String::new(),
        })
        .collect();
    let mut unreported = String::new();
    for (i, line) in doc.lines.iter().enumerate() {
        let out = match owner[i] {
            Owner::Report => continue,
            Owner::Section(k) => &mut sections[k].output,
            Owner::Nobody => &mut unreported,
        };
        out.push_str(line);
        out.push('\n');
    }
    Sections {
        sections,
        unreported,
    }
}

/// What job `job_name` printed in the attempt its last report describes (see
/// [`parse_trailer_of`] for which report that is). `None` when no report is that job's.
pub fn output_of(text: &str, job_name: &str) -> Option<String> {
    split_sections(text)
        .sections
        .into_iter()
        .rev()
        .find(|s| s.report.as_ref().is_some_and(|t| names_match(t, job_name)))
        .map(|s| s.output)
}

/// Where one report lies in the lines.
struct Span {
    /// Its "Sender:" line.
    sender: usize,
    /// Its first line (the dashes LSF 10 prints above "Sender:") and one past its last line
    /// (the closing line, and the blank line or "PS:" notes after it).
    first: usize,
    end: usize,
    /// `Some(true)` when the output follows the report (OpenLava), `Some(false)` when it is
    /// above it (LSF 10), `None` when the report was cut short before its closing line.
    follows: Option<bool>,
}

#[derive(Clone, Copy)]
enum Owner {
    Report,
    Section(usize),
    Nobody,
}

/// The reports' spans, and for every line whether it is a report's, which attempt's output
/// it is, or nobody's.
fn layout(doc: &Doc<'_>) -> (Vec<Span>, Vec<Owner>) {
    let lines = &doc.lines;
    let blank = |i: usize| lines[i].trim().is_empty();
    let mut spans: Vec<Span> = Vec::new();
    for &sender in &doc.starts {
        let prev_end = spans.last().map_or(0, |s| s.end);
        // The dashes LSF prints above "Sender" belong to the report.
        let first = if sender > prev_end && is_dashes(lines[sender - 1]) && !doc.echo[sender - 1] {
            sender - 1
        } else {
            sender
        };
        let limit = doc.limit(sender);
        let (end, follows) = match doc.closing(sender) {
            Some((at, true)) => {
                // "follows:" and the one blank line after it.
                let end = if at + 1 < limit && blank(at + 1) {
                    at + 2
                } else {
                    at + 1
                };
                (end, Some(true))
            }
            Some((at, false)) => {
                // Blank lines, "PS:" and its notes.
                let mut end = at + 1;
                while end < limit
                    && (blank(end) || lines[end].trim() == "PS:" || is_ps_note(lines[end]))
                {
                    end += 1;
                }
                (end, Some(false))
            }
            None => (limit, None),
        };
        spans.push(Span {
            sender,
            first,
            end,
            follows,
        });
    }
    let mut owner = vec![Owner::Nobody; lines.len()];
    for s in &spans {
        owner[s.first..s.end].fill(Owner::Report);
    }
    // The output between two reports (or before the first, after the last) is the attempt of
    // the report above it when that report's output follows it, else of the report below it
    // when that one's output is above it, else nobody's.
    for gap in 0..=spans.len() {
        let from = if gap == 0 { 0 } else { spans[gap - 1].end };
        let mut to = spans.get(gap).map_or(lines.len(), |s| s.first);
        let above = gap
            .checked_sub(1)
            .filter(|&k| spans[k].follows == Some(true));
        let below = spans
            .get(gap)
            .filter(|s| s.follows == Some(false))
            .map(|_| gap);
        if let Some(k) = above {
            // OpenLava's "PS:" block after the output is the report's.
            if let Some(ps) = trailing_ps(lines, from, to) {
                owner[ps..to].fill(Owner::Report);
                to = ps;
            }
            owner[from..to].fill(Owner::Section(k));
        } else if let Some(k) = below {
            owner[from..to].fill(Owner::Section(k));
        }
    }
    (spans, owner)
}

/// Where the "PS:" block ending `lines[from..to]` begins (its leading blank lines included):
/// blank lines, "PS:", blank lines, one or more notes, blank lines.
fn trailing_ps(lines: &[&str], from: usize, to: usize) -> Option<usize> {
    let blank = |i: usize| lines[i].trim().is_empty();
    let mut i = to;
    while i > from && blank(i - 1) {
        i -= 1;
    }
    let notes_end = i;
    while i > from && is_ps_note(lines[i - 1]) {
        i -= 1;
    }
    if i == notes_end {
        return None;
    }
    while i > from && blank(i - 1) {
        i -= 1;
    }
    if i == from || lines[i - 1].trim() != "PS:" {
        return None;
    }
    i -= 1;
    while i > from && blank(i - 1) {
        i -= 1;
    }
    Some(i)
}

/// The report whose "Sender:" line is `start`, up to its closing line or the next report.
fn report_at(doc: &Doc<'_>, start: usize) -> Option<Trailer> {
    let (lines, echo) = (&doc.lines, &doc.echo);
    let end = doc
        .closing(start)
        .map_or_else(|| doc.limit(start), |(at, _)| at + 1);
    let block = &lines[start..end];
    // The first report line of a kind, relative to `start`.
    let find = |f: &dyn Fn(&str) -> bool| {
        (start..end)
            .find(|&i| !echo[i] && f(lines[i]))
            .map(|i| i - start)
    };
    let usage_at = find(&|l| l.trim() == "Resource usage summary:").unwrap_or(block.len());
    let script_at = find(&|l| l.trim() == "Your job looked like:").unwrap_or(usage_at);

    let outcome = report_outcome(&block[..usage_at], &echo[start..start + usage_at])?;

    let header = &block[..script_at];
    let after = |prefix: &str| {
        header
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|s| s.trim().to_string())
    };
    let subject = header.iter().find_map(|l| SUBJECT_RE.captures(l.trim()));
    let started = after("Started at ");
    let finished = after("Terminated at ").or_else(|| after("Results reported at "));
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
        started,
        finished,
    };
    read_usage(&mut t, &block[usage_at..]);
    Some(t)
}

/// How the job ended, from the report lines above its usage summary (`echo`: which of them
/// are the echoed job script); `None` when no outcome line is there.
fn report_outcome(above: &[&str], echo: &[bool]) -> Option<Outcome> {
    // The outcome sits just above the usage summary, below the echoed job script: search
    // upwards and stop at the script's closing dashes, so a script that prints
    // "Successfully completed." cannot pass for LSF's line.
    let mut outcome = None;
    let mut term: Option<String> = None;
    for (i, l) in above.iter().enumerate().rev() {
        // Also stop inside a script echo that was never closed (a report cut short while LSF
        // was writing it): its lines are the job's (found by fuzzing).
        let l = l.trim();
        if is_dashes(l) || echo[i] {
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
    Some(match (outcome, term) {
        (Some(Outcome::Exited { code }), Some(reason)) => Outcome::Term {
            reason,
            code: Some(code),
        },
        (None, Some(reason)) => Outcome::Term { reason, code: None },
        (Some(o), _) => o,
        (None, None) => return None,
    })
}

/// The usage figures of a report's "Resource usage summary", and the run time from the start
/// and end times when LSF prints none.
fn read_usage(t: &mut Trailer, usage: &[&str]) {
    for l in usage {
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
    if t.run_seconds.is_none() {
        // Both times are the cluster's local time: a change to or from summer time in between
        // is not seen (the difference is then off by that hour).
        let secs = |s: &Option<String>| s.as_deref().and_then(report_time_seconds);
        if let (Some(a), Some(b)) = (secs(&t.started), secs(&t.finished))
            && b >= a
        {
            t.run_seconds = Some((b - a) as f64);
        }
    }
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

    /// The OpenLava layout: no dashes above Sender, the output after "follows:".
    fn openlava(name: &str, outcome: &str, output: &str) -> String {
        format!(
            "Sender: OpenLava System <openlava@vm>\n\
             Subject: Job 7: <{name}> Exited\n\n\
             Started at Tue Dec  1 07:08:31 2026\n\
             Results reported at Tue Dec  1 07:08:35 2026\n\n\
             Your job looked like:\n\n\
             ------------------------------------------------------------\n\
             # LSBATCH: User input\n\
             echo hi\n\
             ------------------------------------------------------------\n\n\
             {outcome}\n\n\
             Resource usage summary:\n\n\
             \x20   CPU time   :      0.01 sec.\n\
             \x20   Max Memory :         7 MB\n\n\
             The output (if any) follows:\n\n\
             {output}"
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

    /// An earlier report is read up to its own end: the usage lines of a later report (or of
    /// the output between them) are not its own.
    #[test]
    fn an_earlier_report_ends_where_it_ends() {
        let text = format!(
            "{}CPU time : 77 sec.\n{}",
            report("Exited with exit code 3.", "1.00"),
            report("Successfully completed.", "2.50").replace("00001-1", "00001-2")
        );
        let first = parse_trailer_of(&text, "bsw-1-00001-1");
        assert_eq!(
            first.as_ref().map(|t| &t.outcome),
            Some(&Outcome::Exited { code: 3 })
        );
        assert_eq!(first.and_then(|t| t.cpu_seconds), Some(1.0));
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

    /// A "Sender:" line alone (a job that prints mail headers) starts no report: LSF's Subject
    /// line must follow it.
    #[test]
    fn a_sender_line_alone_is_no_report() {
        let text = report("Successfully completed.", "1.00")
            .replace("Subject: Job 42: <bsw-1-00001-1> in cluster <c> Done\n", "");
        assert_eq!(parse_trailer(&text), None);
        assert_eq!(split_reports(&text).1, Vec::<Option<Trailer>>::new());
    }

    #[test]
    fn any_sender_and_results_reported_at_for_the_times() {
        let text = openlava("x", "Exited with exit code 130.", "short job\n");
        let t = parse_trailer(&text.replace("OpenLava System", "Acme HPC Batch"));
        assert_eq!(
            t,
            Some(Trailer {
                job_id: Some("7".into()),
                job_name: Some("x".into()),
                outcome: Outcome::Exited { code: 130 },
                cpu_seconds: Some(0.01),
                max_mem_mb: Some(7.0),
                avg_mem_mb: None,
                run_seconds: Some(4.0),
                started: Some("Tue Dec  1 07:08:31 2026".into()),
                finished: Some("Tue Dec  1 07:08:35 2026".into()),
            })
        );
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
    fn array_elements_match_openlavas_report_of_their_array() {
        let text = openlava("arr[1-3]", "Exited with exit code 3.", "element 2\n")
            .replace("Job 7:", "Job 108[2]:");
        let t = parse_trailer_of(&text, "arr[2]");
        assert_eq!(t.and_then(|t| t.job_id).as_deref(), Some("108[2]"));
        assert_eq!(parse_trailer_of(&text, "arr[3]"), None);
        assert_eq!(parse_trailer_of(&text, "ar[2]"), None);
        assert_eq!(
            parse_trailer_of(&text.replace("arr[1-3]", "arr[1-3]%2"), "arr[2]").map(|t| t.outcome),
            Some(Outcome::Exited { code: 3 })
        );
        assert_eq!(output_of(&text, "arr[2]").as_deref(), Some("element 2\n"));
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
        let s = split_sections(&text);
        let outputs: Vec<&str> = s.sections.iter().map(|s| s.output.as_str()).collect();
        assert_eq!(outputs, ["out 1\n", "out 2\n"]);
        assert_eq!(s.unreported, "");
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
        assert_eq!(split_sections("a\nb\n").unreported, "a\nb\n");
    }

    #[test]
    fn openlava_attempts_each_own_the_output_below_their_report() {
        let ps = "\n\nPS:\n\nRead file </o/stderr.txt> for stderr output of this job.\n\n";
        let text = format!(
            "{}{ps}{}{ps}",
            openlava(
                "bsw-1-00001-1",
                "Exited with exit code 7.",
                "try 1\n\nPS:\nnot LSF's\n"
            ),
            openlava("bsw-1-00001-2", "Successfully completed.", "try 2\n")
        );
        let s = split_sections(&text);
        let outputs: Vec<&str> = s.sections.iter().map(|s| s.output.as_str()).collect();
        assert_eq!(outputs, ["try 1\n\nPS:\nnot LSF's\n", "try 2\n"]);
        assert_eq!(s.unreported, "");
        assert_eq!(
            output_of(&text, "bsw-1-00001-1").as_deref(),
            Some(outputs[0])
        );
        assert_eq!(output_of(&text, "bsw-1-00001-3"), None);
        // LSF 10: the output of an attempt that has no report yet is nobody's.
        let lsf = format!(
            "try 1\n{}try 2 running\n",
            report("Exited with exit code 3.", "1")
        );
        let s = split_sections(&lsf);
        assert_eq!(s.sections[0].output, "try 1\n");
        assert_eq!(s.unreported, "try 2 running\n");
    }

    #[test]
    fn no_report_no_trailer() {
        assert_eq!(parse_trailer("Successfully completed.\n"), None);
        assert_eq!(parse_trailer(""), None);
    }
}
