//! What the door endpoints take and answer.

use chrono::{DateTime, Utc};
use marquee_core::tickets::checkin::{Malformed, Outcome, Scan, Status};
use marquee_core::tickets::door::{CheckinCount, Revocation};
use marquee_core::tickets::keys::PublicKey;
use poem::http::StatusCode;
use poem_openapi::Object;
use serde::Serialize;
use uuid::Uuid;

/// One scan at the door.
#[derive(Debug, Clone, Object)]
pub struct CheckinBody {
    /// The QR token, or the ticket's code typed by hand (case and dashes
    /// do not matter).
    pub code: String,
    /// Chosen by the device per scan (1-128 characters): a retry with the
    /// same nonce gets the same `ok`, not `already_used`.
    pub nonce: Option<String>,
    /// The scanning device; defaults to the API key's name or the person's.
    pub device: Option<String>,
}

/// A check-in's outcome, for the door staff.
#[derive(Debug, Clone, Object, Serialize, PartialEq, Eq)]
pub struct CheckinView {
    /// ok, already_used, revoked, wrong_event or unknown.
    pub status: String,
    /// The same, in words.
    pub detail: String,
    /// The ticket, when the code named one of this event.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<Uuid>,
    /// Seat or ticket type.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The holder's first name.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_first_name: Option<String>,
    /// When the ticket came in (ok, already_used).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_at: Option<DateTime<Utc>>,
    /// Which device let it in.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_device: Option<String>,
}

impl CheckinView {
    /// The HTTP status of a scan with this outcome.
    pub fn http_status(&self) -> StatusCode {
        match self.status.as_str() {
            "ok" => StatusCode::CREATED,
            "already_used" | "wrong_event" => StatusCode::CONFLICT,
            "revoked" => StatusCode::GONE,
            _ => StatusCode::NOT_FOUND,
        }
    }
}

impl From<Outcome> for CheckinView {
    fn from(o: Outcome) -> Self {
        let detail = match o.status {
            Status::Ok => "let them in",
            Status::AlreadyUsed => "this ticket was already checked in",
            Status::Revoked => "this ticket was revoked (cancelled, reissued or expired)",
            Status::WrongEvent => "this ticket is for another event",
            Status::Unknown => "no such ticket: the code is unknown, forged or damaged",
        };
        Self {
            status: o.status.as_str().to_owned(),
            detail: detail.to_owned(),
            ticket_id: o.ticket_id,
            label: o.label,
            holder_first_name: o.holder,
            used_at: o.used_at,
            used_device: o.used_device,
        }
    }
}

/// Scans made offline.
#[derive(Debug, Clone, Object)]
pub struct BatchBody {
    /// 1-1,000 scans.
    pub scans: Vec<OfflineScan>,
}

/// A scan made offline.
#[derive(Debug, Clone, Object)]
pub struct OfflineScan {
    /// QR token or typed code.
    pub code: String,
    /// The device's id for this scan (1-128 characters).
    pub nonce: String,
    /// When it was scanned (not in the future).
    pub scanned_at: DateTime<Utc>,
    /// The device; defaults to the API key's name or the person's.
    pub device: Option<String>,
}

/// One result per scan, in the order sent.
#[derive(Debug, Clone, Object)]
pub struct BatchResults {
    /// Results.
    pub results: Vec<BatchResult>,
    /// How many were `ok`.
    pub ok: i64,
    /// How many were not.
    pub refused: i64,
}

/// The result of one uploaded scan.
#[derive(Debug, Clone, Object)]
pub struct BatchResult {
    /// The scan's nonce.
    pub nonce: String,
    /// ok, already_used, revoked, wrong_event, unknown, or invalid (a code
    /// that cannot be a ticket's; see `error`).
    pub status: String,
    /// Why `invalid`.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    /// The outcome in full (not for `invalid`).
    #[oai(skip_serializing_if_is_none)]
    pub checkin: Option<CheckinView>,
}

