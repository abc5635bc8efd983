//! Events: what an organizer sells, through draft -> published ->
//! cancelled | completed, and the inventory created at publish.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Actor, CatalogError};
use crate::auth::Invalid;

mod capacity;
mod fields;
mod lifecycle;

pub use capacity::set_capacity;
pub use fields::{EventFields, EventPatch, SectionPrice, TicketTypeInput};
pub use lifecycle::{cancel, complete, delete, publish};

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    /// Being prepared; only its organizer (and admins) see it.
    Draft,
    /// On sale and public.
    Published,
    /// Called off.
    Cancelled,
    /// Over.
    Completed,
}

impl EventStatus {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Cancelled => "cancelled",
            Self::Completed => "completed",
        }
    }
}

/// An event as stored, with its prices and ticket types.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Id.
    pub id: Uuid,
    /// Its organizer.
    pub organizer_id: Uuid,
    /// Status.
    pub status: EventStatus,
    /// What can be edited.
    #[serde(flatten)]
    pub fields: EventFields,
    /// Ticket types with their counts.
    pub ticket_types: Vec<TicketType>,
    /// Published at.
    pub published_at: Option<DateTime<Utc>>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A general-admission ticket type and its counts.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct TicketType {
    /// Id (used in holds).
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Price in minor units.
    pub price_cents: i32,
    /// Units for sale.
    pub capacity: i32,
    /// Units sold.
    pub sold: i32,
    /// Units held now.
    pub held: i32,
}

/// Creates a draft event for `actor`.
pub async fn create(
    pool: &PgPool,
    actor: Actor,
    fields: EventFields,
) -> Result<Event, CatalogError> {
    let mut tx = pool.begin().await?;
    check_venue_and_sections(&mut tx, actor, &fields).await?;
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO events (id, organizer_id, venue_id, title, description, starts_at, ends_at,
                             currency, sales_start, sales_end, max_per_order, hold_minutes,
                             waitlist_offer_minutes, tags)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        id,
        actor.user_id,
        fields.venue_id,
        fields.title,
        fields.description,
        fields.starts_at,
        fields.ends_at,
        fields.currency,
        fields.sales_start,
        fields.sales_end,
        fields.max_per_order,
        fields.hold_minutes,
        fields.waitlist_offer_minutes,
        &fields.tags,
    )
    .execute(&mut *tx)
    .await?;
    write_prices(&mut tx, id, &fields.section_prices).await?;
    write_ticket_types(&mut tx, id, &fields.ticket_types).await?;
    tx.commit().await?;
    Ok(load(pool, id).await?.expect("just created"))
}

/// An event the actor manages (admins: any); `NotFound` otherwise.
pub async fn get(pool: &PgPool, actor: Actor, id: Uuid) -> Result<Event, CatalogError> {
    match load(pool, id).await? {
        Some(event) if actor.owner_filter().is_none_or(|o| o == event.organizer_id) => Ok(event),
        _ => Err(CatalogError::NotFound("no such event")),
    }
}

/// Applies a patch, allowing only the fields the event's status allows.
pub async fn update(
    pool: &PgPool,
    actor: Actor,
    id: Uuid,
    patch: &EventPatch,
) -> Result<Event, CatalogError> {
    let current = get(pool, actor, id).await?;
    let mut tx = pool.begin().await?;
    let status = sqlx::query_scalar!(
        r#"SELECT status AS "status: EventStatus" FROM events WHERE id = $1 FOR UPDATE"#,
        id,
    )
    .fetch_one(&mut *tx)
    .await?;
    patch.allowed_in(status)?;
    let fields = patch.apply(current.fields)?;
    check_venue_and_sections(&mut tx, actor, &fields).await?;
    sqlx::query!(
        "UPDATE events SET venue_id = $2, title = $3, description = $4, starts_at = $5, ends_at = $6,
                currency = $7, sales_start = $8, sales_end = $9, max_per_order = $10,
                hold_minutes = $11, waitlist_offer_minutes = $12, tags = $13, updated_at = now()
         WHERE id = $1",
        id,
        fields.venue_id,
        fields.title,
        fields.description,
        fields.starts_at,
        fields.ends_at,
        fields.currency,
        fields.sales_start,
        fields.sales_end,
        fields.max_per_order,
        fields.hold_minutes,
        fields.waitlist_offer_minutes,
        &fields.tags,
    )
    .execute(&mut *tx)
    .await?;
    if patch.section_prices.is_some() || patch.venue_id.is_some() {
        sqlx::query!("DELETE FROM event_section_prices WHERE event_id = $1", id)
            .execute(&mut *tx)
            .await?;
        write_prices(&mut tx, id, &fields.section_prices).await?;
    }
    if patch.ticket_types.is_some() {
        sqlx::query!("DELETE FROM ticket_types WHERE event_id = $1", id)
            .execute(&mut *tx)
            .await?;
        write_ticket_types(&mut tx, id, &fields.ticket_types).await?;
    }
    tx.commit().await?;
    Ok(load(pool, id).await?.expect("exists"))
}

