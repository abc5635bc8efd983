//! `/api/v1/ops/*`: queues, jobs, workers, history and the audit trail, for
//! admins and their `ops:` API keys.

mod access;
pub(crate) mod filter;
mod jobs;
mod views;

use chrono::{Duration, Utc};
use marquee_core::ops::{self, Action, audit, history, queues};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{OpenApi, payload::Json};

use crate::auth::AnyAuth;
use crate::contract::{FORBIDDEN, Problems, UNPROCESSABLE_ENTITY};
use crate::problem::{ApiError, FieldError};
use crate::routes::ApiTags;
use crate::state::AppState;
pub use jobs::OpsJobsApi;
pub use views::*;

/// Queue, worker, history and audit endpoints.
pub struct OpsApi;

fn unprocessable(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

impl OpsApi {
    async fn switch(
        state: &AppState,
        auth: &AnyAuth,
        name: &str,
        action: Action,
    ) -> Result<Json<QueueView>, ApiError> {
        let actor = access::writer(auth.caller())?;
        let overview = crate::actions::ops::switch_queue(state, &actor, name, action).await?;
        Ok(Json(overview.into()))
    }
}

#[OpenApi(prefix_path = "/api/v1/ops", tag = "ApiTags::Ops")]
impl OpsApi {
    /// Every configured queue: counts by state, pause, latency and recent
    /// throughput.
    #[oai(path = "/queues", method = "get")]
    async fn queues(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
    ) -> Result<Json<QueueList>, Problems<FORBIDDEN>> {
        access::reader(auth.caller())?;
        let queues = queues::overview(&state.pool, &state.settings.worker.queues)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(QueueList {
            queues: queues.into_iter().map(Into::into).collect(),
        }))
    }

    /// Pause a queue: within `worker.pause_poll_ms` every worker process
    /// stops taking its jobs (jobs in flight finish; fetched ones go back)
    /// and jobs wait until it resumes. Survives restarts. Idempotent.
    #[oai(path = "/queues/:name/pause", method = "post")]
    async fn pause(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        name: Path<String>,
    ) -> Result<Json<QueueView>, Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        Ok(Self::switch(&state, &auth, &name.0, Action::Pause).await?)
    }

    /// Resume a paused queue. Idempotent.
    #[oai(path = "/queues/:name/resume", method = "post")]
    async fn resume(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        name: Path<String>,
    ) -> Result<Json<QueueView>, Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        Ok(Self::switch(&state, &auth, &name.0, Action::Resume).await?)
    }

    /// Worker processes: live ones, then those gone within the last hour.
    #[oai(path = "/workers", method = "get")]
    async fn workers(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
    ) -> Result<Json<WorkerList>, Problems<FORBIDDEN>> {
        access::reader(auth.caller())?;
        let rows = ops::workers::list(&state.pool, ops::retention::WORKERS_GONE_KEPT)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(WorkerList {
            items: rows.into_iter().map(Into::into).collect(),
        }))
    }

    /// Processed and failed attempts per queue: `resolution=minute` (the
    /// default; the last 48 hours are kept, 60 minutes by default) or
    /// `day` (90 days kept, 30 by default). `queue` narrows to one queue.
    #[oai(path = "/history", method = "get")]
    async fn history(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        queue: Query<Option<String>>,
        resolution: Query<Option<String>>,
        from: Query<Option<String>>,
        to: Query<Option<String>>,
    ) -> Result<Json<HistoryView>, Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        access::reader(auth.caller())?;
        let mut errors = Vec::new();
        let configured = &state.settings.worker.queues;
        let queues = match &queue.0 {
            Some(name) if filter::known_queue(name, configured, &mut errors, "queue") => {
                vec![name.clone()]
            }
            Some(_) => Vec::new(),
            None => configured.clone(),
        };
        let (resolution, kept, default_span) = match resolution.0.as_deref() {
            None | Some("minute") => (
                history::Resolution::Minute,
                Duration::hours(history::MINUTES_KEPT_HOURS),
                Duration::minutes(60),
            ),
            Some("day") => (
                history::Resolution::Day,
                Duration::days(history::DAYS_KEPT),
                Duration::days(30),
            ),
            Some(_) => {
                errors.push(FieldError {
                    field: "resolution".to_owned(),
                    message: "must be `minute` or `day`".to_owned(),
                });
                (
                    history::Resolution::Minute,
                    Duration::zero(),
                    Duration::zero(),
                )
            }
        };
        let mut at = |field: &str, value: &Option<String>| {
            value
                .as_deref()
                .and_then(|v| match chrono::DateTime::parse_from_rfc3339(v) {
                    Ok(at) => Some(at.with_timezone(&Utc)),
                    Err(_) => {
                        errors.push(FieldError {
                            field: field.to_owned(),
                            message: "must be an RFC 3339 time".to_owned(),
                        });
                        None
                    }
                })
        };
        let now = Utc::now();
        let to = at("to", &to.0).unwrap_or(now).min(now);
        let from = at("from", &from.0)
            .unwrap_or(to - default_span)
            .max(now - kept);
        if from > to {
            errors.push(FieldError {
                field: "from".to_owned(),
                message: "must be before `to` and within the kept history".to_owned(),
            });
        }
        unprocessable(errors)?;
        let points = history::series(&state.pool, &queues, resolution, from, to)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(HistoryView {
            resolution: match resolution {
                history::Resolution::Minute => "minute",
                history::Resolution::Day => "day",
            }
            .to_owned(),
            points: points.into_iter().map(Into::into).collect(),
        }))
    }

    /// Operator actions, newest first: `action` narrows to one kind,
    /// `before` (an id) pages, `limit` 1-1000 (default 50).
    #[oai(path = "/audit", method = "get")]
    async fn audit(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        action: Query<Option<String>>,
        before: Query<Option<i64>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<AuditPage>, Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        access::reader(auth.caller())?;
        let mut errors = Vec::new();
        let limit = filter::limit(limit.0, &mut errors);
        let action = action.0.as_deref().and_then(|name| {
            let parsed = Action::parse(name);
            if parsed.is_none() {
                errors.push(FieldError {
                    field: "action".to_owned(),
                    message: "must be pause, resume, retry, discard or cancel".to_owned(),
                });
            }
            parsed
        });
        unprocessable(errors)?;
        let items = audit::list(&state.pool, action, before.0, limit)
            .await
            .map_err(ApiError::from)?;
        let next_before = (items.len() as i64 == limit)
            .then(|| items.last().map(|entry| entry.id))
            .flatten();
        Ok(Json(AuditPage {
            items: items.into_iter().map(Into::into).collect(),
            next_before,
        }))
    }
}
