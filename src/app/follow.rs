//! Following a sweep: run its engine until every point ends (or, detached, until all that fits
//! is submitted, leaving a background bsweep to follow the rest), after queueing retries.

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::{AppError, Ctx, connect, io};
use crate::engine::Outcome;
use crate::engine::events::Reporter;
use crate::layout::Home;
use crate::model::Counts;
use crate::store::Store;

/// What to queue before following.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepare {
    /// `launch` and `resume`: the sweep as it is (automatic retries included).
    Nothing,
    /// `retry`: points whose last attempt failed, and cancelled ones when asked.
    Retry { failed: bool, cancelled: bool },
}

/// How following ended.
#[derive(Debug)]
pub enum Followed {
    /// Every point ended.
    Finished { sweep: String, counts: Counts },
    /// `--detach`: `follower` is the background bsweep's pid when one was started.
    Detached {
        sweep: String,
        counts: Counts,
        waiting: u64,
        follower: Option<u32>,
    },
    /// Ctrl-C: nothing was killed.
    Interrupted { sweep: String, counts: Counts },
}

/// Follows an opened sweep; returns how many points `prepare` queued and how it ended.
pub async fn follow(
    ctx: &Ctx,
    store: Store,
    detach: bool,
    prepare: Prepare,
    reporter: Box<dyn Reporter>,
) -> Result<(usize, Followed), AppError> {
    let mut engine = connect::engine(store, reporter).await?;
    let queued = match prepare {
        Prepare::Nothing => 0,
        Prepare::Retry { failed, cancelled } => engine.retry_ended(failed, cancelled)?,
    };
    let outcome = engine.follow(detach).await?;
    let sweep = engine.store().meta().name.clone();
    let counts = engine.counts().clone();
    let followed = match outcome {
        Outcome::Finished => Followed::Finished { sweep, counts },
        Outcome::Interrupted => Followed::Interrupted { sweep, counts },
        Outcome::Detached => {
            let waiting = engine.waiting();
            let needed = engine.needs_follower();
            drop(engine); // releases the sweep so the background follower can take it
            let follower = if needed {
                Some(spawn_follower(&ctx.home, &sweep)?)
            } else {
                None
            };
            Followed::Detached {
                sweep,
                counts,
                waiting,
                follower,
            }
        }
    };
    Ok((queued, followed))
}

/// Starts `bsweep resume NAME` detached from this terminal, logging to the sweep directory.
fn spawn_follower(home: &Home, name: &str) -> Result<u32, AppError> {
    let exe = std::env::current_exe().map_err(io("find", "the bsweep executable"))?;
    let log_path = home.sweep(name)?.follow_log();
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io("open", &log_path))?;
    let log2 = log.try_clone().map_err(io("duplicate", &log_path))?;
    let mut cmd = Command::new(exe);
    if let Some(cfg) = home.ssh_config() {
        cmd.arg("--ssh-config").arg(cfg);
    }
    let child = cmd
        .arg("--home")
        .arg(home.root())
        .arg("--quiet")
        .arg("resume")
        .arg(name)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // A session of its own: closing the terminal does not stop it.
        .process_group(0)
        .spawn()
        .map_err(io("start the background follower for", &log_path))?;
    Ok(child.id())
}
