//! Deleting finished jobs' task data from Redis. apalis-redis keeps every
//! task's data forever, and its own `vacuum` deletes tasks still waiting for
//! a retry; the ledger knows which jobs are truly finished.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Job, Producer, queues};
use crate::ops::actions::{Finished, forget};

/// Enqueued by the scheduler; the handler calls [`prune_finished`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PruneQueues {}

impl Job for PruneQueues {
    const KIND: &'static str = "prune_queues";
    const QUEUE: &'static str = queues::SYSTEM;
}

/// What one [`prune_finished`] batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneBatch {
    /// Finished jobs looked at (`limit` means there may be more).
    pub checked: usize,
    /// Of those, pruned; the others still have a task queued in Redis.
    pub pruned: usize,
}

/// Deletes the Redis data of up to `limit` jobs that finished more than
/// `older_than` ago, every attempt's task included, and marks them pruned.
/// A job with a task still queued or in flight (cancelled before it was
/// delivered) keeps it: it is looked at again after `older_than`, behind
/// the others.
pub async fn prune_finished(
    pool: &PgPool,
    producer: &Producer,
    older_than: Duration,
    limit: i64,
) -> anyhow::Result<PruneBatch> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query_as!(
        Finished,
        "SELECT id, queue, attempts FROM jobs
         WHERE pruned_at IS NULL AND status IN ('succeeded', 'dead', 'cancelled')
           AND COALESCE(prune_checked_at, finished_at) < now() - make_interval(secs => $1)
         ORDER BY COALESCE(prune_checked_at, finished_at)
         LIMIT $2
         FOR UPDATE SKIP LOCKED",
        older_than.as_secs_f64(),
        limit,
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(PruneBatch::default());
    }
    let kept = forget(producer, &rows).await?;
    let (waiting, pruned): (Vec<Uuid>, Vec<Uuid>) = rows
        .iter()
        .map(|row| row.id)
        .partition(|id| kept.contains(id));
    sqlx::query!(
        "UPDATE jobs SET pruned_at = CASE WHEN id = ANY($2) THEN NULL ELSE now() END,
                prune_checked_at = now()
         WHERE id = ANY($1)",
        &pruned.iter().chain(&waiting).copied().collect::<Vec<_>>(),
        &waiting,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::debug!(
        jobs = pruned.len(),
        waiting = waiting.len(),
        "pruned finished jobs from Redis"
    );
    Ok(PruneBatch {
        checked: rows.len(),
        pruned: pruned.len(),
    })
}
