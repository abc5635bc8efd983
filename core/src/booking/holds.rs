//! Holds: a person's claim on seats and/or ticket units for a few minutes.
//!
//! A hold past `expires_at` is available to others at once: seat claims
//! treat an expired `held` seat as available, and a hold that finds too few
//! units rolls back, releases the event's expired holds in a transaction of
//! their own (`expiry`) and tries once more. The scheduler's sweep releases
//! the rest.
//!
//! Lock order, the same in every transaction that touches inventory (claim,
//! checkout, release, expiry, cancel): seats by (event, seat), then ticket
//! types. A claim transaction never gives inventory back: releasing expired
//! holds after claiming seats would be a second pass over seats in the
//! middle of the first, and two such holds deadlocked (each waiting for a
//! seat the other had just claimed).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::BookingError;
pub(crate) use super::expiry::give_back;
pub use super::expiry::{ExpireHolds, Swept, sweep, sweep_event};
use crate::auth::Invalid;
use crate::jobs::Enqueued;
use crate::waitlist;

/// What a person asks to hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldRequest {
    /// Seats of the event.
    pub seats: Vec<Uuid>,
    /// A ticket type of the event, with `quantity`.
    pub ticket_type_id: Option<Uuid>,
    /// Units of `ticket_type_id`.
    pub quantity: Option<i32>,
}

impl HoldRequest {
    /// Shape checks (the event's limits come later).
    pub fn check(mut self) -> Result<Self, Vec<Invalid>> {
        let mut problems = Vec::new();
        let given = self.seats.len();
        self.seats.sort();
        self.seats.dedup();
        if self.seats.len() != given {
            problems.push(Invalid::new("seats", "a seat is listed twice"));
        }
        match (self.ticket_type_id, self.quantity) {
            (Some(_), Some(q)) if q >= 1 => {}
            (Some(_), _) => problems.push(Invalid::new("quantity", "must be at least 1")),
            (None, Some(_)) => {
                problems.push(Invalid::new("ticket_type_id", "needed with quantity"))
            }
            (None, None) if self.seats.is_empty() => problems.push(Invalid::new(
                "seats",
                "give seats and/or a ticket_type_id with a quantity",
            )),
            (None, None) => {}
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(problems)
        }
    }

    fn units(&self) -> i64 {
        self.seats.len() as i64 + i64::from(self.quantity.unwrap_or(0))
    }
}

/// One line of a hold.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct HoldItem {
    /// A seat, or
    pub seat_id: Option<Uuid>,
    /// a ticket type.
    pub ticket_type_id: Option<Uuid>,
    /// "A-12" or the ticket type's name.
    pub label: String,
    /// 1 for a seat.
    pub quantity: i32,
    /// Unit price.
    pub price_cents: i32,
}

/// A hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hold {
    /// Id.
    pub id: Uuid,
    /// The event.
    pub event_id: Uuid,
    /// active, confirmed, released or expired.
    pub status: String,
    /// What it holds.
    pub items: Vec<HoldItem>,
    /// Sum of quantity x price.
    pub total_cents: i64,
    /// The event's currency.
    pub currency: String,
    /// Others may take it after this.
    pub expires_at: DateTime<Utc>,
}

/// Limits that are the operator's, not the event's.
#[derive(Debug, Clone, Copy)]
pub struct HoldLimits {
    /// Active holds one person may have on one event.
    pub active_per_person: i64,
}

struct Sale {
    status: String,
    open: bool,
    max_per_order: i32,
    hold_minutes: i32,
    currency: String,
}

/// How one attempt at a hold ended, when it did not fail.
enum Attempt {
    Placed(Hold),
    /// Too few units of the ticket type; nothing was kept.
    UnitsShort {
        left: i32,
    },
}

/// A deadlock or serialization failure is retried this many times before
/// it reaches the caller (as a 503); with the lock order above neither is
/// expected, so this is a net, not the mechanism.
const TRANSIENT_RETRIES: u32 = 2;

/// Places a hold for `user`: all or nothing.
pub async fn create(
    pool: &PgPool,
    user: Uuid,
    event: Uuid,
    request: &HoldRequest,
    limits: HoldLimits,
) -> Result<Hold, BookingError> {
    let mut released_expired = false;
    let mut retries = 0;
    loop {
        match attempt(pool, user, event, request, limits).await {
            Ok(Attempt::Placed(hold)) => return Ok(hold),
            Ok(Attempt::UnitsShort { .. }) if !released_expired => {
                released_expired = true;
                super::expiry::sweep_event(pool, event).await?;
            }
            Ok(Attempt::UnitsShort { left }) => {
                return Err(BookingError::Conflict(format!(
                    "only {left} ticket(s) of this type left"
                )));
            }
            Err(BookingError::Database(error))
                if crate::db::is_transient(&error) && retries < TRANSIENT_RETRIES =>
            {
                retries += 1;
                tracing::warn!(error = %error, retries, "hold retried after a transient database error");
            }
            Err(error) => return Err(error),
        }
    }
}

