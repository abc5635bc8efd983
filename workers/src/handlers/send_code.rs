//! `send_code`: draws a one-time code, stores its hash and emails it.

use marquee_core::auth::codes::{self, CODE_TTL_MINUTES, Purpose, SendCode};
use marquee_core::jobs::JobError;
use secrecy::ExposeSecret;

use crate::email::send_once;
use crate::registry::JobContext;

/// The code is derived from the row's random seed, so every attempt emails
/// the same code, and its hash is committed before the send: whatever a
/// crash interrupts, the code in the mailbox is the one that verifies. (A
/// hash committed for a send that never succeeds guards a code nobody has.)
pub async fn run(job: SendCode, ctx: JobContext) -> Result<(), JobError> {
    let Some(codes::CodeRecipient {
        email,
        name,
        purpose,
    }) = codes::recipient(&ctx.pool, job.code_id)
        .await
        .map_err(JobError::retryable)?
    else {
        return Ok(());
    };
    let mut tx = ctx.pool.begin().await.map_err(JobError::retryable)?;
    let pepper = ctx.settings.jwt.secret.expose_secret().as_bytes().to_vec();
    let Some(code) = codes::issue(&mut tx, job.code_id, &pepper)
        .await
        .map_err(JobError::retryable)?
    else {
        tracing::info!(code.id = %job.code_id, "code already issued, used or voided; nothing to send");
        return Ok(());
    };
    let template = match purpose {
        Purpose::PasswordReset => "password_reset",
        Purpose::VerifyEmail => "verify_email",
    };
    tx.commit().await.map_err(JobError::retryable)?;
    let context = serde_json::json!({"name": name, "email": email, "code": code, "minutes": CODE_TTL_MINUTES});
    send_once(&ctx, &email, template, context).await
}
