//! The plots of the metric: against each parameter, and parallel coordinates over the groups.
//! Each caps what it draws (sampling points, binning values) so a 100,000-point sweep still
//! gives a small page.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::svg::{Scale, Svg, tick_label};
use super::{esc, value_text};
use crate::model::State;
use crate::spec::Value;
use crate::summary::stats::describe;
use crate::summary::{Row, Summary, fmt_mean_std};

/// Dots one parameter plot draws at most; beyond, every k-th done point.
pub(crate) const MAX_DOTS: usize = 1500;
/// Groups drawn as grey lines in the parallel coordinates, besides the best ones.
const MAX_LINES: usize = 400;
/// Groups highlighted as the best.
const TOP_LINES: usize = 5;
/// Parameter values shown as categories; more numeric values make a continuous axis.
const MAX_CATEGORIES: usize = 12;

/// The metric the plots show, and each row's value of it (done points only).
pub(crate) struct PlotMetric {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

impl PlotMetric {
    /// The primary metric, else the first numeric one; `None` when there is no numeric metric.
    pub fn of(rows: &[Row], s: &Summary) -> Option<PlotMetric> {
        let name = s
            .primary
            .and_then(|i| s.metrics.get(i))
            .or(s.metrics.first())?
            .clone();
        let values = rows
            .iter()
            .map(|r| {
                if r.state != State::Done {
                    return None;
                }
                let text = r.metrics.iter().rev().find(|(k, _)| *k == name)?;
                text.1.trim().parse::<f64>().ok().filter(|x| x.is_finite())
            })
            .collect();
        Some(PlotMetric { name, values })
    }
}

fn param_of<'a>(r: &'a Row, name: &str) -> Option<&'a Value> {
    r.params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn as_num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(x) => Some(x.value()),
        _ => None,
    }
}

/// How one parameter is laid along an axis.
enum Axis {
    /// Its values in grid order, evenly spaced.
    Categories(Vec<Value>),
    /// Many numeric values: a continuous scale (log when they span two decades or more).
    Numeric { lo: f64, hi: f64, log: bool },
}

impl Axis {
    fn of(rows: &[Row], name: &str) -> Axis {
        let mut seen: HashMap<String, ()> = HashMap::new();
        let mut values: Vec<Value> = Vec::new();
        let mut many = false;
        for r in rows {
            let Some(v) = param_of(r, name) else { continue };
            if seen.insert(format!("{v:?}"), ()).is_none() {
                values.push(v.clone());
                if values.len() > MAX_CATEGORIES {
                    many = true;
                }
            }
        }
        let nums: Option<Vec<f64>> = values.iter().map(as_num).collect();
        match nums {
            Some(nums) if many => {
                let lo = nums.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = nums.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                Axis::Numeric {
                    lo,
                    hi,
                    log: lo > 0.0 && hi / lo >= 100.0,
                }
            }
            _ => Axis::Categories(values),
        }
    }

    fn levels(&self) -> usize {
        match self {
            Axis::Categories(v) => v.len(),
            Axis::Numeric { .. } => usize::MAX,
        }
    }

    /// Where a value goes on `r0..r1` (categories at the centres of equal bands).
    fn pos(&self, v: &Value, r0: f64, r1: f64) -> Option<f64> {
        match self {
            Axis::Categories(vals) => {
                let i = vals.iter().position(|x| x == v)?;
                let band = (r1 - r0) / vals.len() as f64;
                Some(r0 + band * (i as f64 + 0.5))
            }
            Axis::Numeric { lo, hi, log } => {
                Some(Scale::new(*lo, *hi, r0, r1, *log).padded().map(as_num(v)?))
            }
        }
    }
}

/// A deterministic jitter in -0.5..0.5 for point `index`, so repeats at one value spread out.
fn jitter(index: u64) -> f64 {
    let mut x = index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    (x % 10_000) as f64 / 10_000.0 - 0.5
}

