//! Reissue: the holder of a leaked ticket gets a new code; the old one is
//! revoked in the same transaction.

use sqlx::PgPool;
use uuid::Uuid;

use super::TicketError;
use super::issue::{self, IssueTickets, NewTicket, Unit};
use super::keys;
use super::revoke::{Revoke, revoke};
use crate::jobs::{self, Enqueued};

/// Revokes the holder's valid ticket `id` and issues its replacement (same
/// seat or type, new id, secret and token); the returned job renders it.
/// 404 for anyone else's ticket, 409 for one used or revoked.
pub async fn reissue(
    pool: &PgPool,
    holder: Uuid,
    id: Uuid,
) -> Result<(Uuid, Enqueued), TicketError> {
    let mut tx = pool.begin().await?;
    // Lock order as a cancel's: booking, event, then the ticket; so a
    // cancel either ran first (the ticket is revoked) or waits for this
    // and then revokes the replacement too.
    let row = sqlx::query!(
        r#"SELECT t.booking_id, t.event_id, t.status, t.item_key, t.seat_id, t.section_id,
                  t.ticket_type_id, t.label, e.starts_at, e.ends_at, e.status AS event_status
           FROM tickets t JOIN bookings b ON b.id = t.booking_id JOIN events e ON e.id = t.event_id
           WHERE t.id = $1 AND t.user_id = $2
           FOR SHARE OF b, e"#,
        id,
        holder,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(TicketError::NotFound("no such ticket"))?;
    if row.event_status != "published" {
        return Err(TicketError::Conflict(format!(
            "the event is {}; its tickets are no longer reissued",
            row.event_status
        )));
    }
    if revoke(&mut tx, Revoke::Ticket(id), "reissued").await? == 0 {
        let status = sqlx::query_scalar!("SELECT status FROM tickets WHERE id = $1", id)
            .fetch_one(&mut *tx)
            .await?;
        return Err(TicketError::Conflict(format!(
            "this ticket is {status}; only a valid ticket can be reissued"
        )));
    }
    let unit = Unit {
        item_key: row.item_key,
        seat_id: row.seat_id,
        section_id: row.section_id,
        ticket_type_id: row.ticket_type_id,
        label: row.label,
    };
    // Hand the unit to the replacement before it is written: one live
    // ticket per unit.
    let replacement = Uuid::now_v7();
    sqlx::query!(
        "UPDATE tickets SET replaced_by = $2 WHERE id = $1",
        id,
        replacement
    )
    .execute(&mut *tx)
    .await?;
    let key = keys::active(&mut tx, row.event_id).await?;
    let ticket = NewTicket {
        id: replacement,
        booking: row.booking_id,
        event: row.event_id,
        user: holder,
        unit: &unit,
        window: issue::validity(row.starts_at, row.ends_at),
    };
    issue::insert(&mut tx, &ticket, &key, true).await?;
    let job = jobs::enqueue(
        &mut tx,
        &IssueTickets {
            booking_id: row.booking_id,
        },
    )
    .await?;
    tx.commit().await?;
    metrics::counter!("marquee_tickets_issued_total").increment(1);
    Ok((replacement, job))
}
