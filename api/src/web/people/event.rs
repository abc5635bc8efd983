//! An event's page: details in the venue's zone, live availability, the
//! seat map (coloured by price and state) and general admission; the
//! waitlist once it is sold out.

use std::collections::BTreeSet;

use marquee_core::booking::BookingError;
use marquee_core::catalog::browse::{self, EventDetail, MapSeat};
use marquee_core::catalog::events::{Event, EventStatus};
use marquee_core::catalog::venues;
use marquee_core::waitlist;
use poem::http::StatusCode;
use poem::web::Path;
use poem::{Request, Response, handler};
use serde::Serialize;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::web::errors::Shown;
use crate::web::form::Fields;
use crate::web::page::{Stop, Web};

/// Price tiers get colours in order of price; past this many they repeat.
const TIERS: usize = 6;

/// An event as its pages show it.
#[derive(Serialize)]
pub struct EventView {
    id: Uuid,
    title: String,
    description: String,
    starts_at: chrono::DateTime<chrono::Utc>,
    ends_at: Option<chrono::DateTime<chrono::Utc>>,
    currency: String,
    max_per_order: i32,
    tags: Vec<String>,
    status: &'static str,
    ticket_types: Vec<marquee_core::catalog::events::TicketType>,
}

impl From<Event> for EventView {
    fn from(event: Event) -> Self {
        Self {
            id: event.id,
            status: event.status.as_str(),
            title: event.fields.title,
            description: event.fields.description,
            starts_at: event.fields.starts_at,
            ends_at: event.fields.ends_at,
            currency: event.fields.currency,
            max_per_order: event.fields.max_per_order,
            tags: event.fields.tags,
            ticket_types: event.ticket_types,
        }
    }
}

#[derive(Serialize)]
struct SeatView {
    id: Uuid,
    number: i32,
    label: String,
    price_cents: i32,
    tier: usize,
    available: bool,
    selected: bool,
}

#[derive(Serialize)]
struct RowView {
    label: String,
    seats: Vec<SeatView>,
}

#[derive(Serialize)]
struct SectionView {
    name: String,
    rows: Vec<RowView>,
}

#[derive(Serialize)]
struct Tier {
    tier: usize,
    price_cents: i32,
}

/// The map, grouped by section then row, with each seat's price tier
/// (tiers by rank among all the event's `prices`).
fn draw(
    seats: Vec<MapSeat>,
    prices: &BTreeSet<i32>,
    selected: &BTreeSet<Uuid>,
) -> (Vec<SectionView>, Vec<Tier>) {
    let tier_of = |price: i32| prices.iter().position(|p| *p == price).unwrap_or(0) % TIERS + 1;
    let tiers = prices
        .iter()
        .map(|&price_cents| Tier {
            tier: tier_of(price_cents),
            price_cents,
        })
        .collect();
    let mut sections: Vec<SectionView> = Vec::new();
    for seat in seats {
        if sections.last().is_none_or(|s| s.name != seat.section) {
            sections.push(SectionView {
                name: seat.section.clone(),
                rows: Vec::new(),
            });
        }
        let rows = &mut sections.last_mut().expect("just pushed").rows;
        if rows.last().is_none_or(|r| r.label != seat.row) {
            rows.push(RowView {
                label: seat.row.clone(),
                seats: Vec::new(),
            });
        }
        rows.last_mut().expect("just pushed").seats.push(SeatView {
            id: seat.seat_id,
            number: seat.number,
            tier: tier_of(seat.price_cents),
            label: seat.label,
            price_cents: seat.price_cents,
            selected: seat.available && selected.contains(&seat.seat_id),
            available: seat.available,
        });
    }
    (sections, tiers)
}

/// Seats one page draws at most: a bigger hall is drawn a section at a
/// time, and a huge section a run of rows at a time, so a page (and each
/// live redraw of it) stays small however big the venue.
pub const MAP_LIMIT: usize = 2_000;

/// A section (or a run of its rows) to choose on a big hall's map.
#[derive(Serialize)]
struct Choice {
    label: String,
    query: String,
    current: bool,
}

/// The part of the map one page draws, and the choices of the others.
#[derive(Serialize)]
struct MapPart {
    sections: Vec<SectionView>,
    tiers: Vec<Tier>,
    sections_to_choose: Vec<Choice>,
    rows_to_choose: Vec<Choice>,
    /// The section drawn (of a big hall), for live redraws.
    section: Option<Uuid>,
    /// The run of its rows drawn.
    part: usize,
}

