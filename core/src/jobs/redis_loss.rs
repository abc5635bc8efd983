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
    /// A loss seen but not reported yet.
    pending: bool,
    /// Values a check offered and never heard back about (it failed or
    /// timed out): if one is read later, that check found the marker
    /// missing, and Redis had lost its data.
    offered: std::collections::HashMap<&'static str, Vec<String>>,
}

impl LossWatch {
    /// A watch that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads (or writes) every queue's marker, all at once, each within
    /// [`CHECK_TIMEOUT`]. `true` when Redis lost some of its data since the
    /// last check, or when this first check had to write a marker: Redis
    /// may then have lost data while this process was not looking (or it is
    /// a new installation, where pushing again costs nothing). A queue whose
    /// marker cannot be read (its master down) does not hide the others'
    /// losses; the first such error is returned when none was lost.
    pub async fn lost<C: ConnectionLike + Clone>(
        &mut self,
        conn: &C,
        key_prefix: &str,
    ) -> redis::RedisResult<bool> {
        let checks = super::queues::ALL.map(|queue| {
            let mut conn = conn.clone();
            let key = marker_key(key_prefix, queue);
            async move {
                let fresh = uuid::Uuid::new_v4().simple().to_string();
                let mut invocation = script().key(key);
                let read = invocation.arg(&fresh).invoke_async::<String>(&mut conn);
                let current = match tokio::time::timeout(CHECK_TIMEOUT, read).await {
                    Ok(read) => read,
                    Err(_) => Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "the loss marker did not answer in time",
                    ))),
                };
                (queue, fresh, current)
            }
        });
        let mut failure = None;
        for (queue, fresh, current) in futures::future::join_all(checks).await {
            let offered = self.offered.entry(queue).or_default();
            match current {
                Ok(current) => {
                    self.pending |= current == fresh
                        || offered.contains(&current)
                        || self.seen.get(queue).is_some_and(|seen| *seen != current);
                    offered.clear();
                    self.seen.insert(queue, current);
                }
                Err(error) => {
                    offered.push(fresh);
                    failure = failure.or(Some(error));
                }
            }
        }
        match failure {
            Some(error) if !self.pending => Err(error),
            _ => Ok(std::mem::take(&mut self.pending)),
        }
    }
}

/// How long one marker check may take: a master that is down must not hold
/// up the relay's pass for the client's whole retry budget.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
