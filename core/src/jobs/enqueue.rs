//! Writing jobs into the outbox, inside the caller's transaction.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Job, current_request_id};

/// A job row written by [`enqueue`]; hand it to [`super::Producer::dispatch`]
/// after the transaction commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// `jobs.id`, also the Redis task id of the first attempt.
    pub id: Uuid,
    /// The queue it goes to.
    pub queue: &'static str,
    /// Not before this time.
    pub run_at: Option<DateTime<Utc>>,
}

/// Per-job choices beyond the payload.
#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    /// Attempts before the job is dead; `None` takes the kind's
    /// [`Job::MAX_ATTEMPTS`] (5 unless the kind says otherwise).
    pub max_attempts: Option<i32>,
    /// At most one job ever exists per key (e.g. one per cron tick).
    pub dedupe_key: Option<String>,
    /// Delay the first attempt.
    pub run_at: Option<DateTime<Utc>>,
    /// Use this row id (when another row must share it, e.g. a task).
    pub id: Option<Uuid>,
}

/// Attempts of a job that names none.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

/// Writes `job` into the outbox within the caller's transaction.
pub async fn enqueue<J: Job>(conn: &mut PgConnection, job: &J) -> Result<Enqueued, sqlx::Error> {
    let written = enqueue_with(conn, job, JobOptions::default()).await?;
    Ok(written.expect("no dedupe key, so the row is always written"))
}

/// Like [`enqueue`]; returns `None` when a job with the same dedupe key exists.
pub async fn enqueue_with<J: Job>(
    conn: &mut PgConnection,
    job: &J,
    options: JobOptions,
) -> Result<Option<Enqueued>, sqlx::Error> {
    let id = options.id.unwrap_or_else(Uuid::now_v7);
    let payload = serde_json::to_value(job).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let inserted = sqlx::query_scalar!(
        "INSERT INTO jobs (id, queue, kind, payload, max_attempts, request_id, dedupe_key, run_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
         RETURNING id",
        id,
        J::QUEUE,
        J::KIND,
        payload,
        options.max_attempts.unwrap_or(J::MAX_ATTEMPTS),
        current_request_id(),
        options.dedupe_key,
        options.run_at,
    )
    .fetch_optional(conn)
    .await?;
    Ok(inserted.map(|id| Enqueued {
        id,
        queue: J::QUEUE,
        run_at: options.run_at,
    }))
}

/// Writes many jobs of one kind in one statement (fan-out, benchmarks).
pub async fn enqueue_many<J: Job>(
    conn: &mut PgConnection,
    jobs: &[J],
) -> Result<Vec<Enqueued>, sqlx::Error> {
    let ids: Vec<Uuid> = jobs.iter().map(|_| Uuid::now_v7()).collect();
    let payloads = jobs
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query!(
        "INSERT INTO jobs (id, queue, kind, payload, max_attempts, request_id)
         SELECT id, $3, $4, payload, $5, $6 FROM UNNEST($1::uuid[], $2::jsonb[]) AS t(id, payload)",
        &ids,
        &payloads,
        J::QUEUE,
        J::KIND,
        J::MAX_ATTEMPTS,
        current_request_id(),
    )
    .execute(conn)
    .await?;
    Ok(ids
        .into_iter()
        .map(|id| Enqueued {
            id,
            queue: J::QUEUE,
            run_at: None,
        })
        .collect())
}

/// Like [`enqueue_many`], each job with its dedupe key; returns only the jobs
/// written (a key that exists already is skipped). Fan-outs that may run
/// twice use it to produce each job once.
pub async fn enqueue_many_deduped<J: Job>(
    conn: &mut PgConnection,
    jobs: &[(J, String)],
) -> Result<Vec<Enqueued>, sqlx::Error> {
    let ids: Vec<Uuid> = jobs.iter().map(|_| Uuid::now_v7()).collect();
    let payloads = jobs
        .iter()
        .map(|(job, _)| serde_json::to_value(job))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let keys: Vec<&str> = jobs.iter().map(|(_, key)| key.as_str()).collect();
    let written = sqlx::query_scalar!(
        "INSERT INTO jobs (id, queue, kind, payload, max_attempts, request_id, dedupe_key)
         SELECT id, $4, $5, payload, $6, $7, key
         FROM UNNEST($1::uuid[], $2::jsonb[], $3::text[]) AS t(id, payload, key)
         ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
         RETURNING id",
        &ids,
        &payloads,
        &keys as &[&str],
        J::QUEUE,
        J::KIND,
        J::MAX_ATTEMPTS,
        current_request_id(),
    )
    .fetch_all(conn)
    .await?;
    Ok(written
        .into_iter()
        .map(|id| Enqueued {
            id,
            queue: J::QUEUE,
            run_at: None,
        })
        .collect())
}
