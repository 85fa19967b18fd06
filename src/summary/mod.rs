//! Summary: what won, how sure, what it cost. Groups a sweep's points by their parameters
//! (all but the repetition axes), gives per group and metric the mean, spread and 95 % interval
//! over the points that are done, ranks the groups by a primary metric and shows each
//! parameter's effect. Pure: the rows come from collect, the renderers return text.

mod render;
mod results;
pub mod stats;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::State;
pub use crate::spec::Goal;
use crate::spec::Value;

pub(crate) use render::shorten;
pub use render::{fmt_mean_std, fmt_sig, table_csv, table_text, to_json};
pub use results::{ResultsError, read_rows, read_rows_from};

/// One point of a sweep as collect sees it: its parameters, how its last attempt ended and what
/// it reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub index: u64,
    /// In grid order.
    pub params: Vec<(String, Value)>,
    pub state: State,
    /// The last attempt's job (`123`, `123[4]`), once the scheduler accepted it.
    #[serde(default)]
    pub job_id: Option<String>,
    /// The queue, partition or host group the last attempt ran in (`local` on this machine).
    pub target: String,
    pub attempts: u32,
    pub exit_code: Option<i32>,
    /// Why the last attempt failed, if known (`TERM_MEMLIMIT`, a refused submission).
    pub reason: Option<String>,
    /// Unix seconds, of the last attempt.
    pub submitted: Option<f64>,
    pub started: Option<f64>,
    pub ended: Option<f64>,
    pub run_seconds: Option<f64>,
    pub max_mem_mb: Option<f64>,
    /// As collected, as text; a later value of a key wins over an earlier one.
    pub metrics: Vec<(String, String)>,
    /// The last lines of stderr (failed points).
    pub stderr_tail: Option<String>,
}

impl Row {
    /// A point nothing is known about yet.
    pub fn unsubmitted(index: u64, params: Vec<(String, Value)>) -> Row {
        Row {
            index,
            params,
            state: State::Unsubmitted,
            job_id: None,
            target: String::new(),
            attempts: 0,
            exit_code: None,
            reason: None,
            submitted: None,
            started: None,
            ended: None,
            run_seconds: None,
            max_mem_mb: None,
            metrics: Vec::new(),
            stderr_tail: None,
        }
    }
}

/// What the summary and the report say about the sweep as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepInfo {
    pub name: String,
    /// The sweep file, as given at launch.
    pub file: String,
    pub backend: String,
    pub targets: Vec<String>,
    /// Points in the sweep.
    pub count: u64,
    pub param_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SummaryOpts {
    /// The metric that ranks the groups; without one they keep grid order.
    pub metric: Option<String>,
    pub goal: Goal,
    /// Parameters to average over rather than group by; `None`: `repeat` when the sweep has
    /// it, else none. `Some([])` groups by every parameter.
    pub over: Option<Vec<String>>,
    /// Groups the text table shows (0: all); JSON and CSV always have every group.
    pub top: usize,
}

