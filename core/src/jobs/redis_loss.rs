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
//!
//! There is one marker per queue, inside the queue's hash tag: on Redis
//! Cluster a master that comes back empty loses only its own slots, and
//! the marker of every queue it held goes with them.

use redis::Script;
use redis::aio::ConnectionLike;

/// The marker of `queue`, in the queue's slot.
pub fn marker_key(key_prefix: &str, queue: &str) -> String {
    format!("{}:epoch", crate::redis::queue_namespace(key_prefix, queue))
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
    /// The marker each queue had at the last check.
    seen: std::collections::HashMap<&'static str, String>,
    /// A loss seen by a check that then failed on another queue: reported
    /// by the next check that completes, since its marker is fresh now.
    pending: bool,
}

impl LossWatch {
    /// A watch that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads (or writes) every queue's marker. `true` when Redis lost some
    /// of its data since the last check, or when this first check had to
    /// write a marker: Redis may then have lost data while this process was
    /// not looking (or it is a new installation, where pushing again costs
    /// nothing).
    pub async fn lost<C: ConnectionLike>(
        &mut self,
        conn: &mut C,
        key_prefix: &str,
    ) -> redis::RedisResult<bool> {
        for queue in super::queues::ALL {
            let fresh = uuid::Uuid::new_v4().simple().to_string();
            let current: String = script()
                .key(marker_key(key_prefix, queue))
                .arg(&fresh)
                .invoke_async(conn)
                .await?;
            self.pending |=
                current == fresh || self.seen.get(queue).is_some_and(|seen| *seen != current);
            self.seen.insert(queue, current);
        }
        Ok(std::mem::take(&mut self.pending))
    }
}
