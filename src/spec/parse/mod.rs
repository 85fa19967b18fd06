//! Reading a sweep file: walks the spanned TOML tree, checks every key and value, builds a `Spec`.
//!
//! We walk `toml::de::DeTable` by hand instead of deriving `Deserialize` so that every error,
//! including the semantic ones found after parsing, carries the exact line:col, a dotted field
//! and a message that says what to do.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::template;
use super::{
    BackendKind, FLOAT_TEXT_MAX, Float, Spec, SpecError, SpecWarning, Value, check_sweep_name,
};

mod axes;
mod keys;
mod options;
mod retry;
mod slurm;
mod summary;
mod targets;

use axes::parse_grid;
use keys::{KEYED_TABLES, TOP_KEYS};
use options::{parse_cluster, parse_collect, parse_local, parse_lsf};
pub(super) use retry::{memory_kb, walltime_minutes};

type Val<'i> = Spanned<DeValue<'i>>;
type Res<T> = Result<T, SpecError>;

/// Longest string a parameter value may be: values end up on command lines and in job names.
const MAX_VALUE_BYTES: usize = 4096;

/// Longest value of a `#BSUB` line (and of other one-line options): LSF reads script lines into
/// buffers of a few times PATH_MAX (4096) and splits longer ones, so a very long value could
/// spill into a line of its own.
const MAX_OPTION_BYTES: usize = 4000;

