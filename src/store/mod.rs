//! The sled store: one database per sweep (so sweeps run side by side), guarded by a lock file
//! that names its holder, with typed keys and a schema version. All sled access is here.
//!
//! A sweep is recorded into `db.partial` and renamed to `db` once every point is in, so a sweep
//! is either absent or complete, whatever kills bsweep meanwhile. Points are read and written
//! one batch at a time: memory is bounded by the batch, not by the sweep.

mod lock;

use self::lock::Lock;
pub use self::lock::lock_holder;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::layout::{Home, NameError, SweepPaths};
use crate::model::PointRec;
use crate::spec::BackendKind;

/// Bumped whenever the encoding of a key or record changes. Version 3 keeps points in pages of
/// [`PAGE`]; version 2 (one key per point) stored each attempt's phase and lost-job clock;
/// version 1 had neither. Stores of versions 1 and 2 are read and written in their own layout.
pub const SCHEMA_VERSION: u32 = 3;
const READABLE_SCHEMAS: &[&str] = &["1", "2", "3"];

/// Points per page. sled's memory grows with the number of keys far more than with their
/// size (a million one-point keys took 3 GB to write, 15,625 pages of 64 took 125 MB), and the
/// engine reads and writes neighbouring points together.
const PAGE: u64 = 64;

const KEY_SCHEMA: &[u8] = b"schema";
const KEY_META: &[u8] = b"meta";
/// One point per key (schemas 1 and 2).
const POINT_PREFIX: u8 = b'p';
/// One page of points per key (schema 3): `q` + the page number.
const PAGE_PREFIX: u8 = b'q';
/// Settings learned about the sweep's cluster (e.g. which bjobs mode works): `s<name>`.
const SETTING_PREFIX: u8 = b's';
/// Points per sled batch while recording a sweep.
const RECORD_BATCH: usize = 20_000;
/// sled's page cache: bsweep reads each record a few times at most, so a big cache buys
/// nothing and costs memory on a million-point sweep.
const CACHE_BYTES: u64 = 32 << 20;

fn setting_key(name: &str) -> Vec<u8> {
    let mut k = vec![SETTING_PREFIX];
    k.extend_from_slice(name.as_bytes());
    k
}

fn point_key(index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = POINT_PREFIX;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn page_key(page: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = PAGE_PREFIX;
    k[1..].copy_from_slice(&page.to_be_bytes());
    k
}

/// How a store keeps its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Schemas 1 and 2: one key per point.
    PerPoint,
    /// Schema 3: pages of [`PAGE`] consecutive points.
    Paged,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(
        "sweep `{name}` is in use by pid {pid} ({command}); wait for it to finish or stop it first"
    )]
    InUse {
        name: String,
        pid: String,
        command: String,
    },
    #[error(
        "sweep `{name}` is still being recorded by pid {pid}; `bsweep status {name}` works once it is"
    )]
    Recording { name: String, pid: String },
    #[error("no sweep named `{0}` (see `bsweep list`)")]
    NotFound(String),
    /// Its `launch` was stopped while recording: nothing of it exists, nothing was submitted.
    #[error(
        "sweep `{name}` was never completely recorded (its launch was stopped while recording, nothing was submitted); `bsweep launch {}` records it again",
        file.display()
    )]
    Unrecorded { name: String, file: PathBuf },
    #[error(
        "a sweep named `{0}` already exists; pick another `name` in the sweep file, `bsweep resume {0}` it, or `bsweep delete {0}`"
    )]
    Exists(String),
    #[error(
        "the store of sweep `{name}` has schema version {found}, this bsweep reads versions up to {SCHEMA_VERSION}: use the bsweep that recorded it"
    )]
    Schema { name: String, found: String },
    #[error(
        "the store of sweep `{name}` is damaged ({what}); `bsweep recover {name}` rebuilds it from the scheduler and the jobs' outputs"
    )]
    Damaged { name: String, what: String },
    #[error("sweep `{name}` cannot be recovered: its record {} {why}", path.display())]
    Unrecoverable {
        name: String,
        path: PathBuf,
        why: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Someone deleted the sweep's directory while this process had it open.
    #[error(
        "the directory of sweep `{name}` ({}) was removed while this bsweep followed it, so it stops here; jobs it submitted may still run (their names start `bsw-{id}-`)",
        path.display()
    )]
    Removed {
        name: String,
        id: String,
        path: PathBuf,
    },
    #[error("store I/O on {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the store of sweep `{name}` could not be opened or written")]
    Sled {
        name: String,
        #[source]
        source: sled::Error,
    },
}

