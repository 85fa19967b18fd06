//! The sweep file: parse and validate the TOML, expand the grid into points, render templates.
//!
//! CONTRACT (kept stable for the rest of the crate; internals may change freely):
//! everything `pub` in this file is used by `script`, `engine`, `store`, `collect` and `cli`.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A parameter value.
///
/// Numbers the sweep file writes keep their text: a float written as `0.00001`, `1e3` or `1.50`
/// reaches the command and the CSV as written (`Display`), not as Rust's shortest form of its
/// value (`1e-5`, `1000.0`, `1.5`); see [`Float`]. Floats bsweep computes (ranges, linspace,
/// logspace, draws, rounded to 12 significant digits) show in their shortest form. Integers show
/// in decimal whatever TOML form they are written in (`0x10` is `16`, `1_000` is `1000`): those
/// forms are TOML syntax that few programs read, as are the `_` separators left out of a float's
/// text (`1_000.5` is `1000.5`).
///
/// Stored (serde, JSON) as the natural JSON value (bool, number, string), except a float whose
/// written text is not its shortest form, which is the tagged form `{"float": "<text>"}` (the
/// value is read back from the text, exactly). Plain JSON numbers, all that bsweep wrote before
/// written texts were kept, still read as `Int` or `Float`. [`Value::to_json`] is the
/// user-facing JSON (numbers as numbers).
///
/// `==` is structural (`1.50` and `1.5` differ: they give different commands); exclusions
/// compare by value with [`Value::same_number`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(Float),
    Str(String),
}

/// Most bytes of a float's written text kept (inline, so a value stays small and `Copy`); a
/// longer text shows in the shortest form of its value, and loading the file says so. An f64
/// holds 17 significant digits, so longer texts are rare.
pub const FLOAT_TEXT_MAX: usize = 23;

/// A float parameter value and the text it shows as: the text the sweep file writes when that
/// differs from the shortest form of the value (`0.00001`), else none (`1e-5` shows as `1e-5`).
/// Derefs to its `f64`.
#[derive(Clone, Copy, PartialEq)]
pub struct Float {
    value: f64,
    /// Length of the written text in `text`; 0 when the value shows in its shortest form.
    len: u8,
    /// The written text, zero-padded (so derived `==` compares texts).
    text: [u8; FLOAT_TEXT_MAX],
}

impl Float {
    /// A float shown in its shortest form (computed values).
    pub fn new(value: f64) -> Float {
        Float {
            value,
            len: 0,
            text: [0; FLOAT_TEXT_MAX],
        }
    }

    /// A float the file writes as `text`, which reads as `value`. `None` when the text is longer
    /// than [`FLOAT_TEXT_MAX`] and differs from the shortest form (it cannot be kept).
    pub fn written(value: f64, text: &str) -> Option<Float> {
        debug_assert_eq!(text.parse::<f64>().ok(), Some(value), "{text:?}");
        if format!("{value:?}") == text {
            return Some(Float::new(value));
        }
        if text.len() > FLOAT_TEXT_MAX {
            return None;
        }
        let mut f = Float::new(value);
        f.text[..text.len()].copy_from_slice(text.as_bytes());
        f.len = text.len() as u8;
        Some(f)
    }

    pub fn value(&self) -> f64 {
        self.value
    }

    /// The written text, when it is not the shortest form of the value.
    pub fn text(&self) -> Option<&str> {
        if self.len == 0 {
            return None;
        }
        // Built from a `&str` cut at its own length: always valid UTF-8 (ASCII, in fact).
        std::str::from_utf8(&self.text[..usize::from(self.len)]).ok()
    }
}

impl std::ops::Deref for Float {
    type Target = f64;
    fn deref(&self) -> &f64 {
        &self.value
    }
}

impl From<f64> for Float {
    fn from(value: f64) -> Float {
        Float::new(value)
    }
}

