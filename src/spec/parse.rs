//! Reading a sweep file: walks the spanned TOML tree, checks every key and value, builds a `Spec`.
//!
//! We walk `toml::de::DeTable` by hand instead of deriving `Deserialize` so that every error,
//! including the semantic ones found after parsing, carries the exact line:col, a dotted field
//! and a message that says what to do.

use std::path::{Component, Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::grid::{self, Axis, Dist, Exclude, Finite, Grid, GridError, SampleOpts};
use super::template;
use super::{
    BackendKind, ClusterOpts, CollectOpts, LocalOpts, LsfOpts, Policy, Spec, SpecError, Target,
    Value,
};

type Val<'i> = Spanned<DeValue<'i>>;
type Res<T> = Result<T, SpecError>;

/// Longest string a parameter value may be: values end up on command lines and in job names.
const MAX_VALUE_BYTES: usize = 4096;

const TOP_KEYS: &[&str] = &[
    "name",
    "command",
    "workdir",
    "setup",
    "backend",
    "max_attempts",
    "repeats",
    "grid",
    "zip",
    "exclude",
    "sample",
    "lsf",
    "local",
    "cluster",
    "collect",
];
const LSF_KEYS: &[&str] = &[
    "queue",
    "queues",
    "hosts",
    "policy",
    "cores",
    "gpu",
    "walltime",
    "memory",
    "resources",
    "extra",
    "array",
    "max_array_size",
    "max_in_flight",
    "submit_rate",
    "targets",
];
const TARGET_KEYS: &[&str] = &["queue", "hosts", "weight", "max_in_flight"];
const AXIS_FORMS: &[&str] = &[
    "linspace",
    "logspace",
    "uniform",
    "loguniform",
    "choice",
    "randint",
];

/// Source text and the position bookkeeping errors need.
struct Cx<'a> {
    src: &'a str,
    path: &'a Path,
    line_starts: Vec<usize>,
}

/// A TOML table together with where it is and what it is called.
#[derive(Clone, Copy)]
struct Tbl<'a, 'i> {
    t: &'a DeTable<'i>,
    at: usize,
    field: &'a str,
}

impl<'a, 'i> Tbl<'a, 'i> {
    fn get(&self, key: &str) -> Option<&'a Val<'i>> {
        self.t.get(key)
    }

    fn sub(&self, key: &str) -> String {
        join(self.field, key)
    }
}

fn join(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_string()
    } else {
        format!("{field}.{key}")
    }
}

/// What a TOML value is, for "must be X, not Y" messages.
fn kind(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

fn is_sweep_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

fn is_param_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// LSF `-W [hours:]minutes`; minutes stay below 60 once hours are given.
fn is_walltime(s: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit());
    match s.split_once(':') {
        None => digits(s),
        Some((h, m)) => digits(h) && digits(m) && m.parse::<u32>().is_ok_and(|m| m < 60),
    }
}

/// LSF `-M`: a number with an optional KB/MB/GB/TB unit.
fn is_memory(s: &str) -> bool {
    let num = ["KB", "MB", "GB", "TB"]
        .iter()
        .find_map(|u| s.strip_suffix(u))
        .unwrap_or(s);
    let (int, frac) = num.split_once('.').unwrap_or((num, "0"));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    digits(int) && digits(frac)
}

/// A path inside the point's out_dir: relative and never climbing out of it.
fn bad_collect_path(s: &str) -> Option<&'static str> {
    let p = Path::new(s);
    if s.is_empty() {
        Some("is empty")
    } else if p.is_absolute() || s.starts_with('/') {
        Some("is absolute")
    } else if p.components().any(|c| matches!(c, Component::ParentDir)) {
        Some("contains `..`")
    } else if s.contains('\n') {
        Some("contains a newline")
    } else {
        None
    }
}

