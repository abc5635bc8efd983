//! CSV exports of one event for its organizer: attendees (one row per live
//! ticket) and bookings.
//!
//! An export streams: a task reads [`PAGE`] rows at a time in id order
//! (ids are UUIDv7, so roughly sale order), writes them as CSV and hands
//! the chunk to a small bounded channel. Memory stays flat however many
//! rows there are, and no database connection is held while the client
//! reads. Pages are separate statements, so a row sold during a long export
//! may appear with the state it had when its page was read; each row
//! appears once. If the database fails part way, the body ends with an
//! error and the client sees a broken transfer, never a short file.
//!
//! A client that stops reading keeps its connection's buffers (a couple of
//! MB) until TCP gives up, so exports in progress are capped per process
//! ([`MAX_IN_FLIGHT`]) and per person ([`MAX_PER_PERSON`]).
//!
//! Cells are injection-safe: every cell is quoted, and one starting with a
//! character a spreadsheet reads as a formula gets a leading `'`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::catalog::{Actor, CatalogError};
use crate::money;

/// Rows read per statement.
pub const PAGE: i64 = 1_000;
/// Chunks (pages) written ahead of a slow client.
const CHUNKS_AHEAD: usize = 2;

/// Exports streaming at once on one API process.
pub const MAX_IN_FLIGHT: usize = 16;
/// Exports one person may stream at once on one API process.
pub const MAX_PER_PERSON: usize = 2;

static IN_FLIGHT: Mutex<Option<HashMap<Uuid, usize>>> = Mutex::new(None);

/// A place among the exports in progress, given back when dropped (when
/// the response body is).
pub struct ExportSlot {
    person: Uuid,
}

impl ExportSlot {
    /// A place for `person`'s export, if there is one.
    fn take(person: Uuid) -> Option<Self> {
        let mut guard = IN_FLIGHT.lock().expect("not poisoned");
        let counts = guard.get_or_insert_with(HashMap::new);
        let total: usize = counts.values().sum();
        let mine = counts.entry(person).or_insert(0);
        if total >= MAX_IN_FLIGHT || *mine >= MAX_PER_PERSON {
            return None;
        }
        *mine += 1;
        Some(Self { person })
    }
}

impl Drop for ExportSlot {
    fn drop(&mut self) {
        let mut guard = IN_FLIGHT.lock().expect("not poisoned");
        if let Some(counts) = guard.as_mut()
            && let Some(mine) = counts.get_mut(&self.person)
        {
            *mine -= 1;
            if *mine == 0 {
                counts.remove(&self.person);
            }
        }
    }
}

/// Why an export did not start.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Not found, or not the actor's.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Too many exports in progress (503 with Retry-After).
    #[error("too many exports in progress; try again shortly")]
    Busy,
}

impl From<sqlx::Error> for ExportError {
    fn from(error: sqlx::Error) -> Self {
        Self::Catalog(error.into())
    }
}

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// One row per live ticket (reissued ones are replaced by their new
    /// ticket), with its holder, state and check-in time.
    Attendees,
    /// One row per booking, with its money and refund.
    Bookings,
}

impl Export {
    /// The file's name, for `Content-Disposition`.
    pub fn file_name(self, event: Uuid) -> String {
        match self {
            Self::Attendees => format!("attendees-{event}.csv"),
            Self::Bookings => format!("bookings-{event}.csv"),
        }
    }
}

/// The CSV body, chunk by chunk; an `Err` means the export broke off.
pub type Chunks = mpsc::Receiver<std::io::Result<Vec<u8>>>;

/// Starts exporting `event`, which the actor must organize (admins: any;
/// anyone else: 404, before any byte is sent). Keep the slot with the
/// body.
pub async fn export(
    pool: &PgPool,
    actor: Actor,
    event: Uuid,
    what: Export,
) -> Result<(Chunks, ExportSlot), ExportError> {
    sqlx::query_scalar!("SELECT organizer_id FROM events WHERE id = $1", event)
        .fetch_optional(pool)
        .await?
        .filter(|owner| actor.owner_filter().is_none_or(|me| me == *owner))
        .ok_or(CatalogError::NotFound("no such event"))?;
    let slot = ExportSlot::take(actor.user_id).ok_or(ExportError::Busy)?;
    let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
    let pool = pool.clone();
    tokio::spawn(async move {
        if let Err(error) = pump(&pool, event, what, &tx).await {
            tracing::warn!(%event, ?what, %error, "export broke off");
            let _ = tx.send(Err(std::io::Error::other(error))).await;
        }
    });
    Ok((rx, slot))
}

