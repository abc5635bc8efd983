//! Totals over all the actor's events for a range of calendar days.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Days, zone_error};
use crate::catalog::{Actor, CatalogError};

/// How many events and tags each ranking shows.
pub const TOP: usize = 10;

/// Totals in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// ISO 4217.
    pub currency: String,
    /// Events with any activity in the range.
    pub events: i64,
    /// Bookings made.
    pub bookings: i64,
    /// Bookings cancelled.
    pub cancellations: i64,
    /// Seats and units in the bookings made.
    pub tickets_sold: i64,
    /// Seats and units in the bookings cancelled.
    pub tickets_cancelled: i64,
    /// Totals of the bookings made.
    pub gross_cents: i64,
    /// Money given back.
    pub refunded_cents: i64,
    /// gross - refunded.
    pub net_cents: i64,
}

/// An event in a ranking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRank {
    /// The event.
    pub event_id: Uuid,
    /// Its title.
    pub title: String,
    /// Its currency.
    pub currency: String,
    /// Seats and units booked in the range.
    pub tickets_sold: i64,
    /// Net revenue in the range.
    pub net_cents: i64,
}

/// A tag by the tickets its events sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRank {
    /// The tag.
    pub tag: String,
    /// Events with it that sold in the range.
    pub events: i64,
    /// Seats and units they sold.
    pub tickets_sold: i64,
}

/// Revenue of one day in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyDay {
    /// The calendar day.
    pub day: NaiveDate,
    /// ISO 4217.
    pub currency: String,
    /// Bookings' totals.
    pub gross_cents: i64,
    /// Money given back.
    pub refunded_cents: i64,
    /// gross - refunded.
    pub net_cents: i64,
}

/// The overview of a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    /// First day.
    pub from: NaiveDate,
    /// Last day, included.
    pub to: NaiveDate,
    /// The days' zone.
    pub tz: String,
    /// Per currency, by currency code.
    pub totals: Vec<Totals>,
    /// Most tickets first.
    pub top_by_tickets: Vec<EventRank>,
    /// Per currency (by code), highest net first.
    pub top_by_revenue: Vec<EventRank>,
    /// Every day of the range, per currency that had any activity.
    pub revenue_per_day: Vec<CurrencyDay>,
    /// Tags by tickets sold.
    pub top_tags: Vec<TagRank>,
}

/// One event's sums over the range.
struct EventSums {
    event_id: Uuid,
    title: String,
    currency: String,
    tags: Vec<String>,
    bookings: i64,
    cancellations: i64,
    tickets_sold: i64,
    tickets_cancelled: i64,
    gross_cents: i64,
    refunded_cents: i64,
}

/// The actor's events (admins: everyone's) over `days`.
pub async fn overview(pool: &PgPool, actor: Actor, days: Days) -> Result<Overview, CatalogError> {
    let owner = actor.owner_filter();
    let tz = days.zone.name();
    // Local midnights as instants: PostgreSQL resolves days that start in a
    // DST gap the same way it groups slots into days below.
    let events = sqlx::query_as!(
        EventSums,
        r#"SELECT e.id AS event_id, e.title, e.currency, e.tags,
                sum(s.bookings)::bigint AS "bookings!",
                sum(s.cancellations)::bigint AS "cancellations!",
                sum(s.tickets_sold)::bigint AS "tickets_sold!",
                sum(s.tickets_cancelled)::bigint AS "tickets_cancelled!",
                sum(s.gross_cents)::bigint AS "gross_cents!",
                sum(s.refunded_cents)::bigint AS "refunded_cents!"
         FROM events e JOIN event_stats s ON s.event_id = e.id
         WHERE ($1::uuid IS NULL OR e.organizer_id = $1)
           AND s.slot >= ($2::date::timestamp AT TIME ZONE $4)
           AND s.slot < (($3::date + 1)::timestamp AT TIME ZONE $4)
         GROUP BY e.id
         HAVING sum(s.bookings) <> 0 OR sum(s.cancellations) <> 0 OR sum(s.refunded_cents) <> 0"#,
        owner,
        days.from,
        days.to,
        tz,
    )
    .fetch_all(pool)
    .await
    .map_err(zone_error)?;
    let sparse = sqlx::query_as!(
        CurrencyDay,
        r#"SELECT (s.slot AT TIME ZONE $4)::date AS "day!", e.currency,
                sum(s.gross_cents)::bigint AS "gross_cents!",
                sum(s.refunded_cents)::bigint AS "refunded_cents!",
                (sum(s.gross_cents) - sum(s.refunded_cents))::bigint AS "net_cents!"
         FROM events e JOIN event_stats s ON s.event_id = e.id
         WHERE ($1::uuid IS NULL OR e.organizer_id = $1)
           AND s.slot >= ($2::date::timestamp AT TIME ZONE $4)
           AND s.slot < (($3::date + 1)::timestamp AT TIME ZONE $4)
         GROUP BY 1, 2"#,
        owner,
        days.from,
        days.to,
        tz,
    )
    .fetch_all(pool)
    .await
    .map_err(zone_error)?;
    Ok(Overview {
        from: days.from,
        to: days.to,
        tz: tz.to_owned(),
        totals: totals(&events),
        top_by_tickets: top_by_tickets(&events),
        top_by_revenue: top_by_revenue(&events),
        revenue_per_day: per_day(sparse, &days),
        top_tags: top_tags(&events),
    })
}

