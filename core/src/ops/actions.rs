//! Retry, discard and cancel, on one job or many. Each statement locks the
//! rows it changes (in id order, like the workers' batched writes) and
//! changes only jobs in a state the action allows, so a worker that claims
//! or finishes a job at the same moment either wins, and the action skips
//! the job, or waits and then sees the action's result: no double run and
//! no lost outcome.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::jobs::{self, Cursor, JobFilter, JobState};
use crate::jobs::{Producer, Push, redis_queue, runs, task_id_for_attempt};

/// Jobs one statement changes; bulk actions go chunk by chunk.
pub const CHUNK: usize = 1_000;

/// Kinds the refund sweep (`booking::redrive`) owns: it replaces a dead one
/// with a new job and re-creates a cancelled one, so an operator's retry
/// would run the refund twice at once and a cancel would not hold.
pub const SWEPT_KINDS: &[&str] = &["process_refund", "cancel_event_bookings"];

/// What an operator did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Hold workers off a queue.
    Pause,
    /// Let them back.
    Resume,
    /// Run a dead or retrying job now.
    Retry,
    /// Delete a dead job.
    Discard,
    /// Stop a job before it runs.
    Cancel,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [
        Self::Pause,
        Self::Resume,
        Self::Retry,
        Self::Discard,
        Self::Cancel,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Retry => "retry",
            Self::Discard => "discard",
            Self::Cancel => "cancel",
        }
    }

    /// Parses a wire name.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }

    /// The states (see [`jobs::JobState`]) a job may be in for this action.
    pub fn allowed_states(self) -> &'static [&'static str] {
        match self {
            Self::Retry => &["dead", "retrying"],
            Self::Discard => &["dead"],
            Self::Cancel => &["ready", "scheduled", "retrying"],
            Self::Pause | Self::Resume => &[],
        }
    }
}

/// The result of an action on one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleOutcome {
    /// Done (to a job of this queue).
    Changed(String),
    /// No such job.
    NotFound,
    /// The job's state or kind does not allow it (why, in a sentence).
    Conflict(String),
}

/// The result of a bulk action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BulkOutcome {
    /// Jobs selected: the ids given, or the jobs the filter matched in a
    /// state the action takes.
    pub matched: i64,
    /// Of those, changed (the others were in a state the action skips).
    pub changed: i64,
    /// Whether the filter matched more than one call may take; call again.
    pub truncated: bool,
}

/// Runs `action` on the jobs `ids`; returns the ids it changed.
pub async fn apply(
    pool: &PgPool,
    producer: &Producer,
    action: Action,
    ids: &[Uuid],
) -> anyhow::Result<Vec<Uuid>> {
    let mut changed = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        changed.extend(match action {
            Action::Retry => retry(pool, producer, chunk).await?,
            Action::Discard => discard(pool, producer, chunk).await?,
            Action::Cancel => cancel(pool, chunk).await?,
            Action::Pause | Action::Resume => anyhow::bail!("not a job action"),
        });
    }
    Ok(changed)
}

/// Runs `action` on one job, telling why when it could not.
pub async fn single(
    pool: &PgPool,
    producer: &Producer,
    action: Action,
    id: Uuid,
) -> anyhow::Result<SingleOutcome> {
    let Some(before) = jobs::detail(pool, id).await? else {
        return Ok(SingleOutcome::NotFound);
    };
    let kind = before.summary.kind;
    if matches!(action, Action::Retry | Action::Cancel) && SWEPT_KINDS.contains(&kind.as_str()) {
        return Ok(SingleOutcome::Conflict(format!(
            "`{kind}` jobs belong to the refund sweep (scheduler.refund_sweep_cron), \
             which re-drives dead ones and re-creates cancelled ones; {} would race it",
            action.as_str()
        )));
    }
    if !apply(pool, producer, action, &[id]).await?.is_empty() {
        return Ok(SingleOutcome::Changed(before.summary.queue));
    }
    Ok(match jobs::detail(pool, id).await? {
        None => SingleOutcome::NotFound,
        Some(job) if action == Action::Discard && job.summary.state == "dead" => {
            SingleOutcome::Conflict(
                "a task of this job is still queued in Redis (a retry pushed twice); \
                 discard it again once a worker has taken it"
                    .to_owned(),
            )
        }
        Some(job) => SingleOutcome::Conflict(format!(
            "the job is {}; {} takes a job that is {}",
            job.summary.state,
            action.as_str(),
            action.allowed_states().join(" or ")
        )),
    })
}

