//! What door staff and their devices read: who may scan for an event, the
//! public keys, revocations since a cursor, and counts.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::TicketError;
use super::keys::{self, PublicKey};
use crate::auth::Role;
use crate::catalog::Actor;

/// 404 unless `actor` organizes `event` or is an admin (an API key acts as
/// its owner): another organizer's event does not exist for them.
pub async fn require_door(pool: &PgPool, actor: Actor, event: Uuid) -> Result<(), TicketError> {
    match organizer_of(pool, event).await? {
        Some(owner) if owner == actor.user_id || actor.role == Role::Admin => Ok(()),
        _ => Err(TicketError::NotFound("no such event")),
    }
}

/// Events by organizer, as each process has seen them. An event never
/// changes organizer (only a draft is deleted, and it has no tickets), so
/// a scan at the door skips a query for it.
async fn organizer_of(pool: &PgPool, event: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    static SEEN: LazyLock<Mutex<HashMap<Uuid, Uuid>>> = LazyLock::new(Default::default);
    if let Some(organizer) = SEEN.lock().expect("not poisoned").get(&event) {
        return Ok(Some(*organizer));
    }
    let organizer = sqlx::query_scalar!("SELECT organizer_id FROM events WHERE id = $1", event)
        .fetch_optional(pool)
        .await?;
    if let Some(organizer) = organizer {
        let mut seen = SEEN.lock().expect("not poisoned");
        if seen.len() >= 100_000 {
            seen.clear();
        }
        seen.insert(event, organizer);
    }
    Ok(organizer)
}

/// The event's public keys, oldest first (none before its first ticket).
pub async fn checkin_keys(pool: &PgPool, event: Uuid) -> Result<Vec<PublicKey>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    keys::public_keys(&mut conn, event).await
}

/// Keys an event may have: every one stays valid and is listed to every
/// door device, so rotation is for leaks, not a routine.
pub const MAX_KEYS: i64 = 100;

/// Adds a signing key to the event; tickets issued from now on use it.
/// 409 once the event has [`MAX_KEYS`].
pub async fn rotate_key(pool: &PgPool, event: Uuid) -> Result<PublicKey, TicketError> {
    let mut tx = pool.begin().await?;
    // Serialises rotations of one event.
    sqlx::query_scalar!(
        "SELECT 1 AS locked FROM events WHERE id = $1 FOR UPDATE",
        event
    )
    .fetch_one(&mut *tx)
    .await?;
    let existing = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM ticket_signing_keys WHERE event_id = $1"#,
        event
    )
    .fetch_one(&mut *tx)
    .await?;
    if existing >= MAX_KEYS {
        return Err(TicketError::Conflict(format!(
            "this event has {MAX_KEYS} keys, the most it may have"
        )));
    }
    let key = keys::rotate(&mut tx, event).await?;
    tx.commit().await?;
    Ok(key)
}

/// One revoked ticket.
#[derive(Debug, Clone)]
pub struct Revocation {
    /// Its place in the event's revocations: the next `since`.
    pub seq: i64,
    /// The ticket.
    pub ticket_id: Uuid,
    /// When.
    pub revoked_at: DateTime<Utc>,
    /// booking_cancelled, event_cancelled or reissued.
    pub reason: Option<String>,
}

/// Revocations after `since`, oldest first, at most `limit`.
pub async fn revocations(
    pool: &PgPool,
    event: Uuid,
    since: i64,
    limit: i64,
) -> Result<Vec<Revocation>, sqlx::Error> {
    sqlx::query_as!(
        Revocation,
        r#"SELECT revoked_seq AS "seq!", id AS ticket_id, revoked_at AS "revoked_at!", revoke_reason AS reason
           FROM tickets WHERE event_id = $1 AND revoked_seq > $2
           ORDER BY revoked_seq LIMIT $3"#,
        event,
        since,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// Checked in against tickets that admit (valid or used), for one group.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckinCount {
    /// The section or ticket type; `None` for the whole event.
    pub group_id: Option<Uuid>,
    /// Its name.
    pub name: String,
    /// Came in.
    pub checked_in: i64,
    /// Valid or used: everyone who may come.
    pub tickets: i64,
}

/// The event's check-ins: overall, then per section and per ticket type.
pub async fn checkin_stats(
    pool: &PgPool,
    event: Uuid,
) -> Result<(CheckinCount, Vec<CheckinCount>), sqlx::Error> {
    let groups = sqlx::query_as!(
        CheckinCount,
        r#"SELECT COALESCE(t.section_id, t.ticket_type_id) AS group_id,
                  COALESCE(s.name, k.name) AS "name!",
                  count(*) FILTER (WHERE t.status = 'used') AS "checked_in!",
                  count(*) AS "tickets!"
           FROM tickets t
           LEFT JOIN venue_sections s ON s.id = t.section_id
           LEFT JOIN ticket_types k ON k.id = t.ticket_type_id
           WHERE t.event_id = $1 AND t.status <> 'revoked'
           GROUP BY 1, 2 ORDER BY 2"#,
        event,
    )
    .fetch_all(pool)
    .await?;
    let overall = CheckinCount {
        group_id: None,
        name: "all".to_owned(),
        checked_in: groups.iter().map(|g| g.checked_in).sum(),
        tickets: groups.iter().map(|g| g.tickets).sum(),
    };
    Ok((overall, groups))
}
