//! What the ticket endpoints answer.

use chrono::{DateTime, Utc};
use marquee_core::tickets::read::Ticket;
use poem_openapi::Object;
use uuid::Uuid;

/// A ticket.
#[derive(Debug, Clone, Object)]
pub struct TicketView {
    /// Id.
    pub id: Uuid,
    /// valid, used or revoked.
    pub status: String,
    /// The booking it belongs to.
    pub booking_id: Uuid,
    /// The booking's reference.
    pub booking_reference: String,
    /// The event it admits to.
    pub event_id: Uuid,
    /// Seat ("Stalls A-12") or ticket type.
    pub label: String,
    /// The seat, for a seated ticket.
    #[oai(nullable)]
    pub seat_id: Option<Uuid>,
    /// The seat's section.
    #[oai(nullable)]
    pub section_id: Option<Uuid>,
    /// The ticket type, for general admission.
    #[oai(nullable)]
    pub ticket_type_id: Option<Uuid>,
    /// The code to type at the door when the QR cannot be scanned.
    pub code: String,
    /// What the QR carries: an Ed25519-signed token a door device verifies
    /// offline with the event's `checkin-keys`. Check-in accepts it as `code`.
    pub qr_token: String,
    /// The token admits from …
    pub valid_from: DateTime<Utc>,
    /// … until.
    pub valid_until: DateTime<Utc>,
    /// When it came in.
    #[oai(nullable)]
    pub used_at: Option<DateTime<Utc>>,
    /// Which device let it in.
    #[oai(nullable)]
    pub used_device: Option<String>,
    /// When it was revoked.
    #[oai(nullable)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// booking_cancelled, event_cancelled or reissued.
    #[oai(nullable)]
    pub revoke_reason: Option<String>,
    /// The ticket that replaced it, when reissued.
    #[oai(nullable)]
    pub replaced_by: Option<Uuid>,
    /// False while the worker is still rendering its QR and PDF.
    pub issued: bool,
    /// Downloads.
    pub links: TicketLinks,
    /// Issued at.
    pub created_at: DateTime<Utc>,
}

/// Where a ticket's files are.
#[derive(Debug, Clone, Object)]
pub struct TicketLinks {
    /// QR code, PNG.
    pub qr_png: String,
    /// QR code, SVG.
    pub qr_svg: String,
    /// Printable ticket.
    pub pdf: String,
}

impl From<Ticket> for TicketView {
    fn from(t: Ticket) -> Self {
        let base = format!("/api/v1/tickets/{}", t.id);
        Self {
            id: t.id,
            status: t.status,
            booking_id: t.booking_id,
            booking_reference: t.reference,
            event_id: t.event_id,
            label: t.label,
            seat_id: t.seat_id,
            section_id: t.section_id,
            ticket_type_id: t.ticket_type_id,
            code: t.secret,
            qr_token: t.qr_token,
            valid_from: t.valid_from,
            valid_until: t.valid_until,
            used_at: t.used_at,
            used_device: t.used_device,
            revoked_at: t.revoked_at,
            revoke_reason: t.revoke_reason,
            replaced_by: t.replaced_by,
            issued: t.rendered,
            links: TicketLinks {
                qr_png: format!("{base}/qr.png"),
                qr_svg: format!("{base}/qr.svg"),
                pdf: format!("{base}/pdf"),
            },
            created_at: t.created_at,
        }
    }
}

/// A page of tickets.
#[derive(Debug, Clone, Object)]
pub struct TicketPage {
    /// This page.
    pub items: Vec<TicketView>,
    /// 1-based.
    pub page: i64,
    /// Page size.
    pub per_page: i64,
    /// Tickets in all.
    pub total: i64,
}
