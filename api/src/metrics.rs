//! The API's operator figures, kept cheap: Prometheus text is served on a
//! listener of its own (`http.metrics_host:metrics_port`, loopback by
//! default, like the workers' `--metrics-port`), never on the public one,
//! and the figures that cost a query (queue depths in Redis, job totals in
//! the ledger) are recomputed at most once per `http.metrics_cache_seconds`.
//! Request durations are labelled by route template, never by raw path.

use std::time::Duration;

use marquee_core::jobs::QueueTotals;
use marquee_core::metrics::{Cached, SAMPLE_TIMEOUT};
use poem::web::Data;
use poem::{EndpointExt, Route};

use crate::state::AppState;

/// Cached figures, shared by the requests of one process.
#[derive(Debug)]
pub struct Figures {
    job_totals: Cached<Vec<QueueTotals>>,
    queue_gauges: Cached<()>,
}

impl Figures {
    /// Figures kept for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            job_totals: Cached::new(ttl),
            queue_gauges: Cached::new(ttl),
        }
    }

    /// Job totals per queue, from the ledger at most once per ttl.
    pub async fn job_totals(&self, state: &AppState) -> Result<Vec<QueueTotals>, sqlx::Error> {
        self.job_totals
            .get_or_load(|| marquee_core::jobs::totals(&state.pool))
            .await
    }

    /// Prometheus text: this process's counters, and the queue and
    /// dependency gauges, sampled at most once per ttl and each within
    /// `SAMPLE_TIMEOUT` (a store that is away never hangs the scrape).
    async fn prometheus(&self, state: &AppState) -> String {
        let _ = self
            .queue_gauges
            .get_or_load(|| async {
                sample_queue_gauges(state).await;
                Ok::<_, std::convert::Infallible>(())
            })
            .await;
        state.metrics.render()
    }
}

/// Ledger counts per queue and state, pauses, live workers per queue,
/// latencies and Redis depths, and whether PostgreSQL and Redis answer.
async fn sample_queue_gauges(state: &AppState) {
    let queues = &state.settings.worker.queues;
    let ledger = async {
        let overview = marquee_core::ops::queues::overview(&state.pool, queues).await?;
        let workers = marquee_core::ops::workers::live_per_queue(&state.pool).await?;
        Ok::<_, sqlx::Error>((overview, workers))
    };
    let postgres_up = match tokio::time::timeout(SAMPLE_TIMEOUT, ledger).await {
        Ok(Ok((overview, workers))) => {
            for queue in overview {
                for (name, value) in [
                    ("ready", queue.ready),
                    ("scheduled", queue.scheduled),
                    ("running", queue.running),
                    ("retrying", queue.retrying),
                    ("dead", queue.dead),
                ] {
                    metrics::gauge!("marquee_queue_jobs", "queue" => queue.name.clone(), "state" => name)
                        .set(value as f64);
                }
                metrics::gauge!("marquee_queue_paused", "queue" => queue.name.clone())
                    .set(f64::from(u8::from(queue.paused)));
                metrics::gauge!("marquee_queue_latency_seconds", "queue" => queue.name.clone())
                    .set(queue.latency_seconds);
                let live = workers
                    .iter()
                    .find(|(name, _)| *name == queue.name)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("marquee_queue_workers", "queue" => queue.name).set(live as f64);
            }
            true
        }
        _ => false,
    };
    let redis_up = tokio::time::timeout(
        SAMPLE_TIMEOUT,
        marquee_core::redis::ping(&mut state.redis.clone()),
    )
    .await
    .is_ok_and(|answer| answer.is_ok());
    if redis_up {
        marquee_core::metrics::sample_queue_depths(
            &state.redis,
            &state.settings.redis.key_prefix,
            queues,
        )
        .await;
    }
    for (dependency, up) in [("postgres", postgres_up), ("redis", redis_up)] {
        metrics::gauge!("marquee_dependency_up", "dependency" => dependency)
            .set(f64::from(u8::from(up)));
    }
}

/// The OpenAPI path templates, to label request metrics by route (bounded
/// cardinality: ids never become labels).
#[derive(Debug, Default)]
pub struct RouteTemplates(Vec<(String, Vec<Option<String>>)>);

impl RouteTemplates {
    /// From the `paths` of an OpenAPI document, plus the documents' own.
    pub fn from_spec(spec: &serde_json::Value) -> Self {
        let mut templates: Vec<String> = spec["paths"]
            .as_object()
            .map(|paths| paths.keys().cloned().collect())
            .unwrap_or_default();
        templates.extend(["/openapi.json".to_owned(), "/docs".to_owned()]);
        Self(
            templates
                .into_iter()
                .map(|template| {
                    let segments = template
                        .split('/')
                        .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned()))
                        .collect();
                    (template, segments)
                })
                .collect(),
        )
    }

    /// The template `path` matches, preferring literal segments
    /// (`/ops/jobs/retry` over `/ops/jobs/{id}`); `unmatched` for none.
    pub fn of(&self, path: &str) -> &str {
        let given: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .filter(|(_, segments)| segments.len() == given.len())
            .filter(|(_, segments)| {
                segments
                    .iter()
                    .zip(&given)
                    .all(|(s, g)| s.as_deref().is_none_or(|literal| literal == *g))
            })
            .max_by_key(|(_, segments)| segments.iter().filter(|s| s.is_some()).count())
            .map_or("unmatched", |(template, _)| template.as_str())
    }
}

/// Records `marquee_http_request_duration_seconds{method, route, status}`.
pub async fn timed(
    templates: &RouteTemplates,
    next: impl poem::Endpoint,
    request: poem::Request,
) -> poem::Result<poem::Response> {
    let started = std::time::Instant::now();
    let method = method_label(request.method());
    let route = templates.of(request.uri().path()).to_owned();
    let response = next.get_response(request).await;
    metrics::histogram!(
        "marquee_http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .record(started.elapsed().as_secs_f64());
    Ok(response)
}

/// The standard methods by name, anything else as `other`: hyper accepts
/// any token as a method, and each label value would be a new series.
fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
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
