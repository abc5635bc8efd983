//! One event's figures.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::{DaySales, Zone, dense, rate, zone_error};
use crate::catalog::{Actor, CatalogError};

/// The event's inventory now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// Seats on sale (not blocked) plus general-admission units.
    pub capacity: i64,
    /// Sold.
    pub sold: i64,
    /// Held by live holds and offers.
    pub held: i64,
    /// Neither sold nor held.
    pub available: i64,
    /// sold / capacity.
    pub utilisation: f64,
}

/// Money in the event's currency, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revenue {
    /// ISO 4217.
    pub currency: String,
    /// Every booking's total.
    pub gross_cents: i64,
    /// Given back (refunds paid out).
    pub refunded_cents: i64,
    /// gross - refunded.
    pub net_cents: i64,
}

/// The event's tickets and the door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tickets {
    /// Tickets that admit (valid or already used).
    pub valid: i64,
    /// Of those, checked in.
    pub checked_in: i64,
    /// Revoked (cancelled bookings, reissues).
    pub revoked: i64,
}

/// The waitlist by state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitlistCounts {
    /// In line.
    pub waiting: i64,
    /// Holding an offer now.
    pub offered: i64,
    /// Took their offer.
    pub converted: i64,
    /// Let their offer run out.
    pub expired: i64,
}

/// Everything an organizer sees about one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventStats {
    /// The event.
    pub event_id: Uuid,
    /// Inventory now.
    pub inventory: Inventory,
    /// Bookings made.
    pub bookings: i64,
    /// Of those, cancelled.
    pub cancellations: i64,
    /// cancellations / bookings.
    pub cancel_rate: f64,
    /// Seats and units booked.
    pub tickets_sold: i64,
    /// Of those, in cancelled bookings.
    pub tickets_cancelled: i64,
    /// Money.
    pub revenue: Revenue,
    /// Tickets and check-ins.
    pub tickets: Tickets,
    /// The waitlist.
    pub waitlist: WaitlistCounts,
    /// Holds made (waitlist offers included).
    pub holds: i64,
    /// bookings / holds.
    pub hold_conversion: f64,
    /// Per calendar day in `tz`, from the first day with a sale to the last
    /// day with any, zeros included.
    pub sales_per_day: Vec<DaySales>,
    /// The zone of the days.
    pub tz: String,
}

/// The figures of an event the actor organizes (admins: any); 404 for
/// anyone else's.
pub async fn event_stats(
    pool: &PgPool,
    actor: Actor,
    event: Uuid,
    zone: Zone,
) -> Result<EventStats, CatalogError> {
    let row = sqlx::query!(
        "SELECT organizer_id, currency FROM events WHERE id = $1",
        event
    )
    .fetch_optional(pool)
    .await?
    .filter(|e| actor.owner_filter().is_none_or(|me| me == e.organizer_id))
    .ok_or(CatalogError::NotFound("no such event"))?;
    let inventory = inventory(pool, event).await?;
    let sums = sqlx::query!(
        r#"SELECT coalesce(sum(holds), 0)::bigint AS "holds!",
                coalesce(sum(bookings), 0)::bigint AS "bookings!",
                coalesce(sum(tickets_sold), 0)::bigint AS "tickets_sold!",
                coalesce(sum(gross_cents), 0)::bigint AS "gross_cents!",
                coalesce(sum(cancellations), 0)::bigint AS "cancellations!",
                coalesce(sum(tickets_cancelled), 0)::bigint AS "tickets_cancelled!",
                coalesce(sum(refunded_cents), 0)::bigint AS "refunded_cents!",
                coalesce(sum(tickets_valid), 0)::bigint AS "tickets_valid!",
                coalesce(sum(tickets_used), 0)::bigint AS "tickets_used!",
                coalesce(sum(tickets_revoked), 0)::bigint AS "tickets_revoked!"
         FROM (SELECT * FROM event_stats WHERE event_id = $1 AND shard = 0
               UNION ALL
               SELECT * FROM event_stats WHERE event_id = $1 AND shard > 0) s"#,
        event,
    )
    .fetch_one(pool)
    .await?;
    let waitlist = sqlx::query_as!(
        WaitlistCounts,
        r#"SELECT count(*) FILTER (WHERE status = 'waiting') AS "waiting!",
                count(*) FILTER (WHERE status = 'offered') AS "offered!",
                count(*) FILTER (WHERE status = 'converted') AS "converted!",
                count(*) FILTER (WHERE status = 'expired') AS "expired!"
         FROM waitlist_entries WHERE event_id = $1"#,
        event,
    )
    .fetch_one(pool)
    .await?;
    Ok(EventStats {
        event_id: event,
        inventory,
        bookings: sums.bookings,
        cancellations: sums.cancellations,
        cancel_rate: rate(sums.cancellations, sums.bookings),
        tickets_sold: sums.tickets_sold,
        tickets_cancelled: sums.tickets_cancelled,
        revenue: Revenue {
            currency: row.currency,
            gross_cents: sums.gross_cents,
            refunded_cents: sums.refunded_cents,
            net_cents: sums.gross_cents - sums.refunded_cents,
        },
        tickets: Tickets {
            valid: sums.tickets_valid + sums.tickets_used,
            checked_in: sums.tickets_used,
            revoked: sums.tickets_revoked,
        },
        waitlist,
        holds: sums.holds,
        hold_conversion: rate(sums.bookings, sums.holds),
        sales_per_day: sales_per_day(pool, event, zone).await.map_err(zone_error)?,
        tz: zone.name().to_owned(),
    })
}

