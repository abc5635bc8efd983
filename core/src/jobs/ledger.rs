//! The job ledger: what operators read, and the guard that keeps a finished
//! job from running again. Writes come in batches because a busy worker
//! claims and finishes thousands of jobs a second.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Written to the outbox, not yet in Redis.
    Queued,
    /// Pushed to Redis.
    Dispatched,
    /// A worker is on it.
    Running,
    /// Done.
    Succeeded,
    /// Failed; the next attempt is scheduled.
    Retrying,
    /// Failed for good; kept with its last error.
    Dead,
    /// Stopped by an operator before it ran.
    Cancelled,
}

impl JobStatus {
    /// The lowercase name stored in `jobs.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Dispatched => "dispatched",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Retrying => "retrying",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One row of the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    /// Row id and first Redis task id.
    pub id: Uuid,
    /// Queue name.
    pub queue: String,
    /// Job kind.
    pub kind: String,
    /// Payload (ids).
    pub payload: serde_json::Value,
    /// Current status.
    pub status: JobStatus,
    /// Attempts started so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Error of the latest failed attempt.
    pub last_error: Option<String>,
    /// Request that caused the job.
    pub request_id: Option<String>,
    /// Pushes to Redis so far.
    pub dispatches: i32,
    /// Worker of the latest attempt.
    pub worker: Option<String>,
    /// Earliest time of the next attempt.
    pub run_at: Option<DateTime<Utc>>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Latest push to Redis.
    pub dispatched_at: Option<DateTime<Utc>>,
    /// Start of the latest attempt.
    pub started_at: Option<DateTime<Utc>>,
    /// When it succeeded or died.
    pub finished_at: Option<DateTime<Utc>>,
    /// When its task data was deleted from Redis.
    pub pruned_at: Option<DateTime<Utc>>,
    /// Every finished attempt but one that succeeded (which is the row's
    /// own `attempts`, `worker`, `started_at` and `finished_at`): `{attempt,
    /// worker, started_at, finished_at, outcome, error}`.
    pub attempt_log: serde_json::Value,
}

