//! Collect: read each point's metrics (a JSON file, `key=value` lines or a regex over the job's
//! own stdout) and write one CSV row per point with its parameters, job, state, times and
//! metrics. Only regular files are read, each with a size cap: a job's files can be FIFOs,
//! links to `/dev/zero` or gigabytes.

mod read;

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use regex::Regex;

pub use self::read::{METRICS_MAX_BYTES, STDOUT_SCAN_BYTES, Unread, open_regular, read_regular};
use self::read::{flatten_json, read_tail};
use crate::layout::{JobPaths, STDOUT_FILE};
use crate::model::PointRec;
use crate::sched::{Dialect, JobReport, ReportOutcome};
use crate::spec::{CollectOpts, Limits, Spec};
use crate::store::SweepMeta;
use crate::view::where_label;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("stdout_regex does not compile")]
    Regex(#[from] regex::Error),
}

/// What a collect run found, for the closing message.
#[derive(Debug, Default)]
pub struct CollectReport {
    pub rows: usize,
    pub metric_columns: usize,
    /// Points whose metrics are missing or incomplete, and why (a file missing, skipped, not
    /// JSON; stdout only partly scanned), by index.
    pub problems: Vec<(u64, String)>,
}

fn is_key(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

/// `key=value` pairs from stdout: a line counts when every whitespace-separated word of it is a
/// pair (`epoch=3 loss=0.25`), so ordinary log lines that merely contain `=` are left alone.
fn scrape_kv(stdout: &str, out: &mut Vec<(String, String)>) {
    for line in stdout.lines() {
        let pairs: Option<Vec<(&str, &str)>> = line
            .split_whitespace()
            .map(|w| {
                w.split_once('=')
                    .filter(|(k, v)| is_key(k) && !v.is_empty())
            })
            .collect();
        if let Some(pairs) = pairs {
            out.extend(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            );
        }
    }
}

fn scrape_regex(re: &Regex, stdout: &str, out: &mut Vec<(String, String)>) {
    for caps in re.captures_iter(stdout) {
        for name in re.capture_names().flatten() {
            if let Some(m) = caps.name(name) {
                out.push((name.to_string(), m.as_str().to_string()));
            }
        }
    }
}

/// The metrics of one point, by where they came from.
#[derive(Debug, Default)]
struct Metrics {
    /// From `metrics_json`.
    file: Vec<(String, String)>,
    /// From `stdout_kv` and `stdout_regex`, in that order.
    stdout: Vec<(String, String)>,
}

/// Why a point's metrics are missing or partial.
struct Notes {
    /// The metrics file is not there (said only when the point has no metrics at all: a
    /// failed point often wrote none).
    missing: Option<String>,
    /// Everything else, always said.
    other: Vec<String>,
}

/// The metrics of one point whose last attempt is `job_name` (with a job: its output is
/// read); later values of a key win (the last epoch's loss).
fn metrics_of(
    opts: &CollectOpts,
    re: Option<&Regex>,
    dialect: Dialect,
    dir: &Path,
    job_name: Option<&str>,
    notes: &mut Notes,
) -> Metrics {
    let mut m = Metrics::default();
    if let Some(file) = &opts.metrics_json {
        let path = dir.join(file);
        match read_regular(&path, METRICS_MAX_BYTES) {
            Ok(bytes) => match flatten_json(&bytes, file) {
                Ok(v) => m.file = v,
                Err(e) => notes
                    .other
                    .push(format!("{}: not valid JSON ({e})", path.display())),
            },
            Err(Unread::Missing) => notes.missing = Some(format!("{} is missing", path.display())),
            Err(e) => notes
                .other
                .push(format!("{}: {e}; not read", path.display())),
        }
    }
    if let (true, Some(job_name)) = (opts.stdout_kv || re.is_some(), job_name) {
        let path = dir.join(STDOUT_FILE);
        let text = match read_tail(&path, STDOUT_SCAN_BYTES) {
            Ok((text, cut)) => {
                if cut {
                    notes.other.push(format!(
                        "only the last {} MiB of {} were scanned",
                        STDOUT_SCAN_BYTES >> 20,
                        path.display()
                    ));
                }
                text
            }
            Err(Unread::Missing) => String::new(),
            Err(e) => {
                notes
                    .other
                    .push(format!("{}: {e}; not scanned", path.display()));
                String::new()
            }
        };
        // The attempt's own lines: not the scheduler's report, not earlier attempts' output.
        let own = dialect.own_output(&text, job_name);
        if opts.stdout_kv {
            scrape_kv(&own, &mut m.stdout);
        }
        if let Some(re) = re {
            scrape_regex(re, &own, &mut m.stdout);
        }
    }
    m
}

/// The scheduler's report of an attempt in its output file (several attempts append to one
/// file; the report names its job). LSF 10 writes it after the job's output, OpenLava before:
/// the dialect finds it either way without reading more of a big file than it must.
fn read_report(dialect: Dialect, report: &Path, job_name: &str) -> Option<JobReport> {
    // A FIFO there would never end: only a regular file is read.
    dialect.report_in_file(open_regular(report).ok()?, job_name)
}

/// The scheduler's report of each point's last attempt, where it ended and left one (`None`
/// for the rest, and for every point of a backend that writes no reports).
pub fn read_reports(
    dialect: Dialect,
    jobs: &JobPaths,
    points: &[PointRec],
) -> Vec<Option<JobReport>> {
    points
        .iter()
        .map(|p| {
            let a = p.last().filter(|a| a.state.is_final())?;
            read_report(
                dialect,
                &jobs.report_file(p.index, &a.job_name),
                &a.job_name,
            )
        })
        .collect()
}

/// A report time as LSF writes it (`Sun Apr  5 13:39:23 2020`, the cluster's local time):
/// only these go to the cluster's `date` to be read.
fn is_report_time(t: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]?[0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}$",
        )
        .expect("static regex")
    });
    RE.is_match(t)
}

