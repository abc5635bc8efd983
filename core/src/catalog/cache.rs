//! Caching public catalog reads in Redis.
//!
//! Every entry's key holds the catalog's version number; any catalog write
//! bumps the version after its commit. A read that starts after the bump
//! can only find entries made after it, so a write is visible to the next
//! read, and stale entries simply expire. Availability changes without
//! catalog writes (holds, sales), so entries that carry it live only a
//! couple of seconds.
//!
//! A read is one Redis round trip: a script reads the version and the entry
//! of that version together. The script builds the entry's key itself, so
//! on a Redis Cluster it would need both keys in one slot (issue 19).

use std::sync::LazyLock;
use std::time::Duration;

use crate::redis::RedisConn;
use redis::AsyncCommands;
use redis::Script;
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use sha2::{Digest, Sha256};

/// Lists of events: they carry no availability.
pub const LIST_TTL: Duration = Duration::from_secs(60);
/// An event with availability, and seat maps.
pub const AVAILABILITY_TTL: Duration = Duration::from_secs(2);

/// Reads the version and the entry made under it; returns `{version,
/// entry or false}`. The version key is KEYS[1]; the entry's key is built
/// here (`<prefix>:<version>:<kind>:<hash>`).
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS[1]: version key; ARGV[1]: key prefix; ARGV[2]: "<kind>:<hash>"
local version = redis.call("GET", KEYS[1]) or "0"
return {version, redis.call("GET", ARGV[1] .. ":" .. version .. ":" .. ARGV[2])}
"#,
    )
});

/// The catalog cache of one Marquee install.
#[derive(Clone)]
pub struct CatalogCache {
    redis: RedisConn,
    prefix: String,
}

impl CatalogCache {
    /// Keys start with `{<key_prefix>:catalog}:`. The hash tag keeps the
    /// version and every entry in one slot on a Redis Cluster: the read
    /// script builds the entry's key from the version it reads, so both
    /// must live together (docs/SCALING.md: a hot slot, by design).
    pub fn new(redis: RedisConn, key_prefix: &str) -> Self {
        Self {
            redis,
            prefix: format!("{{{key_prefix}:catalog}}"),
        }
    }

    /// The cached value for (`kind`, `params`), or `load`'s result, cached.
    /// If Redis fails, the read goes to the database: a cache outage costs
    /// speed, never correctness.
    pub async fn get_or_load<T, E, F>(
        &self,
        kind: &str,
        params: &impl Serialize,
        ttl: Duration,
        load: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Result<T, E>>,
    {
        let found = self.lookup(kind, params).await;
        if let Some(value) = found
            .cached
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        {
            return Ok(value);
        }
        let value = load.await?;
        if let Ok(bytes) = serde_json::to_vec(&value) {
            self.store(found.key, bytes, ttl).await;
        }
        Ok(value)
    }

    /// Like [`Self::get_or_load`] for a value kept as the JSON bytes `load`
    /// encoded, such as a whole response body: a hit is served as stored,
    /// with no decoding and encoding again. An entry that is not JSON is a
    /// miss.
    pub async fn get_or_load_json<E, F>(
        &self,
        kind: &str,
        params: &impl Serialize,
        ttl: Duration,
        load: F,
    ) -> Result<Vec<u8>, E>
    where
        F: Future<Output = Result<Vec<u8>, E>>,
    {
        let found = self.lookup(kind, params).await;
        if let Some(bytes) = found
            .cached
            .filter(|bytes| serde_json::from_slice::<IgnoredAny>(bytes).is_ok())
        {
            return Ok(bytes);
        }
        let bytes = load.await?;
        self.store(found.key, bytes.clone(), ttl).await;
        Ok(bytes)
    }

    /// Call after any catalog write commits.
    pub async fn invalidate(&self) {
        let mut conn = self.redis.clone();
        let bumped: redis::RedisResult<i64> = conn.incr(self.version_key(), 1).await;
        if let Err(error) = bumped {
            // Entries then live out their TTL: lists up to a minute.
            tracing::warn!(%error, "could not invalidate the catalog cache");
        }
    }

    /// Drops one event's cached availability (detail and seat map) after a
    /// hold or a sale: cheaper than a new version, and what a racing reader
    /// may put back lives only `AVAILABILITY_TTL`.
    pub async fn invalidate_availability(&self, event: uuid::Uuid) {
        let mut conn = self.redis.clone();
        let version: Option<i64> = match conn.get(self.version_key()).await {
            Ok(version) => version,
            Err(_) => return,
        };
        let key = |kind| {
            let entry = Self::entry(kind, &event)?;
            Some(self.key_at(version.unwrap_or(0), &entry))
        };
        let (Some(detail), Some(seats)) = (key("event"), key("seats")) else {
            return;
        };
        let dropped: redis::RedisResult<()> = conn.del(&[detail, seats]).await;
        if let Err(error) = dropped {
            tracing::debug!(%error, "could not drop cached availability");
        }
    }

    /// One round trip: the entry for (`kind`, `params`) under the current
    /// version, and the key it is or would be stored under. A Redis failure
    /// finds nothing and leaves no key to store under.
    async fn lookup(&self, kind: &str, params: &impl Serialize) -> Lookup {
        let Some(entry) = Self::entry(kind, params) else {
            return Lookup::default();
        };
        let mut conn = self.redis.clone();
        let read: redis::RedisResult<(i64, Option<Vec<u8>>)> = READ
            .key(self.version_key())
            .arg(&self.prefix)
            .arg(&entry)
            .invoke_async(&mut conn)
            .await;
        match read {
            Ok((version, cached)) => Lookup {
                key: Some(self.key_at(version, &entry)),
                cached,
            },
            Err(error) => {
                tracing::debug!(%error, "catalog cache read failed");
                Lookup::default()
            }
        }
    }

    async fn store(&self, key: Option<String>, bytes: Vec<u8>, ttl: Duration) {
        let Some(key) = key else { return };
        let mut conn = self.redis.clone();
        let stored: redis::RedisResult<()> = conn.set_ex(key, bytes, ttl.as_secs()).await;
        if let Err(error) = stored {
            tracing::debug!(%error, "catalog cache write failed");
        }
    }

    /// `<kind>:<hash of params>`, the part of a key that names the entry.
    fn entry(kind: &str, params: &impl Serialize) -> Option<String> {
        let digest = Sha256::digest(serde_json::to_vec(params).ok()?);
        let hash: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        Some(format!("{kind}:{hash}"))
    }

    fn version_key(&self) -> String {
        format!("{}:version", self.prefix)
    }

    /// Where `entry` is stored under catalog `version`.
    fn key_at(&self, version: i64, entry: &str) -> String {
        format!("{}:{version}:{entry}", self.prefix)
    }
}

/// What [`CatalogCache::lookup`] found.
#[derive(Default)]
struct Lookup {
    /// Where the entry is stored; `None` if Redis failed.
    key: Option<String>,
    /// The entry, if there is one.
    cached: Option<Vec<u8>>,
}
