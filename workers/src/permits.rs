//! A queue's handler permits (`worker.concurrency`), and how many of its
//! jobs may be claimed ahead of them.
//!
//! Claiming ahead pays when handlers are quick: the claims share large
//! batches while handlers run. When handlers are slow it only makes claims
//! wait, and a claim that waits past [`LONGEST_PERMIT_WAIT`] is given back
//! and taken again later, which is churn. So the jobs waiting with a claim
//! are bounded by what the permits can start in half that time at the
//! recent handler time, and never more than [`AHEAD`] per permit; a job
//! beyond the bound takes its permit first and is claimed after.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use marquee_core::jobs::LONGEST_PERMIT_WAIT;
use tokio::sync::Semaphore;

/// Most jobs claimed ahead per handler permit.
pub const AHEAD: usize = 8;

/// One queue's permits in one worker process.
pub struct Permits {
    /// The permits themselves.
    pub semaphore: Semaphore,
    concurrency: usize,
    /// Jobs claimed and waiting for a permit.
    waiting: AtomicUsize,
    /// Recent handler time in microseconds (moving average, weight 1/16).
    handler_us: AtomicU64,
}

impl Permits {
    /// `concurrency` permits; handlers are taken to be quick until measured.
    pub fn new(concurrency: usize) -> Self {
        Self {
            semaphore: Semaphore::new(concurrency),
            concurrency,
            waiting: AtomicUsize::new(0),
            handler_us: AtomicU64::new(0),
        }
    }

    /// Takes a place among the jobs waiting with a claim, if there is one.
    pub fn wait_ahead(&self) -> Option<Ahead<'_>> {
        let limit = self.ahead_limit();
        self.waiting
            .fetch_update(Relaxed, Relaxed, |n| (n < limit).then_some(n + 1))
            .ok()
            .map(|_| Ahead(self))
    }

    /// Records how long a handler ran.
    pub fn ran(&self, elapsed: Duration) {
        let sample = elapsed.as_micros().min(u128::from(u32::MAX)) as u64;
        let _ = self.handler_us.fetch_update(Relaxed, Relaxed, |avg| {
            Some(if avg == 0 {
                sample
            } else {
                avg - avg / 16 + sample / 16
            })
        });
    }

    fn ahead_limit(&self) -> usize {
        let budget = LONGEST_PERMIT_WAIT.as_micros() as u64 / 2;
        let per_permit = budget / self.handler_us.load(Relaxed).max(1);
        self.concurrency * (per_permit.min(AHEAD as u64) as usize)
    }
}

/// A place among the jobs waiting with a claim; given up when dropped.
pub struct Ahead<'a>(&'a Permits);

impl Drop for Ahead<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_handlers_claim_up_to_eight_ahead_per_permit() {
        let permits = Permits::new(2);
        permits.ran(Duration::from_millis(1));
        let places: Vec<_> = std::iter::from_fn(|| permits.wait_ahead()).collect();
        assert_eq!(places.len(), 16);
        drop(places);
        assert!(permits.wait_ahead().is_some(), "places are given back");
    }

    #[test]
    fn slow_handlers_claim_only_what_starts_in_time() {
        let permits = Permits::new(10);
        permits.ran(Duration::from_secs(5));
        // 15 s of budget at 5 s a handler: 3 per permit.
        let places: Vec<_> = std::iter::from_fn(|| permits.wait_ahead()).collect();
        assert_eq!(places.len(), 30);
        let permits = Permits::new(10);
        permits.ran(Duration::from_secs(20));
        assert!(
            permits.wait_ahead().is_none(),
            "each takes its permit first"
        );
    }
}
