//! `sacct -P -n -o FIELDS`: the accounting database's view of jobs, which outlives squeue's
//! (exit code, elapsed time, peak memory, start and end), by id or by name.
//!
//! With `-X` sacct prints one line per job (allocation); without it each job line is followed
//! by its steps (`8.batch`, `8.extern`, `8.0`), which are merged into the job's record here.
//! MaxRSS is empty on job lines: only steps carry it (and steps under about a second have
//! none), so peak memory needs [`sacct_steps_args`]. A cancelled job reads `CANCELLED by UID`
//! with ExitCode `0:0` while its batch step has `0:15`; a timed-out one is `TIMEOUT 0:0` with a
//! `CANCELLED 0:15` batch step.
//!
//! sacct lags the controller by about 5 s: a job that ended within that window is first
//! recorded with JobName `allocation` and an empty Partition, corrected a few seconds later
//! (State and ExitCode are right at once). Match rows by [`SacctRecord::job_id`] or
//! [`SacctRecord::job_id_raw`], never by name alone.

use std::collections::HashMap;

use serde::Serialize;

use super::jobid::SlurmJobId;
use super::state::{SlurmState, parse_state_text};
use super::values::{
    ExitStatus, Timestamp, parse_elapsed, parse_exit, parse_mem_mb, parse_time, raw_id, split_row,
    text, value,
};
use super::{BuildError, ParseError, QueryError, comma_list, failed};

/// A sacct `-o` field bsweep knows how to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SacctField {
    JobId,
    JobIdRaw,
    JobName,
    Partition,
    State,
    ExitCode,
    Elapsed,
    MaxRss,
    Start,
    End,
    NodeList,
}

impl SacctField {
    pub const ALL: [SacctField; 11] = [
        SacctField::JobId,
        SacctField::JobIdRaw,
        SacctField::JobName,
        SacctField::Partition,
        SacctField::State,
        SacctField::ExitCode,
        SacctField::Elapsed,
        SacctField::MaxRss,
        SacctField::Start,
        SacctField::End,
        SacctField::NodeList,
    ];

    /// The name as `-o` takes it (sacct reads it in any case).
    pub fn name(self) -> &'static str {
        match self {
            SacctField::JobId => "JobID",
            SacctField::JobIdRaw => "JobIDRaw",
            SacctField::JobName => "JobName",
            SacctField::Partition => "Partition",
            SacctField::State => "State",
            SacctField::ExitCode => "ExitCode",
            SacctField::Elapsed => "Elapsed",
            SacctField::MaxRss => "MaxRSS",
            SacctField::Start => "Start",
            SacctField::End => "End",
            SacctField::NodeList => "NodeList",
        }
    }

    /// Reads an `-o` list (`JobID,JobIDRaw,State`), e.g. from a captured command line.
    pub fn parse_format(format: &str) -> Result<Vec<SacctField>, ParseError> {
        format
            .split(',')
            .map(|name| {
                SacctField::ALL
                    .into_iter()
                    .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
                    .ok_or_else(|| {
                        ParseError::new(
                            None,
                            name,
                            "a sacct field bsweep reads (JobID JobIDRaw JobName Partition State ExitCode Elapsed MaxRSS Start End NodeList)",
                        )
                    })
            })
            .collect()
    }
}

/// `-P` separates fields with `|`; only JobName can hold one.
const DELIMITER: char = '|';

/// The fields bsweep asks for.
pub const SACCT_FIELDS: &[SacctField] = &[
    SacctField::JobId,
    SacctField::JobIdRaw,
    SacctField::JobName,
    SacctField::State,
    SacctField::ExitCode,
    SacctField::Elapsed,
    SacctField::MaxRss,
    SacctField::Start,
    SacctField::End,
];

/// The `-o` list for `fields`: `JobID,JobIDRaw,...`.
pub fn sacct_format(fields: &[SacctField]) -> String {
    fields
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(",")
}

fn id_list(ids: &[SlurmJobId]) -> Result<String, BuildError> {
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<String> = ids
        .iter()
        .map(SlurmJobId::selector)
        .filter(|s| seen.insert(s.clone()))
        .collect();
    comma_list("sacct", "-j", "job id", &ids)
}

