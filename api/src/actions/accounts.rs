//! Accounts: sign-up, sign-in and sign-out.

use chrono::Duration;
use marquee_core::auth::{self, IssuedRefresh, NewUser, User, revocation};
use marquee_core::jobs::{self, WelcomeEmail};
use uuid::Uuid;

use crate::client_ip::ClientIp;
use crate::problem::ApiError;
use crate::state::AppState;

/// One answer for both failures, so nobody can tell which it was.
pub const BAD_CREDENTIALS: &str = "invalid email or password";

/// Creates an account (role `user`), queues its welcome email and starts a
/// session. 422 with the fields at fault; 409 if the email is taken.
pub async fn sign_up(
    state: &AppState,
    email: &str,
    name: &str,
    password: &str,
) -> Result<(User, IssuedRefresh), ApiError> {
    let new = NewUser::parse(email, name, password)?;
    let hash = hash_blocking(state, new.password.clone()).await?;
    let mut tx = state.pool.begin().await?;
    let Some(user) = auth::create_user(&mut *tx, &new, &hash).await? else {
        return Err(ApiError::Conflict(
            "an account with this email already exists".to_owned(),
        ));
    };
    let welcome = jobs::enqueue(&mut tx, &WelcomeEmail { user_id: user.id }).await?;
    let refresh = auth::start_family(&mut tx, user.id, refresh_ttl(state)).await?;
    tx.commit().await?;
    state.producer.dispatch(&[welcome]).await;
    tracing::info!(user.id = %user.id, "account created");
    Ok((user, refresh))
}

/// Checks the password (rate-limited per address and per email) and starts
/// a session. Unknown email and wrong password get the same 401.
pub async fn sign_in(
    state: &AppState,
    ip: &ClientIp,
    email: &str,
    password: &str,
) -> Result<(User, IssuedRefresh), ApiError> {
    let limits = &state.settings.rate_limits;
    state
        .limit("login-ip", &ip.limit_key(), limits.login_per_ip)
        .await?;
    state
        .limit(
            "login-email",
            &auth::normalise_email(email),
            limits.login_per_email,
        )
        .await?;
    let user = auth::find_by_email(&state.pool, email).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    // Verifying against a decoy hash for unknown emails keeps both
    // failures equally slow.
    if !verify_blocking(state, password.to_owned(), hash).await? {
        return Err(ApiError::Unauthorized(BAD_CREDENTIALS.to_owned()));
    }
    let user = user.expect("verified, so the user exists");
    let mut conn = state.pool.acquire().await?;
    let refresh = auth::start_family(&mut conn, user.id, refresh_ttl(state)).await?;
    Ok((user, refresh))
}

/// Revokes the session `refresh_token` belongs to, on every replica.
/// Unknown tokens are ignored.
pub async fn sign_out(state: &AppState, refresh_token: &str) -> Result<(), ApiError> {
    let mut conn = state.pool.acquire().await?;
    let revoked = auth::revoke_family_of(&mut conn, refresh_token).await?;
    forget_sessions(state, &revoked).await;
    Ok(())
}

/// Refuses the sessions' access tokens on every replica from now on.
pub async fn forget_sessions(state: &AppState, sessions: &[Uuid]) {
    revocation::forget_sessions(&state.redis, &state.settings.redis.key_prefix, sessions).await;
}

/// How long a session lasts without use.
pub fn refresh_ttl(state: &AppState) -> Duration {
    Duration::seconds(state.settings.jwt.refresh_ttl_seconds as i64)
}

/// argon2 is deliberately slow: keep it off the async workers.
pub async fn hash_blocking(state: &AppState, password: String) -> Result<String, ApiError> {
    let passwords = state.passwords.clone();
    tokio::task::spawn_blocking(move || passwords.hash(&password))
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Checks `password` against `hash` (a decoy when `None`) off the async
/// workers.
pub async fn verify_blocking(
    state: &AppState,
    password: String,
    hash: Option<String>,
) -> Result<bool, ApiError> {
    let passwords = state.passwords.clone();
    tokio::task::spawn_blocking(move || passwords.verify(&password, hash.as_deref()))
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}