fn totals(events: &[EventSums]) -> Vec<Totals> {
    let mut by_currency: BTreeMap<&str, Totals> = BTreeMap::new();
    for e in events {
        let t = by_currency.entry(&e.currency).or_insert_with(|| Totals {
            currency: e.currency.clone(),
            events: 0,
            bookings: 0,
            cancellations: 0,
            tickets_sold: 0,
            tickets_cancelled: 0,
            gross_cents: 0,
            refunded_cents: 0,
            net_cents: 0,
        });
        t.events += 1;
        t.bookings += e.bookings;
        t.cancellations += e.cancellations;
        t.tickets_sold += e.tickets_sold;
        t.tickets_cancelled += e.tickets_cancelled;
        t.gross_cents += e.gross_cents;
        t.refunded_cents += e.refunded_cents;
        t.net_cents += e.gross_cents - e.refunded_cents;
    }
    by_currency.into_values().collect()
}

fn rank(e: &EventSums) -> EventRank {
    EventRank {
        event_id: e.event_id,
        title: e.title.clone(),
        currency: e.currency.clone(),
        tickets_sold: e.tickets_sold,
        net_cents: e.gross_cents - e.refunded_cents,
    }
}

fn top_by_tickets(events: &[EventSums]) -> Vec<EventRank> {
    let mut ranked: Vec<EventRank> = events.iter().map(rank).collect();
    ranked.sort_by(|a, b| (b.tickets_sold, a.event_id).cmp(&(a.tickets_sold, b.event_id)));
    ranked.truncate(TOP);
    ranked
}

/// Net revenue is only comparable within a currency: the top of each.
fn top_by_revenue(events: &[EventSums]) -> Vec<EventRank> {
    let mut ranked: Vec<EventRank> = events.iter().map(rank).collect();
    ranked.sort_by(|a, b| {
        (&a.currency, b.net_cents, a.event_id).cmp(&(&b.currency, a.net_cents, b.event_id))
    });
    let mut shown: BTreeMap<String, usize> = BTreeMap::new();
    ranked.retain(|r| {
        let n = shown.entry(r.currency.clone()).or_default();
        *n += 1;
        *n <= TOP
    });
    ranked
}

fn top_tags(events: &[EventSums]) -> Vec<TagRank> {
    let mut by_tag: BTreeMap<&str, TagRank> = BTreeMap::new();
    for e in events.iter().filter(|e| e.tickets_sold > 0) {
        for tag in &e.tags {
            let t = by_tag.entry(tag).or_insert_with(|| TagRank {
                tag: tag.clone(),
                events: 0,
                tickets_sold: 0,
            });
            t.events += 1;
            t.tickets_sold += e.tickets_sold;
        }
    }
    let mut ranked: Vec<TagRank> = by_tag.into_values().collect();
    // Stable: ties stay in tag order.
    ranked.sort_by_key(|t| std::cmp::Reverse(t.tickets_sold));
    ranked.truncate(TOP);
    ranked
}

/// Every day of the range for each currency seen, zeros included.
fn per_day(sparse: Vec<CurrencyDay>, days: &Days) -> Vec<CurrencyDay> {
    let mut by_currency: BTreeMap<String, BTreeMap<NaiveDate, CurrencyDay>> = BTreeMap::new();
    for d in sparse {
        by_currency
            .entry(d.currency.clone())
            .or_default()
            .insert(d.day, d);
    }
    let mut series = Vec::new();
    for (currency, mut known) in by_currency {
        for day in days.from.iter_days().take_while(|d| *d <= days.to) {
            series.push(known.remove(&day).unwrap_or_else(|| CurrencyDay {
                day,
                currency: currency.clone(),
                gross_cents: 0,
                refunded_cents: 0,
                net_cents: 0,
            }));
        }
    }
    series
}
