//! Newsletters: content types an owner publishes, the addresses subscribed
//! to them, and the once-per-period digest.
//!
//! Subscribe and unsubscribe are tasks (`POST /api/v1/tasks`), applied by a
//! job. Each change records its task's `seq` (a database sequence, so the
//! order of submission whatever the API replica's clock), and only a newer
//! change applies: tasks run out of order never undo a later one.

pub mod contents;
mod digest;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Invalid;
use crate::jobs::{Job, queues};

pub use contents::{Content, ContentInput};
pub use digest::{Newsletter, SendDigest, SendNewsletter, enqueue_digests, fan_out, newsletter};

/// How often a subscriber gets the content. Periods are UTC calendar units;
/// weeks start on Monday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Frequency {
    /// Every hour.
    #[serde(rename = "@hourly")]
    Hourly,
    /// Every day.
    #[serde(rename = "@daily")]
    Daily,
    /// Every week.
    #[serde(rename = "@weekly")]
    Weekly,
    /// Every month.
    #[serde(rename = "@monthly")]
    Monthly,
}

impl Frequency {
    /// All of them.
    pub const ALL: [Self; 4] = [Self::Hourly, Self::Daily, Self::Weekly, Self::Monthly];

    /// As written in requests and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hourly => "@hourly",
            Self::Daily => "@daily",
            Self::Weekly => "@weekly",
            Self::Monthly => "@monthly",
        }
    }

    /// The inverse of [`Self::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == value)
    }
}

/// Checks a content type's name: a slug, as it appears in URLs.
pub fn check_content_type(name: &str, field: &'static str) -> Option<Invalid> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    (!valid).then(|| {
        Invalid::new(
            field,
            "must be 1-64 characters: a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
        )
    })
}

/// A `subscribe` or `unsubscribe` task's payload, validated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubscriptionPayload {
    /// The subscriber's address.
    pub to: String,
    /// One of the owner's content types.
    pub content_type: String,
    /// `subscribe` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<Frequency>,
}

impl SubscriptionPayload {
    /// Checks every field (not whether the content type exists: that needs
    /// the database). `frequency` is required when subscribing.
    pub fn parse(
        to: &str,
        content_type: &str,
        frequency: Option<&str>,
        subscribing: bool,
    ) -> Result<Self, Vec<Invalid>> {
        let mut problems = Vec::new();
        // One subscription per mailbox, however the address is capitalised.
        let to = crate::auth::normalise_email(to);
        if to.parse::<email_address::EmailAddress>().is_err() {
            problems.push(Invalid::new("payload.to", "must be a valid email address"));
        }
        problems.extend(check_content_type(content_type, "payload.content_type"));
        let frequency = match (subscribing, frequency.map(Frequency::parse)) {
            (true, Some(Some(frequency))) => Some(frequency),
            (true, _) => {
                problems.push(Invalid::new(
                    "payload.frequency",
                    "must be @hourly, @daily, @weekly or @monthly",
                ));
                None
            }
            (false, _) => None,
        };
        if problems.is_empty() {
            Ok(Self {
                to,
                content_type: content_type.to_owned(),
                frequency,
            })
        } else {
            Err(problems)
        }
    }
}

/// Applies a `subscribe` task.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Subscribe {
    /// The task (whose id is also this job's id).
    pub task_id: Uuid,
}

impl Job for Subscribe {
    const KIND: &'static str = "subscribe";
    const QUEUE: &'static str = queues::SUBSCRIPTIONS;
}

/// Applies an `unsubscribe` task.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Unsubscribe {
    /// The task (whose id is also this job's id).
    pub task_id: Uuid,
}

impl Job for Unsubscribe {
    const KIND: &'static str = "unsubscribe";
    const QUEUE: &'static str = queues::SUBSCRIPTIONS;
}

/// A `subscribe` or `unsubscribe` task, as its job applies it.
#[derive(Debug, Clone)]
pub struct ChangeTask {
    /// Whose content type.
    pub owner_id: Uuid,
    /// Its submission order (see the module docs).
    pub seq: i64,
    /// The change.
    pub change: SubscriptionPayload,
}

/// The task `task_id` of type `kind` (`subscribe` or `unsubscribe`); `None`
/// if there is no such task.
pub async fn change_task(
    db: impl sqlx::PgExecutor<'_>,
    task_id: Uuid,
    kind: &str,
) -> Result<Option<ChangeTask>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT owner_id, seq, payload AS "payload: sqlx::types::Json<SubscriptionPayload>"
         FROM tasks WHERE id = $1 AND type = $2"#,
        task_id,
        kind,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| ChangeTask {
        owner_id: row.owner_id,
        seq: row.seq,
        change: row.payload.0,
    }))
}

