//! The refund sweep: money that should move back but has no job left to
//! move it. A `process_refund` or `cancel_event_bookings` job gets many
//! attempts (`cancel::MONEY_ATTEMPTS`), but a provider or database outage
//! can outlast them; the job is then dead, the refund stays `pending`, and
//! nobody can cancel again (the booking or event is already cancelled). The
//! scheduler enqueues [`RedriveRefunds`] on `scheduler.refund_sweep_cron`
//! and its handler calls [`redrive`].

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::cancel::{CancelEventBookings, ProcessRefund};
use crate::jobs::{self, Enqueued, Job, queues};

/// One pass of the refund sweep.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RedriveRefunds {}

impl Job for RedriveRefunds {
    const KIND: &'static str = "redrive_refunds";
    const QUEUE: &'static str = queues::REFUNDS;
}

/// Key of the transaction-scoped advisory lock that lets one sweep run at a
/// time: a second sweep in parallel would not see the first's new jobs yet
/// and would enqueue its own (two refund jobs, two emails).
const SWEEP_LOCK: i64 = 0x6d71_7265_6472_7631; // "mqredrv1"

/// Enqueues, in one transaction, a new `process_refund` for every pending
/// refund without a live job (its job died, or never existed), and a new
/// `cancel_event_bookings` for every cancelled event that still has
/// confirmed bookings and no live job; at most `limit` of each, the next
/// pass takes the rest. Refunds the provider refused are not pending, so
/// they are left to an operator. Safe to run any time: a live job is never
/// doubled, and both jobs are idempotent (the provider call is keyed by the
/// refund id). Returns the jobs to dispatch after it returns.
pub async fn redrive(pool: &PgPool, limit: i64) -> Result<Vec<Enqueued>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let ours = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock($1) AS "ours!""#,
        SWEEP_LOCK,
    )
    .fetch_one(&mut *tx)
    .await?;
    if !ours {
        return Ok(Vec::new());
    }
    let refunds = sqlx::query_scalar!(
        "SELECT r.id FROM refunds r
         WHERE r.status = 'pending'
           AND NOT EXISTS (
               SELECT 1 FROM jobs j
               WHERE j.kind = 'process_refund' AND (j.payload->>'refund_id') = r.id::text
                 AND j.status IN ('queued', 'dispatched', 'running', 'retrying'))
         ORDER BY r.created_at
         LIMIT $1",
        limit,
    )
    .fetch_all(&mut *tx)
    .await?;
    let events = sqlx::query_scalar!(
        "SELECT e.id FROM events e
         WHERE e.status = 'cancelled'
           AND EXISTS (SELECT 1 FROM bookings b WHERE b.event_id = e.id AND b.status = 'confirmed')
           AND NOT EXISTS (
               SELECT 1 FROM jobs j
               WHERE j.kind = 'cancel_event_bookings' AND (j.payload->>'event_id') = e.id::text
                 AND j.status IN ('queued', 'dispatched', 'running', 'retrying'))
         ORDER BY e.id
         LIMIT $1",
        limit,
    )
    .fetch_all(&mut *tx)
    .await?;
    let refund_jobs: Vec<ProcessRefund> = refunds
        .iter()
        .map(|&refund_id| ProcessRefund { refund_id })
        .collect();
    let event_jobs: Vec<CancelEventBookings> = events
        .iter()
        .map(|&event_id| CancelEventBookings { event_id })
        .collect();
    if refund_jobs.is_empty() && event_jobs.is_empty() {
        return Ok(Vec::new());
    }
    let mut enqueued = jobs::enqueue_many(&mut tx, &refund_jobs).await?;
    enqueued.extend(jobs::enqueue_many(&mut tx, &event_jobs).await?);
    tx.commit().await?;
    tracing::warn!(
        refunds = refunds.len(),
        events = events.len(),
        "re-drove refunds and event cancellations whose jobs had died"
    );
    Ok(enqueued)
}
