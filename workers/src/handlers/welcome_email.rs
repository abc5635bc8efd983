//! `welcome_email`: greets a new account.

use marquee_core::auth;
use marquee_core::jobs::{JobError, WelcomeEmail};

use crate::email::send_once;
use crate::registry::JobContext;

/// Sends the welcome email; a deleted account means nothing to send.
pub async fn run(job: WelcomeEmail, ctx: JobContext) -> Result<(), JobError> {
    let Some(user) = auth::find_by_id(&ctx.pool, job.user_id)
        .await
        .map_err(JobError::retryable)?
    else {
        tracing::info!(user.id = %job.user_id, "account gone; no welcome email");
        return Ok(());
    };
    let context = serde_json::json!({
        "name": user.name,
        "email": user.email,
        "public_url": ctx.settings.http.public_url,
    });
    send_once(&ctx, &user.email, "welcome", context).await
}
