//! Bodies of the waitlist endpoints.

use chrono::{DateTime, Utc};
use marquee_core::waitlist::{Entry, Joined, Listed, Offer, Promoted};
use poem_openapi::Object;
use uuid::Uuid;

/// What to wait for: units of a ticket type, seats of a section, or
/// (neither) anything the event sells.
#[derive(Debug, Object)]
pub struct JoinBody {
    /// 1 to the event's `max_per_order`.
    pub quantity: i32,
    /// A ticket type of the event…
    #[oai(nullable)]
    pub ticket_type_id: Option<Uuid>,
    /// …or a section of its venue (not both).
    #[oai(nullable)]
    pub section_id: Option<Uuid>,
}

/// A new entry.
#[derive(Debug, Object)]
pub struct JoinedView {
    /// Id.
    pub id: Uuid,
    /// 1 + the people waiting ahead.
    pub position: i64,
    /// `waiting`.
    pub status: String,
}

impl From<Joined> for JoinedView {
    fn from(j: Joined) -> Self {
        Self {
            id: j.id,
            position: j.position,
            status: j.status,
        }
    }
}

/// An offer: a hold in the person's name until `expires_at`. Book it with
/// `POST /api/v1/bookings`; decline it with `DELETE /api/v1/holds/{id}`.
#[derive(Debug, Object)]
pub struct OfferView {
    /// The hold.
    pub hold_id: Uuid,
    /// Units offered (fewer than asked: a partial offer).
    pub quantity: i32,
    /// The deadline.
    pub expires_at: DateTime<Utc>,
}

impl From<Offer> for OfferView {
    fn from(o: Offer) -> Self {
        Self {
            hold_id: o.hold_id,
            quantity: o.quantity,
            expires_at: o.expires_at,
        }
    }
}

/// The caller's entry.
#[derive(Debug, Object)]
pub struct EntryView {
    /// Id.
    pub id: Uuid,
    /// The event.
    pub event_id: Uuid,
    /// Units wanted.
    pub quantity: i32,
    /// Waiting for this ticket type…
    #[oai(nullable)]
    pub ticket_type_id: Option<Uuid>,
    /// …or seats of this section (neither: anything).
    #[oai(nullable)]
    pub section_id: Option<Uuid>,
    /// waiting, offered, converted, expired, declined, left or closed
    /// (the event was cancelled).
    pub status: String,
    /// While waiting: 1 + the people still waiting ahead.
    #[oai(nullable)]
    pub position: Option<i64>,
    /// The offer, once made.
    #[oai(nullable)]
    pub offer: Option<OfferView>,
    /// Joined at.
    pub created_at: DateTime<Utc>,
}

impl From<Entry> for EntryView {
    fn from(e: Entry) -> Self {
        Self {
            id: e.id,
            event_id: e.event_id,
            quantity: e.quantity,
            ticket_type_id: e.ticket_type_id,
            section_id: e.section_id,
            status: e.status,
            position: e.position,
            offer: e.offer.map(OfferView::from),
            created_at: e.created_at,
        }
    }
}

/// An entry as the organizer sees it.
#[derive(Debug, Object)]
pub struct ListedView {
    /// Id.
    pub id: Uuid,
    /// The person.
    pub user_id: Uuid,
    /// Their address.
    pub email: String,
    /// Their name.
    pub name: String,
    /// Units wanted.
    pub quantity: i32,
    /// Waiting for this ticket type…
    #[oai(nullable)]
    pub ticket_type_id: Option<Uuid>,
    /// …or seats of this section.
    #[oai(nullable)]
    pub section_id: Option<Uuid>,
    /// Status.
    pub status: String,
    /// While waiting: place in line.
    #[oai(nullable)]
    pub position: Option<i64>,
    /// The offer's hold.
    #[oai(nullable)]
    pub hold_id: Option<Uuid>,
    /// Units offered.
    #[oai(nullable)]
    pub offered_quantity: Option<i32>,
    /// The offer's deadline.
    #[oai(nullable)]
    pub offer_expires_at: Option<DateTime<Utc>>,
    /// Joined at.
    pub created_at: DateTime<Utc>,
}

impl From<Listed> for ListedView {
    fn from(l: Listed) -> Self {
        Self {
            id: l.id,
            user_id: l.user_id,
            email: l.email,
            name: l.name,
            quantity: l.quantity,
            ticket_type_id: l.ticket_type_id,
            section_id: l.section_id,
            status: l.status,
            position: l.position,
            hold_id: l.hold_id,
            offered_quantity: l.offered_quantity,
            offer_expires_at: l.offer_expires_at,
            created_at: l.created_at,
        }
    }
}

/// One page of the line.
#[derive(Debug, Object)]
pub struct WaitlistPage {
    /// This page, in join order.
    pub items: Vec<ListedView>,
    /// Entries matching.
    pub total: i64,
    /// Page number.
    pub page: i64,
    /// Page size.
    pub per_page: i64,
}

/// What a promotion did.
#[derive(Debug, Object)]
pub struct PromotedView {
    /// Offers made now.
    pub offers: i64,
    /// The entries offered, in line order.
    pub entries: Vec<Uuid>,
}

impl From<Promoted> for PromotedView {
    fn from(p: Promoted) -> Self {
        Self {
            offers: p.offers.len() as i64,
            entries: p.offers.into_iter().map(|(entry, _)| entry).collect(),
        }
    }
}
