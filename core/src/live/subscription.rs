//! The process's one subscription to the live channel: classic pub/sub on
//! a single server, sharded pub/sub (`SSUBSCRIBE`) on a cluster, where the
//! channel lives on the master of its slot instead of being copied to
//! every node.

use futures::StreamExt;
use futures::stream::BoxStream;
use redis::{PushInfo, PushKind, Value};
use secrecy::ExposeSecret;

use crate::config::{RedisMode, RedisSettings};

/// Published payloads. The stream ends when the subscription is lost (a
/// dropped connection, a failover that moved the channel's slot): the
/// caller subscribes again and tells its clients to read a fresh
/// snapshot, since messages may have been missed meanwhile.
pub(super) type Payloads = BoxStream<'static, Vec<u8>>;

/// Subscribes to `channel`.
pub(super) async fn open(settings: &RedisSettings, channel: &str) -> redis::RedisResult<Payloads> {
    match settings.mode {
        RedisMode::Standalone => {
            let client = redis::Client::open(settings.url.expose_secret())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok(pubsub
                .into_on_message()
                .map(|message| message.get_payload_bytes().to_vec())
                .boxed())
        }
        RedisMode::Cluster => sharded(settings, channel).await,
    }
}

async fn sharded(settings: &RedisSettings, channel: &str) -> redis::RedisResult<Payloads> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
    let client = crate::redis::cluster_client(settings)
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(sender)
        .build()?;
    let mut conn = client.get_async_connection().await?;
    conn.ssubscribe(channel).await?;
    // The connection is kept with the receiver: dropping it would end the
    // subscription.
    let stream = futures::stream::unfold((conn, receiver), |(conn, mut receiver)| async move {
        loop {
            let push = receiver.recv().await?;
            match push.kind {
                PushKind::SMessage => {
                    if let Some(Value::BulkString(payload)) = push.data.into_iter().nth(1) {
                        return Some((payload, (conn, receiver)));
                    }
                }
                PushKind::SSubscribe => {}
                // A disconnection, or the server dropping the subscription
                // because the slot moved: the library would resubscribe,
                // but messages sent meanwhile are lost, so the caller must
                // know. The library reports any node's disconnection, not
                // only the channel's: a needless resync then, which costs
                // each client one snapshot.
                _ => return None,
            }
        }
    });
    Ok(stream.boxed())
}
