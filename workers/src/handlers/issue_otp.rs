//! `issue_otp`: draws an OTP, stores its hash and expiry, emails it.

use marquee_core::jobs::JobError;
use marquee_core::otp::{self, IssueOtp};
use secrecy::ExposeSecret;

use crate::email::send_once;
use crate::registry::JobContext;

/// Like `send_code`: the code is derived from the OTP's seed, so every
/// attempt emails the same code; its hash is committed before the send, and
/// no row lock is held while SMTP talks.
pub async fn run(job: IssueOtp, ctx: JobContext) -> Result<(), JobError> {
    let mut tx = ctx.pool.begin().await.map_err(JobError::retryable)?;
    let pepper = ctx.settings.jwt.secret.expose_secret().as_bytes().to_vec();
    let Some((to, code, ttl)) = otp::issue(&mut tx, job.otp_id, &pepper)
        .await
        .map_err(JobError::retryable)?
    else {
        tracing::info!(otp.id = %job.otp_id, "OTP already issued or voided; nothing to send");
        return Ok(());
    };
    tx.commit().await.map_err(JobError::retryable)?;
    let context = serde_json::json!({"code": code, "minutes": ttl / 60});
    send_once(&ctx, &to, "otp", context).await
}
