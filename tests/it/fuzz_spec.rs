//! Property-based fuzzing of the sweep-file parser `Spec::from_toml`: arbitrary text and
//! mutations of the example and bad sweep files never panic and fail with a located, non-empty
//! message; generated valid grids expand to exactly the points they describe (count, dense
//! indices, column order, odometer order, exclusions, repeats, sampling). Bounded for CI: set
//! PROPTEST_CASES for a longer local run; failing seeds are kept in `proptest-regressions/`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use bsweep::spec::{Float, Point, Spec, SpecError, Value};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;

use crate::fuzzkit::{Mutation, mutate};

/// `default` cases, or PROPTEST_CASES when set (a longer local run).
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Seeds of past failures, replayed first on every run (kept in the repository).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/fuzz_spec.txt",
        ))),
        ..ProptestConfig::default()
    }
}

const PATH: &str = "sweeps/fuzz.toml";

// ---------------------------------------------------------------------------------------------
// Any input: a spec or a located error

/// Errors read `path:line:col: message` or `path: message`, with a message, and point into
/// the text.
fn check_error(e: &SpecError, src: &str) -> Result<(), TestCaseError> {
    let shown = e.to_string();
    prop_assert!(!e.message.trim().is_empty(), "empty message: {e:?}");
    let rest = shown
        .strip_prefix(PATH)
        .ok_or_else(|| TestCaseError::fail(format!("no path: {shown:?}")))?;
    let rest = match (e.line, e.col) {
        (Some(l), Some(c)) => {
            let lines = src.split('\n').count();
            prop_assert!(l >= 1 && l <= lines, "line {l} of {lines}: {shown:?}");
            let line_text = src.split('\n').nth(l - 1).unwrap_or("");
            prop_assert!(
                c >= 1 && c <= line_text.chars().count() + 1,
                "col {c} of {line_text:?}: {shown:?}"
            );
            rest.strip_prefix(&format!(":{l}:{c}"))
                .ok_or_else(|| TestCaseError::fail(format!("no :{l}:{c} in {shown:?}")))?
        }
        (None, None) => rest,
        other => return Err(TestCaseError::fail(format!("line without col: {other:?}"))),
    };
    prop_assert!(rest.starts_with(": "), "{shown:?}");
    prop_assert!(!rest[2..].trim().is_empty(), "{shown:?}");
    Ok(())
}

/// The first points of a spec: dense indices from 0, params in `param_names()` order.
fn check_first_points(spec: &Spec, n: usize) -> Result<(), TestCaseError> {
    let names = spec.param_names();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    prop_assert_eq!(sorted.len(), names.len(), "duplicate names {:?}", names);
    for (i, p) in spec.points().take(n).enumerate() {
        prop_assert_eq!(p.index, i as u64);
        let got: Vec<&str> = p.params.iter().map(|(n, _)| n.as_str()).collect();
        prop_assert_eq!(got, names.iter().map(String::as_str).collect::<Vec<_>>());
    }
    Ok(())
}

fn check_any(src: &str) -> Result<(), TestCaseError> {
    match Spec::from_toml(src, Path::new(PATH)) {
        Ok(spec) => check_first_points(&spec, 50),
        Err(e) => check_error(&e, src),
    }
}

/// The example sweeps and the bad ones.
static SWEEP_FILES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for dir in ["sweeps", "tests/spec_bad"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        out.extend(
            files
                .iter()
                .map(|p| fs::read_to_string(p).expect("sweep file")),
        );
    }
    assert!(
        out.len() >= 20,
        "expected the sweep files, found {}",
        out.len()
    );
    out
});