#[derive(Debug, thiserror::Error)]
enum PumpError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Pages through the rows, one chunk per page, until the last page or the
/// client leaves.
async fn pump(
    pool: &PgPool,
    event: Uuid,
    what: Export,
    tx: &mpsc::Sender<std::io::Result<Vec<u8>>>,
) -> Result<(), PumpError> {
    let mut csv = writer();
    match what {
        Export::Attendees => row(&mut csv, &ATTENDEE_COLUMNS)?,
        Export::Bookings => row(&mut csv, &BOOKING_COLUMNS)?,
    }
    let mut after = Uuid::nil();
    loop {
        let (last, read) = match what {
            Export::Attendees => attendee_page(pool, event, after, &mut csv).await?,
            Export::Bookings => booking_page(pool, event, after, &mut csv).await?,
        };
        let chunk = std::mem::replace(&mut csv, writer())
            .into_inner()
            .map_err(|e| e.into_error())?;
        if !chunk.is_empty() && tx.send(Ok(chunk)).await.is_err() {
            return Ok(()); // The client went away.
        }
        match last {
            Some(id) if read == PAGE => after = id,
            _ => return Ok(()),
        }
    }
}

/// A writer for one page: every cell quoted.
fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::with_capacity(128 * 1024))
}

/// Writes one record of [`cell`]s.
fn row(csv: &mut csv::Writer<Vec<u8>>, cells: &[&str]) -> csv::Result<()> {
    for value in cells {
        csv.write_field(cell(value).as_bytes())?;
    }
    csv.write_record(None::<&[u8]>)
}

const ATTENDEE_COLUMNS: [&str; 8] = [
    "ticket_id",
    "booking_reference",
    "name",
    "email",
    "ticket",
    "status",
    "checked_in_at",
    "booked_at",
];

/// A live ticket and its holder.
struct AttendeeRow {
    id: Uuid,
    reference: String,
    name: String,
    email: String,
    label: String,
    status: String,
    used_at: Option<DateTime<Utc>>,
    booked_at: DateTime<Utc>,
}

/// Writes the tickets after `after`; the last id written and the count.
async fn attendee_page(
    pool: &PgPool,
    event: Uuid,
    after: Uuid,
    csv: &mut csv::Writer<Vec<u8>>,
) -> Result<(Option<Uuid>, i64), PumpError> {
    let rows = sqlx::query_as!(
        AttendeeRow,
        r#"SELECT t.id, b.reference, u.name, u.email, t.label, t.status, t.used_at,
                  b.created_at AS booked_at
           FROM tickets t
           JOIN bookings b ON b.id = t.booking_id
           JOIN users u ON u.id = t.user_id
           WHERE t.event_id = $1 AND t.id > $2 AND t.replaced_by IS NULL
           ORDER BY t.id
           LIMIT $3"#,
        event,
        after,
        PAGE,
    )
    .fetch_all(pool)
    .await?;
    for r in &rows {
        row(
            csv,
            &[
                &r.id.to_string(),
                &r.reference,
                &r.name,
                &r.email,
                &r.label,
                &r.status,
                &time(r.used_at),
                &time(Some(r.booked_at)),
            ],
        )?;
    }
    Ok((rows.last().map(|r| r.id), rows.len() as i64))
}

const BOOKING_COLUMNS: [&str; 13] = [
    "booking_reference",
    "booking_id",
    "name",
    "email",
    "status",
    "tickets",
    "total",
    "currency",
    "refund_status",
    "refund_amount",
    "booked_at",
    "cancelled_at",
    "cancel_reason",
];

/// A booking, its buyer and its refund.
struct BookingRow {
    id: Uuid,
    reference: String,
    name: String,
    email: String,
    status: String,
    tickets: i64,
    total_cents: i32,
    currency: String,
    refund_status: Option<String>,
    refund_cents: Option<i32>,
    booked_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
    cancel_reason: Option<String>,
}

