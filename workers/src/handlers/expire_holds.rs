//! `expire_holds`: the scheduler's sweep of holds past their time.

use marquee_core::booking::holds::{self, ExpireHolds};
use marquee_core::jobs::JobError;
use marquee_core::waitlist;

use crate::registry::JobContext;

/// Releases every expired hold (each once, however many sweeps overlap),
/// then makes sure every line with people waiting has a promotion queued.
pub async fn run(_job: ExpireHolds, ctx: JobContext) -> Result<(), JobError> {
    let swept = holds::sweep(&ctx.pool).await.map_err(JobError::retryable)?;
    ctx.producer.dispatch(&swept.jobs).await;
    for event in &swept.events {
        ctx.live.changed(*event);
    }
    if swept.released > 0 {
        tracing::info!(released = swept.released, "expired holds released");
    }
    let nudged = waitlist::promote_waiting(&ctx.pool)
        .await
        .map_err(JobError::retryable)?;
    ctx.producer.dispatch(&nudged).await;
    Ok(())
}