/// The rows of the best group (its points get the highlight colour in every plot).
fn best_rows(rows: &[Row], s: &Summary) -> Vec<bool> {
    let Some(best) = s.groups.iter().find(|g| g.best) else {
        return vec![false; rows.len()];
    };
    rows.iter()
        .map(|r| {
            best.params
                .iter()
                .all(|(k, v)| param_of(r, k).is_some_and(|x| x == v))
        })
        .collect()
}

fn y_ticks(scale: &Scale) -> Vec<(f64, String)> {
    let ticks = scale.ticks(5);
    ticks
        .iter()
        .map(|&t| (scale.map(t), tick_label(t, &ticks)))
        .collect()
}

/// One plot per parameter with more than one value: every done point (or a sample) as a dot,
/// and the mean ± std of the points with each value (or in each bin of a continuous axis).
pub(crate) fn param_plots(rows: &[Row], s: &Summary, m: &PlotMetric) -> String {
    let done: Vec<usize> = (0..rows.len()).filter(|&i| m.values[i].is_some()).collect();
    let stride = done.len().div_ceil(MAX_DOTS).max(1);
    let (lo, hi) = done
        .iter()
        .filter_map(|&i| m.values[i])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    if done.is_empty() {
        return format!(
            "<p class=\"note\">No done point has a value of {} yet.</p>",
            esc(&m.name)
        );
    }
    let plots = ParamPlots {
        rows,
        m,
        best: best_rows(rows, s),
        done,
        stride,
        lo,
        hi,
    };
    let mut out = String::new();
    for p in &s.params {
        let axis = Axis::of(rows, p);
        if axis.levels() < 2 {
            continue;
        }
        out.push_str(&plots.figure(p, &axis));
    }
    if stride > 1 {
        out.push_str(&format!(
            "<p class=\"note\">Dots: one in {stride} of the {} done points; the means use all of \
             them.</p>",
            super::fmt_int(plots.done.len() as u64)
        ));
    }
    out
}

/// What every parameter plot shares: the rows and metric, which rows are the best group's, the
/// done rows (every `stride`-th drawn as a dot) and the metric's range `lo..hi`.
struct ParamPlots<'a> {
    rows: &'a [Row],
    m: &'a PlotMetric,
    best: Vec<bool>,
    done: Vec<usize>,
    stride: usize,
    lo: f64,
    hi: f64,
}

impl ParamPlots<'_> {
    /// The figure of parameter `p` laid out on `axis`: dots, means and a caption.
    fn figure(&self, p: &str, axis: &Axis) -> String {
        let m = self.m;
        let (w, h) = (340.0, 250.0);
        let (l, r, t, b) = (56.0, 12.0, 12.0, 44.0);
        let mut svg = Svg::new(
            None,
            "plot plot-param",
            w,
            h,
            &format!("{} against {p}", m.name),
        );
        let y = Scale::new(self.lo, self.hi, h - b, t, false).padded();
        svg.y_axis(l, t, h - b, &y_ticks(&y), w - r);
        svg.vtext(14.0, (t + h - b) / 2.0, "axis-title", &m.name);
        let (x0, x1) = (l, w - r);
        let (xt, band) = x_labels(axis, x0, x1);
        svg.x_axis(h - b, x0, x1, &xt, p);
        // Dots: the others first, the best group's on top.
        for pass in [false, true] {
            for &i in self.done.iter().step_by(self.stride) {
                if self.best[i] != pass {
                    continue;
                }
                let row = &self.rows[i];
                let (Some(v), Some(val)) = (param_of(row, p), m.values[i]) else {
                    continue;
                };
                let Some(cx) = axis.pos(v, x0, x1) else {
                    continue;
                };
                let cx = cx + jitter(row.index) * band * 0.5;
                let title = format!(
                    "#{} {p}={} {}={}",
                    row.index,
                    value_text(v),
                    m.name,
                    crate::summary::fmt_sig(val, 5)
                );
                let class = if pass { "dot best" } else { "dot" };
                svg.circle(cx, y.map(val), 2.6, class, &title);
            }
        }
        mean_marks(&mut svg, p, &y, level_values(self.rows, m, p, axis, x0, x1));
        let mut out = String::from("<figure class=\"param-fig\">");
        out.push_str(&svg.finish());
        out.push_str(&format!(
            "<figcaption>{} by <b>{}</b>{}</figcaption></figure>",
            esc(&m.name),
            esc(p),
            match axis {
                Axis::Numeric { .. } => " (mean ± std in 12 bins)",
                Axis::Categories(_) => "",
            }
        ));
        out
    }
}