impl<'a> Cx<'a> {
    fn new(src: &'a str, path: &'a Path) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Cx {
            src,
            path,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.src.len());
        while !self.src.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1) - 1;
        let col = self.src[self.line_starts[line]..offset].chars().count() + 1;
        (line + 1, col)
    }

    fn err(&self, at: usize, field: &str, message: impl Into<String>) -> SpecError {
        let (line, col) = self.line_col(at);
        SpecError {
            path: self.path.to_path_buf(),
            line: Some(line),
            col: Some(col),
            field: (!field.is_empty()).then(|| field.to_string()),
            message: message.into(),
        }
    }

    /// "must be X, not Y; write e.g. Z".
    fn wrong_type(&self, v: &Val<'_>, field: &str, expected: &str, example: &str) -> SpecError {
        let mut msg = format!("must be {expected}, not {}", kind(v.get_ref()));
        let numeric = expected.contains("integer") || expected.contains("number");
        if let DeValue::String(s) = v.get_ref() {
            if numeric && s.trim().parse::<f64>().is_ok() {
                msg.push_str("; remove the quotes");
            }
        }
        msg.push_str(&format!("; write e.g. `{example}`"));
        self.err(v.span().start, field, msg)
    }

    fn table<'t, 'i>(
        &self,
        v: &'t Val<'i>,
        field: &'t str,
        allowed: &[&str],
        example: &str,
    ) -> Res<Tbl<'t, 'i>> {
        let DeValue::Table(t) = v.get_ref() else {
            return Err(self.wrong_type(v, field, "a table", example));
        };
        let tb = Tbl {
            t,
            at: v.span().start,
            field,
        };
        self.check_keys(tb, allowed)?;
        Ok(tb)
    }

    fn check_keys(&self, tb: Tbl<'_, '_>, allowed: &[&str]) -> Res<()> {
        for (k, _) in tb.t.iter() {
            let key: &str = k.get_ref();
            if !allowed.contains(&key) {
                let place = if tb.field.is_empty() {
                    "at the top level".to_string()
                } else {
                    format!("in [{}]", tb.field)
                };
                return Err(self.err(
                    k.span().start,
                    &tb.sub(key),
                    format!(
                        "unknown key `{key}` {place}; remove it or use one of: {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn missing(&self, tb: Tbl<'_, '_>, key: &str, example: &str) -> SpecError {
        self.err(
            tb.at,
            &tb.sub(key),
            format!("missing required key `{key}`; add e.g. `{example}`"),
        )
    }

    /// A string without NUL bytes.
    fn string(&self, v: &Val<'_>, field: &str, example: &str) -> Res<String> {
        let DeValue::String(s) = v.get_ref() else {
            return Err(self.wrong_type(v, field, "a string", example));
        };
        if s.contains('\0') {
            return Err(self.err(
                v.span().start,
                field,
                "contains a NUL byte, which no command line can carry; remove it",
            ));
        }
        Ok(s.to_string())
    }

    /// A string that becomes one command-line option: non-empty, single line.
    fn one_line(&self, v: &Val<'_>, field: &str, example: &str) -> Res<String> {
        let s = self.string(v, field, example)?;
        if s.trim().is_empty() {
            return Err(self.err(
                v.span().start,
                field,
                format!("must not be empty; write e.g. `{example}` or remove the key"),
            ));
        }
        if s.contains(['\n', '\r']) {
            return Err(self.err(
                v.span().start,
                field,
                "must be a single line; remove the line break",
            ));
        }
        Ok(s)
    }

    fn int(&self, v: &Val<'_>, field: &str, example: &str) -> Res<i64> {
        let DeValue::Integer(i) = v.get_ref() else {
            return Err(self.wrong_type(v, field, "an integer", example));
        };
        i64::from_str_radix(i.as_str(), i.radix()).map_err(|_| {
            self.err(
                v.span().start,
                field,
                "integer is out of range; use a value between -2^63 and 2^63-1",
            )
        })
    }

    /// An integer in `min..=max` that fits `T`.
    fn int_in<T: TryFrom<i64>>(
        &self,
        v: &Val<'_>,
        field: &str,
        min: i64,
        max: i64,
        example: &str,
    ) -> Res<T> {
        let i = self.int(v, field, example)?;
        if i < min {
            return Err(self.err(
                v.span().start,
                field,
                format!("must be at least {min}, not {i}; write e.g. `{example}`"),
            ));
        }
        if i > max {
            return Err(self.err(
                v.span().start,
                field,
                format!("must be at most {max}, not {i}; use a smaller value"),
            ));
        }
        T::try_from(i).map_err(|_| self.err(v.span().start, field, "value is out of range"))
    }

    /// A finite number; integers are accepted as floats.
    fn number(&self, v: &Val<'_>, field: &str, example: &str) -> Res<f64> {
        let x = match v.get_ref() {
            DeValue::Integer(_) => self.int(v, field, example)? as f64,
            DeValue::Float(f) => f.as_str().parse::<f64>().unwrap_or(f64::NAN),
            _ => return Err(self.wrong_type(v, field, "a number", example)),
        };
        if !x.is_finite() {
            return Err(self.err(
                v.span().start,
                field,
                "must be a finite number, not inf or nan; write an ordinary number",
            ));
        }
        Ok(x)
    }

    fn boolean(&self, v: &Val<'_>, field: &str, example: &str) -> Res<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.wrong_type(v, field, "true or false", example)),
        }
    }

    fn list<'t, 'i>(&self, v: &'t Val<'i>, field: &str, example: &str) -> Res<&'t [Val<'i>]> {
        match v.get_ref() {
            DeValue::Array(a) => Ok(a),
            _ => Err(self.wrong_type(v, field, "a list", example)),
        }
    }

    fn string_list(&self, v: &Val<'_>, field: &str, example: &str) -> Res<Vec<(String, usize)>> {
        self.list(v, field, example)?
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let s = self.string(e, &format!("{field}[{i}]"), example)?;
                Ok((s, e.span().start))
            })
            .collect()
    }

    /// A parameter value: string, integer, float or boolean.
    fn scalar(&self, v: &Val<'_>, field: &str) -> Res<Value> {
        let at = v.span().start;
        match v.get_ref() {
            DeValue::String(s) => {
                if s.contains('\0') {
                    return Err(self.err(
                        at,
                        field,
                        "value contains a NUL byte, which no command line can carry; remove it",
                    ));
                }
                if s.len() > MAX_VALUE_BYTES {
                    return Err(self.err(
                        at,
                        field,
                        format!(
                            "value is {} bytes long, more than the {MAX_VALUE_BYTES} allowed; \
                             shorten it or pass a file name instead",
                            s.len()
                        ),
                    ));
                }
                Ok(Value::Str(s.to_string()))
            }
            DeValue::Integer(_) => Ok(Value::Int(self.int(v, field, "1")?)),
            DeValue::Float(_) => Ok(Value::Float(self.number(v, field, "0.1")?)),
            DeValue::Boolean(b) => Ok(Value::Bool(*b)),
            _ => Err(self.wrong_type(v, field, "a string, integer, float or boolean", "\"adam\"")),
        }
    }

    /// A non-empty list of parameter values.
    fn values(&self, v: &Val<'_>, field: &str, example: &str) -> Res<Vec<Value>> {
        let items = self.list(v, field, example)?;
        if items.is_empty() {
            return Err(self.err(
                v.span().start,
                field,
                format!("is an empty list; give at least one value, e.g. `{example}`"),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, e)| self.scalar(e, &format!("{field}[{i}]")))
            .collect()
    }

    /// Where `{name}` (the placeholder at `offset` of the decoded template) sits in the file.
    /// Placeholders are plain ASCII, so they appear verbatim in the raw TOML string.
    fn placeholder_at(&self, v: &Val<'_>, decoded: &str, name: &str, offset: usize) -> usize {
        let span = v.span();
        let needle = format!("{{{name}}}");
        let nth = decoded[..offset].matches(&needle).count();
        self.src
            .get(span.clone())
            .and_then(|raw| raw.match_indices(&needle).nth(nth))
            .map_or(span.start, |(i, _)| span.start + i)
    }
}

/// Everything a template may name, for the "available names" list.
struct Names<'p> {
    params: &'p [String],
}

impl Names<'_> {
    fn knows(&self, n: &str) -> bool {
        self.params.iter().any(|p| p == n) || template::BUILTINS.contains(&n)
    }

    fn list(&self) -> String {
        let mut all: Vec<&str> = self.params.iter().map(String::as_str).collect();
        all.extend(template::BUILTINS);
        all.join(", ")
    }
}

