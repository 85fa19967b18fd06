//! `delete`: forget a sweep (its record, scripts and local outputs) and remove its directory on
//! the cluster when it is the sweep's own; refuses while points are in flight unless forced.

use std::fs;

use super::{AppError, Ctx, connect, io};
use crate::layout::{OWNER_FILE, RemoteOwner};
use crate::shell;
use crate::store::{Store, StoreError, SweepMeta};
use crate::transport::{AnyTransport, Transport};
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
    Sweep {
        remote: Option<RemoteDir>,
    },
    /// The store was damaged; forgotten anyway (`--force`).
    Damaged {
        remote: Option<RemoteDir>,
    },
}

/// What became of a sweep's directory on the cluster.
#[derive(Debug, PartialEq, Eq)]
pub enum RemoteDir {
    Removed {
        place: String,
        dir: String,
    },
    /// It was not there (any more).
    Gone {
        place: String,
        dir: String,
    },
    Kept {
        place: String,
        dir: String,
        why: Kept,
    },
}

/// Why a sweep's directory on the cluster was left where it is.
#[derive(Debug, PartialEq, Eq)]
pub enum Kept {
    /// Jobs still running write there (`--force` with points in flight).
    InFlight(u64),
    /// Its ownership marker does not name this sweep (or it has none: an older bsweep's
    /// directory, `remote_dir/NAME`, which sweeps of that name shared).
    NotOurs,
    /// The cluster could not be reached, or the removal failed: the error, in words.
    Failed(String),
}

pub async fn delete(ctx: &Ctx, name: &str, force: bool) -> Result<Deleted, AppError> {
    let paths = ctx.home.sweep(name)?;
    let store = match Store::open(&ctx.home, name, "delete") {
        Ok(store) => store,
        // A damaged store can still be forgotten on purpose; its record says where its
        // directory on the cluster is, when the record survived.
        Err(StoreError::Damaged { .. } | StoreError::Schema { .. }) if force => {
            let remote = match Store::read_record(&ctx.home, name) {
                Ok(meta) => clean_remote(ctx, &meta, 0).await,
                Err(_) => None,
            };
            fs::remove_dir_all(paths.dir()).map_err(io("remove", paths.dir()))?;
            return Ok(Deleted::Damaged { remote });
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
    let meta = store.meta().clone();
    // Held until the cluster side is settled: no other bsweep starts on the sweep meanwhile.
    let remote = clean_remote(ctx, &meta, live).await;
    drop(store);
    fs::remove_dir_all(paths.dir()).map_err(io("remove", paths.dir()))?;
    Ok(Deleted::Sweep { remote })
}

/// Removes the sweep's directory on the cluster when it is its own and no job uses it; says
/// why not otherwise. `None`: the sweep has no directory there.
async fn clean_remote(ctx: &Ctx, meta: &SweepMeta, live: u64) -> Option<RemoteDir> {
    let (Some(host), Some(dir)) = (&meta.host, &meta.cluster_dir) else {
        return None;
    };
    let kept = |why| RemoteDir::Kept {
        place: host.clone(),
        dir: dir.clone(),
        why,
    };
    if live > 0 {
        return Some(kept(Kept::InFlight(live)));
    }
    let owner = RemoteOwner {
        name: &meta.name,
        id: &meta.id,
        created: meta.created,
        home: ctx.home.root(),
    };
    let removed = match connect::transport_of(&ctx.home, meta).await {
        Ok(t) => remove_remote_dir(&t, dir, &owner).await,
        Err(e) => Err(e),
    };
    Some(match removed {
        Ok(r) => r,
        Err(e) => kept(Kept::Failed(crate::error_chain(&e))),
    })
}

/// Removes `dir` on the cluster if its marker names `owner`, in one round trip.
pub(crate) async fn remove_remote_dir(
    t: &AnyTransport,
    dir: &str,
    owner: &RemoteOwner<'_>,
) -> Result<RemoteDir, AppError> {
    let script = format!(
        "d={d}; f=\"$d\"/{OWNER_FILE}\n\
         if [ ! -e \"$d\" ] && [ ! -L \"$d\" ]; then exit 4; fi\n\
         if [ -L \"$d\" ] || [ ! -d \"$d\" ] || ! grep -qxF -- {key} \"$f\" 2>/dev/null; then exit 3; fi\n\
         exec rm -rf -- \"$d\"\n",
        d = shell::quote(dir),
        key = shell::quote(&owner.key_line()),
    );
    let out = t.run(&script, b"").await?;
    let (place, dir) = (t.place(), dir.to_string());
    Ok(match out.code {
        Some(0) => RemoteDir::Removed { place, dir },
        Some(4) => RemoteDir::Gone { place, dir },
        Some(3) => RemoteDir::Kept {
            place,
            dir,
            why: Kept::NotOurs,
        },
        code => RemoteDir::Kept {
            place,
            dir,
            why: Kept::Failed(crate::sched::lsf::said(code, &out.stderr)),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::transport::local::LocalTransport;

    #[tokio::test(flavor = "current_thread")]
    async fn only_a_directory_marked_as_the_sweeps_own_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let t = AnyTransport::Local(LocalTransport::new());
        let owner = RemoteOwner {
            name: "s",
            id: "abc123",
            created: 7.25,
            home: Path::new("/h"),
        };
        let other = RemoteOwner {
            created: 8.0,
            ..owner.clone()
        };
        let dir = tmp.path().join("s-abc123");
        fs::create_dir_all(dir.join("out/00000")).unwrap();
        fs::write(dir.join(OWNER_FILE), other.marker()).unwrap();
        let d = dir.to_str().unwrap();
        let r = remove_remote_dir(&t, d, &owner).await.unwrap();
        assert!(
            matches!(
                r,
                RemoteDir::Kept {
                    why: Kept::NotOurs,
                    ..
                }
            ),
            "{r:?}"
        );
        assert!(dir.join("out/00000").is_dir());
        fs::write(dir.join(OWNER_FILE), owner.marker()).unwrap();
        let r = remove_remote_dir(&t, d, &owner).await.unwrap();
        assert!(matches!(r, RemoteDir::Removed { .. }), "{r:?}");
        assert!(!dir.exists());
        let r = remove_remote_dir(&t, d, &owner).await.unwrap();
        assert!(matches!(r, RemoteDir::Gone { .. }), "{r:?}");
        // A symlink to a directory marked as the sweep's is not followed.
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::write(real.join(OWNER_FILE), owner.marker()).unwrap();
        std::os::unix::fs::symlink(&real, &dir).unwrap();
        let r = remove_remote_dir(&t, d, &owner).await.unwrap();
        assert!(
            matches!(
                r,
                RemoteDir::Kept {
                    why: Kept::NotOurs,
                    ..
                }
            ),
            "{r:?}"
        );
        assert!(real.join(OWNER_FILE).exists());
    }
}
