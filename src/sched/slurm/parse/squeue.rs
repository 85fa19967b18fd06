//! `squeue -h -r -t all -o FORMAT`: the controller's view of jobs, live and recently finished,
//! by id or by name, read field by field from a `|`-delimited format.
//!
//! `-t all` keeps finished jobs in view (without it squeue hides them even when asked by id)
//! until Slurm purges them, MinJobAge after they end. `-r` puts every array element on its own
//! line, pending ones included: without it the pending rest of an array is one line
//! `16_[2-4%1]` whose index list Slurm cuts at 64 bytes (SLURM_BITSTR_LEN). Rows come in no
//! particular order. The job name is the one free-text field: it may hold the delimiter, so a
//! row with too many delimiters gives the extra ones to the name.

use std::collections::HashSet;

use serde::Serialize;

use super::jobid::SlurmJobId;
use super::state::{Class, SlurmState};
use super::values::{Timestamp, parse_elapsed, parse_time, raw_id, split_row, text, value};
use super::{BuildError, ParseError, QueryError, comma_list, failed};

/// A squeue `-o` field bsweep knows how to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SqueueField {
    /// `%i`: `14`, `16_1`, `16_[2-4%1]`.
    JobId,
    /// `%A`: the job's own id (an array element's differs from `%i`).
    JobIdRaw,
    /// `%j`
    Name,
    /// `%T`: `RUNNING`.
    State,
    /// `%t`: `R`.
    StateCode,
    /// `%r`: why the job is in its state (`JobHeldUser`, `PartitionTimeLimit`, `None`).
    Reason,
    /// `%P`
    Partition,
    /// `%S`: when the job started (for a pending job, an estimate: not kept).
    StartTime,
    /// `%M`: run time so far, `[D-][H:]M:SS`.
    TimeUsed,
    /// `%N`: the nodes, in Slurm's compressed form (`node[01-04]`).
    NodeList,
}

impl SqueueField {
    pub const ALL: [SqueueField; 10] = [
        SqueueField::JobId,
        SqueueField::JobIdRaw,
        SqueueField::Name,
        SqueueField::State,
        SqueueField::StateCode,
        SqueueField::Reason,
        SqueueField::Partition,
        SqueueField::StartTime,
        SqueueField::TimeUsed,
        SqueueField::NodeList,
    ];

    /// The `-o` specifier.
    pub fn spec(self) -> &'static str {
        match self {
            SqueueField::JobId => "%i",
            SqueueField::JobIdRaw => "%A",
            SqueueField::Name => "%j",
            SqueueField::State => "%T",
            SqueueField::StateCode => "%t",
            SqueueField::Reason => "%r",
            SqueueField::Partition => "%P",
            SqueueField::StartTime => "%S",
            SqueueField::TimeUsed => "%M",
            SqueueField::NodeList => "%N",
        }
    }

    /// Reads a `-o` format made of known specifiers joined by [`SQUEUE_DELIMITER`]
    /// (`%i|%j|%T|%r|%P`), e.g. from a captured command line.
    pub fn parse_format(format: &str) -> Result<Vec<SqueueField>, ParseError> {
        format
            .split(SQUEUE_DELIMITER)
            .map(|spec| {
                SqueueField::ALL
                    .into_iter()
                    .find(|f| f.spec() == spec)
                    .ok_or_else(|| {
                        ParseError::new(
                            None,
                            spec,
                            "a squeue field bsweep reads (%i %A %j %T %t %r %P %S %M %N)",
                        )
                    })
            })
            .collect()
    }
}

/// Separates the `-o` fields. Slurm prints no `|` in any field but the job name.
pub const SQUEUE_DELIMITER: char = '|';

/// The fields bsweep asks for, the name last.
pub const SQUEUE_FIELDS: &[SqueueField] = &[
    SqueueField::JobId,
    SqueueField::JobIdRaw,
    SqueueField::State,
    SqueueField::Reason,
    SqueueField::Partition,
    SqueueField::StartTime,
    SqueueField::TimeUsed,
    SqueueField::NodeList,
    SqueueField::Name,
];

/// The `-o` format for `fields`: `%i|%A|%T|...`.
pub fn squeue_format(fields: &[SqueueField]) -> String {
    fields
        .iter()
        .map(|f| f.spec())
        .collect::<Vec<_>>()
        .join(&SQUEUE_DELIMITER.to_string())
}

fn argv(select: &str, list: String) -> Vec<String> {
    ["squeue", "-h", "-r", "-t", "all", select]
        .into_iter()
        .map(str::to_string)
        .chain([list, "-o".to_string(), squeue_format(SQUEUE_FIELDS)])
        .collect()
}

