//! `launch`: check a sweep file against its cluster, record the sweep and its points (atomically:
//! a sweep is there complete or not at all), then hand it to `follow`.

use std::fs;
use std::hash::BuildHasher;
use std::path::Path;

use super::connect::{self, Place};
use super::{AppError, ClusterError, Ctx, UsageError, check_bound, check_size, io};
use crate::layout::{OWNER_FILE, RemoteOwner, remote_sweep_dir};
use crate::model::{PointRec, now};
use crate::sched::Profile;
use crate::shell;
use crate::spec::{BackendKind, Spec, SpecWarning};
use crate::store::{Store, StoreError, SweepMeta};
use crate::transport::{AnyTransport, Transport};

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
    let (mut id, created) = (new_sweep_id(), now());
    let (mut remote_home, mut cluster_dir, mut known, mut transport) =
        (None, None, connect::Known::default(), None);
    if spec.backend != BackendKind::Local {
        let t = connect::transport(&ctx.home, host.as_deref(), &spec).await?;
        let dirs = async {
            match host {
                Some(_) => connect::remote_dirs(&t, &spec).await.map(Some),
                None => Ok(None),
            }
        };
        let next = "launch again (nothing was recorded)";
        let checked = async {
            let mut known = connect::Known::default();
            match spec.backend {
                BackendKind::Lsf => {
                    known.bjobs_mode = Some(connect::check_lsf(&t, &spec, next).await?.mode);
                }
                BackendKind::Slurm => {
                    known.slurm = Some(connect::check_slurm(&t, &spec, next).await?.facts());
                }
                BackendKind::Local => {}
            }
            Ok::<_, AppError>(known)
        };
        // Two round trips at once over the one connection: a launch's fixed cost is mostly
        // round trips. A broken login shell (no home) is said first, as it explains the rest.
        let (dirs, checked) = tokio::join!(dirs, checked);
        let dirs = dirs?;
        known = checked?;
        if let Some(dirs) = dirs {
            let (taken_id, dir) =
                claim_remote_dir(&t, &dirs.base, &spec.name, created, ctx.home.root()).await?;
            id = taken_id;
            (remote_home, cluster_dir) = (Some(dirs.home), Some(dir));
        }
        transport = Some(t);
    }
    let spec_text = fs::read_to_string(file).map_err(io("read", file))?;
    let meta = SweepMeta {
        name: spec.name.clone(),
        id: id.clone(),
        created,
        source: std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()),
        spec_text,
        backend: spec.backend,
        count,
        param_names: spec.param_names(),
        targets: Profile::of(&spec).labels(),
        host,
        remote_home,
        cluster_dir: cluster_dir.clone(),
    };
    let points = spec.points().map(|p| PointRec::new(p.index, p.params));
    let store = match Store::create(&ctx.home, meta, points, "launch", &mut |n| {
        progress(n, count)
    }) {
        Ok(store) => store,
        Err(e) => {
            // Nothing was recorded: the directory claimed for it would belong to nobody.
            if let (Some(t), Some(dir)) = (&transport, &cluster_dir) {
                let owner = RemoteOwner {
                    name: &spec.name,
                    id: &id,
                    created,
                    home: ctx.home.root(),
                };
                let _ = super::delete::remove_remote_dir(t, dir, &owner).await;
            }
            return Err(e.into());
        }
    };
    connect::remember(&store, &known)?;
    Ok(store)
}

/// Tries this many sweep ids before giving up on finding a free remote directory.
const CLAIM_TRIES: usize = 3;

/// Claims a directory of the sweep's own under `base` on the cluster, `NAME-ID`, before
/// anything is recorded (a directory it cannot make is an error with the cluster's words). An
/// existing one owned by another sweep is never taken: another id is drawn. Returns the id and
/// the directory.
async fn claim_remote_dir(
    t: &AnyTransport,
    base: &str,
    name: &str,
    created: f64,
    home: &Path,
) -> Result<(String, String), AppError> {
    let mut id = new_sweep_id();
    let mut taken = Vec::new();
    for _ in 0..CLAIM_TRIES {
        let dir = remote_sweep_dir(base, name, &id)?;
        let owner = RemoteOwner {
            name,
            id: &id,
            created,
            home,
        };
        match make_remote_dir(t, base, &dir, &owner).await? {
            Claim::Ours => return Ok((id, dir)),
            Claim::Taken { owner } => taken.push(format!("{dir} ({owner})")),
        }
        id = new_sweep_id();
    }
    Err(ClusterError::RemoteDirTaken {
        place: t.place(),
        dirs: taken.join(", "),
    }
    .into())
}