impl StoreError {
    /// The sweep is held, missing or taken: another bsweep or the user's next step decides.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            StoreError::InUse { .. }
                | StoreError::Recording { .. }
                | StoreError::Unrecorded { .. }
                | StoreError::NotFound(_)
                | StoreError::Removed { .. }
                | StoreError::Exists(_)
        )
    }
}

/// What a sweep is: recorded once at launch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepMeta {
    pub name: String,
    /// Short random id carried by every job name.
    pub id: String,
    pub created: f64,
    /// The sweep file as given at launch, and its text then (the store never rereads the file).
    pub source: PathBuf,
    pub spec_text: String,
    pub backend: BackendKind,
    pub count: u64,
    pub param_names: Vec<String>,
    /// Target labels, in the spec's order (attempts refer to them by index).
    pub targets: Vec<String>,
    /// The cluster's login host when the scheduler is reached over SSH (`[cluster] host` or
    /// `--host`).
    #[serde(default)]
    pub host: Option<String>,
    /// The remote home directory and the sweep's directory there (absolute), found at launch.
    #[serde(default)]
    pub remote_home: Option<String>,
    #[serde(default)]
    pub cluster_dir: Option<String>,
}

/// A sled error: corrupt data is a damaged store (with the way out), the rest is I/O.
fn sled_error(name: &str, source: sled::Error) -> StoreError {
    match source {
        sled::Error::Corruption { .. } | sled::Error::ReportableBug(_) => StoreError::Damaged {
            name: name.to_string(),
            what: source.to_string(),
        },
        source => StoreError::Sled {
            name: name.to_string(),
            source,
        },
    }
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An open sweep: exclusive for this process until dropped.
pub struct Store {
    home: Home,
    name: String,
    paths: SweepPaths,
    db: sled::Db,
    meta: SweepMeta,
    layout: Layout,
    lock: Lock,
}

fn open_db(path: &Path, name: &str) -> Result<sled::Db, StoreError> {
    // sled locks its file itself; bsweep's own lock already makes this process the only writer,
    // so a lock still held is a database of this process being closed (or of one that is
    // exiting): it is gone in a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match open_db_once(path, name) {
            Err(StoreError::Io { source, .. })
                if source.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

fn open_db_once(path: &Path, name: &str) -> Result<sled::Db, StoreError> {
    // sled may panic on some damaged files rather than return an error: contain it, so a
    // broken store is an error with a way out, never a crash.
    let opened = quietly(|| {
        sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            // Every write bsweep makes is flushed when it must be durable; without a background
            // flusher the database closes (and unlocks) the moment the store is dropped.
            .flush_every_ms(None)
            .open()
    });
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(sled::Error::Io(source))) if source.kind() != std::io::ErrorKind::InvalidData => {
            Err(StoreError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
        Ok(Err(e)) => Err(StoreError::Damaged {
            name: name.to_string(),
            what: e.to_string(),
        }),
        Err(panic) => Err(StoreError::Damaged {
            name: name.to_string(),
            what: format!("the database failed to open: {panic}"),
        }),
    }
}

impl Store {
    fn sled_err(&self) -> impl FnOnce(sled::Error) -> StoreError + '_ {
        |source| sled_error(&self.name, source)
    }

    /// Records a new sweep and all its points; refuses an existing name. `progress` hears the
    /// number of points recorded so far. The sweep appears only once it is complete.
    pub fn create(
        home: &Home,
        meta: SweepMeta,
        points: impl IntoIterator<Item = PointRec>,
        command: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Store, StoreError> {
        let paths = home.sweep(&meta.name)?;
        if paths.db().exists() {
            return Err(StoreError::Exists(meta.name.clone()));
        }
        fs::create_dir_all(paths.dir()).map_err(io_err(paths.dir()))?;
        let lock = Lock::acquire(&paths, &meta.name, command)?;
        // Checked again under the lock: two launches of one name race to here.
        if paths.db().exists() {
            return Err(StoreError::Exists(meta.name.clone()));
        }
        Self::build(home, paths, meta, points, lock, progress, None)
    }

    /// Takes a sweep's lock to rebuild its database (`recover`), without touching it yet: what
    /// the rebuild needs from the scheduler is asked for first, and [`Rebuild::finish`] swaps
    /// the new database in only once it is complete.
    pub fn begin_rebuild(home: &Home, name: &str, command: &str) -> Result<Rebuild, StoreError> {
        let paths = home.sweep(name)?;
        if !paths.dir().is_dir() {
            return Err(StoreError::NotFound(name.to_string()));
        }
        let lock = Lock::acquire(&paths, name, command)?;
        Ok(Rebuild {
            home: home.clone(),
            paths,
            lock,
        })
    }

    /// Writes a database in `db.partial`, then renames it to `db` (moving an existing `db` to
    /// `aside` first when given).
    fn build(
        home: &Home,
        paths: SweepPaths,
        meta: SweepMeta,
        points: impl IntoIterator<Item = PointRec>,
        lock: Lock,
        progress: &mut dyn FnMut(u64),
        aside: Option<PathBuf>,
    ) -> Result<Store, StoreError> {
        let partial = paths.db_partial();
        // What a killed launch or recover left: this process holds the lock, nobody uses it.
        if partial.exists() {
            fs::remove_dir_all(&partial).map_err(io_err(&partial))?;
        }
        let name = meta.name.clone();
        let sled_err = |source| sled_error(&name, source);
        {
            let db = open_db(&partial, &meta.name)?;
            db.insert(KEY_META, encode(&meta)).map_err(sled_err)?;
            let mut n = 0u64;
            let mut batch = sled::Batch::default();
            let mut in_batch = 0;
            let mut page: Vec<PointRec> = Vec::with_capacity(PAGE as usize);
            for p in points {
                n += 1;
                page.push(p);
                if page.len() as u64 == PAGE {
                    let first = page[0].index;
                    batch.insert(&page_key(first / PAGE), encode(&page));
                    page.clear();
                    in_batch += PAGE as usize;
                }
                if in_batch >= RECORD_BATCH {
                    db.apply_batch(std::mem::take(&mut batch))
                        .map_err(sled_err)?;
                    in_batch = 0;
                    progress(n);
                }
            }
            if let Some(first) = page.first() {
                batch.insert(&page_key(first.index / PAGE), encode(&page));
            }
            db.apply_batch(batch).map_err(sled_err)?;
            // The schema key last: a database without it was never finished.
            db.insert(KEY_SCHEMA, SCHEMA_VERSION.to_string().as_bytes())
                .map_err(sled_err)?;
            db.flush().map_err(sled_err)?;
            progress(n);
        }
        write_record(&paths, &meta)?;
        let db_path = paths.db();
        if let Some(aside) = aside
            && db_path.exists()
        {
            fs::rename(&db_path, &aside).map_err(io_err(&aside))?;
        }
        fs::rename(&partial, &db_path).map_err(io_err(&db_path))?;
        sync_dir(paths.dir());
        let db = open_db(&db_path, &meta.name)?;
        Ok(Store {
            home: home.clone(),
            name: meta.name.clone(),
            paths,
            db,
            meta,
            layout: Layout::Paged,
            lock,
        })
    }

    /// The sweep record kept beside the database (see `create`).
    pub fn read_record(home: &Home, name: &str) -> Result<SweepMeta, StoreError> {
        let path = home.sweep(name)?.meta();
        let unrecoverable =
            |why, source: Box<dyn std::error::Error + Send + Sync>| StoreError::Unrecoverable {
                name: name.to_string(),
                path: path.clone(),
                why,
                source,
            };
        let text = fs::read(&path).map_err(|e| unrecoverable("cannot be read", Box::new(e)))?;
        serde_json::from_slice(&text).map_err(|e| unrecoverable("is damaged too", Box::new(e)))
    }

    /// Opens an existing sweep for writing (every command that may change it).
    pub fn open(home: &Home, name: &str, command: &str) -> Result<Store, StoreError> {
        let paths = home.sweep(name)?;
        if !paths.db().is_dir() {
            if paths.db_partial().is_dir() && paths.lock().exists() {
                // Being recorded right now, or left by a killed launch (then the lock is free).
                if let Err(StoreError::InUse { pid, .. }) = Lock::acquire(&paths, name, command) {
                    return Err(StoreError::Recording {
                        name: name.to_string(),
                        pid,
                    });
                }
                if let Ok(meta) = Store::read_record(home, name) {
                    return Err(StoreError::Unrecorded {
                        name: name.to_string(),
                        file: meta.source,
                    });
                }
            }
            return Err(StoreError::NotFound(name.to_string()));
        }
        let lock = Lock::acquire(&paths, name, command)?;
        let db = open_db(&paths.db(), name)?;
        let damaged = |what: &str| StoreError::Damaged {
            name: name.to_string(),
            what: what.to_string(),
        };
        let sled_err = |source| sled_error(name, source);
        let schema = db
            .get(KEY_SCHEMA)
            .map_err(sled_err)?
            .ok_or_else(|| damaged("no schema version"))?;
        let schema = String::from_utf8_lossy(&schema).to_string();
        if !READABLE_SCHEMAS.contains(&schema.as_str()) {
            return Err(StoreError::Schema {
                name: name.to_string(),
                found: schema,
            });
        }
        let meta = db
            .get(KEY_META)
            .map_err(sled_err)?
            .ok_or_else(|| damaged("no sweep record"))?;
        let meta: SweepMeta =
            serde_json::from_slice(&meta).map_err(|e| damaged(&format!("sweep record: {e}")))?;
        let layout = match schema.as_str() {
            "1" | "2" => Layout::PerPoint,
            _ => Layout::Paged,
        };
        Ok(Store {
            home: home.clone(),
            name: name.to_string(),
            paths,
            db,
            meta,
            layout,
            lock,
        })
    }

    /// The home this store belongs to.
    pub fn home(&self) -> &Home {
        &self.home
    }

    pub fn meta(&self) -> &SweepMeta {
        &self.meta
    }

    pub fn paths(&self) -> &SweepPaths {
        &self.paths
    }

    /// Fails when the sweep's directory was removed (or replaced) since this store was opened:
    /// what it goes on writing would reach nobody.
    pub fn check_still_there(&self) -> Result<(), StoreError> {
        if self.lock.is_at(&self.paths.lock()) {
            return Ok(());
        }
        Err(StoreError::Removed {
            name: self.name.clone(),
            id: self.meta.id.clone(),
            path: self.paths.dir().to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        self.paths.dir()
    }

    fn damaged(&self, what: String) -> StoreError {
        StoreError::Damaged {
            name: self.name.clone(),
            what,
        }
    }

    /// The points of one stored value: a page, or a single point in the old layout.
    fn decode(&self, key: &[u8], value: &[u8]) -> Result<Vec<PointRec>, StoreError> {
        match self.layout {
            Layout::Paged => serde_json::from_slice(value),
            Layout::PerPoint => serde_json::from_slice(value).map(|p| vec![p]),
        }
        .map_err(|e| self.damaged(format!("point record {key:?}: {e}")))
    }

    fn key_of(&self, index: u64) -> [u8; 9] {
        match self.layout {
            Layout::Paged => page_key(index / PAGE),
            Layout::PerPoint => point_key(index),
        }
    }

    fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        quietly(|| self.db.get(key))
            .unwrap_or_else(|panic| Err(sled::Error::ReportableBug(format!("reading: {panic}"))))
            .map_err(self.sled_err())
    }

    /// One point.
    pub fn point(&self, index: u64) -> Result<PointRec, StoreError> {
        let mut got = self.points_at(&[index])?;
        got.pop()
            .ok_or_else(|| self.damaged(format!("point {index} is missing")))
    }

    /// The points with these indices (in the order given), each stored value read once.
    pub fn points_at(&self, indices: &[u64]) -> Result<Vec<PointRec>, StoreError> {
        let mut cache: std::collections::HashMap<[u8; 9], Vec<PointRec>> = Default::default();
        let mut out = Vec::with_capacity(indices.len());
        for &i in indices {
            let key = self.key_of(i);
            if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(key) {
                let points = match self.get(&key)? {
                    Some(v) => self.decode(&key, &v)?,
                    None => Vec::new(),
                };
                slot.insert(points);
            }
            let p = cache[&key]
                .iter()
                .find(|p| p.index == i)
                .cloned()
                .ok_or_else(|| self.damaged(format!("point {i} is missing")))?;
            out.push(p);
        }
        Ok(out)
    }

    /// The points from `index` on, in index order, read as they are consumed.
    pub fn points_from(
        &self,
        index: u64,
    ) -> impl Iterator<Item = Result<PointRec, StoreError>> + '_ {
        let (start, end) = match self.layout {
            Layout::Paged => (page_key(index / PAGE), page_key(u64::MAX)),
            Layout::PerPoint => (point_key(index), point_key(u64::MAX)),
        };
        let mut it = self.db.range(start.to_vec()..end.to_vec());
        let mut pending: std::vec::IntoIter<PointRec> = Vec::new().into_iter();
        std::iter::from_fn(move || {
            loop {
                if let Some(p) = pending.next() {
                    if p.index < index {
                        continue;
                    }
                    return Some(Ok(p));
                }
                let item = quietly(|| it.next()).unwrap_or_else(|panic| {
                    Some(Err(sled::Error::ReportableBug(format!(
                        "reading the points: {panic}"
                    ))))
                })?;
                match item {
                    Ok((k, v)) => match self.decode(&k, &v) {
                        Ok(points) => pending = points.into_iter(),
                        Err(e) => return Some(Err(e)),
                    },
                    Err(e) => return Some(Err(self.sled_err()(e))),
                }
            }
        })
    }

    /// Every point, in index order, read as they are consumed.
    pub fn points(&self) -> impl Iterator<Item = Result<PointRec, StoreError>> + '_ {
        self.points_from(0)
    }

    /// All points in index order, checked against the sweep's count. For small sweeps and
    /// commands that need them all at once; the engine streams instead.
    pub fn load_points(&self) -> Result<Vec<PointRec>, StoreError> {
        let mut out = Vec::with_capacity(self.meta.count.min(1 << 20) as usize);
        for p in self.points() {
            out.push(p?);
        }
        if out.len() as u64 != self.meta.count {
            return Err(self.damaged(format!(
                "{} point records, expected {}",
                out.len(),
                self.meta.count
            )));
        }
        Ok(out)
    }

    /// Writes some points in one atomic batch (not yet durable: see `flush`).
    pub fn put_points<'a>(
        &self,
        points: impl IntoIterator<Item = &'a PointRec>,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        match self.layout {
            Layout::PerPoint => {
                for p in points {
                    batch.insert(&point_key(p.index), encode(p));
                }
            }
            Layout::Paged => {
                // Each page read once, its changed points replaced, written once.
                let mut pages: std::collections::BTreeMap<u64, Vec<PointRec>> = Default::default();
                for p in points {
                    let page = p.index / PAGE;
                    if let std::collections::btree_map::Entry::Vacant(slot) = pages.entry(page) {
                        let key = page_key(page);
                        let stored = match self.get(&key)? {
                            Some(v) => self.decode(&key, &v)?,
                            None => Vec::new(),
                        };
                        slot.insert(stored);
                    }
                    let entries = pages.get_mut(&page).expect("inserted above");
                    match entries.iter_mut().find(|e| e.index == p.index) {
                        Some(e) => *e = p.clone(),
                        None => {
                            entries.push(p.clone());
                            entries.sort_by_key(|e| e.index);
                        }
                    }
                }
                for (page, entries) in &pages {
                    batch.insert(&page_key(*page), encode(entries));
                }
            }
        }
        self.db.apply_batch(batch).map_err(self.sled_err())
    }

    /// A setting learned about the sweep's cluster, if recorded.
    pub fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .get(setting_key(name))
            .map_err(self.sled_err())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Records a setting (durably).
    pub fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.db
            .insert(setting_key(name), value.as_bytes())
            .map_err(self.sled_err())?;
        self.flush()
    }

    /// Replaces the sweep file the sweep follows (`--spec`): the database first, then the record
    /// beside it. The text it replaces is kept in `spec-history/`, so what earlier jobs ran with
    /// stays known.
    pub fn replace_spec(
        &mut self,
        source: PathBuf,
        spec_text: String,
        targets: Vec<String>,
    ) -> Result<(), StoreError> {
        let history = self.paths.spec_history();
        fs::create_dir_all(&history).map_err(io_err(&history))?;
        let kept = (1..)
            .map(|n| history.join(format!("{n}.toml")))
            .find(|p| !p.exists())
            .expect("an unused name");
        fs::write(&kept, &self.meta.spec_text).map_err(io_err(&kept))?;
        let mut meta = self.meta.clone();
        meta.source = source;
        meta.spec_text = spec_text;
        meta.targets = targets;
        self.db
            .insert(KEY_META, encode(&meta))
            .map_err(self.sled_err())?;
        self.flush()?;
        write_record(&self.paths, &meta)?;
        self.meta = meta;
        Ok(())
    }

    /// Makes every write so far durable: after this returns, a `kill -9` loses none of them.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(self.sled_err())
    }
}

