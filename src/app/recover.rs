//! `recover`: rebuild a sweep whose store is damaged, from its record, its job scripts, the
//! scheduler (jobs found by name) and the jobs' outputs. Nothing is changed unless the
//! scheduler answered: a failed recover leaves the sweep exactly as it was.

use super::{AppError, Ctx, connect};
use crate::engine::Engine;
use crate::engine::events::Silent;
use crate::model::{Clock, Counts, PointRec};
use crate::spec::Spec;
use crate::store::Store;

/// What `recover` rebuilt.
#[derive(Debug)]
pub struct Recovered {
    /// Points that have a job on the scheduler.
    pub with_jobs: usize,
    /// Points the next `resume` submits.
    pub waiting: u64,
    pub counts: Counts,
}

pub async fn recover(ctx: &Ctx, name: &str) -> Result<Recovered, AppError> {
    let meta = Store::read_record(&ctx.home, name)?;
    let spec = Spec::from_toml(&meta.spec_text, &meta.source)?;
    let rebuild = Store::begin_rebuild(&ctx.home, name, "recover")?;
    let clock = Clock::system();
    let (mut sched, probed) =
        connect::scheduler_for(&ctx.home, &meta, connect::Known::default(), &clock).await?;
    let mut points: Vec<PointRec> = spec
        .points()
        .map(|p| PointRec::new(p.index, p.params))
        .collect();
    let jobs = connect::cluster_jobs(&ctx.home, &meta)?;
    let scripts = rebuild.paths().dir().join("scripts");
    let with_jobs = crate::engine::recover::rebuild_attempts(
        &mut sched,
        &meta.id,
        &scripts,
        &jobs,
        &mut points,
    )
    .await
    .map_err(|source| AppError::Recover {
        sweep: name.to_string(),
        source,
    })?;
    let store = rebuild.finish(meta, points)?;
    connect::remember(&store, &probed)?;
    let mut engine = Engine::new(store, sched, Box::new(Silent), clock)?;
    // Learn the states of what was found now, so the recovered store is current.
    engine.poll_once().await?;
    engine.write_snapshot(true);
    Ok(Recovered {
        with_jobs,
        waiting: engine.waiting(),
        counts: engine.counts().clone(),
    })
}
