//! Venues: an organizer's places, with sections, rows and generated seats.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Actor, CatalogError, check_text};
use crate::auth::Invalid;

/// Most sections in a venue.
pub const MAX_SECTIONS: usize = 50;
/// Most rows in a section.
pub const MAX_ROWS: usize = 100;
/// Most seats in one row.
pub const MAX_SEATS_PER_ROW: i32 = 100;

/// A row as given: its label and how many seats it has.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RowInput {
    /// "A", "B", "AA"...
    pub label: String,
    /// Seats numbered 1..=seats.
    pub seats: i32,
}

/// A section as given.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SectionInput {
    /// Unique in the venue.
    pub name: String,
    /// Its rows.
    pub rows: Vec<RowInput>,
}

/// Validates a seat layout: all problems at once.
pub fn check_sections(sections: &[SectionInput]) -> Result<Vec<SectionInput>, Vec<Invalid>> {
    let mut problems = Vec::new();
    if sections.len() > MAX_SECTIONS {
        problems.push(Invalid::new(
            "sections",
            format!("at most {MAX_SECTIONS} sections"),
        ));
    }
    let mut clean = Vec::with_capacity(sections.len());
    let mut names = std::collections::HashSet::new();
    for section in sections {
        let name = check_text(&mut problems, "sections.name", &section.name, 100);
        if !names.insert(name.to_lowercase()) {
            problems.push(Invalid::new(
                "sections.name",
                format!("`{name}` appears twice"),
            ));
        }
        if section.rows.is_empty() || section.rows.len() > MAX_ROWS {
            problems.push(Invalid::new(
                "sections.rows",
                format!("a section has 1-{MAX_ROWS} rows"),
            ));
        }
        let mut labels = std::collections::HashSet::new();
        let mut rows = Vec::with_capacity(section.rows.len());
        for row in &section.rows {
            let label = check_text(&mut problems, "sections.rows.label", &row.label, 10);
            if label.contains('-') || !labels.insert(label.clone()) {
                problems.push(Invalid::new(
                    "sections.rows.label",
                    format!("`{label}` must be unique in its section and contain no '-'"),
                ));
            }
            if !(1..=MAX_SEATS_PER_ROW).contains(&row.seats) {
                problems.push(Invalid::new(
                    "sections.rows.seats",
                    format!("a row has 1-{MAX_SEATS_PER_ROW} seats"),
                ));
            }
            rows.push(RowInput {
                label,
                seats: row.seats,
            });
        }
        clean.push(SectionInput { name, rows });
    }
    problems.dedup();
    if problems.is_empty() {
        Ok(clean)
    } else {
        Err(problems)
    }
}

/// A venue with its layout.
#[derive(Debug, Clone, Serialize)]
pub struct Venue {
    /// Id.
    pub id: Uuid,
    /// Its organizer.
    pub owner_id: Uuid,
    /// Name.
    pub name: String,
    /// Address.
    pub address: Option<String>,
    /// IANA zone its events' times are shown in.
    pub time_zone: String,
    /// Sections in order, with seats.
    pub sections: Vec<Section>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A section and its seats.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// Id (used in event prices).
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Seats, by row then number.
    pub seats: Vec<Seat>,
}

/// One seat.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Seat {
    /// Id (used in holds).
    pub id: Uuid,
    /// Row label.
    pub row: String,
    /// Number in the row.
    pub number: i32,
    /// "A-12".
    pub label: String,
}

/// A venue in a list (no seats).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct VenueSummary {
    /// Id.
    pub id: Uuid,
    /// Organizer.
    pub owner_id: Uuid,
    /// Name.
    pub name: String,
    /// Address.
    pub address: Option<String>,
    /// Seats in all sections.
    pub seats: i64,
}

/// Checks the name and address of a venue.
pub fn check_details(
    name: &str,
    address: Option<&str>,
) -> Result<(String, Option<String>), Vec<Invalid>> {
    let mut problems = Vec::new();
    let name = check_text(&mut problems, "name", name, 200);
    let address = address.map(|a| check_text(&mut problems, "address", a, 500));
    if problems.is_empty() {
        Ok((name, address))
    } else {
        Err(problems)
    }
}

/// Checks an IANA time zone name ("Europe/Paris", "UTC").
pub fn check_time_zone(problems: &mut Vec<Invalid>, field: &'static str, zone: &str) -> String {
    let zone = zone.trim();
    if zone.parse::<chrono_tz::Tz>().is_err() {
        problems.push(Invalid::new(
            field,
            "must be an IANA time zone such as Europe/Paris or UTC",
        ));
    }
    zone.to_owned()
}

/// A change of name, address and/or zone (`Some(None)` clears the address).
#[derive(Debug, Clone, Default)]
pub struct DetailsPatch {
    /// New name.
    pub name: Option<String>,
    /// New address.
    pub address: Option<Option<String>>,
    /// New IANA time zone.
    pub time_zone: Option<String>,
}

