//! Who may operate: signed-in admins, and API keys with `ops:read` /
//! `ops:write` whose owner is an admin at the time of the request (a key
//! acts with its owner's current role, so demoting the owner disables it).

use marquee_core::auth::Role;
use marquee_core::auth::api_keys::Scope;
use marquee_core::ops::Actor;

use crate::auth::{Caller, Credential};
use crate::problem::ApiError;

/// Reading: admins, and their keys with `ops:read` or `ops:write`.
pub fn reader(caller: &Caller) -> Result<Actor, ApiError> {
    caller.require(Role::Admin)?;
    caller.require_any_scope(&[Scope::OpsRead, Scope::OpsWrite])?;
    Ok(actor(caller))
}

/// Pausing and job actions: admins, and their keys with `ops:write`.
pub fn writer(caller: &Caller) -> Result<Actor, ApiError> {
    caller.require(Role::Admin)?;
    caller.require_scope(Scope::OpsWrite)?;
    Ok(actor(caller))
}

fn actor(caller: &Caller) -> Actor {
    Actor {
        user_id: caller.user_id,
        api_key: match &caller.credential {
            Credential::ApiKey { name, .. } => Some(name.clone()),
            Credential::Session(_) => None,
        },
    }
}
