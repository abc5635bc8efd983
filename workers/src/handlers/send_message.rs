//! `send_message`: delivers a `message` task.

use marquee_core::jobs::JobError;
use marquee_core::tasks::{self, SendMessage};

use crate::email::{Rendered, send_content_once};
use crate::registry::JobContext;

/// Sends the task's email once.
pub async fn run(job: SendMessage, ctx: JobContext) -> Result<(), JobError> {
    let payload = tasks::message(&ctx.pool, job.task_id)
        .await
        .map_err(JobError::retryable)?;
    let Some((owner, message)) = payload else {
        return Err(JobError::permanent("no such message task"));
    };
    let content = Rendered {
        subject: message.subject,
        text: message.text,
        html: message.html,
    };
    send_content_once(&ctx, Some(owner), &message.to, "message", content, &[]).await
}
