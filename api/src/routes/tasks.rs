//! `/api/v1/tasks`: email work from applications (API keys) or people.

use chrono::{DateTime, Utc};
use marquee_core::auth::Invalid;
use marquee_core::auth::api_keys::Scope;
use marquee_core::jobs::JobStatus;
use marquee_core::otp::{self, IssueOtp, OtpPayload};
use marquee_core::subscriptions::{self, Subscribe, SubscriptionPayload, Unsubscribe};
use marquee_core::tasks::{self, MessagePayload, SendMessage, Submitted, TaskJob};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::AnyAuth;
use crate::contract::{
    CONFLICT, FORBIDDEN, NOT_FOUND, Problems, TOO_MANY_REQUESTS, UNPROCESSABLE_ENTITY,
};
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;

/// Task endpoints.
pub struct TasksApi;

/// Work to do.
#[derive(Debug, Object, serde::Serialize)]
pub struct TaskRequest {
    /// `message` (send one email; scope `email:send`), `otp` (email a
    /// one-time password; scope `otp`), `subscribe` or `unsubscribe` (an
    /// address to one of your content types; scope `subscriptions`).
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// A label of your own.
    #[oai(nullable)]
    pub name: Option<String>,
    /// Attempts before the task is dead, 1-25 (default 5).
    #[oai(nullable)]
    pub max_attempts: Option<i32>,
    /// `message`: `{to, subject, text?, html?}`; `otp`: `{to, length? (4-8,
    /// default 6), purpose?, ttl_seconds? (60-3600, default 600)}`;
    /// `subscribe`: `{to, content_type, frequency: @hourly|@daily|@weekly|@monthly}`;
    /// `unsubscribe`: `{to, content_type}`.
    pub payload: serde_json::Value,
}

/// A task accepted.
#[derive(Debug, Object)]
pub struct TaskAccepted {
    /// Follow it at `GET /api/v1/tasks/{id}`.
    pub id: Uuid,
    /// Its status now.
    pub status: String,
}

/// A task's state.
#[derive(Debug, Object)]
pub struct TaskView {
    /// Id.
    pub id: Uuid,
    /// Type.
    #[oai(rename = "type")]
    pub kind: String,
    /// Label.
    #[oai(nullable)]
    pub name: Option<String>,
    /// queued, dispatched, running, succeeded, retrying or dead.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Error of the latest failed attempt.
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// Accepted at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Succeeded or died at.
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(ApiResponse)]
enum SubmitResponse {
    /// Accepted (or, for a repeated Idempotency-Key, the task it created).
    #[oai(status = 202)]
    Accepted(Json<TaskAccepted>),
}

#[OpenApi(prefix_path = "/api/v1/tasks", tag = "ApiTags::Tasks")]
impl TasksApi {
    /// Submit a task. The same Idempotency-Key with the same body within 24 h
    /// returns the same task and does nothing more; with another body, 409.
    /// Every task needs the account's address verified (403). Tasks count
    /// against one budget per account, whichever token or key sends them
    /// (429 with Retry-After).
    #[oai(path = "/", method = "post")]
    async fn submit(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: Json<TaskRequest>,
    ) -> Result<
        SubmitResponse,
        Problems<{ FORBIDDEN | CONFLICT | UNPROCESSABLE_ENTITY | TOO_MANY_REQUESTS }>,
    > {
        let caller = auth.caller();
        let work = parse(&body)?;
        caller.require_scope(work.scope())?;
        crate::senders::count_task(state.0, caller.user_id).await?;
        let key = idempotency_key.0.filter(|k| !k.is_empty());
        if key.as_ref().is_some_and(|k| k.len() > 255) {
            return Err(ApiError::from(vec![Invalid::new(
                "Idempotency-Key",
                "at most 255 characters",
            )])
            .into());
        }
        let hash =
            Sha256::digest(serde_json::to_vec(&body.0).map_err(|e| ApiError::Internal(e.into()))?)
                .to_vec();
        if let Work::Subscribe(change) | Work::Unsubscribe(change) = &work {
            // An unverified account learns nothing about content types (the
            // write below checks verification again, for every task type).
            crate::senders::require_verified_email(state.0, caller.user_id).await?;
            if !subscriptions::contents::exists(&state.pool, caller.user_id, &change.content_type)
                .await
                .map_err(ApiError::from)?
            {
                return Err(ApiError::from(vec![Invalid::new(
                    "payload.content_type",
                    "no such content type; create it at /api/v1/subscription-contents",
                )])
                .into());
            }
        }
        // Twice at most: a key older than 24 h is released by the first
        // round's replay, and the second writes the task under it.
        for _ in 0..2 {
            let id = Uuid::now_v7();
            let task = tasks::NewTask {
                id,
                owner_id: caller.user_id,
                kind: work.kind(),
                name: body.name.as_deref(),
                payload: work.payload(),
                idempotency_key: key.as_deref(),
                request_hash: &hash,
            };
            match write_one(state.0, &work, &task, body.max_attempts).await? {
                Submitted::Written(job) => {
                    state.producer.dispatch(&[job]).await;
                    return Ok(SubmitResponse::Accepted(Json(TaskAccepted {
                        id,
                        status: JobStatus::Queued.as_str().to_owned(),
                    })));
                }
                Submitted::Unverified => {
                    crate::senders::uncount_tasks(state.0, caller.user_id, 1).await;
                    return Err(ApiError::Forbidden(crate::senders::VERIFY_FIRST.to_owned()).into());
                }
                Submitted::KeyTaken => {
                    let key = key.as_deref().expect("only a key can be taken");
                    let mut tx = state.pool.begin().await.map_err(ApiError::from)?;
                    let existing = replay(&mut tx, caller.user_id, key, &hash).await?;
                    tx.commit().await.map_err(ApiError::from)?;
                    if let Some(existing) = existing {
                        // A replay writes nothing: it costs no budget.
                        crate::senders::uncount_tasks(state.0, caller.user_id, 1).await;
                        return Ok(SubmitResponse::Accepted(Json(existing)));
                    }
                }
            }
        }
        Err(
            ApiError::Conflict("this Idempotency-Key is in use by a concurrent request".to_owned())
                .into(),
        )
    }

