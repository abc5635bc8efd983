//! How offers end (taken, declined, expired, withdrawn) and what the
//! emails about them say.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{SendWaitlistNotice, lock_line};
use crate::jobs::{self, Enqueued};

/// What a waitlist email is about.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Seats or tickets are held for the person until a deadline.
    Offered,
    /// The offer ran out.
    Expired,
    /// The event was cancelled; the waitlist is closed.
    Closed,
}

impl NoticeKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Offered => "offered",
            Self::Expired => "expired",
            Self::Closed => "closed",
        }
    }
}

/// How an offer's hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Checked out.
    Converted,
    /// Released by its owner.
    Declined,
    /// Past its time.
    Expired,
}

/// Marks the entries whose offers were `holds` as `ended` (in the
/// transaction that ended the holds, after locking them) and queues the
/// expiry emails. Holds that were not offers are ignored.
pub async fn offers_ended(
    conn: &mut PgConnection,
    holds: &[Uuid],
    ended: Ended,
) -> Result<Vec<Enqueued>, sqlx::Error> {
    if holds.is_empty() {
        return Ok(Vec::new());
    }
    let status = match ended {
        Ended::Converted => "converted",
        Ended::Declined => "declined",
        Ended::Expired => "expired",
    };
    let entries = sqlx::query_scalar!(
        "UPDATE waitlist_entries SET status = $2, updated_at = now()
         WHERE hold_id = ANY($1) AND status = 'offered' RETURNING id",
        holds,
        status,
    )
    .fetch_all(&mut *conn)
    .await?;
    let counter = match ended {
        Ended::Converted => "marquee_waitlist_conversions_total",
        Ended::Declined => "marquee_waitlist_declines_total",
        Ended::Expired => "marquee_waitlist_offers_expired_total",
    };
    metrics::counter!(counter).increment(entries.len() as u64);
    if ended != Ended::Expired {
        return Ok(Vec::new());
    }
    notify(conn, &entries, NoticeKind::Expired).await
}

/// One email per entry and kind, however often this runs.
async fn notify(
    conn: &mut PgConnection,
    entries: &[Uuid],
    kind: NoticeKind,
) -> Result<Vec<Enqueued>, sqlx::Error> {
    let notices: Vec<(SendWaitlistNotice, String)> = entries
        .iter()
        .map(|entry| {
            let key = format!("waitlist-{}:{entry}", kind.as_str());
            let job = SendWaitlistNotice {
                entry_id: *entry,
                kind,
            };
            (job, key)
        })
        .collect();
    jobs::enqueue_many_deduped(conn, &notices).await
}

/// Why a line closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The event was cancelled: everyone waiting or offered is emailed.
    Cancelled,
    /// The event took place: the line just ends.
    Completed,
}

/// An event's line closes: offers are released and every open entry
/// becomes `closed`; for a cancelled event each person waiting or offered
/// is emailed once. Under the line's lock, so a running promotion or join
/// finishes first and its offers and entries are closed too (both re-read
/// the event's status once they hold the lock). Safe to run again.
pub async fn close_event(
    pool: &PgPool,
    event: Uuid,
    why: Closing,
) -> Result<Vec<Enqueued>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    lock_line(&mut tx, event).await?;
    let offers = sqlx::query_scalar!(
        "SELECT id FROM holds
         WHERE event_id = $1 AND waitlist_entry_id IS NOT NULL AND status = 'active'
         ORDER BY id FOR UPDATE",
        event,
    )
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE holds SET status = 'released', updated_at = now() WHERE id = ANY($1)",
        &offers,
    )
    .execute(&mut *tx)
    .await?;
    let closed = sqlx::query_scalar!(
        "UPDATE waitlist_entries SET status = 'closed', updated_at = now()
         WHERE event_id = $1 AND status IN ('waiting', 'offered') RETURNING id",
        event,
    )
    .fetch_all(&mut *tx)
    .await?;
    crate::booking::holds::give_back(&mut tx, &offers).await?;
    let jobs = match why {
        Closing::Cancelled => notify(&mut tx, &closed, NoticeKind::Closed).await?,
        Closing::Completed => Vec::new(),
    };
    tx.commit().await?;
    Ok(jobs)
}

/// What a waitlist email needs.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The person's address.
    pub email: String,
    /// Their name.
    pub name: String,
    /// The event.
    pub event_id: Uuid,
    /// Its title.
    pub title: String,
    /// Its start.
    pub starts_at: DateTime<Utc>,
    /// Units asked for.
    pub quantity: i32,
    /// Units offered.
    pub offered_quantity: Option<i32>,
    /// The offer's hold.
    pub hold_id: Option<Uuid>,
    /// The offer's deadline.
    pub offer_expires_at: Option<DateTime<Utc>>,
    /// The entry's status now.
    pub status: String,
}

/// The email's facts for `entry`; `None` when it does not exist.
pub async fn notice(pool: &PgPool, entry: Uuid) -> Result<Option<Notice>, sqlx::Error> {
    sqlx::query_as!(
        Notice,
        r#"SELECT u.email, u.name, e.id AS event_id, e.title, e.starts_at, w.quantity,
                w.offered_quantity, w.hold_id AS "hold_id?", w.offer_expires_at, w.status
         FROM waitlist_entries w JOIN users u ON u.id = w.user_id JOIN events e ON e.id = w.event_id
         WHERE w.id = $1"#,
        entry,
    )
    .fetch_optional(pool)
    .await
}
