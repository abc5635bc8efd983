//! Promotion: offers free inventory to waiting entries, strictly in join
//! order, each offer a hold in the person's name.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{NoticeKind, PromoteWaitlist, SendWaitlistNotice, lock_line};
use crate::booking::BookingError;
use crate::booking::holds::{self, HoldItem};
use crate::jobs::{self, Enqueued, JobOptions};

/// What one promotion did.
#[derive(Debug, Clone, Default)]
pub struct Promoted {
    /// Offers made (entry, hold), in join order.
    pub offers: Vec<(Uuid, Uuid)>,
    /// The offer emails, to dispatch after the commit.
    pub jobs: Vec<Enqueued>,
}

/// Call in any transaction that frees inventory of `event` (a cancel, a
/// release, an expiry, a decline, a capacity raise). Queues a promotion
/// when people wait and none is queued yet; a promotion that has not
/// started will see this inventory, because it clears the flag (waiting
/// for this transaction's row lock) before it reads anything.
pub async fn inventory_freed(
    conn: &mut PgConnection,
    event: Uuid,
) -> Result<Option<Enqueued>, sqlx::Error> {
    let pending = sqlx::query_scalar!(
        "SELECT pending FROM waitlist_promotions WHERE event_id = $1 FOR UPDATE",
        event,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if pending != Some(false) {
        return Ok(None); // no waitlist ever, or a promotion is queued
    }
    // A new statement, after the row lock: it sees any join that held it.
    let waiting = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM waitlist_entries WHERE event_id = $1 AND status = 'waiting') AS "waiting!""#,
        event,
    )
    .fetch_one(&mut *conn)
    .await?;
    if !waiting {
        return Ok(None);
    }
    sqlx::query!(
        "UPDATE waitlist_promotions SET pending = true WHERE event_id = $1",
        event
    )
    .execute(&mut *conn)
    .await?;
    Ok(Some(
        jobs::enqueue(&mut *conn, &PromoteWaitlist { event_id: event }).await?,
    ))
}

/// Runs one promotion of `event`'s line now (the job, or an organizer).
pub async fn promote(pool: &PgPool, event: Uuid) -> Result<Promoted, BookingError> {
    // Expired holds first (their own transaction), so their units count.
    let swept = holds::sweep_event(pool, event).await?;
    // Clear the flag in a transaction of its own: it waits for any freeing
    // transaction holding the row, and afterwards every free either is
    // visible below or queues the next promotion.
    sqlx::query!(
        "UPDATE waitlist_promotions SET pending = false WHERE event_id = $1",
        event
    )
    .execute(pool)
    .await?;
    let mut tx = pool.begin().await?;
    lock_line(&mut tx, event).await?;
    let mut promoted = walk(&mut tx, event).await?;
    tx.commit().await?;
    metrics::counter!("marquee_waitlist_offers_total").increment(promoted.offers.len() as u64);
    promoted.jobs.extend(swept.jobs);
    Ok(promoted)
}

struct Waiting {
    id: Uuid,
    user_id: Uuid,
    quantity: i32,
    ticket_type_id: Option<Uuid>,
    section_id: Option<Uuid>,
}

/// Kinds of inventory found empty during this walk: entries behind that
/// wait for them get nothing, and the walk never looks twice.
#[derive(Default)]
struct Empty {
    seats: bool,
    units: bool,
    sections: HashSet<Uuid>,
    ticket_types: HashSet<Uuid>,
}

