//! One client's stream: the announcements it missed (on a reconnect), a
//! fresh snapshot, then what is published, newest snapshots only, until
//! it falls too far behind, the client leaves or the server shuts down.

use std::collections::HashSet;
use std::collections::VecDeque;
use std::sync::Arc;

use futures::Stream;
use sqlx::PgPool;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use super::hub::{Inner, Signal};
use super::{Hub, StreamSlot, Update, announcements, next_seq, snapshot};
use crate::catalog::CatalogError;

/// Why a stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The event is gone.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Redis is unreachable: live updates are down (503).
    #[error("live updates are unavailable: {0}")]
    Unavailable(#[from] redis::RedisError),
}

struct State {
    pool: PgPool,
    hub: Arc<Inner>,
    event: Uuid,
    ready: VecDeque<Update>,
    receiver: broadcast::Receiver<Arc<Signal>>,
    closing: watch::Receiver<bool>,
    /// Newest snapshot sent.
    snapshot_seq: i64,
    /// Announcements numbered up to here were sent or are not owed.
    announced_seq: i64,
    replayed: HashSet<Uuid>,
    _slot: StreamSlot,
}

/// Whether `viewer` may watch `event`: as for the event page, drafts only
/// by their organizer and admins (anyone else: 404).
pub async fn may_watch(
    pool: &PgPool,
    event: Uuid,
    viewer: Option<crate::catalog::Actor>,
) -> Result<(), CatalogError> {
    match crate::catalog::events::load(pool, event).await? {
        Some(found) if crate::catalog::browse::visible(&found, viewer) => Ok(()),
        _ => Err(CatalogError::NotFound("no such event")),
    }
}

/// Opens `event`'s stream for a client that last saw message `last_seen`
/// (its `Last-Event-ID`), holding `slot` while it lasts. The caller has
/// checked the client may see the event.
pub async fn open(
    hub: &Hub,
    pool: &PgPool,
    event: Uuid,
    last_seen: Option<i64>,
    slot: StreamSlot,
) -> Result<impl Stream<Item = Update> + Send + 'static, OpenError> {
    // Subscribe before reading, so nothing committed in between is lost.
    let receiver = hub.subscribe(event).await?;
    let inner = hub.inner().clone();
    let mut redis = inner.redis.clone();
    // A number of its own, taken before the read like a publisher's: any
    // message numbered lower was committed before this snapshot was read.
    let current = next_seq(&mut redis, &inner.keys, event).await?;
    let missed = match last_seen {
        Some(seen) => announcements::since(pool, event, seen).await?,
        None => Vec::new(),
    };
    let replayed = missed.iter().map(|a| a.id).collect();
    let mut ready: VecDeque<Update> = missed.into_iter().map(Update::Announcement).collect();
    ready.push_back(Update::Snapshot(snapshot(pool, event, current).await?));
    let closing = inner.closing();
    let state = State {
        pool: pool.clone(),
        event,
        ready,
        receiver,
        closing,
        snapshot_seq: current,
        // A new client is not owed older announcements (it can list them).
        announced_seq: last_seen.unwrap_or(current).min(current),
        replayed,
        hub: inner,
        _slot: slot,
    };
    Ok(futures::stream::unfold(state, next))
}

async fn next(mut state: State) -> Option<(Update, State)> {
    if let Some(update) = state.ready.pop_front() {
        return Some((update, state));
    }
    loop {
        if *state.closing.borrow() {
            return None;
        }
        let signal = tokio::select! {
            biased;
            _ = state.closing.changed() => return None,
            signal = state.receiver.recv() => signal,
        };
        let signal = match signal {
            Ok(signal) => signal,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // Too slow: drop it rather than hold messages for it.
                metrics::counter!("marquee_live_dropped_total").increment(1);
                return None;
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        match &*signal {
            Signal::Update(Update::Snapshot(s)) if s.seq > state.snapshot_seq => {
                state.snapshot_seq = s.seq;
                return Some((Update::Snapshot(s.clone()), state));
            }
            Signal::Update(Update::Announcement(a))
                if a.seq.unwrap_or(0) > state.announced_seq && !state.replayed.contains(&a.id) =>
            {
                return Some((Update::Announcement(a.clone()), state));
            }
            Signal::Update(_) => continue,
            Signal::Resync => {
                // Redis may have lost the counter: a fresh number starts
                // from the clock, above everything sent before.
                let mut redis = state.hub.redis.clone();
                let seq = next_seq(&mut redis, &state.hub.keys, state.event)
                    .await
                    .ok()?;
                let fresh = snapshot(&state.pool, state.event, seq).await.ok()?;
                state.snapshot_seq = state.snapshot_seq.max(fresh.seq);
                return Some((Update::Snapshot(fresh), state));
            }
        }
    }
}