/// Applies a subscribe (`frequency` given) or unsubscribe task for `owner`,
/// unless a newer change (higher `task_seq`) already applied. `Ok(false)`
/// when the content type no longer exists.
pub async fn apply(
    pool: &sqlx::PgPool,
    owner: Uuid,
    task_seq: i64,
    change: &SubscriptionPayload,
) -> Result<bool, sqlx::Error> {
    // An unsubscribe for an address never seen still writes an inactive
    // row, so that an older subscribe processed later cannot win.
    let result = sqlx::query!(
        "INSERT INTO subscribers (id, owner_id, content_type, address, frequency, active, token, changed_seq)
         VALUES ($1, $2, $3, $4, COALESCE($5, '@monthly'), $6, $7, $8)
         ON CONFLICT (owner_id, content_type, address) DO UPDATE
            SET frequency = COALESCE($5, subscribers.frequency), active = $6,
                changed_seq = $8, updated_at = now()
            WHERE subscribers.changed_seq < $8",
        Uuid::now_v7(),
        owner,
        change.content_type,
        change.to,
        change.frequency.map(Frequency::as_str),
        change.frequency.is_some(),
        crate::auth::new_refresh_token(),
        task_seq,
    )
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

/// The unsubscribe link: deactivates the subscription with this token.
/// Returns its content type, or `None` for an unknown token. Using the link
/// twice is fine. It counts as a change newer than every task submitted so
/// far.
pub async fn unsubscribe_by_token(
    pool: &sqlx::PgPool,
    token: &str,
) -> Result<Option<String>, sqlx::Error> {
    if !is_token(token) {
        return Ok(None);
    }
    sqlx::query_scalar!(
        "UPDATE subscribers
         SET active = false, updated_at = now(),
             changed_seq = nextval(pg_get_serial_sequence('tasks', 'seq'))
         WHERE token = $1 RETURNING content_type",
        token,
    )
    .fetch_optional(pool)
    .await
}

/// What an unsubscribe link is for: its content type and whether it is
/// still active; `None` for an unknown token. Reads only: a mail scanner
/// that follows the link changes nothing.
pub async fn unsubscribe_link(
    pool: &sqlx::PgPool,
    token: &str,
) -> Result<Option<(String, bool)>, sqlx::Error> {
    if !is_token(token) {
        return Ok(None);
    }
    let row = sqlx::query!(
        "SELECT content_type, active FROM subscribers WHERE token = $1",
        token
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| (row.content_type, row.active)))
}

/// The link's "all mail from this sender": every subscription of the
/// address to the owner's content ends, and the address joins the owner's
/// suppression list, so no task mails it either. Returns the address, or
/// `None` for an unknown token.
pub async fn unsubscribe_all_by_token(
    pool: &sqlx::PgPool,
    token: &str,
) -> Result<Option<String>, sqlx::Error> {
    if !is_token(token) {
        return Ok(None);
    }
    let mut tx = pool.begin().await?;
    let Some(row) = sqlx::query!(
        "SELECT owner_id, address FROM subscribers WHERE token = $1",
        token
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    sqlx::query!(
        "UPDATE subscribers
         SET active = false, updated_at = now(),
             changed_seq = nextval(pg_get_serial_sequence('tasks', 'seq'))
         WHERE owner_id = $1 AND mail_address(address) = mail_address($2) AND active",
        row.owner_id,
        row.address,
    )
    .execute(&mut *tx)
    .await?;
    crate::suppressions::add(
        &mut *tx,
        row.owner_id,
        &row.address,
        crate::suppressions::Reason::Unsubscribed,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(row.address))
}

/// Whether `token` could be an unsubscribe token (43 base64url characters),
/// so junk never reaches the database.
fn is_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_names_are_slugs() {
        for good in ["news", "weekly-digest", "a.b_c-1", "9lives"] {
            assert!(check_content_type(good, "f").is_none(), "{good}");
        }
        let long = "x".repeat(65);
        for bad in ["", "News", "-news", "a b", "a/b", long.as_str()] {
            assert!(check_content_type(bad, "f").is_some(), "{bad}");
        }
    }

    #[test]
    fn subscribe_needs_a_frequency_and_unsubscribe_does_not() {
        let errors = SubscriptionPayload::parse("x", "News", Some("@yearly"), true).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["payload.to", "payload.content_type", "payload.frequency"]
        );
        let ok = SubscriptionPayload::parse("a@example.com", "news", None, false).unwrap();
        assert_eq!(ok.frequency, None);
        let ok =
            SubscriptionPayload::parse("a@example.com", "news", Some("@weekly"), true).unwrap();
        assert_eq!(ok.frequency, Some(Frequency::Weekly));
    }
}
