//! Holds, checkout and cancellation.

use marquee_core::auth::Invalid;
use marquee_core::booking::cancel::{self, Refund};
use marquee_core::booking::checkout::{self, CheckoutRequest};
use marquee_core::booking::holds::{self, Hold, HoldLimits, HoldRequest};
use marquee_core::idempotency::{self, Begin};
use poem_openapi::types::{ParseFromJSON, ToJSON};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::problem::ApiError;
use crate::routes::BookingView;
use crate::state::AppState;

/// Holds seats and/or units of a published event for `user`, all or
/// nothing, within the per-person limit; publishes the change.
pub async fn hold(
    state: &AppState,
    user: Uuid,
    event: Uuid,
    request: HoldRequest,
) -> Result<Hold, ApiError> {
    let request = request.check()?;
    let limits = HoldLimits {
        active_per_person: state.settings.booking.max_active_holds_per_event,
    };
    let hold = holds::create(&state.pool, user, event, &request, limits).await?;
    state.availability_changed(event).await;
    Ok(hold)
}

/// Releases one of `user`'s holds (declining it, for a waitlist offer).
pub async fn release(state: &AppState, user: Uuid, hold: Uuid) -> Result<(), ApiError> {
    let (event, jobs) = holds::release(&state.pool, user, hold).await?;
    state.producer.dispatch(&jobs).await;
    state.availability_changed(event).await;
    Ok(())
}

/// What `book` says when the same key's first request is still running.
pub const STILL_RUNNING: &str =
    "a request with this Idempotency-Key is still running; retry shortly";

/// A checkout: the hold to pay for, with a card token.
#[derive(Debug, Clone, Copy)]
pub struct Payment<'a> {
    /// The caller's hold.
    pub hold_id: Uuid,
    /// Only `card`.
    pub method: &'a str,
    /// The provider's card token.
    pub token: &'a str,
}

/// Pays for a hold once per idempotency key: a replay of the key returns
/// the stored booking; the key with another request is 409; a key still
/// running is 409 too.
pub async fn book(
    state: &AppState,
    user: Uuid,
    key: Option<&str>,
    payment: Payment<'_>,
) -> Result<BookingView, ApiError> {
    let key = match key.filter(|k| !k.is_empty()) {
        Some(key) if key.len() <= 255 => key,
        _ => {
            return Err(ApiError::from(vec![Invalid::new(
                "Idempotency-Key",
                "required: 1-255 characters, unique per booking attempt",
            )]));
        }
    };
    let token = payment.token;
    if token.is_empty() || token.len() > 255 || token.contains(|c: char| c.is_control()) {
        return Err(ApiError::from(vec![Invalid::new(
            "payment.token",
            "must be 1-255 characters, without control characters",
        )]));
    }
    if payment.method != "card" {
        return Err(ApiError::from(vec![Invalid::new(
            "payment.method",
            "must be `card`",
        )]));
    }
    let hash = Sha256::digest(format!("{}|{}|{token}", payment.hold_id, payment.method).as_bytes())
        .to_vec();
    let claim = match idempotency::begin(&state.pool, user, "bookings", key, &hash).await? {
        Begin::Fresh(claim) => claim,
        Begin::Replay { body, .. } => {
            return BookingView::parse_from_json(Some(body)).map_err(|e| {
                ApiError::Internal(anyhow::anyhow!("stored response: {}", e.message()))
            });
        }
        Begin::Mismatch => {
            return Err(ApiError::Conflict(
                "this Idempotency-Key was used with a different request".to_owned(),
            ));
        }
        Begin::InProgress => {
            return Err(ApiError::Conflict(STILL_RUNNING.to_owned()));
        }
    };
    let request = CheckoutRequest {
        hold_id: payment.hold_id,
        token: token.to_owned(),
    };
    match checkout::confirm(&state.pool, state.payments.as_ref(), user, &request).await {
        Ok((booking, jobs)) => {
            state.producer.dispatch(&jobs).await;
            state.availability_changed(booking.event_id).await;
            let view = BookingView::from(booking);
            let stored = view.to_json().unwrap_or_default();
            // Taken over meanwhile and answered by the newer request: its
            // answer stays (the hold has one booking either way).
            idempotency::finish(&state.pool, user, "bookings", key, &claim, 201, &stored).await?;
            Ok(view)
        }
        Err(error) => {
            idempotency::abandon(&state.pool, user, "bookings", key, &claim).await?;
            Err(error.into())
        }
    }
}

/// The owner cancels a booking under the event's policy. With
/// `expected_refund`, a refund that changed since it was shown is 409.
pub async fn cancel(
    state: &AppState,
    user: Uuid,
    booking: Uuid,
    reason: Option<&str>,
    expected_refund: Option<i32>,
) -> Result<Refund, ApiError> {
    let reason = reason.filter(|r| !r.trim().is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500 || r.contains('\0')) {
        return Err(ApiError::from(vec![Invalid::new(
            "reason",
            "at most 500 characters",
        )]));
    }
    let (refund, jobs) =
        cancel::cancel(&state.pool, user, booking, reason, expected_refund).await?;
    state.producer.dispatch(&jobs).await;
    state.availability_changed(refund.event_id).await;
    Ok(refund)
}
