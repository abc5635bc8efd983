//! What operators do: pause and resume queues, retry, discard and cancel
//! jobs, one or in bulk. Every change is written to the audit trail.

use marquee_core::ops::{self, Action, BulkOutcome, JobFilter, SingleOutcome, audit, queues};
use uuid::Uuid;

use crate::problem::{ApiError, FieldError};
use crate::state::AppState;

/// Pauses or resumes `queue` (one of `worker.queues`), for every worker.
pub async fn switch_queue(
    state: &AppState,
    actor: &ops::Actor,
    queue: &str,
    action: Action,
) -> Result<queues::QueueOverview, ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    crate::routes::ops::filter::known_queue(
        queue,
        &state.settings.worker.queues,
        &mut errors,
        "name",
    );
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = state.pool.begin().await?;
    let changed = match action {
        Action::Pause => queues::pause(&mut tx, queue, actor.user_id).await?,
        _ => queues::resume(&mut tx, queue).await?,
    };
    let target = audit::Target {
        queue: Some(queue.to_owned()),
        job_id: None,
        selection: serde_json::json!({}),
    };
    audit::record(&mut *tx, actor, action, &target, i64::from(changed)).await?;
    tx.commit().await?;
    tracing::info!(queue, action = action.as_str(), by = %actor.user_id, changed, "queue switched");
    queues::overview(&state.pool, &[queue.to_owned()])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("queue overview missing {queue}")))
}

/// Retries, discards or cancels one job; 404 unknown, 409 in a state the
/// action does not apply to. Returns the job as it is now (none once
/// discarded).
pub async fn on_job(
    state: &AppState,
    actor: &ops::Actor,
    id: Uuid,
    action: Action,
) -> Result<Option<ops::JobSummary>, ApiError> {
    match ops::actions::single(&state.pool, &state.producer, action, id).await? {
        SingleOutcome::NotFound => Err(ApiError::NotFound("no such job".to_owned())),
        SingleOutcome::Conflict(why) => Err(ApiError::Conflict(why)),
        SingleOutcome::Changed(queue) => {
            let job = ops::jobs::detail(&state.pool, id).await?;
            let target = audit::Target {
                queue: Some(queue),
                job_id: Some(id),
                selection: serde_json::json!({}),
            };
            audit::record(&state.pool, actor, action, &target, 1).await?;
            tracing::info!(job.id = %id, action = action.as_str(), by = %actor.user_id, "job action");
            Ok(job.map(|j| j.summary))
        }
    }
}

/// Jobs a bulk action applies to (checked by the caller: ids deduplicated
/// and bounded, a filter not empty).
pub enum Selection {
    /// These jobs.
    Ids(Vec<Uuid>),
    /// Every job matching, up to `jobs.bulk_action_max`.
    Filter(JobFilter),
}

/// What the audit trail says a selection was: the ids when few, else their
/// count; or the filter.
fn described(selection: &Selection) -> serde_json::Value {
    match selection {
        Selection::Ids(ids) if ids.len() <= 100 => serde_json::json!({ "ids": ids }),
        Selection::Ids(ids) => serde_json::json!({ "ids": ids.len() }),
        Selection::Filter(filter) => serde_json::json!({ "filter": filter }),
    }
}

/// Applies `action` to every selected job in a state it applies to.
pub async fn on_jobs(
    state: &AppState,
    actor: &ops::Actor,
    selection: &Selection,
    action: Action,
) -> Result<BulkOutcome, ApiError> {
    let outcome = match selection {
        Selection::Ids(ids) => {
            let changed = ops::actions::apply(&state.pool, &state.producer, action, ids).await?;
            BulkOutcome {
                matched: ids.len() as i64,
                changed: changed.len() as i64,
                truncated: false,
            }
        }
        Selection::Filter(filter) => {
            let max = state.settings.jobs.bulk_action_max;
            ops::actions::bulk_by_filter(&state.pool, &state.producer, action, filter, max).await?
        }
    };
    let target = audit::Target {
        queue: match selection {
            Selection::Filter(filter) => filter.queue.clone(),
            Selection::Ids(_) => None,
        },
        job_id: None,
        selection: described(selection),
    };
    audit::record(&state.pool, actor, action, &target, outcome.changed).await?;
    tracing::info!(action = action.as_str(), matched = outcome.matched, changed = outcome.changed, by = %actor.user_id, "bulk job action");
    Ok(outcome)
}
