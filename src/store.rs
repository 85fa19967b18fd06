//! The sled store: one database per sweep (so sweeps run side by side), guarded by a lock file
//! that names its holder, with typed keys and a schema version.
//!
//! Layout of a sweep directory `HOME/sweeps/NAME/`: `lock` (holder's pid and command), `db/`
//! (sled), `status.json` (the holder's last snapshot, read by `status`/`list` while it is held),
//! `scripts/` (job scripts), `out/` (local out_dirs).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sched::{JobId, State};
use crate::spec::{BackendKind, Value};

/// Bumped whenever the encoding of a key or record changes.
pub const SCHEMA_VERSION: u32 = 1;

const KEY_SCHEMA: &[u8] = b"schema";
/// The sweep's record, as a plain file beside the database.
const META_FILE: &str = "meta.json";
const KEY_META: &[u8] = b"meta";
const POINT_PREFIX: u8 = b'p';
/// Settings learned about the sweep's cluster (e.g. which bjobs mode works): `s<name>`.
const SETTING_PREFIX: u8 = b's';

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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "sweep `{name}` is in use by pid {pid} ({command}); wait for it to finish or stop it first"
    )]
    InUse {
        name: String,
        pid: String,
        command: String,
    },
    #[error("no sweep named `{0}` (see `bsweep list`)")]
    NotFound(String),
    #[error(
        "a sweep named `{0}` already exists; pick another `name` in the sweep file, `bsweep resume {0}` it, or `bsweep delete {0}`"
    )]
    Exists(String),
    #[error(
        "the store of sweep `{name}` has schema version {found}, this bsweep reads version {SCHEMA_VERSION}"
    )]
    Schema { name: String, found: String },
    #[error(
        "the store of sweep `{name}` is damaged ({what}); `bsweep recover {name}` rebuilds it from the scheduler and the jobs' outputs"
    )]
    Damaged { name: String, what: String },
    #[error("sweep `{name}` cannot be recovered: {what}")]
    Unrecoverable { name: String, what: String },
    #[error("store I/O on {path}")]
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

/// Where bsweep keeps its state: `--home`, `$BSWEEP_HOME`, or the XDG data dir.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    /// An ssh config file to use instead of `~/.ssh/config` (tests, unusual setups).
    ssh_config: Option<PathBuf>,
}

