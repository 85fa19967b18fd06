//! Grid axes and their streaming expansion into points (odometer order, exclusions, sampling).
//!
//! Nothing here ever materialises the grid: finite axes compute their i-th value on demand, the
//! cartesian product is walked with a mixed-radix counter, and sampling either decodes chosen
//! indices directly or replays a seeded random stream.

use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Point, Value};

/// Relative tolerance for the exclusive `stop` of float ranges, so that `stop = 0.5` with
/// `step = 0.1` does not sneak in 0.5 through rounding.
const RANGE_TOLERANCE: f64 = 1e-9;

/// Largest length of a computed float axis: beyond 2^53 the index no longer converts to f64 exactly.
pub(crate) const MAX_FLOAT_AXIS_LEN: u64 = 1 << 53;

/// Rejected draws allowed per requested sample before giving up.
const DRAWS_PER_SAMPLE: u64 = 1000;

/// Rounds to 12 significant digits so generated floats read as users expect (0.3, not
/// 0.30000000000000004). Formatting and re-parsing is exact and identical on every machine.
pub(crate) fn round12(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        // Also turns -0.0 into 0.0, which would otherwise print as "-0.0".
        return if x == 0.0 { 0.0 } else { x };
    }
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// Rounds a value computed from a range whose numbers have magnitude `scale`: values that are
/// only rounding noise away from zero (like -0.3 + 3 * 0.1) become exactly 0.
fn round_in_scale(x: f64, scale: f64) -> f64 {
    if x.abs() <= scale * 1e-12 {
        0.0
    } else {
        round12(x)
    }
}

/// `primary`, the caller's `lo + (hi - lo) * t`, unless that overflowed: then the same point as
/// `lo * (1 - t) + hi * t`, which stays finite for finite ends. Found by fuzzing: an interval
/// wider than f64::MAX (`uniform = [-1e308, 1e308]`), or a product `(hi - lo) * i` past it
/// (`linspace = [0.0, 8e307, 5]`), gave inf (every uniform draw clamped to `hi`). Values that
/// did not overflow stay bit-for-bit what they were, so existing sweeps keep their points.
fn finite_or_lerp(primary: f64, lo: f64, hi: f64, t: f64) -> f64 {
    if primary.is_finite() {
        primary
    } else {
        lo * (1.0 - t) + hi * t
    }
}

/// The values of a finite axis, computed on demand.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Finite {
    List(Vec<Value>),
    IntRange {
        start: i64,
        step: i64,
        len: u64,
    },
    FloatRange {
        start: f64,
        step: f64,
        len: u64,
        scale: f64,
    },
    Linspace {
        lo: f64,
        hi: f64,
        len: u64,
    },
    Logspace {
        lo: f64,
        hi: f64,
        len: u64,
    },
}

impl Finite {
    /// An integer range with exclusive `stop`; `None` when it holds no value. `step != 0`.
    pub(crate) fn int_range(start: i64, stop: i64, step: i64) -> Option<Finite> {
        let span = i128::from(stop) - i128::from(start);
        // Count in the direction of the step so the division only sees positive numbers.
        let (n, d) = if step > 0 {
            (span, i128::from(step))
        } else {
            (-span, -i128::from(step))
        };
        if n <= 0 || d <= 0 {
            return None;
        }
        let len = (n + d - 1) / d;
        let len = u64::try_from(len).ok()?;
        Some(Finite::IntRange { start, step, len })
    }