/// Parses and validates a sweep file's text.
pub(super) fn parse(src: &str, path: &Path) -> Res<Spec> {
    let cx = Cx::new(src, path);
    let doc = DeTable::parse(src).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        cx.err(
            at,
            "",
            format!("invalid TOML: {}; fix the syntax here", e.message().trim()),
        )
    })?;
    let root = Tbl {
        t: doc.get_ref(),
        at: 0,
        field: "",
    };
    cx.check_keys(root, TOP_KEYS)?;

    let name_ex = "name = \"lr-sweep\"";
    let name = match root.get("name") {
        None => return Err(cx.missing(root, "name", name_ex)),
        Some(v) => {
            let s = cx.string(v, "name", name_ex)?;
            if !is_sweep_name(&s) {
                return Err(cx.err(
                    v.span().start,
                    "name",
                    format!(
                        "`{s}` is not a valid sweep name: use 1 to 64 letters, digits, `.`, `_` \
                         or `-`, starting with a letter or digit (it becomes a directory and part \
                         of job names)"
                    ),
                ));
            }
            s
        }
    };

    let command_ex = "command = \"python train.py --lr {lr}\"";
    let command_v = root
        .get("command")
        .ok_or_else(|| cx.missing(root, "command", command_ex))?;
    let command = cx.string(command_v, "command", command_ex)?;
    if command.trim().is_empty() {
        return Err(cx.err(
            command_v.span().start,
            "command",
            format!("must not be empty; write e.g. `{command_ex}`"),
        ));
    }

    let workdir_ex = "workdir = \"runs/{sweep}\"";
    let workdir = root
        .get("workdir")
        .map(|v| cx.one_line(v, "workdir", workdir_ex).map(|s| (s, v)))
        .transpose()?;

    let setup = match root.get("setup") {
        None => Vec::new(),
        Some(v) => cx
            .string_list(v, "setup", "setup = [\"module load cuda\"]")?
            .into_iter()
            .map(|(s, _)| s)
            .collect(),
    };

    let backend = match root.get("backend") {
        None => BackendKind::Local,
        Some(v) => match cx.string(v, "backend", "backend = \"lsf\"")?.as_str() {
            "local" => BackendKind::Local,
            "lsf" => BackendKind::Lsf,
            other => {
                return Err(cx.err(
                    v.span().start,
                    "backend",
                    format!("unknown backend `{other}`; use \"local\" or \"lsf\""),
                ));
            }
        },
    };

    let max_attempts = match root.get("max_attempts") {
        None => 1,
        Some(v) => cx.int_in(v, "max_attempts", 1, 1000, "max_attempts = 3")?,
    };
    let repeats: u32 = match root.get("repeats") {
        None => 1,
        Some(v) => cx.int_in(v, "repeats", 1, i64::from(u32::MAX), "repeats = 3")?,
    };

    let grid_parts = parse_grid(&cx, root)?;
    let lsf = parse_lsf(&cx, root.get("lsf"))?;
    let local = parse_local(&cx, root.get("local"))?;
    let cluster = root
        .get("cluster")
        .map(|v| parse_cluster(&cx, v))
        .transpose()?;
    let collect = parse_collect(&cx, root.get("collect"))?;

    // Templates last: only now are all parameter names known.
    let names = Names {
        params: &grid_parts.names,
    };
    check_template(&cx, command_v, &command, "command", &names)?;
    if let Some((w, v)) = &workdir {
        check_template(&cx, v, w, "workdir", &names)?;
    }

    let grid = grid_parts.build(&cx, repeats)?;

    Ok(Spec {
        name,
        source: path.to_path_buf(),
        base_dir: base_dir(path),
        command,
        workdir: workdir.map(|(w, _)| w),
        setup,
        backend,
        local,
        lsf,
        cluster,
        collect,
        max_attempts,
        grid,
    })
}

/// The sweep file's directory, absolute (without resolving symlinks).
fn base_dir(path: &Path) -> PathBuf {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf())
}

fn check_template(cx: &Cx<'_>, v: &Val<'_>, t: &str, field: &str, names: &Names<'_>) -> Res<()> {
    if let Some((name, offset)) = template::unknown_names(t, |n| names.knows(n))
        .into_iter()
        .next()
    {
        return Err(cx.err(
            cx.placeholder_at(v, t, name, offset),
            field,
            format!(
                "placeholder `{{{name}}}` names no parameter or built-in; available names: {}; \
                 write `{{{{` and `}}}}` for literal braces",
                names.list()
            ),
        ));
    }
    Ok(())
}

/// The axes, exclusions and sampling of a file, checked but not yet expanded.
struct GridParts {
    axes: Vec<Axis>,
    names: Vec<String>,
    excludes: Vec<Exclude>,
    sample: Option<SampleOpts>,
    /// Where to point errors about the whole grid, about exclusions, and about `sample.n`.
    grid_at: usize,
    exclude_at: usize,
    n_at: usize,
}

impl GridParts {
    fn build(self, cx: &Cx<'_>, repeats: u32) -> Res<Grid> {
        let (grid_at, exclude_at, n_at) = (self.grid_at, self.exclude_at, self.n_at);
        Grid::new(self.axes, self.names, repeats, self.excludes, self.sample).map_err(|e| match e {
            GridError::TooMany => cx.err(
                grid_at,
                "grid",
                "the sweep has more than 2^64 points; use fewer or shorter axes",
            ),
            GridError::AllExcluded => cx.err(
                exclude_at,
                "exclude",
                "the [[exclude]] tables remove every point of the grid; loosen or remove some \
                     of them",
            ),
            GridError::SampleTooLarge { available } => cx.err(
                n_at,
                "sample.n",
                format!(
                    "asks for more points than the grid has ({available}, after exclusions); \
                         lower n, or remove [sample] to run every point"
                ),
            ),
            GridError::DrawsExhausted { kept, tries } => cx.err(
                exclude_at,
                "exclude",
                format!(
                    "only {kept} of the requested draws passed the [[exclude]] tables in \
                         {tries} tries; loosen the exclusions or lower sample.n"
                ),
            ),
        })
    }
}

/// A parameter already defined, for duplicate checks.
struct Defined {
    name: String,
    line: usize,
}

