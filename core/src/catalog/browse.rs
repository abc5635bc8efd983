//! What people browse: published events, an event with its availability,
//! and the seat map. Holds past `held_until` count as available at once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::events::{Event, EventStatus, load};
use super::{Actor, CatalogError};

/// Browse filters; every one has an index.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventQuery {
    /// Words to find in title and description (PostgreSQL full-text).
    pub q: Option<String>,
    /// Starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Starting before.
    pub to: Option<DateTime<Utc>>,
    /// At this venue.
    pub venue_id: Option<Uuid>,
    /// By this organizer.
    pub organizer_id: Option<Uuid>,
    /// Carrying every one of these normalised tags (none: no filter).
    pub tags: Vec<String>,
    /// 1-based.
    pub page: i64,
    /// Page size.
    pub per_page: i64,
}

/// An event in a list.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct EventSummary {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
    /// Venue.
    pub venue_id: Option<Uuid>,
    /// Venue name.
    pub venue_name: Option<String>,
    /// Organizer.
    pub organizer_id: Uuid,
    /// Currency.
    pub currency: String,
    /// Cheapest price on offer, if any.
    pub min_price_cents: Option<i32>,
    /// Tags.
    pub tags: Vec<String>,
}

/// One page of published events, by start, and how many match in all.
pub async fn list(
    pool: &PgPool,
    query: &EventQuery,
) -> Result<(Vec<EventSummary>, i64), sqlx::Error> {
    // Both statements filter alike: an absent filter is a NULL parameter,
    // so the SQL is static (keep the two WHERE clauses the same).
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!" FROM events e
         WHERE e.status = 'published'
          AND ($1::text IS NULL OR e.search @@ websearch_to_tsquery('simple', $1))
          AND ($2::timestamptz IS NULL OR e.starts_at >= $2)
          AND ($3::timestamptz IS NULL OR e.starts_at < $3)
          AND ($4::uuid IS NULL OR e.venue_id = $4)
          AND ($5::uuid IS NULL OR e.organizer_id = $5)
          AND (cardinality($6::text[]) = 0 OR e.tags @> $6)"#,
        q,
        query.from,
        query.to,
        query.venue_id,
        query.organizer_id,
        &query.tags,
    )
    .fetch_one(pool)
    .await?;
    // `?`: query_as! would decode a column it takes for NOT NULL into an
    // Option field as if it could never be NULL; the venue is a LEFT JOIN.
    let events = sqlx::query_as!(
        EventSummary,
        r#"SELECT e.id, e.title, e.starts_at, e.ends_at, e.venue_id, v.name AS "venue_name?",
                e.organizer_id, e.currency,
                LEAST((SELECT min(price_cents) FROM event_section_prices p WHERE p.event_id = e.id),
                      (SELECT min(price_cents) FROM ticket_types t WHERE t.event_id = e.id))
                    AS "min_price_cents?", e.tags
         FROM events e LEFT JOIN venues v ON v.id = e.venue_id
         WHERE e.status = 'published'
          AND ($1::text IS NULL OR e.search @@ websearch_to_tsquery('simple', $1))
          AND ($2::timestamptz IS NULL OR e.starts_at >= $2)
          AND ($3::timestamptz IS NULL OR e.starts_at < $3)
          AND ($4::uuid IS NULL OR e.venue_id = $4)
          AND ($5::uuid IS NULL OR e.organizer_id = $5)
          AND (cardinality($6::text[]) = 0 OR e.tags @> $6)
         ORDER BY e.starts_at, e.id LIMIT $7 OFFSET $8"#,
        q,
        query.from,
        query.to,
        query.venue_id,
        query.organizer_id,
        &query.tags,
        query.per_page,
        (query.page - 1).saturating_mul(query.per_page),
    )
    .fetch_all(pool)
    .await?;
    Ok((events, total))
}