impl BatchResults {
    /// Pairs each scan with its result.
    pub fn new(scans: &[Scan], results: Vec<Result<Outcome, Malformed>>) -> Self {
        let results: Vec<BatchResult> = scans
            .iter()
            .zip(results)
            .map(|(scan, result)| {
                let nonce = scan.nonce.clone().unwrap_or_default();
                match result {
                    Ok(outcome) => {
                        let view = CheckinView::from(outcome);
                        BatchResult {
                            nonce,
                            status: view.status.clone(),
                            error: None,
                            checkin: Some(view),
                        }
                    }
                    Err(why) => BatchResult {
                        nonce,
                        status: "invalid".to_owned(),
                        error: Some(why.0.to_owned()),
                        checkin: None,
                    },
                }
            })
            .collect();
        let ok = results.iter().filter(|r| r.status == "ok").count() as i64;
        Self {
            ok,
            refused: results.len() as i64 - ok,
            results,
        }
    }
}

/// Check-in counts.
#[derive(Debug, Clone, Object)]
pub struct CheckinStats {
    /// Came in.
    pub checked_in: i64,
    /// Tickets that admit (valid or used; not revoked).
    pub tickets: i64,
    /// Per section (seated) and per ticket type (general admission).
    pub groups: Vec<CheckinGroup>,
}

/// Check-ins of one section or ticket type.
#[derive(Debug, Clone, Object)]
pub struct CheckinGroup {
    /// The section's or ticket type's id.
    #[oai(nullable)]
    pub id: Option<Uuid>,
    /// Its name.
    pub name: String,
    /// Came in.
    pub checked_in: i64,
    /// Tickets that admit.
    pub tickets: i64,
}

impl CheckinStats {
    /// From the counts.
    pub fn new(overall: CheckinCount, groups: Vec<CheckinCount>) -> Self {
        Self {
            checked_in: overall.checked_in,
            tickets: overall.tickets,
            groups: groups
                .into_iter()
                .map(|g| CheckinGroup {
                    id: g.group_id,
                    name: g.name,
                    checked_in: g.checked_in,
                    tickets: g.tickets,
                })
                .collect(),
        }
    }
}

/// An event's check-in keys.
#[derive(Debug, Clone, Object)]
pub struct CheckinKeys {
    /// The event.
    pub event_id: Uuid,
    /// Always Ed25519.
    pub algorithm: String,
    /// Oldest first; all valid. Empty before the event's first ticket.
    pub keys: Vec<CheckinKey>,
}

/// One public key.
#[derive(Debug, Clone, Object)]
pub struct CheckinKey {
    /// The id a token names (bytes 33-34 of its payload).
    pub key_id: i32,
    /// The raw 32-byte Ed25519 public key, base64url without padding.
    pub public_key: String,
    /// Added at.
    pub created_at: DateTime<Utc>,
}

impl From<PublicKey> for CheckinKey {
    fn from(k: PublicKey) -> Self {
        Self {
            key_id: k.key_id,
            public_key: super::encode_key(&k.public_key),
            created_at: k.created_at,
        }
    }
}

/// Revoked tickets after a cursor.
#[derive(Debug, Clone, Object)]
pub struct Revocations {
    /// Oldest first.
    pub revocations: Vec<RevocationView>,
    /// Pass as `since` next time.
    pub next_since: i64,
}

/// One revoked ticket.
#[derive(Debug, Clone, Object)]
pub struct RevocationView {
    /// Its cursor position.
    pub seq: i64,
    /// The ticket.
    pub ticket_id: Uuid,
    /// When.
    pub revoked_at: DateTime<Utc>,
    /// booking_cancelled, event_cancelled or reissued.
    #[oai(nullable)]
    pub reason: Option<String>,
}

impl Revocations {
    /// From the rows after `since`.
    pub fn new(since: i64, items: Vec<Revocation>) -> Self {
        Self {
            next_since: items.last().map_or(since, |r| r.seq),
            revocations: items
                .into_iter()
                .map(|r| RevocationView {
                    seq: r.seq,
                    ticket_id: r.ticket_id,
                    revoked_at: r.revoked_at,
                    reason: r.reason,
                })
                .collect(),
        }
    }
}
