//! The counts a live client sees: availability as the event page shows it
//! and how many tickets have come in at the door. Counts only.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::catalog::CatalogError;
use crate::catalog::browse::availability;
use crate::catalog::events::{EventStatus, load};

/// An event's availability and door now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// The event's sequence number when this was read.
    pub seq: i64,
    /// The event.
    pub event_id: Uuid,
    /// draft, published, cancelled or completed.
    pub status: EventStatus,
    /// Seats anyone may hold now.
    pub seats_available: i64,
    /// Seats held (and not expired).
    pub seats_held: i64,
    /// Seats sold.
    pub seats_sold: i64,
    /// General-admission units anyone may hold now.
    pub tickets_available: i64,
    /// Per ticket type, the units anyone may hold now.
    pub ticket_types: Vec<TypeLeft>,
    /// Nothing left for the public.
    pub sold_out: bool,
    /// Tickets checked in.
    pub checked_in: i64,
}

/// What is left of one ticket type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TypeLeft {
    /// The ticket type.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Units anyone may hold now.
    pub available: i64,
}

/// `event`'s snapshot under number `seq`; `NotFound` if it is gone.
pub async fn snapshot(pool: &PgPool, event: Uuid, seq: i64) -> Result<Snapshot, CatalogError> {
    let found = load(pool, event)
        .await?
        .ok_or(CatalogError::NotFound("no such event"))?;
    let left = availability(pool, &found).await?;
    // The rollup's door count is kept at each check-in's commit; reading it
    // is a short sum instead of a count over the event's tickets.
    let checked_in = sqlx::query_scalar!(
        r#"SELECT coalesce(sum(tickets_used), 0)::bigint AS "used!"
           FROM event_stats WHERE event_id = $1"#,
        event
    )
    .fetch_one(pool)
    .await?;
    let ticket_types = found
        .ticket_types
        .iter()
        .map(|t| TypeLeft {
            id: t.id,
            name: t.name.clone(),
            available: left
                .units_left
                .iter()
                .find(|u| u.ticket_type_id == t.id)
                .map_or(0, |u| u.available),
        })
        .collect();
    Ok(Snapshot {
        seq,
        event_id: event,
        status: found.status,
        seats_available: left.seats_available,
        seats_held: left.seats_held,
        seats_sold: left.seats_sold,
        tickets_available: left.tickets_available,
        ticket_types,
        sold_out: left.sold_out,
        checked_in,
    })
}
