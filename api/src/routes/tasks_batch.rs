//! `POST /api/v1/tasks/batch`: many tasks in one request and one
//! transaction, one result per item. Applications that mail thousands of
//! people pay one round trip and one commit per batch instead of per task.

use std::collections::{BTreeSet, HashSet};

use marquee_core::auth::Invalid;
use marquee_core::auth::api_keys::Scope;
use marquee_core::jobs::{Enqueued, JobStatus};
use marquee_core::subscriptions;
use marquee_core::tasks::{self, BatchTask, Submitted, SubmittedMany};
use poem_openapi::Object;
use sha2::{Digest, Sha256};
use sqlx::Connection;
use uuid::Uuid;

use super::tasks::{TaskRequest, Work, parse, replay, write};
use crate::auth::Caller;
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;

/// Most tasks in one batch.
pub const MAX_TASKS: usize = 500;

/// Many tasks.
#[derive(Debug, Object)]
pub struct TaskBatchRequest {
    /// 1-500 tasks, each like the body of `POST /api/v1/tasks`.
    pub tasks: Vec<TaskBatchItem>,
}

/// One task of a batch.
#[derive(Debug, Object)]
pub struct TaskBatchItem {
    /// `message`, `otp`, `subscribe` or `unsubscribe` (see `POST /api/v1/tasks`).
    #[oai(rename = "type")]
    pub kind: String,
    /// A label of your own.
    #[oai(nullable)]
    pub name: Option<String>,
    /// Attempts before the task is dead, 1-25 (default 5).
    #[oai(nullable)]
    pub max_attempts: Option<i32>,
    /// As for `POST /api/v1/tasks`.
    pub payload: serde_json::Value,
    /// Like the Idempotency-Key header of a single submission, and shared
    /// with it: the same key with the same task within 24 h gives the same
    /// task. At most 255 characters, once per batch.
    #[oai(nullable)]
    pub idempotency_key: Option<String>,
}

/// What happened to one item.
#[derive(Debug, Object)]
pub struct TaskBatchResult {
    /// The item's position in `tasks`, from 0.
    pub index: u32,
    /// 202, 403, 409, 422 or 429.
    pub status: u16,
    /// 202: the task.
    #[oai(skip_serializing_if_is_none)]
    pub id: Option<Uuid>,
    /// 202: its status now.
    #[oai(skip_serializing_if_is_none)]
    pub task_status: Option<String>,
    /// Why it was refused.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// 422: each invalid field of the item.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldError>>,
    /// 429: seconds until the budget allows another task.
    #[oai(skip_serializing_if_is_none)]
    pub retry_after: Option<u32>,
}

/// The results, one per item, in order.
#[derive(Debug, Object)]
pub struct TaskBatchResponse {
    /// Items accepted (status 202).
    pub accepted: u32,
    /// One per item.
    pub results: Vec<TaskBatchResult>,
}

impl TaskBatchResult {
    fn accepted(index: usize, id: Uuid, status: &str) -> Self {
        Self::refused(index, 202, None).with(|r| {
            r.id = Some(id);
            r.task_status = Some(status.to_owned());
        })
    }

    fn refused(index: usize, status: u16, detail: Option<String>) -> Self {
        Self {
            index: index as u32,
            status,
            id: None,
            task_status: None,
            detail,
            errors: None,
            retry_after: None,
        }
    }

    fn invalid(index: usize, errors: Vec<FieldError>) -> Self {
        Self::refused(index, 422, Some("the task is invalid".to_owned())).with(|r| {
            r.errors = Some(errors);
        })
    }

    fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }
}

/// An item that passed validation, scope and content-type checks.
struct Valid {
    index: usize,
    work: Work,
    request: TaskRequest,
    key: Option<String>,
    hash: Vec<u8>,
}

/// Validates every item, counts the valid ones against the account's
/// budget, writes them in one transaction and dispatches their jobs.
pub async fn submit(
    state: &AppState,
    caller: &Caller,
    body: TaskBatchRequest,
) -> Result<TaskBatchResponse, ApiError> {
    if body.tasks.is_empty() || body.tasks.len() > MAX_TASKS {
        return Err(vec![Invalid::new("tasks", format!("give 1-{MAX_TASKS} tasks"))].into());
    }
    // A key that can submit no task type (a door key) is refused outright;
    // each item then checks its own type's scope.
    caller.require_any_scope(&[Scope::EmailSend, Scope::Otp, Scope::Subscriptions])?;
    crate::senders::require_verified_email(state, caller.user_id).await?;
    let mut results = Vec::with_capacity(body.tasks.len());
    let mut valid = Vec::with_capacity(body.tasks.len());
    let mut keys = HashSet::new();
    for (index, item) in body.tasks.into_iter().enumerate() {
        match check(caller, index, item, &mut keys) {
            Ok(item) => valid.push(item),
            Err(result) => results.push(result),
        }
    }
    let valid = known_content_types(state, caller, valid, &mut results).await?;
    let (valid, charged) = within_budget(state, caller, valid, &mut results).await?;
    // Charged items that wrote nothing new (a key taken meanwhile, or all of
    // them when the transaction fails) give their budget back.
    let (written, replies) = match write_all(state, caller, &valid).await {
        Ok(done) => done,
        Err(error) => {
            crate::senders::uncount_tasks(state, caller.user_id, charged).await;
            return Err(error);
        }
    };
    let unwritten = (charged as usize).saturating_sub(written.len()) as u32;
    crate::senders::uncount_tasks(state, caller.user_id, unwritten).await;
    results.extend(replies);
    state.producer.dispatch(&written).await;
    results.sort_by_key(|r| r.index);
    Ok(TaskBatchResponse {
        accepted: results.iter().filter(|r| r.status == 202).count() as u32,
        results,
    })
}