fn parse_grid(cx: &Cx<'_>, root: Tbl<'_, '_>) -> Res<GridParts> {
    let mut parts = GridParts {
        axes: Vec::new(),
        names: Vec::new(),
        excludes: Vec::new(),
        sample: None,
        grid_at: 0,
        exclude_at: 0,
        n_at: 0,
    };

    if let Some(v) = root.get("sample") {
        let tb = cx.table(v, "sample", &["n", "seed"], "[sample] n = 20")?;
        let n_v = tb.get("n").ok_or_else(|| cx.missing(tb, "n", "n = 20"))?;
        let n = cx.int_in(n_v, "sample.n", 1, i64::MAX, "n = 20")?;
        let seed = match tb.get("seed") {
            None => 0,
            Some(s) => cx.int_in(s, "sample.seed", 0, i64::MAX, "seed = 42")?,
        };
        parts.sample = Some(SampleOpts { n, seed });
        parts.n_at = n_v.span().start;
    }

    let mut defined: Vec<Defined> = Vec::new();
    if let Some(v) = root.get("grid") {
        let DeValue::Table(t) = v.get_ref() else {
            return Err(cx.wrong_type(v, "grid", "a table", "[grid] lr = [0.1, 0.01]"));
        };
        parts.grid_at = v.span().start;
        for (k, av) in t.iter() {
            let field = join("grid", k.get_ref());
            check_name(cx, &defined, k, &field)?;
            let axis = parse_axis(cx, av, &field)?;
            if matches!(axis, Axis::Dist(_)) && parts.sample.is_none() {
                return Err(cx.err(
                    av.span().start,
                    &field,
                    "a distribution axis needs random sampling; add a [sample] table with n = \
                     <points>, or use a list or range",
                ));
            }
            defined.push(Defined {
                name: k.get_ref().to_string(),
                line: cx.line_col(k.span().start).0,
            });
            parts.names.push(k.get_ref().to_string());
            parts.axes.push(axis);
        }
    }

    if let Some(v) = root.get("zip") {
        let groups = array_of_tables(cx, v, "zip", "[[zip]] model = [\"small\", \"large\"]")?;
        for (gi, g) in groups.iter().enumerate() {
            let gfield = format!("zip[{gi}]");
            let DeValue::Table(t) = g.get_ref() else {
                return Err(cx.wrong_type(g, &gfield, "a table", "[[zip]] a = [1, 2]"));
            };
            if t.is_empty() {
                return Err(cx.err(
                    g.span().start,
                    &gfield,
                    "is empty; give it parameters with lists of equal length, or remove it",
                ));
            }
            let mut columns: Vec<Vec<Value>> = Vec::new();
            let mut first: Option<(String, usize)> = None;
            for (k, lv) in t.iter() {
                let field = format!("{gfield}.{}", k.get_ref());
                check_name(cx, &defined, k, &field)?;
                let values = cx.values(lv, &field, "[1, 2]")?;
                match &first {
                    None => first = Some((k.get_ref().to_string(), values.len())),
                    Some((fname, flen)) if *flen != values.len() => {
                        return Err(cx.err(
                            lv.span().start,
                            &field,
                            format!(
                                "has {} values but `{fname}` has {flen}; the lists of one \
                                 [[zip]] table must have equal length",
                                values.len()
                            ),
                        ));
                    }
                    Some(_) => {}
                }
                defined.push(Defined {
                    name: k.get_ref().to_string(),
                    line: cx.line_col(k.span().start).0,
                });
                parts.names.push(k.get_ref().to_string());
                columns.push(values);
            }
            // Columns to rows: one row per position of the zipped axis.
            let len = columns.first().map_or(0, Vec::len);
            let rows = (0..len)
                .map(|i| columns.iter().map(|c| c[i].clone()).collect())
                .collect();
            parts.axes.push(Axis::Zip(rows));
        }
    }

    if let Some(v) = root.get("exclude") {
        let tables = array_of_tables(cx, v, "exclude", "[[exclude]] model = \"large\"")?;
        if let Some(first) = tables.first() {
            parts.exclude_at = first.span().start;
        }
        for (ei, e) in tables.iter().enumerate() {
            let efield = format!("exclude[{ei}]");
            let DeValue::Table(t) = e.get_ref() else {
                return Err(cx.wrong_type(e, &efield, "a table", "[[exclude]] model = \"large\""));
            };
            if t.is_empty() {
                return Err(cx.err(
                    e.span().start,
                    &efield,
                    "is empty and would remove every point; give it parameter = value pairs, or \
                     remove it",
                ));
            }
            let mut conds = Vec::new();
            for (k, xv) in t.iter() {
                let key: &str = k.get_ref();
                let field = format!("{efield}.{key}");
                let Some(col) = parts.names.iter().position(|n| n == key) else {
                    return Err(cx.err(
                        k.span().start,
                        &field,
                        format!(
                            "`{key}` is not a parameter; exclude keys must be [grid] or [[zip]] \
                             parameters: {}",
                            if parts.names.is_empty() {
                                "(none defined)".to_string()
                            } else {
                                parts.names.join(", ")
                            }
                        ),
                    ));
                };
                let values = match xv.get_ref() {
                    DeValue::Array(_) => cx.values(xv, &field, "[0.1, 0.2]")?,
                    _ => vec![cx.scalar(xv, &field)?],
                };
                conds.push((col, values));
            }
            parts.excludes.push(Exclude { conds });
        }
    }

    Ok(parts)
}

/// A new parameter name: well-formed, not a built-in, not defined before.
fn check_name(
    cx: &Cx<'_>,
    defined: &[Defined],
    key: &Spanned<std::borrow::Cow<'_, str>>,
    field: &str,
) -> Res<()> {
    let name: &str = key.get_ref();
    let at = key.span().start;
    if !is_param_name(name) {
        return Err(cx.err(
            at,
            field,
            format!(
                "`{name}` is not a valid parameter name: use up to 64 letters, digits and `_`, \
                 not starting with a digit"
            ),
        ));
    }
    if template::BUILTINS.contains(&name) {
        return Err(cx.err(
            at,
            field,
            format!(
                "`{name}` is a built-in name ({}); rename the parameter",
                template::BUILTINS.join(", ")
            ),
        ));
    }
    if let Some(d) = defined.iter().find(|d| d.name == name) {
        return Err(cx.err(
            at,
            field,
            format!(
                "parameter `{name}` is already defined on line {}; rename one of them",
                d.line
            ),
        ));
    }
    Ok(())
}

