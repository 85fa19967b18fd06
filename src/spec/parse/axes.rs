//! The grid part of a sweep file: `[grid]` axes, `[[zip]]` groups, `[[exclude]]` and `[sample]`.

use toml::Spanned;
use toml::de::DeValue;

use super::keys::{AXIS_FORMS, RANGE_KEYS, SAMPLE_KEYS};
use super::{Cx, Res, Tbl, Val, array_of_tables, count_of, join};
use crate::spec::Value;
use crate::spec::grid::{Axis, Dist, Exclude, Finite, Grid, GridError, SampleOpts};
use crate::spec::template;

/// Most values of a linspace or logspace (and points of a sample).
const MAX_SPACE_LEN: i64 = 1_000_000_000;

/// Smallest gap between neighbouring computed floats, relative to the magnitude of the axis:
/// computed values are rounded to 12 significant digits, and neighbours closer than this could
/// round to the same value (the same point twice).
const MIN_RELATIVE_STEP: f64 = 1e-10;

fn is_param_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The axes, exclusions and sampling of a file, checked but not yet expanded.
pub(super) struct GridParts {
    axes: Vec<Axis>,
    pub(super) names: Vec<String>,
    excludes: Vec<Exclude>,
    sample: Option<SampleOpts>,
    /// Where to point errors about the whole grid, about exclusions, and about `sample.n`.
    grid_at: usize,
    exclude_at: usize,
    n_at: usize,
}

