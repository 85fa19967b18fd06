//! Which keys every table of a sweep file may hold, checked before any value is read.
//!
//! TOML puts a key into the table whose header it follows, so `command` written below `[local]`
//! is `local.command`, and the file then seems to lack a `command`. Checking the layout first
//! names such a key where it landed and says where it belongs, instead of reporting a missing
//! key at 1:1 (or, in `[grid]`, silently making it a parameter).

use toml::de::{DeTable, DeValue};

use super::{Cx, Res, join};

pub(super) const TOP_KEYS: &[&str] = &[
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
    "slurm",
    "local",
    "cluster",
    "collect",
    "retry",
    "summary",
];
pub(super) const LSF_KEYS: &[&str] = &[
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
    "submit_parallel",
    "poll_min",
    "poll_max",
    "settle",
    "lost_after",
    "targets",
];
pub(super) const TARGET_KEYS: &[&str] = &["queue", "hosts", "weight", "max_in_flight"];
pub(super) const SLURM_KEYS: &[&str] = &[
    "partition",
    "partitions",
    "targets",
    "policy",
    "account",
    "qos",
    "time",
    "mem",
    "mem_per_cpu",
    "cpus_per_task",
    "ntasks",
    "gpus",
    "gres",
    "constraint",
    "extra",
    "array",
    "max_array_size",
    "array_parallel",
    "max_in_flight",
    "submit_rate",
    "poll_min",
    "poll_max",
    "settle",
    "lost_after",
];
pub(super) const SLURM_TARGET_KEYS: &[&str] = &["partition", "weight", "max_in_flight"];
pub(super) const LOCAL_KEYS: &[&str] = &["concurrency"];
pub(super) const CLUSTER_KEYS: &[&str] = &["host", "init", "remote_dir"];
pub(super) const COLLECT_KEYS: &[&str] = &[
    "files",
    "metrics_json",
    "stdout_kv",
    "stdout_regex",
    "warn_mb",
];
pub(super) const RETRY_KEYS: &[&str] = &[
    "on_exit",
    "on_memlimit",
    "on_runlimit",
    "exclude_hosts_after",
];
pub(super) const MEMLIMIT_KEYS: &[&str] = &["memory", "max"];
pub(super) const RUNLIMIT_KEYS: &[&str] = &["walltime", "max"];
pub(super) const SUMMARY_KEYS: &[&str] = &["metric", "goal", "over", "top"];
pub(super) const SAMPLE_KEYS: &[&str] = &["n", "seed"];
pub(super) const RANGE_KEYS: &[&str] = &["start", "stop", "step"];
pub(super) const AXIS_FORMS: &[&str] = &[
    "linspace",
    "logspace",
    "uniform",
    "loguniform",
    "choice",
    "randint",
];

/// The top-level keys with a plain value (not a table): those that can end up in a table by
/// being written below its header.
const TOP_VALUES: &[&str] = &[
    "name",
    "command",
    "workdir",
    "setup",
    "backend",
    "max_attempts",
    "repeats",
];

/// Top-level keys a file cannot do without: written below a table header they always landed
/// there by mistake.
const REQUIRED: &[&str] = &["name", "command"];

/// The top-level tables with a fixed set of keys, for "belongs in [local]" hints.
pub(super) const KEYED_TABLES: &[(&str, &[&str])] = &[
    ("lsf", LSF_KEYS),
    ("slurm", SLURM_KEYS),
    ("local", LOCAL_KEYS),
    ("cluster", CLUSTER_KEYS),
    ("collect", COLLECT_KEYS),
    ("sample", SAMPLE_KEYS),
    ("retry", RETRY_KEYS),
    ("summary", SUMMARY_KEYS),
];

/// What a table may hold.
#[derive(Clone, Copy)]
enum Keys {
    /// These keys; any other is an error here.
    Fixed(&'static [&'static str]),
    /// An axis table (`[grid.lr]`): range keys or one form. Other keys are left to the axis
    /// parser, which says more about forms; only keys of an enclosing table are reported here.
    Axis,
    /// Parameters (`[grid]`, `[[zip]]`, `[[exclude]]`): any name.
    Params,
}

