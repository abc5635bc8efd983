//! Bodies of the hold and booking endpoints.

use chrono::{DateTime, Utc};
use marquee_core::booking::bookings::Booking;
use marquee_core::booking::holds::{Hold, HoldItem};
use poem_openapi::Object;
use uuid::Uuid;

/// What to hold: seats, units of a ticket type, or both.
#[derive(Debug, Object)]
pub struct HoldBody {
    /// Seat ids from the seat map.
    #[oai(default)]
    pub seats: Vec<Uuid>,
    /// A ticket type of the event…
    #[oai(nullable)]
    pub ticket_type_id: Option<Uuid>,
    /// …and how many.
    #[oai(nullable)]
    pub quantity: Option<i32>,
}

/// A held or booked line.
#[derive(Debug, Clone, Object)]
pub struct ItemView {
    /// A seat…
    #[oai(nullable)]
    pub seat_id: Option<Uuid>,
    /// …or a ticket type.
    #[oai(nullable)]
    pub ticket_type_id: Option<Uuid>,
    /// "A-12" or the ticket type's name.
    pub label: String,
    /// 1 for a seat.
    pub quantity: i32,
    /// Unit price.
    pub price_cents: i32,
}

impl From<HoldItem> for ItemView {
    fn from(i: HoldItem) -> Self {
        Self {
            seat_id: i.seat_id,
            ticket_type_id: i.ticket_type_id,
            label: i.label,
            quantity: i.quantity,
            price_cents: i.price_cents,
        }
    }
}

/// A hold.
#[derive(Debug, Object)]
pub struct HoldView {
    /// Id (pay for it with `POST /api/v1/bookings`).
    pub id: Uuid,
    /// The event.
    pub event_id: Uuid,
    /// active, confirmed, released or expired.
    pub status: String,
    /// What it holds.
    pub items: Vec<ItemView>,
    /// Total in minor units.
    pub total_cents: i64,
    /// Currency.
    pub currency: String,
    /// Others may take it after this.
    pub expires_at: DateTime<Utc>,
}

impl From<Hold> for HoldView {
    fn from(h: Hold) -> Self {
        Self {
            id: h.id,
            event_id: h.event_id,
            status: h.status,
            items: h.items.into_iter().map(ItemView::from).collect(),
            total_cents: h.total_cents,
            currency: h.currency,
            expires_at: h.expires_at,
        }
    }
}

/// How to pay.
#[derive(Debug, Object)]
pub struct PaymentBody {
    /// `card`.
    pub method: String,
    /// Card token (fake provider: `tok_ok`, `tok_declined`, `tok_error`).
    pub token: String,
}

/// Pay for a hold.
#[derive(Debug, Object)]
pub struct CheckoutBody {
    /// An active hold of yours.
    pub hold_id: Uuid,
    /// Payment.
    pub payment: PaymentBody,
}

/// A payment.
#[derive(Debug, Clone, Object)]
pub struct PaymentView {
    /// Id.
    pub id: Uuid,
    /// paid, ...
    pub status: String,
}

/// A booking.
#[derive(Debug, Clone, Object)]
pub struct BookingView {
    /// Id.
    pub id: Uuid,
    /// Short reference for people, e.g. `MQ-7K3D9F2X`.
    pub reference: String,
    /// confirmed or cancelled.
    pub status: String,
    /// The event.
    pub event_id: Uuid,
    /// What was booked.
    pub items: Vec<ItemView>,
    /// Paid, minor units.
    pub total_cents: i32,
    /// Currency.
    pub currency: String,
    /// The payment.
    pub payment: PaymentView,
    /// Booked at.
    pub created_at: DateTime<Utc>,
    /// Its tickets, one per seat and unit, once issued (on
    /// `GET /bookings/{id}` only; reissued-away tickets left out).
    #[oai(skip_serializing_if_is_none)]
    pub tickets: Option<Vec<BookingTicket>>,
}

/// A ticket of a booking.
#[derive(Debug, Clone, Object)]
pub struct BookingTicket {
    /// `GET /api/v1/tickets/{id}` has the rest.
    pub id: Uuid,
    /// Seat or ticket type.
    pub label: String,
    /// valid, used or revoked.
    pub status: String,
    /// False while its QR and PDF are being rendered.
    pub issued: bool,
}

impl From<Booking> for BookingView {
    fn from(b: Booking) -> Self {
        Self {
            id: b.id,
            reference: b.reference,
            status: b.status,
            event_id: b.event_id,
            items: b.items.into_iter().map(ItemView::from).collect(),
            total_cents: b.total_cents,
            currency: b.currency,
            payment: PaymentView {
                id: b.payment_id,
                status: b.payment_status,
            },
            created_at: b.created_at,
            tickets: None,
        }
    }
}

/// A page of bookings.
#[derive(Debug, Object)]
pub struct BookingPage {
    /// This page.
    pub items: Vec<BookingView>,
    /// All of the caller's bookings.
    pub total: i64,
    /// Page number.
    pub page: i64,
    /// Page size.
    pub per_page: i64,
}

/// Why the booking is cancelled.
#[derive(Debug, Object)]
pub struct CancelBody {
    /// Optional, up to 500 characters.
    #[oai(nullable)]
    pub reason: Option<String>,
}

/// A refund.
#[derive(Debug, Object)]
pub struct RefundView {
    /// Id.
    pub id: Uuid,
    /// Minor units.
    pub amount_cents: i32,
    /// pending until the provider has paid it.
    pub status: String,
}

/// A cancelled booking.
#[derive(Debug, Object)]
pub struct CancelledView {
    /// cancelled.
    pub status: String,
    /// What comes back.
    pub refund: RefundView,
}
