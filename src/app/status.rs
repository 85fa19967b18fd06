//! `status`: counts per state and per target, and the points that did not end well. Polls the
//! scheduler only when something is in flight; reads the holder's snapshot while another
//! bsweep follows the sweep; says how old its figures are when the cluster cannot be reached.

use std::fs;
use std::io::Write;

use super::{AppError, Ctx, connect};
use crate::engine::HEARD_SETTING;
use crate::engine::events::Silent;
use crate::layout::Home;
use crate::model::{Clock, State};
use crate::spec::BackendKind;
use crate::store::{Store, StoreError};
use crate::view::{Overview, StatusHead};

/// A sweep opened to look at it, or the snapshot of the bsweep that holds it.
pub enum Look {
    Owned(Box<Store>),
    /// `path` is the holder's `status.json`; `head` its counts and problems.
    Snapshot {
        head: Box<StatusHead>,
        path: std::path::PathBuf,
        pid: String,
    },
}

/// Opens a sweep to look at it; when another bsweep holds it, reads that holder's snapshot.
pub fn look(home: &Home, name: &str) -> Result<Look, AppError> {
    match Store::open(home, name, "status") {
        Ok(store) => Ok(Look::Owned(Box::new(store))),
        Err(StoreError::InUse { pid, .. }) => {
            let path = home.sweep(name)?.status();
            let file = match fs::File::open(&path) {
                Ok(f) => f,
                // The holder has not written one yet (it is recording or just started).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StoreError::Recording {
                        name: name.to_string(),
                        pid,
                    }
                    .into());
                }
                Err(e) => return Err(super::io("read", &path)(e)),
            };
            let head = StatusHead::read(file)
                .map_err(|e| super::io("read", &path)(std::io::Error::other(e)))?;
            Ok(Look::Snapshot {
                head: Box::new(head),
                path,
                pid,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Where the figures come from.
#[derive(Debug)]
pub enum Source {
    /// The scheduler answered just now.
    Live,
    /// Nothing is in flight: the record is complete without asking the scheduler.
    Settled,
    /// Another bsweep follows the sweep; these are its figures.
    Followed { pid: String },
    /// The scheduler could not be reached: the figures are as of `as_of`.
    Stale { error: Box<AppError> },
}

/// What `status` shows.
#[derive(Debug)]
pub struct Status {
    pub sweep: String,
    pub id: String,
    pub backend: BackendKind,
    pub total: u64,
    pub overview: Overview,
    pub source: Source,
    /// When the scheduler last answered about this sweep (unix seconds), if ever.
    pub as_of: Option<f64>,
}

impl Status {
    /// Every point has ended.
    pub fn settled(&self) -> bool {
        self.overview.counts.finished() == self.total
    }
}

fn heard(store: &Store) -> Option<f64> {
    store
        .setting(HEARD_SETTING)
        .ok()
        .flatten()
        .and_then(|t| t.parse().ok())
}

/// The status of sweep `name`; with `json`, also writes the full view (every point) there.
pub async fn status(
    ctx: &Ctx,
    name: &str,
    json: Option<&mut dyn Write>,
) -> Result<Status, AppError> {
    let store = match look(&ctx.home, name)? {
        Look::Snapshot { head, path, pid } => {
            if let Some(out) = json {
                // The snapshot is the view: copied as it is, never held in memory.
                let mut f = fs::File::open(&path).map_err(super::io("read", &path))?;
                std::io::copy(&mut f, out).map_err(AppError::Stdout)?;
            }
            return Ok(Status {
                sweep: head.sweep.clone(),
                id: head.id.clone(),
                backend: head.backend,
                total: head.total,
                overview: head.overview(),
                source: Source::Followed { pid },
                as_of: head.as_of,
            });
        }
        Look::Owned(store) => *store,
    };
    let meta = store.meta().clone();
    let before = Overview::scan(&meta, store.points())?;
    let in_flight = before.counts.iter().any(|(s, n)| s.in_flight() && n > 0);
    let (store, counts, source) = if !in_flight {
        let counts = before.counts.clone();
        (store, counts, Source::Settled)
    } else {
        let clock = Clock::system();
        match connect::scheduler(&store, &clock).await {
            Err(error) => {
                let counts = before.counts.clone();
                (
                    store,
                    counts,
                    Source::Stale {
                        error: Box::new(error),
                    },
                )
            }
            Ok(sched) => {
                let mut engine = crate::engine::Engine::new(store, sched, Box::new(Silent), clock)?;
                engine.poll_once().await?;
                let source = match engine.heard() {
                    Some(_) => Source::Live,
                    None => Source::Stale {
                        error: Box::new(AppError::Sched(crate::sched::SchedError::Failed {
                            command: "the poll",
                            place: meta.host.clone().unwrap_or_else(|| "this machine".into()),
                            said: "the scheduler gave no answer".into(),
                        })),
                    },
                };
                let counts = engine.counts().clone();
                (engine.into_store(), counts, source)
            }
        }
    };
    let as_of = heard(&store);
    let overview = match (json, &source) {
        (Some(out), _) => {
            crate::view::write_json(&meta, &counts, as_of, store.points(), out, true)?
        }
        (None, Source::Settled | Source::Stale { .. }) => before,
        (None, _) => Overview::scan(&meta, store.points())?,
    };
    Ok(Status {
        sweep: meta.name.clone(),
        id: meta.id.clone(),
        backend: meta.backend,
        total: meta.count,
        overview,
        source,
        as_of,
    })
}

/// Whether every point of the status has ended or nothing will move it without a follower.
pub fn waits_for_follower(s: &Status) -> bool {
    let c = &s.overview.counts;
    let moving = State::ALL
        .iter()
        .filter(|st| st.in_flight())
        .map(|&st| c.get(st))
        .sum::<u64>();
    moving == 0 && !s.settled() && !matches!(s.source, Source::Followed { .. })
}