async fn inventory(pool: &PgPool, event: Uuid) -> Result<Inventory, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT s.capacity + t.capacity AS "capacity!", s.sold + t.sold AS "sold!",
                s.held + t.held AS "held!"
         FROM (SELECT count(*) FILTER (WHERE status <> 'blocked') AS capacity,
                      count(*) FILTER (WHERE status = 'sold') AS sold,
                      count(*) FILTER (WHERE status = 'held' AND held_until > now()) AS held
               FROM event_seats WHERE event_id = $1) s,
              (SELECT coalesce(sum(capacity), 0)::bigint AS capacity,
                      coalesce(sum(sold), 0)::bigint AS sold,
                      coalesce(sum(held), 0)::bigint AS held
               FROM ticket_types WHERE event_id = $1) t"#,
        event,
    )
    .fetch_one(pool)
    .await?;
    Ok(Inventory {
        capacity: row.capacity,
        sold: row.sold,
        held: row.held,
        available: (row.capacity - row.sold - row.held).max(0),
        utilisation: rate(row.sold, row.capacity),
    })
}

async fn sales_per_day(
    pool: &PgPool,
    event: Uuid,
    zone: Zone,
) -> Result<Vec<DaySales>, sqlx::Error> {
    let days = sqlx::query_as!(
        DaySales,
        r#"SELECT (slot AT TIME ZONE $2)::date AS "day!",
                sum(bookings)::bigint AS "bookings!", sum(tickets_sold)::bigint AS "tickets!",
                sum(gross_cents)::bigint AS "gross_cents!",
                sum(cancellations)::bigint AS "cancellations!",
                sum(refunded_cents)::bigint AS "refunded_cents!"
         FROM (SELECT slot, bookings, tickets_sold, gross_cents, cancellations, refunded_cents
               FROM event_stats WHERE event_id = $1 AND shard = 0
               UNION ALL
               SELECT slot, bookings, tickets_sold, gross_cents, cancellations, refunded_cents
               FROM event_stats WHERE event_id = $1 AND shard > 0) s
         GROUP BY 1
         HAVING sum(bookings) <> 0 OR sum(cancellations) <> 0 OR sum(refunded_cents) <> 0
         ORDER BY 1"#,
        event,
        zone.name(),
    )
    .fetch_all(pool)
    .await?;
    Ok(match (days.first(), days.last()) {
        (Some(first), Some(last)) => {
            let (first, last) = (first.day, last.day);
            dense(days, first, last)
        }
        _ => days,
    })
}
