//! Claims: a worker starts a run of each job it is about to run
//! (`job_runs`), and gives back the claims of those that never started.
//! Both come in batches, like every ledger write on the job path.

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
    /// When this claim was made (`started_at`): tells it apart from any
    /// other claim of the same job, even by the same worker.
    pub claimed_at: DateTime<Utc>,
}

/// Batched writes lock their rows in id order, so two batches touching the
/// same rows wait for each other instead of deadlocking.
///
/// Starts an attempt of each job: locks its ledger row and writes a run
/// (`job_runs`) for it. The ledger row itself is left as it is, which is
/// what makes a claim cheap: it is the one write of the job path that
/// touches no ledger index. Jobs already finished (succeeded, dead or
/// cancelled) are left alone and missing from the result: a duplicate
/// delivery must not run them again. A job whose run belongs to a live
/// worker (a fresh registry row, not stopped, registered before the run
/// began) is `busy`: a duplicate of its
/// task arrived while it runs, which happens when the relay pushed again
/// what Redis lost while workers still held it. It is delivered again later
/// and finds the job finished, or its worker gone. A job whose run's worker
/// is gone was abandoned: the worker vanished mid-attempt or before the
/// attempt started (a worker claims the jobs it holds ahead of their
/// handlers); that attempt goes into its log as `lost`,
/// and into the history (under `slot`, see [`super::finish_batch`]) as
/// processed and failed. So does the attempt of a row an older release
/// marked `running`.
pub async fn claim_batch(
    pool: &PgPool,
    ids: &[Uuid],
    worker: &str,
    slot: i16,
) -> Result<Claims, sqlx::Error> {
    let rows = sqlx::query_as!(
        ClaimRow,
        r#"WITH locked AS (
            SELECT id, queue, kind, payload, status, attempts, max_attempts, request_id,
                   worker, started_at
            FROM jobs WHERE id = ANY($1) AND status NOT IN ('succeeded', 'dead', 'cancelled')
            ORDER BY id FOR UPDATE
         ), runs AS (
            INSERT INTO job_runs AS r (job_id, queue, attempt, worker, started_at,
                                       lost_attempt, lost_worker, lost_started_at)
            SELECT id, queue, attempts + 1, $2, now(),
                   CASE WHEN status = 'running' THEN attempts END,
                   CASE WHEN status = 'running' THEN worker END,
                   CASE WHEN status = 'running' THEN started_at END
            FROM locked
            ON CONFLICT (job_id) DO UPDATE SET attempt = r.attempt + 1, worker = excluded.worker,
                started_at = excluded.started_at, lost_attempt = r.attempt,
                lost_worker = r.worker, lost_started_at = r.started_at
            -- Taken over only from a worker that is gone (see above): not
            -- live, or live again under the same name since the run began
            -- (a restart that reused `--name`).
            WHERE NOT EXISTS (SELECT 1 FROM workers w WHERE w.name = r.worker
                                AND w.stopped_at IS NULL AND w.expires_at > now()
                                AND w.started_at <= r.started_at)
            RETURNING job_id, attempt, started_at, lost_attempt, lost_worker, lost_started_at
         ), lost AS (
            UPDATE jobs SET attempts = runs.lost_attempt, worker = runs.lost_worker,
                started_at = runs.lost_started_at, updated_at = now(),
                status = CASE WHEN jobs.status = 'running' THEN 'dispatched' ELSE jobs.status END,
                attempt_log = jobs.attempt_log || jsonb_build_array(jsonb_build_object(
                    'attempt', runs.lost_attempt, 'worker', runs.lost_worker,
                    'started_at', runs.lost_started_at, 'finished_at', NULL,
                    'outcome', 'lost', 'error', 'its worker stopped before the attempt ended'))
            FROM runs WHERE jobs.id = runs.job_id AND runs.lost_attempt IS NOT NULL
            RETURNING jobs.queue
         ), per_queue AS (
            SELECT queue, count(*) AS n FROM lost GROUP BY queue
         ), minutes AS (
            INSERT INTO queue_minutes AS m (queue, minute, slot, processed, failed)
            SELECT queue, date_trunc('minute', now()), $3, n, n FROM per_queue
            ORDER BY queue
            ON CONFLICT (queue, minute, slot) DO UPDATE
               SET processed = m.processed + excluded.processed, failed = m.failed + excluded.failed
            RETURNING 1
         ), days AS (
            -- After the minutes (it reads them), each in queue order, as an
            -- outcome writes them.
            INSERT INTO queue_days AS d (queue, day, slot, processed, failed)
            SELECT queue, (now() AT TIME ZONE 'UTC')::date, $3, n, n FROM per_queue
            WHERE (SELECT count(*) FROM minutes) >= 0
            ORDER BY queue
            ON CONFLICT (queue, day, slot) DO UPDATE
               SET processed = d.processed + excluded.processed, failed = d.failed + excluded.failed
         )
         SELECT l.id AS "id!", l.queue AS "queue!", l.kind AS "kind!", l.payload AS "payload!",
                runs.attempt AS "attempts?", l.max_attempts AS "max_attempts!", l.request_id,
                runs.started_at AS "claimed_at?"
         FROM locked l LEFT JOIN runs ON runs.job_id = l.id"#,
        ids,
        worker,
        slot,
    )
    .fetch_all(pool)
    .await?;
    let mut claims = Claims::default();
    for row in rows {
        match (row.attempts, row.claimed_at) {
            (Some(attempts), Some(claimed_at)) => claims.claimed.push(Claimed {
                id: row.id,
                queue: row.queue,
                kind: row.kind,
                payload: row.payload,
                attempts,
                max_attempts: row.max_attempts,
                request_id: row.request_id,
                claimed_at,
            }),
            _ => claims.busy.push(row.id),
        }
    }
    Ok(claims)
}

