//! `delete`: forget a sweep (its record, scripts and local outputs); refuses while points are
//! in flight unless forced.

use std::fs;

use super::{AppError, Ctx, io};
use crate::store::{Store, StoreError};
use crate::view::Overview;

/// A sweep still has jobs in flight: deleting it would lose track of them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "sweep {sweep} has {live} point(s) in flight; `bsweep cancel {sweep}` first, or pass --force (their jobs keep running)"
)]
pub struct InFlight {
    pub sweep: String,
    pub live: u64,
}

/// What `delete` removed.
#[derive(Debug, PartialEq, Eq)]
pub enum Deleted {
    Sweep,
    /// The store was damaged; forgotten anyway (`--force`).
    Damaged,
}

pub fn delete(ctx: &Ctx, name: &str, force: bool) -> Result<Deleted, AppError> {
    let paths = ctx.home.sweep(name)?;
    let store = match Store::open(&ctx.home, name, "delete") {
        Ok(store) => store,
        // A damaged store can still be forgotten on purpose.
        Err(StoreError::Damaged { .. } | StoreError::Schema { .. }) if force => {
            fs::remove_dir_all(paths.dir()).map_err(io("remove", paths.dir()))?;
            return Ok(Deleted::Damaged);
        }
        Err(e) => return Err(e.into()),
    };
    let o = Overview::scan(store.meta(), store.points())?;
    let live: u64 = o
        .counts
        .iter()
        .filter(|(s, _)| s.in_flight())
        .map(|(_, n)| n)
        .sum();
    if live > 0 && !force {
        return Err(InFlight {
            sweep: name.to_string(),
            live,
        }
        .into());
    }
    drop(store);
    fs::remove_dir_all(paths.dir()).map_err(io("remove", paths.dir()))?;
    Ok(Deleted::Sweep)
}
