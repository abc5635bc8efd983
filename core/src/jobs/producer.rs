//! Pushing committed outbox rows to Redis.

use std::collections::BTreeMap;

use apalis_core::task::{builder::TaskBuilder, task_id::TaskId};
use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Enqueued, JobRef};
use crate::redis::queue_namespace;

/// Pushes jobs to their Redis queues (through apalis-redis's own push
/// script, so workers see ordinary apalis tasks) and records the dispatch.
#[derive(Clone)]
pub struct Producer {
    pool: PgPool,
    redis: ConnectionManager,
    key_prefix: String,
}

/// One Redis push: which task, for which row, when.
#[derive(Debug, Clone)]
pub struct Push {
    /// The ledger row.
    pub job_id: Uuid,
    /// The Redis task id (see [`super::task_id_for_attempt`]).
    pub task_id: Uuid,
    /// Queue name.
    pub queue: String,
    /// Not before this time.
    pub run_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("key_prefix", &self.key_prefix).finish()
    }
}

impl Producer {
    /// A producer writing under `key_prefix`.
    pub fn new(pool: PgPool, redis: ConnectionManager, key_prefix: impl Into<String>) -> Self {
        Self { pool, redis, key_prefix: key_prefix.into() }
    }

    /// Call after the enqueuing transaction committed. A failure is logged,
    /// not returned: the row stays undispatched and the relay pushes it
    /// later, so the caller's request still succeeds.
    pub async fn dispatch(&self, jobs: &[Enqueued]) {
        let pushes: Vec<Push> = jobs
            .iter()
            .map(|job| Push { job_id: job.id, task_id: job.id, queue: job.queue.to_owned(), run_at: job.run_at })
            .collect();
        if let Err(error) = self.push_and_mark(&pushes).await {
            tracing::warn!(%error, jobs = jobs.len(), "dispatch failed; the relay will push these jobs");
        }
    }

    /// Pushes to Redis, then marks the rows dispatched.
    pub async fn push_and_mark(&self, pushes: &[Push]) -> anyhow::Result<()> {
        self.push(pushes).await?;
        let ids: Vec<Uuid> = pushes.iter().map(|p| p.job_id).collect();
        mark_dispatched(&self.pool, &ids).await?;
        Ok(())
    }

    /// Pushes tasks to Redis, one script call per queue.
    pub async fn push(&self, pushes: &[Push]) -> anyhow::Result<()> {
        let mut by_queue: BTreeMap<&str, Vec<apalis_redis::RedisTask>> = BTreeMap::new();
        for push in pushes {
            let args = serde_json::to_vec(&JobRef { id: push.job_id })?;
            let mut task = TaskBuilder::new(args).task_id(TaskId::from_uuid(push.task_id));
            if let Some(run_at) = push.run_at {
                // Redis schedules in whole seconds: round up, so a backoff
                // is never cut short.
                let secs = run_at.timestamp() + i64::from(run_at.timestamp_subsec_nanos() > 0);
                task = task.run_at_timestamp(secs.max(0) as u64);
            }
            by_queue.entry(push.queue.as_str()).or_default().push(task.build());
        }
        let mut conn = self.redis.clone();
        for (queue, tasks) in by_queue {
            let config = apalis_redis::Config::default().queue(queue_namespace(&self.key_prefix, queue));
            apalis_redis::queries::push_tasks(&mut conn, &config, &tasks).await?;
        }
        Ok(())
    }
}

/// Records a successful push. A row a worker already picked up keeps its
/// status; only `queued` moves to `dispatched`.
pub(crate) async fn mark_dispatched(db: impl sqlx::PgExecutor<'_>, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE jobs SET dispatched_at = now(), dispatches = dispatches + 1, updated_at = now(),
                status = CASE WHEN status = 'queued' THEN 'dispatched' ELSE status END
         WHERE id = ANY($1)",
    )
    .bind(ids)
    .execute(db)
    .await?;
    Ok(())
}
