//! Collect: read each point's metrics (a JSON file, `key=value` lines or a regex over stdout) and
//! write one CSV row per point with its parameters, job, state, times and metrics.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use regex::Regex;

use crate::layout::{JobPaths, STDOUT_FILE};
use crate::model::PointRec;
use crate::sched::{Dialect, JobReport};
use crate::spec::CollectOpts;
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
    /// Points with no metrics at all, and why (missing file, bad JSON), by index.
    pub problems: Vec<(u64, String)>,
}

/// Flattens a JSON value into dotted keys: `{"a": {"b": 1}}` → `a.b = 1`.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        serde_json::Value::Null => out.push((prefix.to_string(), String::new())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
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

/// The metrics of one point; later values of a key win (the last epoch's loss).
fn metrics_of(
    opts: &CollectOpts,
    re: Option<&Regex>,
    dir: &Path,
    problems: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(file) = &opts.metrics_json {
        let path = dir.join(file);
        match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(v) => flatten("", &v, &mut out),
                Err(e) => problems.push(format!("{}: not valid JSON ({e})", path.display())),
            },
            Err(_) => problems.push(format!("{} is missing", path.display())),
        }
    }
    if opts.stdout_kv || re.is_some() {
        let stdout = fs::read_to_string(dir.join(STDOUT_FILE)).unwrap_or_default();
        if opts.stdout_kv {
            scrape_kv(&stdout, &mut out);
        }
        if let Some(re) = re {
            scrape_regex(re, &stdout, &mut out);
        }
    }
    out
}

/// The scheduler's report of an attempt in its output file (several attempts append to one
/// file; the report names its job). LSF 10 writes it after the job's output, OpenLava before:
/// the dialect finds it either way without reading more of a big file than it must.
fn read_report(dialect: Dialect, report: &Path, job_name: &str) -> Option<JobReport> {
    dialect.report_in_file(report, job_name)
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
        .map(|t| {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs_f64(t)).to_string()
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

/// The fixed columns after the parameters.
const BASE_COLUMNS: &[&str] = &[
    "job_id",
    "target",
    "state",
    "exit_code",
    "attempts",
    "started",
    "ended",
    "run_seconds",
    "max_mem_mb",
];

/// Writes the CSV summary of a sweep. Every point gets a row, whatever its state. `reports` are
/// the scheduler's reports of [`read_reports`] (run time, memory and, through `times`, the exact
/// start and end it recorded); without one a row has what bsweep saw while following. `jobs` is
/// where the points' outputs are on this machine.
pub fn write_csv(
    meta: &SweepMeta,
    opts: &CollectOpts,
    jobs: &JobPaths,
    points: &[PointRec],
    reports: &[Option<JobReport>],
    times: &HashMap<String, f64>,
    output: &Path,
) -> Result<CollectReport, CollectError> {
    let re = opts.stdout_regex.as_deref().map(Regex::new).transpose()?;
    let mut report = CollectReport::default();
    let mut rows_metrics: Vec<HashMap<String, String>> = Vec::with_capacity(points.len());
    let mut metric_cols: Vec<String> = Vec::new();
    let taken: Vec<&str> = ["sweep", "index"]
        .into_iter()
        .chain(meta.param_names.iter().map(String::as_str))
        .chain(BASE_COLUMNS.iter().copied())
        .collect();
    let mut col_of: HashMap<String, String> = HashMap::new();
    for p in points {
        let mut problems = Vec::new();
        let m = metrics_of(opts, re.as_ref(), &jobs.out_dir(p.index), &mut problems);
        if m.is_empty() && !problems.is_empty() {
            report.problems.push((p.index, problems.join("; ")));
        }
        let mut row = HashMap::new();
        for (k, v) in m {
            let col = col_of
                .entry(k.clone())
                .or_insert_with(|| {
                    // A metric named like a parameter or a fixed column keeps both visible.
                    let col = if taken.contains(&k.as_str()) {
                        format!("metric.{k}")
                    } else {
                        k.clone()
                    };
                    metric_cols.push(col.clone());
                    col
                })
                .clone();
            row.insert(col, v);
        }
        rows_metrics.push(row);
    }
    let werr = |source| CollectError::Write {
        path: output.to_path_buf(),
        source,
    };
    let mut w = csv::Writer::from_path(output).map_err(werr)?;
    let header: Vec<&str> = taken
        .iter()
        .copied()
        .chain(metric_cols.iter().map(String::as_str))
        .collect();
    w.write_record(&header).map_err(werr)?;
    for ((p, metrics), report) in points
        .iter()
        .zip(&rows_metrics)
        .zip(reports.iter().chain(std::iter::repeat(&None)))
    {
        let last = p.last();
        let report = report.as_ref();
        let lsf_time = |t: Option<&String>| t.and_then(|t| times.get(t)).copied();
        let mut rec: Vec<String> = vec![meta.name.clone(), p.index.to_string()];
        rec.extend(p.params.iter().map(|(_, v)| v.to_string()));
        rec.push(
            last.and_then(|a| a.job_id.as_ref())
                .map(|j| j.to_string())
                .unwrap_or_default(),
        );
        rec.push(where_label(meta, p).unwrap_or_default());
        rec.push(p.state().to_string());
        rec.push(
            last.and_then(|a| a.exit_code)
                .map(|c| c.to_string())
                .unwrap_or_default(),
        );
        rec.push(p.jobs().to_string());
        rec.push(fmt_time(
            lsf_time(report.and_then(|t| t.started.as_ref())).or(last.and_then(|a| a.started)),
        ));
        rec.push(fmt_time(
            lsf_time(report.and_then(|t| t.ended.as_ref())).or(last.and_then(|a| a.ended)),
        ));
        let run = last
            .and_then(|a| a.run_seconds)
            .or(report.and_then(|t| t.run_seconds));
        let mem = last
            .and_then(|a| a.max_mem_mb)
            .or(report.and_then(|t| t.max_mem_mb));
        rec.push(fmt_num(run));
        rec.push(fmt_num(mem));
        rec.extend(
            metric_cols
                .iter()
                .map(|c| metrics.get(c).cloned().unwrap_or_default()),
        );
        w.write_record(&rec).map_err(werr)?;
    }
    w.flush().map_err(|e| werr(e.into()))?;
    report.rows = points.len();
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
    fn flattens_nested_json_with_dots() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"loss": 0.5, "eval": {"acc": 0.9, "f1": null}, "tag": "x"}"#)
                .unwrap();
        let mut out = Vec::new();
        flatten("", &v, &mut out);
        assert_eq!(
            out,
            vec![
                ("loss".into(), "0.5".into()),
                ("eval.acc".into(), "0.9".into()),
                ("eval.f1".into(), "".into()),
                ("tag".into(), "x".into()),
            ]
        );
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
