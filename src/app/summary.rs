//! `summary`: what won, how sure. Reads the results `collect` keeps in the sweep's directory
//! (`results.csv`), running the collect step first when they are missing or no longer match
//! the sweep's records, and groups and ranks them as the sweep file's `[summary]` and the
//! command line say. While another bsweep follows the sweep nothing can collect; the states
//! then come from that bsweep's snapshot and the summary says how far the metrics lag.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use super::collect::Collected;
use super::status::{Look, look};
use super::{AppError, Ctx};
use crate::collect;
use crate::layout::SweepPaths;
use crate::model::{AttemptRec, JobId, PointRec, State};
use crate::spec::{Goal, Spec, SummarySpec};
use crate::store::{Store, SweepMeta};
use crate::summary::{Row, Summary, SummaryOpts, SweepInfo, read_rows, summarize};
use crate::view::PointView;

/// The collected results of a sweep, and how fresh they are.
#[derive(Debug)]
pub struct Results {
    pub info: SweepInfo,
    pub meta: SweepMeta,
    /// The sweep file's `[summary]`.
    pub spec: SummarySpec,
    /// One per point, in index order.
    pub rows: Vec<Row>,
    pub freshness: Freshness,
}

/// Where the rows come from.
#[derive(Debug)]
pub enum Freshness {
    /// The kept results match the sweep's records.
    UpToDate,
    /// The collect step ran first, for the reason given.
    Collected {
        why: Stale,
        collected: Box<Collected>,
    },
    /// Another bsweep (`pid`) follows the sweep, so its store cannot be read: the states are
    /// from that bsweep's snapshot, and `behind` points ended after the last collect (or no
    /// collect ran yet). Their metrics were read from their outputs here (`read`), or they are
    /// on the cluster and the rows have none.
    Followed {
        pid: String,
        behind: u64,
        read: bool,
    },
}

/// Why the results were collected again.
#[derive(Debug)]
pub enum Stale {
    /// None were kept yet.
    Missing,
    /// The kept ones could not be read (the error says why).
    Unreadable(String),
    /// That many points moved on since the last collect.
    Changed(u64),
}

/// What the command line asks for, over the sweep file's `[summary]`.
#[derive(Debug, Clone, Default)]
pub struct Asked {
    pub metric: Option<String>,
    pub goal: Option<Goal>,
    pub over: Option<Vec<String>>,
    pub top: Option<usize>,
}

/// The summary's options: each flag over the sweep file's key. A goal belongs to its metric:
/// another metric than the file's, named without `--max`/`--min`, is ranked higher first.
pub fn opts(spec: &SummarySpec, asked: &Asked) -> SummaryOpts {
    let metric = asked.metric.clone().or_else(|| spec.metric.clone());
    let file_metric = asked.metric.is_none() || asked.metric == spec.metric;
    let goal = asked
        .goal
        .or(if file_metric { spec.goal } else { None })
        .unwrap_or_default();
    SummaryOpts {
        metric,
        goal,
        over: asked.over.clone().or_else(|| spec.over.clone()),
        top: asked.top.or(spec.top).unwrap_or(10),
    }
}

/// The summary of sweep `name`, and the results it was made from.
pub async fn summary(ctx: &Ctx, name: &str, asked: &Asked) -> Result<(Results, Summary), AppError> {
    let results = results(ctx, name).await?;
    let s = summarize(&results.info, &results.rows, &opts(&results.spec, asked))?;
    Ok((results, s))
}

/// The sweep's record: from the copy beside its database (readable while another bsweep
/// holds it); for a sweep that has none, what opening it says (not found, being recorded).
fn record(ctx: &Ctx, name: &str) -> Result<SweepMeta, AppError> {
    Store::read_record(&ctx.home, name).map_err(|e| {
        Store::open(&ctx.home, name, "summary")
            .err()
            .unwrap_or(e)
            .into()
    })
}

fn info_of(meta: &SweepMeta) -> SweepInfo {
    SweepInfo {
        name: meta.name.clone(),
        file: meta.source.display().to_string(),
        backend: serde_json::to_value(meta.backend)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        targets: meta.targets.clone(),
        count: meta.count,
        param_names: meta.param_names.clone(),
    }
}

