//! Retention: the ledger, history, registry and audit stay bounded however
//! long Marquee runs. Each batch is its own short transaction that takes
//! only rows nobody holds (SKIP LOCKED), so workers are never locked out.
//! Ledger rows go only after their Redis data was pruned, so nothing in
//! Redis is left without a row that would clean it up.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;

use super::actions::delete;
use super::history::{DAYS_KEPT, MINUTES_KEPT_HOURS};
use crate::config::JobSettings;

/// Gone workers stay listed this long.
pub const WORKERS_GONE_KEPT: Duration = Duration::from_secs(3_600);

/// What a pass keeps.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Succeeded and cancelled jobs, in days.
    pub succeeded_days: i32,
    /// Dead jobs, in days.
    pub dead_days: i32,
    /// Dead jobs at most; the oldest go first.
    pub max_dead: i64,
    /// Audit entries, in days.
    pub audit_days: i32,
    /// Rows per batch.
    pub batch: i64,
    /// Batches per table and pass at most (the next pass goes on).
    pub max_batches: usize,
}

impl Policy {
    /// From `[jobs]`.
    pub fn from_settings(jobs: &JobSettings) -> Self {
        Self {
            succeeded_days: jobs.retain_succeeded_days,
            dead_days: jobs.retain_dead_days,
            max_dead: jobs.max_dead_jobs,
            audit_days: jobs.retain_audit_days,
            batch: jobs.retention_batch,
            max_batches: 200,
        }
    }
}

/// Rows one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Succeeded and cancelled jobs past their age.
    pub finished: u64,
    /// Dead jobs past their age.
    pub dead_aged: u64,
    /// Dead jobs over the cap.
    pub dead_capped: u64,
    /// History buckets, workers and audit entries past their age.
    pub other: u64,
}

/// One retention pass.
pub async fn pass(pool: &PgPool, policy: &Policy) -> Result<Report, sqlx::Error> {
    let mut report = Report::default();
    for _ in 0..policy.max_batches {
        let n = delete_batch(pool, policy, Batch::Finished).await?;
        report.finished += n;
        if n < policy.batch as u64 {
            break;
        }
    }
    for _ in 0..policy.max_batches {
        let n = delete_batch(pool, policy, Batch::DeadAged).await?;
        report.dead_aged += n;
        if n < policy.batch as u64 {
            break;
        }
    }
    for _ in 0..policy.max_batches {
        let dead =
            sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM jobs WHERE status = 'dead'"#)
                .fetch_one(pool)
                .await?;
        let excess = (dead - policy.max_dead).min(policy.batch);
        if excess <= 0 {
            break;
        }
        let n = delete_batch(
            pool,
            &Policy {
                batch: excess,
                ..*policy
            },
            Batch::DeadOldest,
        )
        .await?;
        report.dead_capped += n;
        if n == 0 {
            break;
        }
    }
    report.other += sqlx::query!(
        "DELETE FROM queue_minutes WHERE minute < now() - make_interval(hours => $1)",
        MINUTES_KEPT_HOURS as i32,
    )
    .execute(pool)
    .await?
    .rows_affected();
    report.other += sqlx::query!(
        "DELETE FROM queue_days WHERE day < (now() AT TIME ZONE 'UTC')::date - $1::int",
        DAYS_KEPT as i32,
    )
    .execute(pool)
    .await?
    .rows_affected();
    report.other += sqlx::query!(
        "DELETE FROM workers WHERE COALESCE(stopped_at, expires_at) < now() - make_interval(secs => $1)",
        WORKERS_GONE_KEPT.as_secs_f64(),
    )
    .execute(pool)
    .await?
    .rows_affected();
    report.other += sqlx::query!(
        "DELETE FROM ops_audit WHERE at < now() - make_interval(days => $1)",
        policy.audit_days,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(report)
}

#[derive(Clone, Copy)]
enum Batch {
    Finished,
    DeadAged,
    DeadOldest,
}

async fn delete_batch(pool: &PgPool, policy: &Policy, batch: Batch) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let ids = match batch {
        Batch::Finished => {
            sqlx::query_scalar!(
                "SELECT id FROM jobs
                 WHERE status IN ('succeeded', 'cancelled') AND pruned_at IS NOT NULL
                   AND pruned_at < now() - make_interval(days => $1)
                 LIMIT $2 FOR UPDATE SKIP LOCKED",
                policy.succeeded_days,
                policy.batch,
            )
            .fetch_all(&mut *tx)
            .await?
        }
        Batch::DeadAged => {
            sqlx::query_scalar!(
                "SELECT id FROM jobs
                 WHERE status = 'dead' AND finished_at < now() - make_interval(days => $1)
                   AND pruned_at IS NOT NULL
                 ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                policy.dead_days,
                policy.batch,
            )
            .fetch_all(&mut *tx)
            .await?
        }
        Batch::DeadOldest => {
            sqlx::query_scalar!(
                "SELECT id FROM jobs WHERE status = 'dead' AND pruned_at IS NOT NULL
                 ORDER BY finished_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                policy.batch,
            )
            .fetch_all(&mut *tx)
            .await?
        }
    };
    if ids.is_empty() {
        return Ok(0);
    }
    let statuses: &[&str] = match batch {
        Batch::Finished => &["succeeded", "cancelled"],
        Batch::DeadAged | Batch::DeadOldest => &["dead"],
    };
    let gone = delete(&mut tx, &ids, statuses).await?;
    tx.commit().await?;
    Ok(gone.len() as u64)
}
