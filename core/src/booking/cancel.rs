//! Cancelling bookings — by their owner under the event's policy, or all of
//! an event's by its organizer with full refunds — and paying refunds back.
//! Both go through `cancel_in`, the one code path.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::BookingError;
use super::payments::{PaymentError, PaymentProvider, RefundRequest};
use super::policy;
use crate::jobs::{self, Enqueued, Job, queues};
use crate::tickets;

/// Pays a refund back through the provider, then emails the person.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcessRefund {
    /// `refunds.id`
    pub refund_id: Uuid,
}

/// Attempts of the jobs that move money back: a provider outage must not
/// kill them within seconds. 25 attempts under the `[jobs]` backoff span
/// about an hour; past that the refund sweep (`redrive`) starts a new job.
pub const MONEY_ATTEMPTS: i32 = 25;

impl Job for ProcessRefund {
    const KIND: &'static str = "process_refund";
    const QUEUE: &'static str = queues::REFUNDS;
    const MAX_ATTEMPTS: i32 = MONEY_ATTEMPTS;
}

/// Cancels every confirmed booking of a cancelled event, in batches.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CancelEventBookings {
    /// `events.id`
    pub event_id: Uuid,
}

impl Job for CancelEventBookings {
    const KIND: &'static str = "cancel_event_bookings";
    const QUEUE: &'static str = queues::REFUNDS;
    const MAX_ATTEMPTS: i32 = MONEY_ATTEMPTS;
}

/// A refund as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refund {
    /// Id.
    pub id: Uuid,
    /// Minor units.
    pub amount_cents: i32,
    /// pending, then refunded (or refused by the provider for good).
    pub status: String,
    /// The cancelled booking's event (its availability changed).
    pub event_id: Uuid,
}

/// How much to refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundRule {
    /// The event's policy, now (a person cancelling).
    Policy,
    /// Everything (the organizer cancelled the event).
    Full,
}

/// The owner cancels a booking: 404 for anyone else's, 409 if already
/// cancelled, 422 with the reason when the policy forbids it. Returns the
/// refund and the jobs to dispatch: the refund's, and the waitlist's
/// promotion when people wait for the freed seats.
///
/// With `expected_refund` (the figure a person confirmed), a refund that
/// came out different (a policy tier passed meanwhile) is 409 and nothing
/// changes: nobody gets less than they agreed to without seeing it.
pub async fn cancel(
    pool: &PgPool,
    user: Uuid,
    booking: Uuid,
    reason: Option<&str>,
    expected_refund: Option<i32>,
) -> Result<(Refund, Vec<Enqueued>), BookingError> {
    let mut tx = pool.begin().await?;
    let owner = sqlx::query_scalar!(
        "SELECT user_id FROM bookings WHERE id = $1 FOR UPDATE",
        booking,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if owner != Some(user) {
        return Err(BookingError::NotFound("no such booking"));
    }
    let (refund, job) = cancel_in(&mut tx, booking, RefundRule::Policy, reason).await?;
    if let Some(expected) = expected_refund.filter(|e| *e != refund.amount_cents) {
        return Err(BookingError::Conflict(format!(
            "the refund is now {} (minor units), not the {expected} you confirmed; review it again",
            refund.amount_cents
        )));
    }
    let mut jobs = vec![job];
    jobs.extend(crate::waitlist::inventory_freed(&mut tx, refund.event_id).await?);
    tx.commit().await?;
    Ok((refund, jobs))
}

/// A booking's refund as its owner sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RefundSummary {
    /// Paid back, in minor units.
    pub amount_cents: i32,
    /// `pending` until the provider paid it, then `refunded`.
    pub status: String,
}

/// The refund of `booking`, once it was cancelled.
pub async fn refund_of(pool: &PgPool, booking: Uuid) -> Result<Option<RefundSummary>, sqlx::Error> {
    sqlx::query_as!(
        RefundSummary,
        "SELECT amount_cents, status FROM refunds WHERE booking_id = $1",
        booking
    )
    .fetch_optional(pool)
    .await
}

/// What cancelling `booking` would refund now, for its owner to confirm:
/// the same rules as [`cancel`], read without changing anything. 404 for
/// anyone else's booking, 409 when cancelled or checked in, 422 with the
/// reason when the policy forbids it.
pub async fn quote(pool: &PgPool, user: Uuid, booking: Uuid) -> Result<i32, BookingError> {
    let row = sqlx::query!(
        r#"SELECT b.user_id, b.status, b.total_cents, e.starts_at, e.id AS event_id,
                e.status = 'cancelled' AS "event_cancelled!",
                (SELECT count(*) FROM tickets t WHERE t.booking_id = b.id AND t.status = 'used') AS "used!"
         FROM bookings b JOIN events e ON e.id = b.event_id WHERE b.id = $1"#,
        booking,
    )
    .fetch_optional(pool)
    .await?
    .filter(|r| r.user_id == user)
    .ok_or(BookingError::NotFound("no such booking"))?;
    if row.status == "cancelled" {
        return Err(BookingError::Conflict(
            "this booking is already cancelled".to_owned(),
        ));
    }
    if row.event_cancelled {
        return Ok(row.total_cents);
    }
    if row.used > 0 {
        return Err(BookingError::Conflict(format!(
            "{} of this booking's tickets were already checked in; it can no longer be cancelled",
            row.used
        )));
    }
    policy::get(pool, row.event_id)
        .await?
        .refund(row.total_cents, row.starts_at, Utc::now())
        .map_err(|why| BookingError::Invalid(vec![crate::auth::Invalid::new("booking", why)]))
}

