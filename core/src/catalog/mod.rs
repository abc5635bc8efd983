//! The catalog: venues and their seat maps, events and their lifecycle,
//! each event's own inventory, and what the public may browse.

pub mod browse;
pub mod cache;
pub mod events;
pub mod tags;
pub mod venues;

use uuid::Uuid;

use crate::auth::{Invalid, Role};

/// Why a catalog operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Missing, or not the caller's to see (404).
    #[error("{0}")]
    NotFound(&'static str),
    /// Not allowed in the current state (409), with the reason.
    #[error("{0}")]
    Conflict(String),
    /// Invalid input (422), one entry per field.
    #[error("invalid input")]
    Invalid(Vec<Invalid>),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<Vec<Invalid>> for CatalogError {
    fn from(problems: Vec<Invalid>) -> Self {
        Self::Invalid(problems)
    }
}

/// Who is acting: organizers manage their own things, admins everything.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    /// `users.id`
    pub user_id: Uuid,
    /// Current role.
    pub role: Role,
}

impl Actor {
    /// The owner filter for queries: `None` means "any owner" (admins).
    pub fn owner_filter(&self) -> Option<Uuid> {
        (self.role != Role::Admin).then_some(self.user_id)
    }
}

/// Trims `value` and checks it is 1..=`max` characters without control
/// characters (which also keeps NUL away from PostgreSQL).
pub(crate) fn check_text(
    problems: &mut Vec<Invalid>,
    field: &'static str,
    value: &str,
    max: usize,
) -> String {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        problems.push(Invalid::new(
            field,
            format!("must be 1-{max} characters, without control characters"),
        ));
    }
    value.to_owned()
}
