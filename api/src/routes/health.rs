//! Liveness, readiness and ping.

use std::time::Duration;

use marquee_core::auth::Role;
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use crate::auth::BearerAuth;
use crate::contract::{FORBIDDEN, Problems};
use crate::routes::ApiTags;
use crate::state::AppState;

/// Health endpoints, outside `/api/v1` so probes never change.
pub struct HealthApi;

/// `{"message": "pong"}`
#[derive(Debug, Object)]
pub struct Pong {
    /// Always `pong`.
    pub message: String,
}

/// The state of each dependency.
#[derive(Debug, Object)]
pub struct Checks {
    /// `ok` or `down: <reason>`.
    pub postgres: String,
    /// `ok` or `down: <reason>`.
    pub redis: String,
}

/// Everything answers.
#[derive(Debug, Object)]
pub struct Ready {
    /// `ok`
    pub status: String,
    /// Per dependency.
    pub checks: Checks,
}

/// A dependency is down: a problem document naming it.
#[derive(Debug, Object)]
pub struct NotReady {
    /// `about:blank`
    #[oai(rename = "type")]
    pub kind: String,
    /// `Service Unavailable`
    pub title: String,
    /// 503
    pub status: u16,
    /// Which dependencies are down.
    pub detail: String,
    /// Per dependency.
    pub checks: Checks,
}

/// One queue's jobs by outcome.
#[derive(Debug, Object)]
pub struct QueueTotals {
    /// Queue name.
    pub queue: String,
    /// Attempts finished in the last 90 days.
    pub executed: i64,
    /// Of those, succeeded.
    pub succeeded: i64,
    /// Of those, failed (retried or dead).
    pub failed: i64,
    /// Jobs waiting for another attempt now.
    pub retrying: i64,
    /// Jobs queued, dispatched or running now.
    pub pending: i64,
}

/// Totals over every queue.
#[derive(Debug, Object)]
pub struct JobTotals {
    /// Attempts finished in the last 90 days.
    pub executed: i64,
    /// Of those, succeeded.
    pub succeeded: i64,
    /// Of those, failed.
    pub failed: i64,
    /// Per queue.
    pub queues: Vec<QueueTotals>,
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// PostgreSQL and Redis answer.
    #[oai(status = 200)]
    Ready(Json<Ready>),
    /// Something is down; retry after the given seconds.
    #[oai(status = 503, content_type = "application/problem+json")]
    NotReady(Json<NotReady>, #[oai(header = "Retry-After")] u32),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// The process is up.
    #[oai(path = "/health/live", method = "get")]
    async fn live(&self) -> Json<Pong> {
        Json(Pong {
            message: "alive".to_owned(),
        })
    }

    /// PostgreSQL and Redis both answer; 503 naming what is down otherwise.
    #[oai(path = "/health/ready", method = "get")]
    async fn ready(&self, state: Data<&AppState>) -> ReadyResponse {
        let (postgres, redis) = tokio::join!(check_postgres(state.0), check_redis(state.0));
        let down: Vec<&str> = [("postgres", &postgres), ("redis", &redis)]
            .into_iter()
            .filter(|(_, r)| r.is_err())
            .map(|(name, _)| name)
            .collect();
        let checks = Checks {
            postgres: describe(postgres),
            redis: describe(redis),
        };
        if down.is_empty() {
            return ReadyResponse::Ready(Json(Ready {
                status: "ok".to_owned(),
                checks,
            }));
        }
        tracing::warn!(down = ?down, "not ready");
        ReadyResponse::NotReady(
            Json(NotReady {
                kind: "about:blank".to_owned(),
                title: "Service Unavailable".to_owned(),
                status: 503,
                detail: format!("{} down", down.join(" and ")),
                checks,
            }),
            5,
        )
    }

    /// Job totals, overall and per queue (all workers), from the history
    /// counters and the unfinished jobs. Operators only (signed-in admins);
    /// recomputed at most every `http.metrics_cache_seconds`.
    #[oai(path = "/health/metrics", method = "get")]
    async fn metrics(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<JobTotals>, Problems<FORBIDDEN>> {
        auth.0.require_person()?;
        auth.0.require(Role::Admin)?;
        let queues: Vec<QueueTotals> = state
            .figures
            .job_totals(&state)
            .await
            .map_err(crate::problem::ApiError::from)?
            .into_iter()
            .map(|q| QueueTotals {
                queue: q.queue,
                executed: q.executed,
                succeeded: q.succeeded,
                failed: q.failed,
                retrying: q.retrying,
                pending: q.pending,
            })
            .collect();
        let sum = |f: fn(&QueueTotals) -> i64| queues.iter().map(f).sum();
        Ok(Json(JobTotals {
            executed: sum(|q| q.executed),
            succeeded: sum(|q| q.succeeded),
            failed: sum(|q| q.failed),
            queues,
        }))
    }

    /// Answers `pong`.
    #[oai(path = "/health/ping", method = "get")]
    async fn ping(&self) -> Json<Pong> {
        Json(Pong {
            message: "pong".to_owned(),
        })
    }
}

fn describe(result: Result<(), String>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(reason) => format!("down: {reason}"),
    }
}

async fn check_postgres(state: &AppState) -> Result<(), String> {
    let query = marquee_core::db::ping(&state.pool);
    match tokio::time::timeout(Duration::from_secs(2), query).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

async fn check_redis(state: &AppState) -> Result<(), String> {
    marquee_core::redis::ping(&mut state.redis.clone()).await
}
