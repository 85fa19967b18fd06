//! `list`: every recorded sweep with its counts, read from each store (or its holder's
//! snapshot), without asking any scheduler.

use super::status::{Look, look};
use super::{AppError, Ctx};
use crate::model::Counts;
use crate::spec::BackendKind;
use crate::view::Overview;

/// One sweep of the list.
#[derive(Debug)]
pub struct Row {
    pub sweep: String,
    pub entry: Result<Entry, AppError>,
}

#[derive(Debug)]
pub struct Entry {
    pub id: String,
    pub backend: BackendKind,
    pub total: u64,
    pub counts: Counts,
    /// The pid of the bsweep that follows the sweep, if one does.
    pub followed_by: Option<u32>,
}

pub fn list(ctx: &Ctx) -> Vec<Row> {
    ctx.home
        .sweep_names()
        .into_iter()
        .map(|name| {
            let entry = entry(ctx, &name);
            Row { sweep: name, entry }
        })
        .collect()
}

fn entry(ctx: &Ctx, name: &str) -> Result<Entry, AppError> {
    Ok(match look(&ctx.home, name)? {
        Look::Owned(store) => {
            let meta = store.meta();
            let o = Overview::scan(meta, store.points())?;
            Entry {
                id: meta.id.clone(),
                backend: meta.backend,
                total: meta.count,
                counts: o.counts,
                followed_by: None,
            }
        }
        Look::Snapshot { head, pid, .. } => Entry {
            id: head.id.clone(),
            backend: head.backend,
            total: head.total,
            counts: head.counts.clone(),
            followed_by: pid.parse().ok(),
        },
    })
}
