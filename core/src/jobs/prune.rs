//! Deleting finished jobs' task data from Redis. apalis-redis keeps every
//! task's data forever, and its own `vacuum` deletes tasks still waiting for
//! a retry; the ledger knows which jobs are truly finished.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Job, Producer, queues, redis_queue, task_id_for_attempt};

/// Enqueued by the scheduler; the handler calls [`prune_finished`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PruneQueues {}

impl Job for PruneQueues {
    const KIND: &'static str = "prune_queues";
    const QUEUE: &'static str = queues::SYSTEM;
}

/// Deletes the Redis data of up to `limit` jobs that finished more than
/// `older_than` ago, every attempt's task included, and marks them pruned.
/// Returns how many jobs it pruned.
pub async fn prune_finished(
    pool: &PgPool,
    producer: &Producer,
    older_than: Duration,
    limit: i64,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query!(
        "SELECT id, queue, attempts FROM jobs
         WHERE pruned_at IS NULL AND status IN ('succeeded', 'dead', 'cancelled')
           AND finished_at < now() - make_interval(secs => $1)
         ORDER BY finished_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED",
        older_than.as_secs_f64(),
        limit,
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut by_queue: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for row in &rows {
        let task_ids = by_queue.entry(row.queue.as_str()).or_default();
        task_ids
            .extend((1..=row.attempts.max(1)).map(|n| task_id_for_attempt(row.id, n).to_string()));
    }
    let mut redis = producer.redis();
    for (queue, task_ids) in by_queue {
        redis_queue::forget(&mut redis, &producer.queue_config(queue), &task_ids).await?;
    }
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    sqlx::query!("UPDATE jobs SET pruned_at = now() WHERE id = ANY($1)", &ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::debug!(jobs = ids.len(), "pruned finished jobs from Redis");
    Ok(ids.len())
}