/// What is left to buy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Availability {
    /// Seats in the event's inventory.
    pub seats_total: i64,
    /// Seats anyone may hold now.
    pub seats_available: i64,
    /// Free seats kept for the waitlist (people wait for their section).
    pub seats_held_back: i64,
    /// Seats held (and not expired).
    pub seats_held: i64,
    /// Seats sold.
    pub seats_sold: i64,
    /// Seats taken off sale.
    pub seats_blocked: i64,
    /// General-admission units anyone may hold now, over all ticket types.
    pub tickets_available: i64,
    /// Free units kept for the waitlist.
    pub tickets_held_back: i64,
    /// People on the waitlist.
    pub waitlist_waiting: i64,
    /// Nothing at all left for the public.
    pub sold_out: bool,
    /// General-admission units anyone may hold now, per ticket type.
    #[serde(default)]
    pub units_left: Vec<UnitsLeft>,
}

/// What is left of one ticket type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnitsLeft {
    /// The ticket type.
    pub ticket_type_id: Uuid,
    /// Units anyone may hold now (0 while the waitlist has them).
    pub available: i64,
}

/// An event with its availability.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventDetail {
    /// The event.
    pub event: Event,
    /// Its inventory now.
    pub availability: Availability,
    /// For a cancelled event: how far cancelling its bookings has got.
    pub cancellation: Option<crate::booking::cancel::CancellationProgress>,
}

/// Whether `viewer` may see `event`: published, cancelled and completed
/// events are public; drafts only to their organizer and admins.
pub fn visible(event: &Event, viewer: Option<Actor>) -> bool {
    event.status != EventStatus::Draft
        || viewer.is_some_and(|v| v.owner_filter().is_none_or(|me| me == event.organizer_id))
}

/// The event with availability; `NotFound` if the viewer may not see it.
pub async fn detail(
    pool: &PgPool,
    id: Uuid,
    viewer: Option<Actor>,
) -> Result<EventDetail, CatalogError> {
    let event = match load(pool, id).await? {
        Some(event) if visible(&event, viewer) => event,
        _ => return Err(CatalogError::NotFound("no such event")),
    };
    let availability = availability(pool, &event).await?;
    let cancellation = if event.status == EventStatus::Cancelled {
        Some(crate::booking::cancel::progress(pool, id).await?)
    } else {
        None
    };
    Ok(EventDetail {
        event,
        availability,
        cancellation,
    })
}

/// What is left of `event` to buy now.
pub async fn availability(pool: &PgPool, event: &Event) -> Result<Availability, CatalogError> {
    // Free inventory someone waits for is not for the public (hold-back).
    let back = crate::waitlist::held_back(pool, event.id).await?;
    let seats = sqlx::query!(
        r#"SELECT count(*) AS "total!",
                count(*) FILTER (WHERE (status = 'available' OR (status = 'held' AND held_until <= now()))
                                   AND NOT ($2 OR section_id = ANY($3))) AS "available!",
                count(*) FILTER (WHERE (status = 'available' OR (status = 'held' AND held_until <= now()))
                                   AND ($2 OR section_id = ANY($3))) AS "held_back!",
                count(*) FILTER (WHERE status = 'held' AND held_until > now()) AS "held!",
                count(*) FILTER (WHERE status = 'sold') AS "sold!",
                count(*) FILTER (WHERE status = 'blocked') AS "blocked!"
         FROM event_seats WHERE event_id = $1"#,
        event.id,
        back.everything,
        &back.sections,
    )
    .fetch_one(pool)
    .await?;
    let (mut tickets_available, mut tickets_held_back) = (0, 0);
    let mut units_left = Vec::with_capacity(event.ticket_types.len());
    for t in &event.ticket_types {
        let free = i64::from(t.capacity - t.sold - t.held);
        let public = if back.ticket_type(t.id) {
            tickets_held_back += free;
            0
        } else {
            tickets_available += free;
            free
        };
        units_left.push(UnitsLeft {
            ticket_type_id: t.id,
            available: public,
        });
    }
    Ok(Availability {
        seats_total: seats.total,
        seats_available: seats.available,
        seats_held_back: seats.held_back,
        tickets_held_back,
        waitlist_waiting: back.waiting,
        seats_held: seats.held,
        seats_sold: seats.sold,
        seats_blocked: seats.blocked,
        tickets_available,
        sold_out: seats.available + tickets_available == 0,
        units_left,
    })
}

