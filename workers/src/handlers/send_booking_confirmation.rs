//! `send_booking_confirmation`: tells the buyer what they booked.

use marquee_core::booking::bookings;
use marquee_core::booking::checkout::SendBookingConfirmation;
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
    let (email, name, title, starts_at): (String, String, String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as(
            "SELECT u.email, u.name, e.title, e.starts_at FROM users u, events e
             WHERE u.id = $1 AND e.id = $2",
        )
        .bind(booking.user_id)
        .bind(booking.event_id)
        .fetch_one(&ctx.pool)
        .await
        .map_err(JobError::retryable)?;
    let context = serde_json::json!({
        "name": name,
        "reference": booking.reference,
        "title": title,
        "starts_at": starts_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        "items": booking.items,
        // "10.50 USD", "1500 JPY", "1.234 KWD": the currency's own decimals.
        "total": money::format(i64::from(booking.total_cents), &booking.currency),
    });
    send_once(&ctx, &email, "booking_confirmed", context).await
}
