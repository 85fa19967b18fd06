//! What users see: the status view (text table and `--json`), and live progress while following.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::sched::State;
use crate::spec::Value;
use crate::store::{PointRec, SweepMeta};

/// One point as `status --json` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PointView {
    pub index: u64,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub state: State,
    pub job_id: Option<String>,
    /// The last attempt's job name (`bsw-…-00042-2`, or `bsw-…-a00000-1[43]` in an array).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    pub queue: Option<String>,
    pub exit_code: Option<i32>,
    pub attempts: usize,
    /// Why the last attempt failed, when bsweep knows more than the exit code (LSF's TERM_
    /// reason, a refused submission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole status of a sweep: `status --json` prints exactly this.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusView {
    pub sweep: String,
    pub id: String,
    pub backend: crate::spec::BackendKind,
    pub total: u64,
    pub counts: BTreeMap<String, u64>,
    pub targets: BTreeMap<String, BTreeMap<String, u64>>,
    pub points: Vec<PointView>,
}

/// Counts of every state, zeros included, so scripts can rely on the keys.
pub fn counts<'a>(points: impl IntoIterator<Item = &'a PointRec>) -> BTreeMap<String, u64> {
    let mut c: BTreeMap<String, u64> = State::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), 0))
        .collect();
    for p in points {
        *c.entry(p.state().as_str().to_string()).or_default() += 1;
    }
    c
}

/// The label of where a point's last attempt went: the queue LSF reported, else the target.
pub fn where_label(meta: &SweepMeta, p: &PointRec) -> Option<String> {
    let a = p.last()?;
    a.queue
        .clone()
        .or_else(|| meta.targets.get(a.target).cloned())
}

/// A parameter value as JSON: what `serde_json::to_value` gives, without a serializer per value
/// (status builds one per parameter of every point).
fn json_value(v: &Value) -> serde_json::Value {
    match v {
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(x) => serde_json::Value::from(*x),
        Value::Str(s) => serde_json::Value::String(s.clone()),
    }
}

pub fn status_view(meta: &SweepMeta, points: &[PointRec]) -> StatusView {
    let mut targets: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for p in points {
        if let Some(label) = where_label(meta, p) {
            *targets
                .entry(label)
                .or_default()
                .entry(p.state().as_str().to_string())
                .or_default() += 1;
        }
    }
    StatusView {
        sweep: meta.name.clone(),
        id: meta.id.clone(),
        backend: meta.backend,
        total: meta.count,
        counts: counts(points),
        targets,
        points: points
            .iter()
            .map(|p| {
                let last = p.last();
                PointView {
                    index: p.index,
                    params: p
                        .params
                        .iter()
                        .map(|(k, v)| (k.clone(), json_value(v)))
                        .collect(),
                    state: p.state(),
                    job_id: last.and_then(|a| a.job_id.clone()),
                    job_name: last
                        .filter(|a| a.job_id.is_some())
                        .map(|a| a.job_name.clone()),
                    queue: where_label(meta, p),
                    exit_code: last.and_then(|a| a.exit_code),
                    attempts: p.attempts.iter().filter(|a| a.job_id.is_some()).count(),
                    error: last.and_then(|a| a.error.clone()),
                }
            })
            .collect(),
    }
}

/// A one-line summary of non-zero counts: `10 done · 2 running`.
pub fn summary_line(counts: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = State::ALL
        .iter()
        .filter_map(|s| {
            let n = counts.get(s.as_str()).copied().unwrap_or(0);
            (n > 0).then(|| format!("{n} {s}"))
        })
        .collect();
    if parts.is_empty() {
        "no points".into()
    } else {
        parts.join(" · ")
    }
}

/// How many failed points `status` lists by name.
const PROBLEMS_SHOWN: usize = 10;

/// One line about a point that did not end well: `point 3 (lr=0.1 layers=2): failed, exit 1,
/// job 1234 on short: TERM_MEMLIMIT: ...`.
fn problem_line(p: &PointView) -> String {
    let params: Vec<String> = p.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut s = format!("point {} ({}): {}", p.index, params.join(" "), p.state);
    if let Some(c) = p.exit_code {
        s.push_str(&format!(", exit {c}"));
    }
    if let Some(id) = &p.job_id {
        s.push_str(&format!(", job {id}"));
    }
    if let Some(q) = &p.queue {
        s.push_str(&format!(" on {q}"));
    }
    if let Some(e) = &p.error {
        s.push_str(&format!(": {}", e.lines().next().unwrap_or_default()));
    }
    s
}

/// The text `status` prints: totals, one line per target, then the points that failed or were
/// lost (the first few), with how to see their output.
pub fn status_text(view: &StatusView) -> String {
    let backend = match view.backend {
        crate::spec::BackendKind::Local => "local",
        crate::spec::BackendKind::Lsf => "lsf",
    };
    let mut s = format!(
        "sweep {} ({}, {} points, {backend} backend)\n  {}\n",
        view.sweep,
        view.id,
        view.total,
        summary_line(&view.counts)
    );
    for (label, c) in &view.targets {
        s.push_str(&format!("  {label}: {}\n", summary_line(c)));
    }
    let problems: Vec<&PointView> = view
        .points
        .iter()
        .filter(|p| matches!(p.state, State::Failed | State::Unknown))
        .collect();
    if let Some(first) = problems.first() {
        s.push_str("  not done:\n");
        for p in problems.iter().take(PROBLEMS_SHOWN) {
            s.push_str(&format!("    {}\n", problem_line(p)));
        }
        if problems.len() > PROBLEMS_SHOWN {
            s.push_str(&format!(
                "    ... and {} more (`bsweep status {} --json` lists every point)\n",
                problems.len() - PROBLEMS_SHOWN,
                view.sweep
            ));
        }
        s.push_str(&format!(
            "  a point's output: bsweep logs {} {} [--stderr]\n",
            view.sweep, first.index
        ));
    }
    s
}

/// Live progress while following a sweep: a bar on a terminal, sparse lines otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
    last_line: String,
    last_print: Instant,
}

impl Progress {
    pub fn new(total: u64, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} finished · {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            last_line: String::new(),
            last_print: Instant::now() - Duration::from_secs(3600),
        }
    }

    /// Shows the current counts; without a terminal, prints a line when they change (at most
    /// one every 2 s unless `force`).
    pub fn update(&mut self, counts: &BTreeMap<String, u64>, force: bool) {
        let finished: u64 = ["done", "failed", "cancelled"]
            .iter()
            .map(|k| counts.get(*k).copied().unwrap_or(0))
            .sum();
        let line = summary_line(counts);
        match &self.bar {
            Some(bar) => {
                bar.set_position(finished);
                bar.set_message(line);
            }
            None => {
                if line != self.last_line
                    && (force || self.last_print.elapsed() >= Duration::from_secs(2))
                {
                    eprintln!("{line}");
                    self.last_line = line;
                    self.last_print = Instant::now();
                }
            }
        }
    }

    /// A message that must not be lost in the bar (warnings, disconnects).
    pub fn note(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.println(msg),
            None => eprintln!("{msg}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