const TOKENS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "=",
    " = ",
    "\"",
    "'",
    "\"\"\"",
    "'''",
    "{",
    "}",
    "{ ",
    " }",
    ",",
    ".",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "#",
    " ",
    "0",
    "1",
    "-1",
    "5",
    "0.5",
    "1e-5",
    "-0.0",
    "inf",
    "-inf",
    "nan",
    "1e999",
    "0x7f",
    "0b101",
    "1_000",
    "true",
    "false",
    "1979-05-27",
    "07:32:00",
    "\\",
    "\\u0000",
    "\\u00e9",
    "\\n",
    "{index}",
    "{repeat}",
    "{nope}",
    "{{",
    "}}",
    "grid",
    "zip",
    "exclude",
    "sample",
    "[grid]",
    "[[zip]]",
    "[[exclude]]",
    "[sample]",
    "n = 0",
    "n = 3",
    "seed = 1",
    "start",
    "stop",
    "step",
    "step = 0",
    "step = -1",
    "{ start = 0, stop = 9223372036854775807 }",
    "linspace",
    "logspace",
    "uniform",
    "choice",
    "randint",
    "[0.0, 1.0, 9007199254740992]",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "repeats = 4294967295",
    "repeats",
    "[lsf]",
    "queue",
    "[collect]",
    "stdout_regex = '(?P<x>'",
    "x = []",
    "x = [1, \"a\", true, 0.5]",
    "é",
    "日本",
    "\u{0}",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
    "\u{feff}",
    "🦀",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(TOKENS).prop_map(str::to_string),
        1 => "[a-z_]{1,8}",
        1 => "(?s).{1,3}",
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let len = prop_oneof![1usize..6, 6usize..80];
    prop_oneof![
        3 => (any::<Index>(), len.clone()).prop_map(|(i, n)| Mutation::Delete(i, n)),
        2 => (any::<Index>(), len.clone()).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        5 => (any::<Index>(), token()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        3 => (any::<Index>(), len, token()).prop_map(|(i, n, t)| Mutation::Replace(i, n, t)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

// ---------------------------------------------------------------------------------------------
// Generated valid grids

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML float literal that reads back as exactly `x`.
fn toml_float(x: f64) -> String {
    format!("{x:?}")
}

fn toml_value(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        // The written text, or the shortest form: a TOML float literal either way.
        Value::Float(x) => x.to_string(),
        Value::Str(s) => toml_str(s),
    }
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![any::<i64>(), -5i64..5].prop_map(Value::Int),
        prop_oneof![
            any::<f64>().prop_filter("finite", |x| x.is_finite()),
            (-8i32..8).prop_map(|q| f64::from(q) / 4.0),
        ]
        .prop_map(Value::from),
        written_float().prop_map(|(_, v)| v),
        prop_oneof!["[a-z]{0,6}", "(?s)[^\\x00]{0,12}"].prop_map(Value::Str),
    ]
}

/// A float as a user might write it (`0.00001`, `1e3`, `+1.50`, `2.5E-3`), with the value the
/// parser should give it: the text kept as written, or (too long to keep) the shortest form.
fn written_float() -> impl Strategy<Value = (String, Value)> {
    let x = prop_oneof![
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
        (-100_000i32..100_000).prop_map(|q| f64::from(q) / 1000.0),
        (-30i32..30).prop_map(|e| 10f64.powi(e)),
    ];
    (x, 0usize..6, 1usize..8, any::<bool>()).prop_map(|(x, form, digits, plus)| {
        let mut text = match form {
            0 => format!("{x:e}"),
            1 => format!("{x:E}"),
            2 => format!("{x:.digits$}"),
            3 => format!("{x:.digits$e}"),
            4 => format!("{x:?}"),
            _ => format!("{x:.digits$}").trim_end_matches('0').to_string() + "0",
        };
        if plus && !text.starts_with('-') {
            text.insert(0, '+');
        }
        let value = text.parse::<f64>().expect("a float literal");
        let v = Float::written(value, &text).unwrap_or(Float::new(value));
        (text, Value::Float(v))
    })
}

/// One `[grid]` axis.
#[derive(Debug, Clone)]
enum GenAxis {
    List(Vec<Value>),
    /// `step` None: the default step 1.
    IntRange {
        start: i64,
        step: Option<i64>,
        len: u64,
        /// How far past the last value `stop` lies, in `1..=|step|`.
        over: i64,
    },
    /// start = a/4, step = b/4: exact in binary, so the expected length is exact too.
    FloatRange {
        a: i32,
        b: i32,
        len: u64,
        half: bool,
    },
    Linspace(f64, f64, u64),
    Logspace(f64, f64, u64),
}

impl GenAxis {
    fn len(&self) -> u64 {
        match self {
            GenAxis::List(v) => v.len() as u64,
            GenAxis::IntRange { len, .. }
            | GenAxis::FloatRange { len, .. }
            | GenAxis::Linspace(_, _, len)
            | GenAxis::Logspace(_, _, len) => *len,
        }
    }

    /// Every value, when it can be told without redoing the parser's float arithmetic.
    fn values(&self) -> Option<Vec<Value>> {
        match self {
            GenAxis::List(v) => Some(v.clone()),
            GenAxis::IntRange {
                start, step, len, ..
            } => Some(
                (0..*len as i64)
                    .map(|j| Value::Int(start + j * step.unwrap_or(1)))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The interval every value of a computed float axis lies in.
    fn bounds(&self) -> Option<(f64, f64)> {
        let (a, b) = match self {
            GenAxis::FloatRange { a, b, len, .. } => {
                let start = f64::from(*a) / 4.0;
                (start, start + (*len as f64 - 1.0) * f64::from(*b) / 4.0)
            }
            GenAxis::Linspace(lo, hi, _) | GenAxis::Logspace(lo, hi, _) => (*lo, *hi),
            _ => return None,
        };
        Some((a.min(b), a.max(b)))
    }

    fn toml(&self) -> String {
        match self {
            GenAxis::List(v) => {
                let items: Vec<String> = v.iter().map(toml_value).collect();
                format!("[{}]", items.join(", "))
            }
            GenAxis::IntRange {
                start,
                step,
                len,
                over,
            } => {
                let s = step.unwrap_or(1);
                let stop = start + (*len as i64 - 1) * s + s.signum() * over;
                match step {
                    None => format!("{{ start = {start}, stop = {stop} }}"),
                    Some(s) => format!("{{ start = {start}, stop = {stop}, step = {s} }}"),
                }
            }
            GenAxis::FloatRange { a, b, len, half } => {
                let start = f64::from(*a) / 4.0;
                let step = f64::from(*b) / 4.0;
                let stop = if *half {
                    start + (*len as f64 - 0.5) * step
                } else {
                    start + *len as f64 * step
                };
                format!(
                    "{{ start = {}, stop = {}, step = {} }}",
                    toml_float(start),
                    toml_float(stop),
                    toml_float(step)
                )
            }
            GenAxis::Linspace(lo, hi, n) => {
                format!(
                    "{{ linspace = [{}, {}, {n}] }}",
                    toml_float(*lo),
                    toml_float(*hi)
                )
            }
            GenAxis::Logspace(lo, hi, n) => {
                format!(
                    "{{ logspace = [{}, {}, {n}] }}",
                    toml_float(*lo),
                    toml_float(*hi)
                )
            }
        }
    }
}

fn gen_axis() -> impl Strategy<Value = GenAxis> {
    let int_range = (
        prop_oneof![
            -1000i64..1000,
            Just(i64::MIN),
            Just(i64::MAX - 20),
            Just(i64::MIN + 20)
        ],
        proptest::option::of(prop_oneof![1i64..5, -5i64..-1]),
        1u64..7,
        any::<Index>(),
    )
        .prop_map(|(start, step, len, over)| {
            let s = step.unwrap_or(1);
            let over = over.index(s.unsigned_abs() as usize) as i64 + 1;
            // Keep every value and `stop` inside i64; otherwise count up from 0.
            let stop = i128::from(start)
                + (len as i128 - 1) * i128::from(s)
                + i128::from(s.signum() * over);
            let start = if i64::try_from(stop).is_ok() {
                start
            } else {
                0
            };
            GenAxis::IntRange {
                start,
                step,
                len,
                over,
            }
        });
    let float_range = (
        -40i32..40,
        prop_oneof![1i32..9, -9i32..-1],
        1u64..7,
        any::<bool>(),
    )
        .prop_map(|(a, b, len, half)| GenAxis::FloatRange { a, b, len, half });
    let finite = prop_oneof![
        -100.0f64..100.0,
        (-8i32..8).prop_map(|q| f64::from(q) / 4.0),
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
    ];
    let positive = prop_oneof![1e-12f64..1e12, Just(f64::MIN_POSITIVE), Just(f64::MAX)];
    prop_oneof![
        4 => prop::collection::vec(value(), 1..6).prop_map(GenAxis::List),
        2 => int_range,
        1 => float_range,
        // Ends too close for their values to differ after rounding are refused with n > 1
        // (points would repeat): those get one value.
        1 => (finite.clone(), finite, 1u64..7).prop_map(|(a, b, n)| {
            let parts = n.saturating_sub(1).max(1) as f64;
            let gap = (b / parts - a / parts).abs();
            let n = if gap > 0.0 && gap >= a.abs().max(b.abs()) * 1e-9 { n } else { 1 };
            GenAxis::Linspace(a, b, n)
        }),
        1 => (positive.clone(), positive, 1u64..7).prop_map(|(a, b, n)| {
            let parts = n.saturating_sub(1).max(1) as f64;
            let n = if (b.ln() - a.ln()).abs() / parts >= 1e-9 { n } else { 1 };
            GenAxis::Logspace(a, b, n)
        }),
    ]
}

/// A `[[zip]]` table: columns of equal length.
type GenZip = Vec<Vec<Value>>;

fn gen_zip() -> impl Strategy<Value = GenZip> {
    (1usize..4, 1usize..5).prop_flat_map(|(cols, len)| {
        prop::collection::vec(prop::collection::vec(value(), len..=len), cols..=cols)
    })
}

/// One `[[exclude]]` condition: a column (by Index over the columns with known values) and
/// values picked from it (by Index), or a value of its own; `list` writes them as a list.
type GenCond = (Index, Vec<Result<Index, Value>>, bool);

#[derive(Debug, Clone)]
struct GenGrid {
    axes: Vec<GenAxis>,
    zips: Vec<GenZip>,
    excludes: Vec<Vec<GenCond>>,
    repeats: u32,
    /// `[sample] n` as a share of the grid, and the seed.
    sample: Option<(Index, u64)>,
    /// Random stems; `_<column>` is appended so names are distinct and never built-ins.
    stems: Vec<String>,
}

fn gen_grid() -> impl Strategy<Value = GenGrid> {
    let cond = (
        any::<Index>(),
        prop::collection::vec(
            prop_oneof![
                3 => any::<Index>().prop_map(Ok),
                1 => value().prop_map(Err),
            ],
            1..4,
        ),
        any::<bool>(),
    );
    (
        prop::collection::vec(gen_axis(), 0..5),
        prop::collection::vec(gen_zip(), 0..3),
        prop::collection::vec(prop::collection::vec(cond, 1..3), 0..3),
        prop_oneof![3 => Just(1u32), 1 => 2u32..4],
        proptest::option::weighted(0.2, (any::<Index>(), any::<u64>())),
        prop::collection::vec("[a-zA-Z_][a-zA-Z0-9_]{0,6}", 16),
    )
        .prop_map(|(mut axes, mut zips, excludes, repeats, sample, stems)| {
            // At most 10,000 points: drop axes from the end until the grid is that small.
            let size = |a: &[GenAxis], z: &[GenZip]| {
                a.iter().map(GenAxis::len).product::<u64>()
                    * z.iter().map(|z| z[0].len() as u64).product::<u64>()
                    * u64::from(repeats)
            };
            while size(&axes, &zips) > 10_000 {
                if zips.pop().is_none() {
                    axes.pop();
                }
            }
            GenGrid {
                axes,
                zips,
                excludes,
                repeats,
                sample,
                stems,
            }
        })
}

/// A column of the generated grid: its name and, when known, the value at each position of
/// its axis.
struct Column {
    name: String,
    /// Index into the axes of the product (grid axes, then one per zip).
    axis: usize,
    values: Option<Vec<Value>>,
    /// For computed float axes: the interval their values lie in.
    bounds: Option<(f64, f64)>,
}

impl GenGrid {
    fn columns(&self) -> Vec<Column> {
        let mut cols = Vec::new();
        for (k, a) in self.axes.iter().enumerate() {
            cols.push(Column {
                name: String::new(),
                axis: k,
                values: a.values(),
                bounds: a.bounds(),
            });
        }
        for (zi, z) in self.zips.iter().enumerate() {
            for c in z {
                cols.push(Column {
                    name: String::new(),
                    axis: self.axes.len() + zi,
                    values: Some(c.clone()),
                    bounds: None,
                });
            }
        }
        for (i, c) in cols.iter_mut().enumerate() {
            c.name = format!("{}_{i}", self.stems[i % self.stems.len()]);
        }
        cols
    }

    /// Lengths of the product's axes.
    fn lens(&self) -> Vec<u64> {
        let mut l: Vec<u64> = self.axes.iter().map(GenAxis::len).collect();
        l.extend(self.zips.iter().map(|z| z[0].len() as u64));
        l
    }

    /// The exclusions as (column, values) conditions.
    fn exclusions(&self, cols: &[Column]) -> Vec<Vec<(usize, Vec<Value>, bool)>> {
        let known: Vec<usize> = (0..cols.len())
            .filter(|&i| cols[i].values.is_some())
            .collect();
        if known.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for e in &self.excludes {
            let mut conds: Vec<(usize, Vec<Value>, bool)> = Vec::new();
            for (col, picks, list) in e {
                let c = known[col.index(known.len())];
                if conds.iter().any(|(x, _, _)| *x == c) {
                    continue;
                }
                let vals = cols[c].values.as_ref().expect("known");
                let mut values: Vec<Value> = picks
                    .iter()
                    .map(|p| match p {
                        Ok(i) => vals[i.index(vals.len())].clone(),
                        Err(v) => v.clone(),
                    })
                    .collect();
                if !list {
                    values.truncate(1);
                }
                conds.push((c, values, *list));
            }
            out.push(conds);
        }
        out
    }

    fn toml(&self, with_excludes: bool, with_sample: bool) -> String {
        let cols = self.columns();
        let mut s = String::from("name = \"fuzz\"\n");
        let placeholders: String = cols.iter().map(|c| format!(" {{{}}}", c.name)).collect();
        let _ = writeln!(
            s,
            "command = {}",
            toml_str(&format!("run{placeholders} {{index}}"))
        );
        if self.repeats > 1 {
            let _ = writeln!(s, "repeats = {}", self.repeats);
        }
        if !self.axes.is_empty() {
            s.push_str("[grid]\n");
            for (k, a) in self.axes.iter().enumerate() {
                let _ = writeln!(s, "{} = {}", cols[k].name, a.toml());
            }
        }
        let mut c = self.axes.len();
        for z in &self.zips {
            s.push_str("[[zip]]\n");
            for col in z {
                let items: Vec<String> = col.iter().map(toml_value).collect();
                let _ = writeln!(s, "{} = [{}]", cols[c].name, items.join(", "));
                c += 1;
            }
        }
        if with_excludes {
            for e in self.exclusions(&cols) {
                s.push_str("[[exclude]]\n");
                for (col, values, list) in e {
                    let v: Vec<String> = values.iter().map(toml_value).collect();
                    if list {
                        let _ = writeln!(s, "{} = [{}]", cols[col].name, v.join(", "));
                    } else {
                        let _ = writeln!(s, "{} = {}", cols[col].name, v[0]);
                    }
                }
            }
        }
        if with_sample && let Some((share, seed)) = &self.sample {
            let product: u64 = self.lens().iter().product();
            let n = share.index(product as usize) + 1;
            let _ = write!(s, "[sample]\nn = {n}\nseed = {}\n", seed >> 1);
        }
        s
    }
}

/// Numbers compare by value in exclusions: `2` matches `2.0`, `0.00001` matches `1e-5`.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => {
            *x as f64 == y.value()
        }
        (Value::Float(x), Value::Float(y)) => x.value() == y.value(),
        _ => a == b,
    }
}

fn load(src: &str) -> Result<Spec, TestCaseError> {
    Spec::from_toml(src, Path::new(PATH))
        .map_err(|e| TestCaseError::fail(format!("{e}\nin:\n{src}")))
}

/// count() against the points, dense indices, column order.
fn check_points(spec: &Spec) -> Result<Vec<Point>, TestCaseError> {
    let names = spec.param_names();
    let points: Vec<Point> = spec.points().collect();
    prop_assert_eq!(spec.count(), points.len() as u64);
    for (i, p) in points.iter().enumerate() {
        prop_assert_eq!(p.index, i as u64);
        prop_assert_eq!(p.params.len(), names.len());
        for ((n, _), want) in p.params.iter().zip(&names) {
            prop_assert_eq!(n, want);
        }
    }
    Ok(points)
}

/// A distribution axis (only valid with `[sample]`).
#[derive(Debug, Clone)]
enum GenDist {
    Uniform(f64, f64),
    LogUniform(f64, f64),
    Choice(Vec<Value>),
    RandInt(i64, i64),
}

impl GenDist {
    fn toml(&self) -> String {
        match self {
            GenDist::Uniform(a, b) => {
                format!("{{ uniform = [{}, {}] }}", toml_float(*a), toml_float(*b))
            }
            GenDist::LogUniform(a, b) => {
                format!(
                    "{{ loguniform = [{}, {}] }}",
                    toml_float(*a),
                    toml_float(*b)
                )
            }
            GenDist::Choice(v) => {
                let items: Vec<String> = v.iter().map(toml_value).collect();
                format!("{{ choice = [{}] }}", items.join(", "))
            }
            GenDist::RandInt(a, b) => format!("{{ randint = [{a}, {b}] }}"),
        }
    }

    /// Whether `v` is a value this distribution can give.
    fn allows(&self, v: &Value) -> bool {
        // Draws are rounded to 12 significant digits, then clamped into the interval.
        let within = |x: &f64, lo: &f64, hi: &f64| x.is_finite() && lo <= x && x <= hi;
        match (self, v) {
            (GenDist::Uniform(lo, hi) | GenDist::LogUniform(lo, hi), Value::Float(x)) => {
                within(x, lo, hi)
            }
            (GenDist::Choice(values), v) => values.contains(v),
            (GenDist::RandInt(lo, hi), Value::Int(i)) => lo <= i && i <= hi,
            _ => false,
        }
    }
}

fn ordered_pair(s: impl Strategy<Value = f64> + Clone) -> impl Strategy<Value = (f64, f64)> {
    (s.clone(), s).prop_filter_map("low < high", |(a, b)| {
        (a != b).then_some(if a < b { (a, b) } else { (b, a) })
    })
}

fn gen_dist() -> impl Strategy<Value = GenDist> {
    let finite = prop_oneof![
        -100.0f64..100.0,
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
        Just(f64::MAX),
        Just(-f64::MAX),
    ];
    let positive = prop_oneof![1e-12f64..1e12, Just(f64::MIN_POSITIVE), Just(f64::MAX)];
    prop_oneof![
        ordered_pair(finite).prop_map(|(a, b)| GenDist::Uniform(a, b)),
        ordered_pair(positive).prop_map(|(a, b)| GenDist::LogUniform(a, b)),
        prop::collection::vec(value(), 1..5).prop_map(GenDist::Choice),
        (any::<i64>(), any::<i64>()).prop_map(|(a, b)| GenDist::RandInt(a.min(b), a.max(b))),
    ]
}

proptest! {
    #![proptest_config(config(1000))]

    /// Sampled distributions give `n` draws, each one a value the distribution allows.
    #[test]
    fn sampled_distributions_stay_in_bounds(
        dists in prop::collection::vec(gen_dist(), 1..4),
        list in proptest::option::of(prop::collection::vec(value(), 1..4)),
        n in 1u64..200,
        seed in 0u64..1000,
    ) {
        let mut src = String::from("name = \"fuzz\"\ncommand = \"run\"\n[grid]\n");
        for (i, d) in dists.iter().enumerate() {
            let _ = writeln!(src, "d{i} = {}", d.toml());
        }
        if let Some(l) = &list {
            let items: Vec<String> = l.iter().map(toml_value).collect();
            let _ = writeln!(src, "l = [{}]", items.join(", "));
        }
        let _ = write!(src, "[sample]\nn = {n}\nseed = {seed}\n");
        let spec = load(&src)?;
        let points = check_points(&spec)?;
        prop_assert_eq!(points.len() as u64, n);
        for p in &points {
            for (d, (name, v)) in dists.iter().zip(&p.params) {
                prop_assert!(d.allows(v), "{}: {:?} from {:?}\n{}", name, v, d, src);
            }
            if let Some(l) = &list {
                prop_assert!(l.contains(&p.params[dists.len()].1));
            }
        }
        // Draws over a wide interval are spread out, not stuck at one value (an end).
        for (k, d) in dists.iter().enumerate() {
            if let GenDist::Uniform(lo, hi) | GenDist::LogUniform(lo, hi) = d {
                let wide = hi / 2.0 - lo / 2.0 > 5e-7 * lo.abs().max(hi.abs());
                let first = &points[0].params[k].1;
                if wide && n >= 10 {
                    prop_assert!(
                        points.iter().any(|p| &p.params[k].1 != first),
                        "{:?}: every one of {} draws is {:?}\n{}", d, n, first, src
                    );
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn spec_holds_on_arbitrary_text(
        src in prop_oneof![
            "(?s).{0,300}",
            prop::collection::vec(token(), 0..80).prop_map(|v| v.concat()),
        ]
    ) {
        check_any(&src)?;
    }

    #[test]
    fn spec_holds_on_mutated_sweep_files(
        which in any::<Index>(),
        ops in prop::collection::vec(mutation(), 1..8),
    ) {
        let text = &SWEEP_FILES[which.index(SWEEP_FILES.len())];
        check_any(&mutate(text, &ops))?;
    }

    /// Valid grids expand to what they describe.
    #[test]
    fn generated_grids_expand_exactly(g in gen_grid()) {
        let cols = g.columns();
        let lens = g.lens();
        let product: u64 = lens.iter().product();
        let repeats = u64::from(g.repeats);

        // The whole grid: the product of the axis lengths, in odometer order (last axis
        // fastest), each row `repeats` times.
        let plain = g.toml(false, false);
        let spec = load(&plain)?;
        let mut names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
        if g.repeats > 1 {
            names.push("repeat".to_string());
        }
        prop_assert_eq!(spec.param_names(), names);
        prop_assert_eq!(spec.count(), product * repeats, "{}", plain);
        let all = check_points(&spec)?;
        for p in &all {
            let (mut pos, rep) = (p.index / repeats, p.index % repeats);
            let mut digits = vec![0; lens.len()];
            for k in (0..lens.len()).rev() {
                digits[k] = pos % lens[k];
                pos /= lens[k];
            }
            for (c, (_, v)) in cols.iter().zip(&p.params) {
                if let Some((lo, hi)) = c.bounds {
                    // Values are rounded to 12 significant digits: allow that much.
                    let Value::Float(x) = v else {
                        return Err(TestCaseError::fail(format!("{}: {v:?} is no float", c.name)));
                    };
                    let tol = lo.abs().max(hi.abs()) * 1e-11;
                    prop_assert!(
                        x.is_finite() && x.value() >= lo - tol && x.value() <= hi + tol,
                        "{}: {} outside [{}, {}]\n{}", c.name, x, lo, hi, plain
                    );
                }
                if let Some(values) = &c.values {
                    let want = &values[digits[c.axis] as usize];
                    prop_assert!(v == want, "{}: {:?} at {}, want {:?}\n{}", c.name, v, p.index, want, plain);
                }
            }
            if g.repeats > 1 {
                prop_assert_eq!(&p.params.last().expect("repeat").1, &Value::Int(rep as i64));
            }
        }

        // Exclusions drop exactly the matching rows and keep the order.
        let conds = g.exclusions(&cols);
        if !conds.is_empty() {
            let src = g.toml(true, false);
            let excluded = |p: &Point| {
                conds.iter().any(|e| {
                    e.iter().all(|(c, values, _)| values.iter().any(|v| same_value(&p.params[*c].1, v)))
                })
            };
            let want: Vec<&Point> = all.iter().filter(|p| !excluded(p)).collect();
            match Spec::from_toml(&src, Path::new(PATH)) {
                Ok(spec) => {
                    let got = check_points(&spec)?;
                    prop_assert_eq!(got.len(), want.len(), "{}", src);
                    for (a, b) in got.iter().zip(&want) {
                        prop_assert_eq!(&a.params, &b.params);
                    }
                }
                Err(e) => {
                    check_error(&e, &src)?;
                    prop_assert!(want.is_empty(), "refused: {e}\n{src}");
                    prop_assert_eq!(e.field.as_deref(), Some("exclude"));
                }
            }
        }

        // Sampling picks n of the points, in their order.
        if g.sample.is_some() {
            let src = g.toml(false, true);
            let spec = load(&src)?;
            let got = check_points(&spec)?;
            let n = src.rsplit_once("n = ").and_then(|(_, r)| r.lines().next()?.parse::<u64>().ok());
            prop_assert_eq!(Some(got.len() as u64), n.map(|n| n * repeats), "{}", src);
            let mut rest = all.iter();
            for p in &got {
                prop_assert!(rest.any(|q| q.params == p.params), "{:?} not in order\n{}", p, src);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// #BSUB lines: what the spec accepts, LSF reads back as written

/// The next whitespace-delimited word of `line` (lib.words.c `getNextWord_`; C `isspace`).
fn lsf_word<'a>(line: &mut &'a str) -> Option<&'a str> {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r');
    let rest = line.trim_start_matches(is_space);
    let end = rest.find(is_space).unwrap_or(rest.len());
    *line = &rest[end..];
    (end > 0).then(|| &rest[..end])
}

/// lib.words.c `getNextValueQ_(line, q, q)`: a word, or the words between a pair of `q` joined
/// by single spaces. `None` at the end of the line or for an unpaired quote.
fn lsf_value(line: &mut &str, q: char) -> Option<String> {
    let sp = lsf_word(line)?;
    let Some(rest) = sp.strip_prefix(q) else {
        return Some(sp.to_string());
    };
    let mut value = if rest.is_empty() {
        lsf_word(line)?.to_string()
    } else {
        rest.to_string()
    };
    if let Some(i) = value.find(q) {
        value.truncate(i);
        return Some(value);
    }
    while let Some(w) = lsf_word(line) {
        if w.len() == q.len_utf8() && w.starts_with(q) {
            return Some(value);
        }
        value.push(' ');
        value.push_str(w);
        if let Some(i) = value.rfind(q) {
            value.truncate(i);
            return Some(value);
        }
    }
    None
}

/// The options OpenLava's bsub reads from one script line (lsbatch/cmd/cmd.sub.c `parseLine`):
/// `None` when it is not a `#BSUB` line.
fn lsf_bsub_line(line: &str) -> Option<Vec<String>> {
    let mut rest = line
        .trim_start()
        .strip_prefix('#')?
        .trim_start()
        .strip_prefix("BSUB")?;
    rest = rest.trim_start();
    if !rest.starts_with('-') {
        return Some(Vec::new());
    }
    let mut words = Vec::new();
    loop {
        // The quote is `'` when one comes before any `"` on the rest of the line.
        let q = match (rest.find('\''), rest.find('"')) {
            (Some(s), None) => Some(s).map(|_| '\''),
            (Some(s), Some(d)) if s < d => Some('\''),
            _ => Some('"'),
        }
        .unwrap_or('"');
        let Some(w) = lsf_value(&mut rest, q) else {
            return Some(words);
        };
        if w.starts_with('#') {
            return Some(words);
        }
        words.push(w);
    }
}

#[test]
fn lsf_line_reader_agrees_with_the_openlava_source_on_known_lines() {
    let read = |l: &str| lsf_bsub_line(l).unwrap();
    assert_eq!(read("#BSUB -R \"span[hosts=1]\""), ["-R", "span[hosts=1]"]);
    assert_eq!(read("#BSUB -R \"a  b\"   # note"), ["-R", "a b"]);
    assert_eq!(read("#BSUB -Jd 'my run'"), ["-Jd", "my run"]);
    // The injection the spec now refuses: a quote inside a double-quoted value ends it.
    assert_eq!(
        read("#BSUB -R \"span[hosts=1]\" -q evil\""),
        ["-R", "span[hosts=1]", "-q", "evil\""]
    );
    assert_eq!(read("#BSUB -q #x"), ["-q"]);
    assert_eq!(lsf_bsub_line("# bsweep: a comment"), None);
}

/// Text with everything that is special on a `#BSUB` line.
fn bsub_text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        6 => prop::sample::select(vec!['a', 'b', '1', '=', '[', ']', ':', '-', '.', '/']),
        2 => Just(' '),
        1 => prop::sample::select(vec![
            '"', '\'', '#', '\\', '%', '$', ';', '\n', '\r', '\t', '\u{1b}', '\u{85}', 'é', '\u{a0}',
        ]),
    ];
    prop::collection::vec(c, 0..16).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(config(2000))]

    /// Whatever value the spec accepts for an option that becomes a `#BSUB` line is read back by
    /// LSF as that one option with that value (LSF joins words with single spaces); nothing else
    /// on the line becomes an option.
    #[test]
    fn accepted_bsub_values_read_back_as_one_option(
        which in 0usize..6,
        value in bsub_text(),
    ) {
        let (table, key, opt) = [
            ("[lsf]", "resources", "-R"),
            ("[lsf]", "gpu", "-gpu"),
            ("[lsf]", "queue", "-q"),
            ("[lsf]", "hosts", "-m"),
            ("[[lsf.targets]]", "hosts", "-m"),
            ("[cluster]\nhost = \"h\"", "remote_dir", "-o"),
        ][which];
        let src = format!(
            "name = \"b\"\ncommand = \"echo\"\nbackend = \"lsf\"\n{table}\n{key} = {}\n",
            toml_str(&value)
        );
        let spec = match Spec::from_toml(&src, Path::new(PATH)) {
            Ok(s) => s,
            Err(e) => return check_error(&e, &src),
        };
        // The sweep's directory as `launch` resolves it: `~` and relative forms under a home.
        let dir = match spec.cluster.as_ref().and_then(|c| c.remote_dir.clone()) {
            Some(d) if d.starts_with('/') => d,
            Some(d) => format!("/home/u/{}", d.trim_start_matches('~').trim_start_matches('/')),
            None => "/home/u/.bsweep".to_string(),
        };
        let out_dir = PathBuf::from(format!("{dir}/b/out/00000"));
        let point = spec.points().next().expect("one point");
        let script = bsweep::sched::Dialect::Lsf.job_script(
            &spec,
            &bsweep::sched::script::Job {
                sweep_name: "b",
                sweep_id: "abc123",
                job_name: "bsw-abc123-00000-1",
                attempt: 1,
                point: &point,
                out_dir: &out_dir,
                target: &spec.lsf.targets[0],
                workdir_base: None,
                overrides: &bsweep::model::Overrides::default(),
            },
        );
        let collapse = |s: &str| s.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
        let want = if opt == "-o" {
            format!("{}/stdout.txt", out_dir.display())
        } else {
            collapse(&value)
        };
        let mut seen = false;
        for line in script.lines().filter(|l| l.starts_with("#BSUB")) {
            let words = lsf_bsub_line(line).expect("a #BSUB line");
            prop_assert_eq!(words.len(), 2, "{:?} reads as {:?}\n{}", line, words, src);
            if words[0] == opt {
                prop_assert_eq!(&words[1], &want, "{:?}\n{}", line, src);
                seen = true;
            }
        }
        prop_assert!(seen, "no {} line in\n{}", opt, script);
    }
}
