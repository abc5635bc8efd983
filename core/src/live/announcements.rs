//! Organizer announcements: stored first, then numbered and published (see
//! [`super::Publisher::announce`]); a client that reconnects is sent the
//! ones numbered after the last message it saw.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::Invalid;
use crate::catalog::browse::visible;
use crate::catalog::events::load;
use crate::catalog::{Actor, CatalogError};

/// Longest message, in characters.
pub const MAX_CHARS: usize = 500;
/// Most announcements a reconnecting client is sent.
pub const REPLAY_LIMIT: i64 = 100;

/// A message from the organizer to everyone watching the event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Announcement {
    /// Id.
    pub id: Uuid,
    /// The event.
    pub event_id: Uuid,
    /// Its number in the event's live stream; `None` until published.
    pub seq: Option<i64>,
    /// The text (1-500 characters; line breaks kept).
    pub message: String,
    /// Posted at.
    pub created_at: DateTime<Utc>,
}

/// `message` trimmed, with `\r\n` as `\n`, if it is 1-500 characters,
/// shows at least one visible character and has no control characters
/// other than line breaks; else a 422 naming `message`.
pub fn check(message: &str) -> Result<String, Invalid> {
    let message = message.replace("\r\n", "\n");
    let message = message.trim();
    let length = message.chars().count();
    let visible = message
        .chars()
        .any(|c| !c.is_whitespace() && !crate::text::invisible(c));
    if length > MAX_CHARS || !visible || message.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Invalid::new(
            "message",
            format!(
                "must be 1-{MAX_CHARS} characters with something visible, without control characters"
            ),
        ));
    }
    Ok(message.to_owned())
}

/// Whether the actor may announce on `event`: its organizer or an admin
/// (anyone else: 404).
pub async fn may_post(pool: &PgPool, actor: Actor, event: Uuid) -> Result<(), CatalogError> {
    match load(pool, event).await? {
        Some(found)
            if actor
                .owner_filter()
                .is_none_or(|me| me == found.organizer_id) =>
        {
            Ok(())
        }
        _ => Err(CatalogError::NotFound("no such event")),
    }
}

/// Stores an announcement on `event`, which the actor must organize
/// (admins: any; anyone else: 404). Not yet numbered or published.
pub async fn post(
    pool: &PgPool,
    actor: Actor,
    event: Uuid,
    message: &str,
) -> Result<Announcement, CatalogError> {
    let message = check(message).map_err(|p| CatalogError::Invalid(vec![p]))?;
    let row = sqlx::query_as!(
        Announcement,
        "INSERT INTO event_announcements (id, event_id, message, author_id)
         SELECT $1, e.id, $3, $4 FROM events e
         WHERE e.id = $2 AND ($5::uuid IS NULL OR e.organizer_id = $5)
         RETURNING id, event_id, seq, message, created_at",
        Uuid::now_v7(),
        event,
        message,
        actor.user_id,
        actor.owner_filter(),
    )
    .fetch_optional(pool)
    .await?;
    row.ok_or(CatalogError::NotFound("no such event"))
}

/// Records the number an announcement was published under.
pub(super) async fn numbered(pool: &PgPool, id: Uuid, seq: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE event_announcements SET seq = $2 WHERE id = $1",
        id,
        seq
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// A page of `event`'s announcements, newest first, and how many there
/// are, for whoever may see the event (drafts: their organizer).
pub async fn list(
    pool: &PgPool,
    viewer: Option<Actor>,
    event: Uuid,
    page: i64,
    per_page: i64,
) -> Result<(Vec<Announcement>, i64), CatalogError> {
    match load(pool, event).await? {
        Some(found) if visible(&found, viewer) => {}
        _ => return Err(CatalogError::NotFound("no such event")),
    }
    let items = sqlx::query_as!(
        Announcement,
        "SELECT id, event_id, seq, message, created_at FROM event_announcements
         WHERE event_id = $1
         ORDER BY created_at DESC, id DESC
         LIMIT $2 OFFSET $3",
        event,
        per_page,
        (page - 1).saturating_mul(per_page),
    )
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM event_announcements WHERE event_id = $1"#,
        event
    )
    .fetch_one(pool)
    .await?;
    Ok((items, total))
}

/// The announcements numbered after `seq`, oldest first (at most
/// [`REPLAY_LIMIT`], the newest ones).
pub async fn since(pool: &PgPool, event: Uuid, seq: i64) -> Result<Vec<Announcement>, sqlx::Error> {
    let mut missed = sqlx::query_as!(
        Announcement,
        "SELECT id, event_id, seq, message, created_at FROM event_announcements
         WHERE event_id = $1 AND seq > $2
         ORDER BY seq DESC
         LIMIT $3",
        event,
        seq,
        REPLAY_LIMIT,
    )
    .fetch_all(pool)
    .await?;
    missed.reverse();
    Ok(missed)
}
