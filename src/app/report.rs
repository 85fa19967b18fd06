//! `report`: one self-contained HTML page of a sweep (the summary, the parameters' effects, the
//! plots, the timeline, the failed points with the end of their stderr), from the same
//! results as `summary`. The failed points' stderr is read here, or on the cluster in one
//! round trip when the sweep runs there.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::summary::{Asked, Freshness, opts, results};
use super::{AppError, Ctx, connect, io};
use crate::layout::JobPaths;
use crate::model::State;
use crate::report::{MAX_FAILED, render_html};
use crate::store::SweepMeta;
use crate::summary::{Row, summarize};
use crate::transport::{Transport, batch_script, parse_batch};

/// Bytes read from the end of a failed point's stderr: the page shows its last lines.
const STDERR_TAIL_BYTES: u64 = 16 * 1024;

/// What `report` wrote.
#[derive(Debug)]
pub struct Reported {
    pub output: PathBuf,
    pub bytes: u64,
    pub freshness: Freshness,
    /// Why the failed points' stderr is not on the page, when it could not be read.
    pub stderr_note: Option<String>,
}

/// Writes the report of sweep `name` to `output` (default `NAME-report.html` here).
pub async fn report(
    ctx: &Ctx,
    name: &str,
    asked: &Asked,
    output: Option<PathBuf>,
) -> Result<Reported, AppError> {
    let mut r = results(ctx, name).await?;
    let s = summarize(&r.info, &r.rows, &opts(&r.spec, asked))?;
    let stderr_note = match stderr_tails(ctx, &r.meta, &mut r.rows).await {
        Ok(()) => None,
        Err(e) => Some(crate::error_chain(&e)),
    };
    let html = render_html(&r.info, &r.rows, &s);
    let output = output.unwrap_or_else(|| PathBuf::from(format!("{name}-report.html")));
    // Whole or not at all: a browser may have the old page open.
    let mut tmp = output.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, &html).map_err(io("write", &tmp))?;
    fs::rename(&tmp, &output).map_err(io("write", &output))?;
    Ok(Reported {
        output,
        bytes: html.len() as u64,
        freshness: r.freshness,
        stderr_note,
    })
}

/// Fills in the end of stderr of the failed points the page lists.
async fn stderr_tails(ctx: &Ctx, meta: &SweepMeta, rows: &mut [Row]) -> Result<(), AppError> {
    let failed: Vec<usize> = (0..rows.len())
        .filter(|&i| matches!(rows[i].state, State::Failed | State::Unknown))
        .take(MAX_FAILED)
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    match (&meta.host, &meta.cluster_dir) {
        (Some(_), Some(dir)) => {
            let jobs = JobPaths::new(dir.into());
            // Only a regular file is read: a FIFO would never end.
            let cmds: Vec<String> = failed
                .iter()
                .map(|&i| {
                    let p = jobs.stderr(rows[i].index);
                    let q = crate::shell::quote(&p.to_string_lossy()).into_owned();
                    format!("[ -f {q} ] && tail -c {STDERR_TAIL_BYTES} -- {q}")
                })
                .collect();
            let t = connect::transport_of(&ctx.home, meta).await?;
            let out = t.run(&batch_script(&cmds, None), b"").await?;
            for (&i, f) in failed.iter().zip(parse_batch(&out.stdout, cmds.len())) {
                if f.code == Some(0) {
                    rows[i].stderr_tail = Some(f.stdout);
                }
            }
        }
        _ => {
            let jobs = ctx.home.sweep(&meta.name)?.jobs();
            for &i in &failed {
                rows[i].stderr_tail = tail(&jobs.stderr(rows[i].index))?;
            }
        }
    }
    Ok(())
}

/// The last [`STDERR_TAIL_BYTES`] of a regular file, `None` when there is none.
fn tail(path: &Path) -> Result<Option<String>, AppError> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        _ => return Ok(None),
    }
    let mut f = fs::File::open(path).map_err(io("open", path))?;
    let len = f.metadata().map_err(io("read", path))?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(STDERR_TAIL_BYTES)))
        .map_err(io("read", path))?;
    let mut buf = Vec::new();
    f.take(STDERR_TAIL_BYTES)
        .read_to_end(&mut buf)
        .map_err(io("read", path))?;
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}
