//! Rate limits shared by every API replica: GCRA (the generic cell rate
//! algorithm) in one Redis script, so "10 per minute" means 10 in any
//! burst and then one every 6 s, with an exact Retry-After.

use std::sync::LazyLock;
use std::time::Duration;

use crate::redis::RedisConn;
use redis::Script;
use serde::Deserialize;

/// `limit` requests per `period_seconds`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct Rule {
    /// Requests allowed in a burst.
    pub limit: u32,
    /// Over this many seconds.
    pub period_seconds: u64,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allowed,
    /// Too many; try again after this long.
    Limited {
        /// Wait at least this long.
        retry_after: Duration,
    },
}

static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS[1]: bucket; ARGV: emission interval (ms), burst tolerance (ms)
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then
    return tat - now - tolerance
end
local new_tat = tat + interval
redis.call("SET", KEYS[1], new_tat, "PX", new_tat - now)
return -1
"#,
    )
});

static GCRA_MANY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS[1]: bucket; ARGV: emission interval (ms), burst tolerance (ms), cells
-- wanted. Takes as many of the cells as the bucket holds now (GCRA with a
-- cost); returns {cells taken, ms until the next cell when none was}.
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local tat = tonumber(redis.call("GET", KEYS[1]) or now)
if tat < now then tat = now end
local free = math.floor((tolerance + interval - (tat - now)) / interval)
local taken = math.max(0, math.min(wanted, free))
if taken == 0 then
    return {0, tat - now - tolerance}
end
local new_tat = tat + interval * taken
redis.call("SET", KEYS[1], new_tat, "PX", new_tat - now)
return {taken, 0}
"#,
    )
});

static REFUND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS[1]: bucket; ARGV: emission interval (ms), cells (default 1).
-- Takes back cells.
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local tat = tonumber(redis.call("GET", KEYS[1]))
if not tat then return 0 end
local new_tat = tat - tonumber(ARGV[1]) * tonumber(ARGV[2] or 1)
if new_tat <= now then
    redis.call("DEL", KEYS[1])
else
    redis.call("SET", KEYS[1], new_tat, "PX", new_tat - now)
end
return 1
"#,
    )
});

/// Checks and counts requests against rules.
#[derive(Clone)]
pub struct RateLimiter {
    redis: RedisConn,
    prefix: String,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RateLimiter {
    /// Buckets live under `<key_prefix>:rl:`.
    pub fn new(redis: RedisConn, key_prefix: &str) -> Self {
        Self {
            redis,
            prefix: format!("{key_prefix}:rl"),
        }
    }

    /// Counts one request for `key` in bucket `name`. If Redis is down the
    /// request is allowed (and logged): limits protect, they must not take
    /// the API down with Redis.
    pub async fn check(&self, name: &str, key: &str, rule: Rule) -> Decision {
        let interval_ms = interval_ms(rule);
        let tolerance_ms = interval_ms * u64::from(rule.limit.max(1) - 1);
        let mut redis = self.redis.clone();
        let result: redis::RedisResult<i64> = GCRA
            .key(format!("{}:{name}:{key}", self.prefix))
            .arg(interval_ms)
            .arg(tolerance_ms)
            .invoke_async(&mut redis)
            .await;
        match result {
            Ok(wait_ms) if wait_ms >= 0 => Decision::Limited {
                retry_after: Duration::from_millis(wait_ms as u64),
            },
            Ok(_) => Decision::Allowed,
            Err(error) => {
                tracing::warn!(%error, bucket = name, "rate limiter unavailable; allowing");
                Decision::Allowed
            }
        }
    }

    /// Counts up to `wanted` requests at once (a batch): returns how many
    /// the bucket allows now (the first ones), and when none, how long until
    /// the next. Redis down allows all, as [`RateLimiter::check`] does.
    pub async fn check_many(
        &self,
        name: &str,
        key: &str,
        rule: Rule,
        wanted: u32,
    ) -> (u32, Option<Duration>) {
        if wanted == 0 {
            return (0, None);
        }
        let interval_ms = interval_ms(rule);
        let tolerance_ms = interval_ms * u64::from(rule.limit.max(1) - 1);
        let mut redis = self.redis.clone();
        let result: redis::RedisResult<(i64, i64)> = GCRA_MANY
            .key(format!("{}:{name}:{key}", self.prefix))
            .arg(interval_ms)
            .arg(tolerance_ms)
            .arg(wanted)
            .invoke_async(&mut redis)
            .await;
        match result {
            Ok((0, wait_ms)) => (0, Some(Duration::from_millis(wait_ms.max(1) as u64))),
            Ok((taken, _)) => (taken.clamp(0, i64::from(wanted)) as u32, None),
            Err(error) => {
                tracing::warn!(%error, bucket = name, "rate limiter unavailable; allowing");
                (wanted, None)
            }
        }
    }

    /// Takes back one request that [`RateLimiter::check`] counted, for
    /// limits on failures only: count before trying (so concurrent tries
    /// cannot overshoot), refund when the try succeeded.
    pub async fn refund(&self, name: &str, key: &str, rule: Rule) {
        self.refund_many(name, key, rule, 1).await;
    }

    /// Takes back `cells` requests (a batch's items that wrote nothing new).
    pub async fn refund_many(&self, name: &str, key: &str, rule: Rule, cells: u32) {
        if cells == 0 {
            return;
        }
        let mut redis = self.redis.clone();
        let result: redis::RedisResult<i64> = REFUND
            .key(format!("{}:{name}:{key}", self.prefix))
            .arg(interval_ms(rule))
            .arg(cells)
            .invoke_async(&mut redis)
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, bucket = name, "rate limiter unavailable; refund lost");
        }
    }
}

/// One request's share of the period.
fn interval_ms(rule: Rule) -> u64 {
    (rule.period_seconds * 1000 / u64::from(rule.limit.max(1))).max(1)
}
