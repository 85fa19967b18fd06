//! The numbers of a summary: mean, sample standard deviation and the 95 % interval of the mean
//! (Student's t), computed accurately enough to agree with Python's `statistics` (exact
//! rational arithmetic, correctly rounded) to the last bit in practice.

/// What a set of values comes to. `std` and `ci95` need two values or more.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Described {
    pub n: u64,
    pub mean: f64,
    pub std: Option<f64>,
    pub min: f64,
    pub max: f64,
    pub ci95: Option<f64>,
}

/// `a + b = s + e` exactly (Knuth's two-sum).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `a * b = p + e` exactly (the fused multiply-add gives the rounding error).
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// A sum kept as an unevaluated pair `hi + lo` (double-double): about 106 bits, so a few
/// thousand values sum with an error far below the last bit of the result.
#[derive(Debug, Default, Clone, Copy)]
struct Dd {
    hi: f64,
    lo: f64,
}

impl Dd {
    fn add(&mut self, x: f64) {
        let (s, e) = two_sum(self.hi, x);
        self.hi = s;
        self.lo += e;
    }

    fn normalized(self) -> (f64, f64) {
        two_sum(self.hi, self.lo)
    }
}

/// `(hi + lo) / k` rounded once, in practice: the remainder of the first quotient is exact
/// (fused multiply-add), so one correction step lands on the correctly rounded result.
fn div(hi: f64, lo: f64, k: f64) -> (f64, f64) {
    let q = hi / k;
    let r = (-q).mul_add(k, hi) + lo;
    two_sum(q, r / k)
}

/// The square root of `hi + lo` rounded once, in practice (one Newton step from the rounded
/// root, with the exact residual).
fn sqrt(hi: f64, lo: f64) -> f64 {
    if hi <= 0.0 {
        return 0.0;
    }
    let s = hi.sqrt();
    let e = (-s).mul_add(s, hi);
    s + (e + lo) / (2.0 * s)
}

/// The mean of `xs` (not empty).
fn mean(xs: &[f64]) -> f64 {
    let mut s = Dd::default();
    for &x in xs {
        s.add(x);
    }
    let (hi, lo) = s.normalized();
    let (q, ql) = div(hi, lo, xs.len() as f64);
    q + ql
}

/// The sample standard deviation of `xs` (two values or more) around their rounded mean `m`:
/// each deviation is exact (two-sum), its square exact (two-prod), and the mean's own rounding
/// error is taken out again (`Σd² − (Σd)²/n`), so the variance is exact to about 100 bits
/// before the single rounding of its square root.
fn std(xs: &[f64], m: f64) -> f64 {
    let mut ss = Dd::default();
    let mut sd = Dd::default();
    for &x in xs {
        let (dh, dl) = two_sum(x, -m);
        let (p, pe) = two_prod(dh, dh);
        ss.add(p);
        ss.add(pe + 2.0 * dh * dl);
        sd.add(dh);
        sd.add(dl);
    }
    let n = xs.len() as f64;
    let (sdh, sdl) = sd.normalized();
    let d = sdh + sdl;
    ss.add(-(d * d / n));
    let (hi, lo) = ss.normalized();
    let (vh, vl) = div(hi, lo, n - 1.0);
    sqrt(vh, vl)
}