/// Cancels `booking` (locked by the caller's transaction): seats and units
/// go back on sale in the same transaction, the refund is written and its
/// job put in the outbox.
pub async fn cancel_in(
    conn: &mut PgConnection,
    booking: Uuid,
    rule: RefundRule,
    reason: Option<&str>,
) -> Result<(Refund, Enqueued), BookingError> {
    let row = sqlx::query!(
        "SELECT status, hold_id, event_id, total_cents, currency FROM bookings WHERE id = $1 FOR UPDATE",
        booking,
    )
    .fetch_one(&mut *conn)
    .await?;
    let (hold, event, total_cents) = (row.hold_id, row.event_id, row.total_cents);
    if row.status == "cancelled" {
        return Err(BookingError::Conflict(
            "this booking is already cancelled".to_owned(),
        ));
    }
    // Read under a share lock until commit: the organizer's cancel locks
    // the row FOR UPDATE, so either it committed first and this cancel sees
    // `cancelled`, or it waits for this one. Without the lock a person's
    // cancel could read `published`, commit a policy refund after the
    // event was called off, and the event's job would skip the booking.
    let event_row = sqlx::query!(
        r#"SELECT status = 'cancelled' AS "cancelled!", starts_at FROM events WHERE id = $1 FOR SHARE"#,
        event,
    )
    .fetch_one(&mut *conn)
    .await?;
    let starts_at = event_row.starts_at;
    // Once the organizer has called the event off, everyone gets it all back.
    let rule = if event_row.cancelled {
        RefundRule::Full
    } else {
        rule
    };
    let amount_cents = match rule {
        RefundRule::Full => total_cents,
        RefundRule::Policy => {
            let policy = policy::get(&mut *conn, event).await?;
            policy
                .refund(total_cents, starts_at, Utc::now())
                .map_err(|why| {
                    BookingError::Invalid(vec![crate::auth::Invalid::new("booking", why)])
                })?
        }
    };
    sqlx::query!(
        "UPDATE bookings SET status = 'cancelled', cancelled_at = now(), cancel_reason = $2 WHERE id = $1",
        booking,
        reason,
    )
    .execute(&mut *conn)
    .await?;
    // Somebody came in on it: a refund under the policy would sell the seat
    // a second time. (The organizer calling the event off refunds all.)
    let used = tickets::lock_booking(&mut *conn, booking).await?;
    if used > 0 && rule == RefundRule::Policy {
        return Err(BookingError::Conflict(format!(
            "{used} of this booking's tickets were already checked in; it can no longer be cancelled"
        )));
    }
    // Its tickets scan `revoked` from the moment this commits.
    let why = match rule {
        RefundRule::Policy => "booking_cancelled",
        RefundRule::Full => "event_cancelled",
    };
    tickets::revoke(&mut *conn, tickets::Revoke::Booking(booking), why).await?;
    sqlx::query!(
        "UPDATE event_seats SET status = 'available', hold_id = NULL, held_until = NULL WHERE hold_id = $1 AND status = 'sold'",
        hold,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE ticket_types t SET sold = t.sold - i.quantity
         FROM hold_items i WHERE i.hold_id = $1 AND i.ticket_type_id = t.id",
        hold,
    )
    .execute(&mut *conn)
    .await?;
    let refund = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO refunds (id, booking_id, amount_cents, currency, status) VALUES ($1, $2, $3, $4, 'pending')",
        refund,
        booking,
        amount_cents,
        row.currency,
    )
    .execute(&mut *conn)
    .await?;
    let job = jobs::enqueue(&mut *conn, &ProcessRefund { refund_id: refund }).await?;
    Ok((
        Refund {
            id: refund,
            amount_cents,
            status: "pending".to_owned(),
            event_id: event,
        },
        job,
    ))
}

/// What `process_refund` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Paid back now; email the person.
    Refunded,
    /// Paid back earlier (a job run twice): nothing more to do.
    AlreadyDone,
}