/// The x axis labels of a parameter plot on `x0..x1`, and the width dots spread over (a
/// category's band, or a fortieth of a continuous axis).
fn x_labels(axis: &Axis, x0: f64, x1: f64) -> (Vec<(f64, String)>, f64) {
    match axis {
        Axis::Categories(vals) => {
            let band = (x1 - x0) / vals.len() as f64;
            let chars = ((band / 6.5) as usize).max(3);
            let mut xt: Vec<(f64, String)> = Vec::new();
            for v in vals {
                if let Some(x) = axis.pos(v, x0, x1) {
                    xt.push((x, crate::summary::shorten(&value_text(v), chars)));
                }
            }
            (xt, band)
        }
        Axis::Numeric { lo, hi, log } => {
            let sc = Scale::new(*lo, *hi, x0, x1, *log).padded();
            let ticks = sc.ticks(4);
            let xt = ticks
                .iter()
                .map(|&v| (sc.map(v), tick_label(v, &ticks)))
                .collect();
            (xt, (x1 - x0) / 40.0)
        }
    }
}

/// Draws the mean ± std of each value or bin of parameter `p` (`levels`, from
/// [`level_values`]) on the metric's scale `y`; levels without values are skipped.
fn mean_marks(svg: &mut Svg, p: &str, y: &Scale, levels: Vec<(f64, String, Vec<f64>)>) {
    for (cx, label, xs) in levels {
        let Some(d) = describe(&xs) else { continue };
        let sd = d.std.unwrap_or(0.0);
        let (ya, yb, ym) = (y.map(d.mean - sd), y.map(d.mean + sd), y.map(d.mean));
        let title = format!("{p}={label}: {} (n={})", fmt_mean_std(d.mean, d.std), d.n);
        let _ = write!(
            svg.out,
            "<g class=\"mean\"><title>{}</title>\
             <line x1=\"{cx:.1}\" y1=\"{ya:.1}\" x2=\"{cx:.1}\" y2=\"{yb:.1}\"/>\
             <line x1=\"{:.1}\" y1=\"{ya:.1}\" x2=\"{:.1}\" y2=\"{ya:.1}\"/>\
             <line x1=\"{:.1}\" y1=\"{yb:.1}\" x2=\"{:.1}\" y2=\"{yb:.1}\"/>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"14\" height=\"3\"/></g>",
            esc(&title),
            cx - 4.0,
            cx + 4.0,
            cx - 4.0,
            cx + 4.0,
            cx - 7.0,
            ym - 1.5
        );
    }
}

/// The values of the metric per category, or per bin of a continuous axis: (x, label, values).
fn level_values(
    rows: &[Row],
    m: &PlotMetric,
    p: &str,
    axis: &Axis,
    x0: f64,
    x1: f64,
) -> Vec<(f64, String, Vec<f64>)> {
    match axis {
        Axis::Categories(vals) => {
            let mut out: Vec<(f64, String, Vec<f64>)> = vals
                .iter()
                .map(|v| {
                    let x = axis.pos(v, x0, x1).unwrap_or(x0);
                    (x, value_text(v), Vec::new())
                })
                .collect();
            for (r, val) in rows.iter().zip(&m.values) {
                let (Some(v), Some(val)) = (param_of(r, p), val) else {
                    continue;
                };
                if let Some(i) = vals.iter().position(|x| x == v) {
                    out[i].2.push(*val);
                }
            }
            out
        }
        Axis::Numeric { lo, hi, log } => {
            const BINS: usize = 12;
            let sc = Scale::new(*lo, *hi, 0.0, BINS as f64, *log);
            let px = Scale::new(*lo, *hi, x0, x1, *log).padded();
            let mut bins: Vec<Vec<f64>> = vec![Vec::new(); BINS];
            for (r, val) in rows.iter().zip(&m.values) {
                let (Some(v), Some(val)) = (param_of(r, p).and_then(as_num), val) else {
                    continue;
                };
                let b = (sc.map(v).floor().max(0.0) as usize).min(BINS - 1);
                bins[b].push(*val);
            }
            bins.into_iter()
                .enumerate()
                .map(|(b, xs)| {
                    // The bin's centre, back in data units.
                    let f = (b as f64 + 0.5) / BINS as f64;
                    let d = sc.d0 + f * (sc.d1 - sc.d0);
                    let v = if sc.log { 10f64.powf(d) } else { d };
                    (px.map(v), crate::summary::fmt_sig(v, 3), xs)
                })
                .collect()
        }
    }
}