/// The collected results of sweep `name`, collected first when they are missing or stale.
pub async fn results(ctx: &Ctx, name: &str) -> Result<Results, AppError> {
    let meta = record(ctx, name)?;
    let spec = Spec::from_toml(&meta.spec_text, &meta.source)?;
    let paths = ctx.home.sweep(name)?;
    let csv = paths.results_csv();
    let info = info_of(&meta);
    let read = |info: &SweepInfo| read_rows(&csv, info, spec.points());
    let mut results = Results {
        info: info.clone(),
        meta: meta.clone(),
        spec: spec.summary.clone(),
        rows: Vec::new(),
        freshness: Freshness::UpToDate,
    };
    // Every write to the store touches its files: results newer than all of them are current
    // (unreadable ones are collected again below).
    if newer_than_records(&csv, &paths)
        && let Ok(rows) = read(&info)
    {
        results.rows = rows;
        return Ok(results);
    }
    let have = csv.exists();
    match look(&ctx.home, name)? {
        Look::Owned(store) => {
            let why = match have.then(|| read(&info)) {
                None => Stale::Missing,
                // Collected again below, from the records: nothing is lost.
                Some(Err(e)) => Stale::Unreadable(crate::error_chain(&e)),
                Some(Ok(rows)) => {
                    let mut marks = Vec::with_capacity(rows.len());
                    for p in store.points() {
                        let p = p?;
                        marks.push(Mark::of_point(&p));
                    }
                    let changed = differing(&rows, marks.iter());
                    results.rows = rows;
                    Stale::Changed(changed)
                }
            };
            // Released before collect opens it again (and before the results are touched:
            // closing the store writes its files).
            drop(store);
            if matches!(why, Stale::Changed(0)) {
                touch(&csv);
                return Ok(results);
            }
            let collected = super::collect::collect(ctx, name, Some(csv.clone())).await?;
            results.rows = read(&info)?;
            results.freshness = Freshness::Collected {
                why,
                collected: Box::new(collected),
            };
        }
        Look::Snapshot { path, pid, .. } => {
            let mut rows = if have {
                read(&info)?
            } else {
                spec.points()
                    .map(|p| Row::unsubmitted(p.index, p.params))
                    .collect()
            };
            let snapshot = fs::File::open(&path).map_err(super::io("read", &path))?;
            let ended = overlay(&mut rows, crate::view::snapshot_points(snapshot));
            // The outputs are here unless the jobs run on a cluster reached over SSH.
            let here = meta.cluster_dir.is_none();
            if here && !ended.is_empty() {
                read_metrics(&meta, &spec, &paths, &info, &mut rows, &ended)?;
            }
            results.rows = rows;
            if !ended.is_empty() || !have {
                results.freshness = Freshness::Followed {
                    pid,
                    behind: ended.len() as u64,
                    read: here,
                };
            }
        }
    }
    Ok(results)
}

/// Reads the metrics of the rows at `ended` from their outputs here, the way collect does (its
/// own writer, into a scratch file beside the kept results), while the store is held.
fn read_metrics(
    meta: &SweepMeta,
    spec: &Spec,
    paths: &SweepPaths,
    info: &SweepInfo,
    rows: &mut [Row],
    ended: &[Ended],
) -> Result<(), AppError> {
    // Collect reads a point's output as its last attempt's: give it that attempt, done.
    let points: Vec<PointRec> = ended
        .iter()
        .map(|e| {
            let r = &rows[e.row];
            let mut p = PointRec::new(r.index, r.params.clone());
            if let (Some(name), Some(id)) = (&e.job_name, &r.job_id) {
                let mut a = AttemptRec::found(r.attempts, name.clone(), 0, JobId::parse(id));
                a.state = State::Done;
                p.attempts.push(a);
            }
            p
        })
        .collect();
    let scratch = paths.results_csv().with_extension("followed.csv.tmp");
    let (jobs, times, explained) = (paths.jobs(), HashMap::new(), Default::default());
    let input = collect::CsvInput {
        meta,
        opts: &spec.collect,
        jobs: &jobs,
        points: &points,
        reports: &[],
        times: &times,
        explained: &explained,
    };
    let written = fs::File::create(&scratch)
        .map_err(super::io("create", &scratch))
        .and_then(|f| {
            Ok(collect::write_csv(
                &input,
                std::io::BufWriter::new(f),
                &scratch,
            )?)
        });
    let read = written.and_then(|_| Ok(read_rows(&scratch, info, spec.points())?));
    let _ = fs::remove_file(&scratch);
    for fresh in read? {
        if let Some(i) = row_of(rows, fresh.index) {
            rows[i].metrics = fresh.metrics;
        }
    }
    Ok(())
}

