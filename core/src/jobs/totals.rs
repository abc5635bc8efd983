//! Job totals per queue for operators, from counters and small indexes:
//! cheap at any ledger size.

use serde::Serialize;
use sqlx::PgPool;

/// One queue's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueTotals {
    /// Queue name.
    pub queue: String,
    /// Attempts finished in the last 90 days (the history's span).
    pub executed: i64,
    /// Of those, succeeded.
    pub succeeded: i64,
    /// Of those, failed (retried or dead).
    pub failed: i64,
    /// Jobs waiting for another attempt now.
    pub retrying: i64,
    /// Jobs queued, dispatched or running now.
    pub pending: i64,
}

/// Every queue's totals: the day counters the workers keep, and the count
/// of unfinished jobs (`jobs_open_idx`, which leaves out succeeded ones).
pub async fn totals(pool: &PgPool) -> Result<Vec<QueueTotals>, sqlx::Error> {
    sqlx::query_as!(
        QueueTotals,
        r#"WITH finished AS (
               SELECT queue, sum(processed)::int8 AS processed, sum(failed)::int8 AS failed
               FROM queue_days GROUP BY queue
           ), open AS (
               SELECT queue,
                      count(*) FILTER (WHERE status = 'retrying') AS retrying,
                      count(*) FILTER (WHERE status IN ('queued', 'dispatched', 'running')) AS pending
               FROM jobs WHERE status NOT IN ('succeeded', 'cancelled') GROUP BY queue
           ), running_retries AS (
               -- A retry running now is pending, not retrying (see `job_runs`).
               SELECT j.queue, count(*) AS n
               FROM job_runs r JOIN jobs j ON j.id = r.job_id
               WHERE j.status = 'retrying' GROUP BY j.queue
           )
           SELECT queue AS "queue!",
                  COALESCE(f.processed, 0) AS "executed!",
                  COALESCE(f.processed - f.failed, 0) AS "succeeded!",
                  COALESCE(f.failed, 0) AS "failed!",
                  COALESCE(o.retrying - COALESCE(rr.n, 0), 0) AS "retrying!",
                  COALESCE(o.pending + COALESCE(rr.n, 0), 0) AS "pending!"
           FROM finished f FULL JOIN open o USING (queue) LEFT JOIN running_retries rr USING (queue)
           ORDER BY queue"#,
    )
    .fetch_all(pool)
    .await
}
