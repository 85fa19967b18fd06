//! `logs`: the end of a point's stdout or stderr, read on the cluster when the sweep runs there,
//! with the scheduler's reports in it picked out. Works beside a following bsweep.

use std::fs;
use std::path::{Path, PathBuf};

use super::status::{Look, look};
use super::{AppError, Ctx, UsageError, connect, io};
use crate::layout::{JobPaths, STDERR_FILE, STDOUT_FILE};
use crate::model::names;
use crate::sched::{Dialect, JobReport};
use crate::store::Store;
use crate::transport::{Transport, batch_script, parse_batch};

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
}

/// The job name of a point's last submitted attempt, and why its last attempt never ran when
/// it had no job: from the store, or from the status snapshot while another bsweep follows the
/// sweep.
fn last_job(
    ctx: &Ctx,
    name: &str,
    index: u64,
) -> Result<(Option<String>, Option<String>), AppError> {
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
                .map(|a| a.job_name);
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
            (p.and_then(|p| p.job_name), never)
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
    let (job_name, never_ran) = last_job(ctx, name, index)?;
    let jobs = match &meta.cluster_dir {
        Some(d) => JobPaths::new(d.into()),
        None => ctx.home.sweep(name)?.jobs(),
    };
    let out_path = jobs.out_dir(index).join(file);
    // An array element's report is in a file of the array's, named by its job name.
    let report_path = job_name
        .as_deref()
        .filter(|n| names::split_element(n).is_some() && !stderr)
        .map(|n| jobs.report_file(index, n));
    let paths: Vec<&Path> = std::iter::once(out_path.as_path())
        .chain(report_path.as_deref())
        .collect();
    let texts: Vec<Option<String>> = match (&meta.host, &meta.cluster_dir) {
        (Some(_), Some(_)) => {
            let t = connect::transport_of(&ctx.home, &meta).await?;
            // Only a regular file is read: a FIFO or a device would never end.
            let cmds: Vec<String> = paths
                .iter()
                .map(|p| {
                    let q = crate::shell::quote(&p.to_string_lossy()).into_owned();
                    format!("[ -f {q} ] && tail -c {LOG_TAIL_BYTES} -- {q}")
                })
                .collect();
            let out = t.run(&batch_script(&cmds, None), b"").await?;
            parse_batch(&out.stdout, cmds.len())
                .into_iter()
                .map(|f| (f.code == Some(0)).then_some(f.stdout))
                .collect()
        }
        _ => paths
            .iter()
            .map(|p| tail_bytes(p, LOG_TAIL_BYTES))
            .collect::<Result<_, _>>()?,
    };
    let Some(text) = texts[0].clone() else {
        return Ok(Logs {
            path: out_path,
            text: None,
            report_file: report_path,
            never_ran: if job_name.is_none() { never_ran } else { None },
        });
    };
    let dialect = Dialect::of(meta.backend);
    let cut = text.len() as u64 >= LOG_TAIL_BYTES;
    let (output, mut reports) = if raw {
        (text, Vec::new())
    } else {
        dialect.split_output(&text)
    };
    if let (Some(Some(report)), Some(name), false, true) =
        (texts.get(1), &job_name, raw, dialect.writes_reports())
    {
        reports.push(dialect.report_of(report, name));
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
        }),
        report_file: report_path,
        never_ran: None,
    })
}

/// The last `n` bytes of a regular file (a job's output can be gigabytes), without a partial
/// first line; `None` when there is no such file. A FIFO or device is refused, not read.
fn tail_bytes(path: &Path, n: u64) -> Result<Option<String>, AppError> {
    use std::io::{Read, Seek, SeekFrom};
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", path)(e)),
    };
    if !meta.is_file() {
        return Err(io("read", path)(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let mut f = fs::File::open(path).map_err(io("open", path))?;
    let len = f.metadata().map_err(io("read", path))?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(n)))
        .map_err(io("read", path))?;
    let mut buf = Vec::new();
    f.take(n).read_to_end(&mut buf).map_err(io("read", path))?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    // Without the partial first line, unless that line is all there is (one huge line).
    Ok(Some(match (len > n, text.find('\n')) {
        (true, Some(i)) if i + 1 < text.trim_end_matches('\n').len() => text[i + 1..].to_string(),
        (true, _) => format!("…{text}"),
        _ => text,
    }))
}
