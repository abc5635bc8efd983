//! A queue's handler permits (`worker.concurrency`), and whether a job may
//! be claimed before it has one.
//!
//! Claiming ahead pays when handlers are quick: the claims share large
//! batches while handlers run. When handlers are slow it only makes claims
//! wait, and a claim that waits past
//! [`LONGEST_PERMIT_WAIT`](marquee_core::jobs::LONGEST_PERMIT_WAIT) is given
//! back and taken again later, which is churn. Jobs wait for permits first come
//! first served, so a job may be claimed ahead only while the jobs already
//! waiting (claimed or not) can all start within [`AHEAD_BUDGET`] at the
//! recent handler time, and while fewer than [`AHEAD`] per permit wait. A
//! job beyond that takes its permit first and is claimed after.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::Semaphore;

/// Most jobs waiting per handler permit for a job to be claimed ahead.
/// Thirty: no-op jobs at concurrency 50 drained 21k/s holding 450 jobs (8
/// per permit), 24k holding 800 and 26k holding 1,500 (docs/BENCHMARKS.md,
/// eighth slice); more held nothing more.
pub const AHEAD: usize = 30;

/// How much handler time the jobs waiting for a permit may add up to for
/// one more to be claimed ahead. A claimed job's attempt is spent if the
/// worker dies before it starts, and one waiting past
/// [`LONGEST_PERMIT_WAIT`](marquee_core::jobs::LONGEST_PERMIT_WAIT) is
/// given back. 2 s keeps both small for real handlers (4 per permit at
/// 0.5 s a handler, none from 2 s; it was 15 s), while 30 per permit of
/// no-op jobs are ~60 ms of work.
pub const AHEAD_BUDGET: Duration = Duration::from_secs(2);

/// One queue's permits in one worker process.
pub struct Permits {
    /// The permits themselves.
    pub semaphore: Semaphore,
    concurrency: usize,
    /// Jobs waiting for a permit, claimed or not.
    waiting: AtomicUsize,
    /// Recent handler time in microseconds (moving average, weight 1/16);
    /// 0 until the first handler ran.
    handler_us: AtomicU64,
}

impl Permits {
    /// `concurrency` permits.
    pub fn new(concurrency: usize) -> Self {
        Self {
            semaphore: Semaphore::new(concurrency),
            concurrency,
            waiting: AtomicUsize::new(0),
            handler_us: AtomicU64::new(0),
        }
    }

    /// Joins the jobs waiting for a permit (until the returned place is
    /// dropped), and says whether this one may be claimed before its permit.
    pub fn join(&self) -> (Place<'_>, bool) {
        let ahead = self.waiting.fetch_add(1, Relaxed) < self.ahead_limit();
        (Place(self), ahead)
    }

    /// Records how long a handler ran.
    pub fn ran(&self, elapsed: Duration) {
        let sample = elapsed.as_micros().clamp(1, u128::from(u32::MAX)) as u64;
        let _ = self.handler_us.fetch_update(Relaxed, Relaxed, |avg| {
            Some(if avg == 0 {
                sample
            } else {
                avg - avg / 16 + sample / 16
            })
        });
    }

    /// Jobs that may wait when one more is claimed ahead. Before any
    /// handler ran, one per permit: a slow queue must not claim a batch
    /// that waits past the give-back after every start.
    fn ahead_limit(&self) -> usize {
        let per_permit = match self.handler_us.load(Relaxed) {
            0 => 1,
            us => (AHEAD_BUDGET.as_micros() as u64 / us).min(AHEAD as u64) as usize,
        };
        self.concurrency * per_permit
    }
}

/// A place among the jobs waiting for a permit; left when dropped.
pub struct Place<'a>(&'a Permits);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many of `jobs` joining at once may be claimed ahead.
    fn ahead_of(permits: &Permits, jobs: usize) -> usize {
        let places: Vec<_> = (0..jobs).map(|_| permits.join()).collect();
        places.iter().filter(|(_, ahead)| *ahead).count()
    }

    #[test]
    fn one_per_permit_until_a_handler_ran() {
        assert_eq!(ahead_of(&Permits::new(4), 100), 4);
    }

    #[test]
    fn quick_handlers_let_thirty_per_permit_wait_with_a_claim() {
        let permits = Permits::new(2);
        permits.ran(Duration::from_millis(1));
        assert_eq!(ahead_of(&permits, 100), 60);
        assert_eq!(ahead_of(&permits, 100), 60, "places are left when dropped");
    }

    #[test]
    fn slow_handlers_count_every_waiting_job() {
        let permits = Permits::new(10);
        permits.ran(Duration::from_millis(500));
        // 2 s at 0.5 s a handler: 4 waiting per permit, claimed or not.
        let unclaimed: Vec<_> = (0..25).map(|_| permits.join()).collect();
        assert_eq!(ahead_of(&permits, 100), 15);
        drop(unclaimed);
        permits.ran(Duration::from_millis(2500));
        permits.ran(Duration::from_millis(2500));
        assert_eq!(ahead_of(&permits, 10), 10, "the average moves slowly");
        for _ in 0..64 {
            permits.ran(Duration::from_millis(2500));
        }
        assert_eq!(
            ahead_of(&permits, 10),
            0,
            "then every job takes its permit first"
        );
    }
}
