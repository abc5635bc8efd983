//! Who may send mail from Marquee's From address: an account whose address
//! is verified (unless `auth.require_verified_email` is off, for closed
//! installations), within one budget per account that its token and all its
//! API keys share, so more keys never mean more mail.

use marquee_core::auth;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::state::AppState;

/// What an unverified account is told.
pub const VERIFY_FIRST: &str = "verify your email address first: POST /api/v1/auth/verify-email \
     emails a code, POST /api/v1/auth/verify-email/confirm takes it";

/// 403 unless the account's address is verified (or the check is off).
/// Read from PostgreSQL each time, so a verification applies at once.
pub async fn require_verified_email(state: &AppState, user_id: Uuid) -> Result<(), ApiError> {
    if !state.settings.auth.require_verified_email
        || auth::email_verified(&state.pool, user_id).await?
    {
        return Ok(());
    }
    Err(ApiError::Forbidden(VERIFY_FIRST.to_owned()))
}

/// Counts one task against the account's budget; 429 with Retry-After when
/// it is spent, whichever credential asks.
pub async fn count_task(state: &AppState, user_id: Uuid) -> Result<(), ApiError> {
    state
        .limit(
            "tasks-user",
            &user_id.to_string(),
            state.settings.rate_limits.tasks_per_user,
        )
        .await
}

/// Gives back budget counted for tasks that were not written (a replayed
/// idempotency key, an unverified sender, a failed transaction).
pub async fn uncount_tasks(state: &AppState, user_id: Uuid, tasks: u32) {
    state
        .limiter
        .refund_many(
            "tasks-user",
            &user_id.to_string(),
            state.settings.rate_limits.tasks_per_user,
            tasks,
        )
        .await;
}
