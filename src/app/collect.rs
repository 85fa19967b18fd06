//! `collect`: bring each point's files back from the cluster (when the sweep runs there), read
//! the scheduler's reports and the metrics, and write one CSV row per point.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::{AppError, ClusterError, Ctx, connect, io};
use crate::collect::{self, CollectReport, CsvInput, METRICS_MAX_BYTES};
use crate::layout::{FETCHED_REPORTS, JobPaths, STDOUT_FILE};
use crate::model::{PointRec, State};
use crate::sched::Dialect;
use crate::spec::Spec;
use crate::store::Store;
use crate::transport::archive::relative_path;
use crate::transport::ssh::Fetch;
use crate::transport::{AnyTransport, Transport};

/// Points per download round trip.
const POINTS_PER_DOWNLOAD: usize = 2000;

/// What `collect` did, besides the CSV.
#[derive(Debug, Default)]
pub struct Collected {
    /// The CSV written; `None`: to standard output (`-o -`).
    pub output: Option<PathBuf>,
    pub report: CollectReport,
    /// Files brought back from the cluster, and those missing there.
    pub fetched: usize,
    pub missing: Vec<String>,
    /// Everything else that did not come back (links, FIFOs, too large, unsafe names), each
    /// once, with why.
    pub not_fetched: Vec<(String, String)>,
    /// Files brought back that are larger than `[collect] warn_mb`, with their sizes.
    pub large: Vec<(String, u64)>,
    pub warn_mb: u64,
    /// The connection dropped during a transfer; the rest came over a new one.
    pub reconnected: bool,
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
    let output = output.unwrap_or_else(|| PathBuf::from(format!("{name}.csv")));
    let mut done = Collected {
        output: (output != Path::new("-")).then(|| output.clone()),
        warn_mb: spec.collect.warn_mb,
        ..Collected::default()
    };
    let dialect = Dialect::of(meta.backend);
    let local = store.paths().jobs();
    let (remote, report_jobs) = match (&meta.host, &meta.cluster_dir) {
        (Some(_), Some(dir)) => {
            let t = connect::transport_of(&ctx.home, &meta).await?;
            fetch_outputs(&t, dir, &spec, dialect, &store, &points, &mut done).await?;
            (Some(t), store.paths().fetched_reports())
        }
        _ => (None, local.clone()),
    };
    let reports = collect::read_reports(dialect, &report_jobs, &points);
    let texts = collect::report_times(&reports);
    let times = match report_epochs(remote.as_ref(), &texts).await {
        Ok(t) => t,
        Err(e) => {
            done.times_note = Some(crate::error_chain(&e));
            HashMap::new()
        }
    };
    // A metrics file the download already explained is not called missing again.
    let explained: HashSet<u64> = match &spec.collect.metrics_json {
        Some(m) => {
            let said: HashSet<&str> = done
                .missing
                .iter()
                .map(String::as_str)
                .chain(done.not_fetched.iter().map(|(p, _)| p.as_str()))
                .collect();
            points
                .iter()
                .filter(|p| said.contains(format!("{}/{m}", JobPaths::out_rel(p.index)).as_str()))
                .map(|p| p.index)
                .collect()
        }
        None => HashSet::new(),
    };
    let input = CsvInput {
        meta: &meta,
        opts: &spec.collect,
        jobs: &local,
        points: &points,
        reports: &reports,
        times: &times,
        explained: &explained,
    };
    // Written in the sweep's directory first (whole, then renamed: `summary` and `report`
    // read it), then copied to where the user asked.
    let kept = store.paths().results_csv();
    let tmp = kept.with_extension("csv.tmp");
    let f = fs::File::create(&tmp).map_err(io("create", &tmp))?;
    done.report = collect::write_csv(&input, std::io::BufWriter::new(f), &tmp)?;
    fs::rename(&tmp, &kept).map_err(io("write", &kept))?;
    give(&kept, done.output.as_deref())?;
    done.not_done = points.iter().filter(|p| p.state() != State::Done).count();
    Ok(done)
}