/// Reads one job. While an attempt runs (see [`super::claim_batch`]), its
/// status is `running` and its attempt, worker and start are the run's.
pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<JobRecord>, sqlx::Error> {
    sqlx::query_as!(
        JobRecord,
        r#"SELECT j.id, j.queue, kind, payload,
                  CASE WHEN r.job_id IS NOT NULL THEN 'running' ELSE status END
                      AS "status!: JobStatus",
                  COALESCE(r.attempt, attempts) AS "attempts!", max_attempts,
                  last_error, request_id, dispatches, COALESCE(r.worker, j.worker) AS worker,
                  run_at, created_at, updated_at, dispatched_at,
                  COALESCE(r.started_at, j.started_at) AS started_at, finished_at, pruned_at,
                  attempt_log
         FROM jobs j
         LEFT JOIN job_runs r
                ON r.job_id = j.id AND j.status NOT IN ('succeeded', 'dead', 'cancelled')
         WHERE j.id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub struct Finish {
    /// `jobs.id`
    pub id: Uuid,
    /// Succeeded, Retrying or Dead.
    pub status: JobStatus,
    /// The failure, if any.
    pub error: Option<String>,
    /// For Retrying: when the next attempt may start. The row stays
    /// undispatched until that attempt is pushed.
    pub retry_at: Option<DateTime<Utc>>,
    /// The attempt's number ([`super::Claimed::attempts`]).
    pub attempt: i32,
    /// Its claim ([`super::Claimed::claimed_at`]), which is when it started.
    pub claimed_at: DateTime<Utc>,
}

/// An outcome [`finish_batch`] recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Recorded {
    /// `jobs.id`
    pub id: Uuid,
    /// The attempt's [`Finish::claimed_at`]: one job may have two attempts
    /// in a batch (a stalled one and the one that took it over).
    pub claimed_at: DateTime<Utc>,
}

/// Longest error kept per attempt.
pub const ERROR_CHARS: i32 = 2_000;

/// Records outcomes, appends each failed attempt to its job's log, and adds the
/// attempts to the per-minute and per-day history under `slot` (each worker
/// process has its own, so concurrent finishes do not queue on one counter
/// row), all in one statement; returns the outcomes it recorded.
///
/// An outcome counts only while its attempt's run (`job_runs`) is still the
/// job's: the statement deletes that run (same job, start and worker), and
/// records the outcome only where it did. An outcome that comes after its
/// job was taken over (the worker stalled past the relay's `running_after`
/// and another worker claimed the job, logging this attempt as `lost`) is
/// dropped: recording it would count the attempt twice, end the live run,
/// or let a `retrying` verdict push a second concurrent run. Deleting the
/// run, rather than testing that it exists, is what makes the check
/// sound: a claim that took the run over after this statement's snapshot
/// changed it, and PostgreSQL re-checks a row it deletes against the
/// newest version (a test under the same snapshot would still see the old
/// run).
///
/// The ledger rows are locked first, in id order, as every batched writer
/// locks them (claims, releases, cancel, retry, the relay), so batches that
/// share rows wait for each other instead of deadlocking. Without that
/// lock the update locked rows in whatever order its plan met them (a hash
/// join over a sequential scan on a small table), which deadlocked with an
/// operator's cancel.
///
/// An attempt that succeeded is the job's last, and the row holds it
/// (`attempts`, `worker`, `started_at`, `finished_at`), so it gets no log
/// entry: building and appending one was a fifth of this statement's cost
/// per row (`benches/ledger/statement_costs.sql`). Readers add it back (see
/// `ops::jobs::detail`).
pub async fn finish_batch(
    pool: &PgPool,
    outcomes: &[Finish],
    worker: &str,
    slot: i16,
) -> Result<Vec<Recorded>, sqlx::Error> {
    let ids: Vec<Uuid> = outcomes.iter().map(|f| f.id).collect();
    let statuses: Vec<&str> = outcomes.iter().map(|f| f.status.as_str()).collect();
    let errors: Vec<Option<&str>> = outcomes.iter().map(|f| f.error.as_deref()).collect();
    let retry_at: Vec<Option<DateTime<Utc>>> = outcomes.iter().map(|f| f.retry_at).collect();
    let attempts: Vec<i32> = outcomes.iter().map(|f| f.attempt).collect();
    let claimed_at: Vec<DateTime<Utc>> = outcomes.iter().map(|f| f.claimed_at).collect();
    // The history is written minutes first, then days, each in queue order,
    // as a claim that logs lost attempts writes it, so the two never lock
    // the same counter rows in opposite orders.
    sqlx::query_as!(
        Recorded,
        r#"WITH locked AS (
            SELECT id FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE
         ), ended AS (
            -- Runs from a one-time filter on `locked`, so after every lock
            -- (a join would compare each run with each locked row).
            DELETE FROM job_runs r
            USING UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                         $7::int4[], $8::timestamptz[])
                  AS v(id, status, error, retry_at, attempt, claimed_at)
            WHERE r.job_id = v.id AND r.started_at = v.claimed_at AND r.worker = $9
              AND (SELECT count(*) FROM locked) >= 0
            RETURNING v.*
         ), recorded AS (
            UPDATE jobs AS j SET
                status = v.status,
                attempts = GREATEST(j.attempts, v.attempt),
                worker = $9::text,
                started_at = v.claimed_at,
                last_error = COALESCE(left(v.error, $6), j.last_error),
                run_at = v.retry_at,
                dispatched_at = CASE WHEN v.status = 'retrying' THEN NULL
                                     ELSE COALESCE(j.dispatched_at, v.claimed_at) END,
                dispatches = GREATEST(j.dispatches, 1),
                finished_at = CASE WHEN v.status IN ('succeeded', 'dead') THEN now() END,
                updated_at = now(),
                attempt_log = CASE WHEN v.status = 'succeeded' THEN j.attempt_log
                    ELSE j.attempt_log || jsonb_build_array(jsonb_build_object(
                        'attempt', v.attempt, 'worker', $9, 'started_at', v.claimed_at,
                        'finished_at', now(), 'outcome', v.status, 'error', left(v.error, $6)))
                    END
            FROM ended AS v
            WHERE j.id = v.id
              AND j.status NOT IN ('succeeded', 'dead', 'cancelled')
            RETURNING j.id, j.queue, v.status, v.claimed_at
         ), per_queue AS (
            SELECT queue, count(*) AS processed,
                   count(*) FILTER (WHERE status <> 'succeeded') AS failed
            FROM recorded GROUP BY queue
         ), minutes AS (
            INSERT INTO queue_minutes AS m (queue, minute, slot, processed, failed)
            SELECT queue, date_trunc('minute', now()), $5, processed, failed FROM per_queue
            ORDER BY queue
            ON CONFLICT (queue, minute, slot) DO UPDATE
               SET processed = m.processed + excluded.processed, failed = m.failed + excluded.failed
            RETURNING 1
         ), days AS (
            INSERT INTO queue_days AS d (queue, day, slot, processed, failed)
            SELECT queue, (now() AT TIME ZONE 'UTC')::date, $5, processed, failed FROM per_queue
            WHERE (SELECT count(*) FROM minutes) >= 0
            ORDER BY queue
            ON CONFLICT (queue, day, slot) DO UPDATE
               SET processed = d.processed + excluded.processed, failed = d.failed + excluded.failed
            RETURNING 1
         )
         SELECT id AS "id!", claimed_at AS "claimed_at!" FROM recorded
         WHERE (SELECT count(*) FROM days) >= 0"#,
        &ids,
        &statuses as &[&str],
        &errors as &[Option<&str>],
        &retry_at as &[Option<DateTime<Utc>>],
        slot,
        ERROR_CHARS,
        &attempts,
        &claimed_at,
        worker,
    )
    .fetch_all(pool)
    .await
}
