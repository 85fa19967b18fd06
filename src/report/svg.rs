//! Hand-written SVG: scales, readable tick values and the few shapes the report's plots draw.

use std::fmt::Write as _;

use super::esc;

/// A continuous axis: a domain mapped onto a pixel range, linearly or by log10.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
    pub log: bool,
}

impl Scale {
    /// A scale over `lo..hi` (widened when empty), log10 when asked and every value is
    /// positive.
    pub fn new(lo: f64, hi: f64, r0: f64, r1: f64, log: bool) -> Scale {
        let log = log && lo > 0.0;
        let (mut d0, mut d1) = if log {
            (lo.log10(), hi.log10())
        } else {
            (lo, hi)
        };
        if !(d1 - d0).is_normal() || d1 < d0 {
            // One value (or none): centre it in a range of its own size.
            let pad = if d0.abs() > 0.0 { d0.abs() * 0.1 } else { 1.0 };
            d0 -= pad;
            d1 = d0 + 2.0 * pad;
        }
        Scale {
            d0,
            d1,
            r0,
            r1,
            log,
        }
    }

    /// The same scale with 5 % of room at both ends, so no dot sits on an axis.
    pub fn padded(self) -> Scale {
        let pad = (self.d1 - self.d0) * 0.05;
        Scale {
            d0: self.d0 - pad,
            d1: self.d1 + pad,
            ..self
        }
    }

    pub fn map(&self, x: f64) -> f64 {
        let v = if self.log {
            x.max(f64::MIN_POSITIVE).log10()
        } else {
            x
        };
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }

    /// Tick values (in data units) for about `n` ticks.
    pub fn ticks(&self, n: usize) -> Vec<f64> {
        if self.log {
            let (a, b) = (self.d0.ceil() as i32, self.d1.floor() as i32);
            let mut t: Vec<f64> = (a..=b).map(|e| 10f64.powi(e)).collect();
            if t.len() < 3 {
                // Less than two decades: 1, 2, 5 steps.
                t = (a - 1..=b)
                    .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
                    .filter(|&x| {
                        let l = x.log10();
                        l >= self.d0 - 1e-9 && l <= self.d1 + 1e-9
                    })
                    .collect();
            }
            return t;
        }
        nice_ticks(self.d0, self.d1, n)
    }
}

/// The step of 1, 2 or 5 times a power of ten nearest to giving `n` intervals over `lo..hi`, as its
/// mantissa and exponent.
fn nice_step_parts(lo: f64, hi: f64, n: usize) -> (f64, i32) {
    let raw = (hi - lo).abs() / n.max(1) as f64;
    if !raw.is_normal() {
        return (1.0, 0);
    }
    let mut e = raw.log10().floor() as i32;
    let f = raw / 10f64.powi(e);
    // d3's thresholds: the step nearest (geometrically) to the raw one.
    let m = if f >= 50f64.sqrt() {
        e += 1;
        1.0
    } else if f >= 10f64.sqrt() {
        5.0
    } else if f >= 2f64.sqrt() {
        2.0
    } else {
        1.0
    };
    (m, e)
}

pub fn nice_step(lo: f64, hi: f64, n: usize) -> f64 {
    let (m, e) = nice_step_parts(lo, hi, n);
    m * 10f64.powi(e)
}

pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let (m, e) = nice_step_parts(lo, hi, n);
    // k·m / 10^-e rather than k·(m·10^e): a division by an exact power of ten rounds to the
    // decimal the label shows (0.6, not 0.6000000000000001).
    let at = |k: i64| {
        if e >= 0 {
            k as f64 * m * 10f64.powi(e)
        } else {
            k as f64 * m / 10f64.powi(-e)
        }
    };
    let step = m * 10f64.powi(e);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last.min(first + 50)).map(at).collect()
}

/// A tick label: as few digits as the ticks' spacing needs.
pub fn tick_label(x: f64, ticks: &[f64]) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let step = ticks
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(f64::INFINITY, f64::min);
    let ax = x.abs();
    if !(1e-4..1e6).contains(&ax) {
        let s = format!("{x:.1e}");
        return s.replace(".0e", "e");
    }
    let dec = if step.is_finite() && step > 0.0 {
        (-(step.log10().floor())).max(0.0) as usize
    } else {
        3
    };
    format!("{x:.dec$}")
}

