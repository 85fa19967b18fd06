//! `logs`: the end of a point's stdout or stderr, read on the cluster when the sweep runs there,
//! with the scheduler's reports in it picked out. Works beside a following bsweep.

use std::path::{Path, PathBuf};

use super::status::{Look, look};
use super::{AppError, Ctx, UsageError, connect, io};
use crate::layout::{JobPaths, STDERR_FILE, STDOUT_FILE};
use crate::model::{JobId, State, names};
use crate::sched::{Dialect, JobReport};
use crate::store::Store;
use crate::transport::local::LocalTransport;
use crate::transport::{AnyTransport, Transport, batch_script, parse_batch};

/// Bytes from the end of an output file that `logs` reads: enough for a scheduler's report
/// (with the echoed job script) and a screenful of the job's own lines.
pub const LOG_TAIL_BYTES: u64 = 256 * 1024;

/// What `logs` found.
#[derive(Debug)]
pub struct Logs {
    /// The file read (on the cluster when the sweep runs there).
    pub path: PathBuf,
    /// `None`: the file does not exist (yet).
    pub text: Option<Tail>,
    /// Where an array element's report is, when it is in a file of its own.
    pub report_file: Option<PathBuf>,
    /// The point never ran (cancelled or refused before any job): why.
    pub never_ran: Option<String>,
}

#[derive(Debug)]
pub struct Tail {
    /// The job's own lines, the last `lines` of them.
    pub lines: Vec<String>,
    /// The file held more than was read: the first line shown may not be the file's first.
    pub cut: bool,
    /// The scheduler's last report in the file (`None` inside: one it cannot read), unless raw.
    pub report: Option<Option<JobReport>>,
    /// The output file is not written yet: the lines are what the scheduler showed of the
    /// running job (`bpeek`).
    pub peeked: bool,
}

/// A point's last submitted attempt, as the store or the status snapshot knows it.
struct LastJob {
    name: String,
    id: Option<String>,
    state: State,
}

/// The last submitted attempt of point `index`, and why its last attempt never ran when it
/// had no job: from the store, or from the status snapshot while another bsweep follows the
/// sweep.
fn last_job(
    ctx: &Ctx,
    name: &str,
    index: u64,
) -> Result<(Option<LastJob>, Option<String>), AppError> {
    Ok(match look(&ctx.home, name)? {
        Look::Owned(store) => {
            let p = store.point(index)?;
            let never = p
                .last()
                .filter(|a| a.job_id.is_none() && a.state.is_final())
                .map(|a| a.error.clone().unwrap_or_else(|| a.state.to_string()));
            let job = p
                .attempts
                .into_iter()
                .rev()
                .find(|a| a.job_id.is_some())
                .map(|a| LastJob {
                    name: a.job_name,
                    id: a.job_id.map(|j| j.to_string()),
                    state: a.state,
                });
            (job, never)
        }
        Look::Snapshot { path, .. } => {
            let p = std::fs::File::open(&path)
                .ok()
                .and_then(|f| crate::view::snapshot_point(f, index));
            let never = p
                .as_ref()
                .filter(|p| p.job_id.is_none() && p.state.is_final())
                .map(|p| p.error.clone().unwrap_or_else(|| p.state.to_string()));
            let job = p.and_then(|p| {
                Some(LastJob {
                    name: p.job_name?,
                    id: p.job_id,
                    state: p.state,
                })
            });
            (job, never)
        }
    })
}

pub async fn logs(
    ctx: &Ctx,
    name: &str,
    index: u64,
    stderr: bool,
    lines: usize,
    raw: bool,
) -> Result<Logs, AppError> {
    let meta = match Store::read_record(&ctx.home, name) {
        Ok(m) => m,
        // No record: say what `open` says (not found, still recording, a bad name).
        Err(e) => {
            return Err(Store::open(&ctx.home, name, "logs")
                .err()
                .unwrap_or(e)
                .into());
        }
    };
    if index >= meta.count {
        return Err(UsageError::NoSuchPoint {
            sweep: name.to_string(),
            last: meta.count.saturating_sub(1),
            index,
        }
        .into());
    }
    let file = if stderr { STDERR_FILE } else { STDOUT_FILE };
    let (job, never_ran) = last_job(ctx, name, index)?;
    let jobs = match &meta.cluster_dir {
        Some(d) => JobPaths::new(d.into()),
        None => ctx.home.sweep(name)?.jobs(),
    };
    let out_path = jobs.out_dir(index).join(file);
    // An array element's report is in a file of the array's, named by its job name.
    let report_path = job
        .as_ref()
        .filter(|j| names::split_element(&j.name).is_some() && !stderr)
        .map(|j| jobs.report_file(index, &j.name));
    let paths: Vec<&Path> = std::iter::once(out_path.as_path())
        .chain(report_path.as_deref())
        .collect();
    let remote = match (&meta.host, &meta.cluster_dir) {
        (Some(_), Some(_)) => Some(connect::transport_of(&ctx.home, &meta).await?),
        _ => None,
    };
    let texts: Vec<Option<(String, bool)>> = match &remote {
        Some(t) => remote_tails(t, &paths).await?,
        None => paths
            .iter()
            .map(|p| tail_bytes(p, LOG_TAIL_BYTES))
            .collect::<Result<_, _>>()?,
    };
    let dialect = Dialect::of(meta.backend);
    let (text, cut, peeked) = match (texts[0].clone(), &job) {
        (Some((t, cut)), _) => (t, cut, false),
        // OpenLava (and LSF without a shared file system) writes the output file when the job
        // ends: while it runs, the scheduler shows what it printed so far.
        (None, Some(j)) if !stderr && j.state.in_flight() => {
            match peek(remote.as_ref(), dialect, j).await? {
                Some(t) => (t, false, true),
                None => return Ok(Logs::absent(out_path, report_path, None)),
            }
        }
        (None, _) => {
            let never = if job.is_none() { never_ran } else { None };
            return Ok(Logs::absent(out_path, report_path, never));
        }
    };
    let (output, mut reports) = if raw || peeked {
        (text, Vec::new())
    } else {
        dialect.split_output(&text)
    };
    if let (Some(Some((report, _))), Some(j), false, true) =
        (texts.get(1), &job, raw, dialect.writes_reports())
    {
        reports.push(dialect.report_of(report, &j.name));
    }
    let all: Vec<&str> = output.lines().collect();
    let shown = all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| l.to_string())
        .collect();
    Ok(Logs {
        path: out_path,
        text: Some(Tail {
            lines: shown,
            cut,
            report: reports.pop(),
            peeked,
        }),
        report_file: report_path,
        never_ran: None,
    })
}

