//! Claims: a worker marks the jobs it is about to run, and gives back the
//! claims of those that never started. Both come in batches, like every
//! ledger write on the job path.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// A job a worker may run now.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// `jobs.id`
    pub id: Uuid,
    /// Queue name.
    pub queue: String,
    /// Job kind.
    pub kind: String,
    /// Payload.
    pub payload: serde_json::Value,
    /// This attempt's number (1-based).
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Request that caused the job.
    pub request_id: Option<String>,
    /// The row waited as `retrying` before this claim (a retry's task was
    /// delivered); a claim given back restores that.
    pub was_retrying: bool,
    /// When this claim was made (`started_at`): tells it apart from any
    /// other claim of the same job, even by the same worker.
    pub claimed_at: DateTime<Utc>,
}

/// Batched writes lock their rows in id order, so two batches touching the
/// same rows wait for each other instead of deadlocking.
///
/// Marks the jobs running and counts the attempt. A job the producer
/// pushed is first recorded as dispatched here (see `Producer::dispatch`). Jobs already finished
/// (succeeded, dead or cancelled) are left alone and missing from the
/// result: a duplicate delivery must not run them again. A job found
/// `running` was abandoned: its worker vanished mid-attempt or before the
/// attempt started (a worker claims the jobs it holds ahead of their
/// handlers), or a duplicate of its task was delivered after the worker
/// waited longer than the relay's `running_after`; that attempt goes into
/// its log as `lost`, and into the history (under `slot`,
/// see [`super::finish_batch`]) as processed and failed.
pub async fn claim_batch(
    pool: &PgPool,
    ids: &[Uuid],
    worker: &str,
    slot: i16,
) -> Result<Vec<Claimed>, sqlx::Error> {
    // A lost attempt also counts in the history, as processed and failed.
    sqlx::query_as!(
        Claimed,
        r#"WITH claimed AS (
            UPDATE jobs SET status = 'running', attempts = attempts + 1, worker = $2,
                started_at = now(), updated_at = now(),
                dispatched_at = COALESCE(jobs.dispatched_at, now()),
                dispatches = GREATEST(jobs.dispatches, 1),
                attempt_log = CASE WHEN jobs.status = 'running'
                    THEN jobs.attempt_log || jsonb_build_array(jsonb_build_object(
                        'attempt', jobs.attempts, 'worker', jobs.worker,
                        'started_at', jobs.started_at, 'finished_at', NULL,
                        'outcome', 'lost', 'error', 'its worker stopped before the attempt ended'))
                    ELSE jobs.attempt_log END
            FROM (SELECT id, status = 'running' AS was_running,
                         status = 'retrying' AS was_retrying
                  FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE) AS locked
            WHERE jobs.id = locked.id AND jobs.status NOT IN ('succeeded', 'dead', 'cancelled')
            RETURNING jobs.id, queue, kind, payload, attempts, max_attempts, request_id,
                      started_at, locked.was_running AS lost, locked.was_retrying
         ), lost AS (
            SELECT queue, count(*) AS n FROM claimed WHERE lost IS TRUE GROUP BY queue
         ), minutes AS (
            INSERT INTO queue_minutes AS m (queue, minute, slot, processed, failed)
            SELECT queue, date_trunc('minute', now()), $3, n, n FROM lost
            ON CONFLICT (queue, minute, slot) DO UPDATE
               SET processed = m.processed + excluded.processed, failed = m.failed + excluded.failed
         ), days AS (
            INSERT INTO queue_days AS d (queue, day, slot, processed, failed)
            SELECT queue, (now() AT TIME ZONE 'UTC')::date, $3, n, n FROM lost
            ON CONFLICT (queue, day, slot) DO UPDATE
               SET processed = d.processed + excluded.processed, failed = d.failed + excluded.failed
         )
         SELECT id AS "id!", queue AS "queue!", kind AS "kind!", payload AS "payload!",
                attempts AS "attempts!", max_attempts AS "max_attempts!", request_id,
                was_retrying AS "was_retrying!", started_at AS "claimed_at!"
         FROM claimed"#,
        ids,
        worker,
        slot,
    )
    .fetch_all(pool)
    .await
}

/// A claim to give back (see [`release_batch`]).
#[derive(Debug, Clone, Copy)]
pub struct Release {
    /// `jobs.id`
    pub id: Uuid,
    /// The attempt number [`claim_batch`] returned.
    pub attempt: i32,
    /// [`Claimed::was_retrying`].
    pub was_retrying: bool,
    /// [`Claimed::claimed_at`].
    pub claimed_at: DateTime<Utc>,
}

impl From<&Claimed> for Release {
    fn from(claimed: &Claimed) -> Self {
        Self {
            id: claimed.id,
            attempt: claimed.attempts,
            was_retrying: claimed.was_retrying,
            claimed_at: claimed.claimed_at,
        }
    }
}

/// Gives back claims whose handler never started (the worker's run ended,
/// or the job waited too long for a permit): the attempt is uncounted and
/// the row waits for the very task that was delivered, which apalis-redis
/// schedules again. So it is `retrying` again if it was (the relay's task
/// for a retrying row is that of the next attempt), else `dispatched` (the
/// task of its current attempt; also after a lost attempt was recovered,
/// whose log entry stays). `dispatched_at` is renewed, so the relay gives
/// apalis its full `redispatch_after_seconds` before pushing again. A claim
/// that is no longer the latest (claimed again since, even by this worker)
/// is left alone.
pub async fn release_batch(
    pool: &PgPool,
    releases: &[Release],
    worker: &str,
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = releases.iter().map(|r| r.id).collect();
    let attempts: Vec<i32> = releases.iter().map(|r| r.attempt).collect();
    let retrying: Vec<bool> = releases.iter().map(|r| r.was_retrying).collect();
    let claimed_at: Vec<DateTime<Utc>> = releases.iter().map(|r| r.claimed_at).collect();
    sqlx::query!(
        "UPDATE jobs SET status = CASE WHEN v.retrying THEN 'retrying' ELSE 'dispatched' END,
                attempts = v.attempt - 1, dispatched_at = now(), updated_at = now()
         FROM UNNEST($1::uuid[], $2::int4[], $3::bool[], $4::timestamptz[])
                AS v(id, attempt, retrying, claimed_at),
              (SELECT id FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE) AS locked
         WHERE jobs.id = v.id AND jobs.id = locked.id
           AND jobs.status = 'running' AND jobs.attempts = v.attempt
           AND jobs.started_at = v.claimed_at AND jobs.worker = $5",
        &ids,
        &attempts,
        &retrying,
        &claimed_at,
        worker,
    )
    .execute(pool)
    .await?;
    Ok(())
}