/// The part of `event`'s map asked for in `query` (`section`, `part`).
async fn map_part(
    web: &Web,
    event: Uuid,
    query: &Fields,
    selected: &BTreeSet<Uuid>,
) -> Result<MapPart, Stop> {
    let pool = &web.state.pool;
    let summaries = browse::map_sections(pool, event)
        .await
        .map_err(|e| web.fail(e))?;
    let prices: BTreeSet<i32> = summaries.iter().map(|s| s.price_cents).collect();
    let total: i64 = summaries.iter().map(|s| s.seats).sum();
    if total as usize <= MAP_LIMIT {
        let seats = browse::seat_map(pool, event, web.actor())
            .await
            .map_err(|e| web.fail(ApiError::from(e)))?;
        let (sections, tiers) = draw(seats, &prices, selected);
        return Ok(MapPart {
            sections,
            tiers,
            sections_to_choose: Vec::new(),
            rows_to_choose: Vec::new(),
            section: None,
            part: 0,
        });
    }
    let asked: Option<Uuid> = query.text("section").and_then(|s| s.parse().ok());
    let Some(chosen) = summaries
        .iter()
        .find(|s| Some(s.section_id) == asked)
        .or_else(|| summaries.iter().find(|s| s.available > 0))
        .or(summaries.first())
    else {
        return Err(web.fail(ApiError::NotFound("no such event".to_owned())));
    };
    let seats = browse::section_map(pool, event, web.actor(), chosen.section_id)
        .await
        .map_err(|e| web.fail(ApiError::from(e)))?;
    // Runs of whole rows, each within the limit (a row is at most 100).
    let mut runs: Vec<Vec<MapSeat>> = vec![Vec::new()];
    for seat in seats {
        let run = runs.last_mut().expect("one run at least");
        let new_row = run.last().is_some_and(|s| s.row != seat.row);
        if new_row && run.len() + 100 > MAP_LIMIT {
            runs.push(Vec::new());
        }
        runs.last_mut().expect("one run at least").push(seat);
    }
    let part = query
        .text("part")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| *p < runs.len())
        .unwrap_or(0);
    let section = chosen.section_id;
    let rows_to_choose = if runs.len() > 1 {
        runs.iter()
            .enumerate()
            .map(|(n, run)| Choice {
                label: format!(
                    "Rows {}–{}",
                    run.first().map(|s| s.row.as_str()).unwrap_or_default(),
                    run.last().map(|s| s.row.as_str()).unwrap_or_default()
                ),
                query: format!("section={section}&part={n}"),
                current: n == part,
            })
            .collect()
    } else {
        Vec::new()
    };
    let sections_to_choose = summaries
        .iter()
        .map(|s| Choice {
            label: format!("{} · {} of {} free", s.name, s.available, s.seats),
            query: format!("section={}", s.section_id),
            current: s.section_id == section,
        })
        .collect();
    let seats = runs.swap_remove(part);
    let (sections, tiers) = draw(seats, &prices, selected);
    Ok(MapPart {
        sections,
        tiers,
        sections_to_choose,
        rows_to_choose,
        section: Some(section),
        part,
    })
}

fn selected_in(fields: &Fields) -> BTreeSet<Uuid> {
    fields.all("seat").filter_map(|s| s.parse().ok()).collect()
}

async fn detail(web: &Web, id: Uuid) -> Result<EventDetail, Stop> {
    browse::detail(&web.state.pool, id, web.actor())
        .await
        .map_err(|e| web.fail(ApiError::from(e)))
}

/// The whole event page; `error` when a hold was refused.
pub async fn render(
    web: &Web,
    id: Uuid,
    query: &Fields,
    selected: &BTreeSet<Uuid>,
    error: Option<&ApiError>,
) -> Result<Response, Stop> {
    let detail = detail(web, id).await?;
    let pool = &web.state.pool;
    let place = match detail.event.fields.venue_id {
        Some(venue) => venues::place(pool, venue)
            .await
            .map_err(|e| web.fail(ApiError::from(e)))?,
        None => None,
    };
    let map = map_part(web, id, query, selected).await?;
    let entry = match &web.me {
        Some(me) => match waitlist::me(pool, me.user_id, id).await {
            Ok(entry) => Some(entry),
            Err(BookingError::NotFound(_)) => None,
            Err(e) => return Err(web.fail(e)),
        },
        None => None,
    };
    let published = detail.event.status == EventStatus::Published;
    let time_zone = place
        .as_ref()
        .map_or("UTC".to_owned(), |p| p.time_zone.clone());
    let shown = error.map(Shown::from);
    let status = shown.as_ref().map_or(StatusCode::OK, |s| s.status);
    // Units anyone may hold now, by ticket type: none left offers the
    // waitlist for that type instead.
    let left: std::collections::BTreeMap<String, i64> = detail
        .availability
        .units_left
        .iter()
        .map(|u| (u.ticket_type_id.to_string(), u.available))
        .collect();
    Ok(web.page_with(
        status,
        "events/show.html",
        minijinja::context! {
            event => EventView::from(detail.event),
            availability => detail.availability,
            place, time_zone, map, published, entry, left,
            error => shown,
        },
    ))
}

/// `GET /events/:id?section=&part=`
#[handler]
pub async fn show(web: Web, Path(id): Path<Uuid>, request: &Request) -> Result<Response, Stop> {
    let query = Fields::parse(request.uri().query().unwrap_or_default().as_bytes());
    render(&web, id, &query, &BTreeSet::new(), None).await
}

/// `GET /events/:id/seats?seat=…`: the map alone, for live refreshes; the
/// seats someone had picked stay picked while they are free.
#[handler]
pub async fn seats_part(
    web: Web,
    Path(id): Path<Uuid>,
    request: &Request,
) -> Result<Response, Stop> {
    let query = Fields::parse(request.uri().query().unwrap_or_default().as_bytes());
    let selected = selected_in(&query);
    let event = EventView::from(detail(&web, id).await?.event);
    let map = map_part(&web, id, &query, &selected).await?;
    Ok(web.page("events/_seats.html", minijinja::context! { event, map }))
}

/// `GET /events/:id/availability`: the figures alone, for live refreshes.
#[handler]
pub async fn availability_part(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    let detail = detail(&web, id).await?;
    Ok(web.page(
        "events/_availability.html",
        minijinja::context! {
            event => EventView::from(detail.event),
            availability => detail.availability,
        },
    ))
}

/// The seats a hold form posted.
pub fn posted_seats(fields: &Fields) -> BTreeSet<Uuid> {
    selected_in(fields)
}
