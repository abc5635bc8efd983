//! What the issuing worker renders and mails: each ticket's printed face,
//! stored once, and read back for downloads and the email.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::jobs::{self, Enqueued, Job, JobOptions};

/// Mails a booking's tickets. Exactly one such job exists per booking (its
/// dedupe key names the booking), so the send-once record, which assumes
/// one job per email, holds however many issuing runs finish.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SendTickets {
    /// `bookings.id`
    pub booking_id: Uuid,
}

impl Job for SendTickets {
    const KIND: &'static str = "send_tickets";
    const QUEUE: &'static str = jobs::queues::EMAIL;
}

/// The tickets email of `booking`: its `emails` row and Message-ID, the
/// same for every job that might send it.
pub fn email_id(booking: Uuid) -> Uuid {
    Uuid::new_v5(&booking, b"tickets-email")
}

/// Queues the booking's tickets email unless it was queued before; returns
/// the job to dispatch, if new.
pub async fn enqueue_mail(pool: &PgPool, booking: Uuid) -> Result<Option<Enqueued>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let job = jobs::enqueue_with(
        &mut tx,
        &SendTickets {
            booking_id: booking,
        },
        JobOptions {
            dedupe_key: Some(format!("send_tickets:{booking}")),
            ..JobOptions::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(job)
}

/// Everything printed on one ticket.
#[derive(Debug, Clone)]
pub struct Face {
    /// The ticket.
    pub ticket_id: Uuid,
    /// The event's title.
    pub title: String,
    /// Its start.
    pub starts_at: DateTime<Utc>,
    /// The venue's name, if any.
    pub venue: Option<String>,
    /// Seat or ticket type.
    pub label: String,
    /// The holder's name.
    pub holder: String,
    /// The booking's reference.
    pub reference: String,
    /// Typed at the door.
    pub secret: String,
    /// In the QR.
    pub qr_token: String,
}

/// The booking's live tickets (valid, or used already) that have no files yet.
pub async fn unrendered(pool: &PgPool, booking: Uuid) -> Result<Vec<Face>, sqlx::Error> {
    sqlx::query_as!(
        Face,
        r#"SELECT t.id AS ticket_id, e.title, e.starts_at, v.name AS "venue?", t.label,
                  u.name AS holder, b.reference, t.secret, t.qr_token
           FROM tickets t
           JOIN bookings b ON b.id = t.booking_id
           JOIN events e ON e.id = t.event_id
           LEFT JOIN venues v ON v.id = e.venue_id
           JOIN users u ON u.id = t.user_id
           WHERE t.booking_id = $1 AND t.replaced_by IS NULL AND t.status <> 'revoked'
             AND NOT EXISTS (SELECT 1 FROM ticket_files f WHERE f.ticket_id = t.id)
           ORDER BY t.item_key"#,
        booking,
    )
    .fetch_all(pool)
    .await
}

/// Stores a ticket's rendered files; a second render of the same ticket
/// (a job run twice) keeps the first.
pub async fn store(
    pool: &PgPool,
    ticket: Uuid,
    qr_png: &[u8],
    qr_svg: &str,
    pdf: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO ticket_files (ticket_id, qr_png, qr_svg, pdf) VALUES ($1, $2, $3, $4)
         ON CONFLICT (ticket_id) DO NOTHING",
        ticket,
        qr_png,
        qr_svg,
        pdf,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The tickets email: recipient, event, and each ticket's stored files.
#[derive(Debug, Clone)]
pub struct TicketMail {
    /// The holder's address.
    pub email: String,
    /// The holder's name.
    pub name: String,
    /// The booking's reference.
    pub reference: String,
    /// The event's title.
    pub title: String,
    /// Its start.
    pub starts_at: DateTime<Utc>,
    /// One per ticket, in unit order.
    pub tickets: Vec<MailedTicket>,
}

/// One ticket in the email.
#[derive(Debug, Clone)]
pub struct MailedTicket {
    /// Its id (links, attachment names).
    pub ticket_id: Uuid,
    /// Seat or ticket type.
    pub label: String,
    /// Inline in the HTML.
    pub qr_png: Vec<u8>,
    /// Attached.
    pub pdf: Vec<u8>,
}

/// What the tickets email of `booking` carries: its live, rendered tickets
/// that are not revoked. `None` when the booking is gone.
pub async fn mail(pool: &PgPool, booking: Uuid) -> Result<Option<TicketMail>, sqlx::Error> {
    let head = sqlx::query!(
        "SELECT u.email, u.name, b.reference, e.title, e.starts_at
         FROM bookings b JOIN users u ON u.id = b.user_id JOIN events e ON e.id = b.event_id
         WHERE b.id = $1",
        booking,
    )
    .fetch_optional(pool)
    .await?;
    let Some(head) = head else { return Ok(None) };
    let tickets = sqlx::query_as!(
        MailedTicket,
        "SELECT t.id AS ticket_id, t.label, f.qr_png, f.pdf
         FROM tickets t JOIN ticket_files f ON f.ticket_id = t.id
         WHERE t.booking_id = $1 AND t.replaced_by IS NULL AND t.status <> 'revoked'
         ORDER BY t.item_key",
        booking,
    )
    .fetch_all(pool)
    .await?;
    Ok(Some(TicketMail {
        email: head.email,
        name: head.name,
        reference: head.reference,
        title: head.title,
        starts_at: head.starts_at,
        tickets,
    }))
}