/// `[[name]]` tables (or an inline list of tables).
fn array_of_tables<'t, 'i>(
    cx: &Cx<'_>,
    v: &'t Val<'i>,
    field: &str,
    example: &str,
) -> Res<&'t [Val<'i>]> {
    match v.get_ref() {
        DeValue::Array(a) => Ok(a),
        DeValue::Table(_) => Err(cx.err(
            v.span().start,
            field,
            format!("must be written [[{field}]] (double brackets): it is a list of tables"),
        )),
        _ => Err(cx.wrong_type(v, field, "a list of tables", example)),
    }
}

/// One `[grid]` entry: a list, a range, linspace/logspace or a distribution.
fn parse_axis(cx: &Cx<'_>, v: &Val<'_>, field: &str) -> Res<Axis> {
    let at = v.span().start;
    let t = match v.get_ref() {
        DeValue::Array(_) => return Ok(Axis::Finite(Finite::List(cx.values(v, field, "[1, 2]")?))),
        DeValue::Table(t) => t,
        _ => {
            return Err(cx.wrong_type(
                v,
                field,
                "a list of values or a table like { start = 1, stop = 5 }",
                "[0.1, 0.01]",
            ));
        }
    };
    let tb = Tbl { t, at, field };
    let is_range = ["start", "stop", "step"].iter().any(|k| t.contains_key(*k));
    if is_range {
        cx.check_keys(tb, &["start", "stop", "step"])?;
        return parse_range(cx, tb);
    }
    let mut keys = t.iter();
    let Some((k, fv)) = keys.next() else {
        return Err(cx.err(
            at,
            field,
            "is an empty table; write a list of values, a range { start, stop, step }, or one of: \
             linspace, logspace, uniform, loguniform, choice, randint",
        ));
    };
    if let Some((k2, _)) = keys.next() {
        return Err(cx.err(
            k2.span().start,
            &tb.sub(k2.get_ref()),
            format!(
                "an axis has one form, but this table also has `{}`; keep one of them",
                k.get_ref()
            ),
        ));
    }
    let form: &str = k.get_ref();
    let ffield = tb.sub(form);
    let ffield = ffield.as_str();
    let fat = fv.span().start;
    let pair = |ex: &str| -> Res<(f64, f64)> {
        let items = cx.list(fv, ffield, ex)?;
        if items.len() != 2 {
            return Err(cx.err(
                fat,
                ffield,
                format!("needs exactly 2 numbers [low, high]; write e.g. `{ex}`"),
            ));
        }
        Ok((
            cx.number(&items[0], &format!("{ffield}[0]"), ex)?,
            cx.number(&items[1], &format!("{ffield}[1]"), ex)?,
        ))
    };
    let ordered = |lo: f64, hi: f64, ex: &str| -> Res<()> {
        if lo >= hi {
            return Err(cx.err(
                fat,
                ffield,
                format!("low end must be below the high end; write e.g. `{ex}`"),
            ));
        }
        Ok(())
    };
    let positive = |lo: f64, hi: f64, what: &str| -> Res<()> {
        if lo <= 0.0 || hi <= 0.0 {
            return Err(cx.err(
                fat,
                ffield,
                format!("{what} needs both ends greater than 0; use linspace/uniform for ranges that include 0 or negatives"),
            ));
        }
        Ok(())
    };
    match form {
        "linspace" | "logspace" => {
            let ex = if form == "linspace" {
                "linspace = [0.0, 1.0, 5]"
            } else {
                "logspace = [1e-5, 1e-1, 5]"
            };
            let items = cx.list(fv, ffield, ex)?;
            if items.len() != 3 {
                return Err(cx.err(
                    fat,
                    ffield,
                    format!("needs exactly [first, last, n]; write e.g. `{ex}`"),
                ));
            }
            let lo = cx.number(&items[0], &format!("{ffield}[0]"), ex)?;
            let hi = cx.number(&items[1], &format!("{ffield}[1]"), ex)?;
            let len: u64 = cx.int_in(
                &items[2],
                &format!("{ffield}[2]"),
                1,
                grid::MAX_FLOAT_AXIS_LEN as i64,
                ex,
            )?;
            if form == "linspace" {
                Ok(Axis::Finite(Finite::Linspace { lo, hi, len }))
            } else {
                positive(lo, hi, "logspace")?;
                Ok(Axis::Finite(Finite::Logspace { lo, hi, len }))
            }
        }
        "uniform" => {
            let ex = "uniform = [0.8, 0.99]";
            let (lo, hi) = pair(ex)?;
            ordered(lo, hi, ex)?;
            Ok(Axis::Dist(Dist::Uniform(lo, hi)))
        }
        "loguniform" => {
            let ex = "loguniform = [1e-5, 1e-1]";
            let (lo, hi) = pair(ex)?;
            positive(lo, hi, "loguniform")?;
            ordered(lo, hi, ex)?;
            Ok(Axis::Dist(Dist::LogUniform(lo, hi)))
        }
        "choice" => Ok(Axis::Dist(Dist::Choice(cx.values(
            fv,
            ffield,
            "choice = [\"adam\", \"sgd\"]",
        )?))),
        "randint" => {
            let ex = "randint = [1, 10]";
            let items = cx.list(fv, ffield, ex)?;
            if items.len() != 2 {
                return Err(cx.err(
                    fat,
                    ffield,
                    format!(
                        "needs exactly 2 integers [low, high] (both included); write e.g. `{ex}`"
                    ),
                ));
            }
            let lo = cx.int(&items[0], &format!("{ffield}[0]"), ex)?;
            let hi = cx.int(&items[1], &format!("{ffield}[1]"), ex)?;
            if lo > hi {
                return Err(cx.err(
                    fat,
                    ffield,
                    format!("low end must not exceed the high end; write e.g. `{ex}`"),
                ));
            }
            Ok(Axis::Dist(Dist::RandInt(lo, hi)))
        }
        other => Err(cx.err(
            k.span().start,
            ffield,
            format!(
                "unknown axis form `{other}`; write a list of values, a range {{ start, stop, \
                 step }}, or one of: {}",
                AXIS_FORMS.join(", ")
            ),
        )),
    }
}