/// Runs `action` on every job `filter` matches in a state the action
/// takes (the filter's own state, or each state the action allows), up to
/// `max` of them, newest first. Reading through the listing keeps each page
/// on an index; acting 1,000 at a time keeps each statement short.
pub async fn bulk_by_filter(
    pool: &PgPool,
    producer: &Producer,
    action: Action,
    filter: &JobFilter,
    max: usize,
) -> anyhow::Result<BulkOutcome> {
    let states: Vec<JobState> = match filter.state {
        Some(state) if action.allowed_states().contains(&state.as_str()) => vec![state],
        Some(_) => Vec::new(),
        None => action
            .allowed_states()
            .iter()
            .filter_map(|name| JobState::parse(name))
            .collect(),
    };
    let mut ids = Vec::new();
    let mut truncated = false;
    'states: for state in states {
        let filter = JobFilter {
            state: Some(state),
            ..filter.clone()
        };
        let mut after: Option<Cursor> = None;
        loop {
            let (page, next) = jobs::list(pool, &filter, after, CHUNK as i64).await?;
            ids.extend(page.iter().map(|job| job.id));
            if ids.len() > max {
                ids.truncate(max);
                truncated = true;
                break 'states;
            }
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    let changed = apply(pool, producer, action, &ids).await?;
    Ok(BulkOutcome {
        matched: ids.len() as i64,
        changed: changed.len() as i64,
        truncated,
    })
}

struct Retried {
    id: Uuid,
    queue: String,
    attempts: i32,
}

/// Dead and retrying jobs run again now: a dead job gets one attempt more
/// than it has had. The rows are made undispatched first, so if the push
/// below fails the relay pushes them. A retry running now is left alone
/// (see [`crate::jobs::runs`]).
async fn retry(pool: &PgPool, producer: &Producer, ids: &[Uuid]) -> anyhow::Result<Vec<Uuid>> {
    let mut tx = pool.begin().await?;
    runs::lock_rows(&mut tx, ids).await?;
    let rows = sqlx::query_as!(
        Retried,
        "UPDATE jobs SET status = 'retrying', run_at = now(), dispatched_at = NULL,
                finished_at = NULL, pruned_at = NULL, prune_checked_at = NULL, updated_at = now(),
                max_attempts = GREATEST(max_attempts, attempts + 1)
         WHERE id = ANY($1) AND status IN ('dead', 'retrying') AND kind <> ALL($2)
           AND NOT EXISTS (SELECT 1 FROM job_runs r WHERE r.job_id = jobs.id)
         RETURNING jobs.id, queue, attempts",
        ids,
        SWEPT_KINDS as &[&str],
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let pushes: Vec<Push> = rows
        .iter()
        .map(|row| Push {
            job_id: row.id,
            task_id: task_id_for_attempt(row.id, row.attempts + 1),
            queue: row.queue.clone(),
            run_at: None,
        })
        .collect();
    if let Err(error) = producer.push_now_and_mark(&pushes).await {
        tracing::warn!(%error, jobs = pushes.len(), "could not push retried jobs; the relay will");
    }
    Ok(rows.into_iter().map(|row| row.id).collect())
}

/// Queued, scheduled and retrying jobs are cancelled: a delivery that comes
/// later finds the job finished and skips it. Refund jobs are not (see
/// [`SWEPT_KINDS`]); neither are they retried. Nor are jobs running now
/// (see [`crate::jobs::runs`]).
async fn cancel(pool: &PgPool, ids: &[Uuid]) -> anyhow::Result<Vec<Uuid>> {
    let mut tx = pool.begin().await?;
    runs::lock_rows(&mut tx, ids).await?;
    let cancelled = sqlx::query_scalar!(
        "UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now()
         WHERE id = ANY($1) AND status IN ('queued', 'dispatched', 'retrying')
           AND kind <> ALL($2)
           AND NOT EXISTS (SELECT 1 FROM job_runs r WHERE r.job_id = jobs.id)
         RETURNING jobs.id",
        ids,
        SWEPT_KINDS as &[&str],
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(cancelled)
}

/// Dead jobs are deleted, with their task data in Redis. A job with a task
/// still queued (a duplicate push that has not been delivered yet) is left
/// for a later discard: deleting its row now would strand that task's data.
async fn discard(pool: &PgPool, producer: &Producer, ids: &[Uuid]) -> anyhow::Result<Vec<Uuid>> {
    let mut tx = pool.begin().await?;
    let dead = sqlx::query_as!(
        Finished,
        "SELECT id, queue, attempts FROM jobs WHERE id = ANY($1) AND status = 'dead'
         ORDER BY id FOR UPDATE",
        ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    let kept = forget(producer, &dead).await?;
    let forgotten: Vec<Uuid> = dead
        .iter()
        .map(|job| job.id)
        .filter(|id| !kept.contains(id))
        .collect();
    let gone = delete(&mut tx, &forgotten, &["dead"]).await?;
    tx.commit().await?;
    Ok(gone.into_iter().map(|job| job.id).collect())
}

/// A finished job whose Redis tasks are to be forgotten.
pub(crate) struct Finished {
    pub id: Uuid,
    pub queue: String,
    pub attempts: i32,
}

/// Forgets the Redis tasks of every attempt of `jobs`; returns the jobs
/// with a task still queued or in flight (kept).
pub(crate) async fn forget(producer: &Producer, jobs: &[Finished]) -> anyhow::Result<Vec<Uuid>> {
    let mut by_queue: BTreeMap<&str, Vec<(Uuid, String)>> = BTreeMap::new();
    for job in jobs {
        by_queue.entry(job.queue.as_str()).or_default().extend(
            // attempts + 1: a cancelled retrying job's next task may be queued.
            (1..=job.attempts + 1).map(|n| (job.id, task_id_for_attempt(job.id, n).to_string())),
        );
    }
    let mut redis = producer.redis();
    let mut kept = Vec::new();
    for (queue, tasks) in by_queue {
        let task_ids: Vec<String> = tasks.iter().map(|(_, task)| task.clone()).collect();
        let queued =
            redis_queue::forget(&mut redis, &producer.queue_config(queue), &task_ids).await?;
        kept.extend(
            tasks
                .iter()
                .filter(|(_, task)| queued.contains(task))
                .map(|(job, _)| *job),
        );
    }
    Ok(kept)
}

/// A deleted ledger row.
pub(crate) struct Deleted {
    pub id: Uuid,
}

/// Deletes the jobs among `ids` whose status is one of `statuses`. A task's
/// job keeps answering for the task: its outcome is copied onto the task
/// first.
pub(crate) async fn delete(
    conn: &mut PgConnection,
    ids: &[Uuid],
    statuses: &[&str],
) -> Result<Vec<Deleted>, sqlx::Error> {
    sqlx::query_as!(
        Deleted,
        r#"WITH gone AS (
            DELETE FROM jobs WHERE id IN (
                SELECT id FROM jobs WHERE id = ANY($1) AND status = ANY($2)
                ORDER BY id FOR UPDATE)
              AND status = ANY($2)
            RETURNING id, status, attempts, max_attempts, last_error, updated_at, finished_at
         ), kept AS (
            UPDATE tasks t SET status = g.status, attempts = g.attempts,
                   max_attempts = g.max_attempts, last_error = g.last_error,
                   updated_at = g.updated_at, finished_at = g.finished_at
            FROM gone g WHERE t.id = g.id
         )
         SELECT id AS "id!" FROM gone"#,
        ids,
        statuses as &[&str],
    )
    .fetch_all(conn)
    .await
}
