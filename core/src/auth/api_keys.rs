//! API keys: how applications act for their owner, within scopes.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::tokens::{hash_secret, new_refresh_token};
use super::{Invalid, Role};

/// Every key starts with this, so it is recognisable in a bearer header.
pub const KEY_PREFIX: &str = "mk_";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Send transactional email.
    EmailSend,
    /// Issue and verify one-time passwords.
    Otp,
    /// Manage newsletter subscriptions.
    Subscriptions,
    /// Check tickets in at the door of the owner's events.
    Checkin,
    /// Read queues, jobs, workers, history and the audit trail (admins' keys only).
    OpsRead,
    /// Also pause queues and retry, discard or cancel jobs (admins' keys only).
    OpsWrite,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 6] = [
        Scope::EmailSend,
        Scope::Otp,
        Scope::Subscriptions,
        Scope::Checkin,
        Scope::OpsRead,
        Scope::OpsWrite,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailSend => "email:send",
            Self::Otp => "otp",
            Self::Subscriptions => "subscriptions",
            Self::Checkin => "checkin",
            Self::OpsRead => "ops:read",
            Self::OpsWrite => "ops:write",
        }
    }

    /// Parses a wire name.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Whether only admins may hold it: a key acts with its owner's current
    /// role, and these need the admin role at every request too.
    pub fn admin_only(self) -> bool {
        matches!(self, Self::OpsRead | Self::OpsWrite)
    }
}

/// A stored key, without its secret.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// Id.
    pub id: Uuid,
    /// The owner's label.
    pub name: String,
    /// `mk_` and the first characters, to recognise it.
    pub prefix: String,
    /// Wire names of its scopes.
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last authenticated request (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Who a presented key acts for.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    /// The key.
    pub key_id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// The owner's current role.
    pub role: Role,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Its owner's label for it (a door device's default name).
    pub name: String,
}

/// Checks a name and scopes: 1-100 characters, at least one known scope.
pub fn parse_new(name: &str, scopes: &[String]) -> Result<(String, Vec<Scope>), Vec<Invalid>> {
    let mut problems = Vec::new();
    let name = name.trim().to_owned();
    if !(1..=100).contains(&name.chars().count()) {
        problems.push(Invalid::new("name", "must be 1-100 characters"));
    }
    let mut parsed = Vec::new();
    for scope in scopes {
        match Scope::parse(scope) {
            Some(scope) if !parsed.contains(&scope) => parsed.push(scope),
            Some(_) => {}
            None => problems.push(Invalid::new(
                "scopes",
                format!(
                    "unknown scope `{scope}` ({})",
                    Scope::ALL.map(Scope::as_str).join(", ")
                ),
            )),
        }
    }
    if scopes.is_empty() {
        problems.push(Invalid::new("scopes", "name at least one scope"));
    }
    if problems.is_empty() {
        Ok((name, parsed))
    } else {
        Err(problems)
    }
}

/// What [`create`] did.
#[derive(Debug)]
pub enum Creation {
    /// The key, and its secret (shown once).
    Created(ApiKey, String),
    /// The owner already holds `max_live` keys.
    AtCap,
    /// The session asking was revoked (logout, password change or reset)
    /// while the request waited: no key may outlive it.
    SessionEnded,
}

/// Creates a key for `user_id`, asked for by `session`, unless the owner
/// already holds `max_live` live keys. Both checks run under a lock on the
/// user row, which a password change or reset also takes while it revokes
/// sessions and keys: a creation that waited for that lock sees the
/// revocation, so a stolen session cannot mint a key that survives it.
pub async fn create(
    conn: &mut PgConnection,
    user_id: Uuid,
    session: Uuid,
    name: &str,
    scopes: &[Scope],
    max_live: i64,
) -> Result<Creation, sqlx::Error> {
    // The lock is the point; the row (at most one, by primary key) is not.
    sqlx::query_scalar!(
        "SELECT 1 AS locked FROM users WHERE id = $1 FOR UPDATE",
        user_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if super::sessions::is_revoked(&mut *conn, session).await? {
        return Ok(Creation::SessionEnded);
    }
    let live = sqlx::query_scalar!(
        r#"SELECT count(*) AS "live!" FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL"#,
        user_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    if live >= max_live {
        return Ok(Creation::AtCap);
    }
    let secret = format!("{KEY_PREFIX}{}", new_refresh_token());
    let prefix: String = secret.chars().take(KEY_PREFIX.len() + 8).collect();
    let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let key = sqlx::query_as!(
        ApiKey,
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, name, prefix, scopes, created_at, last_used_at",
        Uuid::now_v7(),
        user_id,
        name,
        prefix,
        hash_secret(&secret),
        &scopes as &[&str],
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Creation::Created(key, secret))
}

/// The owner's keys that are not revoked, oldest first.
pub async fn list(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<Vec<ApiKey>, sqlx::Error> {
    sqlx::query_as!(
        ApiKey,
        "SELECT id, name, prefix, scopes, created_at, last_used_at FROM api_keys
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
        user_id,
    )
    .fetch_all(db)
    .await
}

/// Revokes one of the owner's keys; its hash (for
/// [`super::key_cache::revoked`]), or `None` if there is no such live key.
pub async fn revoke(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    key_id: Uuid,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar!(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
         RETURNING key_hash",
        key_id,
        user_id,
    )
    .fetch_optional(db)
    .await
}

/// The hashes of a user's live keys.
pub async fn live_hashes(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Vec<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT key_hash FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL",
        user_id
    )
    .fetch_all(db)
    .await
}

/// The owner of a live key, from PostgreSQL (requests go through
/// [`super::key_cache::authenticate`], which asks this on a miss).
pub async fn authenticate(pool: &PgPool, secret: &str) -> Result<Option<KeyOwner>, sqlx::Error> {
    if !secret.starts_with(KEY_PREFIX) {
        return Ok(None);
    }
    let row = sqlx::query!(
        r#"SELECT k.id, k.user_id, u.role AS "role: Role", k.scopes, k.name,
                k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute' AS "stale!"
         FROM api_keys k JOIN users u ON u.id = k.user_id
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL"#,
        hash_secret(secret),
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let key_id = row.id;
    // At most one write a minute per key, not one per request (nor even a
    // statement per request).
    if row.stale {
        sqlx::query!(
            "UPDATE api_keys SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
            key_id,
        )
        .execute(pool)
        .await?;
    }
    let scopes = row.scopes.iter().filter_map(|s| Scope::parse(s)).collect();
    Ok(Some(KeyOwner {
        key_id,
        user_id: row.user_id,
        role: row.role,
        scopes,
        name: row.name,
    }))
}
