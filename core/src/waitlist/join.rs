//! Joining, reading and leaving the line.

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Entry, HeldBack, Offer, held_back, inventory_freed, lock_line};
use crate::auth::Invalid;
use crate::booking::BookingError;
use crate::booking::holds::give_back;
use crate::jobs::Enqueued;

/// What a person waits for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitRequest {
    /// Units wanted, 1 to the event's `max_per_order`.
    pub quantity: i32,
    /// A ticket type of the event, or
    pub ticket_type_id: Option<Uuid>,
    /// a section of its venue, or (neither) anything.
    pub section_id: Option<Uuid>,
}

/// A new entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Joined {
    /// Id.
    pub id: Uuid,
    /// 1 + the people waiting ahead.
    pub position: i64,
    /// `waiting` (an offer may follow at once if some inventory is free).
    pub status: String,
}

/// Puts `user` at the back of `event`'s line. Only when what they ask for
/// cannot be held now; returns the promotion to dispatch, if one is due.
pub async fn join(
    pool: &PgPool,
    user: Uuid,
    event: Uuid,
    request: &WaitRequest,
) -> Result<(Joined, Option<Enqueued>), BookingError> {
    let mut tx = pool.begin().await?;
    lock_line(&mut tx, event).await?;
    // Under the lock: a line closed (event cancelled) before we got it is
    // seen here, and one closed after waits for this entry and closes it.
    check(&mut tx, event, request).await?;
    // The flag row, locked until commit: a transaction freeing inventory
    // meanwhile waits, then sees this entry and queues a promotion.
    sqlx::query!(
        "INSERT INTO waitlist_promotions (event_id) VALUES ($1)
         ON CONFLICT (event_id) DO UPDATE SET pending = waitlist_promotions.pending",
        event,
    )
    .execute(&mut *tx)
    .await?;
    let open = sqlx::query_scalar!(
        "SELECT status FROM waitlist_entries
         WHERE event_id = $1 AND user_id = $2 AND status IN ('waiting', 'offered')",
        event,
        user,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(status) = open {
        return Err(BookingError::Conflict(format!(
            "you are already on this waitlist ({status})"
        )));
    }
    let back = held_back(&mut *tx, event).await?;
    let free = free_now(&mut tx, event, request, &back).await?;
    if free.public >= i64::from(request.quantity) {
        return Err(BookingError::Conflict(format!(
            "{} available now: hold them instead of joining the waitlist",
            free.public
        )));
    }
    let id = Uuid::now_v7();
    let seq = sqlx::query_scalar!(
        "INSERT INTO waitlist_entries (id, event_id, user_id, quantity, ticket_type_id, section_id)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
        id,
        event,
        user,
        request.quantity,
        request.ticket_type_id,
        request.section_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    let position = position(&mut tx, event, seq).await?;
    // Some units are free but too few, or kept for the line: they go to
    // the line, maybe to us.
    let promotion = if free.all > 0 {
        inventory_freed(&mut tx, event).await?
    } else {
        None
    };
    tx.commit().await?;
    let joined = Joined {
        id,
        position,
        status: "waiting".to_owned(),
    };
    Ok((joined, promotion))
}

/// The event must be on sale, and the request fit it.
async fn check(
    conn: &mut PgConnection,
    event: Uuid,
    request: &WaitRequest,
) -> Result<(), BookingError> {
    let sale = sqlx::query!(
        r#"SELECT status, max_per_order,
                now() >= COALESCE(sales_start, published_at, now())
                    AND now() < COALESCE(sales_end, starts_at) AS "open!",
                EXISTS (SELECT 1 FROM ticket_types WHERE event_id = $1 AND id = $2) AS "type_ok!",
                EXISTS (SELECT 1 FROM event_seats WHERE event_id = $1 AND section_id = $3)
                    AS "section_ok!"
         FROM events WHERE id = $1"#,
        event,
        request.ticket_type_id,
        request.section_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(sale) = sale else {
        return Err(BookingError::NotFound("no such event"));
    };
    if sale.status != "published" || !sale.open {
        let why = if sale.status == "published" {
            "outside its sales window"
        } else {
            sale.status.as_str()
        };
        return Err(BookingError::Conflict(format!(
            "this event is not on sale ({why}); its waitlist is closed"
        )));
    }
    let mut problems = Vec::new();
    if !(1..=sale.max_per_order).contains(&request.quantity) {
        problems.push(Invalid::new(
            "quantity",
            format!("must be 1 to {}", sale.max_per_order),
        ));
    }
    match (request.ticket_type_id, request.section_id) {
        (Some(_), Some(_)) => problems.push(Invalid::new(
            "section_id",
            "give ticket_type_id or section_id, not both",
        )),
        (Some(_), None) if !sale.type_ok => problems.push(Invalid::new(
            "ticket_type_id",
            "not a ticket type of this event",
        )),
        (None, Some(_)) if !sale.section_ok => problems.push(Invalid::new(
            "section_id",
            "not a section with seats at this event",
        )),
        _ => {}
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into())
    }
}

/// Free units of the requested kind: all of them, and those the public
/// may hold (not kept for people already waiting). Units of holds past
/// their time count as free.
struct Free {
    all: i64,
    public: i64,
}

async fn free_now(
    conn: &mut PgConnection,
    event: Uuid,
    request: &WaitRequest,
    back: &HeldBack,
) -> Result<Free, sqlx::Error> {
    let free = sqlx::query!(
        r#"WITH seats AS (
             SELECT section_id, count(*) AS n FROM event_seats
             WHERE event_id = $1 AND $3::uuid IS NULL AND ($2::uuid IS NULL OR section_id = $2)
               AND (status = 'available' OR (status = 'held' AND held_until <= now()))
             GROUP BY section_id),
           expired AS (
             SELECT i.ticket_type_id, sum(i.quantity) AS n FROM holds h
             JOIN hold_items i ON i.hold_id = h.id
             WHERE h.event_id = $1 AND h.status = 'active' AND h.expires_at <= now()
               AND i.ticket_type_id IS NOT NULL
             GROUP BY i.ticket_type_id),
           units AS (
             SELECT t.id, t.capacity - t.sold - t.held + COALESCE(x.n, 0) AS n FROM ticket_types t
             LEFT JOIN expired x ON x.ticket_type_id = t.id
             WHERE t.event_id = $1 AND $2::uuid IS NULL AND ($3::uuid IS NULL OR t.id = $3))
         SELECT (SELECT COALESCE(sum(n), 0) FROM seats)::bigint
                  + (SELECT COALESCE(sum(n), 0) FROM units)::bigint AS "all!",
                CASE WHEN $4 THEN 0 ELSE
                  (SELECT COALESCE(sum(n), 0) FROM seats WHERE section_id <> ALL($5))::bigint
                  + (SELECT COALESCE(sum(n), 0) FROM units WHERE id <> ALL($6))::bigint
                END AS "public!""#,
        event,
        request.section_id,
        request.ticket_type_id,
        back.everything,
        &back.sections,
        &back.ticket_types,
    )
    .fetch_one(conn)
    .await?;
    Ok(Free {
        all: free.all,
        public: free.public,
    })
}

/// 1 + the people still waiting ahead of `seq`.
async fn position(conn: &mut PgConnection, event: Uuid, seq: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "position!" FROM waitlist_entries
         WHERE event_id = $1 AND status = 'waiting' AND seq <= $2"#,
        event,
        seq,
    )
    .fetch_one(conn)
    .await
}

