//! `promote_waitlist`: offers freed inventory to the next people in line.

use marquee_core::jobs::JobError;
use marquee_core::waitlist::{self, PromoteWaitlist};

use crate::registry::JobContext;

/// One promotion; its offer emails are dispatched after it commits.
pub async fn run(job: PromoteWaitlist, ctx: JobContext) -> Result<(), JobError> {
    let promoted = waitlist::promote(&ctx.pool, job.event_id)
        .await
        .map_err(JobError::retryable)?;
    ctx.producer.dispatch(&promoted.jobs).await;
    if !promoted.offers.is_empty() {
        ctx.live.changed(job.event_id);
        tracing::info!(event.id = %job.event_id, offers = promoted.offers.len(), "waitlist offers made");
    }
    Ok(())
}