    /// Submit up to 500 tasks in one request and one transaction, each with
    /// its own `idempotency_key` (like the header of a single submission).
    /// Every item gets a result in `results`, in order: 202 (accepted, or
    /// the task its key created), 403 (a type outside the key's scopes),
    /// 409 (its key was used with another body), 422 (invalid, naming the
    /// fields) or 429 (past the account's task budget, which every item
    /// counts against; with `retry_after`). An unverified account gets 403
    /// for the whole request. The body may be at most
    /// `http.max_batch_body_bytes` (16 MiB by default); larger: 413.
    #[oai(path = "/batch", method = "post")]
    async fn submit_batch(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        body: Json<super::tasks_batch::TaskBatchRequest>,
    ) -> Result<
        Json<super::tasks_batch::TaskBatchResponse>,
        Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>,
    > {
        Ok(Json(
            super::tasks_batch::submit(state.0, auth.caller(), body.0).await?,
        ))
    }

    /// A task of the caller's; anyone else's is 404.
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        id: Path<Uuid>,
    ) -> Result<Json<TaskView>, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        // Any key that can submit tasks reads them; a door key cannot.
        auth.caller()
            .require_any_scope(&[Scope::EmailSend, Scope::Otp, Scope::Subscriptions])?;
        let task = tasks::find(&state.pool, auth.caller().user_id, id.0)
            .await
            .map_err(ApiError::from)?;
        task.map(|task| Json(TaskView::from(task)))
            .ok_or_else(|| ApiError::NotFound("no such task".to_owned()).into())
    }
}

/// What a task asks for, validated.
pub(crate) enum Work {
    Message(MessagePayload),
    Otp(OtpPayload),
    Subscribe(SubscriptionPayload),
    Unsubscribe(SubscriptionPayload),
}

impl Work {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::Otp(_) => "otp",
            Self::Subscribe(_) => "subscribe",
            Self::Unsubscribe(_) => "unsubscribe",
        }
    }

    pub(crate) fn scope(&self) -> Scope {
        match self {
            Self::Message(_) => Scope::EmailSend,
            Self::Otp(_) => Scope::Otp,
            Self::Subscribe(_) | Self::Unsubscribe(_) => Scope::Subscriptions,
        }
    }

    pub(crate) fn payload(&self) -> serde_json::Value {
        match self {
            Self::Message(message) => serde_json::to_value(message),
            Self::Otp(otp) => serde_json::to_value(otp),
            Self::Subscribe(change) | Self::Unsubscribe(change) => serde_json::to_value(change),
        }
        .expect("payloads serialise")
    }
}

/// The job that carries out a task.
pub(crate) fn job_for(work: &Work, id: Uuid, max_attempts: Option<i32>) -> TaskJob {
    match work {
        Work::Message(_) => TaskJob::of(&SendMessage { task_id: id }, max_attempts),
        Work::Otp(_) => TaskJob::of(&IssueOtp { otp_id: id }, max_attempts),
        Work::Subscribe(_) => TaskJob::of(&Subscribe { task_id: id }, max_attempts),
        Work::Unsubscribe(_) => TaskJob::of(&Unsubscribe { task_id: id }, max_attempts),
    }
}