async fn walk(conn: &mut PgConnection, event: Uuid) -> Result<Promoted, BookingError> {
    let sale = sqlx::query!(
        r#"SELECT status = 'published'
                  AND now() >= COALESCE(sales_start, published_at, now())
                  AND now() < COALESCE(sales_end, starts_at) AS "open!",
                now() + make_interval(mins => waitlist_offer_minutes) AS "expires_at!",
                currency, max_per_order
         FROM events WHERE id = $1"#,
        event,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(sale) = sale.filter(|s| s.open) else {
        return Ok(Promoted::default()); // nothing can be held: offer nothing
    };
    let line = sqlx::query_as!(
        Waiting,
        "SELECT id, user_id, quantity, ticket_type_id, section_id FROM waitlist_entries
         WHERE event_id = $1 AND status = 'waiting' ORDER BY seq FOR UPDATE",
        event,
    )
    .fetch_all(&mut *conn)
    .await?;
    let ticket_types = sqlx::query_scalar!(
        "SELECT id FROM ticket_types WHERE event_id = $1 ORDER BY position",
        event,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut empty = Empty::default();
    let mut promoted = Promoted::default();
    for mut entry in line {
        if empty.seats && empty.units {
            break;
        }
        // Never more than one order may hold, even if the limit fell since.
        entry.quantity = entry.quantity.min(sale.max_per_order);
        let hold = Uuid::now_v7();
        let mut items = Vec::new();
        match (entry.ticket_type_id, entry.section_id) {
            (Some(t), _) => {
                if empty.units || empty.ticket_types.contains(&t) {
                    continue;
                }
                items.extend(claim_units(conn, t, entry.quantity).await?);
                if items_quantity(&items) < entry.quantity {
                    empty.ticket_types.insert(t);
                }
            }
            (None, Some(s)) => {
                if empty.seats || empty.sections.contains(&s) {
                    continue;
                }
                let seats = Some(s);
                items.extend(
                    claim_seats(conn, event, seats, hold, sale.expires_at, entry.quantity).await?,
                );
                if items_quantity(&items) < entry.quantity {
                    empty.sections.insert(s);
                }
            }
            (None, None) => {
                if !empty.seats {
                    items.extend(
                        claim_seats(conn, event, None, hold, sale.expires_at, entry.quantity)
                            .await?,
                    );
                }
                for t in &ticket_types {
                    let want = entry.quantity - items_quantity(&items);
                    if want == 0 || empty.units {
                        break;
                    }
                    if !empty.ticket_types.contains(t) {
                        items.extend(claim_units(conn, *t, want).await?);
                    }
                }
                if items_quantity(&items) < entry.quantity {
                    (empty.seats, empty.units) = (true, true);
                }
            }
        }
        if items.is_empty() {
            continue;
        }
        let offer = Offered {
            entry: entry.id,
            user: entry.user_id,
            hold,
            items,
            expires_at: sale.expires_at,
        };
        promoted
            .jobs
            .extend(make_offer(conn, event, &sale.currency, offer).await?);
        promoted.offers.push((entry.id, hold));
    }
    Ok(promoted)
}

fn items_quantity(items: &[HoldItem]) -> i32 {
    items.iter().map(|i| i.quantity).sum()
}

/// Up to `want` units of `ticket_type`, or none. Two statements under
/// the row lock: an `UPDATE … FROM` a locking CTE computed its share from
/// the row as it was before a concurrent change committed, and broke
/// `sold + held <= capacity` after a capacity raise it had waited for.
async fn claim_units(
    conn: &mut PgConnection,
    ticket_type: Uuid,
    want: i32,
) -> Result<Option<HoldItem>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT capacity - sold - held AS "free!", name, price_cents FROM ticket_types
         WHERE id = $1 FOR UPDATE"#,
        ticket_type,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row.filter(|r| r.free > 0) else {
        return Ok(None);
    };
    let n = want.min(row.free);
    sqlx::query!(
        "UPDATE ticket_types SET held = held + $2 WHERE id = $1",
        ticket_type,
        n
    )
    .execute(&mut *conn)
    .await?;
    Ok(Some(HoldItem {
        seat_id: None,
        ticket_type_id: Some(ticket_type),
        label: row.name,
        quantity: n,
        price_cents: row.price_cents,
    }))
}

/// Up to `want` free seats (of `section`, or any), in map order, marked
/// held by `hold`. Seats another transaction has locked are skipped: they
/// are being sold or given back, and a give-back queues the next promotion.
async fn claim_seats(
    conn: &mut PgConnection,
    event: Uuid,
    section: Option<Uuid>,
    hold: Uuid,
    until: DateTime<Utc>,
    want: i32,
) -> Result<Vec<HoldItem>, sqlx::Error> {
    let claimed = sqlx::query!(
        "WITH free AS (
             SELECT es.event_id, es.seat_id FROM event_seats es
             JOIN venue_sections c ON c.id = es.section_id
             JOIN venue_seats vs ON vs.id = es.seat_id
             WHERE es.event_id = $1 AND ($2::uuid IS NULL OR es.section_id = $2)
               AND (es.status = 'available' OR (es.status = 'held' AND es.held_until <= now()))
             ORDER BY c.position, vs.row_label, vs.number
             LIMIT $3
             FOR UPDATE OF es SKIP LOCKED)
         UPDATE event_seats s SET status = 'held', hold_id = $4, held_until = $5
         FROM free f WHERE s.event_id = f.event_id AND s.seat_id = f.seat_id
         RETURNING s.seat_id, s.label, s.price_cents",
        event,
        section,
        i64::from(want),
        hold,
        until,
    )
    .fetch_all(conn)
    .await?;
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

struct Offered {
    entry: Uuid,
    user: Uuid,
    hold: Uuid,
    items: Vec<HoldItem>,
    expires_at: DateTime<Utc>,
}

/// Writes the offer's hold and lines, marks the entry offered and queues
/// its email. Returns the email job (an entry is offered once, so there
/// always is one).
async fn make_offer(
    conn: &mut PgConnection,
    event: Uuid,
    currency: &str,
    offer: Offered,
) -> Result<Option<Enqueued>, BookingError> {
    let total: i64 = offer
        .items
        .iter()
        .map(|i| i64::from(i.quantity) * i64::from(i.price_cents))
        .sum();
    let total =
        i32::try_from(total).map_err(|_| BookingError::Conflict("offer too large".to_owned()))?;
    sqlx::query!(
        "INSERT INTO holds (id, event_id, user_id, status, total_cents, currency, expires_at, waitlist_entry_id)
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $7)",
        offer.hold,
        event,
        offer.user,
        total,
        currency,
        offer.expires_at,
        offer.entry,
    )
    .execute(&mut *conn)
    .await?;
    let seats: Vec<Option<Uuid>> = offer.items.iter().map(|i| i.seat_id).collect();
    let types: Vec<Option<Uuid>> = offer.items.iter().map(|i| i.ticket_type_id).collect();
    let labels: Vec<String> = offer.items.iter().map(|i| i.label.clone()).collect();
    let quantities: Vec<i32> = offer.items.iter().map(|i| i.quantity).collect();
    let prices: Vec<i32> = offer.items.iter().map(|i| i.price_cents).collect();
    sqlx::query!(
        "INSERT INTO hold_items (hold_id, seat_id, ticket_type_id, label, quantity, price_cents)
         SELECT $1, * FROM UNNEST($2::uuid[], $3::uuid[], $4::text[], $5::int[], $6::int[])",
        offer.hold,
        &seats as &[Option<Uuid>],
        &types as &[Option<Uuid>],
        &labels,
        &quantities,
        &prices,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE waitlist_entries SET status = 'offered', hold_id = $2, offered_quantity = $3,
                offered_at = now(), offer_expires_at = $4, updated_at = now()
         WHERE id = $1",
        offer.entry,
        offer.hold,
        items_quantity(&offer.items),
        offer.expires_at,
    )
    .execute(&mut *conn)
    .await?;
    let notice = SendWaitlistNotice {
        entry_id: offer.entry,
        kind: NoticeKind::Offered,
    };
    let options = JobOptions {
        dedupe_key: Some(format!("waitlist-offered:{}", offer.entry)),
        ..JobOptions::default()
    };
    Ok(jobs::enqueue_with(&mut *conn, &notice, options).await?)
}

/// The hold sweep's safety net: queues a promotion for every line with
/// people waiting and none queued, so inventory that a rare race left
/// unoffered (a free committing just as the first person joined) waits at
/// most one sweep. A promotion with nothing free offers nothing.
pub async fn promote_waiting(pool: &PgPool) -> Result<Vec<Enqueued>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let events = sqlx::query_scalar!(
        "UPDATE waitlist_promotions p SET pending = true
         WHERE NOT pending
           AND EXISTS (SELECT 1 FROM waitlist_entries w WHERE w.event_id = p.event_id AND w.status = 'waiting')
           AND EXISTS (SELECT 1 FROM events e WHERE e.id = p.event_id AND e.status = 'published'
                       AND now() < COALESCE(e.sales_end, e.starts_at))
         RETURNING event_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let jobs: Vec<PromoteWaitlist> = events
        .into_iter()
        .map(|event_id| PromoteWaitlist { event_id })
        .collect();
    let written = jobs::enqueue_many(&mut tx, &jobs).await?;
    tx.commit().await?;
    Ok(written)
}