/// `{ start, stop, step }`: integers when all three are, floats otherwise.
fn parse_range(cx: &Cx<'_>, tb: Tbl<'_, '_>) -> Res<Axis> {
    let ex = "{ start = 1, stop = 5 }";
    let start_v = tb.get("start").ok_or_else(|| cx.missing(tb, "start", ex))?;
    let stop_v = tb.get("stop").ok_or_else(|| cx.missing(tb, "stop", ex))?;
    let step_v = tb.get("step");
    let is_int = |v: &Val<'_>| matches!(v.get_ref(), DeValue::Integer(_));
    let all_int = is_int(start_v) && is_int(stop_v) && step_v.is_none_or(is_int);
    let empty = |desc: String| {
        cx.err(
            tb.at,
            tb.field,
            format!(
                "the range {desc} holds no value (stop is exclusive); make stop lie beyond start \
                 in the direction of step (use a negative step to count down)"
            ),
        )
    };
    let step_zero = |v: &Val<'_>| {
        cx.err(
            v.span().start,
            &tb.sub("step"),
            "step must not be 0; use a positive step to count up or a negative one to count down",
        )
    };
    if all_int {
        let start = cx.int(start_v, &tb.sub("start"), ex)?;
        let stop = cx.int(stop_v, &tb.sub("stop"), ex)?;
        let step = match step_v {
            None => 1,
            Some(v) => {
                let s = cx.int(v, &tb.sub("step"), "step = 2")?;
                if s == 0 {
                    return Err(step_zero(v));
                }
                s
            }
        };
        Finite::int_range(start, stop, step)
            .map(Axis::Finite)
            .ok_or_else(|| {
                empty(format!(
                    "{{ start = {start}, stop = {stop}, step = {step} }}"
                ))
            })
    } else {
        let start = cx.number(start_v, &tb.sub("start"), ex)?;
        let stop = cx.number(stop_v, &tb.sub("stop"), ex)?;
        let step = match step_v {
            None => 1.0,
            Some(v) => {
                let s = cx.number(v, &tb.sub("step"), "step = 0.1")?;
                if s == 0.0 {
                    return Err(step_zero(v));
                }
                s
            }
        };
        match Finite::float_range(start, stop, step) {
            Ok(Some(f)) => Ok(Axis::Finite(f)),
            Ok(None) => Err(cx.err(
                tb.at,
                tb.field,
                "the range has more than 2^53 values; use a larger step",
            )),
            Err(()) => Err(empty(format!(
                "{{ start = {start:?}, stop = {stop:?}, step = {step:?} }}"
            ))),
        }
    }
}

fn parse_lsf(cx: &Cx<'_>, v: Option<&Val<'_>>) -> Res<LsfOpts> {
    let mut lsf = LsfOpts {
        targets: Vec::new(),
        policy: Policy::RoundRobin,
        cores: None,
        gpu: None,
        walltime: None,
        memory: None,
        resources: None,
        extra: Vec::new(),
        array: false,
        max_array_size: 1000,
        max_in_flight: None,
        submit_rate: None,
    };
    let Some(v) = v else {
        lsf.targets.push(default_target(None));
        return Ok(lsf);
    };
    let tb = cx.table(v, "lsf", LSF_KEYS, "[lsf] queue = \"short\"")?;
    let u32_max = i64::from(u32::MAX);

    if let Some(v) = tb.get("policy") {
        let s = cx.string(v, "lsf.policy", "policy = \"round-robin\"")?;
        lsf.policy = match s.as_str() {
            "round-robin" => Policy::RoundRobin,
            "weighted" => Policy::Weighted,
            "least-pending" => Policy::LeastPending,
            other => {
                return Err(cx.err(
                    v.span().start,
                    "lsf.policy",
                    format!(
                        "unknown policy `{other}`; use \"round-robin\", \"weighted\" or \
                         \"least-pending\""
                    ),
                ));
            }
        };
    }
    if let Some(v) = tb.get("cores") {
        lsf.cores = Some(cx.int_in(v, "lsf.cores", 1, u32_max, "cores = 4")?);
    }
    if let Some(v) = tb.get("gpu") {
        lsf.gpu = Some(cx.one_line(v, "lsf.gpu", "gpu = \"num=1:mode=shared:mps=no\"")?);
    }
    if let Some(v) = tb.get("walltime") {
        let ex = "walltime = \"4:00\"";
        let s = match v.get_ref() {
            // Plain minutes are common enough to accept unquoted.
            DeValue::Integer(_) => cx
                .int_in::<i64>(v, "lsf.walltime", 1, u32_max, ex)?
                .to_string(),
            _ => cx.string(v, "lsf.walltime", ex)?,
        };
        if !is_walltime(&s) {
            return Err(cx.err(
                v.span().start,
                "lsf.walltime",
                format!(
                    "`{s}` is not an LSF run limit; write [hours:]minutes with minutes below 60 \
                     after hours, e.g. \"4:00\" or \"90\""
                ),
            ));
        }
        lsf.walltime = Some(s);
    }
    if let Some(v) = tb.get("memory") {
        let ex = "memory = \"8GB\"";
        let s = match v.get_ref() {
            DeValue::Integer(_) => cx
                .int_in::<i64>(v, "lsf.memory", 1, i64::MAX, ex)?
                .to_string(),
            _ => cx.string(v, "lsf.memory", ex)?,
        };
        if !is_memory(&s) {
            return Err(cx.err(
                v.span().start,
                "lsf.memory",
                format!(
                    "`{s}` is not a memory limit; write a number with an optional unit KB, MB, GB \
                     or TB, e.g. \"8GB\" or \"512MB\""
                ),
            ));
        }
        lsf.memory = Some(s);
    }
    if let Some(v) = tb.get("resources") {
        lsf.resources = Some(cx.one_line(v, "lsf.resources", "resources = \"span[hosts=1]\"")?);
    }
    if let Some(v) = tb.get("extra") {
        let ex = "extra = [\"-P myproject\"]";
        for (i, e) in cx.list(v, "lsf.extra", ex)?.iter().enumerate() {
            let field = format!("lsf.extra[{i}]");
            let s = cx.one_line(e, &field, ex)?;
            if !s.starts_with('-') {
                return Err(cx.err(
                    e.span().start,
                    &field,
                    format!(
                        "`{s}` is not a bsub option: each entry must start with `-`, e.g. \"-P \
                         myproject\""
                    ),
                ));
            }
            lsf.extra.push(s);
        }
    }
    if let Some(v) = tb.get("array") {
        lsf.array = cx.boolean(v, "lsf.array", "array = true")?;
    }
    if let Some(v) = tb.get("max_array_size") {
        lsf.max_array_size =
            cx.int_in(v, "lsf.max_array_size", 1, u32_max, "max_array_size = 1000")?;
    }
    if let Some(v) = tb.get("max_in_flight") {
        lsf.max_in_flight =
            Some(cx.int_in(v, "lsf.max_in_flight", 1, u32_max, "max_in_flight = 100")?);
    }
    if let Some(v) = tb.get("submit_rate") {
        let ex = "submit_rate = 5.0";
        let r = cx.number(v, "lsf.submit_rate", ex)?;
        if r <= 0.0 {
            return Err(cx.err(
                v.span().start,
                "lsf.submit_rate",
                format!("must be greater than 0 (submissions per second); write e.g. `{ex}`"),
            ));
        }
        lsf.submit_rate = Some(r);
    }

    lsf.targets = parse_targets(cx, tb, lsf.max_in_flight)?;
    Ok(lsf)
}