/// One item's own checks: key, fields, scope.
fn check(
    caller: &Caller,
    index: usize,
    item: TaskBatchItem,
    keys: &mut HashSet<String>,
) -> Result<Valid, TaskBatchResult> {
    let key = item.idempotency_key.filter(|k| !k.is_empty());
    if let Some(key) = &key
        && (key.len() > 255 || !keys.insert(key.clone()))
    {
        let problem = field("idempotency_key", "at most 255 characters, once per batch");
        return Err(TaskBatchResult::invalid(index, vec![problem]));
    }
    let request = TaskRequest {
        kind: item.kind,
        name: item.name,
        max_attempts: item.max_attempts,
        payload: item.payload,
    };
    let work = parse(&request).map_err(|error| match error {
        ApiError::Validation(errors) => TaskBatchResult::invalid(index, errors),
        other => TaskBatchResult::refused(index, 422, Some(other.to_string())),
    })?;
    if let Err(error) = caller.require_scope(work.scope()) {
        return Err(TaskBatchResult::refused(
            index,
            403,
            Some(error.to_string()),
        ));
    }
    // The same hash as a single submission of this task, so a key replays
    // across both routes.
    let hash = serde_json::to_vec(&request)
        .map(|json| Sha256::digest(json).to_vec())
        .unwrap_or_default();
    Ok(Valid {
        index,
        work,
        request,
        key,
        hash,
    })
}

/// Subscribe and unsubscribe items naming a content type the account does
/// not have are 422, as on the single route.
async fn known_content_types(
    state: &AppState,
    caller: &Caller,
    valid: Vec<Valid>,
    results: &mut Vec<TaskBatchResult>,
) -> Result<Vec<Valid>, ApiError> {
    let named: BTreeSet<&str> = valid
        .iter()
        .filter_map(|v| match &v.work {
            Work::Subscribe(c) | Work::Unsubscribe(c) => Some(c.content_type.as_str()),
            _ => None,
        })
        .collect();
    let mut missing = BTreeSet::new();
    for content_type in named {
        if !subscriptions::contents::exists(&state.pool, caller.user_id, content_type).await? {
            missing.insert(content_type.to_owned());
        }
    }
    let (unknown, known): (Vec<Valid>, Vec<Valid>) = valid.into_iter().partition(|v| {
        matches!(&v.work, Work::Subscribe(c) | Work::Unsubscribe(c) if missing.contains(&c.content_type))
    });
    results.extend(unknown.into_iter().map(|v| {
        let problem = field(
            "payload.content_type",
            "no such content type; create it at /api/v1/subscription-contents",
        );
        TaskBatchResult::invalid(v.index, vec![problem])
    }));
    Ok(known)
}

/// Counts the items against the account's task budget, first ones first;
/// the rest are 429. Items whose key the account used within 24 hours
/// replay (or conflict) and cost nothing, so retrying a whole batch after a
/// lost answer is never refused for the budget it already spent.
async fn within_budget(
    state: &AppState,
    caller: &Caller,
    valid: Vec<Valid>,
    results: &mut Vec<TaskBatchResult>,
) -> Result<(Vec<Valid>, u32), ApiError> {
    let keys: Vec<String> = valid.iter().filter_map(|v| v.key.clone()).collect();
    let used: HashSet<String> = if keys.is_empty() {
        HashSet::new()
    } else {
        tasks::recent_keys(&state.pool, caller.user_id, &keys)
            .await?
            .into_iter()
            .collect()
    };
    let (replays, mut fresh): (Vec<Valid>, Vec<Valid>) = valid
        .into_iter()
        .partition(|v| v.key.as_ref().is_some_and(|k| used.contains(k)));
    let rule = state.settings.rate_limits.tasks_per_user;
    let (granted, wait) = state
        .limiter
        .check_many(
            "tasks-user",
            &caller.user_id.to_string(),
            rule,
            fresh.len() as u32,
        )
        .await;
    // When some were granted, the next cell comes one emission interval on.
    let interval = (rule.period_seconds as f64 / f64::from(rule.limit.max(1))).ceil() as u32;
    let retry_after = wait
        .map_or(interval, |w| w.as_secs_f64().ceil() as u32)
        .max(1);
    for over in fresh.split_off((granted as usize).min(fresh.len())) {
        results.push(
            TaskBatchResult::refused(
                over.index,
                429,
                Some("past the account's task budget".to_owned()),
            )
            .with(|r| r.retry_after = Some(retry_after)),
        );
    }
    fresh.extend(replays);
    fresh.sort_by_key(|v| v.index);
    Ok((fresh, granted))
}