/// Writes the bookings after `after`; the last id written and the count.
async fn booking_page(
    pool: &PgPool,
    event: Uuid,
    after: Uuid,
    csv: &mut csv::Writer<Vec<u8>>,
) -> Result<(Option<Uuid>, i64), PumpError> {
    let rows = sqlx::query_as!(
        BookingRow,
        r#"SELECT b.id, b.reference, u.name, u.email, b.status,
                  (SELECT coalesce(sum(i.quantity), 0) FROM hold_items i
                   WHERE i.hold_id = b.hold_id)::bigint AS "tickets!",
                  b.total_cents, b.currency,
                  r.status AS "refund_status?", r.amount_cents AS "refund_cents?",
                  b.created_at AS booked_at, b.cancelled_at, b.cancel_reason
           FROM bookings b
           JOIN users u ON u.id = b.user_id
           LEFT JOIN refunds r ON r.booking_id = b.id
           WHERE b.event_id = $1 AND b.id > $2
           ORDER BY b.id
           LIMIT $3"#,
        event,
        after,
        PAGE,
    )
    .fetch_all(pool)
    .await?;
    for r in &rows {
        let refund = r
            .refund_cents
            .map(|c| money::decimal(c.into(), &r.currency));
        row(
            csv,
            &[
                &r.reference,
                &r.id.to_string(),
                &r.name,
                &r.email,
                &r.status,
                &r.tickets.to_string(),
                &money::decimal(r.total_cents.into(), &r.currency),
                &r.currency,
                r.refund_status.as_deref().unwrap_or(""),
                refund.as_deref().unwrap_or(""),
                &time(Some(r.booked_at)),
                &time(r.cancelled_at),
                r.cancel_reason.as_deref().unwrap_or(""),
            ],
        )?;
    }
    Ok((rows.last().map(|r| r.id), rows.len() as i64))
}

/// RFC 3339 in UTC to the second, or empty.
fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// `value` made safe for a spreadsheet: if its first visible character
/// (after spaces and invisible formatting characters, which spreadsheets
/// may skip) would start a formula — `=`, `+`, `-`, `@`, their full-width
/// and small forms, the minus sign — or it starts with a tab or carriage
/// return, it gets a `'` in front (OWASP's advice); the writer quotes
/// every cell.
pub fn cell(value: &str) -> Cow<'_, str> {
    const FORMULA: [char; 13] = [
        '=', '+', '-', '@', '＝', '＋', '－', '＠', '﹦', '﹢', '﹣', '−', '\t',
    ];
    let first = value.trim_start_matches(|c: char| {
        (c.is_whitespace() && c != '\t') || crate::text::invisible(c)
    });
    if value.starts_with(['\t', '\r']) || first.starts_with(FORMULA) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::{ExportSlot, MAX_PER_PERSON, cell};

    #[test]
    fn a_person_streams_at_most_two_exports_at_once() {
        let person = uuid::Uuid::now_v7();
        let held: Vec<_> = (0..MAX_PER_PERSON)
            .map(|_| ExportSlot::take(person).expect("a slot"))
            .collect();
        assert!(ExportSlot::take(person).is_none(), "a third waits");
        assert!(
            ExportSlot::take(uuid::Uuid::now_v7()).is_some(),
            "others go on"
        );
        drop(held);
        assert!(ExportSlot::take(person).is_some(), "given back on drop");
    }

    #[test]
    fn formula_starts_are_neutralised() {
        for bad in [
            "=1+1",
            "+1",
            "-1",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "＝1",
            " =1+1",
            "\u{a0}=1",
            "\u{200b}=1",
            "\u{feff}=1",
            "﹦1",
            "﹢1",
            "− 1",
            "\n=1",
        ] {
            assert_eq!(cell(bad), format!("'{bad}"), "{bad:?}");
        }
        for good in ["Ada", "a=b", "10.50", "", "'quoted", " Ada", "\u{200b}Ada"] {
            assert_eq!(cell(good), good, "{good:?}");
        }
    }
}