impl Home {
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            ssh_config: None,
        }
    }

    pub fn with_ssh_config(mut self, file: Option<PathBuf>) -> Self {
        self.ssh_config = file;
        self
    }

    pub fn ssh_config(&self) -> Option<&Path> {
        self.ssh_config.as_deref()
    }

    /// `~/.local/share/bsweep` (or the platform's data dir).
    pub fn default_root() -> PathBuf {
        dirs::data_dir()
            .or_else(|| dirs::home_dir().map(|h| h.join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("bsweep")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn sweep_dir(&self, name: &str) -> PathBuf {
        self.root.join("sweeps").join(name)
    }

    /// Names of all recorded sweeps, sorted.
    pub fn sweep_names(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.root.join("sweeps")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().join("db").is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
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
    /// The cluster's login host when LSF is reached over SSH (`[cluster] host` or `--host`).
    #[serde(default)]
    pub host: Option<String>,
    /// The remote home directory and the sweep's directory there (absolute), found at launch.
    #[serde(default)]
    pub remote_home: Option<String>,
    #[serde(default)]
    pub cluster_dir: Option<String>,
}

/// One attempt to run a point. `job_id == None` with `state == Unsubmitted` is a recorded intent
/// whose submission outcome is unknown until reconciled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRec {
    pub attempt: u32,
    pub job_name: String,
    pub target: usize,
    pub job_id: Option<JobId>,
    pub queue: Option<String>,
    pub state: State,
    pub exit_code: Option<i32>,
    pub submitted: Option<f64>,
    pub started: Option<f64>,
    pub ended: Option<f64>,
    pub host: Option<String>,
    pub max_mem_mb: Option<f64>,
    pub run_seconds: Option<f64>,
    /// Why the submission was refused, when it was.
    pub error: Option<String>,
}

impl AttemptRec {
    /// A new attempt in `state`, with nothing known yet beyond its name and target.
    pub fn new(attempt: u32, job_name: String, target: usize, state: State) -> Self {
        Self {
            attempt,
            job_name,
            target,
            job_id: None,
            queue: None,
            state,
            exit_code: None,
            submitted: None,
            started: None,
            ended: None,
            host: None,
            max_mem_mb: None,
            run_seconds: None,
            error: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointRec {
    pub index: u64,
    pub params: Vec<(String, Value)>,
    pub attempts: Vec<AttemptRec>,
}

impl PointRec {
    pub fn last(&self) -> Option<&AttemptRec> {
        self.attempts.last()
    }

    pub fn last_mut(&mut self) -> Option<&mut AttemptRec> {
        self.attempts.last_mut()
    }

    /// The number the next attempt gets: one more than the last (a recovered store may not
    /// hold every earlier attempt, so this is not the count).
    pub fn next_attempt(&self) -> u32 {
        self.last().map_or(0, |a| a.attempt) + 1
    }

    /// The point's state is its last attempt's.
    pub fn state(&self) -> State {
        self.last().map_or(State::Unsubmitted, |a| a.state)
    }
}

/// The writer lock of one sweep, held for the life of the process that opened it.
struct Lock {
    _file: File,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Who holds a sweep's lock, as written in the lock file: `(pid, command)`.
pub fn lock_holder(dir: &Path) -> (String, String) {
    let text = fs::read_to_string(dir.join("lock")).unwrap_or_default();
    let mut parts = text.trim().splitn(2, ' ');
    let pid = parts
        .next()
        .filter(|p| !p.is_empty())
        .unwrap_or("?")
        .to_string();
    let command = parts.next().unwrap_or("bsweep").to_string();
    (pid, command)
}

impl Lock {
    fn acquire(dir: &Path, name: &str, command: &str) -> Result<Lock, StoreError> {
        let path = dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let (pid, command) = lock_holder(dir);
                return Err(StoreError::InUse {
                    name: name.to_string(),
                    pid,
                    command,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
        }
        let mut old = String::new();
        let _ = file.read_to_string(&mut old);
        file.set_len(0).map_err(io_err(&path))?;
        file.rewind().map_err(io_err(&path))?;
        write!(file, "{} {command}", std::process::id()).map_err(io_err(&path))?;
        file.flush().map_err(io_err(&path))?;
        Ok(Lock { _file: file })
    }
}

/// An open sweep: exclusive for this process until dropped.
pub struct Store {
    home: Home,
    name: String,
    dir: PathBuf,
    db: sled::Db,
    meta: SweepMeta,
    _lock: Lock,
}

impl Store {
    fn sled_err(&self) -> impl FnOnce(sled::Error) -> StoreError + '_ {
        |source| StoreError::Sled {
            name: self.name.clone(),
            source,
        }
    }

    fn open_db(dir: &Path, name: &str) -> Result<sled::Db, StoreError> {
        let path = dir.join("db");
        // sled may panic on some damaged files rather than return an error: contain it, so a
        // broken store is an error with a way out, never a crash.
        let opened = quietly(|| sled::Config::new().path(&path).open());
        match opened {
            Ok(Ok(db)) => Ok(db),
            Ok(Err(sled::Error::Io(source)))
                if source.kind() != std::io::ErrorKind::InvalidData =>
            {
                Err(StoreError::Io { path, source })
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

    /// Records a new sweep and all its points atomically. Refuses an existing name.
    pub fn create(
        home: &Home,
        meta: SweepMeta,
        points: impl IntoIterator<Item = PointRec>,
        command: &str,
    ) -> Result<Store, StoreError> {
        let dir = home.sweep_dir(&meta.name);
        if dir.join("db").exists() {
            return Err(StoreError::Exists(meta.name.clone()));
        }
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock = Lock::acquire(&dir, &meta.name, command)?;
        // Checked again under the lock: two launches of one name race to here.
        if dir.join("db").exists() {
            return Err(StoreError::Exists(meta.name.clone()));
        }
        write_record(&dir, &meta)?;
        Self::fill(home, dir, meta, points, lock)
    }

    /// Replaces a damaged database with a fresh one holding `meta` and `points` (no attempts);
    /// the damaged one is kept aside as `db.damaged-<time>`.
    pub fn rebuild(
        home: &Home,
        meta: SweepMeta,
        points: impl IntoIterator<Item = PointRec>,
        command: &str,
    ) -> Result<Store, StoreError> {
        let dir = home.sweep_dir(&meta.name);
        let lock = Lock::acquire(&dir, &meta.name, command)?;
        let db = dir.join("db");
        if db.exists() {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let aside = (0..)
                .map(|n| dir.join(format!("db.damaged-{secs}-{n}")))
                .find(|p| !p.exists())
                .expect("an unused name");
            fs::rename(&db, &aside).map_err(io_err(&aside))?;
        }
        Self::fill(home, dir, meta, points, lock)
    }

    /// The sweep record kept beside the database (see `create`).
    pub fn read_record(home: &Home, name: &str) -> Result<SweepMeta, StoreError> {
        let path = home.sweep_dir(name).join(META_FILE);
        let text = fs::read(&path).map_err(|e| StoreError::Unrecoverable {
            name: name.to_string(),
            what: format!("its record {} cannot be read ({e})", path.display()),
        })?;
        serde_json::from_slice(&text).map_err(|e| StoreError::Unrecoverable {
            name: name.to_string(),
            what: format!("its record {} is damaged too ({e})", path.display()),
        })
    }

    fn fill(
        home: &Home,
        dir: PathBuf,
        meta: SweepMeta,
        points: impl IntoIterator<Item = PointRec>,
        lock: Lock,
    ) -> Result<Store, StoreError> {
        let db = Self::open_db(&dir, &meta.name)?;
        let store = Store {
            home: home.clone(),
            name: meta.name.clone(),
            dir,
            db,
            meta,
            _lock: lock,
        };
        // One batch: the sweep is recorded whole or not at all.
        let mut batch = sled::Batch::default();
        batch.insert(KEY_SCHEMA, SCHEMA_VERSION.to_string().as_bytes());
        batch.insert(KEY_META, encode(&store.meta));
        for p in points {
            batch.insert(&point_key(p.index), encode(&p));
        }
        store.db.apply_batch(batch).map_err(store.sled_err())?;
        store.flush()?;
        Ok(store)
    }

    /// Opens an existing sweep for writing (every command that may change it).
    pub fn open(home: &Home, name: &str, command: &str) -> Result<Store, StoreError> {
        let dir = home.sweep_dir(name);
        if !dir.join("db").is_dir() {
            return Err(StoreError::NotFound(name.to_string()));
        }
        let lock = Lock::acquire(&dir, name, command)?;
        let db = Self::open_db(&dir, name)?;
        let damaged = |what: &str| StoreError::Damaged {
            name: name.to_string(),
            what: what.to_string(),
        };
        let sled_err = |source| StoreError::Sled {
            name: name.to_string(),
            source,
        };
        let schema = db
            .get(KEY_SCHEMA)
            .map_err(sled_err)?
            .ok_or_else(|| damaged("no schema version"))?;
        let schema = String::from_utf8_lossy(&schema).to_string();
        if schema != SCHEMA_VERSION.to_string() {
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
        Ok(Store {
            home: home.clone(),
            name: name.to_string(),
            dir,
            db,
            meta,
            _lock: lock,
        })
    }

    /// The home this store belongs to.
    pub fn home(&self) -> &Home {
        &self.home
    }

    pub fn meta(&self) -> &SweepMeta {
        &self.meta
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// All points in index order.
    pub fn load_points(&self) -> Result<Vec<PointRec>, StoreError> {
        quietly(|| self.load_points_inner()).unwrap_or_else(|panic| {
            Err(StoreError::Damaged {
                name: self.name.clone(),
                what: format!("reading the points failed: {panic}"),
            })
        })
    }

    fn load_points_inner(&self) -> Result<Vec<PointRec>, StoreError> {
        let mut out = Vec::with_capacity(self.meta.count as usize);
        for item in self.db.scan_prefix([POINT_PREFIX]) {
            let (key, value) = item.map_err(self.sled_err())?;
            let p: PointRec = serde_json::from_slice(&value).map_err(|e| StoreError::Damaged {
                name: self.name.clone(),
                what: format!("point record {key:?}: {e}"),
            })?;
            out.push(p);
        }
        if out.len() as u64 != self.meta.count {
            return Err(StoreError::Damaged {
                name: self.name.clone(),
                what: format!("{} point records, expected {}", out.len(), self.meta.count),
            });
        }
        Ok(out)
    }

    /// Writes some points in one atomic batch (not yet durable: see `flush`).
    pub fn put_points<'a>(
        &self,
        points: impl IntoIterator<Item = &'a PointRec>,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for p in points {
            batch.insert(&point_key(p.index), encode(p));
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
        let history = self.dir.join("spec-history");
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
        write_record(&self.dir, &meta)?;
        self.meta = meta;
        Ok(())
    }

    /// Makes every write so far durable: after this returns, a `kill -9` loses none of them.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(self.sled_err())
    }
}

/// Writes the plain copy of the sweep's record beside the database (what `recover` starts from
/// when the database is damaged), whole or not at all.
fn write_record(dir: &Path, meta: &SweepMeta) -> Result<(), StoreError> {
    let record = dir.join(META_FILE);
    let tmp = dir.join("meta.json.tmp");
    fs::write(&tmp, encode(meta)).map_err(io_err(&tmp))?;
    fs::rename(&tmp, &record).map_err(io_err(&record))
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising plain data structs to JSON cannot fail (no maps with non-string keys).
    serde_json::to_vec(v).unwrap_or_default()
}

/// Runs `f`, turning a panic into an error message without printing the panic.
fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, count: u64) -> SweepMeta {
        SweepMeta {
            name: name.into(),
            id: "abc123".into(),
            created: 0.0,
            source: "x.toml".into(),
            spec_text: String::new(),
            backend: BackendKind::Local,
            count,
            param_names: vec!["a".into()],
            targets: vec!["default".into()],
            host: None,
            remote_home: None,
            cluster_dir: None,
        }
    }

    fn point(i: u64) -> PointRec {
        PointRec {
            index: i,
            params: vec![("a".into(), Value::Int(i as i64))],
            attempts: vec![],
        }
    }

    #[test]
    fn create_reopen_and_refuse_second_writer() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::new(tmp.path().to_path_buf());
        let store = Store::create(&home, meta("s1", 3), (0..3).map(point), "launch").unwrap();
        let mut pts = store.load_points().unwrap();
        assert_eq!(pts.len(), 3);
        assert_eq!(pts[2].params[0].1, Value::Int(2));
        pts[1].attempts.push(AttemptRec {
            attempt: 1,
            job_name: "j".into(),
            target: 0,
            job_id: Some("77".into()),
            queue: None,
            state: State::Running,
            exit_code: None,
            submitted: Some(1.0),
            started: None,
            ended: None,
            host: None,
            max_mem_mb: None,
            run_seconds: None,
            error: None,
        });
        store.put_points([&pts[1]]).unwrap();
        store.flush().unwrap();

        // A second holder in this process is refused at once (flock is per open file).
        match Store::open(&home, "s1", "status") {
            Err(StoreError::InUse { pid, command, .. }) => {
                assert_eq!(pid, std::process::id().to_string());
                assert_eq!(command, "launch");
            }
            other => panic!("expected InUse, got {:?}", other.err()),
        }
        assert!(matches!(
            Store::create(&home, meta("s1", 1), [point(0)], "launch"),
            Err(StoreError::Exists(_))
        ));
        drop(store);
        let store = Store::open(&home, "s1", "status").unwrap();
        let pts = store.load_points().unwrap();
        assert_eq!(pts[1].state(), State::Running);
        assert_eq!(pts[0].state(), State::Unsubmitted);
        assert_eq!(home.sweep_names(), vec!["s1".to_string()]);
    }

    #[test]
    fn missing_sweep_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::new(tmp.path().to_path_buf());
        assert!(matches!(
            Store::open(&home, "nope", "status"),
            Err(StoreError::NotFound(_))
        ));
    }
}
