//! Our retry policy. apalis-redis hard-codes its own (25 attempts, linear
//! delay), so workers never hand it a failure: they decide here and push the
//! next attempt themselves.

use std::time::Duration;

use rand::Rng;

use crate::config::JobSettings;

/// How a job attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// May succeed later (network, timeouts, 4xx SMTP): retried with backoff.
    #[error("{0}")]
    Retryable(String),
    /// Will never succeed (bad data, 5xx SMTP): the job goes dead at once.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    /// A retryable failure from any error.
    pub fn retryable(err: impl std::fmt::Display) -> Self {
        Self::Retryable(err.to_string())
    }

    /// A permanent failure from any error.
    pub fn permanent(err: impl std::fmt::Display) -> Self {
        Self::Permanent(err.to_string())
    }

    /// Whether another attempt may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }
}

/// Exponential backoff with full jitter, capped.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Delay scale of the first retry.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl RetryPolicy {
    /// From `[jobs]`.
    pub fn from_settings(settings: &JobSettings) -> Self {
        Self {
            base: Duration::from_millis(settings.backoff_base_ms),
            max: Duration::from_millis(settings.backoff_max_ms),
        }
    }

    /// Delay before the attempt after `failed_attempt` (1-based): uniform in
    /// [ceiling/2, ceiling] where ceiling = min(max, base * 2^(n-1)). Half the
    /// range is jitter, so a burst of failures spreads out, and no retry comes
    /// sooner than half its nominal delay.
    pub fn backoff(&self, failed_attempt: i32) -> Duration {
        let exponent = failed_attempt.clamp(1, 32) as u32 - 1;
        let ceiling = self
            .base
            .checked_mul(2u32.saturating_pow(exponent))
            .unwrap_or(self.max)
            .min(self.max);
        let half = ceiling / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_jitter_and_is_capped() {
        let policy = RetryPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        for _ in 0..200 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let fourth = policy.backoff(4);
            assert!(fourth >= Duration::from_secs(4) && fourth <= Duration::from_secs(8));
            let late = policy.backoff(30);
            assert!(late >= Duration::from_secs(30) && late <= Duration::from_secs(60));
        }
    }

    #[test]
    fn jitter_spreads_delays() {
        let policy = RetryPolicy {
            base: Duration::from_secs(10),
            max: Duration::from_secs(60),
        };
        let delays: std::collections::HashSet<_> = (0..50).map(|_| policy.backoff(2)).collect();
        assert!(delays.len() > 10, "jitter should vary the delay");
    }
}