fn argv(head: &[&str], tail: Vec<String>) -> Vec<String> {
    head.iter()
        .map(|s| s.to_string())
        .chain(tail)
        .chain(["-o".to_string(), sacct_format(SACCT_FIELDS)])
        .collect()
}

/// `sacct -X -P -n -j IDS -o FIELDS`: one line per job, no MaxRSS. With `-j` sacct searches
/// from the epoch, so old jobs are found.
pub fn sacct_args(ids: &[SlurmJobId]) -> Result<Vec<String>, BuildError> {
    Ok(argv(
        &["sacct", "-X", "-P", "-n", "-j"],
        vec![id_list(ids)?],
    ))
}

/// `sacct -P -n -j IDS -o FIELDS`: each job with its steps, for MaxRSS.
pub fn sacct_steps_args(ids: &[SlurmJobId]) -> Result<Vec<String>, BuildError> {
    Ok(argv(&["sacct", "-P", "-n", "-j"], vec![id_list(ids)?]))
}

/// `sacct -X -P -n -S now-SECONDS --name NAMES -o FIELDS`: the user's jobs by exact name that
/// were eligible in the last `window_seconds`. Without `-j`, sacct's default window starts at
/// midnight, so the window must cover the sweep's life; it is relative to the cluster's clock
/// to need no time zone.
pub fn sacct_by_name_args<S: AsRef<str>>(
    names: &[S],
    window_seconds: u64,
) -> Result<Vec<String>, BuildError> {
    let names = comma_list("sacct", "--name", "job name", names)?;
    Ok(argv(
        &["sacct", "-X", "-P", "-n"],
        vec![
            "-S".to_string(),
            format!("now-{}", window_seconds.max(1)),
            "--name".to_string(),
            names,
        ],
    ))
}

/// One job as sacct reports it, with its steps when they were asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SacctRecord {
    pub job_id: SlurmJobId,
    /// JobIDRaw: the job's own id (`10_1` is 11 in the captures).
    pub job_id_raw: Option<u64>,
    /// `allocation` for a few seconds for a job that ended right after submission.
    pub job_name: Option<String>,
    pub partition: Option<String>,
    pub state: SlurmState,
    /// Who cancelled it (`CANCELLED by 0`).
    pub cancelled_by: Option<u32>,
    /// Slurm prints `0:0` before a job ends: meaningful once the state is final.
    pub exit: Option<ExitStatus>,
    pub elapsed_seconds: Option<f64>,
    /// The largest MaxRSS of the job line and its steps, in MB. A lower bound when steps ran
    /// at the same time.
    pub max_rss_mb: Option<f64>,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub node_list: Option<String>,
    pub steps: Vec<SacctStep>,
}

/// One step of a job (`batch`, `extern`, `0`, ...).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SacctStep {
    /// The step's name after the dot: `batch` in `8.batch`.
    pub step: String,
    pub state: SlurmState,
    pub cancelled_by: Option<u32>,
    pub exit: Option<ExitStatus>,
    pub elapsed_seconds: Option<f64>,
    pub max_rss_mb: Option<f64>,
}

/// What one sacct call said.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SacctReading {
    /// In sacct's order. Ids sacct does not know are absent (it prints nothing for them).
    pub records: Vec<SacctRecord>,
    /// Other lines (stderr), steps whose job line is missing, and notes about values that
    /// could not be read (the job's state is still reported).
    pub messages: Vec<String>,
}

/// Splits `10_1.batch` into `10_1` and `batch`; the dot is looked for after any `]`, as a cut
/// task list may end in `...`.
fn split_step(id: &str) -> (&str, Option<&str>) {
    let from = id.rfind(']').map_or(0, |i| i + 1);
    match id[from..].find('.') {
        Some(i) => (&id[..from + i], Some(&id[from + i + 1..])),
        None => (id, None),
    }
}

struct Row {
    job_id: SlurmJobId,
    step: Option<String>,
    raw: Option<u64>,
    record: SacctRecord,
}

