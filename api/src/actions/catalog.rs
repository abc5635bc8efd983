//! What organizers do to their catalog: venues, events, their status and
//! cancellation policy. Every change drops the public catalog cache;
//! status changes publish a live update.

use marquee_core::booking::policy::{self, Policy};
use marquee_core::catalog::Actor;
use marquee_core::catalog::events::{self, Event, EventFields, EventPatch};
use marquee_core::catalog::venues::{self, NewVenue, Venue};
use marquee_core::insights::exports::{self, Export};
use marquee_core::live::announcements::{self, Announcement};
use marquee_core::rate_limit::Rule;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::state::AppState;

/// Creates a venue (checked by `NewVenue::check`).
pub async fn create_venue(
    state: &AppState,
    actor: Actor,
    venue: &NewVenue,
) -> Result<Venue, ApiError> {
    Ok(venues::create(&state.pool, actor.user_id, venue).await?)
}

/// Creates a draft event.
pub async fn create_event(
    state: &AppState,
    actor: Actor,
    fields: EventFields,
) -> Result<Event, ApiError> {
    let fields = fields.check()?;
    let event = events::create(&state.pool, actor, fields).await?;
    state.catalog.invalidate().await;
    Ok(event)
}

/// Changes an event (a published one only in what may change after sale).
pub async fn update_event(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    patch: &EventPatch,
) -> Result<Event, ApiError> {
    let event = events::update(&state.pool, actor, id, patch).await?;
    state.catalog.invalidate().await;
    Ok(event)
}

/// A change of an event's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// draft -> published.
    Publish,
    /// published -> cancelled: bookings are refunded by jobs.
    Cancel,
    /// published -> completed.
    Complete,
}

/// Moves an event to another status.
pub async fn transition(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    to: Transition,
) -> Result<Event, ApiError> {
    let event = match to {
        Transition::Publish => events::publish(&state.pool, actor, id).await?,
        Transition::Cancel => {
            let (event, job) = events::cancel(&state.pool, actor, id).await?;
            state.producer.dispatch(&[job]).await;
            event
        }
        Transition::Complete => events::complete(&state.pool, actor, id).await?,
    };
    state.catalog.invalidate().await;
    state.live.changed(id);
    Ok(event)
}

/// Sets the cancellation policy of one of the actor's events.
pub async fn put_policy(
    state: &AppState,
    actor: Actor,
    id: Uuid,
    policy: Policy,
) -> Result<Policy, ApiError> {
    events::get(&state.pool, actor, id).await?;
    let policy = policy.check()?;
    policy::put(&state.pool, id, &policy).await?;
    Ok(policy)
}

/// Announcements one event may get per hour: each one reaches every
/// client watching it.
pub const ANNOUNCEMENTS_PER_HOUR: u32 = 60;

/// Posts an announcement to everyone watching the event live: checked,
/// owned, within the event's hourly budget, stored, then published.
pub async fn announce(
    state: &AppState,
    actor: Actor,
    event: Uuid,
    message: &str,
) -> Result<Announcement, ApiError> {
    announcements::check(message).map_err(|p| ApiError::from(vec![p]))?;
    // Ownership before the limit: someone else's requests must not use up
    // this event's budget.
    announcements::may_post(&state.pool, actor, event).await?;
    let rule = Rule {
        limit: ANNOUNCEMENTS_PER_HOUR,
        period_seconds: 3600,
    };
    state
        .limit("announcements", &event.to_string(), rule)
        .await?;
    let stored = announcements::post(&state.pool, actor, event, message).await?;
    Ok(state.live.announce(stored).await)
}

/// A CSV export of one of the actor's events as a streamed body and its
/// file name; 503 when too many exports run.
pub async fn export(
    state: &AppState,
    actor: Actor,
    event: Uuid,
    what: Export,
) -> Result<(poem::Body, String), ApiError> {
    let (chunks, slot) = exports::export(&state.pool, actor, event, what)
        .await
        .map_err(|error| match error {
            exports::ExportError::Catalog(e) => ApiError::from(e),
            exports::ExportError::Busy => ApiError::Unavailable {
                detail: error.to_string(),
                retry_after: 5,
            },
        })?;
    // The slot goes with the body: a stalled client keeps its place.
    let stream = futures::stream::unfold((chunks, slot), |(mut chunks, slot)| async move {
        chunks.recv().await.map(|chunk| (chunk, (chunks, slot)))
    });
    Ok((poem::Body::from_bytes_stream(stream), what.file_name(event)))
}
