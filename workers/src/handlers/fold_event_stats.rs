//! `fold_event_stats`: merges the per-connection shards of closed rollup
//! slots, so reading an event's figures sums one row per slot.

use marquee_core::insights::{self, FoldEventStats};
use marquee_core::jobs::JobError;

use crate::registry::JobContext;

/// Folds every slot older than [`insights::FOLD_AFTER`]; safe to overlap
/// with itself and with sales (everything adds).
pub async fn run(_job: FoldEventStats, ctx: JobContext) -> Result<(), JobError> {
    let before = chrono::Utc::now() - insights::FOLD_AFTER;
    let folded = insights::fold(&ctx.pool, before)
        .await
        .map_err(JobError::retryable)?;
    if folded > 0 {
        tracing::info!(folded, "event stats shards folded");
    }
    Ok(())
}
