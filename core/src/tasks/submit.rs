//! Accepting a task: its row and its job's row in one statement, which is
//! atomic on its own, so the common request costs one round trip to
//! PostgreSQL (no `BEGIN`, no `COMMIT`, no separate read of the sender's
//! verification).

use sqlx::PgExecutor;

use super::NewTask;
use crate::jobs::{Enqueued, Job, current_request_id};

/// The job that carries out a task.
#[derive(Debug, Clone)]
pub struct TaskJob {
    kind: &'static str,
    queue: &'static str,
    payload: serde_json::Value,
    max_attempts: i32,
}

impl TaskJob {
    /// `job`, with the task's attempts or the kind's default.
    pub fn of<J: Job>(job: &J, max_attempts: Option<i32>) -> Self {
        Self {
            kind: J::KIND,
            queue: J::QUEUE,
            payload: serde_json::to_value(job).expect("job payloads are plain ids"),
            max_attempts: max_attempts.unwrap_or(J::MAX_ATTEMPTS),
        }
    }
}

/// What [`submit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// The task and its job were written; dispatch the job after commit
    /// (at once, if the statement ran outside a transaction).
    Written(Enqueued),
    /// The owner's address is not verified while the rule is on: nothing
    /// was written.
    Unverified,
    /// The owner has a task with this idempotency key: nothing was written.
    KeyTaken,
}

/// Writes `task` and `job` if the owner may send mail (a verified address,
/// when `require_verified` is on) and the idempotency key is free.
pub async fn submit(
    db: impl PgExecutor<'_>,
    task: &NewTask<'_>,
    job: &TaskJob,
    require_verified: bool,
) -> Result<Submitted, sqlx::Error> {
    let row = sqlx::query!(
        r#"WITH sender AS (
            SELECT id FROM users WHERE id = $2 AND (NOT $11 OR email_verified_at IS NOT NULL)
         ), task AS (
            INSERT INTO tasks (id, owner_id, type, name, payload, idempotency_key, request_hash)
            SELECT $1, sender.id, $3, $4, $5, $6, $7 FROM sender
            ON CONFLICT (owner_id, idempotency_key) DO NOTHING
            RETURNING id
         ), job AS (
            INSERT INTO jobs (id, queue, kind, payload, max_attempts, request_id)
            SELECT id, $8, $9, $10, $12, $13 FROM task
            RETURNING id
         )
         SELECT EXISTS (SELECT 1 FROM sender) AS "allowed!",
                EXISTS (SELECT 1 FROM job) AS "written!""#,
        task.id,
        task.owner_id,
        task.kind,
        task.name,
        task.payload,
        task.idempotency_key,
        task.request_hash,
        job.queue,
        job.kind,
        job.payload,
        require_verified,
        job.max_attempts,
        current_request_id(),
    )
    .fetch_one(db)
    .await?;
    Ok(match (row.allowed, row.written) {
        (false, _) => Submitted::Unverified,
        (true, false) => Submitted::KeyTaken,
        (true, true) => Submitted::Written(Enqueued {
            id: task.id,
            queue: job.queue,
            run_at: None,
        }),
    })
}

/// One task of a batch, with its job.
#[derive(Debug, Clone)]
pub struct BatchTask<'a> {
    /// The task row.
    pub task: NewTask<'a>,
    /// Its job.
    pub job: TaskJob,
}

/// What [`submit_many`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmittedMany {
    /// The sender may send; these tasks (by index) were written, the others
    /// had an idempotency key the owner already used.
    Written(Vec<(usize, Enqueued)>),
    /// The owner's address is not verified while the rule is on: nothing
    /// was written.
    Unverified,
}

/// Writes many tasks of one owner, each with its job, in one statement
/// (inside the caller's transaction, if any). A task whose idempotency key
/// the owner already used is skipped, as in [`submit`]; two tasks of the
/// batch must not share a key.
pub async fn submit_many(
    db: impl PgExecutor<'_>,
    owner_id: uuid::Uuid,
    batch: &[BatchTask<'_>],
    require_verified: bool,
) -> Result<SubmittedMany, sqlx::Error> {
    let ids: Vec<uuid::Uuid> = batch.iter().map(|b| b.task.id).collect();
    let kinds: Vec<&str> = batch.iter().map(|b| b.task.kind).collect();
    let names: Vec<Option<&str>> = batch.iter().map(|b| b.task.name).collect();
    let payloads: Vec<serde_json::Value> = batch.iter().map(|b| b.task.payload.clone()).collect();
    let keys: Vec<Option<&str>> = batch.iter().map(|b| b.task.idempotency_key).collect();
    let hashes: Vec<&[u8]> = batch.iter().map(|b| b.task.request_hash).collect();
    let queues: Vec<&str> = batch.iter().map(|b| b.job.queue).collect();
    let job_kinds: Vec<&str> = batch.iter().map(|b| b.job.kind).collect();
    let job_payloads: Vec<serde_json::Value> =
        batch.iter().map(|b| b.job.payload.clone()).collect();
    let attempts: Vec<i32> = batch.iter().map(|b| b.job.max_attempts).collect();
    let row = sqlx::query!(
        r#"WITH sender AS (
            SELECT id FROM users WHERE id = $1 AND (NOT $2 OR email_verified_at IS NOT NULL)
         ), input AS (
            SELECT * FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::jsonb[], $7::text[],
                                 $8::bytea[], $9::text[], $10::text[], $11::jsonb[], $12::int[])
                AS t(id, type, name, payload, idempotency_key, request_hash, queue, kind,
                     job_payload, max_attempts)
         ), task AS (
            INSERT INTO tasks (id, owner_id, type, name, payload, idempotency_key, request_hash)
            SELECT input.id, sender.id, input.type, input.name, input.payload,
                   input.idempotency_key, input.request_hash
            FROM input, sender
            -- Keys in order: two batches taking the same keys queue on each
            -- other instead of deadlocking.
            ORDER BY input.idempotency_key
            ON CONFLICT (owner_id, idempotency_key) DO NOTHING
            RETURNING id
         ), job AS (
            INSERT INTO jobs (id, queue, kind, payload, max_attempts, request_id)
            SELECT input.id, input.queue, input.kind, input.job_payload, input.max_attempts, $13
            FROM input JOIN task ON task.id = input.id
            RETURNING id
         )
         SELECT EXISTS (SELECT 1 FROM sender) AS "allowed!",
                ARRAY(SELECT id FROM job) AS "written!""#,
        owner_id,
        require_verified,
        &ids,
        &kinds as &[&str],
        &names as &[Option<&str>],
        &payloads,
        &keys as &[Option<&str>],
        &hashes as &[&[u8]],
        &queues as &[&str],
        &job_kinds as &[&str],
        &job_payloads,
        &attempts,
        current_request_id(),
    )
    .fetch_one(db)
    .await?;
    if !row.allowed {
        return Ok(SubmittedMany::Unverified);
    }
    let written: std::collections::HashSet<uuid::Uuid> = row.written.into_iter().collect();
    Ok(SubmittedMany::Written(
        batch
            .iter()
            .enumerate()
            .filter(|(_, b)| written.contains(&b.task.id))
            .map(|(index, b)| {
                (
                    index,
                    Enqueued {
                        id: b.task.id,
                        queue: b.job.queue,
                        run_at: None,
                    },
                )
            })
            .collect(),
    ))
}
