//! Processed and failed attempts per queue over time, from the counters the
//! workers keep as they finish jobs (never from counting the ledger).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// Minute buckets are kept this long.
pub const MINUTES_KEPT_HOURS: i64 = 48;
/// Day buckets are kept this long.
pub const DAYS_KEPT: i64 = 90;

/// Bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Per minute, for the last 48 hours.
    Minute,
    /// Per UTC day, for the last 90 days.
    Day,
}

/// One bucket of one queue; buckets without work are present with zeros.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Queue.
    pub queue: String,
    /// Start of the bucket.
    pub at: DateTime<Utc>,
    /// Attempts finished.
    pub processed: i64,
    /// Of those, failed.
    pub failed: i64,
}

/// Buckets from `from` to `to` (both rounded down to the resolution) for
/// each of `queues`, oldest first.
pub async fn series(
    pool: &PgPool,
    queues: &[String],
    resolution: Resolution,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Point>, sqlx::Error> {
    match resolution {
        Resolution::Minute => {
            sqlx::query_as!(
                Point,
                r#"SELECT q.queue AS "queue!", b.at AS "at!",
                        COALESCE(sum(m.processed), 0)::int8 AS "processed!",
                        COALESCE(sum(m.failed), 0)::int8 AS "failed!"
                 FROM unnest($1::text[]) AS q(queue)
                 CROSS JOIN generate_series(date_trunc('minute', $2::timestamptz),
                                            date_trunc('minute', $3::timestamptz),
                                            interval '1 minute') AS b(at)
                 LEFT JOIN queue_minutes m ON m.queue = q.queue AND m.minute = b.at
                 GROUP BY 1, 2 ORDER BY 1, 2"#,
                queues,
                from,
                to,
            )
            .fetch_all(pool)
            .await
        }
        Resolution::Day => {
            sqlx::query_as!(
                Point,
                r#"SELECT q.queue AS "queue!", (b.day AT TIME ZONE 'UTC') AS "at!",
                        COALESCE(sum(d.processed), 0)::int8 AS "processed!",
                        COALESCE(sum(d.failed), 0)::int8 AS "failed!"
                 FROM unnest($1::text[]) AS q(queue)
                 CROSS JOIN generate_series(($2::timestamptz AT TIME ZONE 'UTC')::date::timestamp,
                                            ($3::timestamptz AT TIME ZONE 'UTC')::date::timestamp,
                                            interval '1 day') AS b(day)
                 LEFT JOIN queue_days d ON d.queue = q.queue AND d.day = b.day::date
                 GROUP BY 1, 2 ORDER BY 1, 2"#,
                queues,
                from,
                to,
            )
            .fetch_all(pool)
            .await
        }
    }
}