impl From<Float> for serde_json::Value {
    /// The number (JSON numbers carry no text).
    fn from(f: Float) -> serde_json::Value {
        serde_json::Value::from(f.value)
    }
}

impl fmt::Display for Float {
    /// The written text, or the shortest form with a `.0` or exponent so it reads back as a
    /// float (`1.0`, `1e-5`, `0.1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.text() {
            Some(t) => f.write_str(t),
            None => write!(f, "{:?}", self.value),
        }
    }
}

impl fmt::Debug for Float {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.text() {
            Some(t) => write!(f, "{:?} (written {t:?})", self.value),
            None => write!(f, "{:?}", self.value),
        }
    }
}

impl From<f64> for Value {
    /// A computed float.
    fn from(x: f64) -> Value {
        Value::Float(Float::new(x))
    }
}

/// The key of the tagged form of a float with a written text, in the store.
const WRITTEN_FLOAT_KEY: &str = "float";

impl Value {
    /// The value as a number, for an integer or a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(x) => Some(x.value),
            Value::Bool(_) | Value::Str(_) => None,
        }
    }

    /// Equality by value: numbers compare as numbers, so `2` matches `2.0` and `1e-5` matches
    /// `0.00001`; other values compare as `==` does.
    pub fn same_number(&self, other: &Value) -> bool {
        match (self, other) {
            // Exactly: beyond 2^53 two distinct i64 share an f64.
            (Value::Int(x), Value::Int(y)) => x == y,
            _ => match (self.as_f64(), other.as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => self == other,
            },
        }
    }

    /// The user-facing JSON of the value (`status --json`, `plan --json`): booleans, numbers and
    /// strings as themselves. A float is its number: JSON numbers carry no text, so `0.00001`
    /// reads `1e-05` there (and in the CSV and the command, `0.00001`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(x) => serde_json::Value::from(x.value),
            Value::Str(s) => serde_json::Value::String(s.clone()),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(x) => match x.text() {
                None => s.serialize_f64(x.value),
                Some(text) => {
                    use serde::ser::SerializeMap;
                    let mut m = s.serialize_map(Some(1))?;
                    m.serialize_entry(WRITTEN_FLOAT_KEY, text)?;
                    m.end()
                }
            },
            Value::Str(v) => s.serialize_str(v),
        }
    }
}

