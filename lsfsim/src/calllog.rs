//! `LSFSIM_DIR/calls.jsonl`: one JSON line per command invocation, for tests to count calls.

use serde::Serialize;
use std::io::Write;
use std::path::Path;

#[derive(Serialize)]
pub struct Call<'a> {
    /// Unix time of the call's start, in milliseconds.
    pub t: u64,
    pub cmd: &'a str,
    pub args: &'a [String],
    pub exit: i32,
    /// Job ids submitted (bsub) or signalled (bkill).
    pub jobs: &'a [u64],
    /// Job names submitted (bsub), array names without the index list.
    pub names: &'a [String],
    pub stdin_bytes: usize,
    /// Injected faults that fired in this call.
    pub faults: &'a [&'a str],
}

/// Appends under the state lock, so lines never interleave.
pub fn append(dir: &Path, call: &Call) -> std::io::Result<()> {
    let mut line = serde_json::to_string(call).map_err(std::io::Error::other)?;
    line.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("calls.jsonl"))?
        .write_all(line.as_bytes())
}
