//! `bsub -pack FILE`: LSF 10.1's job packs, one job request per line of FILE (bsub's options
//! and command without the word `bsub`), enabled by `LSB_MAX_PACK_JOBS` in
//! `$LSF_ENVDIR/lsf.conf`, as on a real cluster.
//!
//! Each request is submitted as a command-line bsub would be, in file order, and answers with
//! bsub's own line (`Job <N> is submitted to queue <q>.`) or error. A failed request stops the
//! rest unless `LSB_PACK_SKIP_ERROR=Y` (IBM's documented default: N). IBM's documentation shows
//! no transcript of a pack's output or of packs being disabled: those wordings are the
//! simulator's guess. OpenLava has no packs: its getopt reads `-pack` as `-p ack`, and the
//! answer is the one captured from OpenLava 4.0 (below), exit 255.

use super::bsub::{self, Prepared};
use crate::state::State;
use crate::{Ctx, Out, args};

/// What the real OpenLava 4.0 prints for `bsub -pack FILE` (stderr, exit 255; captured on the
/// CI cluster, 2026-12-01).
const OPENLAVA_ANSWER: &str =
    "ack: PROCESSLIMIT value should be a positive integer\n. Job not submitted.";

/// A pack read before the lock: its requests, or why it is refused as a whole.
pub enum Pack {
    Requests(Vec<Prepared>),
    Refused(String),
}

/// The settings of `$LSF_ENVDIR/lsf.conf` bsub reads for packs (last one wins).
fn lsf_conf(key: &str) -> Option<String> {
    let dir = std::env::var("LSF_ENVDIR").unwrap_or_else(|_| "/etc".into());
    let text = std::fs::read_to_string(std::path::Path::new(&dir).join("lsf.conf")).ok()?;
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| {
            v.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .to_string()
        })
        .next_back()
}

/// Whether `args` is a pack submission (`-pack FILE`, nothing else).
pub fn is_pack(args: &[String]) -> bool {
    args.first().is_some_and(|a| a == "-pack")
}

/// Reads the pack file named by `args` (`-pack FILE`) into requests.
pub fn prepare(args: &[String], openlava: bool) -> Pack {
    if openlava {
        return Pack::Refused(OPENLAVA_ANSWER.to_string());
    }
    let enabled = lsf_conf("LSB_MAX_PACK_JOBS")
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|n| n > 0);
    if !enabled {
        return Pack::Refused(
            "Job packs are not enabled (LSB_MAX_PACK_JOBS). Job not submitted.".to_string(),
        );
    }
    let [_, file] = args else {
        return Pack::Refused(
            "-pack must be used alone, with the job submission file. Job not submitted."
                .to_string(),
        );
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return Pack::Refused(format!("{file}: {e}. Job not submitted.")),
    };
    let requests = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| bsub::prepare_request(&args::shell_words(l)))
        .collect();
    Pack::Requests(requests)
}

/// Submits the requests in order, under the lock, as one call.
pub fn run(ctx: &mut Ctx, st: &mut State, pack: Pack) -> Out {
    let requests = match pack {
        Pack::Refused(msg) => return Out::fail(msg),
        Pack::Requests(r) => r,
    };
    let skip_errors = lsf_conf("LSB_PACK_SKIP_ERROR").is_some_and(|v| v.eq_ignore_ascii_case("y"));
    let mut all = Out::default();
    for pre in requests {
        let out = bsub::run(ctx, st, pre);
        all.stdout.push_str(&out.stdout);
        all.stderr.push_str(&out.stderr);
        all.jobs.extend(out.jobs);
        all.names.extend(out.names);
        all.faults.extend(out.faults);
        if out.exit != 0 {
            all.exit = out.exit;
            if !skip_errors {
                break;
            }
        }
    }
    all
}