/// One transaction: checks, then seats in seat order, then units.
async fn attempt(
    pool: &PgPool,
    user: Uuid,
    event: Uuid,
    request: &HoldRequest,
    limits: HoldLimits,
) -> Result<Attempt, BookingError> {
    let mut tx = pool.begin().await?;
    let sale = sqlx::query_as!(
        Sale,
        r#"SELECT status, now() >= COALESCE(sales_start, published_at, now())
                        AND now() < COALESCE(sales_end, starts_at) AS "open!",
                max_per_order, hold_minutes, currency
         FROM events WHERE id = $1"#,
        event,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let sale = match sale {
        Some(sale) if sale.status != "draft" => sale,
        _ => return Err(BookingError::NotFound("no such event")),
    };
    if sale.status != "published" || !sale.open {
        return Err(BookingError::Conflict(format!(
            "this event is not on sale ({})",
            if sale.status == "published" {
                "outside its sales window"
            } else {
                sale.status.as_str()
            }
        )));
    }
    if request.units() > i64::from(sale.max_per_order) {
        return Err(vec![Invalid::new(
            "seats",
            format!("at most {} seats or tickets per order", sale.max_per_order),
        )]
        .into());
    }
    // One person's holds on one event are counted under a lock, so two
    // parallel requests cannot both slip under the limit. The event's
    // waitlist lock, shared: no join commits between the hold-back check
    // and the claim (see `waitlist`).
    // (`$1::uuid::text`: without the `::uuid` the macro would take $1 for text.)
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text || $2::uuid::text, 0)),
                pg_advisory_xact_lock_shared(hashtextextended('waitlist:' || $2::uuid::text, 0))",
        user,
        event,
    )
    .execute(&mut *tx)
    .await?;
    waitlist::refuse_if_held_back(&mut tx, event, &request.seats, request.ticket_type_id).await?;
    // Waitlist offers do not count: they were not asked for now.
    let active = sqlx::query_scalar!(
        r#"SELECT count(*) AS "active!" FROM holds
         WHERE user_id = $1 AND event_id = $2 AND status = 'active' AND expires_at > now()
           AND waitlist_entry_id IS NULL"#,
        user,
        event,
    )
    .fetch_one(&mut *tx)
    .await?;
    if active >= limits.active_per_person {
        return Err(BookingError::Conflict(format!(
            "you already have {active} active hold(s) on this event; confirm or release one"
        )));
    }

    let hold = Uuid::now_v7();
    let expires_at = sqlx::query_scalar!(
        r#"SELECT now() + make_interval(mins => $1) AS "expires_at!""#,
        sale.hold_minutes,
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut items = claim_seats(&mut tx, event, hold, expires_at, &request.seats).await?;
    if let (Some(ticket_type), Some(quantity)) = (request.ticket_type_id, request.quantity) {
        match claim_units(&mut tx, event, ticket_type, quantity).await? {
            Ok(item) => items.push(item),
            Err(left) => {
                // Let go of the seats before anyone releases expired holds.
                tx.rollback().await?;
                return Ok(Attempt::UnitsShort { left });
            }
        }
    }
    let total_cents: i64 = items
        .iter()
        .map(|i| i64::from(i.quantity) * i64::from(i.price_cents))
        .sum();
    let total_cents_row = i32::try_from(total_cents)
        .map_err(|_| BookingError::Conflict("order too large".to_owned()))?;
    sqlx::query!(
        "INSERT INTO holds (id, event_id, user_id, status, total_cents, currency, expires_at)
         VALUES ($1, $2, $3, 'active', $4, $5, $6)",
        hold,
        event,
        user,
        total_cents_row,
        sale.currency,
        expires_at,
    )
    .execute(&mut *tx)
    .await?;
    for item in &items {
        sqlx::query!(
            "INSERT INTO hold_items (hold_id, seat_id, ticket_type_id, label, quantity, price_cents)
             VALUES ($1, $2, $3, $4, $5, $6)",
            hold,
            item.seat_id,
            item.ticket_type_id,
            item.label,
            item.quantity,
            item.price_cents,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Attempt::Placed(Hold {
        id: hold,
        event_id: event,
        status: "active".to_owned(),
        items,
        total_cents,
        currency: sale.currency,
        expires_at,
    }))
}

/// Claims every seat or none: one statement locks the claimable ones in
/// seat order (so concurrent holds cannot deadlock) and marks them held.
async fn claim_seats(
    conn: &mut PgConnection,
    event: Uuid,
    hold: Uuid,
    until: DateTime<Utc>,
    seats: &[Uuid],
) -> Result<Vec<HoldItem>, BookingError> {
    if seats.is_empty() {
        return Ok(Vec::new());
    }
    let known = sqlx::query_scalar!(
        "SELECT seat_id FROM event_seats WHERE event_id = $1 AND seat_id = ANY($2)",
        event,
        seats,
    )
    .fetch_all(&mut *conn)
    .await?;
    if known.len() != seats.len() {
        return Err(vec![Invalid::new(
            "seats",
            "unknown seat: not a seat of this event",
        )]
        .into());
    }
    let claimed = sqlx::query!(
        "WITH claimable AS (
             SELECT seat_id FROM event_seats
             WHERE event_id = $1 AND seat_id = ANY($2)
               AND (status = 'available' OR (status = 'held' AND held_until <= now()))
             ORDER BY seat_id
             FOR UPDATE)
         UPDATE event_seats s SET status = 'held', hold_id = $3, held_until = $4
         FROM claimable c WHERE s.event_id = $1 AND s.seat_id = c.seat_id
         RETURNING s.seat_id, s.label, s.price_cents",
        event,
        seats,
        hold,
        until,
    )
    .fetch_all(&mut *conn)
    .await?;
    if claimed.len() != seats.len() {
        let taken = seats
            .iter()
            .filter(|s| !claimed.iter().any(|c| c.seat_id == **s))
            .copied()
            .collect();
        return Err(BookingError::SeatsTaken(taken));
    }
    Ok(claimed
        .into_iter()
        .map(|seat| HoldItem {
            seat_id: Some(seat.seat_id),
            ticket_type_id: None,
            label: seat.label,
            quantity: 1,
            price_cents: seat.price_cents,
        })
        .collect())
}

