//! Prometheus metrics: one recorder per process, rendered at `/metrics`.
//! Counters come from where things happen (jobs, emails); queue depth is
//! sampled from Redis when scraped, because apalis-redis keeps no gauge.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use redis::aio::ConnectionManager;

use crate::jobs::redis_queue;
use crate::redis::queue_namespace;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once) and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0])
                .expect("static buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Tests may have installed another recorder first; keep going.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Sets `marquee_queue_depth{queue, state}` for `queues` (ready = in the
/// active list, scheduled = waiting for their time).
pub async fn sample_queue_depths(redis: &ConnectionManager, key_prefix: &str, queues: &[String]) {
    let mut redis = redis.clone();
    for queue in queues {
        let config = apalis_redis::Config::default().queue(queue_namespace(key_prefix, queue));
        if let Ok((ready, scheduled)) = redis_queue::depth(&mut redis, &config).await {
            metrics::gauge!("marquee_queue_depth", "queue" => queue.clone(), "state" => "ready")
                .set(ready as f64);
            metrics::gauge!("marquee_queue_depth", "queue" => queue.clone(), "state" => "scheduled").set(scheduled as f64);
        }
    }
}

/// A figure recomputed at most once per `ttl`. Callers that arrive while
/// it is being recomputed wait for that one computation instead of each
/// running their own, so a burst of requests costs one query.
#[derive(Debug)]
pub struct Cached<T> {
    ttl: Duration,
    slot: tokio::sync::Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Cached<T> {
    /// Keeps each value for `ttl` (zero: never kept).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    /// The kept value if younger than the ttl, else `load`'s (kept only if
    /// it succeeded).
    pub async fn get_or_load<E, F>(&self, load: impl FnOnce() -> F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let value = load().await?;
        *slot = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}
