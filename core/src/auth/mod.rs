//! Identity: accounts, passwords, access and refresh tokens.

pub mod api_keys;
pub mod cache;
pub mod code_seed;
pub mod codes;
pub mod key_cache;
mod password;
pub mod revocation;
mod sessions;
mod tokens;
mod users;

use serde::{Deserialize, Serialize};

pub use password::Passwords;
pub use sessions::{
    IssuedRefresh, RefreshError, SignedIn, is_revoked, revoke_family_of, revoke_other_families,
    rotate, signed_in, start_family,
};
pub use tokens::{AccessTokens, Claims, hash_secret, new_refresh_token};
pub use users::{
    NewUser, User, assign_role, check_password, count_users, create_user, email_verified,
    find_by_email, find_by_id, list_users, mark_email_verified, normalise_email, set_password,
};

/// What a person may do. Nobody picks their own role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Browses, books, sends email with API keys.
    User,
    /// Also builds venues and events.
    Organizer,
    /// Everything.
    Admin,
}

impl Role {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Organizer => "organizer",
            Self::Admin => "admin",
        }
    }
}

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field's name in the request.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Invalid {
    /// Shorthand.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
