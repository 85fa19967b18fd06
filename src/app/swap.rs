//! `resume/retry --spec FILE`: make a sweep follow an edited sweep file from now on, after
//! checking that it describes the same sweep (name, backend, cluster, every point's parameters)
//! and that targets that have had jobs keep their places.

use std::fs;
use std::path::Path;

use itertools::Itertools;

use super::{AppError, Ctx, connect, io};
use crate::sched::Profile;
use crate::spec::{BackendKind, Point, Spec, SpecError};
use crate::store::Store;

/// Switches an opened sweep to the sweep file `file`. Jobs already submitted keep what they
/// were submitted with. Returns where the file it replaces was kept.
pub async fn swap_spec(
    ctx: &Ctx,
    store: &mut Store,
    file: &Path,
) -> Result<std::path::PathBuf, AppError> {
    let new = Spec::load(file)?;
    let meta = store.meta().clone();
    let old = Spec::from_toml(&meta.spec_text, &meta.source)?;
    let refuse = |field: &str, message: String| -> AppError {
        SpecError {
            path: file.to_path_buf(),
            line: None,
            col: None,
            field: Some(field.to_string()),
            message: format!("{message}; that needs a new sweep (`bsweep launch`)"),
        }
        .into()
    };
    same_sweep(&old, &new, meta.count).map_err(|(field, why)| refuse(field, why))?;
    let (had, now) = (Profile::of(&old).labels(), Profile::of(&new).labels());
    let used = targets_used(store, had.len())?;
    same_targets(&used, &had, &now, new.backend).map_err(|(field, why)| refuse(field, why))?;
    let next = "try again (the sweep is unchanged)";
    match new.backend {
        BackendKind::Lsf => {
            let t = connect::transport(&ctx.home, meta.host.as_deref(), &new).await?;
            connect::check_lsf(&t, &new, next).await?;
        }
        BackendKind::Slurm => {
            let t = connect::transport(&ctx.home, meta.host.as_deref(), &new).await?;
            connect::check_slurm(&t, &new, next).await?;
        }
        BackendKind::Local => {}
    }
    let text = fs::read_to_string(file).map_err(io("read", file))?;
    let source = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    store.replace_spec(source, text, now)?;
    Ok(store.paths().spec_history())
}

/// Why a file is not the same sweep: (field, what differs).
type Differs = (&'static str, String);

/// The same name, backend, cluster and every point's parameters.
fn same_sweep(old: &Spec, new: &Spec, count: u64) -> Result<(), Differs> {
    if new.name != old.name {
        return Err((
            "name",
            format!("is `{}`, but this is sweep `{}`", new.name, old.name),
        ));
    }
    if new.backend != old.backend {
        return Err((
            "backend",
            format!("differs from the sweep's ({:?})", old.backend).to_lowercase(),
        ));
    }
    let where_ = |s: &Spec| {
        s.cluster
            .as_ref()
            .map(|c| (c.host.clone(), c.remote_dir.clone()))
    };
    if where_(new) != where_(old) {
        return Err((
            "cluster",
            "names another host or remote_dir than the sweep's jobs use".into(),
        ));
    }
    if new.count() != count {
        return Err((
            "grid",
            format!("gives {} points, the sweep has {count}", new.count()),
        ));
    }
    if let Some((a, b)) = old
        .points()
        .zip(new.points())
        .find(|(a, b)| a.params != b.params)
    {
        let show = |p: &Point| p.params.iter().map(|(k, v)| format!("{k}={v}")).join(" ");
        return Err((
            "grid",
            format!(
                "point {} would change from `{}` to `{}`",
                a.index,
                show(&a),
                show(&b)
            ),
        ));
    }
    Ok(())
}

/// Which of the sweep's `n` targets have had a job (or an open intent, whose job the
/// scheduler may not have named yet).
fn targets_used(store: &Store, n: usize) -> Result<Vec<bool>, AppError> {
    let mut used = vec![false; n];
    for p in store.points() {
        for a in &p?.attempts {
            if (a.job_id.is_some() || a.is_intent())
                && let Some(u) = used.get_mut(a.target)
            {
                *u = true;
            }
        }
    }
    Ok(used)
}

/// Attempts refer to targets by position: a target that has had a job keeps its place. One
/// that never got one (the scheduler refused it) may be replaced, and new ones may follow.
fn same_targets(
    used: &[bool],
    had: &[String],
    now: &[String],
    backend: BackendKind,
) -> Result<(), Differs> {
    let table = match backend {
        BackendKind::Local => "local",
        BackendKind::Lsf => "lsf",
        BackendKind::Slurm => "slurm",
    };
    if let Some(i) = (0..had.len()).find(|&i| used[i] && now.get(i) != Some(&had[i])) {
        return Err((
            table,
            format!(
                "has the targets {}, but target {} of the sweep, `{}`, has had jobs and must stay at that place (targets that never got a job may be replaced; new ones may follow)",
                now.join(", "),
                i + 1,
                had[i]
            ),
        ));
    }
    if now.len() < had.len() {
        return Err((
            table,
            format!(
                "has {} targets, the sweep {}; targets may be replaced or added, not removed",
                now.len(),
                had.len()
            ),
        ));
    }
    Ok(())
}
