//! The API's operator figures, kept cheap: Prometheus text is served on a
//! listener of its own (`http.metrics_host:metrics_port`, loopback by
//! default, like the workers' `--metrics-port`), never on the public one,
//! and the figures that cost a query (queue depths in Redis, job totals in
//! the ledger) are recomputed at most once per `http.metrics_cache_seconds`.

use std::time::Duration;

use marquee_core::jobs::QueueTotals;
use marquee_core::metrics::Cached;
use poem::web::Data;
use poem::{EndpointExt, Route};

use crate::state::AppState;

/// Cached figures, shared by the requests of one process.
#[derive(Debug)]
pub struct Figures {
    job_totals: Cached<Vec<QueueTotals>>,
    queue_depths: Cached<()>,
}

impl Figures {
    /// Figures kept for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            job_totals: Cached::new(ttl),
            queue_depths: Cached::new(ttl),
        }
    }

    /// Job totals per queue, from the ledger at most once per ttl.
    pub async fn job_totals(&self, state: &AppState) -> Result<Vec<QueueTotals>, sqlx::Error> {
        self.job_totals
            .get_or_load(|| marquee_core::jobs::totals(&state.pool))
            .await
    }

    /// Prometheus text: this process's counters, and queue depths sampled
    /// from Redis at most once per ttl.
    async fn prometheus(&self, state: &AppState) -> String {
        let queues = marquee_core::jobs::queues::ALL.map(str::to_owned);
        let _ = self
            .queue_depths
            .get_or_load(|| async {
                marquee_core::metrics::sample_queue_depths(
                    &state.redis,
                    &state.settings.redis.key_prefix,
                    &queues,
                )
                .await;
                Ok::<_, std::convert::Infallible>(())
            })
            .await;
        state.metrics.render()
    }
}

/// `GET /metrics` for the metrics listener (no auth: it is not public).
pub fn endpoint(state: AppState) -> impl poem::Endpoint {
    Route::new()
        .at("/metrics", poem::get(prometheus))
        .data(state)
}

#[poem::handler]
async fn prometheus(state: Data<&AppState>) -> poem::Response {
    let text = state.figures.prometheus(&state).await;
    poem::Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
