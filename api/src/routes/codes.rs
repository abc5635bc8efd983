//! Password reset and email verification with one-time codes sent by email.

use marquee_core::auth::codes::{self, CodeError, Purpose, SendCode};
use marquee_core::auth::{self, Invalid, revocation};
use marquee_core::jobs;
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::actions::accounts::hash_blocking;
use crate::auth::BearerAuth;
use crate::client_ip::ClientIp;
use crate::contract::{FORBIDDEN, Problems, TOO_MANY_REQUESTS, UNPROCESSABLE_ENTITY};
use crate::guesses;
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;

/// `/api/v1/auth/password-reset*` and `/api/v1/auth/verify-email*`
pub struct CodesApi;

/// Ask for a reset code.
#[derive(Debug, Object)]
pub struct ResetRequest {
    /// The account's email.
    pub email: String,
}

/// Use a reset code.
#[derive(Debug, Object)]
pub struct ResetConfirm {
    /// The account's email.
    pub email: String,
    /// The code from the email.
    pub code: String,
    /// 8-128 characters.
    pub new_password: String,
}

/// Use a verification code.
#[derive(Debug, Object)]
pub struct VerifyConfirm {
    /// The code from the email.
    pub code: String,
}

#[derive(ApiResponse)]
enum Accepted {
    /// Accepted; if the account exists, a code is on its way.
    #[oai(status = 202)]
    Accepted,
}

#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl CodesApi {
    /// Email a password-reset code. Always 202, whether or not the email exists.
    #[oai(path = "/password-reset", method = "post")]
    async fn password_reset(
        &self,
        state: Data<&AppState>,
        ip: Data<&ClientIp>,
        body: Json<ResetRequest>,
    ) -> Result<Accepted, Problems<TOO_MANY_REQUESTS>> {
        let email = auth::normalise_email(&body.email);
        state
            .limit(
                "reset-ip",
                &ip.limit_key(),
                state.settings.rate_limits.password_reset_per_ip,
            )
            .await?;
        state
            .limit(
                "reset-email",
                &email,
                state.settings.rate_limits.password_reset_per_email,
            )
            .await?;
        if let Some(user) = auth::find_by_email(&state.pool, &email)
            .await
            .map_err(ApiError::from)?
        {
            send_code(state.0, user.id, Purpose::PasswordReset).await?;
        }
        Ok(Accepted::Accepted)
    }

    /// Set a new password with a reset code; signs out every session and
    /// revokes every API key.
    #[oai(path = "/password-reset/confirm", method = "post")]
    async fn password_reset_confirm(
        &self,
        state: Data<&AppState>,
        ip: Data<&ClientIp>,
        body: Json<ResetConfirm>,
    ) -> Result<Done, Problems<{ UNPROCESSABLE_ENTITY | TOO_MANY_REQUESTS }>> {
        auth::check_password("new_password", &body.new_password)
            .map_err(|p| ApiError::from(vec![p]))?;
        let email = auth::normalise_email(&body.email);
        state
            .limit(
                "code-email",
                &email,
                state.settings.rate_limits.code_verify_per_email,
            )
            .await?;
        let guess = guesses::begin(state.0, *ip.0, Purpose::PasswordReset).await?;
        let user = auth::find_by_email(&state.pool, &email)
            .await
            .map_err(ApiError::from)?;
        // An unknown email fails exactly like a wrong code.
        let Some(user) = user else {
            guess.settle(false).await;
            return Err(code_error(CodeError::Invalid).into());
        };
        let mut tx = state.pool.begin().await.map_err(ApiError::from)?;
        let spent = codes::consume(
            &mut tx,
            user.id,
            Purpose::PasswordReset,
            &body.code,
            pepper(state.0),
        )
        .await
        .map_err(ApiError::from)?;
        let mut revoked = revocation::Revoked::default();
        if spent.is_ok() {
            // Hashed only once the code checks out: wrong guesses cost no argon2.
            let hash = hash_blocking(state.0, body.new_password.clone()).await?;
            auth::set_password(&mut *tx, user.id, &hash)
                .await
                .map_err(ApiError::from)?;
            revoked = revocation::revoke_credentials(&mut tx, user.id, None)
                .await
                .map_err(ApiError::from)?;
        }
        // Commit either way: a wrong try must count.
        tx.commit().await.map_err(ApiError::from)?;
        revocation::forget(&state.redis, &state.settings.redis.key_prefix, &revoked).await;
        guess.settle(spent.is_ok()).await;
        spent.map_err(code_error)?;
        tracing::info!(user.id = %user.id, "password reset with a code");
        Ok(Done::Done)
    }

    /// Email a code that confirms the caller's address.
    #[oai(path = "/verify-email", method = "post")]
    async fn verify_email(
        &self,
        state: Data<&AppState>,
        caller: BearerAuth,
    ) -> Result<Accepted, Problems<{ FORBIDDEN | TOO_MANY_REQUESTS }>> {
        caller.0.require_person()?;
        state
            .limit(
                "verify-email-user",
                &caller.0.user_id.to_string(),
                state.settings.rate_limits.verify_email_per_user,
            )
            .await?;
        send_code(state.0, caller.0.user_id, Purpose::VerifyEmail).await?;
        Ok(Accepted::Accepted)
    }

    /// Confirm the caller's address with the emailed code.
    #[oai(path = "/verify-email/confirm", method = "post")]
    async fn verify_email_confirm(
        &self,
        state: Data<&AppState>,
        ip: Data<&ClientIp>,
        caller: BearerAuth,
        body: Json<VerifyConfirm>,
    ) -> Result<Done, Problems<{ UNPROCESSABLE_ENTITY | TOO_MANY_REQUESTS }>> {
        let user_id = caller.0.user_id;
        state
            .limit(
                "code-user",
                &user_id.to_string(),
                state.settings.rate_limits.code_verify_per_email,
            )
            .await?;
        let guess = guesses::begin(state.0, *ip.0, Purpose::VerifyEmail).await?;
        let mut tx = state.pool.begin().await.map_err(ApiError::from)?;
        let spent = codes::consume(
            &mut tx,
            user_id,
            Purpose::VerifyEmail,
            &body.code,
            pepper(state.0),
        )
        .await
        .map_err(ApiError::from)?;
        if spent.is_ok() {
            auth::mark_email_verified(&mut *tx, user_id)
                .await
                .map_err(ApiError::from)?;
        }
        tx.commit().await.map_err(ApiError::from)?;
        guess.settle(spent.is_ok()).await;
        spent.map_err(code_error)?;
        Ok(Done::Done)
    }
}

async fn send_code(state: &AppState, user_id: Uuid, purpose: Purpose) -> Result<(), ApiError> {
    let mut tx = state.pool.begin().await?;
    let code_id = codes::request(&mut tx, user_id, purpose).await?;
    let job = jobs::enqueue(&mut tx, &SendCode { code_id }).await?;
    tx.commit().await?;
    state.producer.dispatch(&[job]).await;
    Ok(())
}

fn pepper(state: &AppState) -> &[u8] {
    state.settings.jwt.secret.expose_secret().as_bytes()
}

fn code_error(error: CodeError) -> ApiError {
    ApiError::from(vec![Invalid::new("code", error.to_string())])
}