    /// A float range with exclusive `stop` (within [`RANGE_TOLERANCE`]). `Err(())` when it holds
    /// no value, `Ok(None)` when it holds more than [`MAX_FLOAT_AXIS_LEN`] values.
    pub(crate) fn float_range(start: f64, stop: f64, step: f64) -> Result<Option<Finite>, ()> {
        let q = (stop - start) / step;
        // `stop - start` overflows for ends near ±f64::MAX; the quotient may still be small.
        let q = if q.is_finite() {
            q
        } else {
            stop / step - start / step
        };
        if q.is_nan() || q <= 0.0 {
            return Err(());
        }
        if q.is_infinite() {
            return Ok(None);
        }
        let n = (q - RANGE_TOLERANCE * q.max(1.0)).ceil();
        if n < 1.0 {
            return Err(());
        }
        if n > MAX_FLOAT_AXIS_LEN as f64 {
            return Ok(None);
        }
        let scale = start.abs().max(stop.abs()).max(step.abs());
        Ok(Some(Finite::FloatRange {
            start,
            step,
            len: n as u64,
            scale,
        }))
    }

    pub(crate) fn len(&self) -> u64 {
        match self {
            Finite::List(v) => v.len() as u64,
            Finite::IntRange { len, .. }
            | Finite::FloatRange { len, .. }
            | Finite::Linspace { len, .. }
            | Finite::Logspace { len, .. } => *len,
        }
    }

    /// The i-th value; `i < self.len()`.
    pub(crate) fn get(&self, i: u64) -> Value {
        match self {
            Finite::List(v) => v[i as usize].clone(),
            Finite::IntRange { start, step, .. } => {
                // In range by construction: the value lies between start and stop.
                let x = i128::from(*start) + i128::from(i) * i128::from(*step);
                Value::Int(x as i64)
            }
            Finite::FloatRange {
                start, step, scale, ..
            } => {
                let x = start + i as f64 * step;
                // Every value lies between start and stop, but `i * step` alone may pass f64::MAX
                // (start = -1e308, step = 1e307): then the same sum at half scale.
                let x = if x.is_finite() {
                    x
                } else {
                    2.0 * (start / 2.0 + i as f64 * (step / 2.0))
                };
                Value::from(round_in_scale(x, *scale))
            }
            Finite::Linspace { lo, hi, len } => {
                let x = if i == 0 {
                    *lo
                } else if i + 1 == *len {
                    *hi
                } else {
                    let t = (i as f64) / ((len - 1) as f64);
                    finite_or_lerp(
                        lo + (hi - lo) * (i as f64) / ((len - 1) as f64),
                        *lo,
                        *hi,
                        t,
                    )
                };
                Value::from(round_in_scale(x, lo.abs().max(hi.abs())))
            }
            Finite::Logspace { lo, hi, len } => {
                let x = if i == 0 {
                    *lo
                } else if i + 1 == *len {
                    *hi
                } else {
                    let t = (i as f64) / ((len - 1) as f64);
                    (lo.ln() + (hi.ln() - lo.ln()) * t).exp()
                };
                Value::from(round12(x))
            }
        }
    }
}

/// A distribution axis, only usable with `[sample]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Dist {
    Uniform(f64, f64),
    LogUniform(f64, f64),
    Choice(Vec<Value>),
    RandInt(i64, i64),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Axis {
    /// One `[grid]` parameter with finitely many values.
    Finite(Finite),
    /// One `[grid]` parameter drawn from a distribution.
    Dist(Dist),
    /// A `[[zip]]` group: `rows[i]` holds the i-th value of every parameter of the group.
    Zip(Vec<Vec<Value>>),
}

impl Axis {
    /// Number of columns this axis contributes.
    fn width(&self) -> usize {
        match self {
            Axis::Zip(rows) => rows.first().map_or(0, Vec::len),
            _ => 1,
        }
    }

    /// Number of positions of a finite axis (distributions have none).
    fn len(&self) -> Option<u64> {
        match self {
            Axis::Finite(f) => Some(f.len()),
            Axis::Zip(rows) => Some(rows.len() as u64),
            Axis::Dist(_) => None,
        }
    }

    fn push_at(&self, i: u64, row: &mut Vec<Value>) {
        match self {
            Axis::Finite(f) => row.push(f.get(i)),
            Axis::Zip(rows) => row.extend(rows[i as usize].iter().cloned()),
            // Never walked by the odometer: grids with distributions are always sampled.
            Axis::Dist(_) => {}
        }
    }

