//! The audit trail of operator actions: who did what, when, to how many.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use super::actions::Action;

/// Who acted: a signed-in admin, or an API key of one.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `users.id` (a key's owner).
    pub user_id: Uuid,
    /// The key's name when a key acted.
    pub api_key: Option<String>,
}

/// One recorded action.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// Increasing id (the list's cursor).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`users.id`).
    pub actor_id: Uuid,
    /// Through which API key, if one.
    pub api_key: Option<String>,
    /// `pause`, `resume`, `retry`, `discard` or `cancel`.
    pub action: String,
    /// The queue paused or resumed, or a single job's queue.
    pub queue: Option<String>,
    /// The job of a single action.
    pub job_id: Option<Uuid>,
    /// What a bulk action aimed at: `{"ids": [...]}` or `{"filter": {...}}`.
    pub target: serde_json::Value,
    /// How many jobs (or queues) it changed.
    pub changed: i32,
}

/// What one action touched, for [`record`].
#[derive(Debug, Clone)]
pub struct Target {
    /// The queue, if one.
    pub queue: Option<String>,
    /// The job of a single action.
    pub job_id: Option<Uuid>,
    /// The bulk selection.
    pub selection: serde_json::Value,
}

/// Records an action (in the caller's transaction where it has one).
pub async fn record(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    action: Action,
    target: &Target,
    changed: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO ops_audit (actor_id, api_key, action, queue, job_id, target, changed)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        actor.user_id,
        actor.api_key,
        action.as_str(),
        target.queue,
        target.job_id,
        target.selection,
        i32::try_from(changed).unwrap_or(i32::MAX),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Newest first, `limit` entries older than entry `before` (if given).
pub async fn list(
    pool: &PgPool,
    action: Option<Action>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    sqlx::query_as!(
        AuditEntry,
        "SELECT id, at, actor_id, api_key, action, queue, job_id, target, changed
         FROM ops_audit
         WHERE ($1::text IS NULL OR action = $1) AND ($2::int8 IS NULL OR id < $2)
         ORDER BY id DESC
         LIMIT $3",
        action.map(Action::as_str),
        before,
        limit,
    )
    .fetch_all(pool)
    .await
}
