//! The outbox relay: pushes rows the producer did not (Redis was down, the
//! process died between commit and push, or a retry's push failed).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::producer::{Push, mark_dispatched};
use super::{Producer, runs, task_id_for_attempt};

/// A row waiting for a push.
struct Waiting {
    id: Uuid,
    queue: String,
    status: String,
    /// The run's attempt when `running`.
    attempts: i32,
    run_at: Option<DateTime<Utc>>,
    /// An attempt is under way (or was, until its worker vanished).
    running: bool,
}

impl From<Waiting> for Push {
    /// The task of the attempt the row waits for: the running one, the next
    /// one after a failure, else the current one (1 for a row never started).
    fn from(row: Waiting) -> Self {
        let attempt = if row.running {
            row.attempts
        } else if row.status == "retrying" {
            row.attempts + 1
        } else {
            row.attempts.max(1)
        };
        Push {
            job_id: row.id,
            task_id: task_id_for_attempt(row.id, attempt),
            queue: row.queue,
            run_at: row.run_at,
        }
    }
}

/// What one relay step did.
#[derive(Debug, Default)]
pub struct Relayed {
    /// Rows it took (pushed or not).
    pub taken: usize,
    /// Rows it pushed and marked.
    pub pushed: usize,
    /// Queues whose push failed (on a cluster, their master is down), with
    /// why: their rows stay as they were, for a later pass.
    pub unreachable: Vec<(String, anyhow::Error)>,
}

/// One step: takes up to `limit` rows left undispatched for longer than
/// `grace`, not running (a claim does not mark a row dispatched; a run
/// whose worker vanished is [`repush_stale`]'s) and not on a queue in
/// `skip`, pushes them and marks those pushed, all under row locks taken
/// with SKIP LOCKED, so several relays (scheduler replicas) never push the
/// same row in one pass. A queue that cannot be pushed to is reported, and
/// the caller skips it for the rest of its pass, so one unreachable master
/// holds up only its own queues.
pub async fn relay_once(
    pool: &PgPool,
    producer: &Producer,
    grace: Duration,
    limit: i64,
    skip: &[String],
) -> anyhow::Result<Relayed> {
    let mut tx = pool.begin().await?;
    let mut rows = sqlx::query_as!(
        Waiting,
        r#"SELECT id, queue, status, attempts, run_at, false AS "running!" FROM jobs
         WHERE dispatched_at IS NULL AND status IN ('queued', 'retrying')
           AND updated_at < now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM job_runs r WHERE r.job_id = jobs.id)
           AND NOT (queue = ANY($3))
         ORDER BY updated_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED"#,
        grace.as_secs_f64(),
        limit,
        skip,
    )
    .fetch_all(&mut *tx)
    .await?;
    let taken = rows.len();
    // Rows that got a run after the statement that locked them took its
    // snapshot (see [`super::runs`]) are running: not this pass's.
    let running = runs::with_runs(&mut tx, &ids(&rows), None).await?;
    rows.retain(|row| !running.contains(&row.id));
    if rows.is_empty() {
        return Ok(Relayed {
            taken,
            ..Relayed::default()
        });
    }
    let pushes: Vec<Push> = rows.into_iter().map(Push::from).collect();
    let done = producer.push_queues(&pushes).await;
    mark_dispatched(&mut *tx, &done.pushed).await?;
    tx.commit().await?;
    if !done.pushed.is_empty() {
        tracing::info!(jobs = done.pushed.len(), "relay pushed undispatched jobs");
    }
    Ok(Relayed {
        taken,
        pushed: done.pushed.len(),
        unreachable: done.failed,
    })
}

