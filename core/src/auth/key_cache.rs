//! API keys answered from Redis: an application sending mail presents its
//! key on every request, and reading PostgreSQL for it each time was one of
//! the round trips on the task path. PostgreSQL stays the source of truth.
//!
//! `<prefix>:apikey:<sha256 of the key>` holds the key's owner (JSON), or a
//! mark:
//!
//! - `revoked`, written (plain `SET`) after a revocation commits: the key is
//!   refused without reading PostgreSQL, on every replica at once.
//! - `reload`, written for each of a user's keys after their role changes:
//!   those keys are read from PostgreSQL and not cached while it lives.
//!
//! A cache miss reads PostgreSQL and stores the answer with `SET NX`, so a
//! reader that saw the key live (or the old role) just before the change
//! cannot overwrite either mark. If a mark's write is lost (Redis away at
//! that moment), a cached answer lives at most [`TTL_SECONDS`].

use crate::redis::RedisConn;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::Role;
use super::api_keys::{self, KEY_PREFIX, KeyOwner, Scope};
use super::tokens::hash_secret;

/// How long any entry lives.
pub const TTL_SECONDS: u64 = 60;

const REVOKED: &str = "revoked";
const RELOAD: &str = "reload";

fn key(prefix: &str, key_hash: &[u8]) -> String {
    format!("{prefix}:apikey:{}", hex::encode(key_hash))
}

/// What is cached of a live key.
#[derive(Serialize, Deserialize)]
struct Cached {
    key_id: Uuid,
    user_id: Uuid,
    role: Role,
    scopes: Vec<String>,
    name: String,
}

impl From<&KeyOwner> for Cached {
    fn from(owner: &KeyOwner) -> Self {
        Self {
            key_id: owner.key_id,
            user_id: owner.user_id,
            role: owner.role,
            scopes: owner.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            name: owner.name.clone(),
        }
    }
}

impl From<Cached> for KeyOwner {
    fn from(cached: Cached) -> Self {
        Self {
            key_id: cached.key_id,
            user_id: cached.user_id,
            role: cached.role,
            scopes: cached
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
            name: cached.name,
        }
    }
}

/// The owner of a live key, like [`api_keys::authenticate`], from Redis when
/// it knows. Redis errors fall back to PostgreSQL.
pub async fn authenticate(
    pool: &PgPool,
    redis: &RedisConn,
    prefix: &str,
    secret: &str,
) -> Result<Option<KeyOwner>, sqlx::Error> {
    if !secret.starts_with(KEY_PREFIX) {
        return Ok(None);
    }
    let entry = key(prefix, &hash_secret(secret));
    let mut redis = redis.clone();
    let cached: Option<String> = redis::cmd("GET")
        .arg(&entry)
        .query_async(&mut redis)
        .await
        .unwrap_or(None);
    match cached.as_deref() {
        Some(REVOKED) => return Ok(None),
        Some(RELOAD) | None => {}
        Some(json) => {
            if let Ok(cached) = serde_json::from_str::<Cached>(json) {
                return Ok(Some(cached.into()));
            }
        }
    }
    let owner = api_keys::authenticate(pool, secret).await?;
    if let Some(owner) = &owner {
        let json = serde_json::to_string(&Cached::from(owner)).expect("plain fields serialise");
        // NX: never overwrite a `revoked` or `reload` mark written meanwhile.
        let _: Result<(), _> = redis::cmd("SET")
            .arg(&entry)
            .arg(json)
            .arg("EX")
            .arg(TTL_SECONDS)
            .arg("NX")
            .query_async(&mut redis)
            .await;
    }
    Ok(owner)
}

/// Marks keys (by hash) after the transaction that changed them committed:
/// `revoked` refuses them, `reload` makes the next requests read PostgreSQL.
async fn mark(redis: &RedisConn, prefix: &str, key_hashes: &[Vec<u8>], value: &str) {
    if key_hashes.is_empty() {
        return;
    }
    let keys = key_hashes.iter().map(|hash| key(prefix, hash));
    if let Err(error) = crate::redis::set_each_ex(redis, keys, value, TTL_SECONDS).await {
        // Cached answers expire on their own within TTL_SECONDS.
        tracing::warn!(%error, keys = key_hashes.len(), value, "could not mark cached API keys");
    }
}

/// Call after a revocation committed: every replica refuses the key at once.
pub async fn revoked(redis: &RedisConn, prefix: &str, key_hash: &[u8]) {
    mark(redis, prefix, &[key_hash.to_vec()], REVOKED).await;
}

/// Call after a user's role changed: their keys act with the new role from
/// the next request on.
pub async fn role_changed(pool: &PgPool, redis: &RedisConn, prefix: &str, user_id: Uuid) {
    match api_keys::live_hashes(pool, user_id).await {
        Ok(hashes) => mark(redis, prefix, &hashes, RELOAD).await,
        Err(error) => {
            tracing::warn!(%error, user.id = %user_id, "could not list the user's keys to reload them")
        }
    }
}