fn row(
    line: &str,
    n: usize,
    fields: &[SacctField],
    name_at: Option<usize>,
    messages: &mut Vec<String>,
) -> Result<Row, ParseError> {
    let cells = split_row(line, DELIMITER, fields.len(), name_at).ok_or_else(|| {
        ParseError::new(
            Some(n),
            line,
            format!(
                "{} fields separated by '{DELIMITER}' ({})",
                fields.len(),
                sacct_format(fields)
            ),
        )
    })?;
    let cell = |f: SacctField| fields.iter().position(|&x| x == f).map(|i| cells[i]);
    let (id_text, step) = split_step(cell(SacctField::JobId).unwrap_or_default().trim());
    let job_id: SlurmJobId = id_text
        .parse()
        .map_err(|e: ParseError| ParseError::new(Some(n), line, e.expected))?;
    let step = match step {
        Some(s) if s.is_empty() || s.contains(char::is_whitespace) => {
            return Err(ParseError::new(
                Some(n),
                line,
                format!("a step name after \"{job_id}.\""),
            ));
        }
        s => s.map(str::to_string),
    };
    let raw = match cell(SacctField::JobIdRaw).map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(raw_id(split_step(t).0).ok_or_else(|| {
            ParseError::new(
                Some(n),
                line,
                format!("a numeric JobIDRaw for {job_id}, not {t:?}"),
            )
        })?),
    };
    let shown = match &step {
        Some(s) => format!("{job_id}.{s}"),
        None => job_id.to_string(),
    };
    let state_text = cell(SacctField::State).unwrap_or_default();
    let (state, cancelled_by) = parse_state_text(state_text).map_err(|_| {
        ParseError::new(
            Some(n),
            line,
            format!("a known job state for {shown}, not {:?}", state_text.trim()),
        )
    })?;
    let exit = parse_exit(cell(SacctField::ExitCode).unwrap_or_default())
        .map_err(|e| ParseError::new(Some(n), line, format!("{e} for {shown}")))?;
    let mut note = |f: SacctField, e: String| {
        messages.push(format!("job {shown}: {}: expected {e}", f.name()));
    };
    let mut metric = |f: SacctField, read: fn(&str) -> Result<Option<f64>, String>| match cell(f)
        .map_or(Ok(None), read)
    {
        Ok(v) => v,
        Err(e) => {
            note(f, e);
            None
        }
    };
    let elapsed_seconds = metric(SacctField::Elapsed, parse_elapsed);
    let max_rss_mb = metric(SacctField::MaxRss, parse_mem_mb);
    let mut time = |f: SacctField| match cell(f).map_or(Ok(None), parse_time) {
        Ok(t) => t,
        Err(e) => {
            messages.push(format!("job {shown}: {}: expected {e}", f.name()));
            None
        }
    };
    let (start, end) = (time(SacctField::Start), time(SacctField::End));
    Ok(Row {
        record: SacctRecord {
            job_id: job_id.clone(),
            job_id_raw: raw,
            job_name: cell(SacctField::JobName).and_then(text),
            partition: cell(SacctField::Partition).and_then(text),
            state,
            cancelled_by,
            exit,
            elapsed_seconds,
            max_rss_mb,
            start,
            end,
            node_list: cell(SacctField::NodeList).and_then(value),
            steps: Vec::new(),
        },
        job_id,
        step,
        raw,
    })
}

