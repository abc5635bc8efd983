//! Changing one ticket type's capacity, also after publishing: never below
//! what is sold and held. A raise on a published event is freed inventory,
//! so the waitlist gets it first.

use sqlx::PgPool;
use uuid::Uuid;

use super::fields::MAX_CAPACITY;
use super::{Event, EventStatus, load};
use crate::auth::Invalid;
use crate::catalog::{Actor, CatalogError};
use crate::jobs::Enqueued;

/// Sets `ticket_type`'s capacity; returns the event and the waitlist
/// promotion to dispatch, if one is due.
pub async fn set_capacity(
    pool: &PgPool,
    actor: Actor,
    event: Uuid,
    ticket_type: Uuid,
    capacity: i32,
) -> Result<(Event, Option<Enqueued>), CatalogError> {
    if !(1..=MAX_CAPACITY).contains(&capacity) {
        return Err(vec![Invalid::new(
            "capacity",
            format!("must be 1-{MAX_CAPACITY}"),
        )]
        .into());
    }
    let mut tx = pool.begin().await?;
    // The event row first, as every status change locks it.
    let row = sqlx::query!(
        r#"SELECT status AS "status: EventStatus", organizer_id FROM events WHERE id = $1 FOR UPDATE"#,
        event,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let status = match row {
        Some(row) if actor.owner_filter().is_none_or(|me| me == row.organizer_id) => row.status,
        _ => return Err(CatalogError::NotFound("no such event")),
    };
    if !matches!(status, EventStatus::Draft | EventStatus::Published) {
        return Err(CatalogError::Conflict(format!(
            "capacity cannot change while the event is {}",
            status.as_str()
        )));
    }
    let counts = sqlx::query!(
        "SELECT capacity, sold, held FROM ticket_types WHERE id = $1 AND event_id = $2 FOR UPDATE",
        ticket_type,
        event,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(counts) = counts else {
        return Err(CatalogError::NotFound("no such ticket type"));
    };
    let taken = counts.sold + counts.held;
    if capacity < taken {
        return Err(CatalogError::Conflict(format!(
            "{} sold and {} held: capacity cannot go below {taken}",
            counts.sold, counts.held
        )));
    }
    sqlx::query!(
        "UPDATE ticket_types SET capacity = $2 WHERE id = $1",
        ticket_type,
        capacity,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("UPDATE events SET updated_at = now() WHERE id = $1", event)
        .execute(&mut *tx)
        .await?;
    let promotion = if status == EventStatus::Published && capacity > counts.capacity {
        crate::waitlist::inventory_freed(&mut tx, event).await?
    } else {
        None
    };
    tx.commit().await?;
    Ok((load(pool, event).await?.expect("exists"), promotion))
}
