//! `subscribe` and `unsubscribe`: apply a subscription task.

use marquee_core::jobs::JobError;
use marquee_core::subscriptions::{self, Subscribe, Unsubscribe};
use uuid::Uuid;

use crate::registry::JobContext;

/// Subscribes the task's address.
pub async fn subscribe(job: Subscribe, ctx: JobContext) -> Result<(), JobError> {
    apply(job.task_id, "subscribe", &ctx).await
}

/// Unsubscribes the task's address.
pub async fn unsubscribe(job: Unsubscribe, ctx: JobContext) -> Result<(), JobError> {
    apply(job.task_id, "unsubscribe", &ctx).await
}

async fn apply(task_id: Uuid, kind: &str, ctx: &JobContext) -> Result<(), JobError> {
    let task = subscriptions::change_task(&ctx.pool, task_id, kind)
        .await
        .map_err(JobError::retryable)?;
    let Some(subscriptions::ChangeTask {
        owner_id: owner,
        seq,
        change,
    }) = task
    else {
        return Err(JobError::permanent(format!("no such {kind} task")));
    };
    let applied = subscriptions::apply(&ctx.pool, owner, seq, &change)
        .await
        .map_err(JobError::retryable)?;
    if applied {
        Ok(())
    } else {
        Err(JobError::permanent(format!(
            "content type `{}` was deleted",
            change.content_type
        )))
    }
}
