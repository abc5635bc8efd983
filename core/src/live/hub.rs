//! One process's side of live updates: a single Redis subscription fanned
//! out to the process's clients through a bounded broadcast per event, the
//! per-IP stream cap, the watch marks, and shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::redis::RedisConn;
use futures::StreamExt;
use redis::AsyncCommands;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use super::{Keys, Update, WATCH_REFRESH, WATCH_TTL, subscription};
use crate::config::RedisSettings;

/// Messages one client may fall behind by before it is dropped.
const BACKLOG: usize = 64;
/// How long a new stream waits for the process's subscription.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(3);

/// What a client's stream receives from the hub.
#[derive(Debug)]
pub(super) enum Signal {
    /// A published message.
    Update(Update),
    /// The subscription was lost and is back: messages may have been
    /// missed, so read a fresh snapshot.
    Resync,
}

/// The process's fan-out; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    settings: RedisSettings,
    pub(super) redis: RedisConn,
    pub(super) keys: Keys,
    max_per_ip: usize,
    events: Mutex<HashMap<Uuid, broadcast::Sender<Arc<Signal>>>>,
    per_ip: Mutex<HashMap<String, usize>>,
    /// Whether the subscription is up.
    subscribed: watch::Sender<bool>,
    /// Set on shutdown: every stream ends.
    closing: watch::Sender<bool>,
    started: std::sync::Once,
}

/// Over `live.max_streams_per_ip`.
#[derive(Debug, thiserror::Error)]
#[error("too many live streams from this address (at most {0})")]
pub struct TooManyStreams(pub usize);

/// A client's place under the per-IP cap, given back when dropped.
pub struct StreamSlot {
    inner: Arc<Inner>,
    ip: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut per_ip = self.inner.per_ip.lock().expect("not poisoned");
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        metrics::gauge!("marquee_live_streams").decrement(1);
    }
}

impl Hub {
    /// A hub over the Redis of `settings` (its own subscription
    /// connection) and `redis` (commands), capping streams per client
    /// address at `max_per_ip`.
    pub fn new(settings: &RedisSettings, redis: RedisConn, max_per_ip: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                redis,
                keys: Keys::new(&settings.key_prefix),
                max_per_ip,
                events: Mutex::new(HashMap::new()),
                per_ip: Mutex::new(HashMap::new()),
                subscribed: watch::Sender::new(false),
                closing: watch::Sender::new(false),
                started: std::sync::Once::new(),
            }),
        }
    }

    /// A place for one more stream from `ip` (its limit key).
    pub fn slot(&self, ip: String) -> Result<StreamSlot, TooManyStreams> {
        let mut per_ip = self.inner.per_ip.lock().expect("not poisoned");
        let count = per_ip.entry(ip.clone()).or_insert(0);
        if *count >= self.inner.max_per_ip {
            return Err(TooManyStreams(self.inner.max_per_ip));
        }
        *count += 1;
        metrics::gauge!("marquee_live_streams").increment(1);
        Ok(StreamSlot {
            inner: self.inner.clone(),
            ip,
        })
    }

    /// Ends every stream (shutdown); new ones end at once.
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    pub(super) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// Messages for `event` from now on. Waits until the process's
    /// subscription is up and the event is marked watched, so anything
    /// committed after this returns reaches the receiver.
    pub(super) async fn subscribe(
        &self,
        event: Uuid,
    ) -> Result<broadcast::Receiver<Arc<Signal>>, redis::RedisError> {
        let inner = &self.inner;
        inner.started.call_once(|| {
            tokio::spawn(listen(inner.clone()));
            tokio::spawn(keep_watching(Arc::downgrade(inner)));
        });
        let mut subscribed = inner.subscribed.subscribe();
        let up = tokio::time::timeout(SUBSCRIBE_WAIT, async {
            subscribed.wait_for(|up| *up).await.is_ok()
        })
        .await
        .unwrap_or(false);
        if !up {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "the live subscription is down",
            )));
        }
        let receiver = {
            let mut events = inner.events.lock().expect("not poisoned");
            events
                .entry(event)
                .or_insert_with(|| broadcast::channel(BACKLOG).0)
                .subscribe()
        };
        let mut redis = inner.redis.clone();
        let () = redis
            .set_ex(inner.keys.watch(event), 1, WATCH_TTL.as_secs())
            .await?;
        Ok(receiver)
    }
}

impl Inner {
    pub(super) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    fn dispatch(&self, payload: &[u8]) {
        let update: Update = match serde_json::from_slice(payload) {
            Ok(update) => update,
            Err(error) => {
                tracing::warn!(%error, "an unreadable live message");
                return;
            }
        };
        let events = self.events.lock().expect("not poisoned");
        if let Some(sender) = events.get(&update.event_id()) {
            // Never waits: a receiver that falls BACKLOG behind lags instead.
            let _ = sender.send(Arc::new(Signal::Update(update)));
        }
    }

    fn resync_all(&self) {
        for sender in self.events.lock().expect("not poisoned").values() {
            let _ = sender.send(Arc::new(Signal::Resync));
        }
    }
}

/// Holds the process's subscription, resubscribing after a loss, until
/// shutdown.
async fn listen(inner: Arc<Inner>) {
    let mut closing = inner.closing();
    let mut first = true;
    loop {
        if *closing.borrow() {
            return;
        }
        match subscription::open(&inner.settings, inner.keys.channel()).await {
            Ok(mut messages) => {
                if !std::mem::take(&mut first) {
                    // Redis may have lost the watch marks with its data.
                    // The shared connection may still be reconnecting while
                    // this fresh one works: retry for a moment, or changes
                    // right after the resync would be skipped as unwatched.
                    for _ in 0..30 {
                        if inner.mark_watched().await {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    inner.resync_all();
                }
                inner.subscribed.send_replace(true);
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(payload) => inner.dispatch(&payload),
                            None => break,
                        },
                        _ = closing.changed() => return,
                    }
                }
                inner.subscribed.send_replace(false);
                tracing::warn!("the live subscription was lost; resubscribing");
            }
            Err(error) => tracing::warn!(%error, "cannot subscribe to live updates"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = closing.changed() => return,
        }
    }
}

/// Refreshes the watch marks of events with clients here and forgets the
/// others, until the hub is gone.
async fn keep_watching(inner: std::sync::Weak<Inner>) {
    loop {
        tokio::time::sleep(WATCH_REFRESH).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.mark_watched().await;
    }
}

impl Inner {
    /// Marks every event with clients here as watched; forgets the others.
    /// Whether every mark was written.
    async fn mark_watched(&self) -> bool {
        let watched: Vec<Uuid> = {
            let mut events = self.events.lock().expect("not poisoned");
            events.retain(|_, sender| sender.receiver_count() > 0);
            events.keys().copied().collect()
        };
        let mut redis = self.redis.clone();
        let mut all = true;
        for event in watched {
            let marked: redis::RedisResult<()> = redis
                .set_ex(self.keys.watch(event), 1, WATCH_TTL.as_secs())
                .await;
            if let Err(error) = marked {
                tracing::warn!(%error, "could not mark a watched event");
                all = false;
            }
        }
        all
    }
}