impl GridParts {
    pub(super) fn build(self, cx: &Cx<'_>, repeats: u32) -> Res<Grid> {
        let (grid_at, exclude_at, n_at) = (self.grid_at, self.exclude_at, self.n_at);
        let asked = self.sample.map_or(0, |s| s.n);
        let after = if self.excludes.is_empty() {
            ""
        } else {
            " after exclusions"
        };
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
                    "asks for {} but the grid has only {}{after}; lower n, or remove [sample] \
                     to run every point",
                    count_of(asked, "point", "points"),
                    count_of(available, "point", "points")
                ),
            ),
            GridError::DrawsExhausted { kept, tries } => cx.err(
                exclude_at,
                "exclude",
                format!(
                    "only {kept} of {} passed the [[exclude]] tables in {}; loosen the \
                     exclusions or lower sample.n",
                    count_of(asked, "requested draw", "requested draws"),
                    count_of(tries, "try", "tries")
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

pub(super) fn parse_grid(cx: &Cx<'_>, root: Tbl<'_, '_>) -> Res<GridParts> {
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
        let (sample, n_at) = parse_sample(cx, v)?;
        parts.sample = Some(sample);
        parts.n_at = n_at;
    }
    let mut defined: Vec<Defined> = Vec::new();
    if let Some(v) = root.get("grid") {
        parse_grid_axes(cx, v, &mut parts, &mut defined)?;
    }
    if let Some(v) = root.get("zip") {
        let groups = array_of_tables(cx, v, "zip", "[[zip]] model = [\"small\", \"large\"]")?;
        for (gi, g) in groups.iter().enumerate() {
            parse_zip(cx, g, &format!("zip[{gi}]"), &mut parts, &mut defined)?;
        }
    }
    if let Some(v) = root.get("exclude") {
        let tables = array_of_tables(cx, v, "exclude", "[[exclude]] model = \"large\"")?;
        if let Some(first) = tables.first() {
            parts.exclude_at = first.span().start;
        }
        for (ei, e) in tables.iter().enumerate() {
            let exclude = parse_exclude(cx, e, &format!("exclude[{ei}]"), &parts.names)?;
            parts.excludes.push(exclude);
        }
    }
    Ok(parts)
}

/// `[sample]`: how many points to draw and the seed, with where `n` is for later errors.
fn parse_sample(cx: &Cx<'_>, v: &Val<'_>) -> Res<(SampleOpts, usize)> {
    let tb = cx.table(v, "sample", SAMPLE_KEYS, "[sample] n = 20")?;
    let n_v = tb.get("n").ok_or_else(|| cx.missing(tb, "n", "n = 20"))?;
    let n = cx.int_in(n_v, "sample.n", 1, MAX_SPACE_LEN, "n = 20")?;
    let seed = match tb.get("seed") {
        None => 0,
        Some(s) => cx.int_in(s, "sample.seed", 0, i64::MAX, "seed = 42")?,
    };
    Ok((SampleOpts { n, seed }, n_v.span().start))
}

/// Records a parameter as defined, for later duplicate checks and the list of names.
fn define(
    cx: &Cx<'_>,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    parts: &mut GridParts,
    defined: &mut Vec<Defined>,
) {
    defined.push(Defined {
        name: key.get_ref().to_string(),
        line: cx.line_col(key.span().start).0,
    });
    parts.names.push(key.get_ref().to_string());
}

/// The `[grid]` table: one independent axis per key.
fn parse_grid_axes(
    cx: &Cx<'_>,
    v: &Val<'_>,
    parts: &mut GridParts,
    defined: &mut Vec<Defined>,
) -> Res<()> {
    let DeValue::Table(t) = v.get_ref() else {
        return Err(cx.wrong_type(v, "grid", "a table", "[grid] lr = [0.1, 0.01]"));
    };
    parts.grid_at = v.span().start;
    for (k, av) in t.iter() {
        let field = join("grid", k.get_ref());
        check_name(cx, defined, k, &field)?;
        let axis = parse_axis(cx, av, &field)?;
        if matches!(axis, Axis::Dist(_)) && parts.sample.is_none() {
            return Err(cx.err(
                av.span().start,
                &field,
                "a distribution axis needs random sampling; add a [sample] table with n = \
                 <points>, or use a list or range",
            ));
        }
        define(cx, k, parts, defined);
        parts.axes.push(axis);
    }
    Ok(())
}

/// One `[[zip]]` table: lists of equal length that vary together as one axis.
fn parse_zip(
    cx: &Cx<'_>,
    g: &Val<'_>,
    gfield: &str,
    parts: &mut GridParts,
    defined: &mut Vec<Defined>,
) -> Res<()> {
    let DeValue::Table(t) = g.get_ref() else {
        return Err(cx.wrong_type(g, gfield, "a table", "[[zip]] a = [1, 2]"));
    };
    if t.is_empty() {
        return Err(cx.err(
            g.span().start,
            gfield,
            "is empty; give it parameters with lists of equal length, or remove it",
        ));
    }
    let mut columns: Vec<Vec<Value>> = Vec::new();
    let mut first: Option<(String, usize)> = None;
    for (k, lv) in t.iter() {
        let field = format!("{gfield}.{}", k.get_ref());
        check_name(cx, defined, k, &field)?;
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
        define(cx, k, parts, defined);
        columns.push(values);
    }
    // Columns to rows: one row per position of the zipped axis.
    let len = columns.first().map_or(0, Vec::len);
    let rows = (0..len)
        .map(|i| columns.iter().map(|c| c[i].clone()).collect())
        .collect();
    parts.axes.push(Axis::Zip(rows));
    Ok(())
}

/// One `[[exclude]]` table: parameter = value (or list of values) pairs that drop a point.
fn parse_exclude(cx: &Cx<'_>, e: &Val<'_>, efield: &str, names: &[String]) -> Res<Exclude> {
    let DeValue::Table(t) = e.get_ref() else {
        return Err(cx.wrong_type(e, efield, "a table", "[[exclude]] model = \"large\""));
    };
    if t.is_empty() {
        return Err(cx.err(
            e.span().start,
            efield,
            "is empty and would remove every point; give it parameter = value pairs, or \
             remove it",
        ));
    }
    let mut conds = Vec::new();
    for (k, xv) in t.iter() {
        let key: &str = k.get_ref();
        let field = format!("{efield}.{key}");
        let Some(col) = names.iter().position(|n| n == key) else {
            return Err(cx.err(
                k.span().start,
                &field,
                format!(
                    "`{key}` is not a parameter; exclude keys must be [grid] or [[zip]] \
                     parameters: {}",
                    if names.is_empty() {
                        "(none defined)".to_string()
                    } else {
                        names.join(", ")
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
    Ok(Exclude { conds })
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
    let is_range = RANGE_KEYS.iter().any(|k| t.contains_key(*k));
    if is_range {
        cx.check_keys(tb, RANGE_KEYS)?;
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
    let f = Form {
        cx,
        v: fv,
        field: &ffield,
        at: fv.span().start,
    };
    match form {
        "linspace" | "logspace" => f.space(form == "linspace"),
        "uniform" => {
            let ex = "uniform = [0.8, 0.99]";
            let (lo, hi) = f.pair(ex)?;
            f.ordered(lo, hi, ex)?;
            Ok(Axis::Dist(Dist::Uniform(lo, hi)))
        }
        "loguniform" => {
            let ex = "loguniform = [1e-5, 1e-1]";
            let (lo, hi) = f.pair(ex)?;
            f.positive(lo, hi, "loguniform")?;
            f.ordered(lo, hi, ex)?;
            Ok(Axis::Dist(Dist::LogUniform(lo, hi)))
        }
        "choice" => Ok(Axis::Dist(Dist::Choice(cx.values(
            fv,
            &ffield,
            "choice = [\"adam\", \"sgd\"]",
        )?))),
        "randint" => f.randint(),
        other => Err(cx.err(
            k.span().start,
            &ffield,
            format!(
                "unknown axis form `{other}`; write a list of values, a range {{ start, stop, \
                 step }}, or one of: {}",
                AXIS_FORMS.join(", ")
            ),
        )),
    }
}

/// The value of one axis form (`uniform = [0.8, 0.99]`) and where it is, for the forms' checks.
struct Form<'f> {
    cx: &'f Cx<'f>,
    v: &'f Val<'f>,
    field: &'f str,
    at: usize,
}

impl Form<'_> {
    /// `[low, high]` as two numbers.
    fn pair(&self, ex: &str) -> Res<(f64, f64)> {
        let (cx, ffield) = (self.cx, self.field);
        let items = cx.list(self.v, ffield, ex)?;
        if items.len() != 2 {
            return Err(cx.err(
                self.at,
                ffield,
                format!("needs exactly 2 numbers [low, high]; write e.g. `{ex}`"),
            ));
        }
        Ok((
            cx.number(&items[0], &format!("{ffield}[0]"), ex)?,
            cx.number(&items[1], &format!("{ffield}[1]"), ex)?,
        ))
    }

    /// The low end strictly below the high end.
    fn ordered(&self, lo: f64, hi: f64, ex: &str) -> Res<()> {
        if lo >= hi {
            return Err(self.cx.err(
                self.at,
                self.field,
                format!("low end must be below the high end; write e.g. `{ex}`"),
            ));
        }
        Ok(())
    }

    /// Both ends above 0, as a logarithmic form needs.
    fn positive(&self, lo: f64, hi: f64, what: &str) -> Res<()> {
        if lo <= 0.0 || hi <= 0.0 {
            return Err(self.cx.err(
                self.at,
                self.field,
                format!("{what} needs both ends greater than 0; use linspace/uniform for ranges that include 0 or negatives"),
            ));
        }
        Ok(())
    }

    /// `linspace`/`logspace = [first, last, n]` (`linear` for linspace).
    fn space(&self, linear: bool) -> Res<Axis> {
        let (cx, ffield) = (self.cx, self.field);
        let ex = if linear {
            "linspace = [0.0, 1.0, 5]"
        } else {
            "logspace = [1e-5, 1e-1, 5]"
        };
        let items = cx.list(self.v, ffield, ex)?;
        if items.len() != 3 {
            return Err(cx.err(
                self.at,
                ffield,
                format!("needs exactly [first, last, n]; write e.g. `{ex}`"),
            ));
        }
        let lo = cx.number(&items[0], &format!("{ffield}[0]"), ex)?;
        let hi = cx.number(&items[1], &format!("{ffield}[1]"), ex)?;
        let len: u64 = cx.int_in(&items[2], &format!("{ffield}[2]"), 1, MAX_SPACE_LEN, ex)?;
        if !linear {
            self.positive(lo, hi, "logspace")?;
        }
        if len > 1 {
            self.distinct(lo, hi, len, linear)?;
        }
        if linear {
            Ok(Axis::Finite(Finite::Linspace { lo, hi, len }))
        } else {
            Ok(Axis::Finite(Finite::Logspace { lo, hi, len }))
        }
    }

    /// The `len` (> 1) values of a linspace/logspace are all different once rounded.
    fn distinct(&self, lo: f64, hi: f64, len: u64, linear: bool) -> Res<()> {
        // The gap between neighbours: linear for linspace, a ratio for logspace.
        let (gap, scale) = if linear {
            let parts = (len - 1) as f64;
            let d = (hi - lo) / parts;
            let d = if d.is_finite() {
                d
            } else {
                hi / parts - lo / parts
            };
            (d.abs(), lo.abs().max(hi.abs()))
        } else {
            ((hi.ln() - lo.ln()).abs() / (len - 1) as f64, 1.0)
        };
        if lo == hi {
            return Err(self.cx.err(
                self.at,
                self.field,
                format!(
                    "has the same value at both ends, so all {len} values would be {} \
                     (the same point {len} times); give different ends, or n = 1",
                    Value::from(lo)
                ),
            ));
        }
        if gap < scale * MIN_RELATIVE_STEP {
            return Err(self.cx.err(
                self.at,
                self.field,
                format!(
                    "gives {len} values too close together to tell apart (bsweep rounds \
                     computed values to 12 significant digits), so points would repeat; \
                     spread the ends further apart or use fewer values"
                ),
            ));
        }
        Ok(())
    }

    /// `randint = [low, high]`: two integers, both included.
    fn randint(&self) -> Res<Axis> {
        let (cx, ffield) = (self.cx, self.field);
        let ex = "randint = [1, 10]";
        let items = cx.list(self.v, ffield, ex)?;
        if items.len() != 2 {
            return Err(cx.err(
                self.at,
                ffield,
                format!("needs exactly 2 integers [low, high] (both included); write e.g. `{ex}`"),
            ));
        }
        let lo = cx.int(&items[0], &format!("{ffield}[0]"), ex)?;
        let hi = cx.int(&items[1], &format!("{ffield}[1]"), ex)?;
        if lo > hi {
            return Err(cx.err(
                self.at,
                ffield,
                format!("low end must not exceed the high end; write e.g. `{ex}`"),
            ));
        }
        Ok(Axis::Dist(Dist::RandInt(lo, hi)))
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
        let scale = start.abs().max(stop.abs());
        if step.abs() < scale * MIN_RELATIVE_STEP {
            return Err(cx.err(
                step_v.map_or(tb.at, |v| v.span().start),
                &tb.sub("step"),
                format!(
                    "step {step:?} is too small for values as large as {scale:?}: bsweep rounds \
                     computed values to 12 significant digits, so neighbours would be the same \
                     value; use a step of at least {:.1e}",
                    scale * MIN_RELATIVE_STEP * 1.05
                ),
            ));
        }
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
