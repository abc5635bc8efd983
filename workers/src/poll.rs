//! How often an idle consumer asks Redis for work. apalis's own interval
//! strategy (`poll_with_interval`, apalis-core 1.0.0) replaces a timer that
//! fired with a new one it does not poll, so the new timer holds no waker.
//! If the fetch it triggered is slow (a Redis stall, a cluster failover the
//! client rides out) and the backend's heartbeat timer fires meanwhile
//! too, the fetch comes back empty, the consumer parks, and nothing ever
//! wakes it: the queue stops for good with no error. This one polls the new
//! timer at once, so a tick always comes.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{PollSnapshot, PollStrategy};
use tokio::time::{Instant, Sleep};

/// Wakes the consumer every `interval`, whatever happened in between.
pub struct Ticking {
    interval: Duration,
    timer: Pin<Box<Sleep>>,
}

impl Ticking {
    /// Ticks every `interval`.
    pub fn every(interval: Duration) -> Self {
        Self {
            interval,
            timer: Box::pin(tokio::time::sleep(interval)),
        }
    }
}

impl PollStrategy for Ticking {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        if self.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.timer.as_mut().reset(Instant::now() + self.interval);
        // Registers this task's waker with the next tick: the caller may
        // park without polling the strategy again.
        let _ = self.timer.as_mut().poll(cx);
        Poll::Ready(Some(()))
    }
}
