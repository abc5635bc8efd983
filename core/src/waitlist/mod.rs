//! The waitlist: people wait, in join order, for inventory that cannot be
//! held now; freed inventory is offered to them before the public sees it.
//!
//! - An offer is a real hold in the person's name (`holds.waitlist_entry_id`
//!   set), so nobody else can take it while it runs, and accepting it is
//!   the normal checkout.
//! - **Hold-back.** While anyone waits for a kind of inventory (a ticket
//!   type, a section's seats, or anything), public holds on that kind are
//!   refused, so freed units wait for the next promotion.
//! - **One lock per event.** Joins and promotions take the event's
//!   waitlist lock exclusively; public holds take it shared. So a join
//!   sees every hold that committed before it, a hold sees every join, and
//!   two promotions never walk the line at once.
//! - **Promotion is queued, deduplicated.** Whatever frees inventory calls
//!   [`inventory_freed`] in its own transaction; see `waitlist_promotions`.
//!
//! Lock order, as in booking: hold rows, then entries, then seats, then
//! ticket types. Every transaction that changes an offered entry locks its
//! hold first; promotion only locks waiting entries, which have no hold.

mod holdback;
mod join;
mod list;
mod offers;
mod promote;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::jobs::{Job, queues};

pub use holdback::{HeldBack, held_back, refuse_if_held_back};
pub use join::{Joined, WaitRequest, join, leave, me};
pub use list::{Listed, list};
pub use offers::{Closing, Ended, Notice, NoticeKind, close_event, notice, offers_ended};
pub use promote::{Promoted, inventory_freed, promote, promote_waiting};

/// Runs a promotion for one event (queue `waitlist`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PromoteWaitlist {
    /// `events.id`
    pub event_id: Uuid,
}

impl Job for PromoteWaitlist {
    const KIND: &'static str = "promote_waitlist";
    const QUEUE: &'static str = queues::WAITLIST;
}

/// Emails one waitlist notice (an offer, its expiry, or the event's
/// cancellation); one job per entry and kind, so each goes out once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendWaitlistNotice {
    /// `waitlist_entries.id`
    pub entry_id: Uuid,
    /// What happened.
    pub kind: NoticeKind,
}

impl Job for SendWaitlistNotice {
    const KIND: &'static str = "send_waitlist_notice";
    const QUEUE: &'static str = queues::EMAIL;
}

/// An offer: the hold made for an entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Offer {
    /// The hold to check out (or release, to decline).
    pub hold_id: Uuid,
    /// Units offered; fewer than asked for is a partial offer.
    pub quantity: i32,
    /// The hold's end.
    pub expires_at: DateTime<Utc>,
}

/// One waitlist entry as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Id.
    pub id: Uuid,
    /// The event.
    pub event_id: Uuid,
    /// Units wanted.
    pub quantity: i32,
    /// Waiting for this ticket type, or
    pub ticket_type_id: Option<Uuid>,
    /// seats of this section, or (both empty) anything.
    pub section_id: Option<Uuid>,
    /// waiting, offered, converted, expired, declined, left or closed.
    pub status: String,
    /// While waiting: 1 + the people still waiting ahead.
    pub position: Option<i64>,
    /// The offer, once made.
    pub offer: Option<Offer>,
    /// Joined at.
    pub created_at: DateTime<Utc>,
}

/// Takes the event's waitlist lock exclusively until the transaction ends.
async fn lock_line(conn: &mut PgConnection, event: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('waitlist:' || $1::uuid::text, 0))",
        event,
    )
    .execute(conn)
    .await?;
    Ok(())
}
