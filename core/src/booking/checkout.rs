//! Checkout: a hold becomes a paid booking in one transaction.

use sqlx::PgPool;
use uuid::Uuid;

use super::bookings::{self, Booking};
use super::payments::{ChargeRequest, PaymentError, PaymentProvider};
use super::{BookingError, new_reference};
use crate::jobs::{self, Enqueued};
use crate::tickets::IssueTickets;

/// A checkout that has not charged within this long from its start does
/// not charge at all; `payments.reconcile_after_seconds` is at least twice
/// this.
pub const CHARGE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// What to check out.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    /// An active hold of the caller's.
    pub hold_id: Uuid,
    /// The card token.
    pub token: String,
}

/// Sent when a booking is confirmed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SendBookingConfirmation {
    /// `bookings.id`
    pub booking_id: Uuid,
}

impl jobs::Job for SendBookingConfirmation {
    const KIND: &'static str = "send_booking_confirmation";
    const QUEUE: &'static str = jobs::queues::EMAIL;
}

/// Charges the hold's total and, in the same transaction that holds the
/// hold's row lock, turns its seats and units into sold ones, writes the
/// booking and its payment, and puts the confirmation email and the
/// ticket issuing in the outbox.
/// Concurrent checkouts of one hold queue on that lock: one books, the
/// others get 409. The provider's idempotency key is the hold id, so no
/// retry charges twice. Returns the booking and the jobs to dispatch.
pub async fn confirm(
    pool: &PgPool,
    provider: &dyn PaymentProvider,
    user: Uuid,
    request: &CheckoutRequest,
) -> Result<(Booking, Vec<Enqueued>), BookingError> {
    // Leave a trace before any money can move: a `pending` payment, in its
    // own committed statement, so a crash between the charge and the
    // booking can be reconciled. (Nothing is written for a hold that is not
    // the caller's active one.)
    // (`$3::uuid`, `$4::text`: the types the values always had; a bare
    // parameter in a SELECT list would be taken for text.)
    sqlx::query!(
        "INSERT INTO payments (id, hold_id, provider, amount_cents, currency, status)
         SELECT $3::uuid, h.id, $4::text, h.total_cents, h.currency, 'pending' FROM holds h
         WHERE h.id = $1 AND h.user_id = $2 AND h.status = 'active'
         ON CONFLICT (hold_id) DO UPDATE SET status = 'pending', updated_at = now()
         WHERE payments.status IN ('declined', 'failed')",
        request.hold_id,
        user,
        Uuid::now_v7(),
        provider.name(),
    )
    .execute(pool)
    .await?;
    let began = std::time::Instant::now();
    let mut tx = pool.begin().await?;
    // Live by the clock now, not at the transaction's start: this may have
    // waited for the lock behind reconciliation, which settles only
    // expired holds. A payment reconciliation refunded is final too.
    let hold = sqlx::query!(
        r#"SELECT event_id, status, expires_at > clock_timestamp() AS "live!", total_cents, currency,
                  EXISTS (SELECT 1 FROM payments p WHERE p.hold_id = holds.id
                          AND p.status = 'refunded') AS "refunded!"
         FROM holds
         WHERE id = $1 AND user_id = $2 FOR UPDATE"#,
        request.hold_id,
        user,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(hold) = hold else {
        return Err(BookingError::NotFound("no such hold"));
    };
    let (event, total_cents, currency) = (hold.event_id, hold.total_cents, hold.currency);
    match (hold.status.as_str(), hold.live && !hold.refunded) {
        ("confirmed", _) => {
            return Err(BookingError::Conflict(
                "this hold is already booked".to_owned(),
            ));
        }
        ("active", true) => {}
        _ => {
            return Err(BookingError::Gone(
                "this hold expired or was released; hold again".to_owned(),
            ));
        }
    }
    // A cancelled event sells nothing more (its refund job may be done).
    let event_status =
        sqlx::query_scalar!("SELECT status FROM events WHERE id = $1 FOR SHARE", event)
            .fetch_one(&mut *tx)
            .await?;
    if event_status != "published" {
        return Err(BookingError::Conflict(format!(
            "this event is {event_status}; nothing more is sold"
        )));
    }
    let items = super::holds::items_of(&mut *tx, request.hold_id).await?;
    let seats = items.iter().filter(|i| i.seat_id.is_some()).count();
    // Lock the seats this hold still has: a claim that would take one as
    // expired now waits for this transaction, and then finds it sold.
    let still_held = sqlx::query_scalar!(
        "SELECT seat_id FROM event_seats
         WHERE hold_id = $1 AND status = 'held' AND held_until > clock_timestamp()
         ORDER BY seat_id FOR UPDATE",
        request.hold_id,
    )
    .fetch_all(&mut *tx)
    .await?;
    if still_held.len() != seats {
        return Err(BookingError::Gone(
            "this hold expired; hold again".to_owned(),
        ));
    }

    let charge = ChargeRequest {
        idempotency_key: request.hold_id.to_string(),
        token: request.token.clone(),
        amount_cents: i64::from(total_cents),
        currency: currency.clone(),
    };
    // No charge once the checkout is older than CHARGE_DEADLINE (it waited
    // on locks, or PostgreSQL): reconciliation, which starts only well
    // after it, must never find "no charge" and then see one appear.
    if began.elapsed() > CHARGE_DEADLINE {
        return Err(BookingError::ProviderUnavailable(
            "the checkout took too long; nothing was charged, try again".to_owned(),
        ));
    }
    let provider_ref = match provider.charge(&charge).await {
        Ok(reference) => reference,
        Err(PaymentError::Declined(why)) => {
            tx.rollback().await?;
            sqlx::query!(
                "UPDATE payments SET status = 'declined', updated_at = now()
                 WHERE hold_id = $1 AND status = 'pending'",
                request.hold_id,
            )
            .execute(pool)
            .await?;
            return Err(BookingError::PaymentDeclined(why));
        }
        // In doubt: the provider may have charged before failing. The
        // payment stays `pending`: a retry gets the same charge back (same
        // key), or reconciliation settles it.
        Err(PaymentError::Unavailable(why)) => {
            return Err(BookingError::ProviderUnavailable(why));
        }
    };

    let sold = sqlx::query!(
        "UPDATE event_seats SET status = 'sold', held_until = NULL WHERE hold_id = $1 AND status = 'held'",
        request.hold_id,
    )
    .execute(&mut *tx)
    .await?;
    // Cannot differ while the rows are locked; if it ever does, sell nothing
    // (the pending payment stays for reconciliation).
    if sold.rows_affected() != seats as u64 {
        tracing::error!(hold.id = %request.hold_id, "held seats changed under a lock; booking refused");
        return Err(BookingError::Gone(
            "this hold expired; hold again".to_owned(),
        ));
    }
    sqlx::query!(
        "UPDATE ticket_types t SET held = t.held - i.quantity, sold = t.sold + i.quantity
         FROM hold_items i WHERE i.hold_id = $1 AND i.ticket_type_id = t.id",
        request.hold_id,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE holds SET status = 'confirmed', updated_at = now() WHERE id = $1",
        request.hold_id,
    )
    .execute(&mut *tx)
    .await?;
    // A waitlist offer taken: its entry is converted.
    crate::waitlist::offers_ended(
        &mut tx,
        &[request.hold_id],
        crate::waitlist::Ended::Converted,
    )
    .await?;
    let booking_id = Uuid::now_v7();
    loop {
        let inserted = sqlx::query!(
            "INSERT INTO bookings (id, reference, hold_id, event_id, user_id, status, total_cents, currency)
             VALUES ($1, $2, $3, $4, $5, 'confirmed', $6, $7) ON CONFLICT (reference) DO NOTHING",
            booking_id,
            new_reference(),
            request.hold_id,
            event,
            user,
            total_cents,
            currency,
        )
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            break;
        }
    }
    sqlx::query!(
        "INSERT INTO payments (id, hold_id, booking_id, provider, provider_ref, amount_cents, currency, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'paid')
         ON CONFLICT (hold_id) DO UPDATE SET booking_id = $3, provider_ref = $5, status = 'paid', updated_at = now()",
        Uuid::now_v7(),
        request.hold_id,
        booking_id,
        provider.name(),
        provider_ref,
        total_cents,
        currency,
    )
    .execute(&mut *tx)
    .await?;
    let job = jobs::enqueue(&mut tx, &SendBookingConfirmation { booking_id }).await?;
    let tickets = jobs::enqueue(&mut tx, &IssueTickets { booking_id }).await?;
    tx.commit().await?;
    let booking = bookings::load(pool, booking_id)
        .await?
        .expect("just written");
    Ok((booking, vec![job, tickets]))
}