impl Default for SummaryOpts {
    fn default() -> Self {
        Self {
            metric: None,
            goal: Goal::Max,
            over: None,
            top: 10,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("no metric `{name}` in the results; numeric metrics: {}; other metrics: {}; \
        name a numeric one with --metric", list(.numeric), list(.text))]
    UnknownMetric {
        name: String,
        numeric: Vec<String>,
        text: Vec<String>,
    },
    #[error("metric `{name}` is not numeric (point {index} has `{value}`); numeric metrics: {}; \
        name one with --metric", list(.numeric))]
    NotNumeric {
        name: String,
        index: u64,
        value: String,
        numeric: Vec<String>,
    },
    #[error("`{name}` is not a parameter of the sweep; parameters: {}; `--over ''` groups by \
        every parameter", list(.params))]
    UnknownOver { name: String, params: Vec<String> },
    #[error("point {index} has no value for parameter `{name}`")]
    MissingParam { index: u64, name: String },
    #[error("cannot write the csv table")]
    Csv(#[from] csv::Error),
}

impl SummaryError {
    /// A metric or parameter the command line (or the sweep file) names wrongly.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            SummaryError::UnknownMetric { .. }
                | SummaryError::NotNumeric { .. }
                | SummaryError::UnknownOver { .. }
        )
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Statistics of one metric over the done points of a group (`n` values; the rest `None` when
/// there are none, `std` and `ci95` when there is only one).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub n: u64,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub ci95: Option<f64>,
}

impl Stats {
    fn of(xs: &[f64]) -> Stats {
        stats::describe(xs).map_or_else(Stats::default, |d| Stats {
            n: d.n,
            mean: Some(d.mean),
            std: d.std,
            min: Some(d.min),
            max: Some(d.max),
            ci95: d.ci95,
        })
    }
}

/// The points that share every grouping parameter's value.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The grouping parameters (grid order, without `over`) and this group's values.
    pub params: Vec<(String, Value)>,
    /// Points, whatever their state, and those done.
    pub n: u64,
    pub n_done: u64,
    /// One per [`Summary::metrics`], in that order.
    pub metrics: Vec<Stats>,
    /// The best group by the primary metric (at most one).
    pub best: bool,
}

/// The primary metric over every done point that has one value of a parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub value: Value,
    pub n: u64,
    pub mean: Option<f64>,
    pub std: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub param: String,
    /// In grid order.
    pub levels: Vec<Level>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub sweep: String,
    pub metric: Option<String>,
    pub goal: Goal,
    pub over: Vec<String>,
    /// The grouping parameters, in grid order.
    pub params: Vec<String>,
    /// The numeric metrics, in the order they first appear; the primary one among them.
    pub metrics: Vec<String>,
    /// The primary metric's place in `metrics`.
    pub primary: Option<usize>,
    /// Best first by the primary metric (groups without a value last), else in grid order.
    pub groups: Vec<Group>,
    /// For each grouping parameter with more than one value; none without a primary metric.
    pub effects: Vec<Effect>,
    pub top: usize,
    /// Points in the rows, and those done.
    pub points: u64,
    pub done: u64,
}

impl Summary {
    /// The primary metric's statistics for a group.
    pub fn primary_stats<'a>(&self, g: &'a Group) -> Option<&'a Stats> {
        g.metrics.get(self.primary?)
    }
}

/// A parameter value as a hash key: numbers by their bits (so `2` and `2.0`, different values in
/// a sweep file, stay different levels), zero signs folded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key<'a> {
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(&'a str),
}

fn key(v: &Value) -> Key<'_> {
    match v {
        Value::Bool(b) => Key::Bool(*b),
        Value::Int(i) => Key::Int(*i),
        Value::Float(x) => Key::Float(if x.value() == 0.0 {
            0
        } else {
            x.value().to_bits()
        }),
        Value::Str(s) => Key::Str(s),
    }
}

/// The distinct values of one parameter, in order of first appearance.
#[derive(Default)]
struct Levels<'a> {
    ids: HashMap<Key<'a>, u32>,
    values: Vec<&'a Value>,
}

impl<'a> Levels<'a> {
    fn id(&mut self, v: &'a Value) -> u32 {
        let next = self.values.len() as u32;
        *self.ids.entry(key(v)).or_insert_with(|| {
            self.values.push(v);
            next
        })
    }
}

/// One metric column across the rows.
struct Column<'a> {
    name: &'a str,
    /// The first value that is not a finite number, and its point.
    not_numeric: Option<(u64, &'a str)>,
    /// (position in `order`, value) of the done points, in grid order.
    done: Vec<(usize, f64)>,
}

fn parse_metric(text: &str) -> Option<Result<f64, ()>> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    Some(t.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or(()))
}