/// `squeue -h -r -t all -j IDS -o FORMAT` ([`SQUEUE_FIELDS`]). Pending tasks (`16_[2-4]`) are
/// asked for by their array's id, which lists every element.
pub fn squeue_args(ids: &[SlurmJobId]) -> Result<Vec<String>, BuildError> {
    let mut seen = HashSet::new();
    let ids: Vec<String> = ids
        .iter()
        .map(SlurmJobId::selector)
        .filter(|s| seen.insert(s.clone()))
        .collect();
    Ok(argv("-j", comma_list("squeue", "-j", "job id", &ids)?))
}

/// `squeue -h -r -t all --name NAMES -o FORMAT`: jobs by exact name, any state, for finding
/// submissions whose answer was lost. Names may not hold commas or spaces.
pub fn squeue_by_name_args<S: AsRef<str>>(names: &[S]) -> Result<Vec<String>, BuildError> {
    Ok(argv(
        "--name",
        comma_list("squeue", "--name", "job name", names)?,
    ))
}

/// One row of squeue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SqueueRecord {
    pub job_id: SlurmJobId,
    /// `%A`, when asked for. Array tasks that have not started share the array's id.
    pub job_id_raw: Option<u64>,
    pub name: Option<String>,
    pub state: SlurmState,
    /// `None` when Slurm gives none (`None`).
    pub reason: Option<String>,
    pub partition: Option<String>,
    /// When the job started; `None` for a pending job (squeue shows an estimate there).
    pub start_time: Option<Timestamp>,
    pub time_used_seconds: Option<f64>,
    pub node_list: Option<String>,
}

/// What one squeue call said.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SqueueReading {
    pub records: Vec<SqueueRecord>,
    /// squeue knew none of the ids asked for (`slurm_load_jobs error: Invalid job id
    /// specified`, exit 1): every one is purged or never existed. Not a failure of Slurm.
    pub none_known: bool,
    /// Other lines (stderr), and notes about values that could not be read (the job's state
    /// is still reported).
    pub messages: Vec<String>,
}

fn row(
    line: &str,
    n: usize,
    fields: &[SqueueField],
    name_at: Option<usize>,
    messages: &mut Vec<String>,
) -> Result<SqueueRecord, ParseError> {
    let cells = split_row(line, SQUEUE_DELIMITER, fields.len(), name_at).ok_or_else(|| {
        ParseError::new(
            Some(n),
            line,
            format!(
                "{} fields separated by '{SQUEUE_DELIMITER}' ({})",
                fields.len(),
                squeue_format(fields)
            ),
        )
    })?;
    let cell = |f: SqueueField| fields.iter().position(|&x| x == f).map(|i| cells[i]);
    let id_text = cell(SqueueField::JobId).unwrap_or_default();
    let job_id: SlurmJobId = id_text
        .parse()
        .map_err(|e: ParseError| ParseError::new(Some(n), line, e.expected))?;
    let state = match (cell(SqueueField::State), cell(SqueueField::StateCode)) {
        (Some(long), code) => {
            let st: SlurmState = long.parse().map_err(|_| {
                ParseError::new(
                    Some(n),
                    line,
                    format!("a known job state for {job_id}, not {:?}", long.trim()),
                )
            })?;
            if let Some(code) = code
                && SlurmState::from_code(code) != Ok(st)
            {
                return Err(ParseError::new(
                    Some(n),
                    line,
                    format!(
                        "the state code of {st} ({}), not {:?}",
                        st.code(),
                        code.trim()
                    ),
                ));
            }
            st
        }
        (None, Some(code)) => SlurmState::from_code(code).map_err(|_| {
            ParseError::new(
                Some(n),
                line,
                format!("a known job state code for {job_id}, not {:?}", code.trim()),
            )
        })?,
        (None, None) => {
            return Err(ParseError::new(Some(n), line, "a %T or %t field"));
        }
    };
    let job_id_raw = match cell(SqueueField::JobIdRaw).and_then(value) {
        None => None,
        Some(raw) => Some(raw_id(&raw).ok_or_else(|| {
            ParseError::new(
                Some(n),
                line,
                format!("a numeric %A job id for {job_id}, not {raw:?}"),
            )
        })?),
    };
    let mut metric = |f: SqueueField, r: Result<Option<f64>, String>| match r {
        Ok(v) => v,
        Err(e) => {
            messages.push(format!("job {job_id}: {}: expected {e}", f.spec()));
            None
        }
    };
    let time_used_seconds = metric(
        SqueueField::TimeUsed,
        cell(SqueueField::TimeUsed).map_or(Ok(None), parse_elapsed),
    );
    let start_time = match cell(SqueueField::StartTime).map_or(Ok(None), parse_time) {
        Ok(t) => t.filter(|_| state.class() != Class::Pending),
        Err(e) => {
            messages.push(format!("job {job_id}: %S: expected {e}"));
            None
        }
    };
    Ok(SqueueRecord {
        job_id_raw,
        name: cell(SqueueField::Name).and_then(text),
        state,
        reason: cell(SqueueField::Reason).and_then(value),
        partition: cell(SqueueField::Partition).and_then(text),
        start_time,
        time_used_seconds,
        node_list: cell(SqueueField::NodeList).and_then(value),
        job_id,
    })
}