/// Reads what `Serialize` writes, and the plain values of records written before written floats
/// were kept, as `#[serde(untagged)]` would (an integer beyond i64 becomes a float), but straight
/// from the token: the derived untagged reading buffers every value and builds an error message
/// per variant it rules out, which dominated reopening a 100,000-point sweep.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a bool, number, string or {\"float\": \"<text>\"}")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
                Ok(i64::try_from(v).map_or(Value::from(v as f64), Value::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
                Ok(Value::from(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Value, A::Error> {
                use serde::de::Error;
                let bad = || A::Error::custom("expected {\"float\": \"<text>\"}");
                let key: String = m.next_key()?.ok_or_else(bad)?;
                if key != WRITTEN_FLOAT_KEY {
                    return Err(bad());
                }
                let text: String = m.next_value()?;
                if m.next_key::<String>()?.is_some() {
                    return Err(bad());
                }
                // Only finite floats with short texts are ever written; anything else is a
                // damaged record.
                match text.parse::<f64>().ok().filter(|x| x.is_finite()) {
                    Some(value) => {
                        Float::written(value, &text)
                            .map(Value::Float)
                            .ok_or_else(|| {
                                A::Error::custom(format!("float text `{text}` is too long"))
                            })
                    }
                    None => Err(A::Error::custom(format!(
                        "`{text}` is not the text of a finite float"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Value {
    /// The text a value has in a command line and a CSV cell: a float as the file writes it, or
    /// (computed) in its shortest form with a `.0` or exponent, so it reads back as a float
    /// (`1.0`, `1e-5`, `0.1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

/// One point of the sweep: its index (0-based, dense, stable for a given file) and its parameters
/// in declaration order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub index: u64,
    pub params: Vec<(String, Value)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Local,
    Lsf,
    Slurm,
}

/// Where jobs go: an LSF queue (`-q`), a host group (`-m`), or both; a Slurm partition
/// (`queue`, with no hosts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    pub queue: Option<String>,
    pub hosts: Option<String>,
    /// Relative share for the `weighted` policy (default 1).
    pub weight: u32,
    /// Cap on this target's jobs in flight (pending + running), if any.
    pub max_in_flight: Option<u32>,
}

impl Target {
    /// Short human label: `short`, `@734090ib`, or `gpu@734090ib`.
    pub fn label(&self) -> String {
        match (&self.queue, &self.hosts) {
            (Some(q), Some(h)) => format!("{q}@{h}"),
            (Some(q), None) => q.clone(),
            (None, Some(h)) => format!("@{h}"),
            (None, None) => "default".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    RoundRobin,
    Weighted,
    LeastPending,
}

/// Where a value sits in the sweep file, for errors only the cluster can reveal (a queue it
/// does not have).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Site {
    pub field: String,
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LsfOpts {
    /// Never empty: with no queue/hosts given, one target with both `None` (site default queue).
    pub targets: Vec<Target>,
    /// Each queue name the file gives, with where it is written.
    #[serde(skip)]
    pub queue_sites: Vec<(String, Site)>,
    pub policy: Policy,
    pub cores: Option<u32>,
    pub gpu: Option<String>,
    pub walltime: Option<String>,
    pub memory: Option<String>,
    pub resources: Option<String>,
    pub extra: Vec<String>,
    pub array: bool,
    pub max_array_size: u32,
    pub max_in_flight: Option<u32>,
    /// Submissions per second at most, if set.
    pub submit_rate: Option<f64>,
    /// `bsub` calls run at the same time within one round trip.
    pub submit_parallel: u32,
    /// Seconds between polls: from `poll_min`, backing off while nothing changes, up to `poll_max`.
    pub poll_min: f64,
    pub poll_max: f64,
    /// Seconds LSF may take to list a job it accepted; unanswered submissions are looked up by
    /// name only after this.
    pub settle: f64,
    /// Seconds a job may be missing from bjobs, its output file and bhist before it counts as lost.
    pub lost_after: f64,
}

/// The `[slurm]` table: partitions as targets, `#SBATCH` resources, arrays and pacing. Sizes
/// and limits are normalised (seconds, MB) so the scripts show one form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlurmOpts {
    /// Never empty: with no partition given, one target with none (the site's default).
    pub targets: Vec<Target>,
    /// Each partition, account, QOS and time the file gives (the value as written), with where,
    /// for errors only the cluster can reveal.
    #[serde(skip)]
    pub sites: Vec<(String, Site)>,
    pub policy: Policy,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// `time`, in seconds.
    pub time_seconds: Option<u64>,
    /// `mem` (per node; 0 is all of each node's memory), in MB.
    pub mem_mb: Option<u64>,
    /// `mem_per_cpu`, in MB.
    pub mem_per_cpu_mb: Option<u64>,
    pub cpus_per_task: Option<u32>,
    pub ntasks: Option<u32>,
    pub gpus: Option<String>,
    pub gres: Option<String>,
    pub constraint: Option<String>,
    /// Further sbatch options, one word each (`--exclusive`, `--mail-type=END`).
    pub extra: Vec<String>,
    pub array: bool,
    /// Elements per job array; `None`: the cluster's MaxArraySize decides (1000 in `plan`).
    pub max_array_size: Option<u32>,
    /// At most this many elements of an array run at once (`%K`).
    pub array_parallel: Option<u32>,
    pub max_in_flight: Option<u32>,
    pub submit_rate: Option<f64>,
    pub poll_min: f64,
    pub poll_max: f64,
    /// Seconds Slurm may take to show a job (sacct lags squeue by about 5 s).
    pub settle: f64,
    pub lost_after: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalOpts {
    pub concurrency: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterOpts {
    pub host: String,
    pub init: Option<String>,
    pub remote_dir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectOpts {
    /// Files (relative to the point's out_dir) to bring back.
    pub files: Vec<String>,
    /// A JSON file in out_dir whose keys become columns (nested keys dotted).
    pub metrics_json: Option<String>,
    /// Scrape `key=value` lines from the job's stdout.
    pub stdout_kv: bool,
    /// Scrape stdout with a regex whose named groups become columns.
    pub stdout_regex: Option<String>,
    /// `collect` warns about each file it brings back from a cluster that is larger than
    /// this many MB (`warn_mb`).
    pub warn_mb: u64,
}

/// [`CollectOpts::warn_mb`] when the sweep file does not say.
pub const DEFAULT_WARN_MB: u64 = 1024;

/// Whether a higher or a lower primary metric is better (`[summary] goal`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    #[default]
    Max,
    Min,
}

impl Goal {
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Max => "max",
            Goal::Min => "min",
        }
    }
}

/// The `[summary]` table: how `bsweep summary` and `bsweep report` rank and group the points.
/// Each key is `None` when the file leaves it out (the command line or a default decides).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SummarySpec {
    /// The primary metric, a column of the collected results (`eval.acc`).
    pub metric: Option<String>,
    pub goal: Option<Goal>,
    /// Parameters averaged over; `Some([])` groups by every parameter.
    pub over: Option<Vec<String>>,
    /// Groups the terminal table shows (0: all).
    pub top: Option<usize>,
}

/// Values the command template may use besides the parameters.
#[derive(Debug, Clone)]
pub struct Builtins<'a> {
    pub sweep: &'a str,
    pub index: u64,
    pub out_dir: &'a str,
    pub job_name: &'a str,
    pub attempt: u32,
}

/// Largest sweep file [`Spec::load`] reads: 16 MB, far more than a hand-written file needs.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// A parsed, validated sweep file.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    /// The file it was read from.
    pub source: PathBuf,
    /// Directory that relative paths in the file are relative to (the file's directory).
    pub base_dir: PathBuf,
    pub command: String,
    /// Working directory of the command (absolute, or relative to `base_dir`), default `base_dir`.
    pub workdir: Option<String>,
    pub setup: Vec<String>,
    pub backend: BackendKind,
    pub local: LocalOpts,
    pub lsf: LsfOpts,
    pub slurm: SlurmOpts,
    pub cluster: Option<ClusterOpts>,
    pub collect: CollectOpts,
    pub summary: SummarySpec,
    pub max_attempts: u32,
    pub retry: RetryOpts,
    grid: grid::Grid,
    warnings: Vec<SpecWarning>,
}

impl Spec {
    /// An error about queue `queue` of this sweep file, at the place the file names it.
    pub fn queue_error(&self, queue: &str, message: String) -> SpecError {
        let site = self
            .lsf
            .queue_sites
            .iter()
            .find(|(q, _)| q == queue)
            .map(|(_, s)| s);
        SpecError {
            path: self.source.clone(),
            line: site.map(|s| s.line),
            col: site.map(|s| s.col),
            field: Some(site.map_or_else(|| "lsf.queue".to_string(), |s| s.field.clone())),
            message,
        }
    }
}

impl Spec {
    /// An error about the `[slurm]` value `value` of `key` (`partition`, `account`, `qos`,
    /// `time`), at the place the file gives it.
    pub fn slurm_error(&self, key: &str, value: &str, message: String) -> SpecError {
        let matches = |field: &str| match key {
            "partition" => {
                field == "slurm.partition"
                    || field.starts_with("slurm.partitions[")
                    || (field.starts_with("slurm.targets[") && field.ends_with(".partition"))
            }
            k => field.strip_prefix("slurm.") == Some(k),
        };
        let site = self
            .slurm
            .sites
            .iter()
            .find(|(v, s)| v == value && matches(&s.field))
            .map(|(_, s)| s);
        SpecError {
            path: self.source.clone(),
            line: site.map(|s| s.line),
            col: site.map(|s| s.col),
            field: Some(site.map_or_else(|| format!("slurm.{key}"), |s| s.field.clone())),
            message,
        }
    }
}

/// An error in a sweep file, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct SpecError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for SpecError {
    /// `path:line:col: field: message`, leaving out the parts we do not know.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        located(
            f,
            &self.path,
            self.line,
            self.col,
            self.field.as_deref(),
            &self.message,
        )
    }
}

/// Something in a sweep file that loads but is probably not what its author meant (a table the
/// backend ignores, a parameter named like a top-level key). `plan`, `launch` and `doctor` show
/// these; nothing else about the sweep changes.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecWarning {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for SpecWarning {
    /// `path:line:col: field: message`, like [`SpecError`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        located(
            f,
            &self.path,
            self.line,
            self.col,
            self.field.as_deref(),
            &self.message,
        )
    }
}