/// Reads every row's metrics into columns. A key given twice in a row counts once, its last
/// value.
fn columns<'a>(rows: &'a [Row], order: &[usize]) -> Vec<Column<'a>> {
    let mut cols: Vec<Column> = Vec::new();
    let mut col_of: HashMap<&str, usize> = HashMap::new();
    // Which row last set a column, to keep only the last value of a repeated key.
    let mut seen: Vec<usize> = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        let row = &rows[i];
        for (k, _) in &row.metrics {
            col_of.entry(k.as_str()).or_insert_with(|| {
                cols.push(Column {
                    name: k,
                    not_numeric: None,
                    done: Vec::new(),
                });
                seen.push(usize::MAX);
                cols.len() - 1
            });
        }
        for (k, v) in row.metrics.iter().rev() {
            let c = col_of[k.as_str()];
            if seen[c] == pos {
                continue;
            }
            seen[c] = pos;
            let col = &mut cols[c];
            match parse_metric(v) {
                Some(Err(())) => {
                    col.not_numeric.get_or_insert((row.index, v));
                }
                Some(Ok(x)) if row.state == State::Done => col.done.push((pos, x)),
                _ => {}
            }
        }
    }
    for col in &mut cols {
        // The reverse pass within a row does not change the order across rows.
        col.done.sort_by_key(|&(pos, _)| pos);
    }
    cols
}

/// Statistics of the values of `pairs` per bucket (`bucket_of` maps a row position to its
/// bucket): a counting sort, so memory stays linear in the values.
fn bucket_stats(pairs: &[(usize, f64)], bucket_of: &[u32], buckets: usize) -> Vec<Stats> {
    let mut start = vec![0usize; buckets + 1];
    for &(pos, _) in pairs {
        start[bucket_of[pos] as usize + 1] += 1;
    }
    for b in 0..buckets {
        start[b + 1] += start[b];
    }
    let mut fill = start.clone();
    let mut flat = vec![0.0; pairs.len()];
    for &(pos, x) in pairs {
        let b = bucket_of[pos] as usize;
        flat[fill[b]] = x;
        fill[b] += 1;
    }
    (0..buckets)
        .map(|b| Stats::of(&flat[start[b]..start[b + 1]]))
        .collect()
}

/// Groups, ranks and describes the rows. Counts what is done so far, so it works while the sweep
/// runs. A primary metric no row has is an error listing the metrics there are, unless no done
/// point has reported any metric yet.
pub fn summarize(
    info: &SweepInfo,
    rows: &[Row],
    opts: &SummaryOpts,
) -> Result<Summary, SummaryError> {
    let over = over_params(info, opts)?;
    let params: Vec<String> = info
        .param_names
        .iter()
        .filter(|p| !over.contains(p))
        .cloned()
        .collect();

    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| rows[i].index);

    let cols = columns(rows, &order);
    let Chosen {
        metrics,
        values,
        primary,
    } = choose_metrics(&cols, rows, opts)?;
    let grouping = Grouping::of(info, rows, &order, &params)?;
    let mut groups = grouping.groups(rows, &order, &params, &values);
    if let Some(m) = primary {
        rank(&mut groups, m, opts.goal);
    }
    let effects = match primary {
        None => Vec::new(),
        Some(m) => grouping.effects(&params, values[m]),
    };

    Ok(Summary {
        sweep: info.name.clone(),
        metric: opts.metric.clone(),
        goal: opts.goal,
        over,
        params,
        metrics,
        primary,
        groups,
        effects,
        top: opts.top,
        points: rows.len() as u64,
        done: rows.iter().filter(|r| r.state == State::Done).count() as u64,
    })
}

