//! At most `http.max_in_flight_requests` requests are handled at once; the
//! rest wait, in arrival order, before any handler state exists.
//!
//! Why: under a rush every client keeps a request in flight while a pool of
//! a few dozen database connections serves them, so all but those few only
//! wait. A request that waits inside its handler holds the handler's state
//! and its place in the pool's wait list; one that waits here holds only
//! its headers and (small, bounded) body. The queue is the same, since the
//! semaphore is fair as the pool is; the memory per waiting client is not.
//!
//! The slot is taken after the boundary has read the body: a client that
//! sends its body slowly holds its own connection, never a slot, so a few
//! hundred stalled uploads cannot shut everyone else out.
//!
//! `/health/*` never waits: a liveness probe must not fail because the API
//! is busy serving, or an orchestrator restarts it exactly when it is
//! needed most.

use std::sync::Arc;
use std::time::Duration;

use poem::{Endpoint, IntoResponse, Request, Response};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::problem::ApiError;

/// The limit shared by every connection.
#[derive(Clone)]
pub struct InFlight {
    permits: Arc<Semaphore>,
    max_wait: Duration,
}

impl InFlight {
    /// At most `limit` requests at once (0 means no limit); a request that
    /// waits longer than `max_wait` for a slot is answered 503.
    pub fn new(limit: usize, max_wait: Duration) -> Self {
        let permits = match limit {
            0 => Semaphore::MAX_PERMITS,
            n => n,
        };
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            max_wait,
        }
    }

    /// Middleware body; use with `EndpointExt::around`.
    pub async fn admit<E: Endpoint>(
        &self,
        next: Arc<E>,
        request: Request,
    ) -> poem::Result<Response> {
        // Held until the response is built.
        let _slot = if request.uri().path().starts_with("/health/") {
            None
        } else {
            Some(self.wait_for_a_slot().await?)
        };
        next.call(request).await.map(IntoResponse::into_response)
    }

    /// The wait is bounded: hyper does not cancel a request whose client
    /// went away, so without a bound, requests stuck behind a lock would
    /// hold the queue for routes that need no database at all.
    async fn wait_for_a_slot(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        let _waiting = Waiting::start();
        match tokio::time::timeout(self.max_wait, self.permits.acquire()).await {
            Ok(permit) => Ok(permit.expect("the semaphore is never closed")),
            Err(_) => {
                metrics::counter!("marquee_http_requests_shed_total").increment(1);
                Err(ApiError::Unavailable {
                    detail: "the API is at its limit of requests in flight; retry shortly"
                        .to_owned(),
                    retry_after: self.retry_after(),
                })
            }
        }
    }

    /// A shed request waited `max_wait` behind a queue at least that long:
    /// retrying after one second would only rejoin its tail, so clients are
    /// told to come back once about half of it has drained.
    fn retry_after(&self) -> u32 {
        (self.max_wait.as_secs() / 2).clamp(1, 30) as u32
    }
}

/// Counts a request in `marquee_http_requests_waiting` while it waits,
/// including one whose client goes away meanwhile.
struct Waiting;

impl Waiting {
    fn start() -> Self {
        metrics::gauge!("marquee_http_requests_waiting").increment(1.0);
        Self
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::gauge!("marquee_http_requests_waiting").decrement(1.0);
    }
}
