//! What the booking emails need beyond the booking itself: who gets them,
//! and the event they are about.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// The `booking_confirmed` email's recipient and event.
#[derive(Debug, Clone)]
pub struct ConfirmationNotice {
    /// The buyer's address.
    pub email: String,
    /// The buyer's name.
    pub name: String,
    /// The event's title.
    pub title: String,
    /// The event's start.
    pub starts_at: DateTime<Utc>,
}

/// The recipient (`user`) and event (`event`) of a booking's confirmation.
pub async fn confirmation_notice(
    pool: &PgPool,
    user: Uuid,
    event: Uuid,
) -> Result<ConfirmationNotice, sqlx::Error> {
    sqlx::query_as!(
        ConfirmationNotice,
        "SELECT u.email, u.name, e.title, e.starts_at FROM users u, events e
         WHERE u.id = $1 AND e.id = $2",
        user,
        event,
    )
    .fetch_one(pool)
    .await
}

/// The `refund_issued` email: recipient, booking, event and money.
#[derive(Debug, Clone)]
pub struct RefundNotice {
    /// The buyer's address.
    pub email: String,
    /// The buyer's name.
    pub name: String,
    /// The cancelled booking's reference.
    pub reference: String,
    /// The event's title.
    pub title: String,
    /// Why the booking was cancelled, if anyone said.
    pub reason: Option<String>,
    /// Refunded, in minor units.
    pub amount_cents: i32,
    /// The refund's currency.
    pub currency: String,
}

/// What the email about `refund` says.
pub async fn refund_notice(pool: &PgPool, refund: Uuid) -> Result<RefundNotice, sqlx::Error> {
    sqlx::query_as!(
        RefundNotice,
        r#"SELECT u.email, u.name, b.reference, e.title, b.cancel_reason AS "reason?",
                r.amount_cents, r.currency
         FROM refunds r JOIN bookings b ON b.id = r.booking_id
         JOIN users u ON u.id = b.user_id JOIN events e ON e.id = b.event_id
         WHERE r.id = $1"#,
        refund,
    )
    .fetch_one(pool)
    .await
}