    fn push_draw(&self, rng: &mut ChaCha8Rng, row: &mut Vec<Value>) {
        match self {
            Axis::Finite(f) => {
                let i = rng.random_range(0..f.len());
                row.push(f.get(i));
            }
            Axis::Zip(rows) => {
                let i = rng.random_range(0..rows.len());
                row.extend(rows[i].iter().cloned());
            }
            Axis::Dist(Dist::Uniform(lo, hi)) => {
                let u: f64 = rng.random();
                let x = round12(finite_or_lerp(lo + (hi - lo) * u, *lo, *hi, u));
                row.push(Value::from(x.clamp(*lo, *hi)));
            }
            Axis::Dist(Dist::LogUniform(lo, hi)) => {
                let u: f64 = rng.random();
                let x = round12((lo.ln() + (hi.ln() - lo.ln()) * u).exp());
                row.push(Value::from(x.clamp(*lo, *hi)));
            }
            Axis::Dist(Dist::Choice(values)) => {
                let i = rng.random_range(0..values.len());
                row.push(values[i].clone());
            }
            Axis::Dist(Dist::RandInt(lo, hi)) => row.push(Value::Int(rng.random_range(*lo..=*hi))),
        }
    }
}

/// One `[[exclude]]` table: a row is dropped when every condition matches.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exclude {
    /// (column, values any of which matches).
    pub(crate) conds: Vec<(usize, Vec<Value>)>,
}

impl Exclude {
    fn matches(&self, row: &[Value]) -> bool {
        self.conds
            .iter()
            .all(|(col, values)| values.iter().any(|v| value_matches(&row[*col], v)))
    }
}

/// Equality for exclusions: numbers compare by value, so `2` matches `2.0` and `1e-5` matches
/// `0.00001`, however each is written.
fn value_matches(a: &Value, b: &Value) -> bool {
    a.same_number(b)
}

#[derive(Debug, Clone, PartialEq)]
enum Sampling {
    /// Every point of the (excluded) grid.
    All,
    /// These positions (sorted) of the excluded grid, repeats not counted.
    Pick(Vec<u64>),
    /// `n` independent draws of every axis from a seeded stream.
    Draw { n: u64, seed: u64 },
}

/// What `[sample]` asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SampleOpts {
    pub(crate) n: u64,
    pub(crate) seed: u64,
}

/// Why a grid cannot be built; the parser turns these into located errors.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GridError {
    /// The point count does not fit in 64 bits.
    TooMany,
    /// The exclusions drop every point.
    AllExcluded,
    /// `[sample] n` exceeds the number of grid points.
    SampleTooLarge { available: u64 },
    /// Too many draws were excluded; `kept` draws passed before giving up.
    DrawsExhausted { kept: u64, tries: u64 },
}

#[derive(Debug, Clone)]
pub(crate) struct Grid {
    axes: Vec<Axis>,
    /// Column names, `repeat` included when `repeats > 1`.
    names: Vec<String>,
    repeats: u32,
    excludes: Vec<Exclude>,
    sampling: Sampling,
    /// Points before repeats, computed on first need (streams once when there are exclusions).
    base_count: OnceLock<u64>,
}

