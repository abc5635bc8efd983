//! Booking: holds on an event's inventory, checkout through a payment
//! provider, and the bookings that result.
//!
//! Inventory is claimed in PostgreSQL by one conditional statement per hold
//! (`UPDATE … WHERE status = 'available' …`), never by checking first and
//! writing after, and never by Redis.

pub mod bookings;
pub mod cancel;
pub mod checkout;
mod expiry;
pub mod holds;
pub mod notices;
pub mod payments;
pub mod policy;
pub mod reconcile;
pub mod redrive;
mod reference;

use uuid::Uuid;

use crate::auth::Invalid;

pub use reference::new_reference;

/// Why a booking operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// Missing, or not the caller's (404).
    #[error("{0}")]
    NotFound(&'static str),
    /// Not possible in the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// Some seats are taken (409, listing them).
    #[error("some seats are not available")]
    SeatsTaken(Vec<Uuid>),
    /// The hold expired or was released (410).
    #[error("{0}")]
    Gone(String),
    /// The payment was declined (402).
    #[error("{0}")]
    PaymentDeclined(String),
    /// The payment provider failed; try again (503).
    #[error("{0}")]
    ProviderUnavailable(String),
    /// Invalid input (422).
    #[error("invalid input")]
    Invalid(Vec<Invalid>),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<Vec<Invalid>> for BookingError {
    fn from(problems: Vec<Invalid>) -> Self {
        Self::Invalid(problems)
    }
}
