//! Publishing after commit: [`Publisher::changed`] marks an event, and a
//! background task sends one snapshot per marked event every
//! [`COALESCE`](super::COALESCE), numbered by Redis `INCR`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};

use crate::redis::RedisConn;
use redis::AsyncCommands;
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use super::{Announcement, COALESCE, Keys, Update, announcements, next_seq, snapshot};

/// Publishes an install's live updates; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    redis: RedisConn,
    keys: Keys,
    dirty: Mutex<HashSet<Uuid>>,
    wake: Notify,
    started: std::sync::Once,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("channel", &self.inner.keys.channel())
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Publishes through `redis` under `key_prefix`.
    pub fn new(pool: PgPool, redis: RedisConn, key_prefix: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                redis,
                keys: Keys::new(key_prefix),
                dirty: Mutex::new(HashSet::new()),
                wake: Notify::new(),
                started: std::sync::Once::new(),
            }),
        }
    }

    /// `event`'s availability or door count changed, and the change has
    /// committed. Returns at once; the snapshot follows within
    /// [`COALESCE`] plus a read.
    pub fn changed(&self, event: Uuid) {
        let inner = &self.inner;
        inner.started.call_once(|| {
            tokio::spawn(run(Arc::downgrade(inner)));
        });
        inner.dirty.lock().expect("not poisoned").insert(event);
        inner.wake.notify_one();
    }

    /// Numbers a stored announcement, records the number and publishes it.
    /// A failure leaves it stored and listed, unnumbered.
    pub async fn announce(&self, mut announcement: Announcement) -> Announcement {
        let inner = &self.inner;
        let mut redis = inner.redis.clone();
        let seq = next_seq(&mut redis, &inner.keys, announcement.event_id).await;
        match seq {
            Ok(seq) => {
                if let Err(error) = announcements::numbered(&inner.pool, announcement.id, seq).await
                {
                    tracing::warn!(%error, "could not number an announcement");
                    return announcement;
                }
                announcement.seq = Some(seq);
                inner
                    .send(&Update::Announcement(announcement.clone()))
                    .await;
            }
            Err(error) => tracing::warn!(%error, "could not number an announcement"),
        }
        announcement
    }
}

impl Inner {
    async fn send(&self, update: &Update) {
        let Ok(payload) = serde_json::to_string(update) else {
            return;
        };
        let mut redis = self.redis.clone();
        let sent = super::publish(&mut redis, self.keys.channel(), payload).await;
        match sent {
            Ok(_) => metrics::counter!("marquee_live_published_total").increment(1),
            Err(error) => tracing::warn!(%error, "could not publish a live update"),
        }
    }

    /// A snapshot of `event` under a fresh number, if anyone watches it.
    async fn publish_snapshot(&self, event: Uuid) {
        let mut redis = self.redis.clone();
        let watched: redis::RedisResult<bool> = redis.exists(self.keys.watch(event)).await;
        if !matches!(watched, Ok(true)) {
            return;
        }
        let seq: i64 = match next_seq(&mut redis, &self.keys, event).await {
            Ok(seq) => seq,
            Err(error) => {
                tracing::warn!(%error, "could not number a live update");
                return;
            }
        };
        // Read after the number is taken: see the module docs.
        match snapshot(&self.pool, event, seq).await {
            Ok(snapshot) => self.send(&Update::Snapshot(snapshot)).await,
            Err(error) => tracing::warn!(%error, %event, "could not read a live snapshot"),
        }
    }
}

/// Waits for marks, gathers them for [`COALESCE`], publishes; ends when the
/// publisher is dropped.
async fn run(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        // Drop the strong reference while idle, so an unused publisher ends.
        let wake = async {
            strong.wake.notified().await;
        };
        let woken = tokio::time::timeout(std::time::Duration::from_secs(5), wake).await;
        if woken.is_err() {
            drop(strong);
            continue;
        }
        tokio::time::sleep(COALESCE).await;
        let events: Vec<Uuid> = strong.dirty.lock().expect("not poisoned").drain().collect();
        for event in events {
            strong.publish_snapshot(event).await;
        }
    }
}