/// "1 point", "2 points".
pub(super) fn count_of(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The first character of `s` that no one-line option may hold: a control character (line
/// breaks, tabs, escapes, DEL, C1 controls).
fn control_char(s: &str) -> Option<char> {
    s.chars().find(|c| c.is_control())
}

/// "a line break", "a tab", "the control character U+001B".
fn describe_control(c: char) -> String {
    match c {
        '\n' | '\r' => "a line break".to_string(),
        '\t' => "a tab".to_string(),
        '\0' => "a NUL byte".to_string(),
        c => format!("the control character U+{:04X}", c as u32),
    }
}

/// Source text and the position bookkeeping errors need, and the warnings found so far.
struct Cx<'a> {
    src: &'a str,
    path: &'a Path,
    line_starts: Vec<usize>,
    warnings: RefCell<Vec<SpecWarning>>,
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

/// Levenshtein distance, for "did you mean" hints on misspelt keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
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

impl<'a> Cx<'a> {
    fn new(src: &'a str, path: &'a Path) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Cx {
            src,
            path,
            line_starts,
            warnings: RefCell::new(Vec::new()),
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

    /// Records a warning at `at` (`field` "" for none).
    fn warn(&self, at: usize, field: &str, message: impl Into<String>) {
        let (line, col) = self.line_col(at);
        self.warnings.borrow_mut().push(SpecWarning {
            path: self.path.to_path_buf(),
            line: Some(line),
            col: Some(col),
            field: (!field.is_empty()).then(|| field.to_string()),
            message: message.into(),
        });
    }

    /// "must be X, not Y; write e.g. Z".
    fn wrong_type(&self, v: &Val<'_>, field: &str, expected: &str, example: &str) -> SpecError {
        let mut msg = format!("must be {expected}, not {}", kind(v.get_ref()));
        let numeric = expected.contains("integer") || expected.contains("number");
        let quoted_number = match v.get_ref() {
            DeValue::String(s) => numeric && s.trim().parse::<f64>().is_ok(),
            _ => false,
        };
        if quoted_number {
            msg.push_str(&format!("; remove the quotes, e.g. `{example}`"));
        } else {
            msg.push_str(&format!("; write e.g. `{example}`"));
        }
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
                return Err(self.unknown_key(k.span().start, tb.field, key, allowed));
            }
        }
        Ok(())
    }

    /// Key `key` at `at` is not one of `allowed`, the keys of table `table` ("" for the top).
    fn unknown_key(&self, at: usize, table: &str, key: &str, allowed: &[&str]) -> SpecError {
        let place = if table.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in [{table}]")
        };
        let hint = allowed
            .iter()
            .find(|a| edit_distance(a, key) <= 2)
            .map(|a| format!(" (did you mean `{a}`?)"))
            .or_else(|| {
                // A table's key written before any header lands at the top level.
                let (t, _) = KEYED_TABLES
                    .iter()
                    .find(|(_, keys)| table.is_empty() && keys.contains(&key))?;
                Some(format!(
                    " (`{key}` is a key of [{t}]: write it below a [{t}] header)"
                ))
            })
            .unwrap_or_default();
        self.err(
            at,
            &join(table, key),
            format!(
                "unknown key `{key}` {place}{hint}; remove it or use one of: {}",
                allowed.join(", ")
            ),
        )
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

    /// A string that becomes one command-line option or path: non-empty, a single line without
    /// control characters, at most [`MAX_OPTION_BYTES`] long.
    fn one_line(&self, v: &Val<'_>, field: &str, example: &str) -> Res<String> {
        let s = self.string(v, field, example)?;
        if s.trim().is_empty() {
            return Err(self.err(
                v.span().start,
                field,
                format!("must not be empty; write e.g. `{example}` or remove the key"),
            ));
        }
        if let Some(c) = control_char(&s) {
            let what = describe_control(c);
            return Err(self.err(
                v.span().start,
                field,
                format!("must be a single line of text, but contains {what}; remove it"),
            ));
        }
        if s.len() > MAX_OPTION_BYTES {
            return Err(self.err(
                v.span().start,
                field,
                format!(
                    "is {} bytes long, more than the {MAX_OPTION_BYTES} allowed; shorten it",
                    s.len()
                ),
            ));
        }
        Ok(s)
    }

    /// A string that becomes the value of a `#BSUB` line. LSF reads such a value up to the next
    /// `"` with no escape and a word starting with `#` as a comment, so a `"` or a leading `#`
    /// would end the value early and let the rest read as more options.
    fn bsub_text(&self, v: &Val<'_>, field: &str, example: &str) -> Res<String> {
        let s = self.one_line(v, field, example)?;
        if s.contains('"') {
            return Err(self.err(
                v.span().start,
                field,
                "must not contain `\"`: LSF reads a #BSUB value up to the next `\"` (it has no \
                 escape), so the rest would become other options; remove the quote",
            ));
        }
        if s.trim_start().starts_with('#') {
            return Err(self.err(
                v.span().start,
                field,
                "must not start with `#`: LSF reads the rest of a #BSUB line from there as a \
                 comment",
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
        if i < min || i > max {
            return Err(self.err(
                v.span().start,
                field,
                format!(
                    "must be between {} and {}, not {}; write e.g. `{example}`",
                    group(min),
                    group(max),
                    group(i)
                ),
            ));
        }
        T::try_from(i).map_err(|_| self.err(v.span().start, field, "value is out of range"))
    }

    /// A number of `unit` (integer or float) in `min..=max`.
    fn number_in(&self, v: &Val<'_>, field: &str, range: &Range, example: &str) -> Res<f64> {
        let x = self.number(v, field, example)?;
        if !(range.min..=range.max).contains(&x) {
            // The number as the file writes it: `{x}` would spell 1e300 with 300 digits.
            let written = self.src.get(v.span()).unwrap_or("this").trim();
            return Err(self.err(
                v.span().start,
                field,
                format!(
                    "must be between {} and {} {}{}, not {written}; write e.g. `{example}`",
                    range.min, range.max, range.unit, range.note
                ),
            ));
        }
        Ok(x)
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
            DeValue::Float(f) => {
                let x = self.number(v, field, "0.1")?;
                // TOML gives the literal without its `_` separators: the text the user means.
                let text = f.as_str();
                Ok(Value::Float(Float::written(x, text).unwrap_or_else(|| {
                    let shown = Float::new(x);
                    self.warn(
                        at,
                        field,
                        format!(
                            "`{text}` is longer than the {FLOAT_TEXT_MAX} characters of a float \
                             bsweep keeps as written, so it is passed on as `{shown}` (the same \
                             value); write it with fewer digits to choose the text"
                        ),
                    );
                    shown
                })))
            }
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

/// The bounds of a number the file gives, and how messages say them.
pub(super) struct Range {
    pub(super) min: f64,
    pub(super) max: f64,
    /// "seconds", "submissions per second".
    pub(super) unit: &'static str,
    /// Appended after the unit, e.g. " (1 day)".
    pub(super) note: &'static str,
}

/// An integer with thousands separators, so bounds read at a glance (`1,000,000`).
pub(super) fn group(i: i64) -> String {
    let digits = i.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if i < 0 {
        out.push('-');
    }
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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
    let doc = read_toml(&cx, src)?;
    let root = Tbl {
        t: doc.get_ref(),
        at: 0,
        field: "",
    };
    // Every key where it belongs before any value is read: a key that landed in a table by
    // being written below its header would otherwise surface as a missing top-level key.
    keys::check_layout(&cx, doc.get_ref())?;
    cx.check_keys(root, TOP_KEYS)?;

    let name = parse_name(&cx, root)?;
    let (command, command_v) = parse_command(&cx, root)?;
    let workdir = parse_workdir(&cx, root)?;
    let setup = parse_setup(&cx, root)?;
    let backend = parse_backend(&cx, root)?;
    let max_attempts = match root.get("max_attempts") {
        None => 1,
        Some(v) => cx.int_in(v, "max_attempts", 1, MAX_ATTEMPTS, "max_attempts = 3")?,
    };
    let repeats: u32 = match root.get("repeats") {
        None => 1,
        Some(v) => cx.int_in(v, "repeats", 1, MAX_REPEATS, "repeats = 3")?,
    };

    let grid_parts = parse_grid(&cx, root)?;
    let lsf = parse_lsf(&cx, root.get("lsf"))?;
    let slurm = slurm::parse_slurm(&cx, root.get("slurm"))?;
    let local = parse_local(&cx, root.get("local"))?;
    let cluster = root
        .get("cluster")
        .map(|v| parse_cluster(&cx, v))
        .transpose()?;
    let collect = parse_collect(&cx, root.get("collect"))?;
    let retry = retry::parse_retry(
        &cx,
        root.get("retry"),
        &retry::Context {
            backend,
            max_attempts,
            memory: lsf.memory.as_deref(),
        },
    )?;
    warn_ignored_tables(&cx, root, backend);

    // Templates last: only now are all parameter names known.
    let names = Names {
        params: &grid_parts.names,
    };
    check_template(&cx, command_v, &command, "command", &names)?;
    if let Some((w, v)) = &workdir {
        check_template(&cx, v, w, "workdir", &names)?;
    }

    let grid = grid_parts.build(&cx, repeats)?;
    let summary = summary::parse_summary(&cx, root.get("summary"), &grid.param_names())?;

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
        slurm,
        cluster,
        collect,
        summary,
        max_attempts,
        retry,
        grid,
        warnings: cx.warnings.into_inner(),
    })
}

/// The file's TOML tree, or the syntax error said where it is.
fn read_toml<'i>(cx: &Cx<'_>, src: &'i str) -> Res<Spanned<DeTable<'i>>> {
    DeTable::parse(src).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let what = e.message().trim();
        let message = if what == "duplicate key" {
            let key = src.get(span.clone()).unwrap_or("").trim();
            format!(
                "invalid TOML: duplicate key `{key}`; a key may appear once per table, remove or \
                 rename one"
            )
        } else {
            format!("invalid TOML: {what}; fix the syntax here")
        };
        cx.err(span.start, "", message)
    })
}

/// `name`: required, and a valid sweep name.
fn parse_name(cx: &Cx<'_>, root: Tbl<'_, '_>) -> Res<String> {
    let name_ex = "name = \"lr-sweep\"";
    let Some(v) = root.get("name") else {
        return Err(cx.missing(root, "name", name_ex));
    };
    let s = cx.string(v, "name", name_ex)?;
    if let Err(e) = check_sweep_name(&s) {
        return Err(cx.err(v.span().start, "name", e.to_string()));
    }
    Ok(s)
}

/// `command`: required and not blank, with its value for the template check once names are known.
fn parse_command<'t, 'i>(cx: &Cx<'_>, root: Tbl<'t, 'i>) -> Res<(String, &'t Val<'i>)> {
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
    Ok((command, command_v))
}

/// `workdir`, if given, with its value for the template check once names are known.
fn parse_workdir<'t, 'i>(cx: &Cx<'_>, root: Tbl<'t, 'i>) -> Res<Option<(String, &'t Val<'i>)>> {
    let workdir_ex = "workdir = \"runs/{sweep}\"";
    root.get("workdir")
        .map(|v| {
            let s = cx.one_line(v, "workdir", workdir_ex)?;
            // Nothing expands `~` here: `~/runs` would be a directory named `~` beside the file.
            if s.starts_with('~') {
                return Err(cx.err(
                    v.span().start,
                    "workdir",
                    "`~` is not expanded in workdir (it would be a directory named `~`); write an \
                     absolute path, or one relative to the sweep file's directory",
                ));
            }
            Ok((s, v))
        })
        .transpose()
}

/// `setup`: the shell lines a job runs before the command, none unless given.
fn parse_setup(cx: &Cx<'_>, root: Tbl<'_, '_>) -> Res<Vec<String>> {
    let Some(v) = root.get("setup") else {
        return Ok(Vec::new());
    };
    let lines = cx.string_list(v, "setup", "setup = [\"module load cuda\"]")?;
    Ok(lines.into_iter().map(|(s, _)| s).collect())
}

/// `backend`: local unless the file says otherwise.
fn parse_backend(cx: &Cx<'_>, root: Tbl<'_, '_>) -> Res<BackendKind> {
    let Some(v) = root.get("backend") else {
        return Ok(BackendKind::Local);
    };
    match cx.string(v, "backend", "backend = \"lsf\"")?.as_str() {
        "local" => Ok(BackendKind::Local),
        "lsf" => Ok(BackendKind::Lsf),
        "slurm" => Ok(BackendKind::Slurm),
        other => Err(cx.err(
            v.span().start,
            "backend",
            format!("unknown backend `{other}`; use \"local\", \"lsf\" or \"slurm\""),
        )),
    }
}

/// Most attempts per point: retries beyond this many are a loop, not a plan.
const MAX_ATTEMPTS: i64 = 1000;
/// Most repetitions of each point.
const MAX_REPEATS: i64 = 1_000_000;

/// The tables the backend does not read: the other backends' tables, and `[cluster]` on a
/// local sweep. They load (a file may be switched between backends) but are said, where they are.
fn warn_ignored_tables(cx: &Cx<'_>, root: Tbl<'_, '_>, backend: BackendKind) {
    let (ignored, name): (&[&str], &str) = match backend {
        BackendKind::Local => (&["lsf", "slurm", "cluster"], "local"),
        BackendKind::Lsf => (&["local", "slurm"], "lsf"),
        BackendKind::Slurm => (&["local", "lsf"], "slurm"),
    };
    for t in ignored {
        // A backend's table is named after it; `[cluster]` serves any cluster backend.
        let other = if *t == "cluster" { "lsf" } else { t };
        if let Some(v) = root.get(t) {
            cx.warn(
                v.span().start,
                "",
                format!(
                    "[{t}] is ignored: backend is \"{name}\"; set backend = \"{other}\" to use \
                     it, or remove [{t}]"
                ),
            );
        }
    }
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
