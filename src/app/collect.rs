//! `collect`: bring each point's files back from the cluster (when the sweep runs there), read
//! the scheduler's reports and the metrics, and write one CSV row per point.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use super::{AppError, ClusterError, Ctx, connect};
use crate::collect::{self, CollectReport};
use crate::layout::{JobPaths, STDOUT_FILE};
use crate::model::{PointRec, State, names};
use crate::sched::Dialect;
use crate::spec::Spec;
use crate::store::Store;
use crate::transport::{AnyTransport, Transport};

/// Points per download round trip.
const POINTS_PER_DOWNLOAD: usize = 2000;

/// What `collect` did, besides the CSV.
#[derive(Debug, Default)]
pub struct Collected {
    pub output: PathBuf,
    pub report: CollectReport,
    /// Files brought back from the cluster, and those missing there.
    pub fetched: usize,
    pub missing: Vec<String>,
    /// Entries of a download refused because they would land outside the sweep's directory.
    pub refused: Vec<String>,
    /// Points not done: their rows have no or partial metrics.
    pub not_done: usize,
    /// Times are as bsweep saw them, not the scheduler's: why.
    pub times_note: Option<String>,
}

pub async fn collect(
    ctx: &Ctx,
    name: &str,
    output: Option<PathBuf>,
) -> Result<Collected, AppError> {
    let store = Store::open(&ctx.home, name, "collect")?;
    let meta = store.meta().clone();
    let spec = Spec::from_toml(&meta.spec_text, &meta.source)?;
    let points = store.load_points()?;
    let mut done = Collected {
        output: output.unwrap_or_else(|| PathBuf::from(format!("{name}.csv"))),
        ..Collected::default()
    };
    let remote = match (&meta.host, &meta.cluster_dir) {
        (Some(_), Some(dir)) => {
            let t = connect::transport_of(&ctx.home, &meta).await?;
            fetch_outputs(&t, dir, &spec, &store, &points, &mut done).await?;
            Some(t)
        }
        _ => None,
    };
    let local = store.paths().jobs();
    let reports = collect::read_reports(Dialect::of(meta.backend), &local, &points);
    let texts = collect::report_times(&reports);
    let times = match report_epochs(remote.as_ref(), &texts).await {
        Ok(t) => t,
        Err(e) => {
            done.times_note = Some(crate::error_chain(&e));
            HashMap::new()
        }
    };
    // Written in the sweep's directory first (whole, then renamed: `summary` and `report`
    // read it), then copied to where the user asked.
    let kept = store.paths().results_csv();
    let tmp = kept.with_extension("csv.tmp");
    done.report = collect::write_csv(
        &meta,
        &spec.collect,
        &local,
        &points,
        &reports,
        &times,
        &tmp,
    )?;
    fs::rename(&tmp, &kept).map_err(super::io("write", &kept))?;
    if !same_file(&kept, &done.output) {
        fs::copy(&kept, &done.output).map_err(super::io("write", &done.output))?;
    }
    done.not_done = points.iter().filter(|p| p.state() != State::Done).count();
    Ok(done)
}

/// Whether two paths name one file (copying a file onto itself would empty it).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The scheduler's report times (the cluster's local time, no zone) as seconds since the
/// epoch, read by the cluster's own `date` in one round trip: it knows its time zone and
/// summer time.
async fn report_epochs(
    remote: Option<&AnyTransport>,
    texts: &[String],
) -> Result<HashMap<String, f64>, AppError> {
    if texts.is_empty() {
        return Ok(HashMap::new());
    }
    let here;
    let t = match remote {
        Some(t) => t,
        None => {
            here = AnyTransport::Local(crate::transport::local::LocalTransport::new());
            &here
        }
    };
    let stdin = texts.iter().map(|t| format!("{t}\n")).collect::<String>();
    let out = t.run("date -f - +%s", stdin.as_bytes()).await?;
    let fail = |said: String| ClusterError::Date {
        place: t.place(),
        said,
    };
    if out.code != Some(0) {
        return Err(fail(out.stderr.trim().to_string()).into());
    }
    let secs: Vec<f64> = out
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse::<i64>().ok())
        .map(|s| s as f64)
        .collect();
    // One answer per line, or none can be matched to its question.
    if secs.len() != texts.len() {
        return Err(fail(format!(
            "it answered {} of {} times",
            secs.len(),
            texts.len()
        ))
        .into());
    }
    Ok(texts.iter().cloned().zip(secs).collect())
}

/// Brings each point's requested files (and what the CSV reads: metrics file, stdout, the
/// scheduler's report) from the cluster into the local sweep directory, one round trip per
/// 2,000 points. A missing file is reported, not fatal: a failed point may have written nothing.
async fn fetch_outputs(
    t: &AnyTransport,
    cluster_dir: &str,
    spec: &Spec,
    store: &Store,
    points: &[PointRec],
    done: &mut Collected,
) -> Result<(), AppError> {
    let AnyTransport::Ssh(t) = t else {
        return Ok(());
    };
    let c = &spec.collect;
    let mut per_point: Vec<String> = c.files.clone();
    per_point.extend(c.metrics_json.clone());
    // The scheduler's report is in stdout too.
    per_point.push(STDOUT_FILE.to_string());
    per_point.sort();
    per_point.dedup();
    for chunk in points.chunks(POINTS_PER_DOWNLOAD) {
        let mut paths = Vec::new();
        for p in chunk {
            let Some(a) = p.last().filter(|a| a.job_id.is_some()) else {
                continue;
            };
            let out = JobPaths::out_rel(p.index);
            paths.extend(per_point.iter().map(|f| format!("{out}/{f}")));
            if let Some((array, k)) = names::split_element(&a.job_name) {
                paths.push(format!("{}/{k}.out", JobPaths::array_reports_rel(array)));
            }
        }
        let r = t.download(cluster_dir, &paths, store.dir()).await?;
        done.fetched += r.fetched.len();
        done.missing.extend(r.missing);
        done.refused.extend(r.rejected);
    }
    Ok(())
}