/// A step for a time axis in seconds: whole seconds, minutes, hours or days.
pub fn time_step(span: f64, n: usize) -> f64 {
    const STEPS: [f64; 20] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        10800.0, 21600.0, 43200.0, 86400.0, 172800.0, 604800.0,
    ];
    let raw = span / n.max(1) as f64;
    if raw < 1.0 {
        return nice_step(0.0, span, n);
    }
    STEPS
        .iter()
        .copied()
        .find(|&s| s >= raw)
        .unwrap_or_else(|| (raw / 604800.0).ceil() * 604800.0)
}

/// Ticks of a time axis over `lo..hi` seconds at whole clock steps (see [`time_step`]).
pub fn time_ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let step = time_step(hi - lo, n);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    let ticks = (first..=last.min(first + 60))
        .map(|k| k as f64 * step)
        .collect();
    (ticks, step)
}

/// A duration as a tick label for ticks `step` seconds apart: `45 s`, `15 min`, `1:15 h`,
/// `6 h`, `2 d`.
pub fn fmt_clock(t: f64, step: f64) -> String {
    if t == 0.0 {
        return "0".into();
    }
    if step < 1.0 {
        let dec = (-(step.log10().floor())).max(0.0) as usize;
        return format!("{t:.dec$} s");
    }
    let s = t.round() as i64;
    if step < 60.0 && s < 600 {
        return format!("{s} s");
    }
    if step < 3600.0 && s < 3600 {
        return if s % 60 == 0 {
            format!("{} min", s / 60)
        } else {
            format!("{}:{:02} min", s / 60, s % 60)
        };
    }
    if step < 86400.0 || s % 86400 != 0 {
        return if s % 3600 == 0 {
            format!("{} h", s / 3600)
        } else {
            format!("{}:{:02} h", s / 3600, (s % 3600) / 60)
        };
    }
    format!("{} d", s / 86400)
}

/// An SVG document being written: `<svg>` with a viewBox, so it scales with the page.
pub struct Svg {
    pub out: String,
}

impl Svg {
    pub fn new(id: Option<&str>, class: &str, w: f64, h: f64, label: &str) -> Svg {
        let mut out = String::with_capacity(4096);
        let id = id
            .map(|i| format!(" id=\"{}\"", esc(i)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<svg{id} class=\"{}\" viewBox=\"0 0 {w:.0} {h:.0}\" width=\"{w:.0}\" \
             height=\"{h:.0}\" role=\"img\" aria-label=\"{}\" \
             xmlns=\"http://www.w3.org/2000/svg\">",
            esc(class),
            esc(label)
        );
        Svg { out }
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }

    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, class: &str) {
        let _ = write!(
            self.out,
            "<line class=\"{class}\" x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\"/>"
        );
    }

    pub fn text(&mut self, x: f64, y: f64, anchor: &str, class: &str, s: &str) {
        let _ = write!(
            self.out,
            "<text class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\">{}</text>",
            esc(s)
        );
    }

    /// Text turned a quarter to the left (a y axis title).
    pub fn vtext(&mut self, x: f64, y: f64, class: &str, s: &str) {
        let _ = write!(
            self.out,
            "<text class=\"{class}\" transform=\"translate({x:.1},{y:.1}) rotate(-90)\" \
             text-anchor=\"middle\">{}</text>",
            esc(s)
        );
    }

