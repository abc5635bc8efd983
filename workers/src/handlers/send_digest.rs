//! `send_digest`: fans one period's newsletter out to its subscribers.

use marquee_core::jobs::JobError;
use marquee_core::subscriptions::{self, SendDigest};

use crate::registry::JobContext;

/// Enqueues one email job per active subscriber; a retry adds only the
/// missing ones.
pub async fn run(job: SendDigest, ctx: JobContext) -> Result<(), JobError> {
    let enqueued = subscriptions::fan_out(&ctx.pool, &ctx.producer, &job)
        .await
        .map_err(JobError::retryable)?;
    tracing::info!(
        frequency = job.frequency.as_str(),
        period = %job.period_start,
        enqueued,
        "digest fanned out"
    );
    Ok(())
}