struct EntryRow {
    id: Uuid,
    seq: i64,
    event_id: Uuid,
    quantity: i32,
    ticket_type_id: Option<Uuid>,
    section_id: Option<Uuid>,
    status: String,
    hold_id: Option<Uuid>,
    offered_quantity: Option<i32>,
    offer_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    created_at: chrono::DateTime<chrono::Utc>,
}

/// The caller's latest entry on `event`'s line; `NotFound` if none.
pub async fn me(pool: &PgPool, user: Uuid, event: Uuid) -> Result<Entry, BookingError> {
    let row = sqlx::query_as!(
        EntryRow,
        "SELECT id, seq, event_id, quantity, ticket_type_id, section_id, status, hold_id,
                offered_quantity, offer_expires_at, created_at
         FROM waitlist_entries WHERE event_id = $1 AND user_id = $2
         ORDER BY seq DESC LIMIT 1",
        event,
        user,
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Err(BookingError::NotFound("you are not on this waitlist"));
    };
    let position = if row.status == "waiting" {
        Some(position(&mut *pool.acquire().await?, event, row.seq).await?)
    } else {
        None
    };
    let offer = match (row.hold_id, row.offered_quantity, row.offer_expires_at) {
        (Some(hold_id), Some(quantity), Some(expires_at)) => Some(Offer {
            hold_id,
            quantity,
            expires_at,
        }),
        _ => None,
    };
    Ok(Entry {
        id: row.id,
        event_id: row.event_id,
        quantity: row.quantity,
        ticket_type_id: row.ticket_type_id,
        section_id: row.section_id,
        status: row.status,
        position,
        offer,
        created_at: row.created_at,
    })
}

/// Takes the caller off the line. An offer they hold is released and
/// passes on: returns the promotion to dispatch.
pub async fn leave(
    pool: &PgPool,
    user: Uuid,
    event: Uuid,
) -> Result<Option<Enqueued>, BookingError> {
    // An entry can turn from waiting to offered (a promotion) or end
    // (checkout, expiry) between the read and the update: read again.
    for _ in 0..3 {
        let mut tx = pool.begin().await?;
        let entry = sqlx::query!(
            "SELECT id, status, hold_id FROM waitlist_entries
             WHERE event_id = $1 AND user_id = $2 AND status IN ('waiting', 'offered')",
            event,
            user,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(entry) = entry else {
            return Err(BookingError::NotFound("you are not on this waitlist"));
        };
        let Some(hold) = entry.hold_id else {
            let left = sqlx::query!(
                "UPDATE waitlist_entries SET status = 'left', updated_at = now()
                 WHERE id = $1 AND status = 'waiting'",
                entry.id,
            )
            .execute(&mut *tx)
            .await?;
            if left.rows_affected() == 1 {
                tx.commit().await?;
                return Ok(None);
            }
            continue;
        };
        // The hold first, as every transaction that ends an offer does.
        let live = sqlx::query_scalar!(
            "SELECT status = 'active' AS \"active!\" FROM holds WHERE id = $1 FOR UPDATE",
            hold,
        )
        .fetch_one(&mut *tx)
        .await?;
        let left = sqlx::query!(
            "UPDATE waitlist_entries SET status = 'left', updated_at = now()
             WHERE id = $1 AND status = 'offered'",
            entry.id,
        )
        .execute(&mut *tx)
        .await?;
        if left.rows_affected() != 1 || !live {
            continue;
        }
        sqlx::query!(
            "UPDATE holds SET status = 'released', updated_at = now() WHERE id = $1",
            hold,
        )
        .execute(&mut *tx)
        .await?;
        give_back(&mut tx, &[hold]).await?;
        let promotion = inventory_freed(&mut tx, event).await?;
        tx.commit().await?;
        return Ok(promotion);
    }
    Err(BookingError::Conflict(
        "your entry is changing right now; try again".to_owned(),
    ))
}