    /// A rectangle with a hover title (none when empty). `fill` is a colour or empty for the
    /// class's.
    #[allow(clippy::too_many_arguments)]
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, class: &str, fill: &str, title: &str) {
        let fill = if fill.is_empty() {
            String::new()
        } else {
            format!(" fill=\"{fill}\"")
        };
        let _ = write!(
            self.out,
            "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"{fill}",
            w.max(0.0),
            h.max(0.0)
        );
        self.close(title, "rect");
    }

    pub fn circle(&mut self, x: f64, y: f64, r: f64, class: &str, title: &str) {
        let _ = write!(
            self.out,
            "<circle class=\"{class}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\""
        );
        self.close(title, "circle");
    }

    pub fn polyline(&mut self, pts: &[(f64, f64)], class: &str, stroke: &str, title: &str) {
        let mut d = String::with_capacity(pts.len() * 12);
        for (x, y) in pts {
            let _ = write!(d, "{x:.1},{y:.1} ");
        }
        let stroke = if stroke.is_empty() {
            String::new()
        } else {
            format!(" stroke=\"{stroke}\"")
        };
        let _ = write!(
            self.out,
            "<polyline class=\"{class}\"{stroke} points=\"{}\"",
            d.trim_end()
        );
        self.close(title, "polyline");
    }

    fn close(&mut self, title: &str, tag: &str) {
        if title.is_empty() {
            self.out.push_str("/>");
        } else {
            let _ = write!(self.out, "><title>{}</title></{tag}>", esc(title));
        }
    }

    /// A horizontal axis at `y` with ticks and labels, and its title below.
    pub fn x_axis(&mut self, y: f64, x0: f64, x1: f64, ticks: &[(f64, String)], title: &str) {
        self.line(x0, y, x1, y, "axis");
        for (x, label) in ticks {
            self.line(*x, y, *x, y + 4.0, "axis");
            self.text(*x, y + 15.0, "middle", "tick", label);
        }
        if !title.is_empty() {
            self.text((x0 + x1) / 2.0, y + 31.0, "middle", "axis-title", title);
        }
    }

    /// A vertical axis at `x` with ticks, labels and light grid lines across to `grid_to`.
    pub fn y_axis(&mut self, x: f64, y0: f64, y1: f64, ticks: &[(f64, String)], grid_to: f64) {
        self.line(x, y0, x, y1, "axis");
        for (y, label) in ticks {
            self.line(x, *y, grid_to, *y, "grid");
            self.line(x - 4.0, *y, x, *y, "axis");
            self.text(x - 6.0, y + 4.0, "end", "tick", label);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_numbers_inside_the_domain() {
        assert_eq!(nice_ticks(0.0, 1.0, 5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(
            nice_ticks(0.83, 0.97, 5),
            [0.84, 0.86, 0.88, 0.9, 0.92, 0.94, 0.96]
        );
        let t = nice_ticks(0.1, 0.3, 4);
        assert!(t.contains(&0.3), "{t:?}");
        assert_eq!(tick_label(0.84, &[0.84, 0.86]), "0.84");
        assert_eq!(tick_label(1500.0, &[1000.0, 1500.0]), "1500");
        assert_eq!(tick_label(0.00001, &[0.00001, 0.00002]), "1e-5");
        let log = Scale::new(1e-5, 1e-1, 0.0, 100.0, true);
        assert_eq!(log.ticks(5), [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]);
        assert!((log.map(1e-3) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn time_axes_step_in_clock_units() {
        assert_eq!(time_step(25.0, 6), 5.0);
        assert_eq!(time_step(3000.0, 6), 600.0);
        assert_eq!(time_step(86400.0, 6), 21600.0);
        let (ticks, step) = time_ticks(0.0, 6780.0, 8);
        assert_eq!(step, 900.0);
        let labels: Vec<String> = ticks.iter().map(|&t| fmt_clock(t, step)).collect();
        assert_eq!(
            labels[..6],
            ["0", "15 min", "30 min", "45 min", "1 h", "1:15 h"]
        );
        assert_eq!(fmt_clock(90.0, 30.0), "90 s");
        assert_eq!(fmt_clock(630.0, 30.0), "10:30 min");
        assert_eq!(fmt_clock(12.0, 2.0), "12 s");
        assert_eq!(fmt_clock(0.5, 0.5), "0.5 s");
        assert_eq!(fmt_clock(172800.0, 86400.0), "2 d");
    }

    #[test]
    fn a_single_value_gets_a_range_around_it() {
        let s = Scale::new(5.0, 5.0, 0.0, 100.0, false);
        assert!((s.map(5.0) - 50.0).abs() < 1e-9);
        let z = Scale::new(0.0, 0.0, 0.0, 100.0, false);
        assert!((z.map(0.0) - 50.0).abs() < 1e-9);
    }
}
