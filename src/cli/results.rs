//! How `summary` and `report` read in a terminal: the table, JSON or CSV of a summary, its
//! width, and what the notes say about where the results came from.

use crate::app::AppError;
use crate::app::summary::{Freshness, Stale};
use crate::summary::{Summary, table_csv, table_text, to_json};

/// The width of the table when stdout is no terminal (or it cannot say).
const DEFAULT_WIDTH: usize = 100;

/// What `summary` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Csv,
}

/// The summary as `format` has it; the text table fits `width` columns.
pub fn render(s: &Summary, format: Format, width: usize, color: bool) -> Result<String, AppError> {
    Ok(match format {
        Format::Text => table_text(s, width, color),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&to_json(s))
                .map_err(|e| AppError::Stdout(e.into()))?;
            text.push('\n');
            text
        }
        Format::Csv => table_csv(s)?,
    })
}

/// The terminal's width on a terminal (`COLUMNS` when it cannot be asked), else 100.
pub fn width(tty: bool) -> usize {
    if !tty {
        return DEFAULT_WIDTH;
    }
    terminal_columns()
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .filter(|&w| w >= 20)
        .unwrap_or(DEFAULT_WIDTH)
}

/// Columns of the terminal on stdout, by asking it.
fn terminal_columns() -> Option<usize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which is valid and
    // exclusive for the call; a failure leaves it zeroed.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then_some(usize::from(ws.ws_col))
}

/// What to tell the user about where the results came from (nothing when they were current);
/// `command` is the one that asked (`summary`, `report`).
pub fn notes(command: &str, sweep: &str, f: &Freshness) -> Vec<String> {
    let mut out = Vec::new();
    match f {
        Freshness::UpToDate => {}
        Freshness::Collected { why, collected } => {
            let why = match why {
                Stale::Missing => "they had not been collected yet".to_string(),
                Stale::Unreadable(e) => format!("the kept ones could not be read: {e}"),
                Stale::Changed(n) => format!(
                    "{} changed since they were last collected",
                    crate::cli::render::points(*n)
                ),
            };
            out.push(format!(
                "collected the results of sweep {sweep} first ({why}): {} rows, {} metric columns",
                collected.report.rows, collected.report.metric_columns
            ));
            let problems = collected.report.problems.len();
            if problems > 0 {
                let which = if problems == 1 {
                    "1 point has".to_string()
                } else {
                    format!("{problems} points have")
                };
                out.push(format!(
                    "note: {which} no metrics; `bsweep collect {sweep}` names them and says why"
                ));
            }
            if let Some(why) = &collected.times_note {
                out.push(format!(
                    "note: start and end times are as bsweep saw them ({why})"
                ));
            }
        }
        Freshness::Followed { pid, behind, read } => {
            out.push(format!(
                "note: bsweep (pid {pid}) follows sweep {sweep}, so its store cannot be read \
                 now: the states are from that bsweep's last snapshot"
            ));
            let ended = crate::cli::render::points(*behind);
            if *read {
                if *behind > 0 {
                    out.push(format!(
                        "note: the metrics of the {ended} that ended since the last collect \
                         were read from their outputs"
                    ));
                }
            } else if *behind > 0 {
                out.push(format!(
                    "note: {ended} ended since the last collect and have no metrics here (their \
                     outputs are on the cluster); run `bsweep {command} {sweep}` again once that \
                     bsweep is done, which collects them"
                ));
            }
        }
    }
    out
}
