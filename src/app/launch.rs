//! `launch`: check a sweep file against its cluster, record the sweep and its points (atomically:
//! a sweep is there complete or not at all), then hand it to `follow`.

use std::fs;
use std::hash::BuildHasher;
use std::path::Path;

use super::connect::{self, Place};
use super::{AppError, ClusterError, Ctx, UsageError, check_bound, check_size, io};
use crate::model::{PointRec, now};
use crate::sched::Profile;
use crate::spec::{BackendKind, Spec, SpecWarning};
use crate::store::{Store, StoreError, SweepMeta};
use crate::transport::Transport;

fn new_sweep_id() -> String {
    // A random 24-bit id: std's RandomState is seeded from the OS.
    let h = std::collections::hash_map::RandomState::new()
        .hash_one((std::process::id(), now().to_bits()));
    format!("{:06x}", h & 0xff_ffff)
}

/// Records the sweep of `file`; `progress(recorded, total)` hears how far recording got.
/// What the cluster can refuse (no connection, no scheduler, a queue it does not have, a
/// directory it cannot make) is found before anything is recorded: fixing it and running the
/// same launch again is enough.
pub async fn record(
    ctx: &Ctx,
    file: &Path,
    yes: bool,
    place: &Place,
    warn: &mut dyn FnMut(&SpecWarning),
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Store, AppError> {
    let spec = Spec::load(file)?;
    spec.warnings().iter().for_each(&mut *warn);
    check_bound(&spec, yes)?;
    let count = spec.count();
    check_size(count, yes)?;
    if place.host.is_some() && !place.here && spec.backend == BackendKind::Local {
        return Err(UsageError::HostForLocal {
            file: file.to_path_buf(),
        }
        .into());
    }
    let host = place.host(&spec);
    let paths = ctx.home.sweep(&spec.name)?;
    // Said before the cluster is asked anything (Store::create checks again under the lock).
    if paths.db().exists() {
        return Err(StoreError::Exists(spec.name.clone()).into());
    }
    let (mut remote_home, mut cluster_dir, mut known) = (None, None, connect::Known::default());
    if spec.backend != BackendKind::Local {
        let t = connect::transport(&ctx.home, host.as_deref(), &spec).await?;
        if host.is_some() {
            let dirs = connect::remote_dirs(&t, &spec).await?;
            make_remote_dir(&t, &dirs.sweep).await?;
            (remote_home, cluster_dir) = (Some(dirs.home), Some(dirs.sweep));
        }
        let next = "launch again (nothing was recorded)";
        match spec.backend {
            BackendKind::Lsf => {
                known.bjobs_mode = Some(connect::check_lsf(&t, &spec, next).await?.mode);
            }
            BackendKind::Slurm => {
                known.slurm = Some(connect::check_slurm(&t, &spec, next).await?.facts());
            }
            BackendKind::Local => {}
        }
    }
    let spec_text = fs::read_to_string(file).map_err(io("read", file))?;
    let meta = SweepMeta {
        name: spec.name.clone(),
        id: new_sweep_id(),
        created: now(),
        source: std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()),
        spec_text,
        backend: spec.backend,
        count,
        param_names: spec.param_names(),
        targets: Profile::of(&spec).labels(),
        host,
        remote_home,
        cluster_dir,
    };
    let points = spec.points().map(|p| PointRec::new(p.index, p.params));
    let store = Store::create(&ctx.home, meta, points, "launch", &mut |n| {
        progress(n, count)
    })?;
    connect::remember(&store, &known)?;
    Ok(store)
}

/// Makes the sweep's directory on the cluster, so a directory it cannot make is an error with
/// the cluster's words before anything is recorded.
async fn make_remote_dir(t: &crate::transport::AnyTransport, dir: &str) -> Result<(), AppError> {
    let out = t
        .run(&format!("mkdir -p -- {}", crate::shell::quote(dir)), b"")
        .await?;
    if out.code != Some(0) {
        return Err(ClusterError::RemoteDir {
            place: t.place(),
            dir: dir.to_string(),
            said: crate::sched::lsf::said(out.code, &out.stderr),
        }
        .into());
    }
    Ok(())
}