impl Grid {
    /// Builds and checks a grid. `names` are the parameter columns of `axes`, in order.
    pub(crate) fn new(
        axes: Vec<Axis>,
        mut names: Vec<String>,
        repeats: u32,
        excludes: Vec<Exclude>,
        sample: Option<SampleOpts>,
    ) -> Result<Grid, GridError> {
        debug_assert_eq!(names.len(), axes.iter().map(Axis::width).sum::<usize>());
        let repeats = repeats.max(1);
        if repeats > 1 {
            names.push("repeat".to_string());
        }
        let has_dist = axes.iter().any(|a| matches!(a, Axis::Dist(_)));
        let mut grid = Grid {
            axes,
            names,
            repeats,
            excludes,
            sampling: Sampling::All,
            base_count: OnceLock::new(),
        };
        match sample {
            Some(SampleOpts { n, seed }) if has_dist => {
                n.checked_mul(u64::from(repeats))
                    .ok_or(GridError::TooMany)?;
                grid.sampling = Sampling::Draw { n, seed };
                grid.check_draws(n, seed)?;
            }
            _ => {
                let product = grid.product().ok_or(GridError::TooMany)?;
                product
                    .checked_mul(u64::from(repeats))
                    .ok_or(GridError::TooMany)?;
                // Cheap: usually the very first point survives. The look is bounded so a tiny
                // file describing a vast, wholly excluded grid cannot hang loading; past the
                // bound, "no points" surfaces when the points are counted.
                const LOOK: usize = 10_000_000;
                if !grid.excludes.is_empty()
                    && (product as u128) <= LOOK as u128
                    && grid.rows().next().is_none()
                {
                    return Err(GridError::AllExcluded);
                }
                if let Some(SampleOpts { n, seed }) = sample {
                    let available = if grid.excludes.is_empty() {
                        product
                    } else {
                        grid.rows().count() as u64
                    };
                    if n > available {
                        return Err(GridError::SampleTooLarge { available });
                    }
                    let (len, amount) = match (usize::try_from(available), usize::try_from(n)) {
                        (Ok(len), Ok(amount)) => (len, amount),
                        _ => return Err(GridError::TooMany),
                    };
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    let mut chosen: Vec<u64> = rand::seq::index::sample(&mut rng, len, amount)
                        .into_iter()
                        .map(|i| i as u64)
                        .collect();
                    chosen.sort_unstable();
                    grid.sampling = Sampling::Pick(chosen);
                }
            }
        }
        Ok(grid)
    }

    /// The number of points before exclusions (what a count is bounded by), without walking.
    pub(crate) fn upper_bound(&self) -> u64 {
        let base = match &self.sampling {
            Sampling::All => self.product().unwrap_or(u64::MAX),
            Sampling::Pick(chosen) => chosen.len() as u64,
            Sampling::Draw { n, .. } => *n,
        };
        base.saturating_mul(u64::from(self.repeats))
    }

    pub(crate) fn param_names(&self) -> Vec<String> {
        self.names.clone()
    }

    pub(crate) fn count(&self) -> u64 {
        let base = match &self.sampling {
            Sampling::All => *self.base_count.get_or_init(|| {
                if self.excludes.is_empty() {
                    self.product().unwrap_or(u64::MAX)
                } else {
                    self.rows().count() as u64
                }
            }),
            Sampling::Pick(chosen) => chosen.len() as u64,
            Sampling::Draw { n, .. } => *n,
        };
        base.saturating_mul(u64::from(self.repeats))
    }

