//! Reading a job filter from query parameters or a bulk action's body, with
//! a 422 naming each field that is wrong.

use chrono::{DateTime, Utc};
use marquee_core::ops::{Cursor, JobFilter, JobState};
use poem_openapi::Object;
use uuid::Uuid;

use crate::problem::FieldError;

/// The conditions of a job filter, as given: every one given must hold.
#[derive(Debug, Clone, Default, Object)]
pub struct FilterBody {
    /// Queue name (one of the configured queues).
    pub queue: Option<String>,
    /// Job kind, e.g. `send_message`.
    pub kind: Option<String>,
    /// `ready`, `scheduled`, `running`, `retrying`, `dead`, `succeeded` or `cancelled`.
    pub state: Option<String>,
    /// One job.
    pub id: Option<Uuid>,
    /// A substring of the last error (case-insensitive, 1-200 characters).
    pub error: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<String>,
    /// Created before (RFC 3339).
    pub created_to: Option<String>,
    /// The `X-Request-Id` of the request that caused the job.
    pub request_id: Option<String>,
}

fn invalid(errors: &mut Vec<FieldError>, prefix: &str, field: &str, message: impl Into<String>) {
    errors.push(FieldError {
        field: format!("{prefix}{field}"),
        message: message.into(),
    });
}

/// A configured queue name, or an error naming `field`.
pub fn known_queue(
    queue: &str,
    queues: &[String],
    errors: &mut Vec<FieldError>,
    field: &str,
) -> bool {
    let known = queues.iter().any(|q| q == queue);
    if !known {
        invalid(
            errors,
            "",
            field,
            format!(
                "unknown queue `{}`; queues are {}",
                truncate(queue),
                queues.join(", ")
            ),
        );
    }
    known
}

fn truncate(value: &str) -> String {
    value.chars().take(64).collect()
}

fn time(
    value: Option<&str>,
    errors: &mut Vec<FieldError>,
    prefix: &str,
    field: &str,
) -> Option<DateTime<Utc>> {
    let value = value?;
    match DateTime::parse_from_rfc3339(value) {
        Ok(at) => Some(at.with_timezone(&Utc)),
        Err(_) => {
            invalid(
                errors,
                prefix,
                field,
                "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z",
            );
            None
        }
    }
}

/// Checks `body` into a filter; field names in errors start with `prefix`
/// (`filter.` in a bulk body, nothing for query parameters).
pub fn parse(
    body: &FilterBody,
    queues: &[String],
    prefix: &str,
    errors: &mut Vec<FieldError>,
) -> JobFilter {
    if let Some(queue) = &body.queue {
        known_queue(queue, queues, errors, &format!("{prefix}queue"));
    }
    let state = body.state.as_deref().and_then(|state| {
        let parsed = JobState::parse(state);
        if parsed.is_none() {
            let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            invalid(
                errors,
                prefix,
                "state",
                format!("must be one of {}", names.join(", ")),
            );
        }
        parsed
    });
    if let Some(error) = &body.error
        && !(1..=200).contains(&error.chars().count())
    {
        invalid(errors, prefix, "error", "must be 1-200 characters");
    }
    if let Some(kind) = &body.kind
        && !(1..=100).contains(&kind.chars().count())
    {
        invalid(errors, prefix, "kind", "must be 1-100 characters");
    }
    if let Some(request_id) = &body.request_id
        && !(1..=200).contains(&request_id.chars().count())
    {
        invalid(errors, prefix, "request_id", "must be 1-200 characters");
    }
    let created_from = time(body.created_from.as_deref(), errors, prefix, "created_from");
    let created_to = time(body.created_to.as_deref(), errors, prefix, "created_to");
    if let (Some(from), Some(to)) = (created_from, created_to)
        && from > to
    {
        invalid(
            errors,
            prefix,
            "created_to",
            "must not be before created_from",
        );
    }
    JobFilter {
        queue: body.queue.clone(),
        kind: body.kind.clone(),
        state,
        id: body.id,
        error: body.error.clone(),
        created_from,
        created_to,
        request_id: body.request_id.clone(),
    }
}

/// A page cursor from a previous answer.
pub fn cursor(token: Option<&str>, errors: &mut Vec<FieldError>) -> Option<Cursor> {
    let token = token?;
    let cursor = Cursor::decode(token);
    if cursor.is_none() {
        invalid(
            errors,
            "",
            "cursor",
            "not a cursor from a previous page; start without one",
        );
    }
    cursor
}

/// A page size, 1-1000 (default 50).
pub fn limit(value: Option<i64>, errors: &mut Vec<FieldError>) -> i64 {
    let limit = value.unwrap_or(50);
    if !(1..=1_000).contains(&limit) {
        invalid(errors, "", "limit", "must be 1-1000");
    }
    limit
}
