//! Refresh-token families: rotation on use, and revocation of the whole
//! family when a spent token comes back (it was copied).

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::tokens::{hash_secret, new_refresh_token};

/// A refresh token to hand out (shown once; only its hash is stored).
#[derive(Debug, Clone)]
pub struct IssuedRefresh {
    /// The opaque token.
    pub token: String,
    /// Its family.
    pub family_id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
}

/// Why a refresh token was refused. All map to the same 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefreshError {
    /// Unknown, expired or revoked.
    #[error("invalid refresh token")]
    Invalid,
    /// Already spent: the family (this session) is now revoked.
    #[error("refresh token reused; the session was revoked")]
    Reused {
        /// The revoked session, so its access tokens can be refused too.
        family_id: Uuid,
    },
}

async fn insert(
    conn: &mut PgConnection,
    user_id: Uuid,
    family_id: Uuid,
    ttl: Duration,
) -> Result<IssuedRefresh, sqlx::Error> {
    let token = new_refresh_token();
    sqlx::query!(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
        Uuid::now_v7(),
        family_id,
        user_id,
        hash_secret(&token),
        Utc::now() + ttl,
    )
    .execute(conn)
    .await?;
    Ok(IssuedRefresh {
        token,
        family_id,
        user_id,
    })
}

struct StoredToken {
    id: Uuid,
    family_id: Uuid,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Starts a new family (a sign-in).
pub async fn start_family(
    conn: &mut PgConnection,
    user_id: Uuid,
    ttl: Duration,
) -> Result<IssuedRefresh, sqlx::Error> {
    insert(conn, user_id, Uuid::now_v7(), ttl).await
}

/// Spends `token` and issues its successor in the same family. Run inside a
/// transaction: the row lock makes two concurrent uses of one token count as
/// a reuse, never as two rotations. On reuse the family is revoked and the
/// caller must commit to make that stick.
pub async fn rotate(
    conn: &mut PgConnection,
    token: &str,
    ttl: Duration,
) -> Result<Result<IssuedRefresh, RefreshError>, sqlx::Error> {
    let row = sqlx::query_as!(
        StoredToken,
        "SELECT id, family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens
         WHERE token_hash = $1 FOR UPDATE",
        hash_secret(token),
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(StoredToken {
        id,
        family_id,
        user_id,
        expires_at,
        used_at,
        revoked_at,
    }) = row
    else {
        return Ok(Err(RefreshError::Invalid));
    };
    if revoked_at.is_some() || expires_at <= Utc::now() {
        return Ok(Err(RefreshError::Invalid));
    }
    if used_at.is_some() {
        revoke_family(conn, family_id).await?;
        tracing::warn!(user.id = %user_id, family.id = %family_id, "refresh token reused; family revoked");
        return Ok(Err(RefreshError::Reused { family_id }));
    }
    sqlx::query!(
        "UPDATE refresh_tokens SET used_at = now() WHERE id = $1",
        id
    )
    .execute(&mut *conn)
    .await?;
    Ok(Ok(insert(conn, user_id, family_id, ttl).await?))
}

async fn revoke_family(conn: &mut PgConnection, family_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes the family `token` belongs to (logout). Unknown tokens are
/// ignored. Returns the sessions revoked now, for `revocation::forget_sessions`.
pub async fn revoke_family_of(
    conn: &mut PgConnection,
    token: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let families = sqlx::query_scalar!(
        "UPDATE refresh_tokens SET revoked_at = now()
         WHERE revoked_at IS NULL
           AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
         RETURNING family_id",
        hash_secret(token),
    )
    .fetch_all(conn)
    .await?;
    Ok(distinct(families))
}

/// Revokes every family of the user except `keep` (the caller's session).
/// Returns the sessions revoked now.
pub async fn revoke_other_families(
    conn: &mut PgConnection,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let families = sqlx::query_scalar!(
        "UPDATE refresh_tokens SET revoked_at = now()
         WHERE user_id = $1 AND revoked_at IS NULL AND family_id IS DISTINCT FROM $2
         RETURNING family_id",
        user_id,
        keep,
    )
    .fetch_all(conn)
    .await?;
    Ok(distinct(families))
}

/// Whether the session (family) was revoked. An unknown family is not: every
/// access token is signed by us, and its family row may simply not exist
/// (tokens minted directly in tests and tools).
pub async fn is_revoked(
    db: impl sqlx::PgExecutor<'_>,
    family_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL) AS "revoked!""#,
        family_id,
    )
    .fetch_one(db)
    .await
}

fn distinct(mut families: Vec<Uuid>) -> Vec<Uuid> {
    families.sort_unstable();
    families.dedup();
    families
}

/// A browser session's person, as the session cookie proves it now.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The account.
    pub user_id: Uuid,
    /// The session (family), revoked on sign-out.
    pub family_id: Uuid,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Role as stored now (never as a token claimed it).
    pub role: super::Role,
}

/// The person a page session's token belongs to, if the token is live: not
/// spent, revoked or expired. Page sessions never rotate their token: two
/// tabs loading at once would otherwise look like a stolen token.
pub async fn signed_in(
    db: impl sqlx::PgExecutor<'_>,
    token: &str,
) -> Result<Option<SignedIn>, sqlx::Error> {
    sqlx::query_as!(
        SignedIn,
        r#"SELECT r.user_id, r.family_id, u.name, u.email, u.role AS "role: super::Role"
         FROM refresh_tokens r JOIN users u ON u.id = r.user_id
         WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.revoked_at IS NULL
           AND r.expires_at > now()"#,
        hash_secret(token),
    )
    .fetch_optional(db)
    .await
}
