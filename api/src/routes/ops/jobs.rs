//! `/api/v1/ops/jobs*`: the ledger, read and acted on.

use marquee_core::ops::{self, Action};

use crate::actions::ops::Selection;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{ApiResponse, OpenApi, payload::Json};
use uuid::Uuid;

use super::filter::{self, FilterBody};
use super::views::*;
use super::{access, unprocessable};
use crate::auth::AnyAuth;
use crate::contract::{CONFLICT, FORBIDDEN, NOT_FOUND, Problems, UNPROCESSABLE_ENTITY};
use crate::problem::{ApiError, FieldError};
use crate::routes::ApiTags;
use crate::state::AppState;

/// Job endpoints.
pub struct OpsJobsApi;

/// Ids one bulk request may name.
const MAX_IDS: usize = 10_000;

#[derive(ApiResponse)]
enum DiscardResponse {
    /// Deleted, with its data in Redis.
    #[oai(status = 204)]
    Discarded,
}

impl OpsJobsApi {
    async fn single(
        state: &AppState,
        auth: &AnyAuth,
        id: Uuid,
        action: Action,
    ) -> Result<Option<JobView>, ApiError> {
        let actor = access::writer(auth.caller())?;
        let job = crate::actions::ops::on_job(state, &actor, id, action).await?;
        Ok(job.map(Into::into))
    }

    async fn bulk(
        state: &AppState,
        auth: &AnyAuth,
        body: BulkBody,
        action: Action,
    ) -> Result<Json<BulkView>, ApiError> {
        let actor = access::writer(auth.caller())?;
        let mut errors = Vec::new();
        let queues = &state.settings.worker.queues;
        let filter = body
            .filter
            .as_ref()
            .map(|raw| filter::parse(raw, queues, "filter.", &mut errors));
        match (&body.ids, &filter) {
            (Some(_), Some(_)) | (None, None) => errors.push(FieldError {
                field: "ids".to_owned(),
                message: "give either `ids` or `filter`".to_owned(),
            }),
            (Some(ids), None) if ids.is_empty() || ids.len() > MAX_IDS => errors.push(FieldError {
                field: "ids".to_owned(),
                message: format!("must name 1-{MAX_IDS} jobs"),
            }),
            (None, Some(filter)) if filter.is_empty() => errors.push(FieldError {
                field: "filter".to_owned(),
                message: "name at least one condition; an empty filter would take every job"
                    .to_owned(),
            }),
            _ => {}
        }
        unprocessable(errors)?;
        let selection = match (body.ids, filter) {
            (Some(mut ids), _) => {
                ids.sort_unstable();
                ids.dedup();
                Selection::Ids(ids)
            }
            (None, Some(filter)) => Selection::Filter(filter),
            (None, None) => unreachable!("refused above"),
        };
        let outcome = crate::actions::ops::on_jobs(state, &actor, &selection, action).await?;
        Ok(Json(BulkView {
            matched: outcome.matched,
            changed: outcome.changed,
            truncated: outcome.truncated,
        }))
    }
}

#[OpenApi(prefix_path = "/api/v1/ops", tag = "ApiTags::Ops")]
impl OpsJobsApi {
    /// Jobs, newest first. Every condition given must hold: `queue`, `kind`,
    /// `state` (ready, scheduled, running, retrying, dead, succeeded,
    /// cancelled), `id`, `error` (a substring of the last error),
    /// `created_from` / `created_to` (RFC 3339), `request_id`. Page with
    /// `cursor` (from `next_cursor`) and `limit` (1-1000, default 50).
    #[oai(path = "/jobs", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        queue: Query<Option<String>>,
        kind: Query<Option<String>>,
        #[oai(name = "state")] job_state: Query<Option<String>>,
        id: Query<Option<Uuid>>,
        error: Query<Option<String>>,
        created_from: Query<Option<String>>,
        created_to: Query<Option<String>>,
        request_id: Query<Option<String>>,
        cursor: Query<Option<String>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<JobPage>, Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        access::reader(auth.caller())?;
        let mut errors = Vec::new();
        let raw = FilterBody {
            queue: queue.0,
            kind: kind.0,
            state: job_state.0,
            id: id.0,
            error: error.0,
            created_from: created_from.0,
            created_to: created_to.0,
            request_id: request_id.0,
        };
        let filter = filter::parse(&raw, &state.settings.worker.queues, "", &mut errors);
        let after = filter::cursor(cursor.0.as_deref(), &mut errors);
        let limit = filter::limit(limit.0, &mut errors);
        unprocessable(errors)?;
        let (jobs, next) = ops::jobs::list(&state.pool, &filter, after, limit)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(JobPage {
            items: jobs.into_iter().map(Into::into).collect(),
            next_cursor: next.map(|c| c.encode()),
        }))
    }

    /// One job: its payload and every attempt (start, end, worker, outcome,
    /// error).
    #[oai(path = "/jobs/:id", method = "get")]
    async fn detail(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        id: Path<Uuid>,
    ) -> Result<Json<JobDetailView>, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        access::reader(auth.caller())?;
        let job = ops::jobs::detail(&state.pool, id.0)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound("no such job".to_owned()))?;
        Ok(Json(job.into()))
    }

    /// Run a dead or retrying job now (a dead job gets one more attempt);
    /// 409 in any other state.
    #[oai(path = "/jobs/:id/retry", method = "post")]
    async fn retry(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        id: Path<Uuid>,
    ) -> Result<Json<JobView>, Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT }>> {
        let job = Self::single(&state, &auth, id.0, Action::Retry).await?;
        Ok(Json(job.ok_or_else(|| {
            ApiError::NotFound("no such job".to_owned())
        })?))
    }

    /// Cancel a job that has not started: ready, scheduled or retrying. It
    /// never runs (again). 409 while it runs or once it finished.
    #[oai(path = "/jobs/:id/cancel", method = "post")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        id: Path<Uuid>,
    ) -> Result<Json<JobView>, Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT }>> {
        let job = Self::single(&state, &auth, id.0, Action::Cancel).await?;
        Ok(Json(job.ok_or_else(|| {
            ApiError::NotFound("no such job".to_owned())
        })?))
    }

    /// Delete a dead job and its data in Redis; 409 in any other state.
    #[oai(path = "/jobs/:id/discard", method = "post")]
    async fn discard(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        id: Path<Uuid>,
    ) -> Result<DiscardResponse, Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT }>> {
        Self::single(&state, &auth, id.0, Action::Discard).await?;
        Ok(DiscardResponse::Discarded)
    }

    /// Retry many jobs (dead or retrying ones; others are skipped), by `ids`
    /// or by `filter`.
    #[oai(path = "/jobs/retry", method = "post")]
    async fn bulk_retry(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        body: Json<BulkBody>,
    ) -> Result<Json<BulkView>, Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        Ok(Self::bulk(&state, &auth, body.0, Action::Retry).await?)
    }

    /// Cancel many jobs (those not started; others are skipped).
    #[oai(path = "/jobs/cancel", method = "post")]
    async fn bulk_cancel(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        body: Json<BulkBody>,
    ) -> Result<Json<BulkView>, Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        Ok(Self::bulk(&state, &auth, body.0, Action::Cancel).await?)
    }

    /// Discard many dead jobs (others are skipped).
    #[oai(path = "/jobs/discard", method = "post")]
    async fn bulk_discard(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        body: Json<BulkBody>,
    ) -> Result<Json<BulkView>, Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        Ok(Self::bulk(&state, &auth, body.0, Action::Discard).await?)
    }
}
