//! Tickets: issued by a job once a booking is paid, each with a secret
//! typed by hand and a QR token signed by its event's Ed25519 key, so a
//! door device can verify it offline; checked in once at the door.
//!
//! Lifecycle: `valid` → `used` at the door, or `revoked` when its booking
//! or event is cancelled or it is reissued, in the same transaction.

pub mod checkin;
pub mod door;
pub mod files;
mod issue;
pub mod keys;
pub mod read;
mod reissue;
mod revoke;
pub mod secret;
pub mod token;

pub use issue::{IssueTickets, Issued, issue};
pub use reissue::reissue;
pub use revoke::{Revoke, lock_booking, revoke};

/// Why a ticket operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// Missing, or not the caller's (404).
    #[error("{0}")]
    NotFound(&'static str),
    /// Not possible in its state (409).
    #[error("{0}")]
    Conflict(String),
    /// Its files are still being rendered (409 with Retry-After).
    #[error("this ticket is still being issued; try again shortly")]
    Issuing,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}