/// Claims `quantity` units in one conditional statement; `Err(left)` when
/// there are too few (nothing claimed), 422 for a ticket type of another
/// event.
async fn claim_units(
    conn: &mut PgConnection,
    event: Uuid,
    ticket_type: Uuid,
    quantity: i32,
) -> Result<Result<HoldItem, i32>, BookingError> {
    let claimed = sqlx::query!(
        "UPDATE ticket_types SET held = held + $3
         WHERE id = $2 AND event_id = $1 AND capacity - sold - held >= $3
         RETURNING name, price_cents",
        event,
        ticket_type,
        quantity,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(claimed) = claimed {
        return Ok(Ok(HoldItem {
            seat_id: None,
            ticket_type_id: Some(ticket_type),
            label: claimed.name,
            quantity,
            price_cents: claimed.price_cents,
        }));
    }
    let left = sqlx::query_scalar!(
        r#"SELECT capacity - sold - held AS "left!" FROM ticket_types WHERE id = $2 AND event_id = $1"#,
        event,
        ticket_type,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match left {
        None => Err(vec![Invalid::new(
            "ticket_type_id",
            "not a ticket type of this event",
        )]
        .into()),
        Some(left) => Ok(Err(left)),
    }
}

/// The owner's hold; anyone else's is `NotFound`.
pub async fn get(pool: &PgPool, user: Uuid, id: Uuid) -> Result<Hold, BookingError> {
    let row = sqlx::query!(
        "SELECT event_id, status, total_cents, currency, expires_at FROM holds WHERE id = $1 AND user_id = $2",
        id,
        user,
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Err(BookingError::NotFound("no such hold"));
    };
    let items = items_of(pool, id).await?;
    let status = if row.status == "active" && row.expires_at <= Utc::now() {
        "expired".to_owned()
    } else {
        row.status
    };
    Ok(Hold {
        id,
        event_id: row.event_id,
        status,
        items,
        total_cents: i64::from(row.total_cents),
        currency: row.currency,
        expires_at: row.expires_at,
    })
}

/// A hold's lines.
pub async fn items_of(
    db: impl sqlx::PgExecutor<'_>,
    hold: Uuid,
) -> Result<Vec<HoldItem>, sqlx::Error> {
    sqlx::query_as!(
        HoldItem,
        r#"SELECT seat_id AS "seat_id?", ticket_type_id AS "ticket_type_id?", label, quantity,
                price_cents
         FROM hold_items WHERE hold_id = $1 ORDER BY label"#,
        hold,
    )
    .fetch_all(db)
    .await
}

/// Releases the owner's hold now. Releasing an expired or released hold is
/// a no-op; a confirmed one is 409 (cancel the booking instead). Releasing
/// a waitlist offer declines it. Returns the hold's event and the jobs to
/// dispatch (the next promotion).
pub async fn release(
    pool: &PgPool,
    user: Uuid,
    id: Uuid,
) -> Result<(Uuid, Vec<Enqueued>), BookingError> {
    let mut tx = pool.begin().await?;
    let hold = sqlx::query!(
        "SELECT status, event_id FROM holds WHERE id = $1 AND user_id = $2 FOR UPDATE",
        id,
        user,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(hold) = hold else {
        return Err(BookingError::NotFound("no such hold"));
    };
    let event = hold.event_id;
    let mut jobs = Vec::new();
    match hold.status.as_str() {
        "confirmed" => {
            return Err(BookingError::Conflict(
                "this hold is booked; cancel the booking instead".to_owned(),
            ));
        }
        "active" => {
            sqlx::query!(
                "UPDATE holds SET status = 'released', updated_at = now() WHERE id = $1",
                id,
            )
            .execute(&mut *tx)
            .await?;
            jobs.extend(waitlist::offers_ended(&mut tx, &[id], waitlist::Ended::Declined).await?);
            give_back(&mut tx, &[id]).await?;
            jobs.extend(waitlist::inventory_freed(&mut tx, event).await?);
        }
        _ => {}
    }
    tx.commit().await?;
    Ok((event, jobs))
}
