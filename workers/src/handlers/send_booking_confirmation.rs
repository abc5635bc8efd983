//! `send_booking_confirmation`: tells the buyer what they booked.

use marquee_core::booking::checkout::SendBookingConfirmation;
use marquee_core::booking::{bookings, notices};
use marquee_core::jobs::JobError;
use marquee_core::money;

use crate::email::send_once;
use crate::registry::JobContext;

/// Sends the confirmation once.
pub async fn run(job: SendBookingConfirmation, ctx: JobContext) -> Result<(), JobError> {
    let booking = bookings::load(&ctx.pool, job.booking_id)
        .await
        .map_err(JobError::retryable)?
        .ok_or_else(|| JobError::permanent("no such booking"))?;
    let notice = notices::confirmation_notice(&ctx.pool, booking.user_id, booking.event_id)
        .await
        .map_err(JobError::retryable)?;
    let context = serde_json::json!({
        "name": notice.name,
        "reference": booking.reference,
        "title": notice.title,
        "starts_at": notice.starts_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        "items": booking.items,
        // "10.50 USD", "1500 JPY", "1.234 KWD": the currency's own decimals.
        "total": money::format(i64::from(booking.total_cents), &booking.currency),
    });
    send_once(&ctx, &notice.email, "booking_confirmed", context).await
}
