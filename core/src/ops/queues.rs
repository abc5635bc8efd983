//! Queues as operators see them: counts by state, latency, recent
//! throughput, and the pause switch every worker process obeys.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

/// One queue now.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueOverview {
    /// Queue name.
    pub name: String,
    /// Whether workers are held off it.
    pub paused: bool,
    /// Since when, if paused.
    pub paused_at: Option<DateTime<Utc>>,
    /// Due, waiting for a worker.
    pub ready: i64,
    /// Waiting for their time.
    pub scheduled: i64,
    /// On a worker now.
    pub running: i64,
    /// Failed, next attempt scheduled.
    pub retrying: i64,
    /// Failed for good.
    pub dead: i64,
    /// Age of the oldest ready job, in seconds (0 when none waits).
    pub latency_seconds: f64,
    /// Attempts finished in the last minute / hour / day.
    pub processed: Window,
    /// Of those, failed.
    pub failed: Window,
}

/// Counts over rolling windows, at minute resolution: each window holds the
/// current minute and the whole minutes before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Current and previous minute.
    pub minute: i64,
    /// The last 60 minutes and the current one.
    pub hour: i64,
    /// The last 1,440 minutes and the current one.
    pub day: i64,
}

/// Jobs of one queue in one ledger status, due now and not yet.
struct StateCount {
    queue: String,
    status: String,
    due: i64,
    later: i64,
}

struct Latency {
    queue: String,
    seconds: f64,
}

struct Recent {
    queue: String,
    processed_minute: i64,
    processed_hour: i64,
    processed_day: i64,
    failed_minute: i64,
    failed_hour: i64,
    failed_day: i64,
}

struct Pause {
    queue: String,
    paused_at: DateTime<Utc>,
}

/// Every queue in `queues`, in that order. Four index-bound queries: the
/// counts read only jobs not yet succeeded (`jobs_open_idx`), latency the
/// oldest waiting job per queue, throughput the minute counters.
pub async fn overview(pool: &PgPool, queues: &[String]) -> Result<Vec<QueueOverview>, sqlx::Error> {
    // The counts and the runs taken off them come from one snapshot, or a
    // job claimed in between would be taken off without being counted.
    let mut snapshot = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *snapshot)
        .await?;
    // One index-only count per queue and status rather than one grouping
    // of every open job: half the time with 180,000 open jobs.
    let counts = sqlx::query_as!(
        StateCount,
        r#"SELECT q.queue AS "queue!", st.status AS "status!", c.due AS "due!", c.later AS "later!"
         FROM unnest($1::text[]) AS q(queue)
         CROSS JOIN unnest(ARRAY['queued', 'dispatched', 'running', 'retrying', 'dead']) AS st(status)
         CROSS JOIN LATERAL (
             SELECT count(*) FILTER (WHERE run_at IS NULL OR run_at <= now()) AS due,
                    count(*) FILTER (WHERE run_at > now()) AS later
             FROM jobs
             WHERE jobs.queue = q.queue AND jobs.status = st.status
               AND jobs.status NOT IN ('succeeded', 'cancelled')) AS c"#,
        queues,
    )
    .fetch_all(&mut *snapshot)
    .await?;
    // Jobs running now keep their waiting status in the ledger and have a
    // run (`job_runs`, a few rows per worker): counted there, and taken off
    // the status they keep.
    let runs = sqlx::query_as!(
        StateCount,
        r#"SELECT j.queue AS "queue!", j.status AS "status!",
                count(*) FILTER (WHERE j.run_at IS NULL OR j.run_at <= now()) AS "due!",
                count(*) FILTER (WHERE j.run_at > now()) AS "later!"
         FROM job_runs r JOIN jobs j ON j.id = r.job_id
         WHERE j.queue = ANY($1) AND j.status IN ('queued', 'dispatched', 'retrying')
         GROUP BY j.queue, j.status"#,
        queues,
    )
    .fetch_all(&mut *snapshot)
    .await?;
    snapshot.commit().await?;
    let latencies = latencies(pool, queues).await?;
    let recent = sqlx::query_as!(
        Recent,
        r#"SELECT queue,
                COALESCE(sum(processed) FILTER (WHERE minute >= date_trunc('minute', now()) - interval '1 minute'), 0)::int8 AS "processed_minute!",
                COALESCE(sum(processed) FILTER (WHERE minute >= date_trunc('minute', now()) - interval '60 minutes'), 0)::int8 AS "processed_hour!",
                COALESCE(sum(processed), 0)::int8 AS "processed_day!",
                COALESCE(sum(failed) FILTER (WHERE minute >= date_trunc('minute', now()) - interval '1 minute'), 0)::int8 AS "failed_minute!",
                COALESCE(sum(failed) FILTER (WHERE minute >= date_trunc('minute', now()) - interval '60 minutes'), 0)::int8 AS "failed_hour!",
                COALESCE(sum(failed), 0)::int8 AS "failed_day!"
         FROM queue_minutes
         WHERE queue = ANY($1) AND minute >= date_trunc('minute', now()) - interval '1440 minutes'
         GROUP BY queue"#,
        queues,
    )
    .fetch_all(pool)
    .await?;
    let pauses = paused(pool).await?;
    Ok(queues
        .iter()
        .map(|name| {
            let sum = |rows: &[StateCount], statuses: &[&str], due: bool, later: bool| -> i64 {
                rows.iter()
                    .filter(|c| &c.queue == name && statuses.contains(&c.status.as_str()))
                    .map(|c| if due { c.due } else { 0 } + if later { c.later } else { 0 })
                    .sum()
            };
            let of = |statuses: &[&str], due: bool, later: bool| -> i64 {
                sum(&counts, statuses, due, later) - sum(&runs, statuses, due, later)
            };
            let run_statuses = ["queued", "dispatched", "retrying"];
            let waiting = ["queued", "dispatched"];
            let recent = recent.iter().find(|r| &r.queue == name);
            let pause = pauses.iter().find(|p| &p.queue == name);
            QueueOverview {
                name: name.clone(),
                paused: pause.is_some(),
                paused_at: pause.map(|p| p.paused_at),
                ready: of(&waiting, true, false),
                scheduled: of(&waiting, false, true),
                running: of(&["running"], true, true) + sum(&runs, &run_statuses, true, true),
                retrying: of(&["retrying"], true, true),
                dead: of(&["dead"], true, true),
                latency_seconds: latencies
                    .iter()
                    .find(|(queue, _)| queue == name)
                    .map_or(0.0, |(_, seconds)| *seconds),
                processed: recent.map_or_else(Window::default, |r| Window {
                    minute: r.processed_minute,
                    hour: r.processed_hour,
                    day: r.processed_day,
                }),
                failed: recent.map_or_else(Window::default, |r| Window {
                    minute: r.failed_minute,
                    hour: r.failed_hour,
                    day: r.failed_day,
                }),
            }
        })
        .collect())
}

