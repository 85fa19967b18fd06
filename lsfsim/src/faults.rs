//! Deterministic fault dice: splitmix64 seeded from the config seed and the per-call counter, so
//! a test with a fixed seed sees the same faults on every run.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, call: u64) -> Rng {
        Rng(seed ^ call.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`; always draws, so later dice do not depend on earlier settings.
    pub fn chance(&mut self, p: f64) -> bool {
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            x < p
        }
    }

    /// Uniform in lo..=hi.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_and_determinism() {
        let mut r = Rng::new(7, 1);
        assert!((0..1000).all(|_| r.chance(1.0)));
        assert!((0..1000).all(|_| !r.chance(0.0)));
        let a: Vec<u64> = (0..5).map(|_| Rng::new(3, 9).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut r = Rng::new(1, 2);
        let hits = (0..10_000).filter(|_| r.chance(0.3)).count();
        assert!((2500..3500).contains(&hits), "{hits}");
    }
}