/// The distinct start and end times of the reports, each once, for the cluster's `date` to turn
/// into seconds since the epoch (it knows its own time zone and summer time).
pub fn report_times(reports: &[Option<JobReport>]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    reports
        .iter()
        .flatten()
        .flat_map(|t| [t.started.as_deref(), t.ended.as_deref()])
        .flatten()
        .filter(|t| is_report_time(t) && seen.insert(*t))
        .map(str::to_string)
        .collect()
}

fn fmt_time(t: Option<f64>) -> String {
    t.filter(|t| *t > 0.0)
        .and_then(|t| {
            Duration::try_from_secs_f64(t)
                .ok()
                .and_then(|d| UNIX_EPOCH.checked_add(d))
                .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        })
        .unwrap_or_default()
}

fn fmt_num(x: Option<f64>) -> String {
    x.map(|x| {
        format!("{:.3}", x)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    })
    .unwrap_or_default()
}

/// The prefixes of metric columns renamed by [`Naming`]; a metric whose own name starts with one
/// is renamed too, so two metrics never share a column.
const RENAMED: [&str; 2] = ["metric.", "stdout."];

/// The naming rule of metric columns, total and one-to-one:
/// - a metric is a column of its own name (`val.loss` for nested JSON keys);
/// - one named like a parameter or a fixed column, or whose name starts with `metric.` or
///   `stdout.`, is written `metric.NAME` (`{"k": 5, "metric.k": 7}` with a parameter `k` gives
///   `metric.k` = 5 and `metric.metric.k` = 7);
/// - a name that both the metrics file and stdout give: the file's keeps the name, stdout's is
///   `stdout.NAME` (both are kept).
struct Naming<'a> {
    taken: HashSet<&'a str>,
    in_file: HashSet<String>,
}

impl Naming<'_> {
    fn plain(&self, name: &str) -> String {
        if self.taken.contains(name) || RENAMED.iter().any(|p| name.starts_with(p)) {
            format!("metric.{name}")
        } else {
            name.to_string()
        }
    }

    fn of_file(&self, name: &str) -> String {
        self.plain(name)
    }

    fn of_stdout(&self, name: &str) -> String {
        if self.in_file.contains(name) {
            format!("stdout.{name}")
        } else {
            self.plain(name)
        }
    }
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or carriage return
/// first) gets a leading `'`, as OWASP's CSV-injection advice says; plain numbers (`-1.5`,
/// `+3e-2`) are left as they are.
fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$").expect("static regex")
    });
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if !NUMBER.is_match(cell) => {
            format!("'{cell}").into()
        }
        _ => cell.into(),
    }
}