/// The parameters averaged over: as asked, else `repeat` when the sweep has it; each must be a
/// parameter of the sweep.
fn over_params(info: &SweepInfo, opts: &SummaryOpts) -> Result<Vec<String>, SummaryError> {
    let over: Vec<String> = match &opts.over {
        Some(over) => over.clone(),
        None => info
            .param_names
            .iter()
            .filter(|p| *p == "repeat")
            .cloned()
            .collect(),
    };
    if let Some(bad) = over.iter().find(|o| !info.param_names.contains(o)) {
        return Err(SummaryError::UnknownOver {
            name: bad.clone(),
            params: info.param_names.clone(),
        });
    }
    Ok(over)
}

/// The numeric metrics the summary describes, their done values, and the primary one's place.
struct Chosen<'a> {
    metrics: Vec<String>,
    /// One per metric: (position in `order`, value) of the done points.
    values: Vec<&'a [(usize, f64)]>,
    primary: Option<usize>,
}

/// Keeps the numeric columns and finds the primary metric among them, so that a misspelt or
/// non-numeric one is an error naming those there are.
fn choose_metrics<'a>(
    cols: &'a [Column<'a>],
    rows: &[Row],
    opts: &SummaryOpts,
) -> Result<Chosen<'a>, SummaryError> {
    let numeric: Vec<&Column> = cols.iter().filter(|c| c.not_numeric.is_none()).collect();
    let names = |cs: &[&Column]| cs.iter().map(|c| c.name.to_string()).collect::<Vec<_>>();
    let mut metrics = names(&numeric);
    let mut values: Vec<&[(usize, f64)]> = numeric.iter().map(|c| c.done.as_slice()).collect();
    let primary = match &opts.metric {
        None => None,
        Some(name) => match cols.iter().find(|c| c.name == name) {
            Some(c) => match c.not_numeric {
                Some((index, value)) => {
                    return Err(SummaryError::NotNumeric {
                        name: name.clone(),
                        index,
                        value: value.to_string(),
                        numeric: metrics,
                    });
                }
                None => metrics.iter().position(|m| m == name),
            },
            // No done point has reported anything yet (running ones may have printed some
            // progress): an empty column, filled in by later summaries.
            None if !done_reported(rows) => {
                metrics.push(name.clone());
                values.push(&[]);
                Some(metrics.len() - 1)
            }
            None => {
                let text: Vec<&Column> = cols.iter().filter(|c| c.not_numeric.is_some()).collect();
                return Err(SummaryError::UnknownMetric {
                    name: name.clone(),
                    numeric: metrics,
                    text: names(&text),
                });
            }
        },
    };
    Ok(Chosen {
        metrics,
        values,
        primary,
    })
}

/// Each row's level of each grouping parameter, and its group.
struct Grouping<'a> {
    /// One per grouping parameter.
    levels: Vec<Levels<'a>>,
    /// Per grouping parameter, each row's level id (rows by position in `order`).
    level_of: Vec<Vec<u32>>,
    /// Each row's group (by position in `order`).
    group_of: Vec<u32>,
    /// Each group's level ids, in order of first appearance.
    group_keys: Vec<Vec<u32>>,
}

