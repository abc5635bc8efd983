//! `POST /api/v1/otp/verify`: true exactly once per OTP.

use marquee_core::auth::api_keys::Scope;
use marquee_core::otp;
use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Json};
use secrecy::ExposeSecret;

use crate::auth::AnyAuth;
use crate::contract::{FORBIDDEN, Problems, TOO_MANY_REQUESTS};
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;

/// OTP verification.
pub struct OtpApi;

/// A code to check.
#[derive(Debug, Object)]
pub struct VerifyRequest {
    /// The address the OTP was sent to.
    pub to: String,
    /// The code.
    pub code: String,
    /// The purpose given when it was requested.
    #[oai(nullable)]
    pub purpose: Option<String>,
}

/// The answer.
#[derive(Debug, Object)]
pub struct Verified {
    /// True once for the right code; false when wrong, used, expired, voided
    /// or locked (after 5 wrong tries).
    pub verified: bool,
}

#[OpenApi(prefix_path = "/api/v1/otp", tag = "ApiTags::Tasks")]
impl OtpApi {
    /// Check an OTP (scope `otp`).
    #[oai(path = "/verify", method = "post")]
    async fn verify(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        body: Json<VerifyRequest>,
    ) -> Result<Json<Verified>, Problems<{ FORBIDDEN | TOO_MANY_REQUESTS }>> {
        let caller = auth.caller();
        caller.require_scope(Scope::Otp)?;
        let to = body.to.trim().to_lowercase();
        let bucket = format!("{}:{to}", caller.user_id);
        state
            .limit(
                "otp-verify",
                &bucket,
                state.settings.rate_limits.code_verify_per_email,
            )
            .await?;
        let purpose = body.purpose.as_deref().unwrap_or_default();
        let pepper = state.settings.jwt.secret.expose_secret().as_bytes();
        let mut tx = state.pool.begin().await.map_err(ApiError::from)?;
        let verified = otp::verify(&mut tx, caller.user_id, &to, purpose, &body.code, pepper)
            .await
            .map_err(ApiError::from)?;
        tx.commit().await.map_err(ApiError::from)?;
        Ok(Json(Verified { verified }))
    }
}
