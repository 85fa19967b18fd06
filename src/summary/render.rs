//! The summary as a terminal table, as JSON and as CSV.

use serde_json::{Map, Value as Json, json};

use super::{Stats, Summary, SummaryError};
use crate::spec::Value;

/// `x` with `sig` significant digits and no trailing zeros (`0.9123`, `3`, `1.2e-5`):
/// scientific below 1e-4 and from 1e6 on.
pub fn fmt_sig(x: f64, sig: usize) -> String {
    if !x.is_finite() || x == 0.0 {
        return if x == 0.0 { "0".into() } else { x.to_string() };
    }
    let sig = sig.max(1);
    let e = x.abs().log10().floor() as i32;
    if (-4..6).contains(&e) {
        let dec = (sig as i32 - 1 - e).max(0) as usize;
        trim_zeros(format!("{x:.dec$}"))
    } else {
        sci(x, sig)
    }
}

/// Scientific notation with `sig` significant digits, trailing zeros of the mantissa dropped.
fn sci(x: f64, sig: usize) -> String {
    let s = format!("{:.*e}", sig.saturating_sub(1), x);
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{e}", trim_zeros(m.to_string())),
        None => s,
    }
}

fn trim_zeros(s: String) -> String {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A mean and its standard deviation, the deviation to two significant digits and the mean to
/// the same decimal place (`0.9123 ± 0.0041`, `12346 ± 235`); the mean alone to four digits
/// when there is no deviation.
pub fn fmt_mean_std(mean: f64, std: Option<f64>) -> String {
    match std {
        Some(s) if s > 0.0 && s.is_finite() && mean.is_finite() => {
            let dec = 1 - s.log10().floor() as i32;
            let big = mean.abs().max(s);
            if (0..=6).contains(&dec) && big < 1e9 {
                let dec = dec as usize;
                format!("{mean:.dec$} ± {s:.dec$}")
            } else if dec < 0 && big < 1e9 {
                format!("{mean:.0} ± {s:.0}")
            } else {
                format!("{} ± {}", sci(mean, 4), sci(s, 2))
            }
        }
        Some(0.0) => format!("{} ± 0", fmt_sig(mean, 4)),
        _ => fmt_sig(mean, 4),
    }
}

/// Counts characters, which is what a terminal shows for the text bsweep prints (no wide
/// characters are measured as two).
fn width_of(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `w` characters, the last one `…` when something was cut.
pub(crate) fn shorten(s: &str, w: usize) -> String {
    if width_of(s) <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(w - 1).collect();
    out.push('…');
    out
}

fn pad(s: &str, w: usize, right: bool) -> String {
    let fill = " ".repeat(w.saturating_sub(width_of(s)));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Always shown in full (marker, rank, counts, the primary metric).
    Fixed,
    /// A parameter: shortened with `…` when the table is too wide.
    Param,
    /// Another metric's mean: dropped, last first, when the table is too wide.
    Extra,
    /// The primary metric's interval and count: dropped after the other metrics.
    Detail,
}

struct Col {
    header: String,
    cells: Vec<String>,
    right: bool,
    kind: Kind,
}

impl Col {
    fn cells_width(&self) -> usize {
        self.cells.iter().map(|c| width_of(c)).max().unwrap_or(0)
    }

    /// How narrow a parameter column may get: numbers stay whole (`0.0…` would be another
    /// number), text down to [`MIN_PARAM`]; the header is shortened instead.
    fn min_width(&self) -> usize {
        if self.right {
            self.cells_width().max(1)
        } else {
            MIN_PARAM
        }
    }

    fn natural(&self) -> usize {
        self.cells
            .iter()
            .map(|c| width_of(c))
            .chain([width_of(&self.header)])
            .max()
            .unwrap_or(0)
    }
}

const GAP: &str = "  ";
/// A parameter column is never shortened below this.
const MIN_PARAM: usize = 4;

fn total(widths: &[usize]) -> usize {
    widths.iter().sum::<usize>() + GAP.len() * widths.len().saturating_sub(1)
}

fn value_text(v: &Value) -> String {
    v.to_string()
}

fn opt_sig(x: Option<f64>, sig: usize) -> String {
    x.map_or_else(|| "–".to_string(), |x| fmt_sig(x, sig))
}

/// The terminal table: one line per group (the first `top`), best marked `*` (and bold with
/// `color`), then each parameter's effect on the primary metric. Every line fits in `width`
/// characters: other metrics' columns go first, then parameter values are shortened with `…`.
pub fn table_text(s: &Summary, width: usize, color: bool) -> String {
    let width = width.max(20);
    let shown = if s.top == 0 {
        s.groups.len()
    } else {
        s.top.min(s.groups.len())
    };
    let groups = &s.groups[..shown];
    let mut out = vec![bold(&shorten(&heading(s), width), color)];

    let mut cols = group_cols(s, groups);
    cols.extend(metric_cols(s, groups));
    let (widths, dropped) = fit_cols(&mut cols, width);

    let line = |cells: Vec<&str>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(&cols)
            .zip(&widths)
            .map(|((c, col), &w)| pad(&shorten(c, w), w, col.right))
            .collect();
        // A table that still does not fit (very many parameters) is cut at the edge.
        shorten(parts.join(GAP).trim_end(), width)
    };
    out.push(line(cols.iter().map(|c| c.header.as_str()).collect()));
    for (r, g) in groups.iter().enumerate() {
        let text = line(cols.iter().map(|c| c.cells[r].as_str()).collect());
        let no_value = s.primary_stats(g).is_some_and(|st| st.mean.is_none());
        out.push(if g.best {
            bold(&text, color)
        } else if no_value {
            dim(&text, color)
        } else {
            text
        });
    }
    if groups.is_empty() {
        out.push("(no points)".into());
    }
    if shown < s.groups.len() {
        let more = s.groups.len() - shown;
        out.push(shorten(
            &format!(
                "… and {more} more group{}",
                if more == 1 { "" } else { "s" }
            ),
            width,
        ));
    }
    if !dropped.is_empty() {
        out.push(shorten(
            &format!("not shown for width: {}", dropped.join(", ")),
            width,
        ));
    }
    effects_text(s, width, &mut out);
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// The table's first line: the sweep, what ranks the groups, how many and over what, and how
/// far the sweep got.
fn heading(s: &Summary) -> String {
    let mut head = format!("{}: ", s.sweep);
    match (&s.metric, s.primary) {
        (Some(m), Some(_)) => head.push_str(&format!("{m} ({}), ", s.goal.as_str())),
        _ => head.push_str("no primary metric (grid order), "),
    }
    head.push_str(&format!(
        "{} group{}",
        s.groups.len(),
        if s.groups.len() == 1 { "" } else { "s" }
    ));
    if !s.over.is_empty() {
        head.push_str(&format!(" over {}", s.over.join(", ")));
    }
    head.push_str(&format!("; {} points, {} done", s.points, s.done));
    head
}

/// The columns that say which group a line is: the best marker, the rank (when ranked), the
/// grouping parameters and the done count.
fn group_cols(s: &Summary, groups: &[super::Group]) -> Vec<Col> {
    let mut cols = vec![Col {
        header: String::new(),
        cells: groups
            .iter()
            .map(|g| if g.best { "*" } else { " " }.to_string())
            .collect(),
        right: false,
        kind: Kind::Fixed,
    }];
    if s.primary.is_some() {
        cols.push(Col {
            header: "#".into(),
            cells: (1..=groups.len()).map(|i| i.to_string()).collect(),
            right: true,
            kind: Kind::Fixed,
        });
    }
    for (j, p) in s.params.iter().enumerate() {
        let cells: Vec<String> = groups.iter().map(|g| value_text(&g.params[j].1)).collect();
        let right = groups
            .iter()
            .all(|g| matches!(g.params[j].1, Value::Int(_) | Value::Float(_)));
        cols.push(Col {
            header: p.clone(),
            cells,
            right,
            kind: Kind::Param,
        });
    }
    cols.push(Col {
        header: "done".into(),
        cells: groups
            .iter()
            .map(|g| format!("{}/{}", g.n_done, g.n))
            .collect(),
        right: true,
        kind: Kind::Fixed,
    });
    cols
}

/// The metric columns: the primary metric's mean ± std, interval and count, then every other
/// metric's mean.
fn metric_cols(s: &Summary, groups: &[super::Group]) -> Vec<Col> {
    let mut cols = Vec::new();
    if let (Some(m), Some(name)) = (s.primary, &s.metric) {
        let stat = |g: &super::Group| g.metrics[m];
        cols.push(Col {
            header: format!("{name} (mean ± std)"),
            cells: groups
                .iter()
                .map(|g| {
                    let st = stat(g);
                    st.mean
                        .map_or_else(|| "–".to_string(), |x| fmt_mean_std(x, st.std))
                })
                .collect(),
            right: true,
            kind: Kind::Fixed,
        });
        cols.push(Col {
            header: "±95%".into(),
            cells: groups.iter().map(|g| opt_sig(stat(g).ci95, 2)).collect(),
            right: true,
            kind: Kind::Detail,
        });
        cols.push(Col {
            header: "n".into(),
            cells: groups.iter().map(|g| stat(g).n.to_string()).collect(),
            right: true,
            kind: Kind::Detail,
        });
    }
    for (k, name) in s.metrics.iter().enumerate() {
        if Some(k) == s.primary {
            continue;
        }
        cols.push(Col {
            header: name.clone(),
            cells: groups
                .iter()
                .map(|g| opt_sig(g.metrics[k].mean, 4))
                .collect(),
            right: true,
            kind: Kind::Extra,
        });
    }
    cols
}

/// Fits the columns in `width`: drops other metrics from the right; shortens headers to their
/// values; drops the interval and count; shortens text values of parameters, widest first.
/// Returns the columns' widths and the headers of those dropped.
fn fit_cols(cols: &mut Vec<Col>, width: usize) -> (Vec<usize>, Vec<String>) {
    let mut widths: Vec<usize> = cols.iter().map(Col::natural).collect();
    let mut dropped = drop_cols(cols, &mut widths, width, Kind::Extra);
    shrink_cols(cols, &mut widths, width, &|c: &Col| {
        Some(c.cells_width().max(1))
    });
    dropped.extend(drop_cols(cols, &mut widths, width, Kind::Detail));
    shrink_cols(cols, &mut widths, width, &|c: &Col| {
        (c.kind == Kind::Param).then(|| c.min_width())
    });
    (widths, dropped)
}

/// Drops columns of `kind` from the right until the table fits; their headers in order.
fn drop_cols(
    cols: &mut Vec<Col>,
    widths: &mut Vec<usize>,
    width: usize,
    kind: Kind,
) -> Vec<String> {
    let mut gone = Vec::new();
    while total(widths) > width {
        match cols.iter().rposition(|c: &Col| c.kind == kind) {
            Some(i) => {
                gone.insert(0, cols.remove(i).header);
                widths.remove(i);
            }
            None => break,
        }
    }
    gone
}

/// Narrows the widest column of those `floor` lets go lower, one character at a time, until the
/// table fits.
fn shrink_cols(
    cols: &[Col],
    widths: &mut [usize],
    width: usize,
    floor: &dyn Fn(&Col) -> Option<usize>,
) {
    while total(widths) > width {
        let widest = (0..cols.len())
            .filter(|&i| floor(&cols[i]).is_some_and(|f| widths[i] > f))
            .max_by_key(|&i| widths[i]);
        match widest {
            Some(i) => widths[i] -= 1,
            None => break,
        }
    }
}

/// Values of one parameter the effects block lists at most.
const MAX_LEVELS: usize = 20;

fn effects_text(s: &Summary, width: usize, out: &mut Vec<String>) {
    let Some(name) = &s.metric else { return };
    if s.effects.is_empty() {
        return;
    }
    out.push(String::new());
    out.push(shorten(
        &format!("effects on {name} (mean ± std over the done points with each value, n):"),
        width,
    ));
    let pw = s
        .effects
        .iter()
        .map(|e| width_of(&e.param))
        .max()
        .unwrap_or(0);
    let vw = s
        .effects
        .iter()
        .flat_map(|e| e.levels.iter().take(MAX_LEVELS))
        .map(|l| width_of(&value_text(&l.value)))
        .max()
        .unwrap_or(0)
        .min(24);
    let cells: Vec<Vec<String>> = s
        .effects
        .iter()
        .map(|e| {
            e.levels
                .iter()
                .take(MAX_LEVELS)
                .map(|l| {
                    l.mean
                        .map_or_else(|| "–".to_string(), |m| fmt_mean_std(m, l.std))
                })
                .collect()
        })
        .collect();
    let mw = cells
        .iter()
        .flatten()
        .map(|c| width_of(c))
        .max()
        .unwrap_or(0);
    for (e, cells) in s.effects.iter().zip(&cells) {
        for (k, (l, c)) in e.levels.iter().zip(cells).enumerate() {
            let label = if k == 0 { e.param.as_str() } else { "" };
            let v = shorten(&value_text(&l.value), vw);
            out.push(shorten(
                &format!(
                    "  {}  {}  {}  {}",
                    pad(label, pw, false),
                    pad(&v, vw, false),
                    pad(c, mw, true),
                    l.n
                ),
                width,
            ));
        }
        if e.levels.len() > MAX_LEVELS {
            out.push(shorten(
                &format!(
                    "  {}  … and {} more values",
                    pad("", pw, false),
                    e.levels.len() - MAX_LEVELS
                ),
                width,
            ));
        }
    }
}

fn bold(s: &str, color: bool) -> String {
    if color {
        format!("\x1b[1m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn dim(s: &str, color: bool) -> String {
    if color {
        format!("\x1b[2m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn num(x: Option<f64>) -> Json {
    x.map_or(Json::Null, Json::from)
}

/// A parameter value as the sweep file has it (number, string, bool).
pub(crate) fn json_value(v: &Value) -> Json {
    match v {
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(x) => Json::from(*x),
        Value::Str(s) => Json::String(s.clone()),
    }
}

fn stats_json(st: &Stats) -> Json {
    json!({
        "mean": num(st.mean),
        "std": num(st.std),
        "min": num(st.min),
        "max": num(st.max),
        "ci95": num(st.ci95),
        "n": st.n,
    })
}

/// `--json`: `{sweep, metric, goal, over, groups: [{params, n, n_done, metrics: {NAME: {mean,
/// std, min, max, ci95, n}}}], effects: {PARAM: [{value, mean, std, n}]}}`, every group and
/// every value in full.
pub fn to_json(s: &Summary) -> Json {
    let groups: Vec<Json> = s
        .groups
        .iter()
        .map(|g| {
            let params: Map<String, Json> = g
                .params
                .iter()
                .map(|(k, v)| (k.clone(), json_value(v)))
                .collect();
            let metrics: Map<String, Json> = s
                .metrics
                .iter()
                .zip(&g.metrics)
                .map(|(name, st)| (name.clone(), stats_json(st)))
                .collect();
            json!({"params": params, "n": g.n, "n_done": g.n_done, "metrics": metrics})
        })
        .collect();
    let effects: Map<String, Json> = s
        .effects
        .iter()
        .map(|e| {
            let levels: Vec<Json> = e
                .levels
                .iter()
                .map(|l| {
                    json!({"value": json_value(&l.value), "mean": num(l.mean),
                        "std": num(l.std), "n": l.n})
                })
                .collect();
            (e.param.clone(), Json::Array(levels))
        })
        .collect();
    json!({
        "sweep": s.sweep,
        "metric": s.metric,
        "goal": s.goal.as_str(),
        "over": s.over,
        "groups": groups,
        "effects": effects,
    })
}

/// `--csv`: one row per group, its parameters, `n`, `n_done`, then `NAME.mean`, `NAME.std`,
/// `NAME.min`, `NAME.max`, `NAME.ci95`, `NAME.n` for each metric. Numbers in full.
pub fn table_csv(s: &Summary) -> Result<String, SummaryError> {
    const PARTS: [&str; 6] = ["mean", "std", "min", "max", "ci95", "n"];
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = s.params.clone();
    header.extend(["n".to_string(), "n_done".to_string()]);
    for m in &s.metrics {
        header.extend(PARTS.iter().map(|p| format!("{m}.{p}")));
    }
    w.write_record(&header)?;
    let f = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
    for g in &s.groups {
        let mut rec: Vec<String> = g.params.iter().map(|(_, v)| v.to_string()).collect();
        rec.extend([g.n.to_string(), g.n_done.to_string()]);
        for st in &g.metrics {
            rec.extend([
                f(st.mean),
                f(st.std),
                f(st.min),
                f(st.max),
                f(st.ci95),
                st.n.to_string(),
            ]);
        }
        w.write_record(&rec)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| SummaryError::Csv(e.into_error().into()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