/// What the summary compares between the records and the kept results, per point.
struct Mark {
    index: u64,
    state: State,
    attempts: u32,
    job_id: Option<String>,
}

impl Mark {
    fn of_point(p: &PointRec) -> Mark {
        Mark {
            index: p.index,
            state: p.state(),
            attempts: p.jobs() as u32,
            job_id: p
                .last()
                .and_then(|a| a.job_id.as_ref())
                .map(|j| j.to_string()),
        }
    }

    fn of_view(v: &PointView) -> Mark {
        Mark {
            index: v.index,
            state: v.state,
            attempts: v.attempts as u32,
            job_id: v.job_id.clone(),
        }
    }

    fn matches(&self, r: &Row) -> bool {
        r.index == self.index
            && r.state == self.state
            && r.attempts == self.attempts
            && r.job_id == self.job_id
    }
}

/// The row of point `index` (rows are in index order, one per point).
fn row_of(rows: &[Row], index: u64) -> Option<usize> {
    match usize::try_from(index)
        .ok()
        .filter(|&i| rows.get(i).is_some_and(|r| r.index == index))
    {
        Some(i) => Some(i),
        None => rows.binary_search_by_key(&index, |r| r.index).ok(),
    }
}

/// How many points differ between the records and the rows (a point without a row counts).
fn differing<'a>(rows: &[Row], marks: impl Iterator<Item = &'a Mark>) -> u64 {
    let mut n = 0;
    let mut seen = 0;
    for m in marks {
        seen += 1;
        if !row_of(rows, m.index).is_some_and(|i| m.matches(&rows[i])) {
            n += 1;
        }
    }
    n + (rows.len() as u64).saturating_sub(seen)
}

/// Puts the snapshot's states into the rows. A point whose state moved on loses the metrics
/// collected before (partial at best, while it ran); returns where those that are done now
/// are, whose metrics must be read again (with the job name of their last attempt, whose own
/// output is what counts).
fn overlay(rows: &mut [Row], views: impl IntoIterator<Item = PointView>) -> Vec<Ended> {
    let mut ended = Vec::new();
    for v in views {
        let Some(i) = row_of(rows, v.index) else {
            continue;
        };
        let r = &mut rows[i];
        if Mark::of_view(&v).matches(r) {
            continue;
        }
        r.state = v.state;
        r.attempts = v.attempts as u32;
        r.job_id = v.job_id.clone();
        r.exit_code = v.exit_code;
        if let Some(q) = &v.queue {
            r.target = q.clone();
        }
        r.reason = v.error.clone().or(r.reason.take());
        r.metrics.clear();
        if v.state == State::Done {
            ended.push(Ended {
                row: i,
                job_name: v.job_name,
            });
        }
    }
    ended
}

