//! Payments left `pending`: the API died between the provider's charge and
//! the booking's commit (or before the charge). Checkout writes the pending
//! payment before any money moves, so this finds every such case and
//! settles it against the provider: a charge that went through with no
//! booking is refunded, a charge that never happened is marked failed, and
//! a payment whose booking did commit is marked paid. The refund sweep
//! (`redrive_refunds`) runs it on `scheduler.refund_sweep_cron`.
//!
//! Only payments older than `payments.reconcile_after_seconds` whose hold
//! has expired are touched, under the hold's row lock, which checkout holds
//! from before the charge to its commit: a checkout still running is
//! waited for, and no checkout can book that hold afterwards, so a refunded
//! charge can never turn into a booking.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use super::payments::{PaymentError, PaymentProvider, RefundRequest};

/// What one pass settled.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Charged without a booking: paid back.
    pub refunded: usize,
    /// Never charged: marked failed.
    pub failed: usize,
    /// The booking had committed: marked paid.
    pub paid: usize,
    /// The provider did not answer: left for the next pass.
    pub deferred: usize,
}

/// Settles up to `limit` pending payments older than `older_than`, one
/// transaction each.
pub async fn reconcile_pending(
    pool: &PgPool,
    provider: &dyn PaymentProvider,
    older_than: Duration,
    limit: i64,
) -> Result<Reconciled, sqlx::Error> {
    let candidates = sqlx::query_scalar!(
        "SELECT p.id FROM payments p JOIN holds h ON h.id = p.hold_id
         WHERE p.status = 'pending' AND p.updated_at < now() - make_interval(secs => $1)
           AND h.expires_at < now()
         ORDER BY p.updated_at LIMIT $2",
        older_than.as_secs_f64(),
        limit,
    )
    .fetch_all(pool)
    .await?;
    let mut done = Reconciled::default();
    for payment in candidates {
        let (count, label) = match settle(pool, provider, payment).await? {
            Some(Outcome::Refunded) => (&mut done.refunded, "refunded"),
            Some(Outcome::Failed) => (&mut done.failed, "failed"),
            Some(Outcome::Paid) => (&mut done.paid, "paid"),
            Some(Outcome::Deferred) => (&mut done.deferred, "deferred"),
            None => continue,
        };
        *count += 1;
        // `marquee_payments_reconciled_total{outcome}`
        metrics::counter!("marquee_payments_reconciled_total", "outcome" => label).increment(1);
    }
    Ok(done)
}

enum Outcome {
    Refunded,
    Failed,
    Paid,
    Deferred,
}

/// Settles one payment; `None` if it is no longer pending.
async fn settle(
    pool: &PgPool,
    provider: &dyn PaymentProvider,
    payment: Uuid,
) -> Result<Option<Outcome>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // The hold first, as checkout locks it: lock order hold, then payment.
    let Some(row) = sqlx::query!(
        "SELECT p.hold_id, p.amount_cents FROM payments p
         WHERE p.id = $1 AND p.status = 'pending'",
        payment
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    sqlx::query!("SELECT id FROM holds WHERE id = $1 FOR UPDATE", row.hold_id)
        .fetch_one(&mut *tx)
        .await?;
    let still = sqlx::query!(
        r#"SELECT (SELECT id FROM bookings b WHERE b.hold_id = p.hold_id) AS "booking?"
           FROM payments p WHERE p.id = $1 AND p.status = 'pending' FOR UPDATE"#,
        payment
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(still) = still else {
        return Ok(None);
    };
    if let Some(booking) = still.booking {
        sqlx::query!(
            "UPDATE payments SET status = 'paid', booking_id = $2, reconciled_at = now(),
                    updated_at = now() WHERE id = $1",
            payment,
            booking
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Some(Outcome::Paid));
    }
    let charge = match provider.find_charge(&row.hold_id.to_string()).await {
        Ok(charge) => charge,
        Err(error) => {
            tracing::warn!(payment.id = %payment, %error, "reconciliation deferred");
            return Ok(Some(Outcome::Deferred));
        }
    };
    let Some(charge_id) = charge else {
        sqlx::query!(
            "UPDATE payments SET status = 'failed', reconciled_at = now(), updated_at = now()
             WHERE id = $1",
            payment
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(payment.id = %payment, "pending payment never charged: failed");
        return Ok(Some(Outcome::Failed));
    };
    let refund = RefundRequest {
        idempotency_key: format!("reconcile:{payment}"),
        charge_id: charge_id.clone(),
        amount_cents: i64::from(row.amount_cents),
    };
    let refund_ref = match provider.refund(&refund).await {
        Ok(reference) => reference,
        Err(PaymentError::Declined(why) | PaymentError::Unavailable(why)) => {
            tracing::warn!(payment.id = %payment, why, "reconciliation refund deferred");
            return Ok(Some(Outcome::Deferred));
        }
    };
    sqlx::query!(
        "UPDATE payments SET status = 'refunded', provider_ref = $2, refund_ref = $3,
                reconciled_at = now(), updated_at = now()
         WHERE id = $1",
        payment,
        charge_id,
        refund_ref,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::warn!(payment.id = %payment, "charged without a booking: refunded");
    Ok(Some(Outcome::Refunded))
}
