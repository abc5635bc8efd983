//! Our two scripts on apalis-redis's key layout (pinned at 1.0.0, key names
//! from its public `Config`). apalis's own push puts every task, due or not,
//! into the `scheduled` sorted set, and its fetch script moves *all* due
//! entries with one `unpack`, which Lua caps near 8,000: a backlog past that
//! fails every fetch and restarts workers forever. So we push due tasks
//! straight to the active list, and promote due retries in chunks.

use std::sync::LazyLock;

use redis::Script;
use redis::aio::ConnectionLike;

use crate::config::TaskMetadata;

/// Entries promoted per script call; well under Lua's unpack limit.
pub const PROMOTE_CHUNK: usize = 1_000;

static PUSH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: data hash, active list, signal list, meta prefix, scheduled zset,
--       done set, dead set
-- ARGV: now, requeue finished (1/0), full metadata (1/0), then
--       (task_id, data, run_at) triples
local now = tonumber(ARGV[1])
local requeue = ARGV[2] == "1"
local full = ARGV[3] == "1"
local ready = 0
for i = 4, #ARGV, 3 do
    local id, data, run_at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
    -- HSETNX: a task id already stored (pushed by the producer and again by
    -- the relay) is not queued twice while it is live (active, scheduled or
    -- in flight). But apalis keeps the data of a task it finished or gave up
    -- on (done / dead set): such a task is requeued, or a re-push of a job
    -- the ledger still waits for would be a no-op forever.
    local fresh = redis.call("hsetnx", KEYS[1], id, data) == 1
    if not fresh and requeue then
        local finished = redis.call("srem", KEYS[6], id) + redis.call("srem", KEYS[7], id)
        if finished > 0 then
            redis.call("hset", KEYS[1], id, data)
            redis.call("del", KEYS[4] .. ":" .. id)
            fresh = true
        end
    end
    if fresh then
        -- Lean pushes write no metadata hash: our apalis-redis
        -- (vendor/apalis-redis) reads a missing one as a task not run yet,
        -- but the release before fails a whole fetch without it. A hash
        -- left without its data cannot happen here: `forget` deletes both,
        -- the requeue above deletes it.
        if full then
            redis.call("hset", KEYS[4] .. ":" .. id, "attempts", 0, "max_attempts", 25,
                "status", "Pending", "idempotency_key", "")
        end
        if run_at > now then
            redis.call("zadd", KEYS[5], run_at, id)
        else
            redis.call("rpush", KEYS[2], id)
            ready = ready + 1
        end
    else
        -- A live task waiting for its time is brought forward when pushed
        -- again with an earlier time (an operator's "retry now").
        local at = redis.call("zscore", KEYS[5], id)
        if at and run_at < tonumber(at) then
            if run_at > now then
                redis.call("zadd", KEYS[5], run_at, id)
            else
                redis.call("zrem", KEYS[5], id)
                redis.call("rpush", KEYS[2], id)
                ready = ready + 1
            end
        end
    end
end
if ready > 0 then
    redis.call("del", KEYS[3])
    redis.call("lpush", KEYS[3], 1)
end
return ready
"#,
    )
});

static PROMOTE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: scheduled zset, active list, signal list; ARGV: now, chunk
local due = redis.call("zrangebyscore", KEYS[1], 0, ARGV[1], "LIMIT", 0, tonumber(ARGV[2]))
if #due > 0 then
    redis.call("rpush", KEYS[2], unpack(due))
    redis.call("zrem", KEYS[1], unpack(due))
    redis.call("del", KEYS[3])
    redis.call("lpush", KEYS[3], 1)
end
return #due
"#,
    )
});

