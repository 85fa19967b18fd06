//! The sweep file: parse and validate the TOML, expand the grid into points, render templates.
//!
//! CONTRACT (kept stable for the rest of the crate; internals may change freely):
//! everything `pub` in this file is used by `script`, `engine`, `store`, `collect` and `cli`.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A parameter value. Serialises to the natural JSON value (number, string, bool).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// Reads what `Serialize` writes, as `#[serde(untagged)]` would (an integer beyond i64 becomes a
/// float), but straight from the token: the derived untagged reading buffers every value and
/// builds an error message per variant it rules out, which dominated reopening a 100,000-point
/// sweep.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a bool, number or string")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
                Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Value {
    /// The text a value has in a command line and a CSV cell: floats keep a `.0` or exponent so
    /// they read back as floats (`1.0`, `1e-5`, `0.1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
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
}

/// Where LSF jobs go: a queue (`-q`), a host group (`-m`), or both.
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
    /// Seconds between polls: from `poll_min`, backing off while nothing changes, up to `poll_max`.
    pub poll_min: f64,
    pub poll_max: f64,
    /// Seconds LSF may take to list a job it accepted; unanswered submissions are looked up by
    /// name only after this.
    pub settle: f64,
    /// Seconds a job may be missing from bjobs, its output file and bhist before it counts as lost.
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
    pub cluster: Option<ClusterOpts>,
    pub collect: CollectOpts,
    pub max_attempts: u32,
    grid: grid::Grid,
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
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.col {
                write!(f, ":{col}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

mod grid;
mod parse;
mod template;

impl Spec {
    /// Reads and validates a sweep file.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            path: path.to_path_buf(),
            line: None,
            col: None,
            field: None,
            message: format!("cannot read the sweep file: {e}; check the path and permissions"),
        })?;
        Spec::from_toml(&text, path)
    }

    /// Parses and validates sweep-file text; `path` is used for messages and `base_dir`.
    pub fn from_toml(src: &str, path: &Path) -> Result<Spec, SpecError> {
        parse::parse(src, path)
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
