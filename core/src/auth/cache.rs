//! Who a token belongs to *now*: the role is read per request from a short
//! Redis cache of the user row, not trusted from the token, so a role change
//! (which deletes the cache entry) shows on the very next request.

use crate::redis::RedisConn;
use redis::AsyncCommands;
use sqlx::PgPool;
use uuid::Uuid;

use super::Role;

/// Seconds a cached role lives without being invalidated (a safety net).
const TTL_SECONDS: u64 = 300;

pub(super) fn key(prefix: &str, user_id: Uuid) -> String {
    format!("{prefix}:user:{user_id}:role")
}

/// The current role of a user, `None` if the account is gone. Redis errors
/// fall back to PostgreSQL: the cache is never the source of truth.
pub async fn current_role(
    pool: &PgPool,
    redis: &RedisConn,
    prefix: &str,
    user_id: Uuid,
) -> Result<Option<Role>, sqlx::Error> {
    let mut redis = redis.clone();
    let cached: Option<String> = redis.get(key(prefix, user_id)).await.unwrap_or(None);
    match parse(cached) {
        Some(role) => Ok(Some(role)),
        None => load(pool, &mut redis, prefix, user_id).await,
    }
}

/// A cached value, if it is a role.
pub(super) fn parse(cached: Option<String>) -> Option<Role> {
    cached.and_then(|r| serde_json::from_str::<Role>(&r).ok())
}

/// Reads the role from PostgreSQL and caches it (a cache miss).
pub(super) async fn load(
    pool: &PgPool,
    redis: &mut RedisConn,
    prefix: &str,
    user_id: Uuid,
) -> Result<Option<Role>, sqlx::Error> {
    let role = sqlx::query_scalar!(
        r#"SELECT role AS "role: Role" FROM users WHERE id = $1"#,
        user_id
    )
    .fetch_optional(pool)
    .await?;
    if let Some(role) = role {
        let value = serde_json::to_string(&role).expect("role serialises");
        let _: Result<(), _> = redis.set_ex(key(prefix, user_id), value, TTL_SECONDS).await;
    }
    Ok(role)
}

/// Forgets the cached role; call after changing a user's role or deleting them.
pub async fn invalidate(redis: &RedisConn, prefix: &str, user_id: Uuid) {
    let mut redis = redis.clone();
    if let Err(error) = redis.del::<_, ()>(key(prefix, user_id)).await {
        // The entry expires on its own within TTL_SECONDS.
        tracing::warn!(%error, user.id = %user_id, "could not invalidate the cached role");
    }
}

/// Sets a user's role and invalidates the cache. `None` if no such user.
pub async fn set_role(
    pool: &PgPool,
    redis: &RedisConn,
    prefix: &str,
    user_id: Uuid,
    role: Role,
) -> Result<Option<super::User>, sqlx::Error> {
    let user = sqlx::query_as!(
        super::User,
        r#"UPDATE users SET role = $2, updated_at = now() WHERE id = $1
         RETURNING id, email, name, password_hash, role AS "role: Role", email_verified_at, created_at"#,
        user_id,
        role as Role,
    )
    .fetch_optional(pool)
    .await?;
    invalidate(redis, prefix, user_id).await;
    super::key_cache::role_changed(pool, redis, prefix, user_id).await;
    Ok(user)
}
