//! Job totals per queue from the ledger, for operators.

use serde::Serialize;
use sqlx::PgPool;

/// One queue's jobs by outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueTotals {
    /// Queue name.
    pub queue: String,
    /// Finished: succeeded or dead.
    pub executed: i64,
    /// Succeeded.
    pub succeeded: i64,
    /// Dead (failed for good).
    pub failed: i64,
    /// Waiting for another attempt.
    pub retrying: i64,
    /// Queued, dispatched or running.
    pub pending: i64,
}

/// Every queue's totals. This scans the whole ledger: callers cache the
/// answer (the API for `http.metrics_cache_seconds`) and keep it away from
/// anonymous callers.
pub async fn totals(pool: &PgPool) -> Result<Vec<QueueTotals>, sqlx::Error> {
    sqlx::query_as!(
        QueueTotals,
        r#"SELECT queue,
                count(*) FILTER (WHERE status IN ('succeeded', 'dead')) AS "executed!",
                count(*) FILTER (WHERE status = 'succeeded') AS "succeeded!",
                count(*) FILTER (WHERE status = 'dead') AS "failed!",
                count(*) FILTER (WHERE status = 'retrying') AS "retrying!",
                count(*) FILTER (WHERE status IN ('queued', 'dispatched', 'running')) AS "pending!"
         FROM jobs GROUP BY queue ORDER BY queue"#,
    )
    .fetch_all(pool)
    .await
}
