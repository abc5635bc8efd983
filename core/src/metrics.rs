//! Prometheus metrics: one recorder per process, rendered at `/metrics`.
//! Counters come from where things happen (jobs, emails); queue depth is
//! sampled from Redis when scraped, because apalis-redis keeps no gauge.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::redis::RedisConn;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::jobs::redis_queue;
use crate::redis::queue_namespace;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// HELP text and unit of every metric Marquee exports, so each carries
/// `# HELP` and `# TYPE` (Prometheus conventions: base units in the name,
/// `_total` on counters). A metric not listed here is a bug; the test of
/// the dashboards checks their metrics against real output.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "marquee_jobs_total",
        Unit::Count,
        "Job attempts finished, by queue and outcome (succeeded, retrying, dead)."
    );
    describe_histogram!(
        "marquee_job_duration_seconds",
        Unit::Seconds,
        "Time one job attempt took, by queue."
    );
    describe_gauge!(
        "marquee_worker_jobs_in_flight",
        Unit::Count,
        "Jobs this worker process is running now, by queue."
    );
    describe_gauge!(
        "marquee_worker_queue_info",
        "Always 1: the Redis list holding each consumed queue's ready jobs (ready_list), the key an autoscaler watches."
    );
    describe_counter!(
        "marquee_http_requests_shed_total",
        Unit::Count,
        "API requests answered 503 after waiting http.max_wait_seconds for a slot."
    );
    describe_gauge!(
        "marquee_http_requests_waiting",
        Unit::Count,
        "API requests waiting for one of http.max_in_flight_requests slots."
    );
    describe_gauge!(
        "marquee_queue_depth",
        Unit::Count,
        "Jobs in Redis by queue and state: ready (due, waiting for a worker) or scheduled."
    );
    describe_gauge!(
        "marquee_queue_latency_seconds",
        Unit::Seconds,
        "Age of the oldest ready job of a queue (0 when none waits)."
    );
    describe_gauge!(
        "marquee_queue_jobs",
        Unit::Count,
        "Jobs in the ledger by queue and state: ready, scheduled, running, retrying, dead."
    );
    describe_gauge!(
        "marquee_queue_paused",
        Unit::Count,
        "1 while operators have paused the queue, else 0."
    );
    describe_gauge!(
        "marquee_queue_workers",
        Unit::Count,
        "Live worker processes consuming the queue."
    );
    describe_gauge!(
        "marquee_dependency_up",
        Unit::Count,
        "1 when the dependency (postgres, redis) answered the last probe, else 0."
    );
    describe_counter!(
        "marquee_ledger_write_retries_total",
        Unit::Count,
        "Ledger writes (claim, finish) a worker retried after PostgreSQL failed them."
    );
    describe_counter!(
        "marquee_emails_total",
        Unit::Count,
        "Emails handled by workers, by outcome."
    );
    describe_counter!(
        "marquee_emails_interrupted_total",
        Unit::Count,
        "Emails whose send was cut off before its outcome was known."
    );
    describe_counter!(
        "marquee_checkins_total",
        Unit::Count,
        "Ticket scans at the door, by result."
    );
    describe_counter!(
        "marquee_code_guesses_failed_total",
        Unit::Count,
        "Wrong one-time codes entered, by purpose."
    );
    describe_counter!(
        "marquee_code_guesses_refused_total",
        Unit::Count,
        "Code checks refused by the guessing limits."
    );
    describe_counter!(
        "marquee_tickets_issued_total",
        Unit::Count,
        "Tickets issued, reissues included."
    );
    describe_counter!(
        "marquee_waitlist_offers_total",
        Unit::Count,
        "Waitlist offers made."
    );
    describe_counter!(
        "marquee_waitlist_conversions_total",
        Unit::Count,
        "Waitlist offers booked."
    );
    describe_counter!(
        "marquee_waitlist_declines_total",
        Unit::Count,
        "Waitlist offers declined."
    );
    describe_counter!(
        "marquee_waitlist_offers_expired_total",
        Unit::Count,
        "Waitlist offers that expired."
    );
    describe_counter!(
        "marquee_live_published_total",
        Unit::Count,
        "Live event updates published to Redis (snapshots and announcements)."
    );
    describe_counter!(
        "marquee_live_dropped_total",
        Unit::Count,
        "Live streams dropped because their client fell too far behind."
    );
    describe_gauge!(
        "marquee_live_streams",
        Unit::Count,
        "Live event streams open on this process."
    );
    describe_counter!(
        "marquee_scheduler_ticks_total",
        Unit::Count,
        "Cron ticks by schedule and outcome (enqueued, duplicate: another replica had, error)."
    );
    describe_counter!(
        "marquee_relay_jobs_total",
        Unit::Count,
        "Jobs the relay pushed to Redis: undispatched (the producer had not) or stale (Redis may have lost them)."
    );
    describe_counter!(
        "marquee_relay_errors_total",
        Unit::Count,
        "Relay passes that failed, by kind."
    );
    describe_histogram!(
        "marquee_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request time by method, route template and status."
    );
}

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
            describe();
            handle
        })
        .clone()
}

/// The longest a metrics sample waits for Redis or PostgreSQL: a scrape
/// must not hang on a store that is away.
pub const SAMPLE_TIMEOUT: Duration = Duration::from_millis(500);

/// Sets `marquee_queue_depth{queue, state}` for `queues` (ready = in the
/// active list, scheduled = waiting for their time). Gives up after
/// [`SAMPLE_TIMEOUT`], keeping the previous values.
pub async fn sample_queue_depths(redis: &RedisConn, key_prefix: &str, queues: &[String]) {
    let sample = async {
        let mut redis = redis.clone();
        for queue in queues {
            let config = apalis_redis::Config::default().queue(queue_namespace(key_prefix, queue));
            if let Ok((ready, scheduled)) = redis_queue::depth(&mut redis, &config).await {
                metrics::gauge!("marquee_queue_depth", "queue" => queue.clone(), "state" => "ready")
                    .set(ready as f64);
                metrics::gauge!("marquee_queue_depth", "queue" => queue.clone(), "state" => "scheduled").set(scheduled as f64);
            }
        }
    };
    let _ = tokio::time::timeout(SAMPLE_TIMEOUT, sample).await;
}

/// Sets `marquee_queue_latency_seconds{queue}`, the age of the oldest ready
/// job, from the ledger; gives up after [`SAMPLE_TIMEOUT`].
pub async fn sample_queue_latencies(pool: &sqlx::PgPool, queues: &[String]) {
    let sample = crate::ops::queues::latencies(pool, queues);
    if let Ok(Ok(latencies)) = tokio::time::timeout(SAMPLE_TIMEOUT, sample).await {
        for (queue, seconds) in latencies {
            metrics::gauge!("marquee_queue_latency_seconds", "queue" => queue).set(seconds);
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
