//! The waitlist: join and leave.

use marquee_core::waitlist::{self, Joined, WaitRequest};
use uuid::Uuid;

use crate::problem::ApiError;
use crate::state::AppState;

/// Puts `user` in `event`'s line for what cannot be held now (409 when it
/// can), and dispatches a promotion that is due.
pub async fn join(
    state: &AppState,
    user: Uuid,
    event: Uuid,
    request: &WaitRequest,
) -> Result<Joined, ApiError> {
    let (joined, promotion) = waitlist::join(&state.pool, user, event, request).await?;
    state.producer.dispatch(&Vec::from_iter(promotion)).await;
    state.availability_changed(event).await;
    Ok(joined)
}

/// Takes `user` out of the line; an offer they hold passes on at once.
pub async fn leave(state: &AppState, user: Uuid, event: Uuid) -> Result<(), ApiError> {
    let promotion = waitlist::leave(&state.pool, user, event).await?;
    state.producer.dispatch(&Vec::from_iter(promotion)).await;
    state.availability_changed(event).await;
    Ok(())
}
