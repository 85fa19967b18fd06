//! Where each job goes: the sweep's policy over its targets, their caps, and targets that refused
//! jobs. Pure; `plan` uses it to show the same distribution the engine will make.

use crate::sched::Profile;
use crate::spec::{Policy, Target};

/// The placement state of one follow run.
#[derive(Debug, Clone)]
pub struct Placement {
    policy: Policy,
    targets: Vec<Target>,
    rr_next: usize,
    /// Targets that refused a job for good (a wrong queue, a bad option), with the scheduler's
    /// words.
    disabled: Vec<Option<String>>,
    /// Targets that accepted a job in this run. Until one has, it gets one job per batch, so a
    /// wrong queue costs one refused submission rather than a batch of them.
    trusted: Vec<bool>,
    /// Pending jobs per target as the scheduler last reported them (least-pending).
    pending: Option<Vec<u32>>,
}

impl Placement {
    pub fn new(profile: &Profile) -> Self {
        let n = profile.targets.len();
        Self {
            policy: profile.policy,
            targets: profile.targets.clone(),
            rr_next: 0,
            disabled: vec![None; n],
            trusted: vec![false; n],
            pending: None,
        }
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    pub fn wants_pending(&self) -> bool {
        self.policy == Policy::LeastPending
    }

    pub fn set_pending(&mut self, pending: Option<Vec<u32>>) {
        self.pending = pending;
    }

    pub fn is_trusted(&self, t: usize) -> bool {
        self.trusted[t]
    }

    pub fn trust(&mut self, t: usize) {
        if let Some(x) = self.trusted.get_mut(t) {
            *x = true;
        }
    }

    pub fn disable(&mut self, t: usize, why: String) {
        self.disabled[t] = Some(why);
    }

    pub fn disabled(&self, t: usize) -> Option<&str> {
        self.disabled[t].as_deref()
    }

    /// Every target refused jobs: nothing waiting can be placed. Returns the last refusal.
    pub fn all_refused(&self) -> Option<&str> {
        if self.disabled.iter().all(Option::is_some) {
            self.disabled
                .iter()
                .flatten()
                .next_back()
                .map(String::as_str)
        } else {
            None
        }
    }

    /// Picks a target with a free slot by the policy. `in_flight` counts the jobs each target
    /// holds; `probing` marks targets that already got their one untrusted job of a batch. A
    /// job array is not held back by a target's cap: the cap becomes the array's limit.
    pub fn pick(&mut self, in_flight: &[u32], probing: &[bool], array: bool) -> Option<usize> {
        let free = |t: usize| {
            self.disabled[t].is_none()
                && !probing[t]
                && (array
                    || self.targets[t]
                        .max_in_flight
                        .is_none_or(|cap| in_flight[t] < cap))
        };
        let n = self.targets.len();
        match self.policy {
            Policy::LeastPending if self.pending.is_some() => {
                let pending = self.pending.as_deref().unwrap_or_default();
                // The queue's own backlog plus what we sent there since it was measured.
                (0..n)
                    .filter(|&t| free(t))
                    .min_by_key(|&t| pending.get(t).copied().unwrap_or(0) + in_flight[t])
            }
            Policy::Weighted => (0..n)
                .filter(|&t| free(t))
                // Lowest load relative to weight goes next, so shares follow the weights.
                .min_by(|&a, &b| {
                    let la = in_flight[a] as f64 / self.targets[a].weight.max(1) as f64;
                    let lb = in_flight[b] as f64 / self.targets[b].weight.max(1) as f64;
                    la.total_cmp(&lb)
                }),
            // Least-pending needs queue loads from the scheduler; until it reports them,
            // round-robin over free targets is the honest fallback.
            _ => {
                let t = (0..n).map(|k| (self.rr_next + k) % n).find(|&t| free(t))?;
                self.rr_next = (t + 1) % n;
                Some(t)
            }
        }
    }
}

/// The targets of the first `count` points as the engine places them when every target takes
/// every job (what `plan` shows; least-pending is decided at launch, so round-robin here).
pub fn plan_targets(profile: &Profile) -> impl Iterator<Item = usize> {
    let mut p = Placement::new(profile);
    let mut in_flight = vec![0u32; p.len()];
    let probing = vec![false; p.len()];
    // Caps bound jobs in flight, not the share of a target over the sweep.
    p.targets.iter_mut().for_each(|t| t.max_in_flight = None);
    std::iter::from_fn(move || {
        let t = p.pick(&in_flight, &probing, false)?;
        in_flight[t] += 1;
        Some(t)
    })
}

/// How many of `count` points go to each target (same order as the profile's targets).
pub fn distribution(profile: &Profile, count: u64) -> Vec<u64> {
    let n = profile.targets.len() as u64;
    match profile.policy {
        // Closed forms for the policies whose picks do not depend on the scheduler: a plan of
        // a billion points is instant.
        Policy::Weighted => {
            let weights: Vec<u64> = profile
                .targets
                .iter()
                .map(|t| u64::from(t.weight.max(1)))
                .collect();
            let total: u64 = weights.iter().sum();
            // Whole shares first, the rest as the engine gives them (lowest load per weight).
            let mut shares: Vec<u64> = weights
                .iter()
                .map(|w| (count as u128 * *w as u128 / total as u128) as u64)
                .collect();
            let rest = count - shares.iter().sum::<u64>();
            for _ in 0..rest {
                let t = (0..shares.len())
                    .min_by(|&a, &b| {
                        let la = shares[a] as f64 / weights[a] as f64;
                        let lb = shares[b] as f64 / weights[b] as f64;
                        la.total_cmp(&lb)
                    })
                    .unwrap_or(0);
                shares[t] += 1;
            }
            shares
        }
        _ => (0..n)
            .map(|k| count / n + u64::from(k < count % n))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::PollOpts;
    use crate::spec::BackendKind;
    use std::time::Duration;

    fn profile(policy: Policy, weights: &[u32], caps: &[Option<u32>]) -> Profile {
        Profile {
            backend: BackendKind::Lsf,
            targets: weights
                .iter()
                .zip(caps)
                .enumerate()
                .map(|(i, (&weight, &max_in_flight))| Target {
                    queue: Some(format!("q{i}")),
                    hosts: None,
                    weight,
                    max_in_flight,
                })
                .collect(),
            policy,
            arrays: None,
            poll: PollOpts {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(1),
                factor: 1.0,
            },
            settle: 0.0,
            lost_after: 0.0,
            batch: crate::sched::MAX_BATCH,
        }
    }

    /// Places `n` jobs that never end and counts them per target.
    fn place(p: &mut Placement, n: usize) -> Vec<u32> {
        let mut in_flight = vec![0u32; p.len()];
        let probing = vec![false; p.len()];
        for _ in 0..n {
            match p.pick(&in_flight, &probing, false) {
                Some(t) => in_flight[t] += 1,
                None => break,
            }
        }
        in_flight
    }

    #[test]
    fn round_robin_alternates_and_respects_caps() {
        let pr = profile(Policy::RoundRobin, &[1, 1, 1], &[None, Some(2), None]);
        let mut p = Placement::new(&pr);
        assert_eq!(place(&mut p, 10), [4, 2, 4]);
        let mut p = Placement::new(&pr);
        let order: Vec<usize> = (0..4)
            .map(|_| p.pick(&[0, 0, 0], &[false; 3], false).unwrap())
            .collect();
        assert_eq!(order, [0, 1, 2, 0]);
    }

    #[test]
    fn weighted_shares_follow_the_weights_exactly() {
        let pr = profile(Policy::Weighted, &[3, 1], &[None, None]);
        assert_eq!(place(&mut Placement::new(&pr), 400), [300, 100]);
        assert_eq!(distribution(&pr, 400), [300, 100]);
        // The closed form agrees with the engine's own picks, remainders included.
        for n in [0u64, 1, 5, 7, 1001] {
            let picked = plan_targets(&pr)
                .take(n as usize)
                .fold(vec![0u64; 2], |mut c, t| {
                    c[t] += 1;
                    c
                });
            assert_eq!(distribution(&pr, n), picked, "n={n}");
        }
        // A capped heavy target gives its overflow to the others.
        let capped = profile(Policy::Weighted, &[3, 1], &[Some(30), None]);
        assert_eq!(place(&mut Placement::new(&capped), 100), [30, 70]);
    }

    #[test]
    fn least_pending_fills_the_emptiest_queue_first() {
        let pr = profile(Policy::LeastPending, &[1, 1, 1], &[None, None, None]);
        let mut p = Placement::new(&pr);
        // Without loads it is round-robin.
        assert_eq!(place(&mut p, 3), [1, 1, 1]);
        let mut p = Placement::new(&pr);
        p.set_pending(Some(vec![10, 0, 4]));
        // 14 jobs: queue 1 takes 4 to reach queue 2's 4, then 1 and 2 share until 10, ...
        assert_eq!(place(&mut p, 14), [0, 9, 5]);
        // A fresh count of 24: 4 to queue 1, 12 shared by 1 and 2 up to 10 each, 8 round all.
        assert_eq!(place(&mut p, 24), [3, 13, 8]);
    }

    #[test]
    fn refused_and_probing_targets_get_nothing() {
        let pr = profile(Policy::RoundRobin, &[1, 1], &[None, None]);
        let mut p = Placement::new(&pr);
        p.disable(0, "no such queue".into());
        assert_eq!(place(&mut p, 5), [0, 5]);
        assert_eq!(p.all_refused(), None);
        assert_eq!(p.pick(&[0, 0], &[false, true], false), None);
        p.disable(1, "closed".into());
        assert_eq!(p.all_refused(), Some("closed"));
    }

    #[test]
    fn array_picks_ignore_caps() {
        let pr = profile(Policy::RoundRobin, &[1], &[Some(1)]);
        let mut p = Placement::new(&pr);
        assert_eq!(p.pick(&[5], &[false], false), None);
        assert_eq!(p.pick(&[5], &[false], true), Some(0));
    }
}
