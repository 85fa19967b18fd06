//! When a point gets another attempt on its own: the sweep's retry rules.

use crate::model::{AttemptRec, State};

/// The sweep's retry rules.
#[derive(Debug, Clone)]
pub struct RetryRules {
    /// Attempts per point, the first included.
    pub max_attempts: u32,
}

impl RetryRules {
    /// Whether the attempt that just ended earns its point a new one. Only a job that ran and
    /// exited non-zero is retried automatically: a job that vanished (lost, killed from
    /// outside) might still be running somewhere, and a second copy is worse than a wait;
    /// `bsweep retry --failed` is the user's call then.
    pub fn retries(&self, a: &AttemptRec) -> bool {
        a.state == State::Failed && a.exit_code.is_some() && a.attempt < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobId;

    fn ended(attempt: u32, state: State, exit_code: Option<i32>) -> AttemptRec {
        let mut a = AttemptRec::found(attempt, "j".into(), 0, JobId::new("1"));
        a.exit_code = exit_code;
        a.end(state, 1.0);
        a
    }

    #[test]
    fn only_jobs_that_exited_non_zero_are_retried_up_to_max_attempts() {
        let r = RetryRules { max_attempts: 3 };
        assert!(r.retries(&ended(1, State::Failed, Some(7))));
        assert!(r.retries(&ended(2, State::Failed, Some(7))));
        assert!(!r.retries(&ended(3, State::Failed, Some(7))));
        // Lost or killed without an exit code: might still run somewhere.
        assert!(!r.retries(&ended(1, State::Failed, None)));
        assert!(!r.retries(&ended(1, State::Done, Some(0))));
        assert!(!r.retries(&ended(1, State::Cancelled, Some(130))));
        assert!(!RetryRules { max_attempts: 1 }.retries(&ended(1, State::Failed, Some(1))));
    }
}
