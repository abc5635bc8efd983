//! `redrive_refunds`: the scheduler's refund sweep (see
//! `marquee_core::booking::redrive`).

use marquee_core::booking::redrive::{self, RedriveRefunds};
use marquee_core::jobs::JobError;

use crate::registry::JobContext;

/// Refunds and event cancellations re-driven per run; the next tick takes
/// the rest.
const LIMIT: i64 = 500;

/// Enqueues new jobs for pending refunds and cancelled events whose jobs
/// died, and dispatches them.
pub async fn run(_job: RedriveRefunds, ctx: JobContext) -> Result<(), JobError> {
    let jobs = redrive::redrive(&ctx.pool, LIMIT)
        .await
        .map_err(JobError::retryable)?;
    ctx.producer.dispatch(&jobs).await;
    Ok(())
}
