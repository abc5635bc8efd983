//! Revoked sessions refuse their access tokens at once, on every replica.
//!
//! An access token names its session (`sid`, the refresh-token family). Each
//! request checks that session with the user's role in one Redis `MGET`:
//!
//! - `<prefix>:session:<sid>` holds `revoked` or `live`. Revoking writes
//!   `revoked` (plain `SET`, after the revoking transaction commits); a cache
//!   miss reads PostgreSQL and stores the answer with `SET NX`, so a reader
//!   that saw the session live just before the revocation cannot overwrite
//!   the `revoked` mark.
//! - PostgreSQL stays the source of truth: a Redis error or a lost key falls
//!   back to it.
//!
//! Worst-case staleness: none while Redis takes the `revoked` write (every
//! replica reads the same key). If that write fails (Redis unreachable at that
//! moment, or the process dies between commit and write) a cached `live` can
//! last [`LIVE_TTL_SECONDS`], still far below the 15-minute token lifetime.

use crate::redis::RedisConn;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Role, cache, sessions};

/// How long a `live` answer is trusted without re-reading PostgreSQL; only
/// matters when the `revoked` write after a revocation was lost.
pub const LIVE_TTL_SECONDS: u64 = 60;

/// How long a `revoked` mark is kept; past it PostgreSQL answers again (and
/// the access token has expired by then anyway at the default lifetime).
const REVOKED_TTL_SECONDS: u64 = 15 * 60;

const LIVE: &str = "live";
const REVOKED: &str = "revoked";

fn key(prefix: &str, session_id: Uuid) -> String {
    format!("{prefix}:session:{session_id}")
}

/// The current role of the token's user if its session is live; `None` if the
/// session was revoked or the account is gone. One Redis round trip when both
/// answers are cached.
pub async fn check_access(
    pool: &PgPool,
    redis: &RedisConn,
    prefix: &str,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<Option<Role>, sqlx::Error> {
    let mut redis = redis.clone();
    let (role, session): (Option<String>, Option<String>) = redis::cmd("MGET")
        .arg(cache::key(prefix, user_id))
        .arg(key(prefix, session_id))
        .query_async(&mut redis)
        .await
        .unwrap_or((None, None));
    let revoked = match session.as_deref() {
        Some(REVOKED) => true,
        Some(LIVE) => false,
        _ => {
            let revoked = sessions::is_revoked(pool, session_id).await?;
            let (value, ttl) = if revoked {
                (REVOKED, REVOKED_TTL_SECONDS)
            } else {
                (LIVE, LIVE_TTL_SECONDS)
            };
            // NX: never overwrite a `revoked` written meanwhile.
            let _: Result<(), _> = redis::cmd("SET")
                .arg(key(prefix, session_id))
                .arg(value)
                .arg("EX")
                .arg(ttl)
                .arg("NX")
                .query_async(&mut redis)
                .await;
            revoked
        }
    };
    if revoked {
        return Ok(None);
    }
    match cache::parse(role) {
        Some(role) => Ok(Some(role)),
        None => cache::load(pool, &mut redis, prefix, user_id).await,
    }
}

/// Marks sessions revoked for every replica. Call after the transaction that
/// revoked them in PostgreSQL commits.
pub async fn forget_sessions(redis: &RedisConn, prefix: &str, sessions: &[Uuid]) {
    if sessions.is_empty() {
        return;
    }
    let keys = sessions.iter().map(|session| key(prefix, *session));
    if let Err(error) = crate::redis::set_each_ex(redis, keys, REVOKED, REVOKED_TTL_SECONDS).await {
        // A cached `live` expires within LIVE_TTL_SECONDS; PostgreSQL then answers.
        tracing::warn!(%error, sessions = sessions.len(), "could not mark sessions revoked in Redis");
    }
}

/// Credentials revoked in a transaction, to forget in Redis after commit.
#[derive(Debug, Default)]
pub struct Revoked {
    /// Sessions (refresh-token families).
    pub sessions: Vec<Uuid>,
    /// API keys, by hash.
    pub api_keys: Vec<Vec<u8>>,
}

/// What a password reset or change takes away: every session but `keep`
/// (the caller's own, on a change) and every API key, so a stolen token or a
/// key minted with one stops working. Hand the result to [`forget`] after
/// commit.
pub async fn revoke_credentials(
    conn: &mut PgConnection,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<Revoked, sqlx::Error> {
    let sessions = sessions::revoke_other_families(&mut *conn, user_id, keep).await?;
    let api_keys = sqlx::query_scalar!(
        "UPDATE api_keys SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL
         RETURNING key_hash",
        user_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    tracing::info!(
        user.id = %user_id,
        sessions = sessions.len(),
        api_keys = api_keys.len(),
        "credentials revoked"
    );
    Ok(Revoked { sessions, api_keys })
}

/// Refuses revoked sessions and API keys on every replica at once. Call
/// after the revoking transaction commits.
pub async fn forget(redis: &RedisConn, prefix: &str, revoked: &Revoked) {
    forget_sessions(redis, prefix, &revoked.sessions).await;
    for key_hash in &revoked.api_keys {
        super::key_cache::revoked(redis, prefix, key_hash).await;
    }
}
