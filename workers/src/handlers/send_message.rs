//! `send_message`: delivers a `message` task.

use marquee_core::jobs::JobError;
use marquee_core::tasks::{MessagePayload, SendMessage};

use crate::email::{Rendered, send_content_once};
use crate::registry::JobContext;

/// Sends the task's email once.
pub async fn run(job: SendMessage, ctx: JobContext) -> Result<(), JobError> {
    let payload: Option<sqlx::types::Json<MessagePayload>> =
        sqlx::query_scalar("SELECT payload FROM tasks WHERE id = $1 AND type = 'message'")
            .bind(job.task_id)
            .fetch_optional(&ctx.pool)
            .await
            .map_err(JobError::retryable)?;
    let Some(sqlx::types::Json(message)) = payload else {
        return Err(JobError::permanent("no such message task"));
    };
    let content = Rendered {
        subject: message.subject,
        text: message.text,
        html: message.html,
    };
    send_content_once(&ctx, &message.to, "message", content, &[]).await
}
