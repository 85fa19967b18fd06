//! `debug parse`: how bsweep reads a captured scheduler output, as JSON, for bug reports.

use std::path::Path;

use super::{AppError, io};
use crate::sched::lsf::parse as p;

/// Which captured output to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bsub,
    BjobsJson,
    BjobsDelim,
    BjobsTable,
    Bkill,
    Bqueues,
    Bhist,
    Lsid,
    Trailer,
}

/// Reads a capture; a file from bsweep's test corpus (`# source:` header, `# ---`) is read
/// from its body. `None` reads standard input.
pub fn read_capture(file: Option<&Path>) -> Result<String, AppError> {
    let text = match file {
        Some(f) => std::fs::read_to_string(f).map_err(|source| AppError::Input {
            path: f.to_path_buf(),
            source,
        })?,
        None => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(io("read", "standard input"))?;
            s
        }
    };
    if text.starts_with("# source:")
        && let Some(at) = text.find("\n# ---\n")
    {
        return Ok(text[at + "\n# ---\n".len()..].to_string());
    }
    Ok(text)
}

/// The reading of `out` (stdout), `err` (stderr) and the exit code, as JSON.
pub fn parse(kind: Kind, out: &str, err: &str, exit: Option<i32>) -> serde_json::Value {
    let v = match kind {
        Kind::Bsub => serde_json::to_value(p::parse_bsub(out, err, exit)),
        Kind::BjobsJson => serde_json::to_value(p::parse_bjobs_json(out, err)),
        Kind::BjobsDelim => serde_json::to_value(p::parse_bjobs_delimited(
            out,
            err,
            p::BJOBS_FIELDS,
            p::BJOBS_DELIMITER,
        )),
        Kind::BjobsTable => serde_json::to_value(p::parse_bjobs_table(out, err)),
        Kind::Bkill => serde_json::to_value(p::parse_bkill(out, err)),
        Kind::Bqueues => serde_json::to_value(p::parse_bqueues(out)),
        Kind::Bhist => serde_json::to_value(p::parse_bhist_long(out)),
        Kind::Lsid => serde_json::to_value(p::parse_lsid(out)),
        Kind::Trailer => serde_json::to_value(p::parse_trailer(out)),
    };
    // The readings are plain data: serialising them cannot fail.
    v.unwrap_or_default()
}