/// One segment of a table's path: a key, or an element of an array of tables.
#[derive(Clone, Copy, PartialEq)]
enum Seg<'a> {
    Key(&'a str),
    Elem,
}

fn keys_of(path: &[Seg<'_>]) -> Option<Keys> {
    use Seg::{Elem, Key};
    Some(match path {
        [] => Keys::Fixed(TOP_KEYS),
        [Key("lsf")] => Keys::Fixed(LSF_KEYS),
        [Key("lsf"), Key("targets"), Elem] => Keys::Fixed(TARGET_KEYS),
        [Key("slurm")] => Keys::Fixed(SLURM_KEYS),
        [Key("slurm"), Key("targets"), Elem] => Keys::Fixed(SLURM_TARGET_KEYS),
        [Key("local")] => Keys::Fixed(LOCAL_KEYS),
        [Key("cluster")] => Keys::Fixed(CLUSTER_KEYS),
        [Key("collect")] => Keys::Fixed(COLLECT_KEYS),
        [Key("sample")] => Keys::Fixed(SAMPLE_KEYS),
        [Key("retry")] => Keys::Fixed(RETRY_KEYS),
        [Key("retry"), Key("on_memlimit")] => Keys::Fixed(MEMLIMIT_KEYS),
        [Key("retry"), Key("on_runlimit")] => Keys::Fixed(RUNLIMIT_KEYS),
        [Key("summary")] => Keys::Fixed(SUMMARY_KEYS),
        [Key("grid"), Key(_)] => Keys::Axis,
        [Key("grid")] | [Key("zip"), Elem] | [Key("exclude"), Elem] => Keys::Params,
        _ => return None,
    })
}

fn axis_allows(key: &str) -> bool {
    RANGE_KEYS.contains(&key) || AXIS_FORMS.contains(&key)
}

fn allows(keys: Keys, key: &str) -> bool {
    match keys {
        Keys::Fixed(k) => k.contains(&key),
        Keys::Axis => axis_allows(key),
        Keys::Params => true,
    }
}

/// A table on the way down from the root, with what the error messages need.
struct Frame<'a> {
    t: &'a DeTable<'a>,
    path: Vec<Seg<'a>>,
    field: String,
    /// Where the table starts: its header, or the key that made it.
    at: usize,
    /// The header as written (`[local]`, `[[lsf.targets]]`), if a header made the table.
    header: Option<&'a str>,
}

impl Frame<'_> {
    /// "at the top level", "in [lsf]".
    fn place(&self) -> String {
        if self.path.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in {}", self.name())
        }
    }

    /// `[lsf]`, `[[lsf.targets]]`, or "the top level".
    fn name(&self) -> String {
        if self.path.is_empty() {
            return "the top level".to_string();
        }
        let dotted: Vec<&str> = self
            .path
            .iter()
            .filter_map(|s| match s {
                Seg::Key(k) => Some(*k),
                Seg::Elem => None,
            })
            .collect();
        if self.path.last() == Some(&Seg::Elem) {
            format!("[[{}]]", dotted.join("."))
        } else {
            format!("[{}]", dotted.join("."))
        }
    }
}

/// Checks where every key of the file sits, and warns about keys that are valid where they are
/// but look like slips (a `[grid]` parameter named like a top-level key).
pub(super) fn check_layout(cx: &Cx<'_>, doc: &DeTable<'_>) -> Res<()> {
    let mut headers = Vec::new();
    collect_headers(cx, doc, &mut headers);
    headers.sort_unstable();
    let params = param_names(doc);
    let walk = Walk {
        cx,
        headers,
        params,
    };
    let root = Frame {
        t: doc,
        path: Vec::new(),
        field: String::new(),
        at: 0,
        header: None,
    };
    walk.table(&[], &root)
}

/// The header text of a table value, when a header (not an inline table or a dotted key) made it.
fn header_of<'s>(cx: &Cx<'s>, v: &toml::Spanned<DeValue<'_>>) -> Option<&'s str> {
    let text = cx.src.get(v.span())?;
    text.starts_with('[').then_some(text)
}