/// Reads squeue's rows for `fields` (the `-o` format it ran with; [`SQUEUE_FIELDS`] for
/// [`squeue_args`]). `exit_code` is `None` when unknown: then a last line without its newline
/// may be cut short, and is left out.
///
/// An `Err` means squeue answered nothing usable: it failed (controller down: Transient) or
/// printed rows that do not read. A reading with some ids missing is normal: squeue lists
/// only the ids it still knows.
pub fn parse_squeue(
    stdout: &str,
    stderr: &str,
    exit_code: Option<i32>,
    fields: &[SqueueField],
) -> Result<SqueueReading, QueryError> {
    let unreadable = |source| QueryError::Unreadable {
        command: "squeue",
        source,
    };
    if !fields.contains(&SqueueField::JobId)
        || !(fields.contains(&SqueueField::State) || fields.contains(&SqueueField::StateCode))
    {
        return Err(unreadable(ParseError::new(
            None,
            &squeue_format(fields),
            "a format with %i and %T or %t",
        )));
    }
    let name_at = fields.iter().position(|&f| f == SqueueField::Name);
    let mut reading = SqueueReading::default();
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
            Ok(r) => reading.records.push(r),
            Err(e) => {
                rows = Err(e);
                break;
            }
        }
    }
    let mut invalid_id = false;
    for l in stderr.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if l.contains("Invalid job id specified") {
            invalid_id = true;
        }
        reading.messages.push(l.to_string());
    }
    match (rows, exit_code) {
        (Err(e), Some(0) | None) => Err(unreadable(e)),
        (Ok(()), _) if !reading.records.is_empty() => Ok(reading),
        _ if invalid_id => {
            reading.records.clear();
            reading.none_known = true;
            Ok(reading)
        }
        (Ok(()), Some(0)) => Ok(reading),
        _ => Err(failed("squeue", stdout, stderr, exit_code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<SqueueField> {
        SqueueField::parse_format("%i|%j|%T|%r|%P").expect("format")
    }

    #[test]
    fn the_format_round_trips() {
        let fmt = squeue_format(SQUEUE_FIELDS);
        assert_eq!(fmt, "%i|%A|%T|%r|%P|%S|%M|%N|%j");
        assert_eq!(
            SqueueField::parse_format(&fmt).expect("format"),
            SQUEUE_FIELDS
        );
        assert!(SqueueField::parse_format("%i|%Q").is_err());
        assert!(SqueueField::parse_format("%i,%T").is_err());
    }

    #[test]
    fn builders() {
        let ids: Vec<SlurmJobId> = ["14", "16_[2-4%1]", "16_1", "14"]
            .iter()
            .map(|s| s.parse().expect("id"))
            .collect();
        assert_eq!(
            squeue_args(&ids).expect("argv"),
            [
                "squeue",
                "-h",
                "-r",
                "-t",
                "all",
                "-j",
                "14,16,16_1",
                "-o",
                "%i|%A|%T|%r|%P|%S|%M|%N|%j"
            ]
        );
        assert!(squeue_args(&[]).is_err());
        assert_eq!(
            squeue_by_name_args(&["bsw-1-00001-1", "bsw-1-00002-1"]).expect("argv")[5..7],
            ["--name", "bsw-1-00001-1,bsw-1-00002-1"]
        );
        assert!(squeue_by_name_args(&["a,b"]).is_err());
        assert!(squeue_by_name_args::<&str>(&[]).is_err());
    }

    #[test]
    fn our_own_format_reads_every_field() {
        let out = "17|17|RUNNING|None|long|2026-12-01T08:01:45|0:09|vm|tr-throttled\n\
                   16_[2-4%1]|16|PENDING|JobArrayTaskLimit|long|2026-12-01T09:00:00|0:00||tr-throttled\n\
                   9|9|FAILED|NonZeroExitCode|short|2026-12-01T08:01:38|0:00|vm|a|b c\n";
        let r = parse_squeue(out, "", Some(0), SQUEUE_FIELDS).expect("reading");
        assert!(r.messages.is_empty(), "{:?}", r.messages);
        let [running, pending, failed] = &r.records[..] else {
            panic!("{r:?}")
        };
        assert_eq!(running.job_id, SlurmJobId::Job { id: 17 });
        assert_eq!(running.job_id_raw, Some(17));
        assert_eq!(running.state, SlurmState::Running);
        assert_eq!(running.reason, None);
        assert_eq!(
            running.start_time.map(|t| t.to_string()).as_deref(),
            Some("2026-12-01T08:01:45")
        );
        assert_eq!(running.time_used_seconds, Some(9.0));
        assert_eq!(running.node_list.as_deref(), Some("vm"));
        assert!(matches!(
            pending.job_id,
            SlurmJobId::Tasks { array: 16, .. }
        ));
        assert_eq!(
            pending.start_time, None,
            "a pending job's start is an estimate"
        );
        assert_eq!(pending.node_list, None);
        assert_eq!(pending.reason.as_deref(), Some("JobArrayTaskLimit"));
        assert_eq!(
            failed.name.as_deref(),
            Some("a|b c"),
            "the name keeps its '|'"
        );
        assert_eq!(failed.state, SlurmState::Failed);
    }

    #[test]
    fn state_codes_and_names_must_agree() {
        let f = SqueueField::parse_format("%i|%T|%t").expect("format");
        assert!(parse_squeue("1|RUNNING|R\n", "", Some(0), &f).is_ok());
        assert!(matches!(
            parse_squeue("1|RUNNING|PD\n", "", Some(0), &f),
            Err(QueryError::Unreadable { .. })
        ));
        let f = SqueueField::parse_format("%i|%t").expect("format");
        let r = parse_squeue("1|CG\n", "", Some(0), &f).expect("reading");
        assert_eq!(r.records[0].state, SlurmState::Completing);
    }

    #[test]
    fn odd_metrics_are_noted_not_fatal() {
        let f = SqueueField::parse_format("%i|%T|%M|%S").expect("format");
        let r = parse_squeue("1|RUNNING|soon|Tomorr 08:00\n", "", Some(0), &f).expect("reading");
        assert_eq!(r.records[0].state, SlurmState::Running);
        assert_eq!(r.records[0].time_used_seconds, None);
        assert_eq!(r.messages.len(), 2, "{:?}", r.messages);
        let r = parse_squeue("1|RUNNING|INVALID|N/A\n", "", Some(0), &f).expect("reading");
        assert!(
            r.messages.is_empty(),
            "documented no-values: {:?}",
            r.messages
        );
    }

    #[test]
    fn unknown_states_and_bad_rows_are_errors() {
        for out in [
            "1|x|DONE|None|short\n",
            "1|x|RUNNING|None\n",
            "1_x|x|RUNNING|None|short\n",
            "|x|RUNNING|None|short\n",
        ] {
            let e = parse_squeue(out, "", Some(0), &fields()).expect_err(out);
            let QueryError::Unreadable { source, .. } = e else {
                panic!("{e:?}")
            };
            assert_eq!(source.line, Some(1));
        }
        assert!(parse_squeue("", "", Some(0), &[SqueueField::JobId]).is_err());
    }

    #[test]
    fn exit_status_decides_between_no_rows_and_failure() {
        let ok = parse_squeue("", "", Some(0), &fields()).expect("empty answer");
        assert!(ok.records.is_empty() && !ok.none_known);
        let purged = parse_squeue(
            "",
            "slurm_load_jobs error: Invalid job id specified\n",
            Some(1),
            &fields(),
        )
        .expect("reading");
        assert!(purged.none_known);
        // The first as Slurm 22.05.8's squeue prints it with its controller unreachable.
        for (stderr, code, transient) in [
            (
                "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n",
                Some(1),
                true,
            ),
            ("squeue: invalid option -- 'Z'\n", Some(1), false),
            ("", None, true),
        ] {
            let e = parse_squeue("", stderr, code, &fields()).expect_err(stderr);
            let QueryError::Failed { kind, .. } = e else {
                panic!("{e:?}")
            };
            assert_eq!(
                kind == super::super::ErrorKind::Transient,
                transient,
                "{stderr}"
            );
        }
        // Rows on a failing exit are still the controller's answer.
        let r =
            parse_squeue("14|x|RUNNING|None|long\n", "boom\n", Some(1), &fields()).expect("rows");
        assert_eq!(r.records.len(), 1);
        assert_eq!(r.messages, ["boom"]);
        // Unreadable rows with a failing exit: the failure is the news.
        assert!(matches!(
            parse_squeue(
                "garbage\n",
                "slurm_load_jobs error: Socket timed out\n",
                Some(1),
                &fields()
            ),
            Err(QueryError::Failed { .. })
        ));
    }

    #[test]
    fn a_last_line_cut_short_is_left_out_when_the_exit_is_unknown() {
        let out = "14|tr-running|RUNNING|None|long\n15|tr-held|PEND";
        let r = parse_squeue(out, "", None, &fields()).expect("reading");
        assert_eq!(r.records.len(), 1);
        assert_eq!(r.messages.len(), 1);
        assert!(parse_squeue(out, "", Some(0), &fields()).is_err());
    }
}