impl DetailsPatch {
    /// Checks what is given.
    pub fn check(self) -> Result<Self, Vec<Invalid>> {
        let mut problems = Vec::new();
        let name = self
            .name
            .map(|n| check_text(&mut problems, "name", &n, 200));
        let address = self
            .address
            .map(|a| a.map(|a| check_text(&mut problems, "address", &a, 500)));
        let time_zone = self
            .time_zone
            .map(|z| check_time_zone(&mut problems, "time_zone", &z));
        if problems.is_empty() {
            Ok(Self {
                name,
                address,
                time_zone,
            })
        } else {
            Err(problems)
        }
    }
}

/// A venue to create, checked.
#[derive(Debug, Clone)]
pub struct NewVenue {
    /// Name.
    pub name: String,
    /// Address.
    pub address: Option<String>,
    /// IANA zone.
    pub time_zone: String,
    /// Layout.
    pub sections: Vec<SectionInput>,
}

impl NewVenue {
    /// Checks every part, collecting every problem.
    pub fn check(
        name: &str,
        address: Option<&str>,
        time_zone: Option<&str>,
        sections: &[SectionInput],
    ) -> Result<Self, Vec<Invalid>> {
        let mut problems = Vec::new();
        let details = check_details(name, address)
            .map_err(|p| problems.extend(p))
            .ok();
        let time_zone = check_time_zone(&mut problems, "time_zone", time_zone.unwrap_or("UTC"));
        let sections = check_sections(sections)
            .map_err(|p| problems.extend(p))
            .ok();
        match (details, sections) {
            (Some((name, address)), Some(sections)) if problems.is_empty() => Ok(Self {
                name,
                address,
                time_zone,
                sections,
            }),
            _ => Err(problems),
        }
    }
}

/// Creates a venue and generates its seats.
pub async fn create(pool: &PgPool, owner: Uuid, venue: &NewVenue) -> Result<Venue, CatalogError> {
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    let sections = &venue.sections;
    sqlx::query!(
        "INSERT INTO venues (id, owner_id, name, address, time_zone) VALUES ($1, $2, $3, $4, $5)",
        id,
        owner,
        venue.name,
        venue.address,
        venue.time_zone,
    )
    .execute(&mut *tx)
    .await?;
    insert_sections(&mut tx, id, sections).await?;
    tx.commit().await?;
    Ok(get_unchecked(pool, id).await?.expect("just created"))
}