/// Parallel coordinates: one line per group through its value of each parameter and its mean
/// of the metric; the best groups highlighted, at most [`MAX_LINES`] others in grey.
pub(crate) fn parallel(rows: &[Row], s: &Summary, m: &PlotMetric) -> String {
    let Some(mi) = s.metrics.iter().position(|x| *x == m.name) else {
        return String::new();
    };
    let axes: Vec<(&String, Axis)> = s
        .params
        .iter()
        .map(|p| (p, Axis::of(rows, p)))
        .filter(|(_, a)| a.levels() >= 2)
        .collect();
    let with_mean: Vec<(usize, f64)> = s
        .groups
        .iter()
        .enumerate()
        .filter_map(|(i, g)| g.metrics[mi].mean.map(|x| (i, x)))
        .collect();
    if axes.is_empty() || with_mean.is_empty() {
        return "<p class=\"note\">Nothing to draw yet: no group has a value.</p>".into();
    }
    let (lo, hi) = with_mean
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(_, x)| {
            (a.min(x), b.max(x))
        });
    let pc = Parallel {
        s,
        m,
        mi,
        axes,
        ys: Scale::new(lo, hi, PC_H - PC_B, PC_T, false).padded(),
        ranked: s.primary.is_some(),
    };
    let mut svg = Svg::new(
        Some("parallel-plot"),
        "plot plot-parallel",
        PC_W,
        PC_H,
        &format!("parallel coordinates of the groups and {}", m.name),
    );
    let top = if pc.ranked { TOP_LINES } else { 0 };
    let stride = with_mean
        .len()
        .saturating_sub(top)
        .div_ceil(MAX_LINES)
        .max(1);
    for (rank, &(gi, mean)) in with_mean.iter().enumerate().skip(top).step_by(stride) {
        svg.polyline(
            &pc.line_of(gi, mean),
            "pc-line",
            "",
            &pc.title_of(rank, gi, mean),
        );
    }
    for (rank, &(gi, mean)) in with_mean.iter().enumerate().take(top).rev() {
        let class = if rank == 0 {
            "pc-line pc-best pc-top"
        } else {
            "pc-line pc-top"
        };
        svg.polyline(
            &pc.line_of(gi, mean),
            class,
            "",
            &pc.title_of(rank, gi, mean),
        );
    }
    pc.draw_axes(&mut svg);
    let note = if pc.ranked {
        pc_legend(with_mean.len(), top, stride)
    } else {
        String::new()
    };
    format!("{}{note}", svg.finish())
}

/// The parallel coordinates' size and margins (left, right, top, bottom).
const PC_W: f64 = 1040.0;
const PC_H: f64 = 330.0;
const PC_L: f64 = 60.0;
const PC_R: f64 = 90.0;
const PC_T: f64 = 34.0;
const PC_B: f64 = 30.0;

/// The parallel coordinates of a summary: its parameters with more than one value (`axes`),
/// then metric `mi` (`m`) on the scale `ys`; `ranked` when the groups are best first.
struct Parallel<'a> {
    s: &'a Summary,
    m: &'a PlotMetric,
    mi: usize,
    axes: Vec<(&'a String, Axis)>,
    ys: Scale,
    ranked: bool,
}

