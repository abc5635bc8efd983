//! Pushing committed outbox rows to Redis.

use std::collections::BTreeMap;

use crate::redis::RedisConn;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::redis_queue::{self, Finished, QueuedTask};
use super::{Enqueued, JobRef};
use crate::config::TaskMetadata;
use crate::redis::queue_namespace;

/// How long one queue's push may take. Longer than a cluster failover
/// (about 4 s with a 2 s node timeout), so pushes ride one out; shorter than
/// the client's whole retry budget, so a master that is down costs a request
/// or a relay pass a bounded wait. A push that timed out is pushed again by
/// the relay, which is harmless if it did land.
const PUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Pushes jobs to their Redis queues (through apalis-redis's own push
/// script, so workers see ordinary apalis tasks).
#[derive(Clone)]
pub struct Producer {
    pool: PgPool,
    redis: RedisConn,
    key_prefix: String,
    metadata: TaskMetadata,
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
        f.debug_struct("Producer")
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

impl Producer {
    /// A producer writing under `key_prefix`.
    pub fn new(pool: PgPool, redis: RedisConn, key_prefix: impl Into<String>) -> Self {
        Self {
            pool,
            redis,
            key_prefix: key_prefix.into(),
            metadata: TaskMetadata::default(),
        }
    }

    /// Sets what a push writes besides the task (`redis.task_metadata`).
    #[must_use]
    pub fn with_task_metadata(mut self, metadata: TaskMetadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Call after the enqueuing transaction committed. A failure is logged,
    /// not returned: the row stays queued and the relay pushes it later, so
    /// the caller's request still succeeds.
    ///
    /// The push is not written back to the row. Marking it `dispatched` was
    /// a third write per job (a quarter of the ledger's work on the job
    /// path) for a fact the worker's claim records moments later anyway. A
    /// row still `queued` after `jobs.relay_grace_ms` (a long backlog, a
    /// lost push, a crash between commit and push) is pushed again and
    /// marked by the relay; the push script stores a live task once, so a
    /// second push of a job Redis holds changes nothing.
    pub async fn dispatch(&self, jobs: &[Enqueued]) {
        let pushes: Vec<Push> = jobs
            .iter()
            .map(|job| Push {
                job_id: job.id,
                task_id: job.id,
                queue: job.queue.to_owned(),
                run_at: job.run_at,
            })
            .collect();
        if let Err(error) = self.push(&pushes).await {
            tracing::warn!(%error, jobs = jobs.len(), "dispatch failed; the relay will push these jobs");
        }
    }

    /// Pushes to Redis, then marks the rows dispatched: those pushed, even
    /// when another queue's push failed (that failure is returned).
    pub async fn push_and_mark(&self, pushes: &[Push]) -> anyhow::Result<()> {
        let done = self.push_each_queue(pushes, Finished::Requeue).await;
        self.mark_what_was_pushed(done).await
    }

    /// Pushes an operator's "retry now": like [`Self::push_and_mark`], but a
    /// task apalis already finished stays finished (it ran while the retry
    /// was on its way; requeueing it would run the job once more).
    pub async fn push_now_and_mark(&self, pushes: &[Push]) -> anyhow::Result<()> {
        let done = self.push_each_queue(pushes, Finished::Leave).await;
        self.mark_what_was_pushed(done).await
    }

    async fn mark_what_was_pushed(&self, done: Pushed) -> anyhow::Result<()> {
        mark_dispatched(&self.pool, &done.pushed).await?;
        done.into_result()
    }

    /// Pushes tasks to Redis, one script call per queue. A task apalis
    /// finished is queued again: the ledger still waits for its job.
    pub async fn push(&self, pushes: &[Push]) -> anyhow::Result<()> {
        self.push_with(pushes, Finished::Requeue).await
    }

    async fn push_with(&self, pushes: &[Push], finished: Finished) -> anyhow::Result<()> {
        self.push_each_queue(pushes, finished).await.into_result()
    }

    /// Pushes tasks to Redis, one script call per queue, going on past a
    /// queue that fails: on a Redis Cluster each queue lives on one master,
    /// and one master down must not hold up the others. A task apalis
    /// finished is queued again (the relay's case).
    pub async fn push_queues(&self, pushes: &[Push]) -> Pushed {
        self.push_each_queue(pushes, Finished::Requeue).await
    }

    async fn push_each_queue(&self, pushes: &[Push], finished: Finished) -> Pushed {
        let mut by_queue: BTreeMap<&str, Vec<&Push>> = BTreeMap::new();
        for push in pushes {
            by_queue.entry(push.queue.as_str()).or_default().push(push);
        }
        // All queues at once: a master that is down costs one timeout, not
        // one per queue it holds.
        let each = by_queue.into_iter().map(|(queue, pushes)| async move {
            let mut conn = self.redis.clone();
            let push = self.push_queue(&mut conn, queue, &pushes, finished);
            let result = match tokio::time::timeout(PUSH_TIMEOUT, push).await {
                Ok(result) => result,
                Err(_) => Err(anyhow::anyhow!("Redis did not answer in time")),
            };
            (queue, pushes, result)
        });
        let mut done = Pushed::default();
        for (queue, pushes, result) in futures::future::join_all(each).await {
            match result {
                Ok(()) => done.pushed.extend(pushes.iter().map(|p| p.job_id)),
                Err(error) => done.failed.push((queue.to_owned(), error)),
            }
        }
        done
    }

    async fn push_queue(
        &self,
        conn: &mut RedisConn,
        queue: &str,
        pushes: &[&Push],
        finished: Finished,
    ) -> anyhow::Result<()> {
        let tasks = pushes
            .iter()
            .map(|push| {
                // Redis schedules in whole seconds: round up, so a backoff
                // is never cut short.
                let run_at = push.run_at.map_or(0, |at| {
                    (at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0)).max(0) as u64
                });
                Ok(QueuedTask {
                    task_id: push.task_id.to_string(),
                    data: serde_json::to_vec(&JobRef { id: push.job_id })?,
                    run_at,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let config = self.queue_config(queue);
        for chunk in tasks.chunks(redis_queue::PROMOTE_CHUNK) {
            redis_queue::push(conn, &config, chunk, finished, self.metadata).await?;
        }
        Ok(())
    }

    /// The Redis connection.
    pub fn redis(&self) -> RedisConn {
        self.redis.clone()
    }

    /// The apalis-redis config (key names) of a queue.
    pub fn queue_config(&self, queue: &str) -> apalis_redis::Config {
        apalis_redis::Config::default().queue(queue_namespace(&self.key_prefix, queue))
    }
}

/// What [`Producer::push_queues`] did.
#[derive(Debug, Default)]
pub struct Pushed {
    /// Jobs whose task is in Redis now.
    pub pushed: Vec<Uuid>,
    /// Queues whose push failed, with why; their jobs were not pushed.
    pub failed: Vec<(String, anyhow::Error)>,
}

impl Pushed {
    /// `Err` naming the first queue that failed, if any did.
    fn into_result(self) -> anyhow::Result<()> {
        match self.failed.into_iter().next() {
            Some((queue, error)) => Err(error.context(format!("pushing to queue {queue}"))),
            None => Ok(()),
        }
    }
}

/// Records a successful push on rows still waiting for one. Rows a worker
/// holds right now are skipped rather than waited for (SKIP LOCKED): they
/// are past dispatch already, and waiting would let this multi-row update
/// deadlock with the workers' batched ledger writes.
pub(crate) async fn mark_dispatched(
    db: impl sqlx::PgExecutor<'_>,
    ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE jobs SET dispatched_at = now(), dispatches = dispatches + 1, updated_at = now(),
                status = CASE WHEN status = 'queued' THEN 'dispatched' ELSE status END
         FROM (SELECT id FROM jobs
               WHERE id = ANY($1) AND dispatched_at IS NULL AND status IN ('queued', 'retrying')
               FOR UPDATE SKIP LOCKED) AS waiting
         WHERE jobs.id = waiting.id",
        ids,
    )
    .execute(db)
    .await?;
    Ok(())
}