fn located(
    f: &mut fmt::Formatter<'_>,
    path: &Path,
    line: Option<usize>,
    col: Option<usize>,
    field: Option<&str>,
    message: &str,
) -> fmt::Result {
    write!(f, "{}", path.display())?;
    if let Some(line) = line {
        write!(f, ":{line}")?;
        if let Some(col) = col {
            write!(f, ":{col}")?;
        }
    }
    f.write_str(": ")?;
    if let Some(field) = field {
        write!(f, "{field}: ")?;
    }
    f.write_str(message)
}

/// The rule a sweep name follows, said by every [`NameError`].
const NAME_RULE: &str = "a sweep name is 1 to 64 letters, digits, `.`, `_` or `-`, starting with \
                         a letter or digit (it becomes a directory and part of job names)";

/// Longest sweep name, in bytes.
const MAX_NAME_BYTES: usize = 64;

/// Why a text is not a sweep name. The name is shown with control characters escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the sweep name is empty; {NAME_RULE}")]
    Empty,
    #[error("`{}` is {len} bytes long; {NAME_RULE}", .name.escape_debug())]
    TooLong { name: String, len: usize },
    #[error("`{}` starts with `{}`; {NAME_RULE}", .name.escape_debug(), .first.escape_debug())]
    BadStart { name: String, first: char },
    #[error("`{}` contains `{}`; {NAME_RULE}", .name.escape_debug(), .bad.escape_debug())]
    BadChar { name: String, bad: char },
}

