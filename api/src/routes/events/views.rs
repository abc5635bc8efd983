//! Request and response bodies of `/api/v1/events`.

use chrono::{DateTime, Utc};
use marquee_core::catalog::browse::{Availability, EventDetail, EventSummary, MapSeat};
use marquee_core::catalog::events::{
    Event, EventFields, EventPatch, SectionPrice, TicketTypeInput,
};
use poem_openapi::Object;
use poem_openapi::types::MaybeUndefined;
use uuid::Uuid;

/// A section's price.
#[derive(Debug, Clone, Object)]
pub struct SectionPriceBody {
    /// A section of the event's venue.
    pub section_id: Uuid,
    /// Minor units, 0 or more.
    pub price_cents: i32,
}

/// A general-admission ticket type.
#[derive(Debug, Clone, Object)]
pub struct TicketTypeBody {
    /// Unique in the event.
    pub name: String,
    /// Minor units, 0 or more.
    pub price_cents: i32,
    /// Units for sale, 1 or more.
    pub capacity: i32,
}

/// A new event.
#[derive(Debug, Object)]
pub struct NewEventBody {
    /// 1-200 characters.
    pub title: String,
    /// Up to 10,000 characters.
    #[oai(default)]
    pub description: String,
    /// Start (RFC 3339).
    pub starts_at: DateTime<Utc>,
    /// End, after the start.
    #[oai(nullable)]
    pub ends_at: Option<DateTime<Utc>>,
    /// One of your venues, for a seated event.
    #[oai(nullable)]
    pub venue_id: Option<Uuid>,
    /// A price for every section of the venue (needed to publish).
    #[oai(default)]
    pub section_prices: Vec<SectionPriceBody>,
    /// General-admission ticket types.
    #[oai(default)]
    pub ticket_types: Vec<TicketTypeBody>,
    /// ISO 4217, e.g. "EUR".
    pub currency: String,
    /// Sales open (default: at publish).
    #[oai(nullable)]
    pub sales_start: Option<DateTime<Utc>>,
    /// Sales close (default: at the start).
    #[oai(nullable)]
    pub sales_end: Option<DateTime<Utc>>,
    /// Most seats or units per order (default 10).
    #[oai(nullable)]
    pub max_per_order: Option<i32>,
    /// Minutes a hold lasts (default 10).
    #[oai(nullable)]
    pub hold_minutes: Option<i32>,
    /// Minutes a waitlist offer lasts (default 30, 1-1440).
    #[oai(nullable)]
    pub waitlist_offer_minutes: Option<i32>,
    /// Up to 10 tags, each 1-32 letters, digits or '-'; stored trimmed
    /// and lower case, repeats dropped.
    #[oai(default)]
    pub tags: Vec<String>,
}

fn prices(body: Vec<SectionPriceBody>) -> Vec<SectionPrice> {
    body.into_iter()
        .map(|p| SectionPrice {
            section_id: p.section_id,
            price_cents: p.price_cents,
        })
        .collect()
}

fn ticket_types(body: Vec<TicketTypeBody>) -> Vec<TicketTypeInput> {
    body.into_iter()
        .map(|t| TicketTypeInput {
            name: t.name,
            price_cents: t.price_cents,
            capacity: t.capacity,
        })
        .collect()
}

impl From<NewEventBody> for EventFields {
    fn from(b: NewEventBody) -> Self {
        Self {
            title: b.title,
            description: b.description,
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            venue_id: b.venue_id,
            section_prices: prices(b.section_prices),
            ticket_types: ticket_types(b.ticket_types),
            currency: b.currency,
            sales_start: b.sales_start,
            sales_end: b.sales_end,
            max_per_order: b.max_per_order.unwrap_or(10),
            hold_minutes: b.hold_minutes.unwrap_or(10),
            waitlist_offer_minutes: b.waitlist_offer_minutes.unwrap_or(30),
            tags: b.tags,
        }
    }
}

