//! `prune_queues`: deletes finished jobs' task data from Redis, a bounded
//! batch per run (the scheduler enqueues one run a minute).

use std::time::Duration;

use marquee_core::jobs::{JobError, PruneQueues, prune_finished};

use crate::registry::JobContext;

/// Jobs pruned per run at most.
const PER_RUN: i64 = 10_000;

/// Runs a prune pass.
pub async fn run(_job: PruneQueues, ctx: JobContext) -> Result<(), JobError> {
    let older_than = Duration::from_secs(ctx.settings.jobs.prune_after_seconds);
    let pruned = prune_finished(&ctx.pool, &ctx.producer, older_than, PER_RUN)
        .await
        .map_err(JobError::retryable)?;
    tracing::info!(pruned, "pruned finished jobs from Redis");
    Ok(())
}
