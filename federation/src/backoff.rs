//! Retry schedule of the delivery queue: exponential, capped, never giving up.
//!
//! A failed delivery to an inbox is retried after `base · 2^(failures-1)`, at most `cap`. With a
//! cap of a minute, a peer that comes back after an outage of any length gets its backlog within
//! a minute; retries go on as long as the peer stays followed (well past 24 hours).

use std::time::Duration;

/// Delay policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
}

impl Backoff {
    /// Delay before the next attempt after `failures` consecutive failures (0 → none).
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        };
        let delays: Vec<u64> = (0..9).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(delays, [0, 1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff.delay(500), Duration::from_secs(60));
    }
}