/// A seat on the map: where, how much, and whether it can be held. Never
/// who holds it.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct MapSeat {
    /// Seat id (for holds).
    pub seat_id: Uuid,
    /// Section id.
    pub section_id: Uuid,
    /// Section name.
    pub section: String,
    /// "A-12".
    pub label: String,
    /// Row label, for drawing the map.
    #[serde(default)]
    pub row: String,
    /// Number in the row.
    #[serde(default)]
    pub number: i32,
    /// Price in minor units.
    pub price_cents: i32,
    /// Free to hold now.
    pub available: bool,
}

/// The seat map (empty for an event without a venue or not yet published).
/// Seats kept for the waitlist show as not available.
pub async fn seat_map(
    pool: &PgPool,
    id: Uuid,
    viewer: Option<Actor>,
) -> Result<Vec<MapSeat>, CatalogError> {
    seats_of(pool, id, viewer, None).await
}

/// The seat map of one section only: a page draws a big hall a section at
/// a time.
pub async fn section_map(
    pool: &PgPool,
    id: Uuid,
    viewer: Option<Actor>,
    section: Uuid,
) -> Result<Vec<MapSeat>, CatalogError> {
    seats_of(pool, id, viewer, Some(section)).await
}

async fn seats_of(
    pool: &PgPool,
    id: Uuid,
    viewer: Option<Actor>,
    section: Option<Uuid>,
) -> Result<Vec<MapSeat>, CatalogError> {
    match load(pool, id).await? {
        Some(event) if visible(&event, viewer) => {}
        _ => return Err(CatalogError::NotFound("no such event")),
    }
    let back = crate::waitlist::held_back(pool, id).await?;
    Ok(sqlx::query_as!(
        MapSeat,
        r#"SELECT es.seat_id, es.section_id, c.name AS section, es.label, s.row_label AS row,
                s.number, es.price_cents,
                (es.status = 'available' OR (es.status = 'held' AND es.held_until <= now()))
                    AND NOT ($2 OR es.section_id = ANY($3)) AS "available!"
         FROM event_seats es
         JOIN venue_sections c ON c.id = es.section_id
         JOIN venue_seats s ON s.id = es.seat_id
         WHERE es.event_id = $1 AND ($4::uuid IS NULL OR es.section_id = $4)
         ORDER BY c.position, s.row_label, s.number"#,
        id,
        back.everything,
        &back.sections,
        section,
    )
    .fetch_all(pool)
    .await?)
}

/// A section of an event's map, counted (for choosing one to draw).
#[derive(Debug, Clone, Serialize)]
pub struct MapSection {
    /// Id.
    pub section_id: Uuid,
    /// Name.
    pub name: String,
    /// Seats in it.
    pub seats: i64,
    /// Of those, free to hold now (before any waitlist hold-back).
    pub available: i64,
    /// Its price.
    pub price_cents: i32,
}

/// The event's sections in venue order, with their counts; one aggregate,
/// however big the hall.
pub async fn map_sections(pool: &PgPool, id: Uuid) -> Result<Vec<MapSection>, sqlx::Error> {
    sqlx::query_as!(
        MapSection,
        r#"SELECT es.section_id, c.name, count(*) AS "seats!",
                count(*) FILTER (WHERE es.status = 'available'
                    OR (es.status = 'held' AND es.held_until <= now())) AS "available!",
                min(es.price_cents) AS "price_cents!"
         FROM event_seats es JOIN venue_sections c ON c.id = es.section_id
         WHERE es.event_id = $1
         GROUP BY es.section_id, c.name, c.position
         ORDER BY c.position"#,
        id,
    )
    .fetch_all(pool)
    .await
}

/// What a list of bookings or tickets shows of each event.
#[derive(Debug, Clone, Serialize)]
pub struct Headline {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// The venue's zone ("UTC" without a venue).
    pub time_zone: String,
}

/// The headlines of `ids` (any status: a person's past bookings outlive
/// the event's sale), in no particular order.
pub async fn headlines(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Headline>, sqlx::Error> {
    sqlx::query_as!(
        Headline,
        r#"SELECT e.id AS "id!", e.title AS "title!", e.starts_at AS "starts_at!",
                COALESCE(v.time_zone, 'UTC') AS "time_zone!"
         FROM events e LEFT JOIN venues v ON v.id = e.venue_id
         WHERE e.id = ANY($1)"#,
        ids,
    )
    .fetch_all(pool)
    .await
}