/// Writes one cell, made [`inert`] when `guard`.
fn write_cell<W: io::Write>(w: &mut csv::Writer<W>, guard: bool, cell: &str) -> csv::Result<()> {
    if guard {
        w.write_field(inert(cell).as_bytes())
    } else {
        w.write_field(cell)
    }
}

/// The fixed columns after the parameters, each filled by one line of [`base_cells`]
/// (`summary` reads the others as metrics).
pub const BASE_COLUMNS: &[&str] = &[
    "job_id",
    "target",
    "state",
    "exit_code",
    "attempts",
    "submitted",
    "started",
    "ended",
    "run_seconds",
    "max_mem_mb",
    "reason",
    // What the last attempt asked for and why it failed: retries change them.
    "memory_mb",
    "walltime_minutes",
    "cause",
];

/// The limit cells of a point: what its last attempt asked for (its overrides, else the
/// sweep file's `limits`), and why it failed.
fn limit_cells(p: &PointRec, limits: &Limits) -> [String; 3] {
    let last = p.last();
    let o = last.map(|a| &a.overrides);
    let memory_kb = o.and_then(|o| o.memory_kb).or(limits.memory_kb);
    let walltime = o
        .and_then(|o| o.walltime_minutes)
        .or(limits.walltime_minutes);
    [
        fmt_num(memory_kb.map(|kb| kb as f64 / 1024.0)),
        walltime.map(|m| m.to_string()).unwrap_or_default(),
        last.and_then(|a| a.cause)
            .map(|c| c.to_string())
            .unwrap_or_default(),
    ]
}