/// Pays the refund back once: the provider's idempotency key is the refund
/// id, and the row moves `pending -> refunded` only once.
pub async fn process_refund(
    pool: &PgPool,
    provider: &dyn PaymentProvider,
    refund: Uuid,
) -> Result<Processed, BookingError> {
    let row = sqlx::query!(
        "SELECT r.status, r.amount_cents, p.provider_ref FROM refunds r
         JOIN payments p ON p.booking_id = r.booking_id WHERE r.id = $1",
        refund,
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Err(BookingError::NotFound("no such refund"));
    };
    let (amount_cents, charge) = (row.amount_cents, row.provider_ref);
    match row.status.as_str() {
        "refunded" => return Ok(Processed::AlreadyDone),
        "refused" => {
            return Err(BookingError::Conflict(
                "the provider refused this refund".to_owned(),
            ));
        }
        _ => {}
    }
    let provider_ref = if amount_cents > 0 {
        let request = RefundRequest {
            idempotency_key: refund.to_string(),
            charge_id: charge.unwrap_or_default(),
            amount_cents: i64::from(amount_cents),
        };
        match provider.refund(&request).await {
            Ok(id) => Some(id),
            // A refused refund will not pass on retry: an operator looks,
            // and the refund sweep leaves it alone.
            Err(PaymentError::Declined(why)) => {
                sqlx::query!(
                    "UPDATE refunds SET status = 'refused' WHERE id = $1 AND status = 'pending'",
                    refund,
                )
                .execute(pool)
                .await?;
                return Err(BookingError::Conflict(why));
            }
            Err(PaymentError::Unavailable(why)) => {
                return Err(BookingError::ProviderUnavailable(why));
            }
        }
    } else {
        None
    };
    let updated = sqlx::query!(
        "UPDATE refunds SET status = 'refunded', provider_ref = $2, refunded_at = now()
         WHERE id = $1 AND status = 'pending'",
        refund,
        provider_ref,
    )
    .execute(pool)
    .await?;
    Ok(if updated.rows_affected() == 1 {
        Processed::Refunded
    } else {
        Processed::AlreadyDone
    })
}

/// Bookings cancelled per transaction when an event is called off.
const BATCH: i64 = 100;

/// Closes the event's waitlist, then cancels its confirmed bookings with
/// full refunds, `BATCH` per transaction; safe to run again (only open
/// entries and confirmed bookings are touched).
/// Returns the refund jobs to dispatch, batch by batch, through `dispatch`.
pub async fn cancel_event_bookings<F, Fut>(
    pool: &PgPool,
    event: Uuid,
    mut dispatch: F,
) -> Result<u64, BookingError>
where
    F: FnMut(Vec<Enqueued>) -> Fut,
    Fut: Future<Output = ()>,
{
    // The line closes first: offers released, everyone waiting told.
    let closing = crate::waitlist::Closing::Cancelled;
    dispatch(crate::waitlist::close_event(pool, event, closing).await?).await;
    let mut cancelled = 0;
    loop {
        let mut tx = pool.begin().await?;
        let batch = sqlx::query_scalar!(
            "SELECT id FROM bookings WHERE event_id = $1 AND status = 'confirmed'
             ORDER BY id LIMIT $2 FOR UPDATE",
            event,
            BATCH,
        )
        .fetch_all(&mut *tx)
        .await?;
        if batch.is_empty() {
            return Ok(cancelled);
        }
        let mut jobs = Vec::with_capacity(batch.len());
        for booking in &batch {
            let (_, job) = cancel_in(
                &mut tx,
                *booking,
                RefundRule::Full,
                Some("the event was cancelled"),
            )
            .await?;
            jobs.push(job);
        }
        tx.commit().await?;
        cancelled += batch.len() as u64;
        dispatch(jobs).await;
    }
}

/// How far an event's cancellation has got.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CancellationProgress {
    /// Bookings still to cancel.
    pub bookings_confirmed: i64,
    /// Bookings cancelled.
    pub bookings_cancelled: i64,
    /// Refunds waiting to be paid.
    pub refunds_pending: i64,
    /// Refunds paid.
    pub refunds_paid: i64,
}

/// Counts for one event.
pub async fn progress(pool: &PgPool, event: Uuid) -> Result<CancellationProgress, sqlx::Error> {
    sqlx::query_as!(
        CancellationProgress,
        r#"SELECT count(*) FILTER (WHERE b.status = 'confirmed') AS "bookings_confirmed!",
                count(*) FILTER (WHERE b.status = 'cancelled') AS "bookings_cancelled!",
                count(r.id) FILTER (WHERE r.status = 'pending') AS "refunds_pending!",
                count(r.id) FILTER (WHERE r.status = 'refunded') AS "refunds_paid!"
         FROM bookings b LEFT JOIN refunds r ON r.booking_id = b.id WHERE b.event_id = $1"#,
        event,
    )
    .fetch_one(pool)
    .await
}
