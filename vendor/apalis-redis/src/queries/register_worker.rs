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
    // the queue's slot. The list is only read by `list_queues` and
    // `list_all_workers`, so a registration that wrote the worker but not
    // the list (a crash between the two) just hides the queue from them
    // until the worker's next start.
    redis::cmd("ZADD")
        .arg(QUEUES_LIST)
        .arg("GT")
        .arg(now)
        .arg(config.workers_set())
        .query_async::<()>(conn)
        .await?;
    Ok(())
}