/// Changes to an event; absent fields stay, `null` clears a nullable one.
#[derive(Debug, Object)]
pub struct EventPatchBody {
    /// Title.
    #[oai(nullable)]
    pub title: Option<String>,
    /// Description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Start.
    #[oai(nullable)]
    pub starts_at: Option<DateTime<Utc>>,
    /// End.
    #[oai(nullable)]
    pub ends_at: MaybeUndefined<DateTime<Utc>>,
    /// Venue.
    #[oai(nullable)]
    pub venue_id: MaybeUndefined<Uuid>,
    /// Replaces every section price.
    #[oai(nullable)]
    pub section_prices: Option<Vec<SectionPriceBody>>,
    /// Replaces every ticket type.
    #[oai(nullable)]
    pub ticket_types: Option<Vec<TicketTypeBody>>,
    /// Currency.
    #[oai(nullable)]
    pub currency: Option<String>,
    /// Sales open.
    #[oai(nullable)]
    pub sales_start: MaybeUndefined<DateTime<Utc>>,
    /// Sales close.
    #[oai(nullable)]
    pub sales_end: MaybeUndefined<DateTime<Utc>>,
    /// Order limit.
    #[oai(nullable)]
    pub max_per_order: Option<i32>,
    /// Hold length in minutes.
    #[oai(nullable)]
    pub hold_minutes: Option<i32>,
    /// Waitlist offer length in minutes.
    #[oai(nullable)]
    pub waitlist_offer_minutes: Option<i32>,
    /// Replaces every tag (`[]` removes them all).
    #[oai(nullable)]
    pub tags: Option<Vec<String>>,
}

fn nullable<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

impl From<EventPatchBody> for EventPatch {
    fn from(b: EventPatchBody) -> Self {
        Self {
            title: b.title,
            description: b.description,
            starts_at: b.starts_at,
            ends_at: nullable(b.ends_at),
            venue_id: nullable(b.venue_id),
            section_prices: b.section_prices.map(prices),
            ticket_types: b.ticket_types.map(ticket_types),
            currency: b.currency,
            sales_start: nullable(b.sales_start),
            sales_end: nullable(b.sales_end),
            max_per_order: b.max_per_order,
            hold_minutes: b.hold_minutes,
            waitlist_offer_minutes: b.waitlist_offer_minutes,
            tags: b.tags,
        }
    }
}

/// A ticket type with its counts.
#[derive(Debug, Object)]
pub struct TicketTypeView {
    /// Id (for holds).
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Price.
    pub price_cents: i32,
    /// Capacity.
    pub capacity: i32,
    /// Sold.
    pub sold: i32,
    /// Held now.
    pub held: i32,
    /// Left to sell.
    pub available: i32,
}

