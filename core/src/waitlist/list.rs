//! The organizer's view of an event's line.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// One entry as the organizer sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listed {
    /// Id.
    pub id: Uuid,
    /// The person.
    pub user_id: Uuid,
    /// Their address.
    pub email: String,
    /// Their name.
    pub name: String,
    /// Units wanted.
    pub quantity: i32,
    /// Waiting for this ticket type, or
    pub ticket_type_id: Option<Uuid>,
    /// seats of this section, or anything.
    pub section_id: Option<Uuid>,
    /// waiting, offered, converted, expired, declined, left or closed.
    pub status: String,
    /// While waiting: place in line.
    pub position: Option<i64>,
    /// The offer's hold.
    pub hold_id: Option<Uuid>,
    /// Units offered.
    pub offered_quantity: Option<i32>,
    /// The offer's deadline.
    pub offer_expires_at: Option<DateTime<Utc>>,
    /// Joined at.
    pub created_at: DateTime<Utc>,
}

/// One page of `event`'s entries in join order (optionally of one
/// status), and how many match. The caller checks who may see it.
pub async fn list(
    pool: &PgPool,
    event: Uuid,
    status: Option<&str>,
    page: i64,
    per_page: i64,
) -> Result<(Vec<Listed>, i64), sqlx::Error> {
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!" FROM waitlist_entries
         WHERE event_id = $1 AND ($2::text IS NULL OR status = $2)"#,
        event,
        status,
    )
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query_as!(
        Listed,
        r#"SELECT w.id, w.user_id, u.email, u.name, w.quantity, w.ticket_type_id, w.section_id,
                w.status, w.position, w.hold_id AS "hold_id?", w.offered_quantity,
                w.offer_expires_at, w.created_at
         FROM (SELECT *, CASE WHEN status = 'waiting'
                              THEN count(*) FILTER (WHERE status = 'waiting') OVER (ORDER BY seq)
                         END AS position
               FROM waitlist_entries WHERE event_id = $1) w
         JOIN users u ON u.id = w.user_id
         WHERE $2::text IS NULL OR w.status = $2
         ORDER BY w.seq LIMIT $3 OFFSET $4"#,
        event,
        status,
        per_page,
        (page - 1).saturating_mul(per_page),
    )
    .fetch_all(pool)
    .await?;
    Ok((rows, total))
}
