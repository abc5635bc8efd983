use apalis_core::worker::context::WorkerContext;
use redis::aio::ConnectionLike;

use crate::{Config, error::Error, queries::current_timestamp};

/// apalis-redis's list of queues with workers (global, outside any queue's
/// hash tag).
const QUEUES_LIST: &str = "core:apalis:queues:list";

pub(crate) async fn register_worker<Conn>(
    conn: &mut Conn,
    worker: &WorkerContext,
    config: &Config,
) -> Result<(), Error>
where
    Conn: ConnectionLike,
{
    let register_worker = redis::Script::new(include_str!("../../lua/register_worker.lua"));
    let workers_set = config.workers_set();

    let metadata_key = config.worker_metadata_key(worker);

    let now = current_timestamp();

    register_worker
        .key(workers_set)
        .key(metadata_key)
        .arg(now)
        .arg(worker.name())
        .arg(config.orphaned_duration().as_secs())
        .arg("RedisStorage")
        .arg(worker.get_service())
        .invoke_async::<()>(conn)
        .await?;
    // Marquee patch: a command of its own (routed to the list's slot on a
    // cluster) instead of a write inside the script, which may only touch
    // the queue's slot. Best effort: the list only feeds `list_queues` and
    // `list_all_workers`, and on a cluster it lives on some other master,
    // whose outage must not stop every queue's workers from registering. A
    // registration whose list write failed hides the queue from those
    // listings until the worker's next start.
    let listed: Result<(), _> = redis::cmd("ZADD")
        .arg(QUEUES_LIST)
        .arg("GT")
        .arg(now)
        .arg(config.workers_set())
        .query_async(conn)
        .await;
    if let Err(error) = listed {
        tracing::warn!(%error, "could not list the queue in {QUEUES_LIST}");
    }
    Ok(())
}
