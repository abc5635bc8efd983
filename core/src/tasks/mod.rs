//! Tasks: email work applications hand to Marquee and follow by id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::auth::Invalid;
use crate::jobs::{Job, queues};

mod submit;

pub use submit::{BatchTask, Submitted, SubmittedMany, TaskJob, submit, submit_many};

/// Largest text + HTML body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A `message` task's payload, validated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessagePayload {
    /// Recipient address.
    pub to: String,
    /// 1-998 characters (RFC 5322's line limit).
    pub subject: String,
    /// Plain-text body.
    #[serde(default)]
    pub text: String,
    /// HTML body.
    #[serde(default)]
    pub html: String,
}

impl MessagePayload {
    /// Checks every field; all problems at once, named `payload.<field>`.
    pub fn parse(
        to: &str,
        subject: &str,
        text: Option<&str>,
        html: Option<&str>,
    ) -> Result<Self, Vec<Invalid>> {
        let mut problems = Vec::new();
        let to = to.trim().to_owned();
        if to.parse::<email_address::EmailAddress>().is_err() {
            problems.push(Invalid::new("payload.to", "must be a valid email address"));
        }
        let (text, html) = (text.unwrap_or_default(), html.unwrap_or_default());
        problems.extend(body_problems(
            subject,
            text,
            html,
            ["payload.subject", "payload.text", "payload.html"],
        ));
        if problems.is_empty() {
            Ok(Self {
                to,
                subject: subject.to_owned(),
                text: text.to_owned(),
                html: html.to_owned(),
            })
        } else {
            Err(problems)
        }
    }
}

/// What is wrong with an email's subject and bodies; `fields` names the
/// subject, text and HTML fields in the request.
pub fn body_problems(
    subject: &str,
    text: &str,
    html: &str,
    fields: [&'static str; 3],
) -> Vec<Invalid> {
    let [subject_field, text_field, html_field] = fields;
    let mut problems = Vec::new();
    if !(1..=998).contains(&subject.chars().count()) || subject.contains(['\r', '\n']) {
        problems.push(Invalid::new(
            subject_field,
            "must be 1-998 characters on one line",
        ));
    }
    if text.is_empty() && html.is_empty() {
        problems.push(Invalid::new(text_field, "give text and/or html"));
    }
    // PostgreSQL text cannot hold NUL; refuse it here rather than fail later.
    for (field, value) in [
        (subject_field, subject),
        (text_field, text),
        (html_field, html),
    ] {
        if value.contains('\0') {
            problems.push(Invalid::new(field, "must not contain NUL characters"));
        }
    }
    if text.len() + html.len() > MAX_BODY_BYTES {
        problems.push(Invalid::new(
            html_field,
            format!("text + html must be at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    problems
}

/// Sends a `message` task's email.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendMessage {
    /// The task (whose id is also this job's id).
    pub task_id: Uuid,
}

impl Job for SendMessage {
    const KIND: &'static str = "send_message";
    const QUEUE: &'static str = queues::EMAIL;
}

/// A task being submitted: its row in `tasks`, next to its job.
#[derive(Debug, Clone)]
pub struct NewTask<'a> {
    /// The task's id, also its job's.
    pub id: Uuid,
    /// Who submitted it.
    pub owner_id: Uuid,
    /// `message`, `otp`, `subscribe` or `unsubscribe`.
    pub kind: &'a str,
    /// The submitter's label.
    pub name: Option<&'a str>,
    /// The validated payload.
    pub payload: serde_json::Value,
    /// The request's `Idempotency-Key`, if any.
    pub idempotency_key: Option<&'a str>,
    /// SHA-256 of the request body, to tell a replay from another request.
    pub request_hash: &'a [u8],
}

/// The email a `message` task sends, and the account that sent it; `None`
/// if there is no such task.
pub async fn message(
    db: impl PgExecutor<'_>,
    task_id: Uuid,
) -> Result<Option<(Uuid, MessagePayload)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT owner_id, payload AS "payload: sqlx::types::Json<MessagePayload>"
         FROM tasks WHERE id = $1 AND type = 'message'"#,
        task_id,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| (row.owner_id, row.payload.0)))
}

