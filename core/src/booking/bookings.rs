//! Bookings: what people bought, for them, their organizer and admins.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::BookingError;
use super::holds::{HoldItem, items_of};
use crate::auth::Role;
use crate::catalog::Actor;

/// A booking with its lines and payment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Booking {
    /// Id.
    pub id: Uuid,
    /// Short reference, e.g. `MQ-7K3D9F2X`.
    pub reference: String,
    /// confirmed or cancelled.
    pub status: String,
    /// The event.
    pub event_id: Uuid,
    /// Who booked.
    pub user_id: Uuid,
    /// What was booked.
    pub items: Vec<HoldItem>,
    /// Paid.
    pub total_cents: i32,
    /// Currency.
    pub currency: String,
    /// The payment: id and status.
    pub payment_id: Uuid,
    /// paid, ...
    pub payment_status: String,
    /// Booked at.
    pub created_at: DateTime<Utc>,
}

/// A booking joined with its payment, before its lines are read.
struct Row {
    id: Uuid,
    reference: String,
    status: String,
    event_id: Uuid,
    user_id: Uuid,
    hold_id: Uuid,
    total_cents: i32,
    currency: String,
    payment_id: Uuid,
    payment_status: String,
    created_at: DateTime<Utc>,
}

async fn complete(pool: &PgPool, row: Row) -> Result<Booking, sqlx::Error> {
    let items = items_of(pool, row.hold_id).await?;
    Ok(Booking {
        id: row.id,
        reference: row.reference,
        status: row.status,
        event_id: row.event_id,
        user_id: row.user_id,
        items,
        total_cents: row.total_cents,
        currency: row.currency,
        payment_id: row.payment_id,
        payment_status: row.payment_status,
        created_at: row.created_at,
    })
}

/// Any booking by id (callers check who may see it).
pub async fn load(pool: &PgPool, id: Uuid) -> Result<Option<Booking>, sqlx::Error> {
    let row = sqlx::query_as!(
        Row,
        "SELECT b.id, b.reference, b.status, b.event_id, b.user_id, b.hold_id, b.total_cents,
            b.currency, p.id AS payment_id, p.status AS payment_status, b.created_at
         FROM bookings b JOIN payments p ON p.booking_id = b.id
         WHERE b.id = $1",
        id,
    )
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(Some(complete(pool, row).await?)),
        None => Ok(None),
    }
}

/// A booking its owner, its event's organizer or an admin may see.
pub async fn get(pool: &PgPool, viewer: Actor, id: Uuid) -> Result<Booking, BookingError> {
    let Some(booking) = load(pool, id).await? else {
        return Err(BookingError::NotFound("no such booking"));
    };
    let organizer = sqlx::query_scalar!(
        "SELECT organizer_id FROM events WHERE id = $1",
        booking.event_id,
    )
    .fetch_one(pool)
    .await?;
    if viewer.user_id == booking.user_id
        || (viewer.user_id == organizer && viewer.role == Role::Organizer)
        || viewer.role == Role::Admin
    {
        Ok(booking)
    } else {
        Err(BookingError::NotFound("no such booking"))
    }
}

/// The caller's bookings, newest first, and how many in all.
pub async fn list(
    pool: &PgPool,
    user: Uuid,
    page: i64,
    per_page: i64,
) -> Result<(Vec<Booking>, i64), sqlx::Error> {
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!" FROM bookings WHERE user_id = $1"#,
        user,
    )
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query_as!(
        Row,
        "SELECT b.id, b.reference, b.status, b.event_id, b.user_id, b.hold_id, b.total_cents,
            b.currency, p.id AS payment_id, p.status AS payment_status, b.created_at
         FROM bookings b JOIN payments p ON p.booking_id = b.id
         WHERE b.user_id = $1 ORDER BY b.created_at DESC, b.id DESC LIMIT $2 OFFSET $3",
        user,
        per_page,
        (page - 1).saturating_mul(per_page),
    )
    .fetch_all(pool)
    .await?;
    let mut bookings = Vec::with_capacity(rows.len());
    for row in rows {
        bookings.push(complete(pool, row).await?);
    }
    Ok((bookings, total))
}