/// What [`claim_batch`] made of a batch.
#[derive(Debug, Default)]
pub struct Claims {
    /// Jobs to run now.
    pub claimed: Vec<Claimed>,
    /// Jobs a live worker runs: deliver them again later.
    pub busy: Vec<Uuid>,
}

struct ClaimRow {
    id: Uuid,
    queue: String,
    kind: String,
    payload: serde_json::Value,
    attempts: Option<i32>,
    max_attempts: i32,
    request_id: Option<String>,
    claimed_at: Option<DateTime<Utc>>,
}

/// A claim to give back (see [`release_batch`]).
#[derive(Debug, Clone, Copy)]
pub struct Release {
    /// `jobs.id`
    pub id: Uuid,
    /// [`Claimed::claimed_at`].
    pub claimed_at: DateTime<Utc>,
}

impl From<&Claimed> for Release {
    fn from(claimed: &Claimed) -> Self {
        Self {
            id: claimed.id,
            claimed_at: claimed.claimed_at,
        }
    }
}

/// Gives back claims whose handler never started (the worker's run ended,
/// or the job waited too long for a permit): the run is deleted, so the
/// attempt is uncounted, and the row waits for a push again (`queued`, or
/// `retrying` with no `dispatched_at`). apalis-redis schedules the task that
/// was delivered again, and the relay pushes it after `jobs.relay_grace_ms`
/// too, which is a no-op while Redis holds it; when Redis lost it (the
/// usual reason a worker's run ends at once for every queue), that push is
/// what brings the job back. A claim that is no
/// longer the latest (claimed again since, even by this worker) is left
/// alone. The ledger rows are locked before their runs are touched, as a
/// claim does, so the two never wait for each other in a cycle.
pub async fn release_batch(
    pool: &PgPool,
    releases: &[Release],
    worker: &str,
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = releases.iter().map(|r| r.id).collect();
    let claimed_at: Vec<DateTime<Utc>> = releases.iter().map(|r| r.claimed_at).collect();
    let mut tx = pool.begin().await?;
    super::runs::lock_rows(&mut tx, &ids).await?;
    sqlx::query!(
        "WITH released AS (
            DELETE FROM job_runs r USING UNNEST($1::uuid[], $2::timestamptz[]) AS v(id, claimed_at)
            WHERE r.job_id = v.id AND r.started_at = v.claimed_at AND r.worker = $3
            RETURNING r.job_id
         )
         UPDATE jobs SET status = CASE WHEN status = 'dispatched' THEN 'queued' ELSE status END,
                dispatched_at = NULL, dispatches = GREATEST(dispatches, 1), updated_at = now()
         FROM released
         WHERE jobs.id = released.job_id AND jobs.status NOT IN ('succeeded', 'dead', 'cancelled')",
        &ids,
        &claimed_at,
        worker,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