/// A row whose point is done since the kept results were written.
#[derive(Debug, PartialEq)]
struct Ended {
    row: usize,
    job_name: Option<String>,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Whether `csv` was written after every file of the sweep's records changed (the database's
/// files, the follower's snapshot).
fn newer_than_records(csv: &Path, paths: &SweepPaths) -> bool {
    let Some(written) = mtime(csv) else {
        return false;
    };
    let Ok(entries) = fs::read_dir(paths.db()) else {
        return false;
    };
    let mut newest = mtime(&paths.status());
    for e in entries.flatten() {
        let t = e.metadata().and_then(|m| m.modified()).ok();
        newest = newest.max(t);
    }
    newest.is_some_and(|n| written > n)
}

/// Marks the kept results as checked against the records now, so the next summary reads them
/// without opening the store. Best effort: at worst the next one checks again.
fn touch(csv: &Path) {
    if let Ok(f) = fs::File::options().append(true).open(csv) {
        let _ = f.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Value;

    fn row(index: u64, state: State, metric: Option<&str>) -> Row {
        let mut r = Row::unsubmitted(index, vec![("i".into(), Value::Int(index as i64))]);
        r.state = state;
        r.attempts = u32::from(state != State::Unsubmitted);
        r.job_id = (state != State::Unsubmitted).then(|| format!("{}", 100 + index));
        r.metrics = metric
            .map(|m| vec![("acc".to_string(), m.to_string())])
            .unwrap_or_default();
        r
    }

    fn view(r: &Row) -> PointView {
        PointView {
            index: r.index,
            params: Default::default(),
            state: r.state,
            job_id: r.job_id.clone(),
            job_name: None,
            queue: Some("short".into()),
            exit_code: r.exit_code,
            attempts: r.attempts as usize,
            error: None,
            cause: None,
            overrides: Default::default(),
            earlier: Vec::new(),
        }
    }

    #[test]
    fn the_goal_belongs_to_the_metric_it_was_written_for() {
        let file = SummarySpec {
            metric: Some("loss".into()),
            goal: Some(Goal::Min),
            over: Some(vec![]),
            top: None,
        };
        let o = opts(&file, &Asked::default());
        assert_eq!(
            (o.metric.as_deref(), o.goal, o.top),
            (Some("loss"), Goal::Min, 10)
        );
        assert_eq!(o.over, Some(vec![]));
        let acc = Asked {
            metric: Some("acc".into()),
            ..Asked::default()
        };
        assert_eq!(opts(&file, &acc).goal, Goal::Max);
        let loss = Asked {
            metric: Some("loss".into()),
            top: Some(3),
            ..Asked::default()
        };
        assert_eq!(
            (opts(&file, &loss).goal, opts(&file, &loss).top),
            (Goal::Min, 3)
        );
        let max = Asked {
            goal: Some(Goal::Max),
            over: Some(vec!["seed".into()]),
            ..Asked::default()
        };
        let o = opts(&file, &max);
        assert_eq!(
            (o.goal, o.over),
            (Goal::Max, Some(vec!["seed".to_string()]))
        );
        assert_eq!(opts(&SummarySpec::default(), &Asked::default()).over, None);
    }

    #[test]
    fn points_that_moved_on_are_counted_and_lose_their_partial_metrics() {
        let rows = vec![
            row(0, State::Done, Some("0.9")),
            row(1, State::Running, Some("0.4")),
            row(2, State::Unsubmitted, None),
        ];
        let same: Vec<Mark> = rows.iter().map(|r| Mark::of_view(&view(r))).collect();
        assert_eq!(differing(&rows, same.iter()), 0);
        let mut now: Vec<Row> = rows.clone();
        now[1].state = State::Done;
        now[2] = row(2, State::Running, None);
        let views: Vec<PointView> = now.iter().map(view).collect();
        let marks: Vec<Mark> = views.iter().map(Mark::of_view).collect();
        assert_eq!(differing(&rows, marks.iter()), 2);
        // A point the records have and the rows lack counts too.
        assert_eq!(differing(&rows[..2], marks.iter()), 2);
        let mut shown = rows.clone();
        // Point 1 is done now (its metric was read while it ran): its metrics are read again;
        // point 2 started, which changes its state but gives no metric.
        let ended = overlay(&mut shown, views.clone());
        assert_eq!(ended.iter().map(|e| e.row).collect::<Vec<_>>(), [1]);
        assert_eq!(ended[0].job_name, views[1].job_name);
        assert_eq!(shown[1].state, State::Done);
        assert!(
            shown[1].metrics.is_empty(),
            "a partial metric is not a result"
        );
        assert_eq!(
            (shown[2].state, shown[2].target.as_str()),
            (State::Running, "short")
        );
        assert_eq!(shown[0], rows[0], "an unchanged point keeps its row");
    }
}