/// Copies the kept CSV to `output`, or to standard output for `None` (a closed pipe there
/// ends quietly, as for every command that prints).
fn give(kept: &Path, output: Option<&Path>) -> Result<(), AppError> {
    match output {
        Some(path) if same_file(kept, path) => Ok(()),
        Some(path) => fs::copy(kept, path).map(drop).map_err(io("write", path)),
        None => {
            let mut f = fs::File::open(kept).map_err(io("read", kept))?;
            let mut o = std::io::stdout().lock();
            std::io::copy(&mut f, &mut o).map_err(AppError::Stdout)?;
            std::io::Write::flush(&mut o).map_err(AppError::Stdout)
        }
    }
}

/// Whether two paths name one file (copying a file onto itself would empty it).
fn same_file(a: &Path, b: &Path) -> bool {
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

/// What to bring back for one point whose last attempt was job `job_name`: the requested
/// files, the metrics file (capped), its stdout only when the metrics are read from it, and
/// the scheduler's report alone (filtered on the cluster, into the fetched-reports directory).
fn fetches_of(spec: &Spec, dialect: Dialect, index: u64, job_name: &str) -> Vec<Fetch> {
    let c = &spec.collect;
    let out = JobPaths::out_rel(index);
    let mut v: Vec<Fetch> = c
        .files
        .iter()
        .map(|f| Fetch::whole(format!("{out}/{f}")))
        .collect();
    if let Some(m) = c.metrics_json.as_ref().filter(|m| !c.files.contains(m)) {
        v.push(Fetch::capped(format!("{out}/{m}"), METRICS_MAX_BYTES));
    }
    let scanned = c.stdout_kv || c.stdout_regex.is_some();
    if scanned && !c.files.iter().any(|f| f == STDOUT_FILE) {
        v.push(Fetch::whole(format!("{out}/{STDOUT_FILE}")));
    }
    if let Some(command) = dialect.report_lines_command() {
        let rel = JobPaths::report_rel(index, job_name);
        v.push(Fetch::filtered(
            rel.clone(),
            command,
            format!("{FETCHED_REPORTS}/{rel}"),
        ));
    }
    v
}

/// Brings each point's files from the cluster into the local sweep directory, one round trip
/// per 2,000 points (one more when the connection drops on the way). What does not come back
/// is reported, not fatal: a failed point may have written nothing.
async fn fetch_outputs(
    t: &AnyTransport,
    cluster_dir: &str,
    spec: &Spec,
    dialect: Dialect,
    store: &Store,
    points: &[PointRec],
    done: &mut Collected,
) -> Result<(), AppError> {
    let AnyTransport::Ssh(t) = t else {
        return Ok(());
    };
    let warn_bytes = spec.collect.warn_mb.saturating_mul(1 << 20);
    for chunk in points.chunks(POINTS_PER_DOWNLOAD) {
        let mut wanted = Vec::new();
        for p in chunk {
            let Some(a) = p.last().filter(|a| a.job_id.is_some()) else {
                continue;
            };
            for f in fetches_of(spec, dialect, p.index, &a.job_name) {
                // One path no transfer can carry is said, and the rest still comes.
                match relative_path(&f.path) {
                    Ok(_) => wanted.push(f),
                    Err(e) => done.not_fetched.push((f.path.clone(), e.to_string())),
                }
            }
        }
        let r = t.fetch(cluster_dir, &wanted, store.dir()).await?;
        done.reconnected |= r.reconnected;
        // A report is asked for on every point: one not there is no news (a job still
        // running); a row without the scheduler's times says enough. Nor is one counted as
        // a file the user asked for.
        let report = |p: &str| p.starts_with(&format!("{FETCHED_REPORTS}/"));
        done.fetched += r.fetched.iter().filter(|p| !report(p)).count();
        done.missing
            .extend(r.missing.into_iter().filter(|p| !report(p)));
        done.not_fetched.extend(
            r.rejected
                .into_iter()
                .filter(|(p, _)| !report(p))
                .map(|(p, why)| (p, why.to_string())),
        );
        done.large.extend(
            r.files
                .into_iter()
                .filter(|(_, size)| *size > warn_bytes)
                .map(|(p, size)| (p.to_string_lossy().into_owned(), size)),
        );
    }
    Ok(())
}