/// A task as its owner follows it: the row and its job's progress.
#[derive(Debug, Clone)]
pub struct Task {
    /// Id.
    pub id: Uuid,
    /// `message`, `otp`, `subscribe` or `unsubscribe`.
    pub kind: String,
    /// The submitter's label.
    pub name: Option<String>,
    /// Its job's status (`jobs.status`, or `running` while it has a run).
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Error of the latest failed attempt.
    pub last_error: Option<String>,
    /// Accepted at.
    pub created_at: DateTime<Utc>,
    /// Last change of its job.
    pub updated_at: DateTime<Utc>,
    /// When its job succeeded or died.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One of the owner's tasks; `None` for another owner's or no task.
pub async fn find(
    db: impl PgExecutor<'_>,
    owner_id: Uuid,
    id: Uuid,
) -> Result<Option<Task>, sqlx::Error> {
    sqlx::query_as!(
        Task,
        // Once retention deleted the job row, the outcome copied onto the
        // task answers instead.
        r#"SELECT t.id, t.type AS kind, t.name,
                CASE WHEN r.job_id IS NOT NULL THEN 'running' ELSE COALESCE(j.status, t.status) END AS "status!",
                COALESCE(r.attempt, j.attempts, t.attempts) AS "attempts!",
                COALESCE(j.max_attempts, t.max_attempts) AS "max_attempts!",
                COALESCE(j.last_error, t.last_error) AS last_error,
                t.created_at, COALESCE(j.updated_at, t.updated_at) AS "updated_at!",
                COALESCE(j.finished_at, t.finished_at) AS finished_at
         FROM tasks t LEFT JOIN jobs j ON j.id = t.id LEFT JOIN job_runs r
                ON r.job_id = t.id AND j.status IN ('queued', 'dispatched', 'retrying')
         WHERE t.id = $1 AND t.owner_id = $2"#,
        id,
        owner_id,
    )
    .fetch_optional(db)
    .await
}

/// The task an earlier request with the same idempotency key created.
#[derive(Debug, Clone)]
pub struct KeyedTask {
    /// Its id.
    pub id: Uuid,
    /// SHA-256 of that request's body.
    pub request_hash: Vec<u8>,
    /// Whether it was submitted within the last 24 hours (the key's life).
    pub recent: bool,
    /// Its job's status now.
    pub status: String,
}

/// The owner's task with idempotency key `key`, its row locked until the
/// caller's transaction ends.
pub async fn find_by_key(
    conn: &mut PgConnection,
    owner_id: Uuid,
    key: &str,
) -> Result<Option<KeyedTask>, sqlx::Error> {
    // Every keyed task is written with its request hash (see [`insert`]);
    // created_at is NOT NULL, so the comparison is never NULL either.
    sqlx::query_as!(
        KeyedTask,
        r#"SELECT t.id, t.request_hash AS "request_hash!", t.created_at > now() - interval '24 hours' AS "recent!",
                CASE WHEN r.job_id IS NOT NULL THEN 'running' ELSE COALESCE(j.status, t.status) END AS "status!"
         FROM tasks t LEFT JOIN jobs j ON j.id = t.id LEFT JOIN job_runs r
                ON r.job_id = t.id AND j.status IN ('queued', 'dispatched', 'retrying')
         WHERE t.owner_id = $1 AND t.idempotency_key = $2 FOR UPDATE OF t"#,
        owner_id,
        key,
    )
    .fetch_optional(conn)
    .await
}

/// Which of `keys` the owner used within the last 24 hours (their tasks
/// replay rather than write).
pub async fn recent_keys(
    db: impl PgExecutor<'_>,
    owner_id: Uuid,
    keys: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT idempotency_key AS "key!" FROM tasks
         WHERE owner_id = $1 AND idempotency_key = ANY($2)
           AND created_at > now() - interval '24 hours'"#,
        owner_id,
        keys,
    )
    .fetch_all(db)
    .await
}

/// Frees an expired idempotency key for reuse (the task itself stays).
pub async fn release_key(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE tasks SET idempotency_key = NULL WHERE id = $1", id)
        .execute(conn)
        .await?;
    Ok(())
}