impl<'a> Grouping<'a> {
    /// Assigns every row (in `order`) its levels and group; a row without a value for a grouping
    /// parameter is an error.
    fn of(
        info: &SweepInfo,
        rows: &'a [Row],
        order: &[usize],
        params: &[String],
    ) -> Result<Grouping<'a>, SummaryError> {
        let mut levels: Vec<Levels> = params.iter().map(|_| Levels::default()).collect();
        let mut level_of: Vec<Vec<u32>> = params
            .iter()
            .map(|_| Vec::with_capacity(order.len()))
            .collect();
        let mut group_ids: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut group_of: Vec<u32> = Vec::with_capacity(order.len());
        let mut group_keys: Vec<Vec<u32>> = Vec::new();
        let mut key_buf: Vec<u32> = Vec::with_capacity(params.len());
        let param_at: Vec<Option<usize>> = params
            .iter()
            .map(|p| info.param_names.iter().position(|q| q == p))
            .collect();
        for &i in order {
            let row = &rows[i];
            key_buf.clear();
            for (j, p) in params.iter().enumerate() {
                let value =
                    param_value(row, p, param_at[j]).ok_or_else(|| SummaryError::MissingParam {
                        index: row.index,
                        name: p.clone(),
                    })?;
                let id = levels[j].id(value);
                level_of[j].push(id);
                key_buf.push(id);
            }
            let next = group_ids.len() as u32;
            let g = match group_ids.get(&key_buf) {
                Some(&g) => g,
                None => {
                    group_keys.push(key_buf.clone());
                    group_ids.insert(key_buf.clone(), next);
                    next
                }
            };
            group_of.push(g);
        }
        Ok(Grouping {
            levels,
            level_of,
            group_of,
            group_keys,
        })
    }

    /// The groups in order of first appearance, with their point counts and every metric's
    /// statistics.
    fn groups(
        &self,
        rows: &[Row],
        order: &[usize],
        params: &[String],
        values: &[&[(usize, f64)]],
    ) -> Vec<Group> {
        let n_groups = self.group_keys.len();
        let mut counts = vec![(0u64, 0u64); n_groups];
        for (pos, &i) in order.iter().enumerate() {
            let c = &mut counts[self.group_of[pos] as usize];
            c.0 += 1;
            c.1 += u64::from(rows[i].state == State::Done);
        }
        let per_metric: Vec<Vec<Stats>> = values
            .iter()
            .map(|v| bucket_stats(v, &self.group_of, n_groups))
            .collect();
        self.group_keys
            .iter()
            .enumerate()
            .map(|(g, key)| Group {
                params: params
                    .iter()
                    .zip(key)
                    .zip(&self.levels)
                    .map(|((p, &id), l)| (p.clone(), l.values[id as usize].clone()))
                    .collect(),
                n: counts[g].0,
                n_done: counts[g].1,
                metrics: per_metric.iter().map(|m| m[g]).collect(),
                best: false,
            })
            .collect()
    }

    /// The primary metric (`values`) per level of every grouping parameter that has more than
    /// one.
    fn effects(&self, params: &[String], values: &[(usize, f64)]) -> Vec<Effect> {
        params
            .iter()
            .enumerate()
            .filter(|(j, _)| self.levels[*j].values.len() > 1)
            .map(|(j, p)| {
                let levels = &self.levels[j];
                let stats = bucket_stats(values, &self.level_of[j], levels.values.len());
                Effect {
                    param: p.clone(),
                    levels: levels
                        .values
                        .iter()
                        .zip(stats)
                        .map(|(v, s)| Level {
                            value: (*v).clone(),
                            n: s.n,
                            mean: s.mean,
                            std: s.std,
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

/// Sorts the groups best first by metric `m` (those without a value last, ties in their order)
/// and marks the first as best when it has a value.
fn rank(groups: &mut [Group], m: usize, goal: Goal) {
    let mean = |g: &Group| g.metrics[m].mean;
    groups.sort_by(|a, b| match (mean(a), mean(b)) {
        (Some(x), Some(y)) => match goal {
            Goal::Max => y.total_cmp(&x),
            Goal::Min => x.total_cmp(&y),
        },
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    if let Some(first) = groups.first_mut().filter(|g| g.metrics[m].mean.is_some()) {
        first.best = true;
    }
}

/// Whether some done point has reported a metric: until then a primary metric cannot be
/// told from a misspelt one.
fn done_reported(rows: &[Row]) -> bool {
    rows.iter()
        .any(|r| r.state == State::Done && r.metrics.iter().any(|(_, v)| !v.trim().is_empty()))
}

/// A row's value of parameter `name`, looked up where the grid puts it first.
fn param_value<'a>(row: &'a Row, name: &str, at: Option<usize>) -> Option<&'a Value> {
    at.and_then(|j| row.params.get(j))
        .filter(|(n, _)| n == name)
        .or_else(|| row.params.iter().find(|(n, _)| n == name))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests;
