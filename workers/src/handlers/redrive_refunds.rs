//! `redrive_refunds`: the scheduler's refund sweep (see
//! `marquee_core::booking::redrive`), which also settles payments a crash
//! left pending (`marquee_core::booking::reconcile`).

use std::time::Duration;

use marquee_core::booking::reconcile;
use marquee_core::booking::redrive::{self, RedriveRefunds};
use marquee_core::jobs::JobError;

use crate::registry::JobContext;

/// Refunds, event cancellations and pending payments handled per run; the
/// next tick takes the rest.
const LIMIT: i64 = 500;

/// Enqueues new jobs for pending refunds and cancelled events whose jobs
/// died, and dispatches them; then settles old pending payments.
pub async fn run(_job: RedriveRefunds, ctx: JobContext) -> Result<(), JobError> {
    let jobs = redrive::redrive(&ctx.pool, LIMIT)
        .await
        .map_err(JobError::retryable)?;
    ctx.producer.dispatch(&jobs).await;
    let older_than = Duration::from_secs(ctx.settings.payments.reconcile_after_seconds);
    let settled = reconcile::reconcile_pending(&ctx.pool, ctx.payments.as_ref(), older_than, LIMIT)
        .await
        .map_err(JobError::retryable)?;
    if settled != reconcile::Reconciled::default() {
        tracing::info!(?settled, "pending payments settled");
    }
    Ok(())
}