/// Reads sacct's `-P -n` rows for `fields` (the `-o` list it ran with; [`SACCT_FIELDS`] for
/// the builders here), merging step lines into their jobs.
///
/// An `Err` means sacct answered nothing usable: it failed (database unreachable: Transient)
/// or printed rows that do not read. An empty reading with exit 0 is sacct's answer for ids it
/// does not know (yet: see the module docs on its lag).
pub fn parse_sacct(
    stdout: &str,
    stderr: &str,
    exit_code: Option<i32>,
    fields: &[SacctField],
) -> Result<SacctReading, QueryError> {
    let unreadable = |source| QueryError::Unreadable {
        command: "sacct",
        source,
    };
    if !fields.contains(&SacctField::JobId) || !fields.contains(&SacctField::State) {
        return Err(unreadable(ParseError::new(
            None,
            &sacct_format(fields),
            "a field list with JobID and State",
        )));
    }
    let name_at = fields.iter().position(|&f| f == SacctField::JobName);
    let mut reading = SacctReading::default();
    let mut steps = Vec::new();
    let mut rows = Ok(());
    let cut_short = exit_code.is_none() && !stdout.is_empty() && !stdout.ends_with('\n');
    let lines: Vec<&str> = stdout.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if cut_short && i + 1 == lines.len() {
            reading.messages.push(format!(
                "left out a last line without its newline: {line:?}"
            ));
            continue;
        }
        match row(line, i + 1, fields, name_at, &mut reading.messages) {
            Ok(r) if r.step.is_some() => steps.push(r),
            Ok(r) => reading.records.push(r.record),
            Err(e) => {
                rows = Err(e);
                break;
            }
        }
    }
    // Steps follow their job, but are matched by id so that order does not matter: by raw id
    // when both sides have it, else by the printed id.
    let by_raw: HashMap<u64, usize> = reading
        .records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((r.job_id_raw?, i)))
        .collect();
    let by_id: HashMap<SlurmJobId, usize> = reading
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.job_id.clone(), i))
        .collect();
    for s in steps {
        let at = s
            .raw
            .and_then(|raw| by_raw.get(&raw))
            .or_else(|| by_id.get(&s.job_id))
            .copied();
        let name = s.step.unwrap_or_default();
        let Some(at) = at else {
            reading
                .messages
                .push(format!("step {}.{name} has no job line", s.job_id));
            continue;
        };
        let job = &mut reading.records[at];
        if let Some(mb) = s.record.max_rss_mb {
            job.max_rss_mb = Some(job.max_rss_mb.map_or(mb, |m| m.max(mb)));
        }
        job.steps.push(SacctStep {
            step: name,
            state: s.record.state,
            cancelled_by: s.record.cancelled_by,
            exit: s.record.exit,
            elapsed_seconds: s.record.elapsed_seconds,
            max_rss_mb: s.record.max_rss_mb,
        });
    }
    reading.messages.extend(
        stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string),
    );
    match (rows, exit_code) {
        (Err(e), Some(0) | None) => Err(unreadable(e)),
        (Ok(()), _) if !reading.records.is_empty() => Ok(reading),
        (Ok(()), Some(0)) => Ok(reading),
        _ => Err(failed("sacct", stdout, stderr, exit_code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SlurmJobId {
        s.parse().expect("id")
    }

    #[test]
    fn builders_match_the_recorded_commands() {
        let ids = [id("8"), id("9"), id("13"), id("10")];
        assert_eq!(
            sacct_args(&ids).expect("argv").join(" "),
            "sacct -X -P -n -j 8,9,13,10 -o JobID,JobIDRaw,JobName,State,ExitCode,Elapsed,MaxRSS,Start,End"
        );
        assert_eq!(
            sacct_steps_args(&ids).expect("argv").join(" "),
            "sacct -P -n -j 8,9,13,10 -o JobID,JobIDRaw,JobName,State,ExitCode,Elapsed,MaxRSS,Start,End"
        );
        assert_eq!(
            sacct_args(&[id("16_[2-4%1]"), id("16_1")]).expect("argv")[5],
            "16,16_1"
        );
        assert_eq!(
            sacct_by_name_args(&["bsw-a-00001-1"], 86_400).expect("argv")[4..8],
            ["-S", "now-86400", "--name", "bsw-a-00001-1"]
        );
        assert!(sacct_args(&[]).is_err());
        assert!(sacct_by_name_args(&["x y"], 60).is_err());
    }

    #[test]
    fn field_lists_round_trip() {
        let f = SacctField::parse_format(&sacct_format(SACCT_FIELDS)).expect("fields");
        assert_eq!(f, SACCT_FIELDS);
        assert_eq!(
            SacctField::parse_format("jobid,state,maxrss").expect("fields"),
            [SacctField::JobId, SacctField::State, SacctField::MaxRss]
        );
        assert!(SacctField::parse_format("JobID,AveCPU").is_err());
    }

    #[test]
    fn steps_merge_into_their_job_in_any_order() {
        let out = "13.batch|13.batch|batch|CANCELLED|0:15|00:00:01|2048K|2026-12-01T08:01:43|2026-12-01T08:01:44\n\
                   13|13|tr-cancel|CANCELLED by 0|0:0|00:00:01||2026-12-01T08:01:43|2026-12-01T08:01:44\n\
                   13.extern|13.extern|extern|COMPLETED|0:0|00:00:01|1024K|2026-12-01T08:01:43|2026-12-01T08:01:44\n\
                   77.batch|77.batch|batch|COMPLETED|0:0|00:00:01||Unknown|Unknown\n";
        let r = parse_sacct(out, "", Some(0), SACCT_FIELDS).expect("reading");
        let [job] = &r.records[..] else {
            panic!("{r:?}")
        };
        assert_eq!(job.cancelled_by, Some(0));
        assert_eq!(job.max_rss_mb, Some(2.0));
        assert_eq!(
            job.steps
                .iter()
                .map(|s| s.step.as_str())
                .collect::<Vec<_>>(),
            ["batch", "extern"]
        );
        assert_eq!(
            job.steps[0].exit,
            Some(ExitStatus {
                code: 0,
                signal: 15
            })
        );
        assert_eq!(r.messages, ["step 77.batch has no job line"]);
    }

    #[test]
    fn a_name_holding_the_delimiter_stays_whole() {
        let out = "5|5|a|b|COMPLETED|0:0|00:00:01||Unknown|Unknown\n";
        let r = parse_sacct(out, "", Some(0), SACCT_FIELDS).expect("reading");
        assert_eq!(r.records[0].job_name.as_deref(), Some("a|b"));
        assert_eq!(r.records[0].state, SlurmState::Completed);
    }

    #[test]
    fn steps_of_array_elements_split_after_the_brackets() {
        assert_eq!(split_step("10_1.batch"), ("10_1", Some("batch")));
        assert_eq!(
            split_step("16_[1-3...].batch"),
            ("16_[1-3...]", Some("batch"))
        );
        assert_eq!(split_step("16_[1-3...]"), ("16_[1-3...]", None));
        assert_eq!(split_step("8.0"), ("8", Some("0")));
        assert_eq!(split_step("8"), ("8", None));
    }

    #[test]
    fn bad_rows_are_errors_and_odd_metrics_notes() {
        for out in [
            "8|8|x|DONE|0:0|00:00:03||Unknown|Unknown\n",
            "8|8|x|COMPLETED|zero|00:00:03||Unknown|Unknown\n",
            "8|x8|x|COMPLETED|0:0|00:00:03||Unknown|Unknown\n",
            "8.|8|x|COMPLETED|0:0|00:00:03||Unknown|Unknown\n",
            "8|8|COMPLETED|0:0\n",
        ] {
            assert!(
                matches!(
                    parse_sacct(out, "", Some(0), SACCT_FIELDS),
                    Err(QueryError::Unreadable { .. })
                ),
                "{out}"
            );
        }
        let r = parse_sacct(
            "8|8|x|COMPLETED|0:0|3 seconds|lots|Tomorr|Unknown\n",
            "",
            Some(0),
            SACCT_FIELDS,
        )
        .expect("reading");
        assert_eq!(r.records[0].state, SlurmState::Completed);
        assert_eq!(r.messages.len(), 3, "{:?}", r.messages);
    }

    #[test]
    fn a_failing_sacct_is_an_error_not_an_empty_answer() {
        let e = parse_sacct(
            "",
            "sacct: error: Problem talking to the database: Connection refused\n",
            Some(1),
            SACCT_FIELDS,
        )
        .expect_err("failure");
        assert!(matches!(
            e,
            QueryError::Failed {
                kind: super::super::ErrorKind::Transient,
                ..
            }
        ));
        // Slurm 22.05.8's sacct on a cluster without accounting: it will not come back.
        let e = parse_sacct(
            "",
            "Slurm accounting storage is disabled\n",
            Some(1),
            SACCT_FIELDS,
        )
        .expect_err("no accounting");
        assert!(matches!(
            e,
            QueryError::Failed {
                kind: super::super::ErrorKind::Permanent,
                ..
            }
        ));
        assert!(parse_sacct("", "", Some(0), SACCT_FIELDS).is_ok());
        assert!(parse_sacct("", "", None, SACCT_FIELDS).is_err());
    }
}