impl Parallel<'_> {
    /// Axes: one per parameter and the metric's.
    fn n_axes(&self) -> usize {
        self.axes.len() + 1
    }

    /// The x of axis `k`, evenly spaced.
    fn ax(&self, k: usize) -> f64 {
        PC_L + (PC_W - PC_L - PC_R) * k as f64 / (self.n_axes() - 1) as f64
    }

    /// The points of group `gi`'s line: its value on each parameter axis, then its `mean`.
    fn line_of(&self, gi: usize, mean: f64) -> Vec<(f64, f64)> {
        let g = &self.s.groups[gi];
        let mut pts = Vec::with_capacity(self.n_axes());
        for (k, (p, a)) in self.axes.iter().enumerate() {
            let v = g.params.iter().find(|(n, _)| n == *p).map(|(_, v)| v);
            if let Some(y) = v.and_then(|v| a.pos(v, PC_H - PC_B, PC_T)) {
                pts.push((self.ax(k), y));
            }
        }
        pts.push((self.ax(self.n_axes() - 1), self.ys.map(mean)));
        pts
    }

    /// The tooltip of group `gi`'s line: its rank (when ranked), parameters and mean ± std.
    fn title_of(&self, rank: usize, gi: usize, mean: f64) -> String {
        let g = &self.s.groups[gi];
        let params: Vec<String> = g
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect();
        let st = g.metrics[self.mi];
        format!(
            "{}{}: {} = {}",
            if self.ranked {
                format!("#{} ", rank + 1)
            } else {
                String::new()
            },
            params.join(" "),
            self.m.name,
            fmt_mean_std(mean, st.std)
        )
    }

    /// Draws the axes over the lines, with their titles and value labels.
    fn draw_axes(&self, svg: &mut Svg) {
        let (t, h, b) = (PC_T, PC_H, PC_B);
        for (k, (p, a)) in self.axes.iter().enumerate() {
            let x = self.ax(k);
            svg.line(x, t, x, h - b, "pc-axis");
            svg.text(x, t - 14.0, "middle", "axis-title", p);
            match a {
                Axis::Categories(vals) => {
                    for v in vals {
                        if let Some(y) = a.pos(v, h - b, t) {
                            let label = crate::summary::shorten(&value_text(v), 14);
                            svg.text(x + 5.0, y + 4.0, "start", "pc-label", &label);
                        }
                    }
                }
                Axis::Numeric { lo, hi, log } => {
                    let sc = Scale::new(*lo, *hi, h - b, t, *log).padded();
                    let ticks = sc.ticks(5);
                    for &v in &ticks {
                        svg.text(
                            x + 5.0,
                            sc.map(v) + 4.0,
                            "start",
                            "pc-label",
                            &tick_label(v, &ticks),
                        );
                    }
                }
            }
        }
        let x = self.ax(self.n_axes() - 1);
        svg.line(x, t, x, h - b, "pc-axis metric");
        svg.text(x, t - 14.0, "middle", "axis-title", &self.m.name);
        let ticks = self.ys.ticks(5);
        for &v in &ticks {
            svg.text(
                x + 6.0,
                self.ys.map(v) + 4.0,
                "start",
                "pc-label",
                &tick_label(v, &ticks),
            );
        }
    }
}

/// The legend of ranked parallel coordinates: the best, the next ones highlighted (`top` in
/// all) and the others, every `stride`-th of them drawn, of `lines` groups with a value.
fn pc_legend(lines: usize, top: usize, stride: usize) -> String {
    let mut note = format!(
        "<p class=\"legend\"><span class=\"key pc-best-key\"></span>best \
         <span class=\"key pc-top-key\"></span>next {} \
         <span class=\"key pc-other-key\"></span>other groups",
        TOP_LINES.min(lines).saturating_sub(1)
    );
    if stride > 1 {
        note.push_str(&format!(
            " (one in {stride} of {} drawn)",
            super::fmt_int((lines - top.min(lines)) as u64)
        ));
    }
    note.push_str("</p>");
    note
}
