//! `cancel`: kill a sweep's jobs and mark the rest cancelled, or ask the bsweep that follows it
//! to do so.

use std::fs;

use super::{AppError, Ctx, connect, io};
use crate::engine::events::Silent;
use crate::store::{Store, StoreError};

/// What `cancel` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// This process cancelled `points` points.
    Done { points: u64 },
    /// The bsweep `pid` follows the sweep and was asked to cancel it.
    Asked { pid: String },
}

pub async fn cancel(ctx: &Ctx, name: &str) -> Result<Cancelled, AppError> {
    match Store::open(&ctx.home, name, "cancel") {
        Ok(store) => {
            let mut engine = connect::engine(store, Box::new(Silent)).await?;
            engine.poll_once().await?;
            let points = engine.cancel_all().await?;
            Ok(Cancelled::Done { points })
        }
        Err(StoreError::InUse { pid, .. }) => {
            let path = ctx.home.sweep(name)?.cancel_request();
            fs::write(&path, b"").map_err(io("write", &path))?;
            Ok(Cancelled::Asked { pid })
        }
        Err(e) => Err(e.into()),
    }
}