/// A sweep locked for `recover`: nothing is changed until [`Rebuild::finish`].
pub struct Rebuild {
    home: Home,
    paths: SweepPaths,
    lock: Lock,
}

impl Rebuild {
    pub fn paths(&self) -> &SweepPaths {
        &self.paths
    }

    /// Builds the new database aside and swaps it in; the old one is kept as
    /// `db.damaged-<time>`.
    pub fn finish(
        self,
        meta: SweepMeta,
        points: impl IntoIterator<Item = PointRec>,
    ) -> Result<Store, StoreError> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let aside = (0..)
            .map(|n| self.paths.db_damaged(secs, n))
            .find(|p| !p.exists())
            .expect("an unused name");
        Store::build(
            &self.home,
            self.paths,
            meta,
            points,
            self.lock,
            &mut |_| {},
            Some(aside),
        )
    }
}

/// Writes the plain copy of the sweep's record beside the database (what `recover` starts from
/// when the database is damaged), whole or not at all.
fn write_record(paths: &SweepPaths, meta: &SweepMeta) -> Result<(), StoreError> {
    let record = paths.meta();
    let tmp = record.with_extension("json.tmp");
    fs::write(&tmp, encode(meta)).map_err(io_err(&tmp))?;
    fs::rename(&tmp, &record).map_err(io_err(&record))
}

/// Makes a rename in `dir` durable (best effort: some file systems cannot sync directories).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising plain data structs to JSON cannot fail (no maps with non-string keys).
    serde_json::to_vec(v).unwrap_or_default()
}

thread_local! {
    /// Set while this thread runs [`quietly`]: its panics are turned into errors, not printed.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic into an error message without printing the panic. The panic hook
/// is wrapped once, and stays silent only for the thread inside `quietly`: swapping the
/// process-wide hook each time would also silence other threads' panics meanwhile.
fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static WRAP: std::sync::Once = std::sync::Once::new();
    WRAP.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into())
    })
}

#[cfg(test)]
mod tests;