/// An event.
#[derive(Debug, Object)]
pub struct EventView {
    /// Id.
    pub id: Uuid,
    /// Organizer.
    pub organizer_id: Uuid,
    /// draft, published, cancelled or completed.
    pub status: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    #[oai(nullable)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Venue.
    #[oai(nullable)]
    pub venue_id: Option<Uuid>,
    /// Section prices.
    pub section_prices: Vec<SectionPriceBody>,
    /// Ticket types.
    pub ticket_types: Vec<TicketTypeView>,
    /// Currency.
    pub currency: String,
    /// Sales open.
    #[oai(nullable)]
    pub sales_start: Option<DateTime<Utc>>,
    /// Sales close.
    #[oai(nullable)]
    pub sales_end: Option<DateTime<Utc>>,
    /// Order limit.
    pub max_per_order: i32,
    /// Hold length in minutes.
    pub hold_minutes: i32,
    /// Waitlist offer length in minutes.
    pub waitlist_offer_minutes: i32,
    /// Tags, normalised.
    pub tags: Vec<String>,
    /// Published at.
    #[oai(nullable)]
    pub published_at: Option<DateTime<Utc>>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        let f = e.fields;
        Self {
            id: e.id,
            organizer_id: e.organizer_id,
            status: e.status.as_str().to_owned(),
            title: f.title,
            description: f.description,
            starts_at: f.starts_at,
            ends_at: f.ends_at,
            venue_id: f.venue_id,
            section_prices: f
                .section_prices
                .into_iter()
                .map(|p| SectionPriceBody {
                    section_id: p.section_id,
                    price_cents: p.price_cents,
                })
                .collect(),
            ticket_types: e
                .ticket_types
                .into_iter()
                .map(|t| TicketTypeView {
                    id: t.id,
                    name: t.name,
                    price_cents: t.price_cents,
                    capacity: t.capacity,
                    sold: t.sold,
                    held: t.held,
                    available: t.capacity - t.sold - t.held,
                })
                .collect(),
            currency: f.currency,
            sales_start: f.sales_start,
            sales_end: f.sales_end,
            max_per_order: f.max_per_order,
            hold_minutes: f.hold_minutes,
            waitlist_offer_minutes: f.waitlist_offer_minutes,
            tags: f.tags,
            published_at: e.published_at,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A ticket type's new capacity.
#[derive(Debug, Object)]
pub struct CapacityBody {
    /// Units for sale, at least sold plus held.
    pub capacity: i32,
}

/// What is left to buy.
#[derive(Debug, Object)]
pub struct AvailabilityView {
    /// Seats in the inventory.
    pub seats_total: i64,
    /// Seats free to hold.
    pub seats_available: i64,
    /// Free seats kept for people on the waitlist.
    pub seats_held_back: i64,
    /// Seats held.
    pub seats_held: i64,
    /// Seats sold.
    pub seats_sold: i64,
    /// Seats off sale.
    pub seats_blocked: i64,
    /// General-admission units free to hold.
    pub tickets_available: i64,
    /// Free units kept for people on the waitlist.
    pub tickets_held_back: i64,
    /// People on the waitlist.
    pub waitlist_waiting: i64,
    /// Nothing left for the public (join the waitlist).
    pub sold_out: bool,
}

impl From<Availability> for AvailabilityView {
    fn from(a: Availability) -> Self {
        Self {
            seats_total: a.seats_total,
            seats_available: a.seats_available,
            seats_held_back: a.seats_held_back,
            seats_held: a.seats_held,
            seats_sold: a.seats_sold,
            seats_blocked: a.seats_blocked,
            tickets_available: a.tickets_available,
            tickets_held_back: a.tickets_held_back,
            waitlist_waiting: a.waitlist_waiting,
            sold_out: a.sold_out,
        }
    }
}

/// An event with availability.
#[derive(Debug, Object)]
pub struct EventDetailView {
    /// The event.
    #[oai(flatten)]
    pub event: EventView,
    /// Its inventory now (cached for up to 2 s).
    pub availability: AvailabilityView,
    /// For a cancelled event: how far cancelling its bookings has got.
    #[oai(nullable)]
    pub cancellation: Option<CancellationView>,
}

/// Progress of a cancelled event's refunds.
#[derive(Debug, Object)]
pub struct CancellationView {
    /// Bookings still to cancel.
    pub bookings_confirmed: i64,
    /// Bookings cancelled.
    pub bookings_cancelled: i64,
    /// Refunds waiting to be paid.
    pub refunds_pending: i64,
    /// Refunds paid.
    pub refunds_paid: i64,
}

/// A refund step.
#[derive(Debug, Clone, Object)]
pub struct TierBody {
    /// Cancelling at least this many hours before the start…
    pub hours_before_start: i32,
    /// …refunds this percent (0-100).
    pub refund_percent: i32,
}

/// A cancellation fee.
#[derive(Debug, Clone, Object)]
pub struct FeeBody {
    /// `none`, `fixed` (minor units) or `percent` (of the total).
    #[oai(rename = "type")]
    pub kind: String,
    /// The amount.
    pub amount: i32,
}

/// A cancellation policy. Default: allowed until 24 h before the start;
/// 100% back from 168 h (a week) before, 50% from 48 h before, none after;
/// no fee.
#[derive(Debug, Clone, Object)]
pub struct PolicyBody {
    /// Whether people may cancel at all.
    pub allow: bool,
    /// No cancelling closer to the start than this.
    pub deadline_hours_before_start: i32,
    /// Refund steps; a tier applies from exactly its hour.
    pub refund_tiers: Vec<TierBody>,
    /// Fee kept from the refund.
    pub fee: FeeBody,
}

impl From<marquee_core::booking::policy::Policy> for PolicyBody {
    fn from(p: marquee_core::booking::policy::Policy) -> Self {
        use marquee_core::booking::policy::FeeType;
        Self {
            allow: p.allow,
            deadline_hours_before_start: p.deadline_hours_before_start,
            refund_tiers: p
                .refund_tiers
                .into_iter()
                .map(|t| TierBody {
                    hours_before_start: t.hours_before_start,
                    refund_percent: t.refund_percent,
                })
                .collect(),
            fee: FeeBody {
                kind: match p.fee_type {
                    FeeType::None => "none",
                    FeeType::Fixed => "fixed",
                    FeeType::Percent => "percent",
                }
                .to_owned(),
                amount: p.fee_amount,
            },
        }
    }
}

impl TryFrom<PolicyBody> for marquee_core::booking::policy::Policy {
    type Error = crate::problem::ApiError;

    fn try_from(b: PolicyBody) -> Result<Self, Self::Error> {
        use marquee_core::booking::policy::{FeeType, RefundTier};
        let fee_type = match b.fee.kind.as_str() {
            "none" => FeeType::None,
            "fixed" => FeeType::Fixed,
            "percent" => FeeType::Percent,
            _ => {
                return Err(vec![marquee_core::auth::Invalid::new(
                    "fee.type",
                    "must be none, fixed or percent",
                )]
                .into());
            }
        };
        Ok(Self {
            allow: b.allow,
            deadline_hours_before_start: b.deadline_hours_before_start,
            refund_tiers: b
                .refund_tiers
                .into_iter()
                .map(|t| RefundTier {
                    hours_before_start: t.hours_before_start,
                    refund_percent: t.refund_percent,
                })
                .collect(),
            fee_type,
            fee_amount: b.fee.amount,
        })
    }
}

impl From<EventDetail> for EventDetailView {
    fn from(d: EventDetail) -> Self {
        Self {
            event: d.event.into(),
            availability: d.availability.into(),
            cancellation: d.cancellation.map(|c| CancellationView {
                bookings_confirmed: c.bookings_confirmed,
                bookings_cancelled: c.bookings_cancelled,
                refunds_pending: c.refunds_pending,
                refunds_paid: c.refunds_paid,
            }),
        }
    }
}

/// An event in a list.
#[derive(Debug, Object)]
pub struct EventListItem {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    #[oai(nullable)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Venue.
    #[oai(nullable)]
    pub venue_id: Option<Uuid>,
    /// Venue name.
    #[oai(nullable)]
    pub venue_name: Option<String>,
    /// Organizer.
    pub organizer_id: Uuid,
    /// Currency.
    pub currency: String,
    /// Cheapest price.
    #[oai(nullable)]
    pub min_price_cents: Option<i32>,
    /// Tags.
    pub tags: Vec<String>,
}

impl From<EventSummary> for EventListItem {
    fn from(e: EventSummary) -> Self {
        Self {
            id: e.id,
            title: e.title,
            starts_at: e.starts_at,
            ends_at: e.ends_at,
            venue_id: e.venue_id,
            venue_name: e.venue_name,
            organizer_id: e.organizer_id,
            currency: e.currency,
            min_price_cents: e.min_price_cents,
            tags: e.tags,
        }
    }
}

/// A page of events.
#[derive(Debug, Object)]
pub struct EventPage {
    /// This page.
    pub items: Vec<EventListItem>,
    /// Matching events in all pages.
    pub total: i64,
    /// Page number.
    pub page: i64,
    /// Page size.
    pub per_page: i64,
}

/// A seat on the map.
#[derive(Debug, Object)]
pub struct MapSeatView {
    /// Seat id (for holds).
    pub seat_id: Uuid,
    /// Section id.
    pub section_id: Uuid,
    /// Section name.
    pub section: String,
    /// "A-12".
    pub label: String,
    /// Price.
    pub price_cents: i32,
    /// Free to hold now.
    pub available: bool,
}

impl From<MapSeat> for MapSeatView {
    fn from(s: MapSeat) -> Self {
        Self {
            seat_id: s.seat_id,
            section_id: s.section_id,
            section: s.section,
            label: s.label,
            price_cents: s.price_cents,
            available: s.available,
        }
    }
}

/// A tag and how many published events carry it.
#[derive(Debug, Object)]
pub struct TagCountView {
    /// The tag.
    pub tag: String,
    /// Published events with it.
    pub events: i64,
}

/// Tags of published events, most used first.
#[derive(Debug, Object)]
pub struct TagList {
    /// Tags with their event counts.
    pub items: Vec<TagCountView>,
}
