//! `process_refund`: pays a refund back once, then tells the person.

use marquee_core::booking::BookingError;
use marquee_core::booking::cancel::{self, ProcessRefund};
use marquee_core::booking::notices;
use marquee_core::jobs::JobError;

use crate::email::send_once;
use crate::registry::JobContext;

/// Refunds through the provider (idempotent by refund id) and emails. A
/// second run finds the refund paid and only makes sure the email went
/// (the email is keyed by this job, so it is not sent twice either).
pub async fn run(job: ProcessRefund, ctx: JobContext) -> Result<(), JobError> {
    cancel::process_refund(&ctx.pool, ctx.payments.as_ref(), job.refund_id)
        .await
        .map_err(|e| match e {
            BookingError::NotFound(what) => JobError::permanent(what),
            BookingError::Conflict(why) => JobError::permanent(format!("refund refused: {why}")),
            other => JobError::retryable(other),
        })?;
    let notice = notices::refund_notice(&ctx.pool, job.refund_id)
        .await
        .map_err(JobError::retryable)?;
    let context = serde_json::json!({
        "name": notice.name,
        "reference": notice.reference,
        "title": notice.title,
        "reason": notice.reason,
        "amount": marquee_core::money::format(i64::from(notice.amount_cents), &notice.currency),
    });
    send_once(&ctx, &notice.email, "refund_issued", context).await
}