/// Everything about `xs`, or `None` when it is empty.
pub fn describe(xs: &[f64]) -> Option<Described> {
    let (&first, _) = xs.split_first()?;
    let (min, max) = xs
        .iter()
        .fold((first, first), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let n = xs.len() as u64;
    let mean = mean(xs);
    let std = (n >= 2).then(|| std(xs, mean));
    let ci95 = std.and_then(|s| ci95(s, n));
    Some(Described {
        n,
        mean,
        std,
        min,
        max,
        ci95,
    })
}

/// Half the width of the 95 % confidence interval of a mean of `n` values with sample standard
/// deviation `std`: `t(0.975, n−1) · std / √n`.
pub fn ci95(std: f64, n: u64) -> Option<f64> {
    let t = t975(n.checked_sub(1)?)?;
    Some(t * std / (n as f64).sqrt())
}

/// `t(0.975, df)` for df 1 to 30, as scipy 1.17 gives it (`scipy.stats.t.ppf(0.975, df)`,
/// pinned in `tests/fixtures/summary/expected.json` and checked against it).
const T975: [f64; 30] = [
    12.706204736174694,
    4.302652729749462,
    3.1824463052837078,
    2.7764451051977934,
    2.5705818356363146,
    2.4469118511449786,
    2.364624251592784,
    2.306004135204166,
    2.262157162798205,
    2.228138851986274,
    2.200985160091639,
    2.1788128296672284,
    2.1603686564627913,
    2.144786687917804,
    2.131449545559776,
    2.1199052992212546,
    2.1098155778333156,
    2.1009220402410382,
    2.0930240544083087,
    2.085963447265864,
    2.0796138447276795,
    2.0738730679040254,
    2.0686576104190486,
    2.0638985616280245,
    2.0595385527532972,
    2.0555294386428735,
    2.0518305164802846,
    2.0484071417952454,
    2.045229642132703,
    2.0422724563012378,
];

/// The 0.975 quantile of the standard normal distribution.
const Z975: f64 = 1.959963984540054;

/// The 0.975 quantile of Student's t with `df` degrees of freedom (`None` for 0). Up to 30 from
/// the table; beyond, the Cornish-Fisher expansion in powers of 1/df (Abramowitz & Stegun
/// 26.7.5, with its fifth term), whose relative error is below 4e-10 from df 31 on and below
/// 1e-15 from df 1000 on (checked against scipy in the tests).
pub fn t975(df: u64) -> Option<f64> {
    let i = usize::try_from(df).ok()?.checked_sub(1)?;
    if let Some(&t) = T975.get(i) {
        return Some(t);
    }
    let z = Z975;
    let z2 = z * z;
    // Each g_k(z) is z times a polynomial in z².
    let poly = |cs: &[f64]| cs.iter().rev().fold(0.0, |acc, c| acc * z2 + c) * z;
    let g1 = poly(&[1.0, 1.0]) / 4.0;
    let g2 = poly(&[3.0, 16.0, 5.0]) / 96.0;
    let g3 = poly(&[-15.0, 17.0, 19.0, 3.0]) / 384.0;
    let g4 = poly(&[-945.0, -1920.0, 1482.0, 776.0, 79.0]) / 92160.0;
    let g5 = poly(&[17955.0, -765.0, -1782.0, 930.0, 339.0, 27.0]) / 368640.0;
    let v = 1.0 / df as f64;
    Some(z + v * (g1 + v * (g2 + v * (g3 + v * (g4 + v * g5)))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place (same sign only, which is all these tests need).
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn t_quantile_matches_closed_forms_for_one_and_two_degrees_of_freedom() {
        // df 1: tan(0.475 π); df 2: (2p−1)/√(2p(1−p)), p = 0.975. Exact values (mpmath, 40
        // digits) rounded: 12.706204736174705, 4.302652729749464. scipy's table entries are
        // within a few ulp of them.
        assert!(ulps(t975(1).unwrap(), 12.706204736174705) <= 8);
        assert!(ulps(t975(2).unwrap(), 4.302652729749464) <= 4);
        assert_eq!(t975(0), None);
    }

    #[test]
    fn t_quantile_decreases_towards_the_normal_quantile() {
        let mut last = f64::INFINITY;
        for df in 1..=5000 {
            let t = t975(df).unwrap();
            assert!(t < last && t > Z975, "df {df}: {t} after {last}");
            last = t;
        }
        assert!((t975(u64::MAX).unwrap() - Z975).abs() < 1e-15);
    }

    #[test]
    fn describes_small_sets_exactly() {
        assert_eq!(describe(&[]), None);
        let one = describe(&[2.5]).unwrap();
        assert_eq!((one.n, one.mean, one.std, one.ci95), (1, 2.5, None, None));
        // Values with exact binary forms: mean 2.5, variance 5/3.
        let d = describe(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!((d.mean, d.min, d.max), (2.5, 1.0, 4.0));
        assert_eq!(d.std, Some((5.0f64 / 3.0).sqrt()));
        // Identical values: no spread at all, not a rounding residue.
        let same = describe(&[0.1, 0.1, 0.1]).unwrap();
        assert_eq!((same.mean, same.std), (0.1, Some(0.0)));
    }

    #[test]
    fn survives_cancellation_that_breaks_the_naive_formulas() {
        // A large offset: Σx² − (Σx)²/n loses every digit in plain f64; the exact deviations
        // keep them. Python: statistics.stdev([1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.3]) =
        // 0.09999996423721906 (the inputs themselves are not exactly 1e9 + 0.k).
        let xs = [1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.3];
        let d = describe(&xs).unwrap();
        assert_eq!(d.std, Some(0.09999996423721906));
        assert_eq!(d.mean, 1000000000.2);
    }
}
