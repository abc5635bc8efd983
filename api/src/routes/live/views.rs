//! What the live and announcement endpoints answer.

use chrono::{DateTime, Utc};
use marquee_core::live::{Announcement, Snapshot, TypeLeft, Update};
use poem_openapi::{Object, Union};
use uuid::Uuid;

/// An organizer's message to everyone watching the event.
#[derive(Debug, Object)]
pub struct AnnouncementView {
    /// Id.
    pub id: Uuid,
    /// The event.
    pub event_id: Uuid,
    /// Its number in the event's live stream (null if it could not be
    /// published live).
    #[oai(nullable)]
    pub seq: Option<i64>,
    /// The text.
    pub message: String,
    /// Posted at.
    pub created_at: DateTime<Utc>,
}

impl From<Announcement> for AnnouncementView {
    fn from(a: Announcement) -> Self {
        Self {
            id: a.id,
            event_id: a.event_id,
            seq: a.seq,
            message: a.message,
            created_at: a.created_at,
        }
    }
}

/// A page of announcements, newest first.
#[derive(Debug, Object)]
pub struct AnnouncementPage {
    /// The announcements.
    pub items: Vec<AnnouncementView>,
    /// How many there are.
    pub total: i64,
    /// This page (1-based).
    pub page: i64,
    /// Page size.
    pub per_page: i64,
}

/// `POST .../announcements`.
#[derive(Debug, Object)]
pub struct AnnouncementBody {
    /// 1-500 characters (trimmed; line breaks kept).
    pub message: String,
}

/// Units left of one ticket type.
#[derive(Debug, Object)]
pub struct LiveTicketType {
    /// The ticket type.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Units anyone may hold now.
    pub available: i64,
}

/// The event's availability and door now: counts only.
#[derive(Debug, Object)]
pub struct LiveSnapshot {
    /// The event's sequence number (also the SSE `id`).
    pub seq: i64,
    /// The event.
    pub event_id: Uuid,
    /// draft, published, cancelled or completed.
    pub status: String,
    /// Seats anyone may hold now.
    pub seats_available: i64,
    /// Seats held.
    pub seats_held: i64,
    /// Seats sold.
    pub seats_sold: i64,
    /// General-admission units anyone may hold now.
    pub tickets_available: i64,
    /// Per ticket type.
    pub ticket_types: Vec<LiveTicketType>,
    /// Nothing left for the public.
    pub sold_out: bool,
    /// Tickets checked in.
    pub checked_in: i64,
}

/// A live announcement.
#[derive(Debug, Object)]
pub struct LiveAnnouncement {
    /// The event's sequence number (also the SSE `id`).
    pub seq: i64,
    /// The announcement.
    pub id: Uuid,
    /// The event.
    pub event_id: Uuid,
    /// The text.
    pub message: String,
    /// Posted at.
    pub created_at: DateTime<Utc>,
}

/// One message of the stream; its SSE `event` is `snapshot` or
/// `announcement`, and `type` says the same in the data.
#[derive(Debug, Union)]
#[oai(discriminator_name = "type")]
pub enum LiveMessage {
    /// Availability now.
    #[oai(mapping = "snapshot")]
    Snapshot(LiveSnapshot),
    /// An announcement.
    #[oai(mapping = "announcement")]
    Announcement(LiveAnnouncement),
}

impl LiveMessage {
    /// The SSE event name and id.
    pub fn kind_and_seq(&self) -> (&'static str, i64) {
        match self {
            Self::Snapshot(s) => ("snapshot", s.seq),
            Self::Announcement(a) => ("announcement", a.seq),
        }
    }
}

impl From<Update> for LiveMessage {
    fn from(update: Update) -> Self {
        match update {
            Update::Snapshot(s) => Self::Snapshot(s.into()),
            Update::Announcement(a) => Self::Announcement(LiveAnnouncement {
                seq: a.seq.unwrap_or(0),
                id: a.id,
                event_id: a.event_id,
                message: a.message,
                created_at: a.created_at,
            }),
        }
    }
}

impl From<Snapshot> for LiveSnapshot {
    fn from(s: Snapshot) -> Self {
        Self {
            seq: s.seq,
            event_id: s.event_id,
            status: s.status.as_str().to_owned(),
            seats_available: s.seats_available,
            seats_held: s.seats_held,
            seats_sold: s.seats_sold,
            tickets_available: s.tickets_available,
            ticket_types: s
                .ticket_types
                .into_iter()
                .map(LiveTicketType::from)
                .collect(),
            sold_out: s.sold_out,
            checked_in: s.checked_in,
        }
    }
}

impl From<TypeLeft> for LiveTicketType {
    fn from(t: TypeLeft) -> Self {
        Self {
            id: t.id,
            name: t.name,
            available: t.available,
        }
    }
}
