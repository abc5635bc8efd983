//! `process_refund`: pays a refund back once, then tells the person.

use marquee_core::booking::BookingError;
use marquee_core::booking::cancel::{self, ProcessRefund};
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
    let (email, name, reference, title, reason, amount_cents, currency): (
        String,
        String,
        String,
        String,
        Option<String>,
        i32,
        String,
    ) = sqlx::query_as(
        "SELECT u.email, u.name, b.reference, e.title, b.cancel_reason, r.amount_cents, r.currency
         FROM refunds r JOIN bookings b ON b.id = r.booking_id
         JOIN users u ON u.id = b.user_id JOIN events e ON e.id = b.event_id
         WHERE r.id = $1",
    )
    .bind(job.refund_id)
    .fetch_one(&ctx.pool)
    .await
    .map_err(JobError::retryable)?;
    let context = serde_json::json!({
        "name": name,
        "reference": reference,
        "title": title,
        "reason": reason,
        "amount": marquee_core::money::format(i64::from(amount_cents), &currency),
    });
    send_once(&ctx, &email, "refund_issued", context).await
}
