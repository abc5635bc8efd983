//! `prune_queues`: the housekeeping pass the scheduler enqueues once a
//! minute (`scheduler.prune_cron`). It deletes finished jobs' task data
//! from Redis, batch by batch, then applies the ledger's retention
//! (`[jobs] retain_*`), which deletes only rows already pruned from Redis.

use std::time::Duration;

use marquee_core::jobs::{JobError, PruneQueues, prune_finished};
use marquee_core::ops::retention;

use crate::registry::JobContext;

/// Jobs pruned from Redis per batch.
const BATCH: i64 = 1_000;
/// Batches per run at most (the next run goes on).
const MAX_BATCHES: usize = 200;

/// Runs a housekeeping pass.
pub async fn run(_job: PruneQueues, ctx: JobContext) -> Result<(), JobError> {
    let older_than = Duration::from_secs(ctx.settings.jobs.prune_after_seconds);
    let mut pruned = 0;
    for _ in 0..MAX_BATCHES {
        let batch = prune_finished(&ctx.pool, &ctx.producer, older_than, BATCH)
            .await
            .map_err(JobError::retryable)?;
        pruned += batch.pruned;
        // Jobs kept for a task still queued do not end the pass: a paused
        // queue of cancelled jobs must not hold up every other queue.
        if (batch.checked as i64) < BATCH {
            break;
        }
    }
    let policy = retention::Policy::from_settings(&ctx.settings.jobs);
    let deleted = retention::pass(&ctx.pool, &policy)
        .await
        .map_err(JobError::retryable)?;
    tracing::info!(
        pruned,
        ?deleted,
        "pruned finished jobs from Redis and applied retention"
    );
    Ok(())
}