/// One task to push.
pub struct QueuedTask {
    /// apalis task id.
    pub task_id: String,
    /// Encoded `JobRef`.
    pub data: Vec<u8>,
    /// Unix seconds; 0 or past means now.
    pub run_at: u64,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Whether a push may requeue a task apalis already finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Requeue it: the ledger still waits for the job (the relay's case).
    Requeue,
    /// Leave it: it ran already (an operator's retry racing the worker).
    Leave,
}

/// Pushes tasks into the queue whose apalis config is `config`.
pub async fn push<C: ConnectionLike>(
    conn: &mut C,
    config: &apalis_redis::Config,
    tasks: &[QueuedTask],
    finished: Finished,
    metadata: TaskMetadata,
) -> redis::RedisResult<u64> {
    let mut invocation = PUSH.prepare_invoke();
    invocation
        .key(config.job_data_hash())
        .key(config.active_jobs_list())
        .key(config.signal_list())
        .key(config.job_meta_hash())
        .key(config.scheduled_jobs_set())
        .key(config.done_jobs_set())
        .key(config.dead_jobs_set())
        .arg(now_secs())
        .arg(u8::from(finished == Finished::Requeue))
        .arg(u8::from(metadata == TaskMetadata::Full));
    for task in tasks {
        invocation
            .arg(&task.task_id)
            .arg(&task.data)
            .arg(task.run_at);
    }
    invocation.invoke_async(conn).await
}

/// Moves due scheduled tasks to the active list, [`PROMOTE_CHUNK`] at a
/// time, until none is due. Returns how many it moved.
pub async fn promote_due<C: ConnectionLike>(
    conn: &mut C,
    config: &apalis_redis::Config,
) -> redis::RedisResult<u64> {
    let mut moved = 0;
    loop {
        let n: u64 = PROMOTE
            .key(config.scheduled_jobs_set())
            .key(config.active_jobs_list())
            .key(config.signal_list())
            .arg(now_secs())
            .arg(PROMOTE_CHUNK)
            .invoke_async(conn)
            .await?;
        moved += n;
        if n < PROMOTE_CHUNK as u64 {
            return Ok(moved);
        }
    }
}

static FORGET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: data hash, meta prefix, done set, dead set; ARGV: task ids
-- Deletes the task data of tasks apalis has finished (done or dead set) or
-- that have no data left. Any other task may still sit in the active list,
-- the scheduled set or a worker's buffer, and apalis fails a whole fetch on
-- a queued id without data, so those are kept and returned.
local kept = {}
for _, id in ipairs(ARGV) do
    local finished = redis.call("sismember", KEYS[3], id) + redis.call("sismember", KEYS[4], id)
    if finished > 0 or redis.call("hexists", KEYS[1], id) == 0 then
        redis.call("hdel", KEYS[1], id)
        redis.call("del", KEYS[2] .. ":" .. id)
        redis.call("srem", KEYS[3], id)
        redis.call("srem", KEYS[4], id)
    else
        kept[#kept + 1] = id
    end
end
return kept
"#,
    )
});

/// Deletes the data, metadata and done/dead entries of tasks apalis has
/// finished (or whose data is gone); returns the ids it kept because they
/// may still be queued or in flight.
pub async fn forget<C: ConnectionLike>(
    conn: &mut C,
    config: &apalis_redis::Config,
    task_ids: &[String],
) -> redis::RedisResult<Vec<String>> {
    if task_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut invocation = FORGET.prepare_invoke();
    invocation
        .key(config.job_data_hash())
        .key(config.job_meta_hash())
        .key(config.done_jobs_set())
        .key(config.dead_jobs_set());
    for id in task_ids {
        invocation.arg(id);
    }
    invocation.invoke_async(conn).await
}

/// Tasks ready (active list) and scheduled (sorted set) in a queue.
pub async fn depth<C: ConnectionLike>(
    conn: &mut C,
    config: &apalis_redis::Config,
) -> redis::RedisResult<(u64, u64)> {
    redis::pipe()
        .llen(config.active_jobs_list())
        .zcard(config.scheduled_jobs_set())
        .query_async(conn)
        .await
}
