//! `cancel_event_bookings`: an organizer called the event off; every
//! confirmed booking is cancelled with a full refund, in batches.

use marquee_core::booking::cancel::{self, CancelEventBookings};
use marquee_core::jobs::JobError;

use crate::registry::JobContext;

/// Cancels batch after batch, dispatching each batch's refund jobs as it
/// commits; a rerun picks up whatever is still confirmed.
pub async fn run(job: CancelEventBookings, ctx: JobContext) -> Result<(), JobError> {
    let producer = ctx.producer.clone();
    let cancelled = cancel::cancel_event_bookings(&ctx.pool, job.event_id, |jobs| {
        let producer = producer.clone();
        async move { producer.dispatch(&jobs).await }
    })
    .await
    .map_err(JobError::retryable)?;
    ctx.live.changed(job.event_id);
    tracing::info!(event.id = %job.event_id, cancelled, "event's bookings cancelled");
    Ok(())
}