fn default_target(max_in_flight: Option<u32>) -> Target {
    Target {
        queue: None,
        hosts: None,
        weight: 1,
        max_in_flight,
    }
}

/// A queue or host-group name: one word for `-q`, a single line for `-m`.
fn target_name(
    cx: &Cx<'_>,
    v: &Val<'_>,
    field: &str,
    example: &str,
    one_word: bool,
) -> Res<String> {
    let s = cx.one_line(v, field, example)?;
    if one_word && s.contains(char::is_whitespace) {
        return Err(cx.err(
            v.span().start,
            field,
            format!("`{s}` is not a queue name (it contains spaces); give one queue per entry"),
        ));
    }
    if s.starts_with('-') {
        return Err(cx.err(
            v.span().start,
            field,
            format!("`{s}` starts with `-` and would be read as an option; give a name"),
        ));
    }
    Ok(s)
}

/// `queue`, `queues`, `hosts` or `[[lsf.targets]]`, turned into the list of targets.
fn parse_targets(cx: &Cx<'_>, tb: Tbl<'_, '_>, max_in_flight: Option<u32>) -> Res<Vec<Target>> {
    let queue_v = tb.get("queue");
    let queues_v = tb.get("queues");
    let hosts_v = tb.get("hosts");
    let targets_v = tb.get("targets");

    if let (Some(_), Some(qs)) = (queue_v, queues_v) {
        return Err(cx.err(
            qs.span().start,
            "lsf.queues",
            "set either `queue` (one queue) or `queues` (several), not both",
        ));
    }
    if let (Some(_), Some(h)) = (queues_v, hosts_v) {
        return Err(cx.err(
            h.span().start,
            "lsf.hosts",
            "`hosts` cannot be combined with `queues`; use [[lsf.targets]] tables to pair queues \
             with host groups",
        ));
    }
    if let Some(t) = targets_v {
        let other = [("queue", queue_v), ("queues", queues_v), ("hosts", hosts_v)]
            .into_iter()
            .find_map(|(k, v)| v.map(|_| k));
        if let Some(k) = other {
            return Err(cx.err(
                t.span().start,
                "lsf.targets",
                format!(
                    "[[lsf.targets]] cannot be mixed with lsf.{k}; move every queue and host \
                     group into [[lsf.targets]] tables"
                ),
            ));
        }
    }

    let mut targets = Vec::new();
    let queue = queue_v
        .map(|v| target_name(cx, v, "lsf.queue", "queue = \"short\"", true))
        .transpose()?;
    if let Some(v) = queues_v {
        let ex = "queues = [\"short\", \"normal\"]";
        let items = cx.list(v, "lsf.queues", ex)?;
        if items.is_empty() {
            return Err(cx.err(
                v.span().start,
                "lsf.queues",
                format!("is an empty list; name at least one queue, e.g. `{ex}`"),
            ));
        }
        for (i, e) in items.iter().enumerate() {
            let q = target_name(cx, e, &format!("lsf.queues[{i}]"), ex, true)?;
            targets.push((
                Target {
                    queue: Some(q),
                    ..default_target(max_in_flight)
                },
                e.span().start,
                format!("lsf.queues[{i}]"),
            ));
        }
    } else if let Some(v) = hosts_v {
        let ex = "hosts = [\"734090ib\", \"734090eth\"]";
        let items: Vec<(String, usize, String)> = match v.get_ref() {
            DeValue::String(_) => vec![(
                target_name(cx, v, "lsf.hosts", ex, false)?,
                v.span().start,
                "lsf.hosts".to_string(),
            )],
            DeValue::Array(a) => {
                if a.is_empty() {
                    return Err(cx.err(
                        v.span().start,
                        "lsf.hosts",
                        format!("is an empty list; name at least one host group, e.g. `{ex}`"),
                    ));
                }
                a.iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let f = format!("lsf.hosts[{i}]");
                        Ok((target_name(cx, e, &f, ex, false)?, e.span().start, f))
                    })
                    .collect::<Res<_>>()?
            }
            _ => return Err(cx.wrong_type(v, "lsf.hosts", "a list of host groups", ex)),
        };
        for (h, at, f) in items {
            targets.push((
                Target {
                    queue: queue.clone(),
                    hosts: Some(h),
                    ..default_target(max_in_flight)
                },
                at,
                f,
            ));
        }
    } else if let Some(q) = queue {
        targets.push((
            Target {
                queue: Some(q),
                ..default_target(max_in_flight)
            },
            0,
            String::new(),
        ));
    } else if let Some(v) = targets_v {
        let ex = "[[lsf.targets]] queue = \"gpu\"";
        let tables = array_of_tables(cx, v, "lsf.targets", ex)?;
        if tables.is_empty() {
            return Err(cx.err(
                v.span().start,
                "lsf.targets",
                format!("is an empty list; add at least one target, e.g. `{ex}`"),
            ));
        }
        for (i, e) in tables.iter().enumerate() {
            let field = format!("lsf.targets[{i}]");
            let t = cx.table(e, &field, TARGET_KEYS, ex)?;
            let queue = t
                .get("queue")
                .map(|v| target_name(cx, v, &t.sub("queue"), "queue = \"gpu\"", true))
                .transpose()?;
            let hosts = t
                .get("hosts")
                .map(|v| target_name(cx, v, &t.sub("hosts"), "hosts = \"734090ib\"", false))
                .transpose()?;
            if queue.is_none() && hosts.is_none() {
                return Err(cx.err(
                    e.span().start,
                    &field,
                    "a target needs `queue`, `hosts` or both; add e.g. queue = \"gpu\"",
                ));
            }
            let weight = match t.get("weight") {
                None => 1,
                Some(v) => cx.int_in(v, &t.sub("weight"), 1, i64::from(u32::MAX), "weight = 2")?,
            };
            let mif = match t.get("max_in_flight") {
                None => max_in_flight,
                Some(v) => Some(cx.int_in(
                    v,
                    &t.sub("max_in_flight"),
                    1,
                    i64::from(u32::MAX),
                    "max_in_flight = 50",
                )?),
            };
            targets.push((
                Target {
                    queue,
                    hosts,
                    weight,
                    max_in_flight: mif,
                },
                e.span().start,
                field,
            ));
        }
    } else {
        targets.push((default_target(max_in_flight), 0, String::new()));
    }

    // The same queue/host pair twice would only skew the spread; it is always a slip.
    for (i, (t, at, f)) in targets.iter().enumerate() {
        if targets[..i]
            .iter()
            .any(|(o, _, _)| o.queue == t.queue && o.hosts == t.hosts)
        {
            return Err(cx.err(
                *at,
                f,
                format!(
                    "target `{}` is listed twice; remove the duplicate",
                    t.label()
                ),
            ));
        }
    }
    Ok(targets.into_iter().map(|(t, _, _)| t).collect())
}

