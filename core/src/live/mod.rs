//! Live updates of an event: availability snapshots and organizer
//! announcements, pushed to every API replica's Server-Sent-Events clients.
//!
//! - A change is published **after its commit**: the code that committed it
//!   calls [`Publisher::changed`]; a rolled-back change never gets there.
//! - Changes are coalesced per process for [`COALESCE`]: a rush of sales
//!   sends a few whole snapshots a second, not one message per sale.
//! - Each message takes its sequence number from Redis `INCR`
//!   (`<prefix>:live:seq:<event>`) after the commit, so numbering never
//!   serialises sales. A snapshot is read after its number is taken, so
//!   the snapshot with the highest number includes every change committed
//!   before any lower number was given out; clients keep the highest.
//!   A missing counter (new, or lost with Redis's data) starts at the
//!   clock in microseconds, so numbers keep increasing across a wipe.
//! - Messages go through one Redis pub/sub channel (`<prefix>:live`); each
//!   API process subscribes once and fans out to its clients through a
//!   bounded broadcast per event ([`Hub`]). On Redis Cluster the channel is
//!   sharded (`SPUBLISH`/`SSUBSCRIBE`): it lives on its slot's master, not
//!   broadcast over the whole cluster bus.
//! - Snapshots carry counts only, never who holds or bought what.
//! - Events nobody watches are skipped: a process with clients on an event
//!   keeps `<prefix>:live:watch:<event>` alive, and publishers check it.

pub mod announcements;
mod hub;
mod publisher;
mod snapshot;
pub mod stream;
mod subscription;

use std::sync::LazyLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::redis::RedisConn;

pub use announcements::Announcement;
pub use hub::{Hub, StreamSlot, TooManyStreams};
pub use publisher::Publisher;
pub use snapshot::{Snapshot, TypeLeft, snapshot};

/// How long a process gathers changes before publishing one snapshot per
/// changed event.
pub const COALESCE: Duration = Duration::from_millis(50);
/// How long a watch mark lives without a refresh.
const WATCH_TTL: Duration = Duration::from_secs(60);
/// How often a process refreshes its watch marks.
const WATCH_REFRESH: Duration = Duration::from_secs(20);

/// One message of an event's stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Update {
    /// Availability and the door now.
    Snapshot(Snapshot),
    /// An organizer's message.
    Announcement(Announcement),
}

impl Update {
    /// The event's sequence number of this message.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Snapshot(s) => s.seq,
            Self::Announcement(a) => a.seq.unwrap_or(0),
        }
    }

    /// The event it belongs to.
    pub fn event_id(&self) -> Uuid {
        match self {
            Self::Snapshot(s) => s.event_id,
            Self::Announcement(a) => a.event_id,
        }
    }
}

/// `INCR` of KEYS[1]; a missing counter first starts at ARGV[1] (the
/// clock), above any number given out before the key was lost.
static NEXT_SEQ: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
if redis.call("EXISTS", KEYS[1]) == 0 then
  redis.call("SET", KEYS[1], ARGV[1])
end
return redis.call("INCR", KEYS[1])
"#,
    )
});

/// The next number of `event`'s stream.
async fn next_seq(redis: &mut RedisConn, keys: &Keys, event: Uuid) -> redis::RedisResult<i64> {
    // Microseconds stay below 2^53 (JavaScript's exact integers) until
    // the year 2255, and no event takes a million numbers a second.
    let start = chrono::Utc::now().timestamp_micros();
    NEXT_SEQ
        .key(keys.seq(event))
        .arg(start)
        .invoke_async(redis)
        .await
}

/// Publishes `payload` to every process's subscription.
async fn publish(redis: &mut RedisConn, channel: &str, payload: String) -> redis::RedisResult<i64> {
    let command = if redis.is_cluster() {
        "SPUBLISH"
    } else {
        "PUBLISH"
    };
    redis::cmd(command)
        .arg(channel)
        .arg(payload)
        .query_async(redis)
        .await
}

/// Redis names of one install.
#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn new(key_prefix: &str) -> Self {
        Self {
            prefix: format!("{key_prefix}:live"),
        }
    }

    /// The pub/sub channel every process listens on.
    fn channel(&self) -> &str {
        &self.prefix
    }

    /// The event's sequence counter.
    fn seq(&self, event: Uuid) -> String {
        format!("{}:seq:{event}", self.prefix)
    }

    /// Set while some process has clients on the event.
    fn watch(&self, event: Uuid) -> String {
        format!("{}:watch:{event}", self.prefix)
    }
}