impl Logs {
    fn absent(path: PathBuf, report_file: Option<PathBuf>, never_ran: Option<String>) -> Self {
        Logs {
            path,
            text: None,
            report_file,
            never_ran,
        }
    }
}

/// The ends of `paths` on the cluster, in one round trip: the last [`LOG_TAIL_BYTES`] of each
/// regular file (a FIFO or a device would never end), from its first whole line.
async fn remote_tails(
    t: &AnyTransport,
    paths: &[&Path],
) -> Result<Vec<Option<(String, bool)>>, AppError> {
    let cmds: Vec<String> = paths
        .iter()
        .map(|p| {
            let q = crate::shell::quote(&p.to_string_lossy()).into_owned();
            format!("[ -f {q} ] || exit 3; wc -c < {q} && tail -c {LOG_TAIL_BYTES} -- {q}")
        })
        .collect();
    let out = t.run(&batch_script(&cmds, None), b"").await?;
    Ok(parse_batch(&out.stdout, cmds.len())
        .into_iter()
        .map(|f| {
            let (size, text) = f.stdout.split_once('\n').filter(|_| f.code == Some(0))?;
            let size: u64 = size.trim().parse().ok()?;
            let cut = size > LOG_TAIL_BYTES;
            Some((from_whole_line(text, cut), cut))
        })
        .collect())
}

/// What a running job printed so far, as the scheduler shows it (`bpeek`); `None` when the
/// backend cannot show it or the scheduler would not.
async fn peek(
    remote: Option<&AnyTransport>,
    dialect: Dialect,
    job: &LastJob,
) -> Result<Option<String>, AppError> {
    let Some(cmd) = job
        .id
        .as_deref()
        .and_then(|id| dialect.peek_command(&JobId::parse(id)))
    else {
        return Ok(None);
    };
    let here = AnyTransport::Local(LocalTransport::new());
    let out = remote.unwrap_or(&here).run(&cmd, b"").await?;
    Ok((out.code == Some(0)).then(|| dialect.peek_output(&out.stdout)))
}

/// `text` without its first, partial line when it was cut from a longer file, unless that
/// line is all there is (one huge line): then it is marked as cut.
fn from_whole_line(text: &str, cut: bool) -> String {
    match (cut, text.find('\n')) {
        (true, Some(i)) if i + 1 < text.trim_end_matches('\n').len() => text[i + 1..].to_string(),
        (true, _) => format!("…{text}"),
        _ => text.to_string(),
    }
}

/// The last `n` bytes of a regular file (a job's output can be gigabytes), without a partial
/// first line, and whether the file held more; `None` when there is no such file. A FIFO or
/// device is refused, not read.
fn tail_bytes(path: &Path, n: u64) -> Result<Option<(String, bool)>, AppError> {
    use crate::collect::{Unread, open_regular};
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match open_regular(path) {
        Ok(f) => f,
        Err(Unread::Missing) => return Ok(None),
        Err(Unread::Io(e)) => return Err(io("read", path)(e)),
        Err(e) => {
            return Err(io("read", path)(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                e.to_string(),
            )));
        }
    };
    let len = f.metadata().map_err(io("read", path))?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(n)))
        .map_err(io("read", path))?;
    let mut buf = Vec::new();
    f.take(n).read_to_end(&mut buf).map_err(io("read", path))?;
    let cut = len > n;
    Ok(Some((
        from_whole_line(&String::from_utf8_lossy(&buf), cut),
        cut,
    )))
}