/// Checks that `name` may name a sweep: it becomes a directory under the bsweep home (and on the
/// cluster) and part of job names, so `../../x`, `/abs` and `a/b` are refused before anything
/// touches the disk.
pub fn check_sweep_name(name: &str) -> Result<(), NameError> {
    let Some(first) = name.chars().next() else {
        return Err(NameError::Empty);
    };
    if !first.is_ascii_alphanumeric() {
        return Err(NameError::BadStart {
            name: name.to_string(),
            first,
        });
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(NameError::BadChar {
            name: name.to_string(),
            bad,
        });
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong {
            name: name.to_string(),
            len: name.len(),
        });
    }
    Ok(())
}

mod grid;
mod parse;
mod retry;
mod template;

pub use retry::{Grow, Limits, RetryOpts, Step};

impl Spec {
    /// Reads and validates a sweep file. At most [`MAX_FILE_BYTES`] are read, so a wrong path
    /// (a device, a huge log) fails at once instead of filling memory.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        use std::io::Read;
        let unlocated = |message: String| SpecError {
            path: path.to_path_buf(),
            line: None,
            col: None,
            field: None,
            message,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| {
                unlocated(format!(
                    "cannot read the sweep file: {e}; check the path and permissions"
                ))
            })?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(unlocated(format!(
                "is larger than {} MB, more than any sweep file needs; check the path (long \
                 value lists belong in a file the command reads)",
                MAX_FILE_BYTES >> 20
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            // Where the first bad byte is, counted in the valid text before it.
            let before = std::str::from_utf8(good).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            let bad = e.as_bytes().get(good.len()).copied().unwrap_or(0);
            SpecError {
                path: path.to_path_buf(),
                line: Some(line),
                col: Some(col),
                field: None,
                message: format!(
                    "the file is not UTF-8 text (byte 0x{bad:02X} here); save it as UTF-8"
                ),
            }
        })?;
        Spec::from_toml(&text, path)
    }