/// Re-pushes jobs Redis may have lost (a restart without persistence, an
/// eviction): `dispatched` or `retrying` rows pushed and due more than
/// `stale_after` ago, and running ones claimed more than `running_after`
/// ago (past the longest wait for a handler permit and any job timeout, so
/// their worker is gone). Pushing again is
/// harmless when Redis still has the task live: its HSETNX ignores a known
/// id. A task apalis finished or parked dead is requeued (see
/// `redis_queue`), so a job the ledger still waits for always runs again.
/// Each row is re-pushed at most once per `stale_after` (`running_after`
/// while running). Paused queues are left alone: their jobs wait in Redis
/// on purpose, and are looked at again once the queue resumes. So are the
/// queues in `skip` (unreachable this pass), and a queue whose push fails
/// is reported as in [`relay_once`].
pub async fn repush_stale(
    pool: &PgPool,
    producer: &Producer,
    stale_after: Duration,
    running_after: Duration,
    limit: i64,
    skip: &[String],
) -> anyhow::Result<Relayed> {
    let mut tx = pool.begin().await?;
    // Not running: the in-flight index; rows an older release marked
    // `running` count as running.
    let mut rows = sqlx::query_as!(
        Waiting,
        r#"SELECT id, queue, status, attempts, run_at, status = 'running' AS "running!" FROM jobs
         WHERE status IN ('dispatched', 'running', 'retrying')
           AND CASE WHEN status = 'running'
                    THEN GREATEST(started_at, dispatched_at) < now() - make_interval(secs => $2)
                    ELSE GREATEST(run_at, dispatched_at) < now() - make_interval(secs => $1) END
           AND NOT EXISTS (SELECT 1 FROM job_runs r WHERE r.job_id = jobs.id)
           AND queue NOT IN (SELECT queue FROM queue_pauses)
           AND NOT (queue = ANY($4))
         ORDER BY dispatched_at NULLS FIRST
         LIMIT $3
         FOR UPDATE SKIP LOCKED"#,
        stale_after.as_secs_f64(),
        running_after.as_secs_f64(),
        limit,
        skip,
    )
    .fetch_all(&mut *tx)
    .await?;
    let running = runs::with_runs(&mut tx, &ids(&rows), None).await?;
    rows.retain(|row| !running.contains(&row.id));
    // Running: the few rows of `job_runs`, whatever the ledger row's status.
    let mut stale = sqlx::query_as!(
        Waiting,
        r#"SELECT j.id, j.queue, j.status, r.attempt AS attempts, j.run_at, true AS "running!"
             FROM job_runs r JOIN jobs j ON j.id = r.job_id
             WHERE j.status IN ('queued', 'dispatched', 'retrying')
               AND r.started_at < now() - make_interval(secs => $1)
               AND GREATEST(r.started_at, j.dispatched_at) < now() - make_interval(secs => $1)
               AND j.queue NOT IN (SELECT queue FROM queue_pauses)
               AND NOT (j.queue = ANY($3))
             ORDER BY r.started_at
             LIMIT $2
             FOR UPDATE OF j SKIP LOCKED"#,
        running_after.as_secs_f64(),
        limit,
        skip,
    )
    .fetch_all(&mut *tx)
    .await?;
    // The statement read the runs under its snapshot: a run the outcome
    // ended, or a claim took over, while it waited for a row is gone or
    // fresh by now, and re-pushing its job would start a second run of it.
    let still = runs::with_runs(&mut tx, &ids(&stale), Some(running_after)).await?;
    stale.retain(|row| still.contains(&row.id));
    rows.extend(stale);
    let taken = rows.len();
    if rows.is_empty() {
        return Ok(Relayed::default());
    }
    let pushes: Vec<Push> = rows.into_iter().map(Push::from).collect();
    let done = producer.push_queues(&pushes).await;
    let ids = &done.pushed;
    sqlx::query!(
        "UPDATE jobs SET dispatched_at = now(),
                status = CASE WHEN status = 'queued' THEN 'dispatched' ELSE status END
         WHERE id = ANY($1)",
        ids
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if !ids.is_empty() {
        tracing::info!(jobs = ids.len(), "relay re-pushed jobs Redis may have lost");
    }
    Ok(Relayed {
        taken,
        pushed: ids.len(),
        unreachable: done.failed,
    })
}

/// After Redis lost its data (see [`super::LossWatch`]): pushes again the
/// next `limit` jobs, in id order after `after`, that were pushed before
/// `lost_at` and that the ledger still waits for, paused queues' too (their
/// tasks are gone as well). Returns how many it pushed and where the next
/// call starts; `None` once every such job was walked.
///
/// Rows are locked in id order and waited for, never skipped: a row a
/// worker's batch holds for a moment would otherwise stay lost until
/// `redispatch_after_seconds`. Running jobs are left alone: their worker
/// holds them (if it is gone, [`repush_stale`] finds them as ever). Jobs
/// workers fetched before the loss and still hold unclaimed are pushed as
/// well; the claim makes that second copy harmless (see
/// [`super::claim_batch`]).
///
/// Queues in `skip` (unreachable this pass), and those whose push fails
/// now, are walked past: the walk goes on for the others, and
/// [`repush_stale`] brings those back once their master answers.
pub async fn repush_lost(
    pool: &PgPool,
    producer: &Producer,
    lost_at: DateTime<Utc>,
    after: Option<Uuid>,
    limit: i64,
    skip: &[String],
) -> anyhow::Result<(Relayed, Option<Uuid>)> {
    let mut tx = pool.begin().await?;
    let mut rows = sqlx::query_as!(
        Waiting,
        r#"SELECT id, queue, status, attempts, run_at, false AS "running!" FROM jobs
         WHERE status IN ('dispatched', 'retrying') AND dispatched_at < $1
           AND ($2::uuid IS NULL OR id > $2)
           AND NOT EXISTS (SELECT 1 FROM job_runs r WHERE r.job_id = jobs.id)
           AND NOT (queue = ANY($4))
         ORDER BY id
         LIMIT $3
         FOR UPDATE"#,
        lost_at,
        after,
        limit,
        skip,
    )
    .fetch_all(&mut *tx)
    .await?;
    let taken = rows.len();
    let next = if rows.len() as i64 == limit {
        rows.last().map(|row| row.id)
    } else {
        None
    };
    // A claim that took a row after the statement's snapshot is live; a
    // row finished meanwhile waits no more.
    let running = runs::with_runs(&mut tx, &ids(&rows), None).await?;
    rows.retain(|row| !running.contains(&row.id));
    let waiting = still_waiting(&mut tx, &ids(&rows)).await?;
    rows.retain(|row| waiting.contains(&row.id));
    if rows.is_empty() {
        tx.commit().await?;
        return Ok((
            Relayed {
                taken,
                ..Relayed::default()
            },
            next,
        ));
    }
    let pushes: Vec<Push> = rows.into_iter().map(Push::from).collect();
    let done = producer.push_queues(&pushes).await;
    let ids = &done.pushed;
    sqlx::query!(
        "UPDATE jobs SET dispatched_at = now(), dispatches = dispatches + 1 WHERE id = ANY($1)",
        ids
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(jobs = ids.len(), "relay pushed again jobs Redis lost");
    let pushed = ids.len();
    Ok((
        Relayed {
            taken,
            pushed,
            unreachable: done.failed,
        },
        next,
    ))
}

/// Which of `ids` (locked) are still dispatched or retrying, read by a
/// statement after the lock: the locking one saw them as of its snapshot.
async fn still_waiting(
    tx: &mut sqlx::PgConnection,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM jobs WHERE id = ANY($1) AND status IN ('dispatched', 'retrying')",
        ids
    )
    .fetch_all(tx)
    .await
}

fn ids(rows: &[Waiting]) -> Vec<Uuid> {
    rows.iter().map(|row| row.id).collect()
}
