//! `expire_holds`: the scheduler's sweep of holds past their time.

use marquee_core::booking::holds::{self, ExpireHolds};
use marquee_core::jobs::JobError;

use crate::registry::JobContext;

/// Releases every expired hold (each once, however many sweeps overlap).
pub async fn run(_job: ExpireHolds, ctx: JobContext) -> Result<(), JobError> {
    let released = holds::sweep(&ctx.pool).await.map_err(JobError::retryable)?;
    if released > 0 {
        tracing::info!(released, "expired holds released");
    }
    Ok(())
}