    /// Parses and validates sweep-file text; `path` is used for messages and `base_dir`.
    pub fn from_toml(src: &str, path: &Path) -> Result<Spec, SpecError> {
        parse::parse(src, path)
    }

    /// What in the file loads but is probably a slip, in file order. `plan`, `launch` and
    /// `doctor` print these (on stderr, each as `warning: {w}`).
    pub fn warnings(&self) -> &[SpecWarning] {
        &self.warnings
    }

    /// Parameter names in column order (grid axes in declaration order, then `repeat` if used).
    pub fn param_names(&self) -> Vec<String> {
        self.grid.param_names()
    }

    /// Number of points before exclusions: an upper bound of `count`, known without walking.
    pub fn upper_bound(&self) -> u64 {
        self.grid.upper_bound()
    }

    /// Number of points. Streams the grid once when exclusions make it necessary.
    pub fn count(&self) -> u64 {
        self.grid.count()
    }

    /// All points, in index order, without materialising the grid.
    pub fn points(&self) -> Box<dyn Iterator<Item = Point> + '_> {
        self.grid.points()
    }

    /// Renders the command template for one point; every substituted value is shell-quoted.
    pub fn render_command(&self, point: &Point, builtins: &Builtins<'_>) -> String {
        template::render(&self.command, |name| {
            lookup(point, builtins, name).map(|v| match v {
                Cow::Borrowed(s) => crate::shell::quote(s),
                Cow::Owned(s) => Cow::Owned(crate::shell::quote(&s).into_owned()),
            })
        })
    }

    /// Renders the workdir template (no quoting: the caller quotes the whole path).
    pub fn render_workdir(&self, point: &Point, builtins: &Builtins<'_>) -> PathBuf {
        self.render_workdir_in(point, builtins, &self.base_dir)
    }

    /// Renders the workdir relative to `base` instead of the sweep file's directory (on a
    /// remote cluster, relative workdirs are relative to the remote home).
    pub fn render_workdir_in(
        &self,
        point: &Point,
        builtins: &Builtins<'_>,
        base: &Path,
    ) -> PathBuf {
        let Some(workdir) = &self.workdir else {
            return base.to_path_buf();
        };
        let rendered = template::render(workdir, |name| lookup(point, builtins, name));
        // `join` keeps an absolute result as it is.
        base.join(rendered)
    }
}

/// The text a placeholder stands for: a parameter of the point, or a built-in.
fn lookup<'v>(point: &'v Point, b: &Builtins<'v>, name: &str) -> Option<Cow<'v, str>> {
    if let Some((_, v)) = point.params.iter().find(|(n, _)| n == name) {
        return Some(match v {
            Value::Str(s) => Cow::Borrowed(s.as_str()),
            other => Cow::Owned(other.to_string()),
        });
    }
    Some(match name {
        "sweep" => Cow::Borrowed(b.sweep),
        "index" => Cow::Owned(b.index.to_string()),
        "out_dir" => Cow::Borrowed(b.out_dir),
        "job_name" => Cow::Borrowed(b.job_name),
        "attempt" => Cow::Owned(b.attempt.to_string()),
        // Without `repeats` there is no repeat column; every point is repetition 0.
        "repeat" => Cow::Borrowed("0"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
