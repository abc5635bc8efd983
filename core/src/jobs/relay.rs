//! The outbox relay: pushes rows the producer did not (Redis was down, the
//! process died between commit and push, or a retry's push failed).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::producer::{Push, mark_dispatched};
use super::{Producer, task_id_for_attempt};

/// A row waiting for a push.
#[derive(sqlx::FromRow)]
struct Waiting {
    id: Uuid,
    queue: String,
    status: String,
    attempts: i32,
    run_at: Option<DateTime<Utc>>,
}

/// One pass: takes up to `limit` rows left undispatched for longer than
/// `grace`, pushes them and marks them, all under row locks taken with SKIP
/// LOCKED, so several relays (scheduler replicas) never push the same row in
/// one pass. Returns how many rows it pushed.
pub async fn relay_once(
    pool: &PgPool,
    producer: &Producer,
    grace: Duration,
    limit: i64,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let rows: Vec<Waiting> = sqlx::query_as(
        "SELECT id, queue, status, attempts, run_at FROM jobs
         WHERE dispatched_at IS NULL AND status IN ('queued', 'retrying')
           AND updated_at < now() - make_interval(secs => $1)
         ORDER BY updated_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED",
    )
    .bind(grace.as_secs_f64())
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let pushes: Vec<Push> = rows
        .into_iter()
        .map(
            |Waiting {
                 id,
                 queue,
                 status,
                 attempts,
                 run_at,
             }| {
                // A retrying row has finished `attempts` attempts; push the next.
                let next_attempt = if status == "retrying" {
                    attempts + 1
                } else {
                    1
                };
                Push {
                    job_id: id,
                    task_id: task_id_for_attempt(id, next_attempt),
                    queue,
                    run_at,
                }
            },
        )
        .collect();
    producer.push(&pushes).await?;
    let ids: Vec<Uuid> = pushes.iter().map(|p| p.job_id).collect();
    mark_dispatched(&mut *tx, &ids).await?;
    tx.commit().await?;
    tracing::info!(jobs = ids.len(), "relay pushed undispatched jobs");
    Ok(ids.len())
}