/// Writes every item in one transaction: OTPs one by one (each stores its
/// code's row, undone alone if its key turns out taken), the rest in one
/// statement; taken keys replay. Returns the jobs to dispatch and a result
/// per item.
async fn write_all(
    state: &AppState,
    caller: &Caller,
    valid: &[Valid],
) -> Result<(Vec<Enqueued>, Vec<TaskBatchResult>), ApiError> {
    let verified = state.settings.auth.require_verified_email;
    let ids: Vec<Uuid> = valid.iter().map(|_| Uuid::now_v7()).collect();
    let mut tx = state.pool.begin().await?;
    let mut written = Vec::new();
    let mut results = Vec::new();
    let mut taken = Vec::new();
    let plain: Vec<BatchTask<'_>> = valid
        .iter()
        .zip(&ids)
        .filter(|(v, _)| !matches!(v.work, Work::Otp(_)))
        .map(|pair| BatchTask {
            task: new_task(caller, pair.0, *pair.1),
            job: super::tasks::job_for(&pair.0.work, *pair.1, pair.0.request.max_attempts),
        })
        .collect();
    let plain_items: Vec<&Valid> = valid
        .iter()
        .filter(|v| !matches!(v.work, Work::Otp(_)))
        .collect();
    if !plain.is_empty() {
        let SubmittedMany::Written(done) =
            tasks::submit_many(&mut *tx, caller.user_id, &plain, verified).await?
        else {
            return Err(ApiError::Forbidden(crate::senders::VERIFY_FIRST.to_owned()));
        };
        let done: std::collections::HashMap<usize, Enqueued> = done.into_iter().collect();
        for (at, item) in plain_items.iter().enumerate() {
            match done.get(&at) {
                Some(job) => {
                    results.push(TaskBatchResult::accepted(item.index, job.id, queued()));
                    written.push(job.clone());
                }
                None => taken.push(*item),
            }
        }
    }
    // In key order, as the statement above inserts: two batches taking the
    // same keys wait for each other instead of deadlocking.
    let mut otps: Vec<(&Valid, &Uuid)> = valid
        .iter()
        .zip(&ids)
        .filter(|(item, _)| matches!(item.work, Work::Otp(_)))
        .collect();
    otps.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    for (item, id) in otps {
        match write_alone(&mut tx, caller, item, *id, verified).await? {
            Some(job) => {
                results.push(TaskBatchResult::accepted(item.index, job.id, queued()));
                written.push(job);
            }
            None => taken.push(item),
        }
    }
    for item in taken {
        let key = item.key.as_deref().expect("only a key can be taken");
        match replay(&mut tx, caller.user_id, key, &item.hash).await {
            Ok(Some(existing)) => results.push(TaskBatchResult::accepted(
                item.index,
                existing.id,
                &existing.status,
            )),
            Ok(None) => {
                // Its key had expired and is free now: write it under it.
                match write_alone(&mut tx, caller, item, Uuid::now_v7(), verified).await? {
                    Some(job) => {
                        results.push(TaskBatchResult::accepted(item.index, job.id, queued()));
                        written.push(job);
                    }
                    None => results.push(TaskBatchResult::refused(
                        item.index,
                        409,
                        Some("this idempotency_key is in use by a concurrent request".to_owned()),
                    )),
                }
            }
            Err(ApiError::Conflict(detail)) => {
                results.push(TaskBatchResult::refused(item.index, 409, Some(detail)))
            }
            Err(other) => return Err(other),
        }
    }
    tx.commit().await?;
    Ok((written, results))
}

/// Writes one item under a savepoint of `tx`: its job, or `None` when its
/// key is taken (the savepoint undoes what it wrote, e.g. an OTP's voiding
/// of earlier codes).
async fn write_alone(
    tx: &mut sqlx::PgConnection,
    caller: &Caller,
    item: &Valid,
    id: Uuid,
    verified: bool,
) -> Result<Option<Enqueued>, ApiError> {
    let mut savepoint = tx.begin().await?;
    let task = new_task(caller, item, id);
    match write(
        &mut savepoint,
        &item.work,
        &task,
        item.request.max_attempts,
        verified,
    )
    .await?
    {
        Submitted::Written(job) => {
            savepoint.commit().await?;
            Ok(Some(job))
        }
        Submitted::Unverified => Err(ApiError::Forbidden(crate::senders::VERIFY_FIRST.to_owned())),
        Submitted::KeyTaken => {
            savepoint.rollback().await?;
            Ok(None)
        }
    }
}

/// An item's task row, under `id`.
fn new_task<'a>(caller: &Caller, item: &'a Valid, id: Uuid) -> tasks::NewTask<'a> {
    tasks::NewTask {
        id,
        owner_id: caller.user_id,
        kind: item.work.kind(),
        name: item.request.name.as_deref(),
        payload: item.work.payload(),
        idempotency_key: item.key.as_deref(),
        request_hash: &item.hash,
    }
}

fn field(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

fn queued() -> &'static str {
    JobStatus::Queued.as_str()
}