    pub(crate) fn points(&self) -> Box<dyn Iterator<Item = Point> + '_> {
        let rows: Box<dyn Iterator<Item = Vec<Value>> + '_> = match &self.sampling {
            Sampling::All => Box::new(self.rows()),
            Sampling::Pick(chosen) if self.excludes.is_empty() => {
                // Without exclusions a position decodes straight to its row: no walk needed.
                Box::new(chosen.iter().map(|&i| self.row_at(i)))
            }
            Sampling::Pick(chosen) => {
                let mut next = 0;
                Box::new(
                    self.rows()
                        .zip(0u64..)
                        .filter_map(move |(row, i)| {
                            (chosen.get(next) == Some(&i)).then(|| {
                                next += 1;
                                row
                            })
                        })
                        .take(chosen.len()),
                )
            }
            Sampling::Draw { n, seed } => Box::new(self.draws(*n, *seed).map(|(row, _)| row)),
        };
        let repeats = self.repeats;
        let rows: Box<dyn Iterator<Item = Vec<Value>> + '_> = if repeats > 1 {
            Box::new(rows.flat_map(move |row| {
                (0..repeats).map(move |r| {
                    let mut row = row.clone();
                    row.push(Value::Int(i64::from(r)));
                    row
                })
            }))
        } else {
            rows
        };
        Box::new(rows.zip(0u64..).map(move |(row, index)| Point {
            index,
            params: self.names.iter().cloned().zip(row).collect(),
        }))
    }

    /// Number of positions of the full cartesian product, repeats not counted.
    fn product(&self) -> Option<u64> {
        self.axes
            .iter()
            .try_fold(1u64, |acc, a| acc.checked_mul(a.len().unwrap_or(1)))
    }

    fn excluded(&self, row: &[Value]) -> bool {
        self.excludes.iter().any(|e| e.matches(row))
    }

    /// The row at position `i` of the full product (mixed-radix decode, last axis fastest).
    fn row_at(&self, mut i: u64) -> Vec<Value> {
        let mut digits = vec![0u64; self.axes.len()];
        for (k, axis) in self.axes.iter().enumerate().rev() {
            let len = axis.len().unwrap_or(1).max(1);
            digits[k] = i % len;
            i /= len;
        }
        let mut row = Vec::with_capacity(self.names.len());
        for (axis, d) in self.axes.iter().zip(digits) {
            axis.push_at(d, &mut row);
        }
        row
    }

    /// The rows of the product that survive the exclusions, in odometer order.
    fn rows(&self) -> impl Iterator<Item = Vec<Value>> + '_ {
        Odometer::new(self).filter(|row| !self.excluded(row))
    }

    /// `n` accepted draws, each with the running number of tries; stops early (never happens
    /// after `check_draws` passed) if the try budget runs out.
    fn draws(&self, n: u64, seed: u64) -> impl Iterator<Item = (Vec<Value>, u64)> + '_ {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let budget = n.saturating_mul(DRAWS_PER_SAMPLE);
        let mut tries = 0u64;
        let mut made = 0u64;
        std::iter::from_fn(move || {
            if made == n {
                return None;
            }
            while tries < budget {
                tries += 1;
                let mut row = Vec::with_capacity(self.names.len());
                for axis in &self.axes {
                    axis.push_draw(&mut rng, &mut row);
                }
                if !self.excluded(&row) {
                    made += 1;
                    return Some((row, tries));
                }
            }
            None
        })
    }

    /// Runs the draws once so that a plan that cannot be completed fails at load time.
    fn check_draws(&self, n: u64, seed: u64) -> Result<(), GridError> {
        if self.excludes.is_empty() {
            return Ok(());
        }
        let mut kept = 0;
        for _ in self.draws(n, seed) {
            kept += 1;
        }
        if kept < n {
            return Err(GridError::DrawsExhausted {
                kept,
                tries: n.saturating_mul(DRAWS_PER_SAMPLE),
            });
        }
        Ok(())
    }
}

/// Mixed-radix counter over the finite axes; the last axis turns fastest.
struct Odometer<'g> {
    grid: &'g Grid,
    digits: Vec<u64>,
    lens: Vec<u64>,
    done: bool,
}

impl<'g> Odometer<'g> {
    fn new(grid: &'g Grid) -> Self {
        let lens: Vec<u64> = grid.axes.iter().map(|a| a.len().unwrap_or(1)).collect();
        Odometer {
            grid,
            digits: vec![0; lens.len()],
            done: lens.contains(&0),
            lens,
        }
    }
}

impl Iterator for Odometer<'_> {
    type Item = Vec<Value>;

    fn next(&mut self) -> Option<Vec<Value>> {
        if self.done {
            return None;
        }
        let mut row = Vec::with_capacity(self.grid.names.len());
        for (axis, &d) in self.grid.axes.iter().zip(&self.digits) {
            axis.push_at(d, &mut row);
        }
        // Advance; when every digit wraps the walk is over (a grid without axes has one point).
        self.done = true;
        for k in (0..self.digits.len()).rev() {
            self.digits[k] += 1;
            if self.digits[k] < self.lens[k] {
                self.done = false;
                break;
            }
            self.digits[k] = 0;
        }
        Some(row)
    }
}
