//! Issuing: a confirmed booking becomes one ticket per seat and per
//! general-admission unit, each signed with its event's key.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::keys::{self, ActiveKey};
use super::secret::new_secret;
use super::token::{self, Claims};
use crate::jobs::{self, Job};

/// Issues the tickets of a confirmed booking, renders them and emails the
/// buyer. Enqueued by checkout in the booking's own transaction.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct IssueTickets {
    /// `bookings.id`
    pub booking_id: Uuid,
}

impl Job for IssueTickets {
    const KIND: &'static str = "issue_tickets";
    const QUEUE: &'static str = jobs::queues::TICKETS;
}

/// What one run of issuing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// Tickets created by this run (0 when an earlier run made them).
    pub created: usize,
    /// False when the booking or its event was cancelled first: nothing is
    /// issued, rendered or sent.
    pub confirmed: bool,
}

/// One unit of a booking, before it has a ticket.
pub(super) struct Unit {
    pub item_key: String,
    pub seat_id: Option<Uuid>,
    pub section_id: Option<Uuid>,
    pub ticket_type_id: Option<Uuid>,
    pub label: String,
}

/// Creates the booking's missing tickets. Idempotent: each unit has one
/// live ticket (a unique index), so a second run creates none.
pub async fn issue(pool: &PgPool, booking: Uuid) -> Result<Issued, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Shared locks: a cancel of the booking or of the event (which lock
    // these rows for update) waits for this, or this sees it cancelled.
    let row = sqlx::query!(
        r#"SELECT b.event_id, b.user_id, b.hold_id, b.status = 'confirmed' AND e.status <> 'cancelled' AS "live!",
                  e.starts_at, e.ends_at
           FROM bookings b JOIN events e ON e.id = b.event_id
           WHERE b.id = $1 FOR SHARE OF b, e"#,
        booking,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(sqlx::Error::RowNotFound);
    };
    if !row.live {
        return Ok(Issued {
            created: 0,
            confirmed: false,
        });
    }
    let units = units_of(&mut tx, row.hold_id).await?;
    let key = keys::active(&mut tx, row.event_id).await?;
    let window = validity(row.starts_at, row.ends_at);
    let mut created = 0;
    for unit in units {
        let ticket = NewTicket {
            id: Uuid::now_v7(),
            booking,
            event: row.event_id,
            user: row.user_id,
            unit: &unit,
            window,
        };
        created += insert(&mut tx, &ticket, &key, false).await?;
    }
    tx.commit().await?;
    if created > 0 {
        metrics::counter!("marquee_tickets_issued_total").increment(created as u64);
    }
    Ok(Issued {
        created,
        confirmed: true,
    })
}

/// From a little before issue until well after the event: door devices
/// with skewed clocks and late-running events still admit.
pub(super) fn validity(
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let end = ends_at.unwrap_or(starts_at + Duration::days(1));
    (
        Utc::now() - Duration::minutes(10),
        end + Duration::hours(12),
    )
}

/// A ticket to write.
pub(super) struct NewTicket<'a> {
    pub id: Uuid,
    pub booking: Uuid,
    pub event: Uuid,
    pub user: Uuid,
    pub unit: &'a Unit,
    pub window: (DateTime<Utc>, DateTime<Utc>),
}

/// Signs and writes one ticket; returns 1, or 0 when its unit already has
/// a live ticket (and `must` is false).
pub(super) async fn insert(
    conn: &mut PgConnection,
    ticket: &NewTicket<'_>,
    key: &ActiveKey,
    must: bool,
) -> Result<usize, sqlx::Error> {
    let id = ticket.id;
    let unit = ticket.unit;
    let (valid_from, valid_until) = ticket.window;
    let claims = Claims {
        ticket_id: id,
        event_id: ticket.event,
        key_id: key.key_id,
        valid_from,
        valid_until,
        label: unit.label.clone(),
    };
    let qr_token = token::sign(&claims, &key.signing);
    let written = sqlx::query!(
        "INSERT INTO tickets (id, booking_id, event_id, user_id, item_key, seat_id, section_id,
                              ticket_type_id, label, secret, key_id, qr_token, valid_from, valid_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (booking_id, item_key) WHERE replaced_by IS NULL DO NOTHING",
        id,
        ticket.booking,
        ticket.event,
        ticket.user,
        unit.item_key,
        unit.seat_id,
        unit.section_id,
        unit.ticket_type_id,
        unit.label,
        new_secret(),
        i32::from(key.key_id),
        qr_token,
        valid_from,
        valid_until,
    )
    .execute(conn)
    .await?;
    if must && written.rows_affected() == 0 {
        return Err(sqlx::Error::Protocol(
            "the unit already has a live ticket".to_owned(),
        ));
    }
    Ok(written.rows_affected() as usize)
}

/// A hold's units: each seat ("Stalls A-12"), and each unit of each ticket
/// type numbered from 1.
async fn units_of(conn: &mut PgConnection, hold: Uuid) -> Result<Vec<Unit>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT i.seat_id, es.section_id AS "section_id?", i.ticket_type_id, i.quantity,
                  CASE WHEN i.seat_id IS NULL THEN i.label ELSE s.name || ' ' || i.label END AS "label!"
           FROM hold_items i
           JOIN holds h ON h.id = i.hold_id
           LEFT JOIN event_seats es ON es.event_id = h.event_id AND es.seat_id = i.seat_id
           LEFT JOIN venue_sections s ON s.id = es.section_id
           WHERE i.hold_id = $1
           ORDER BY i.seat_id NULLS LAST, i.ticket_type_id"#,
        hold,
    )
    .fetch_all(conn)
    .await?;
    let mut units = Vec::new();
    for row in rows {
        match (row.seat_id, row.ticket_type_id) {
            (Some(seat), _) => units.push(Unit {
                item_key: format!("seat:{seat}"),
                seat_id: Some(seat),
                section_id: row.section_id,
                ticket_type_id: None,
                label: row.label,
            }),
            (None, Some(kind)) => units.extend((1..=row.quantity).map(|n| Unit {
                item_key: format!("unit:{kind}:{n}"),
                seat_id: None,
                section_id: None,
                ticket_type_id: Some(kind),
                label: row.label.clone(),
            })),
            (None, None) => {}
        }
    }
    Ok(units)
}