fn parse_local(cx: &Cx<'_>, v: Option<&Val<'_>>) -> Res<LocalOpts> {
    let default = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Some(v) = v else {
        return Ok(LocalOpts {
            concurrency: default,
        });
    };
    let tb = cx.table(v, "local", &["concurrency"], "[local] concurrency = 4")?;
    let concurrency = match tb.get("concurrency") {
        None => default,
        Some(c) => cx.int_in(c, "local.concurrency", 1, 1 << 20, "concurrency = 4")?,
    };
    Ok(LocalOpts { concurrency })
}

fn parse_cluster(cx: &Cx<'_>, v: &Val<'_>) -> Res<ClusterOpts> {
    let tb = cx.table(
        v,
        "cluster",
        &["host", "init", "remote_dir"],
        "[cluster] host = \"user@login.example.org\"",
    )?;
    let ex = "host = \"user@access.nju.edu.cn\"";
    let hv = tb.get("host").ok_or_else(|| cx.missing(tb, "host", ex))?;
    let host = cx.one_line(hv, "cluster.host", ex)?;
    if host.starts_with('-') || host.contains(char::is_whitespace) {
        return Err(cx.err(
            hv.span().start,
            "cluster.host",
            format!(
                "`{host}` is not an SSH destination; write [user@]host without spaces, e.g. \
                 \"user@access.nju.edu.cn\""
            ),
        ));
    }
    let init = tb
        .get("init")
        .map(|v| cx.string(v, "cluster.init", "init = \"source /etc/profile.d/lsf.sh\""))
        .transpose()?;
    let remote_dir = tb
        .get("remote_dir")
        .map(|v| cx.one_line(v, "cluster.remote_dir", "remote_dir = \"~/.bsweep\""))
        .transpose()?;
    Ok(ClusterOpts {
        host,
        init,
        remote_dir,
    })
}

fn parse_collect(cx: &Cx<'_>, v: Option<&Val<'_>>) -> Res<CollectOpts> {
    let mut c = CollectOpts {
        files: Vec::new(),
        metrics_json: None,
        stdout_kv: false,
        stdout_regex: None,
    };
    let Some(v) = v else {
        return Ok(c);
    };
    let tb = cx.table(
        v,
        "collect",
        &["files", "metrics_json", "stdout_kv", "stdout_regex"],
        "[collect] metrics_json = \"metrics.json\"",
    )?;
    let check_path = |s: &str, at: usize, field: &str| -> Res<()> {
        match bad_collect_path(s) {
            Some(why) => Err(cx.err(
                at,
                field,
                format!(
                    "`{s}` {why}; give a path relative to the point's out_dir, e.g. \
                     \"metrics.json\""
                ),
            )),
            None => Ok(()),
        }
    };
    if let Some(v) = tb.get("files") {
        for (i, (s, at)) in cx
            .string_list(v, "collect.files", "files = [\"metrics.json\"]")?
            .into_iter()
            .enumerate()
        {
            check_path(&s, at, &format!("collect.files[{i}]"))?;
            c.files.push(s);
        }
    }
    if let Some(v) = tb.get("metrics_json") {
        let s = cx.string(v, "collect.metrics_json", "metrics_json = \"metrics.json\"")?;
        check_path(&s, v.span().start, "collect.metrics_json")?;
        c.metrics_json = Some(s);
    }
    if let Some(v) = tb.get("stdout_kv") {
        c.stdout_kv = cx.boolean(v, "collect.stdout_kv", "stdout_kv = true")?;
    }
    if let Some(v) = tb.get("stdout_regex") {
        let ex = "stdout_regex = 'loss=(?P<loss>[0-9.]+)'";
        let s = cx.string(v, "collect.stdout_regex", ex)?;
        let re = regex::Regex::new(&s).map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or("").trim();
            let last = last.strip_prefix("error: ").unwrap_or(last);
            cx.err(
                v.span().start,
                "collect.stdout_regex",
                format!("is not a valid regex ({last}); fix it, e.g. `{ex}`"),
            )
        })?;
        if re.capture_names().flatten().next().is_none() {
            return Err(cx.err(
                v.span().start,
                "collect.stdout_regex",
                format!(
                    "has no named group, so it would yield no column; name the groups, e.g. \
                     `{ex}`"
                ),
            ));
        }
        c.stdout_regex = Some(s);
    }
    Ok(c)
}
