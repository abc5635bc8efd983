//! Diagnostics for operators: enqueue a noop job through the real path.
//! Served only with `http.diagnostics = true` (development and test), and
//! only to signed-in admins.

use marquee_core::auth::Role;
use marquee_core::jobs::{self, Noop};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;

use crate::auth::BearerAuth;
use crate::contract::{FORBIDDEN, NOT_FOUND, Problems};
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;

/// `/api/v1/system/*`
pub struct SystemApi;

/// A noop job to enqueue.
#[derive(Debug, Object)]
pub struct NoopRequest {
    /// Sleep this long in the worker.
    #[oai(default, validator(maximum(value = "600000")))]
    pub sleep_ms: u64,
    /// Fail the first this-many attempts.
    #[oai(default, validator(maximum(value = "100")))]
    pub fail_attempts: u32,
    /// Fail permanently.
    #[oai(default)]
    pub permanent: bool,
    /// Attempts before the job is dead (1-25, default 5).
    #[oai(validator(minimum(value = "1"), maximum(value = "25")))]
    #[oai(nullable)]
    pub max_attempts: Option<i32>,
}

/// The job that was enqueued.
#[derive(Debug, Object)]
pub struct EnqueuedJob {
    /// Ledger id.
    pub id: Uuid,
    /// Its queue.
    pub queue: String,
}

#[derive(ApiResponse)]
enum EnqueueResponse {
    /// Accepted; follow it in the ledger.
    #[oai(status = 202)]
    Accepted(Json<EnqueuedJob>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::System")]
impl SystemApi {
    /// Enqueue a noop job (diagnostics; admins only).
    #[oai(path = "/system/noop", method = "post")]
    async fn noop(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<NoopRequest>,
    ) -> Result<EnqueueResponse, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        auth.0.require_person()?;
        auth.0.require(Role::Admin)?;
        if !state.settings.http.diagnostics {
            return Err(ApiError::NotFound(
                "diagnostics are disabled (http.diagnostics)".to_owned(),
            )
            .into());
        }
        let job = Noop {
            sleep_ms: body.sleep_ms,
            fail_attempts: body.fail_attempts,
            permanent: body.permanent,
        };
        let options = jobs::JobOptions {
            max_attempts: body.max_attempts,
            ..Default::default()
        };
        let mut tx = state.pool.begin().await.map_err(ApiError::from)?;
        let written = jobs::enqueue_with(&mut tx, &job, options)
            .await
            .map_err(ApiError::from)?
            .expect("no dedupe key");
        tx.commit().await.map_err(ApiError::from)?;
        state
            .producer
            .dispatch(std::slice::from_ref(&written))
            .await;
        Ok(EnqueueResponse::Accepted(Json(EnqueuedJob {
            id: written.id,
            queue: written.queue.to_owned(),
        })))
    }
}
