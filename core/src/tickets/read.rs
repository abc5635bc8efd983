//! Reading tickets: for their holder, the event's organizer and admins.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::TicketError;
use crate::auth::Role;
use crate::catalog::Actor;

/// A ticket as its readers see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ticket {
    /// Id.
    pub id: Uuid,
    /// The booking it belongs to.
    pub booking_id: Uuid,
    /// The booking's reference.
    pub reference: String,
    /// The event it admits to.
    pub event_id: Uuid,
    /// The holder.
    pub user_id: Uuid,
    /// Seat ("Stalls A-12") or ticket type.
    pub label: String,
    /// The seat, for seated tickets.
    pub seat_id: Option<Uuid>,
    /// Its section.
    pub section_id: Option<Uuid>,
    /// The ticket type, for general admission.
    pub ticket_type_id: Option<Uuid>,
    /// valid, used or revoked.
    pub status: String,
    /// Typed by hand at the door.
    pub secret: String,
    /// What the QR carries.
    pub qr_token: String,
    /// The token's window.
    pub valid_from: DateTime<Utc>,
    /// The token's window.
    pub valid_until: DateTime<Utc>,
    /// When it came in.
    pub used_at: Option<DateTime<Utc>>,
    /// Which device let it in.
    pub used_device: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why.
    pub revoke_reason: Option<String>,
    /// The ticket that replaced it, when reissued.
    pub replaced_by: Option<Uuid>,
    /// Whether its QR and PDF are ready to download.
    pub rendered: bool,
    /// Issued at.
    pub created_at: DateTime<Utc>,
}

/// Tickets by id, each with its event's organizer (callers check access),
/// in the order of `ids`.
async fn load(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<(Ticket, Uuid)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT t.id, t.booking_id, b.reference, t.event_id, t.user_id, t.label, t.seat_id,
                  t.section_id, t.ticket_type_id, t.status, t.secret, t.qr_token, t.valid_from,
                  t.valid_until, t.used_at, t.used_device, t.revoked_at, t.revoke_reason,
                  t.replaced_by, EXISTS (SELECT 1 FROM ticket_files f WHERE f.ticket_id = t.id) AS "rendered!",
                  t.created_at, e.organizer_id
           FROM tickets t JOIN bookings b ON b.id = t.booking_id JOIN events e ON e.id = t.event_id
           WHERE t.id = ANY($1)"#,
        ids,
    )
    .fetch_all(pool)
    .await?;
    let mut found: Vec<(Ticket, Uuid)> = rows
        .into_iter()
        .map(|r| {
            (
                Ticket {
                    id: r.id,
                    booking_id: r.booking_id,
                    reference: r.reference,
                    event_id: r.event_id,
                    user_id: r.user_id,
                    label: r.label,
                    seat_id: r.seat_id,
                    section_id: r.section_id,
                    ticket_type_id: r.ticket_type_id,
                    status: r.status,
                    secret: r.secret,
                    qr_token: r.qr_token,
                    valid_from: r.valid_from,
                    valid_until: r.valid_until,
                    used_at: r.used_at,
                    used_device: r.used_device,
                    revoked_at: r.revoked_at,
                    revoke_reason: r.revoke_reason,
                    replaced_by: r.replaced_by,
                    rendered: r.rendered,
                    created_at: r.created_at,
                },
                r.organizer_id,
            )
        })
        .collect();
    found.sort_by_key(|(t, _)| ids.iter().position(|id| *id == t.id));
    Ok(found)
}

/// A ticket its holder, its event's organizer or an admin may see; 404 for
/// anyone else, as if it did not exist.
pub async fn get(pool: &PgPool, viewer: Actor, id: Uuid) -> Result<Ticket, TicketError> {
    match load(pool, &[id]).await?.pop() {
        // The organizer only while they still are one.
        Some((ticket, organizer))
            if viewer.user_id == ticket.user_id
                || (viewer.user_id == organizer && viewer.role == Role::Organizer)
                || viewer.role == Role::Admin =>
        {
            Ok(ticket)
        }
        _ => Err(TicketError::NotFound("no such ticket")),
    }
}

/// The holder's tickets, newest first, and how many in all.
pub async fn list_mine(
    pool: &PgPool,
    user: Uuid,
    page: i64,
    per_page: i64,
) -> Result<(Vec<Ticket>, i64), sqlx::Error> {
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!" FROM tickets WHERE user_id = $1"#,
        user,
    )
    .fetch_one(pool)
    .await?;
    let ids = sqlx::query_scalar!(
        "SELECT id FROM tickets WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        user,
        per_page,
        (page - 1).saturating_mul(per_page),
    )
    .fetch_all(pool)
    .await?;
    Ok((load_all(pool, &ids).await?, total))
}

/// The live tickets of a booking (not the ones reissued away), in unit order.
pub async fn of_booking(pool: &PgPool, booking: Uuid) -> Result<Vec<Ticket>, sqlx::Error> {
    let ids = sqlx::query_scalar!(
        "SELECT id FROM tickets WHERE booking_id = $1 AND replaced_by IS NULL ORDER BY item_key",
        booking,
    )
    .fetch_all(pool)
    .await?;
    load_all(pool, &ids).await
}

async fn load_all(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Ticket>, sqlx::Error> {
    Ok(load(pool, ids).await?.into_iter().map(|(t, _)| t).collect())
}

/// A rendered file of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    /// The QR code as PNG.
    QrPng,
    /// The QR code as SVG.
    QrSvg,
    /// The printable ticket.
    Pdf,
}

/// The bytes of `file`; 409 `Issuing` while the worker has not rendered it.
pub async fn file(
    pool: &PgPool,
    viewer: Actor,
    id: Uuid,
    file: File,
) -> Result<Vec<u8>, TicketError> {
    get(pool, viewer, id).await?;
    let row = sqlx::query!(
        "SELECT qr_png, qr_svg, pdf FROM ticket_files WHERE ticket_id = $1",
        id
    )
    .fetch_optional(pool)
    .await?;
    let row = row.ok_or(TicketError::Issuing)?;
    Ok(match file {
        File::QrPng => row.qr_png,
        File::QrSvg => row.qr_svg.into_bytes(),
        File::Pdf => row.pdf,
    })
}
