//! Status changes: publish (which creates the inventory), cancel, complete
//! and delete. Each locks the event row, so two changes never interleave.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Event, EventStatus, get, load};
use crate::booking::cancel::CancelEventBookings;
use crate::catalog::{Actor, CatalogError};
use crate::jobs::{self, Enqueued};
use crate::tickets;

/// Locks the actor's event and returns its status.
async fn lock(
    conn: &mut PgConnection,
    actor: Actor,
    id: Uuid,
) -> Result<EventStatus, CatalogError> {
    let row = sqlx::query!(
        r#"SELECT status AS "status: EventStatus", organizer_id FROM events WHERE id = $1 FOR UPDATE"#,
        id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) if actor.owner_filter().is_none_or(|me| me == row.organizer_id) => Ok(row.status),
        _ => Err(CatalogError::NotFound("no such event")),
    }
}

fn refuse(action: &str, from: &[EventStatus], status: EventStatus) -> CatalogError {
    let allowed: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    CatalogError::Conflict(format!(
        "cannot {action} an event that is {}; only from {}",
        status.as_str(),
        allowed.join(" or ")
    ))
}

/// draft -> published. The start must be in the future, every section of
/// the venue must have a price, and there must be something to sell. Each
/// seat of the venue becomes a row of this event's inventory.
pub async fn publish(pool: &PgPool, actor: Actor, id: Uuid) -> Result<Event, CatalogError> {
    let mut tx = pool.begin().await?;
    let status = lock(&mut tx, actor, id).await?;
    if status != EventStatus::Draft {
        return Err(refuse("publish", &[EventStatus::Draft], status));
    }
    let timing = sqlx::query!(
        r#"SELECT starts_at > now() AS "future!", venue_id FROM events WHERE id = $1"#,
        id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if !timing.future {
        return Err(CatalogError::Conflict(
            "the event starts in the past; move starts_at first".to_owned(),
        ));
    }
    if let Some(venue) = timing.venue_id {
        let unpriced = sqlx::query_scalar!(
            "SELECT s.name FROM venue_sections s
             WHERE s.venue_id = $1 AND NOT EXISTS (
                 SELECT 1 FROM event_section_prices p WHERE p.event_id = $2 AND p.section_id = s.id)
             ORDER BY s.position",
            venue,
            id,
        )
        .fetch_all(&mut *tx)
        .await?;
        if !unpriced.is_empty() {
            return Err(CatalogError::Conflict(format!(
                "sections without a price: {}",
                unpriced.join(", ")
            )));
        }
        // Keep the layout still while its seats are copied.
        sqlx::query!(
            "SELECT 1 AS locked FROM venues WHERE id = $1 FOR SHARE",
            venue
        )
        .fetch_all(&mut *tx)
        .await?;
        // (`$1::uuid`: the type it always had; a bare parameter in a SELECT
        // list would be taken for text.)
        sqlx::query!(
            "INSERT INTO event_seats (event_id, seat_id, section_id, label, price_cents, status)
             SELECT $1::uuid, s.id, s.section_id, s.label, p.price_cents, 'available'
             FROM venue_seats s
             JOIN event_section_prices p ON p.section_id = s.section_id AND p.event_id = $1",
            id,
        )
        .execute(&mut *tx)
        .await?;
    }
    let inventory = sqlx::query_scalar!(
        r#"SELECT (SELECT count(*) FROM event_seats WHERE event_id = $1)
              + (SELECT COALESCE(sum(capacity), 0) FROM ticket_types WHERE event_id = $1)
              AS "inventory!""#,
        id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if inventory == 0 {
        return Err(CatalogError::Conflict(
            "nothing to sell: give the event a venue with priced sections or a ticket type"
                .to_owned(),
        ));
    }
    set_status(&mut tx, id, EventStatus::Published).await?;
    tx.commit().await?;
    if timing.venue_id.is_some() {
        refresh_seat_statistics(pool).await;
    }
    Ok(load(pool, id).await?.expect("exists"))
}

/// Sales often open the moment an event is published, before autovacuum
/// has noticed its new seats. With statistics that do not know them, the
/// planner took a hold's seat lookup through the `(event_id, status)`
/// index and read every seat of the event: 9-16 ms a hold on a 20,000-seat
/// event instead of 0.5 ms through the primary key, which held the steady
/// booking bench to ~140 holds/s. ANALYZE samples a fixed number of rows,
/// so this stays cheap however big the table grows. `SKIP_LOCKED`: it never
/// waits behind another ANALYZE or a VACUUM of the table (those refresh the
/// statistics too), so a publish cannot hang here. A failure only costs
/// speed, never the publish; without ownership of the table PostgreSQL
/// skips it with a warning.
async fn refresh_seat_statistics(pool: &PgPool) {
    if let Err(error) = sqlx::query!("ANALYZE (SKIP_LOCKED) event_seats")
        .execute(pool)
        .await
    {
        tracing::warn!(%error, "could not refresh event_seats statistics after a publish");
    }
}

/// published -> cancelled. In the same transaction a job is queued that
/// cancels every confirmed booking with a full refund, in batches; dispatch
/// the returned job.
pub async fn cancel(
    pool: &PgPool,
    actor: Actor,
    id: Uuid,
) -> Result<(Event, Enqueued), CatalogError> {
    let mut tx = pool.begin().await?;
    let status = lock(&mut tx, actor, id).await?;
    if status != EventStatus::Published {
        return Err(refuse("cancel", &[EventStatus::Published], status));
    }
    set_status(&mut tx, id, EventStatus::Cancelled).await?;
    // Every ticket scans `revoked` from this commit on, while the bookings
    // are refunded in batches after it.
    tickets::revoke(&mut tx, tickets::Revoke::Event(id), "event_cancelled").await?;
    let job = jobs::enqueue(&mut tx, &CancelEventBookings { event_id: id }).await?;
    tx.commit().await?;
    Ok((load(pool, id).await?.expect("exists"), job))
}

/// published -> completed; then the waitlist closes (after the commit:
/// closing locks offers' holds, which a checkout locks before the event).
pub async fn complete(pool: &PgPool, actor: Actor, id: Uuid) -> Result<Event, CatalogError> {
    let event = transition(pool, actor, id, "complete", EventStatus::Completed).await?;
    crate::waitlist::close_event(pool, id, crate::waitlist::Closing::Completed).await?;
    Ok(event)
}

async fn transition(
    pool: &PgPool,
    actor: Actor,
    id: Uuid,
    action: &str,
    to: EventStatus,
) -> Result<Event, CatalogError> {
    let mut tx = pool.begin().await?;
    let status = lock(&mut tx, actor, id).await?;
    if status != EventStatus::Published {
        return Err(refuse(action, &[EventStatus::Published], status));
    }
    set_status(&mut tx, id, to).await?;
    tx.commit().await?;
    Ok(load(pool, id).await?.expect("exists"))
}

/// Sets the status and stamps the time it was reached.
async fn set_status(conn: &mut PgConnection, id: Uuid, to: EventStatus) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE events SET status = $2, updated_at = now(),
                published_at = CASE WHEN $2 = 'published' THEN now() ELSE published_at END,
                cancelled_at = CASE WHEN $2 = 'cancelled' THEN now() ELSE cancelled_at END,
                completed_at = CASE WHEN $2 = 'completed' THEN now() ELSE completed_at END
         WHERE id = $1",
        id,
        to as EventStatus,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes a draft; anything else is 409 (cancel a published event instead).
pub async fn delete(pool: &PgPool, actor: Actor, id: Uuid) -> Result<(), CatalogError> {
    get(pool, actor, id).await?;
    let mut tx = pool.begin().await?;
    let status = lock(&mut tx, actor, id).await?;
    if status != EventStatus::Draft {
        return Err(refuse("delete", &[EventStatus::Draft], status));
    }
    sqlx::query!("DELETE FROM events WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