/// Writes the task and its job on `conn` (an OTP also stores its code's
/// row first); the caller commits, or rolls back unless written.
pub(crate) async fn write(
    conn: &mut PgConnection,
    work: &Work,
    task: &tasks::NewTask<'_>,
    max_attempts: Option<i32>,
    require_verified: bool,
) -> Result<Submitted, ApiError> {
    if let Work::Otp(otp_payload) = work {
        otp::request(&mut *conn, task.id, task.owner_id, otp_payload).await?;
    }
    let job = job_for(work, task.id, max_attempts);
    Ok(tasks::submit(&mut *conn, task, &job, require_verified).await?)
}

/// Writes one submitted task: one statement on the pool, or for an OTP a
/// transaction that also stores the code's row.
async fn write_one(
    state: &AppState,
    work: &Work,
    task: &tasks::NewTask<'_>,
    max_attempts: Option<i32>,
) -> Result<Submitted, ApiError> {
    let verified = state.settings.auth.require_verified_email;
    if !matches!(work, Work::Otp(_)) {
        let job = job_for(work, task.id, max_attempts);
        return Ok(tasks::submit(&state.pool, task, &job, verified).await?);
    }
    let mut tx = state.pool.begin().await?;
    let submitted = write(&mut tx, work, task, max_attempts, verified).await?;
    if matches!(submitted, Submitted::Written(_)) {
        tx.commit().await?;
    }
    Ok(submitted)
}

/// Validates the request: 422 with one entry per bad field.
pub(crate) fn parse(body: &TaskRequest) -> Result<Work, ApiError> {
    let mut problems = Vec::new();
    if body.max_attempts.is_some_and(|n| !(1..=25).contains(&n)) {
        problems.push(Invalid::new("max_attempts", "must be 1-25"));
    }
    if body
        .name
        .as_ref()
        .is_some_and(|n| n.chars().count() > 200 || n.contains('\0'))
    {
        problems.push(Invalid::new(
            "name",
            "must be at most 200 characters, without NUL",
        ));
    }
    // PostgreSQL's jsonb cannot store a NUL character anywhere.
    if has_nul(&body.payload) {
        problems.push(Invalid::new("payload", "must not contain NUL characters"));
        return Err(problems.into());
    }
    let text = |name: &str| body.payload.get(name).and_then(|v| v.as_str());
    let number = |name: &str| body.payload.get(name).and_then(|v| v.as_i64());
    let work = if !body.payload.is_object() {
        Err(vec![Invalid::new("payload", "must be an object")])
    } else {
        match body.kind.as_str() {
            "message" => MessagePayload::parse(
                text("to").unwrap_or(""),
                text("subject").unwrap_or(""),
                text("text"),
                text("html"),
            )
            .map(Work::Message),
            "otp" => OtpPayload::parse(
                text("to").unwrap_or(""),
                number("length"),
                text("purpose"),
                number("ttl_seconds"),
            )
            .map(Work::Otp),
            "subscribe" | "unsubscribe" => {
                let subscribing = body.kind == "subscribe";
                SubscriptionPayload::parse(
                    text("to").unwrap_or(""),
                    text("content_type").unwrap_or(""),
                    text("frequency"),
                    subscribing,
                )
                .map(|change| {
                    if subscribing {
                        Work::Subscribe(change)
                    } else {
                        Work::Unsubscribe(change)
                    }
                })
            }
            _ => Err(vec![Invalid::new(
                "type",
                "must be `message`, `otp`, `subscribe` or `unsubscribe`",
            )]),
        }
    };
    match work {
        Ok(work) if problems.is_empty() => Ok(work),
        Ok(_) => Err(problems.into()),
        Err(more) => Err(problems.into_iter().chain(more).collect::<Vec<_>>().into()),
    }
}

fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(fields) => {
            fields.iter().any(|(k, v)| k.contains('\0') || has_nul(v))
        }
        _ => false,
    }
}

/// The task an earlier request with `key` created: `Some` for the same body
/// within 24 h, 409 for another body. A key older than 24 h is released.
pub(crate) async fn replay(
    conn: &mut PgConnection,
    owner: Uuid,
    key: &str,
    hash: &[u8],
) -> Result<Option<TaskAccepted>, ApiError> {
    match tasks::find_by_key(&mut *conn, owner, key).await? {
        None => Ok(None),
        Some(task) if !task.recent => {
            tasks::release_key(&mut *conn, task.id).await?;
            Ok(None)
        }
        Some(task) if task.request_hash == hash => Ok(Some(TaskAccepted {
            id: task.id,
            status: task.status,
        })),
        Some(_) => Err(ApiError::Conflict(
            "this Idempotency-Key was used with a different request".to_owned(),
        )),
    }
}

impl From<tasks::Task> for TaskView {
    fn from(task: tasks::Task) -> Self {
        Self {
            id: task.id,
            kind: task.kind,
            name: task.name,
            status: task.status,
            attempts: task.attempts,
            max_attempts: task.max_attempts,
            last_error: task.last_error,
            created_at: task.created_at,
            updated_at: task.updated_at,
            finished_at: task.finished_at,
        }
    }
}
