//! Noticing that Redis lost its data (a restart without persistence, a
//! `FLUSHALL`, a failover to an empty replica), so the relay can push again
//! at once every job Redis held instead of waiting
//! `jobs.redispatch_after_seconds` for each to look stale.
//!
//! The sign is a marker key: the first process to find it missing writes a
//! fresh random value. A process that saw one value and now sees another
//! (or none) knows the data it was written with is gone. The server's
//! `run_id` would miss a `FLUSHALL`, and a restart that kept its data loses
//! nothing, so the marker is the better witness.

use redis::Script;
use redis::aio::ConnectionLike;

/// The marker's key.
pub fn marker_key(key_prefix: &str) -> String {
    format!("{key_prefix}:redis:epoch")
}

fn script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    // Returns the marker, setting it to ARGV[1] first when it is missing.
    SCRIPT.get_or_init(|| {
        Script::new(
            r"local v = redis.call('GET', KEYS[1])
              if v then return v end
              redis.call('SET', KEYS[1], ARGV[1])
              return ARGV[1]",
        )
    })
}

/// Watches the marker for one process.
#[derive(Debug, Default)]
pub struct LossWatch {
    seen: Option<String>,
}

impl LossWatch {
    /// A watch that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads (or writes) the marker. `true` when Redis lost its data since
    /// the last check, or when this first check had to write the marker:
    /// Redis may then have lost data while this process was not looking
    /// (or it is a new installation, where pushing again costs nothing).
    pub async fn lost<C: ConnectionLike>(
        &mut self,
        conn: &mut C,
        key_prefix: &str,
    ) -> redis::RedisResult<bool> {
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        let current: String = script()
            .key(marker_key(key_prefix))
            .arg(&fresh)
            .invoke_async(conn)
            .await?;
        let lost = current == fresh || self.seen.as_ref().is_some_and(|seen| *seen != current);
        self.seen = Some(current);
        Ok(lost)
    }
}