/// Every table header of the file, with where it starts.
fn collect_headers<'s>(cx: &Cx<'s>, t: &DeTable<'_>, out: &mut Vec<(usize, &'s str)>) {
    for (_, v) in t.iter() {
        match v.get_ref() {
            DeValue::Table(sub) => {
                if let Some(h) = header_of(cx, v) {
                    out.push((v.span().start, h));
                }
                collect_headers(cx, sub, out);
            }
            DeValue::Array(items) => {
                for e in items {
                    if let DeValue::Table(sub) = e.get_ref() {
                        if let Some(h) = header_of(cx, e) {
                            out.push((e.span().start, h));
                        }
                        collect_headers(cx, sub, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The names `[grid]` and `[[zip]]` define, as written (an `[[exclude]]` key may be any of them).
fn param_names(doc: &DeTable<'_>) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(DeValue::Table(g)) = doc.get("grid").map(|v| v.get_ref()) {
        names.extend(g.iter().map(|(k, _)| k.get_ref().to_string()));
    }
    if let Some(DeValue::Array(zips)) = doc.get("zip").map(|v| v.get_ref()) {
        for z in zips {
            if let DeValue::Table(z) = z.get_ref() {
                names.extend(z.iter().map(|(k, _)| k.get_ref().to_string()));
            }
        }
    }
    names
}

struct Walk<'c, 's> {
    cx: &'c Cx<'s>,
    /// Every header (start, text), in file order.
    headers: Vec<(usize, &'s str)>,
    params: Vec<String>,
}

impl<'s> Walk<'_, 's> {
    /// The first header after `at` (the root's region ends at the first header of all).
    fn next_header(&self, at: Option<usize>) -> Option<(usize, &'s str)> {
        self.headers
            .iter()
            .copied()
            .find(|(h, _)| at.is_none_or(|a| *h > a))
    }

    fn line(&self, at: usize) -> usize {
        self.cx.line_col(at).0
    }

    /// Checks the keys of `frame`, then the tables inside it. `up` are its ancestors, root first.
    fn table<'a>(&self, up: &[&Frame<'a>], frame: &Frame<'a>) -> Res<()>
    where
        's: 'a,
    {
        let Some(keys) = keys_of(&frame.path) else {
            return Ok(());
        };
        for (k, v) in frame.t.iter() {
            let key: &str = k.get_ref();
            let field = join(&frame.field, key);
            match keys {
                Keys::Params => {
                    self.check_param(up, frame, key, v, k.span().start, &field)?;
                }
                _ if !allows(keys, key) => {
                    // In an axis table only a list or a table can be a `[grid]` parameter that
                    // landed there; `stpe = 0.1` is a typo the axis parser names.
                    let could_be_param =
                        matches!(v.get_ref(), DeValue::Array(_) | DeValue::Table(_))
                            || TOP_VALUES.contains(&key);
                    let misplaced = match keys {
                        Keys::Axis if !could_be_param => None,
                        _ => self.misplaced(up, frame, key, k.span().start, &field),
                    };
                    if let Some(e) = misplaced {
                        return Err(e);
                    }
                    if let Keys::Fixed(allowed) = keys {
                        return Err(self.cx.unknown_key(
                            k.span().start,
                            &frame.field,
                            key,
                            allowed,
                        ));
                    }
                }
                _ => {}
            }
            let mut path = frame.path.clone();
            path.push(Seg::Key(key));
            match v.get_ref() {
                DeValue::Table(t) => {
                    let child = Frame {
                        t,
                        path,
                        field,
                        at: v.span().start,
                        header: header_of(self.cx, v),
                    };
                    let mut chain = up.to_vec();
                    chain.push(frame);
                    self.table(&chain, &child)?;
                }
                DeValue::Array(items) => {
                    path.push(Seg::Elem);
                    for (i, e) in items.iter().enumerate() {
                        let DeValue::Table(t) = e.get_ref() else {
                            continue;
                        };
                        let child = Frame {
                            t,
                            path: path.clone(),
                            field: format!("{field}[{i}]"),
                            at: e.span().start,
                            header: header_of(self.cx, e),
                        };
                        let mut chain = up.to_vec();
                        chain.push(frame);
                        self.table(&chain, &child)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A parameter key of `[grid]`, `[[zip]]` or `[[exclude]]` that is a top-level key the top
    /// level lacks: an error when it cannot be a parameter there, else a warning.
    fn check_param(
        &self,
        up: &[&Frame<'_>],
        frame: &Frame<'_>,
        key: &str,
        v: &toml::Spanned<DeValue<'_>>,
        at: usize,
        field: &str,
    ) -> Res<()> {
        let Some(root) = up.first() else {
            return Ok(());
        };
        if frame.header.is_none() || !TOP_VALUES.contains(&key) || root.t.contains_key(key) {
            return Ok(());
        }
        let is_exclude = frame.path.first() == Some(&Seg::Key("exclude"));
        let can_be_param = if is_exclude {
            self.params.iter().any(|p| p == key)
        } else {
            let axis_shaped = match v.get_ref() {
                DeValue::Array(_) => true,
                DeValue::Table(_) => frame.path.first() == Some(&Seg::Key("grid")),
                _ => false,
            };
            axis_shaped && !REQUIRED.contains(&key)
        };
        let (to, line) = self.root_target();
        if !can_be_param {
            return Err(self.cx.err(
                at,
                field,
                format!(
                    "unknown key; top-level keys must come before the first [table] — move it \
                     above {to} (line {line})"
                ),
            ));
        }
        self.cx.warn(
            at,
            field,
            format!(
                "`{key}` is a parameter of {} here, not the top-level key `{key}`; if you meant \
                 the top-level key, move it above {to} (line {line}), or rename the parameter",
                frame.name()
            ),
        );
        Ok(())
    }

    /// The header a top-level key must come before, and its line.
    fn root_target(&self) -> (&'s str, usize) {
        self.next_header(None)
            .map_or(("the first table", 1), |(at, h)| (h, self.line(at)))
    }

    /// The error for `key`, unknown in `frame`, if an enclosing table takes it: TOML put it here
    /// because it was written below `frame`'s header.
    fn misplaced(
        &self,
        up: &[&Frame<'_>],
        frame: &Frame<'_>,
        key: &str,
        at: usize,
        field: &str,
    ) -> Option<crate::spec::SpecError> {
        frame.header?;
        // The nearest enclosing table that takes the key; a top-level key the top level lacks
        // wins over a `[grid]` parameter of the same name.
        let home = up
            .iter()
            .rev()
            .find(|a| match keys_of(&a.path) {
                Some(Keys::Params) => !TOP_VALUES.contains(&key) || up[0].t.contains_key(key),
                Some(k) => allows(k, key),
                None => false,
            })
            .copied()?;
        if let Some((k, _)) = home.t.get_key_value(key) {
            return Some(self.cx.err(
                at,
                field,
                format!(
                    "unknown key; `{key}` is already set {} on line {} — remove this one",
                    home.place(),
                    self.line(k.span().start)
                ),
            ));
        }
        let message = if home.path.is_empty() {
            let (to, line) = self.root_target();
            format!(
                "unknown key; top-level keys must come before the first [table] — move it above \
                 {to} (line {line})"
            )
        } else if home.header.is_some() {
            let (to, line) = self
                .next_header(Some(home.at))
                .map_or((frame.header.unwrap_or("it"), 1), |(a, h)| {
                    (h, self.line(a))
                });
            format!(
                "unknown key; keys of {} must come before the next table header — move it above \
                 {to} (line {line})",
                home.name()
            )
        } else {
            format!(
                "unknown key; it is a key of {0}, which has no header: add the header {0} above \
                 {1} (line {2}) and move the key below it",
                home.name(),
                frame.header.unwrap_or("this table"),
                self.line(frame.at)
            )
        };
        Some(self.cx.err(at, field, message))
    }
}