async fn insert_sections(
    conn: &mut PgConnection,
    venue: Uuid,
    sections: &[SectionInput],
) -> Result<(), sqlx::Error> {
    let (mut seat_ids, mut seat_sections, mut rows, mut numbers, mut labels) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (position, section) in sections.iter().enumerate() {
        let section_id = Uuid::now_v7();
        sqlx::query!(
            "INSERT INTO venue_sections (id, venue_id, name, position) VALUES ($1, $2, $3, $4)",
            section_id,
            venue,
            section.name,
            position as i32,
        )
        .execute(&mut *conn)
        .await?;
        for row in &section.rows {
            for number in 1..=row.seats {
                seat_ids.push(Uuid::now_v7());
                seat_sections.push(section_id);
                rows.push(row.label.clone());
                numbers.push(number);
                labels.push(format!("{}-{number}", row.label));
            }
        }
    }
    sqlx::query!(
        "INSERT INTO venue_seats (id, section_id, row_label, number, label)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::text[])",
        &seat_ids,
        &seat_sections,
        &rows,
        &numbers,
        &labels,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The caller's venues (every venue for an admin), by name.
pub async fn list(pool: &PgPool, actor: Actor) -> Result<Vec<VenueSummary>, sqlx::Error> {
    sqlx::query_as!(
        VenueSummary,
        r#"SELECT v.id, v.owner_id, v.name, v.address,
                (SELECT count(*) FROM venue_seats s JOIN venue_sections c ON c.id = s.section_id
                  WHERE c.venue_id = v.id) AS "seats!"
         FROM venues v WHERE $1::uuid IS NULL OR v.owner_id = $1 ORDER BY v.name, v.id"#,
        actor.owner_filter(),
    )
    .fetch_all(pool)
    .await
}

/// A venue the actor manages; `NotFound` otherwise.
pub async fn get(pool: &PgPool, actor: Actor, id: Uuid) -> Result<Venue, CatalogError> {
    match get_unchecked(pool, id).await? {
        Some(venue)
            if actor
                .owner_filter()
                .is_none_or(|owner| owner == venue.owner_id) =>
        {
            Ok(venue)
        }
        _ => Err(CatalogError::NotFound("no such venue")),
    }
}

async fn get_unchecked(pool: &PgPool, id: Uuid) -> Result<Option<Venue>, sqlx::Error> {
    struct Row {
        owner_id: Uuid,
        name: String,
        address: Option<String>,
        time_zone: String,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
    let venue = sqlx::query_as!(
        Row,
        "SELECT owner_id, name, address, time_zone, created_at, updated_at FROM venues WHERE id = $1",
        id,
    )
    .fetch_optional(pool)
    .await?;
    let Some(Row {
        owner_id,
        name,
        address,
        time_zone,
        created_at,
        updated_at,
    }) = venue
    else {
        return Ok(None);
    };
    let sections = sqlx::query!(
        "SELECT id, name FROM venue_sections WHERE venue_id = $1 ORDER BY position",
        id,
    )
    .fetch_all(pool)
    .await?;
    let seats = sqlx::query!(
        "SELECT s.section_id, s.id, s.row_label, s.number, s.label
         FROM venue_seats s JOIN venue_sections c ON c.id = s.section_id
         WHERE c.venue_id = $1 ORDER BY c.position, s.row_label, s.number",
        id,
    )
    .fetch_all(pool)
    .await?;
    let sections = sections
        .into_iter()
        .map(|section| Section {
            id: section.id,
            name: section.name,
            seats: seats
                .iter()
                .filter(|seat| seat.section_id == section.id)
                .map(|seat| Seat {
                    id: seat.id,
                    row: seat.row_label.clone(),
                    number: seat.number,
                    label: seat.label.clone(),
                })
                .collect(),
        })
        .collect();
    Ok(Some(Venue {
        id,
        owner_id,
        name,
        address,
        time_zone,
        sections,
        created_at,
        updated_at,
    }))
}

/// Changes name and/or address.
pub async fn update_details(
    pool: &PgPool,
    actor: Actor,
    id: Uuid,
    patch: &DetailsPatch,
) -> Result<Venue, CatalogError> {
    get(pool, actor, id).await?;
    sqlx::query!(
        "UPDATE venues SET name = COALESCE($2, name),
                address = CASE WHEN $3 THEN $4 ELSE address END,
                time_zone = COALESCE($5, time_zone), updated_at = now()
         WHERE id = $1",
        id,
        patch.name,
        patch.address.is_some(),
        patch.address.clone().flatten(),
        patch.time_zone,
    )
    .execute(pool)
    .await?;
    get(pool, actor, id).await
}

/// Replaces the seat layout; 409 once a published (or finished) event uses
/// the venue, since its inventory points at these seats.
pub async fn replace_sections(
    pool: &PgPool,
    actor: Actor,
    id: Uuid,
    sections: &[SectionInput],
) -> Result<Venue, CatalogError> {
    get(pool, actor, id).await?;
    let mut tx = pool.begin().await?;
    // Lock the venue so an event cannot be published against it meanwhile.
    sqlx::query!(
        "SELECT 1 AS locked FROM venues WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    let used = sqlx::query_scalar!(
        r#"SELECT count(*) AS "used!" FROM events WHERE venue_id = $1 AND status <> 'draft'"#,
        id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if used > 0 {
        return Err(CatalogError::Conflict(format!(
            "{used} published event(s) use this venue; its sections and seats cannot change"
        )));
    }
    // Drafts priced against the old sections lose those prices.
    sqlx::query!(
        "DELETE FROM event_section_prices p USING venue_sections s
         WHERE p.section_id = s.id AND s.venue_id = $1",
        id,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM venue_sections WHERE venue_id = $1", id)
        .execute(&mut *tx)
        .await?;
    insert_sections(&mut tx, id, sections).await?;
    sqlx::query!("UPDATE venues SET updated_at = now() WHERE id = $1", id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    get(pool, actor, id).await
}

/// Where an event happens, as people see it.
#[derive(Debug, Clone, Serialize)]
pub struct Place {
    /// Name.
    pub name: String,
    /// Address.
    pub address: Option<String>,
    /// IANA zone its times are shown in ("UTC" unless set).
    pub time_zone: String,
}

/// The venue's name, address and zone; `None` if it does not exist.
pub async fn place(db: impl sqlx::PgExecutor<'_>, id: Uuid) -> Result<Option<Place>, sqlx::Error> {
    sqlx::query_as!(
        Place,
        "SELECT name, address, time_zone FROM venues WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// The zone an event at `venue` shows its times in: the venue's, or UTC
/// for an event without one.
pub async fn time_zone_of(pool: &PgPool, venue: Option<Uuid>) -> Result<String, sqlx::Error> {
    Ok(match venue {
        Some(venue) => place(pool, venue)
            .await?
            .map_or_else(|| "UTC".to_owned(), |p| p.time_zone),
        None => "UTC".to_owned(),
    })
}