/// The venue must be the actor's (admins: any) and every priced section
/// must be one of its sections.
async fn check_venue_and_sections(
    conn: &mut PgConnection,
    actor: Actor,
    fields: &EventFields,
) -> Result<(), CatalogError> {
    let mut problems = Vec::new();
    let sections: Vec<Uuid> = match fields.venue_id {
        None => Vec::new(),
        Some(venue) => {
            let owner = sqlx::query_scalar!("SELECT owner_id FROM venues WHERE id = $1", venue)
                .fetch_optional(&mut *conn)
                .await?;
            if owner.is_none() || actor.owner_filter().is_some_and(|me| Some(me) != owner) {
                problems.push(Invalid::new("venue_id", "no such venue of yours"));
            }
            sqlx::query_scalar!("SELECT id FROM venue_sections WHERE venue_id = $1", venue)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    if fields.venue_id.is_none() && !fields.section_prices.is_empty() {
        problems.push(Invalid::new(
            "section_prices",
            "a seated event needs a venue_id",
        ));
    } else if fields
        .section_prices
        .iter()
        .any(|p| !sections.contains(&p.section_id))
    {
        problems.push(Invalid::new(
            "section_prices.section_id",
            "unknown section: not a section of this venue",
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into())
    }
}

async fn write_prices(
    conn: &mut PgConnection,
    event: Uuid,
    prices: &[SectionPrice],
) -> Result<(), sqlx::Error> {
    let sections: Vec<Uuid> = prices.iter().map(|p| p.section_id).collect();
    let cents: Vec<i32> = prices.iter().map(|p| p.price_cents).collect();
    // (`$1::uuid`: the type it always had; a bare parameter in a SELECT
    // list would be taken for text.)
    sqlx::query!(
        "INSERT INTO event_section_prices (event_id, section_id, price_cents)
         SELECT $1::uuid, * FROM UNNEST($2::uuid[], $3::int[])",
        event,
        &sections,
        &cents,
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn write_ticket_types(
    conn: &mut PgConnection,
    event: Uuid,
    types: &[TicketTypeInput],
) -> Result<(), sqlx::Error> {
    for (position, ticket) in types.iter().enumerate() {
        sqlx::query!(
            "INSERT INTO ticket_types (id, event_id, name, price_cents, capacity, position)
             VALUES ($1, $2, $3, $4, $5, $6)",
            Uuid::now_v7(),
            event,
            ticket.name,
            ticket.price_cents,
            ticket.capacity,
            position as i32,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// An event's own row, before its prices and ticket types are read.
struct EventRow {
    id: Uuid,
    organizer_id: Uuid,
    venue_id: Option<Uuid>,
    title: String,
    description: String,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    currency: String,
    sales_start: Option<DateTime<Utc>>,
    sales_end: Option<DateTime<Utc>>,
    max_per_order: i32,
    hold_minutes: i32,
    waitlist_offer_minutes: i32,
    tags: Vec<String>,
    status: EventStatus,
    published_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Reads an event whoever may see it; callers check visibility.
pub async fn load(pool: &PgPool, id: Uuid) -> Result<Option<Event>, sqlx::Error> {
    let row = sqlx::query_as!(
        EventRow,
        r#"SELECT id, organizer_id, venue_id, title, description, starts_at, ends_at, currency,
                sales_start, sales_end, max_per_order, hold_minutes, waitlist_offer_minutes,
                tags, status AS "status: EventStatus", published_at, created_at, updated_at
         FROM events WHERE id = $1"#,
        id,
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let section_prices = sqlx::query_as!(
        SectionPrice,
        "SELECT p.section_id, p.price_cents FROM event_section_prices p
         JOIN venue_sections s ON s.id = p.section_id WHERE p.event_id = $1 ORDER BY s.position",
        id,
    )
    .fetch_all(pool)
    .await?;
    let ticket_types = sqlx::query_as!(
        TicketType,
        "SELECT id, name, price_cents, capacity, sold, held FROM ticket_types
         WHERE event_id = $1 ORDER BY position",
        id,
    )
    .fetch_all(pool)
    .await?;
    Ok(Some(Event {
        id: row.id,
        organizer_id: row.organizer_id,
        status: row.status,
        fields: EventFields {
            title: row.title,
            description: row.description,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            venue_id: row.venue_id,
            section_prices,
            ticket_types: ticket_types
                .iter()
                .map(|t| TicketTypeInput {
                    name: t.name.clone(),
                    price_cents: t.price_cents,
                    capacity: t.capacity,
                })
                .collect(),
            currency: row.currency,
            sales_start: row.sales_start,
            sales_end: row.sales_end,
            max_per_order: row.max_per_order,
            hold_minutes: row.hold_minutes,
            waitlist_offer_minutes: row.waitlist_offer_minutes,
            tags: row.tags,
        },
        ticket_types,
        published_at: row.published_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }))
}

/// An event in its organizer's list.
#[derive(Debug, Clone, Serialize)]
pub struct OwnEvent {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// draft, published, cancelled or completed.
    pub status: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// The venue's zone ("UTC" without a venue).
    pub time_zone: String,
}

/// The actor's events (every event for admins), soonest first, at most 500.
pub async fn of_organizer(pool: &PgPool, actor: Actor) -> Result<Vec<OwnEvent>, sqlx::Error> {
    sqlx::query_as!(
        OwnEvent,
        r#"SELECT e.id, e.title, e.status, e.starts_at, COALESCE(v.time_zone, 'UTC') AS "time_zone!"
         FROM events e LEFT JOIN venues v ON v.id = e.venue_id
         WHERE $1::uuid IS NULL OR e.organizer_id = $1
         ORDER BY e.starts_at, e.id LIMIT 500"#,
        actor.owner_filter(),
    )
    .fetch_all(pool)
    .await
}