/// The fixed cells of a point's row, in [`BASE_COLUMNS`] order: its last attempt's job, state,
/// times and use (the scheduler's report where it has one), why it failed, and what it asked for.
fn base_cells(
    input: &CsvInput<'_>,
    limits: &Limits,
    p: &PointRec,
    report: Option<&JobReport>,
) -> Vec<String> {
    let last = p.last();
    let lsf_time = |t: Option<&String>| t.and_then(|t| input.times.get(t)).copied();
    let failed = !matches!(p.state(), crate::model::State::Done);
    let killed = report.and_then(|r| match &r.outcome {
        ReportOutcome::Killed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    let mut cells = vec![
        last.and_then(|a| a.job_id.as_ref())
            .map(|j| j.to_string())
            .unwrap_or_default(),
        where_label(input.meta, p).unwrap_or_default(),
        p.state().to_string(),
        last.and_then(|a| a.exit_code)
            .map(|c| c.to_string())
            .unwrap_or_default(),
        p.jobs().to_string(),
        // When the scheduler accepted it (before that, the time is the intent's).
        fmt_time(
            last.filter(|a| a.job_id.is_some())
                .and_then(|a| a.submitted),
        ),
        fmt_time(
            lsf_time(report.and_then(|t| t.started.as_ref())).or(last.and_then(|a| a.started)),
        ),
        fmt_time(lsf_time(report.and_then(|t| t.ended.as_ref())).or(last.and_then(|a| a.ended))),
        fmt_num(
            last.and_then(|a| a.run_seconds)
                .or(report.and_then(|t| t.run_seconds)),
        ),
        fmt_num(
            last.and_then(|a| a.max_mem_mb)
                .or(report.and_then(|t| t.max_mem_mb)),
        ),
        last.filter(|_| failed)
            .and_then(|a| a.error.clone())
            .or(killed.filter(|_| failed))
            .unwrap_or_default(),
    ];
    cells.extend(limit_cells(p, limits));
    cells
}

/// The metric columns in the order first seen, and each row's cells by column index.
fn metric_columns(
    rows: Vec<Metrics>,
    naming: &Naming<'_>,
) -> (Vec<String>, Vec<HashMap<usize, String>>) {
    let mut cols: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut cells = Vec::with_capacity(rows.len());
    for m in rows {
        let mut row = HashMap::new();
        let named = m
            .file
            .into_iter()
            .map(|(k, v)| (naming.of_file(&k), v))
            .chain(m.stdout.into_iter().map(|(k, v)| (naming.of_stdout(&k), v)));
        for (col, v) in named {
            let i = *index.entry(col.clone()).or_insert_with(|| {
                cols.push(col);
                cols.len() - 1
            });
            // A later value of a key wins (the last epoch's loss).
            row.insert(i, v);
        }
        cells.push(row);
    }
    (cols, cells)
}

/// What [`write_csv`] reads.
pub struct CsvInput<'a> {
    pub meta: &'a SweepMeta,
    pub opts: &'a CollectOpts,
    /// Where the points' outputs are on this machine.
    pub jobs: &'a JobPaths,
    pub points: &'a [PointRec],
    /// The scheduler's reports of [`read_reports`] (run time, memory and, through `times`, the
    /// exact start and end it recorded); without one a row has what bsweep saw while following.
    pub reports: &'a [Option<JobReport>],
    pub times: &'a HashMap<String, f64>,
    /// Points whose metrics file a download already said did not come back, and why: their
    /// file is not called missing again.
    pub explained: &'a HashSet<u64>,
}

/// Writes the CSV summary of a sweep to `out` (`output` names it in errors). Every point gets
/// a row, whatever its state.
pub fn write_csv(
    input: &CsvInput<'_>,
    out: impl io::Write,
    output: &Path,
) -> Result<CollectReport, CollectError> {
    let (meta, opts) = (input.meta, input.opts);
    let re = opts.stdout_regex.as_deref().map(Regex::new).transpose()?;
    let dialect = Dialect::of(meta.backend);
    let mut report = CollectReport::default();
    let taken: Vec<&str> = ["sweep", "index"]
        .into_iter()
        .chain(meta.param_names.iter().map(String::as_str))
        .chain(BASE_COLUMNS.iter().copied())
        .collect();
    // The sweep file's limits, for attempts that did not override them.
    let limits = Spec::from_toml(&meta.spec_text, &meta.source)
        .map(|s| s.limits())
        .unwrap_or_default();
    let mut rows: Vec<Metrics> = Vec::with_capacity(input.points.len());
    let mut naming = Naming {
        taken: taken.iter().copied().collect(),
        in_file: HashSet::new(),
    };
    for p in input.points {
        let mut notes = Notes {
            missing: None,
            other: Vec::new(),
        };
        let job = p.last().filter(|a| a.job_id.is_some());
        let dir = input.jobs.out_dir(p.index);
        let m = metrics_of(
            opts,
            re.as_ref(),
            dialect,
            &dir,
            job.map(|a| a.job_name.as_str()),
            &mut notes,
        );
        let empty = m.file.is_empty() && m.stdout.is_empty();
        let missing = notes
            .missing
            .filter(|_| empty && !input.explained.contains(&p.index));
        let said: Vec<String> = missing.into_iter().chain(notes.other).collect();
        if !said.is_empty() {
            report.problems.push((p.index, said.join("; ")));
        }
        naming.in_file.extend(m.file.iter().map(|(k, _)| k.clone()));
        rows.push(m);
    }
    let (metric_cols, cells) = metric_columns(rows, &naming);
    let werr = |source| CollectError::Write {
        path: output.to_path_buf(),
        source,
    };
    // Values are guarded (parameters, the reason a job failed, metrics and their names); the
    // columns bsweep fills itself are not, so a target stays `@gpu_hosts` as LSF names it.
    let base = taken.len() - BASE_COLUMNS.len();
    let reason = base
        + BASE_COLUMNS
            .iter()
            .position(|c| *c == "reason")
            .expect("a reason column");
    let guarded = |i: usize| (2..base).contains(&i) || i == reason || i >= taken.len();
    let mut w = csv::Writer::from_writer(out);
    let header = taken
        .iter()
        .copied()
        .chain(metric_cols.iter().map(String::as_str));
    for (i, cell) in header.enumerate() {
        write_cell(&mut w, guarded(i), cell).map_err(werr)?;
    }
    w.write_record(None::<&[u8]>).map_err(werr)?;
    let reports = input.reports.iter().chain(std::iter::repeat(&None));
    for ((p, row), rep) in input.points.iter().zip(&cells).zip(reports) {
        let mut rec: Vec<String> = vec![meta.name.clone(), p.index.to_string()];
        rec.extend(p.params.iter().map(|(_, v)| v.to_string()));
        rec.extend(base_cells(input, &limits, p, rep.as_ref()));
        rec.extend((0..metric_cols.len()).map(|i| row.get(&i).cloned().unwrap_or_default()));
        for (i, cell) in rec.iter().enumerate() {
            write_cell(&mut w, guarded(i), cell).map_err(werr)?;
        }
        w.write_record(None::<&[u8]>).map_err(werr)?;
    }
    w.flush().map_err(|e| werr(e.into()))?;
    report.rows = input.points.len();
    report.metric_columns = metric_cols.len();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lsf_report_times_go_to_date_each_once() {
        assert!(is_report_time("Sun Apr  5 13:39:23 2020"));
        assert!(is_report_time("Mon Apr 16 02:07:20 2020"));
        assert!(!is_report_time("Apr  5 13:39"));
        assert!(!is_report_time("Sun Apr  5 13:39:23 2020; rm -rf ~"));
        let t = |started: &str, finished: &str| JobReport {
            job_id: None,
            outcome: crate::sched::ReportOutcome::Done,
            max_mem_mb: None,
            run_seconds: None,
            started: Some(started.into()),
            ended: Some(finished.into()),
        };
        let reports = [
            Some(t("Sun Apr  5 13:39:23 2020", "Mon Apr  6 02:07:20 2020")),
            None,
            Some(t("Sun Apr  5 13:39:23 2020", "garbage")),
        ];
        assert_eq!(
            report_times(&reports),
            ["Sun Apr  5 13:39:23 2020", "Mon Apr  6 02:07:20 2020"]
        );
    }

    #[test]
    fn metric_names_never_share_a_column() {
        let naming = Naming {
            taken: ["sweep", "index", "k", "state"].into_iter().collect(),
            in_file: ["loss", "metric.k"].into_iter().map(String::from).collect(),
        };
        let cols = [
            naming.of_file("k"),
            naming.of_file("metric.k"),
            naming.of_file("loss"),
            naming.of_file("stdout.loss"),
            naming.of_file("acc"),
            naming.of_stdout("loss"),
            naming.of_stdout("metric.k"),
            naming.of_stdout("state"),
            naming.of_stdout("epoch"),
        ];
        assert_eq!(
            cols,
            [
                "metric.k",
                "metric.metric.k",
                "loss",
                "metric.stdout.loss",
                "acc",
                "stdout.loss",
                "stdout.metric.k",
                "metric.state",
                "epoch",
            ]
        );
        let distinct: HashSet<&String> = cols.iter().collect();
        assert_eq!(distinct.len(), cols.len());
    }

    #[test]
    fn formula_cells_are_made_inert_but_numbers_are_not() {
        for (cell, want) in [
            ("=1+1", "'=1+1"),
            ("+cmd", "'+cmd"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("-inf", "'-inf"),
            ("-1.5", "-1.5"),
            ("+3e-2", "+3e-2"),
            ("-.5", "-.5"),
            ("-7", "-7"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(inert(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn kv_lines_only_when_every_word_is_a_pair() {
        let mut out = Vec::new();
        scrape_kv(
            "epoch=1 loss=0.5\nsetting x=1 for y\nepoch=2 loss=0.25\n=3\n",
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                ("epoch".into(), "1".into()),
                ("loss".into(), "0.5".into()),
                ("epoch".into(), "2".into()),
                ("loss".into(), "0.25".into()),
            ]
        );
    }

    #[test]
    fn regex_named_groups() {
        let re = Regex::new(r"acc: (?P<acc>[0-9.]+)").unwrap();
        let mut out = Vec::new();
        scrape_regex(&re, "acc: 0.1\nacc: 0.7\n", &mut out);
        assert_eq!(out.last(), Some(&("acc".to_string(), "0.7".to_string())));
    }
}