/// Age in seconds of the oldest ready job of each queue (0 when none
/// waits): one index probe per queue (`jobs_waiting_idx`).
pub async fn latencies(
    pool: &PgPool,
    queues: &[String],
) -> Result<Vec<(String, f64)>, sqlx::Error> {
    let rows = sqlx::query_as!(
        Latency,
        r#"SELECT q.queue AS "queue!",
                COALESCE(extract(epoch FROM now() - oldest.since)::float8, 0) AS "seconds!"
         FROM unnest($1::text[]) AS q(queue)
         LEFT JOIN LATERAL (
             SELECT COALESCE(run_at, created_at) AS since FROM jobs
             WHERE jobs.queue = q.queue AND status IN ('queued', 'dispatched')
               AND (run_at IS NULL OR run_at <= now())
               AND NOT EXISTS (SELECT 1 FROM job_runs r WHERE r.job_id = jobs.id)
             ORDER BY id LIMIT 1) AS oldest ON true"#,
        queues,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.queue, row.seconds.max(0.0)))
        .collect())
}

async fn paused(db: impl PgExecutor<'_>) -> Result<Vec<Pause>, sqlx::Error> {
    sqlx::query_as!(Pause, "SELECT queue, paused_at FROM queue_pauses")
        .fetch_all(db)
        .await
}

/// Names of the paused queues; workers poll this.
pub async fn paused_names(db: impl PgExecutor<'_>) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT queue FROM queue_pauses")
        .fetch_all(db)
        .await
}

/// Pauses `queue`; returns whether it was running before.
pub async fn pause(conn: &mut PgConnection, queue: &str, by: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "INSERT INTO queue_pauses (queue, paused_by) VALUES ($1, $2) ON CONFLICT (queue) DO NOTHING",
        queue,
        by,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Resumes `queue`; returns whether it was paused before.
pub async fn resume(conn: &mut PgConnection, queue: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!("DELETE FROM queue_pauses WHERE queue = $1", queue)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