/// What [`make_remote_dir`] found.
#[derive(Debug, PartialEq)]
enum Claim {
    /// Made now with the marker, or already marked as this sweep's.
    Ours,
    /// There already, and someone else's: what its marker says (or that it has none).
    Taken { owner: String },
}

/// Makes the sweep's directory `dir` on the cluster (and `base` above it) and writes the
/// ownership marker into it, in one round trip.
async fn make_remote_dir(
    t: &AnyTransport,
    base: &str,
    dir: &str,
    owner: &RemoteOwner<'_>,
) -> Result<Claim, AppError> {
    let script = format!(
        "b={b}; d={d}; f=\"$d\"/{OWNER_FILE}\n\
         mkdir -p -- \"$b\" || exit 1\n\
         if err=$(mkdir -- \"$d\" 2>&1); then printf '%s' {marker} > \"$f\" && exit 0; exit 1; fi\n\
         if [ -d \"$d\" ] && [ ! -L \"$d\" ] && grep -qxF -- {key} \"$f\" 2>/dev/null; then exit 0; fi\n\
         if [ ! -e \"$d\" ] && [ ! -L \"$d\" ]; then printf '%s\\n' \"$err\" >&2; exit 1; fi\n\
         grep -E '^(sweep|home)=' \"$f\" 2>/dev/null | head -n 2 | tr '\\n' ' '\n\
         exit 3\n",
        b = shell::quote(base),
        d = shell::quote(dir),
        marker = shell::quote(&owner.marker()),
        key = shell::quote(&owner.key_line()),
    );
    let out = t.run(&script, b"").await?;
    match out.code {
        Some(0) => Ok(Claim::Ours),
        Some(3) => Ok(Claim::Taken {
            owner: match out.stdout.trim() {
                "" => "no bsweep marker in it".to_string(),
                o => format!("marked {o}"),
            },
        }),
        _ => Err(ClusterError::RemoteDir {
            place: t.place(),
            dir: dir.to_string(),
            said: crate::sched::lsf::said(out.code, &out.stderr),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::local::LocalTransport;

    #[tokio::test(flavor = "current_thread")]
    async fn a_remote_dir_owned_by_another_sweep_is_never_taken() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base with space");
        let base = base.to_str().unwrap();
        let dir = format!("{base}/s-abc123");
        let t = AnyTransport::Local(LocalTransport::new());
        let owner = |created, home: &'static str| RemoteOwner {
            name: "s",
            id: "abc123",
            created,
            home: Path::new(home),
        };
        let a = owner(1.0, "/home-a");
        assert_eq!(
            make_remote_dir(&t, base, &dir, &a).await.unwrap(),
            Claim::Ours
        );
        let marker = fs::read_to_string(Path::new(&dir).join(OWNER_FILE)).unwrap();
        assert_eq!(marker, a.marker());
        // The same sweep again (a retried launch step): still its own.
        assert_eq!(
            make_remote_dir(&t, base, &dir, &a).await.unwrap(),
            Claim::Ours
        );
        // The same name and id from another home and time: refused, naming the owner.
        let b = owner(2.0, "/home-b");
        let Claim::Taken { owner: said } = make_remote_dir(&t, base, &dir, &b).await.unwrap()
        else {
            panic!("another sweep's directory was taken");
        };
        assert!(
            said.contains("sweep=s") && said.contains("home=/home-a"),
            "{said}"
        );
        assert_eq!(
            fs::read_to_string(Path::new(&dir).join(OWNER_FILE)).unwrap(),
            marker
        );
        // A directory without a marker (made by hand, or by an older bsweep) is not taken either.
        let bare = format!("{base}/s-def456");
        fs::create_dir(&bare).unwrap();
        assert!(matches!(
            make_remote_dir(&t, base, &bare, &a).await.unwrap(),
            Claim::Taken { .. }
        ));
        // One it cannot make is an error with the system's words.
        fs::write(tmp.path().join("file"), "").unwrap();
        let blocked = tmp.path().join("file/x");
        let e = make_remote_dir(
            &t,
            blocked.to_str().unwrap(),
            &format!("{}/s-1", blocked.display()),
            &a,
        )
        .await
        .unwrap_err();
        assert!(
            crate::error_chain(&e).contains("Not a directory"),
            "{}",
            crate::error_chain(&e)
        );
    }
}
