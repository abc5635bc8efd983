//! The worker registry: every worker process writes its own row at start,
//! heartbeats into it, and marks it stopped on a clean exit. A row whose
//! heartbeat lapsed is a worker that is gone (killed, or its host lost).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};

/// What a worker process says about itself at start.
#[derive(Debug, Clone)]
pub struct WorkerInfo {
    /// Unique process name.
    pub name: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i32,
    /// Marquee version.
    pub version: String,
    /// Queues it consumes.
    pub queues: Vec<String>,
    /// Jobs in flight per queue at most.
    pub concurrency: i32,
}

/// A registered worker.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerRow {
    /// Unique process name.
    pub name: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i32,
    /// Marquee version.
    pub version: String,
    /// Queues it consumes.
    pub queues: Vec<String>,
    /// Jobs in flight per queue at most.
    pub concurrency: i32,
    /// Started at.
    pub started_at: DateTime<Utc>,
    /// Latest heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// Jobs running at the latest heartbeat.
    pub in_flight: i32,
    /// Whether it is live (heartbeating, not stopped).
    pub live: bool,
    /// When it stopped, or when its heartbeat lapsed.
    pub gone_at: Option<DateTime<Utc>>,
}

fn seconds(window: Duration) -> f64 {
    window.as_secs_f64()
}

/// Writes the row of a starting process; it counts as live for `window`.
pub async fn register(
    db: impl PgExecutor<'_>,
    info: &WorkerInfo,
    window: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO workers (name, host, pid, version, queues, concurrency, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
         ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid,
             version = excluded.version, queues = excluded.queues,
             concurrency = excluded.concurrency, started_at = now(), heartbeat_at = now(),
             expires_at = excluded.expires_at, in_flight = 0, stopped_at = NULL",
        info.name,
        info.host,
        info.pid,
        info.version,
        &info.queues,
        info.concurrency,
        seconds(window),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A heartbeat: live for another `window`, with `in_flight` jobs running.
/// Also revives a row a clean-up deleted (a worker cut off for an hour).
pub async fn heartbeat(
    db: impl PgExecutor<'_>,
    info: &WorkerInfo,
    in_flight: i32,
    window: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO workers (name, host, pid, version, queues, concurrency, expires_at, in_flight)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7), $8)
         ON CONFLICT (name) DO UPDATE SET heartbeat_at = now(),
             expires_at = excluded.expires_at, in_flight = excluded.in_flight",
        info.name,
        info.host,
        info.pid,
        info.version,
        &info.queues,
        info.concurrency,
        seconds(window),
        in_flight,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a cleanly stopped process.
pub async fn stopped(db: impl PgExecutor<'_>, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE workers SET stopped_at = now(), in_flight = 0 WHERE name = $1",
        name
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Live workers, then those gone within `gone_within`, newest first.
pub async fn list(pool: &PgPool, gone_within: Duration) -> Result<Vec<WorkerRow>, sqlx::Error> {
    sqlx::query_as!(
        WorkerRow,
        r#"SELECT name, host, pid, version, queues, concurrency, started_at, heartbeat_at,
                in_flight,
                (stopped_at IS NULL AND expires_at > now()) AS "live!",
                CASE WHEN stopped_at IS NOT NULL THEN stopped_at
                     WHEN expires_at <= now() THEN expires_at END AS gone_at
         FROM workers
         WHERE (stopped_at IS NULL AND expires_at > now())
            OR COALESCE(stopped_at, expires_at) > now() - make_interval(secs => $1)
         ORDER BY 10 DESC, started_at DESC"#,
        seconds(gone_within),
    )
    .fetch_all(pool)
    .await
}

/// Live workers per queue, for every queue that has one.
pub async fn live_per_queue(db: impl PgExecutor<'_>) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT q AS "queue!", count(*) AS "workers!"
         FROM workers, unnest(queues) AS q
         WHERE stopped_at IS NULL AND expires_at > now()
         GROUP BY q"#
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.queue, r.workers)).collect())
}
