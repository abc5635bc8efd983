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

/// The map, grouped by section then row, with each seat's price tier.
fn seat_map(seats: Vec<MapSeat>, selected: &BTreeSet<Uuid>) -> (Vec<SectionView>, Vec<Tier>) {
    let prices: BTreeSet<i32> = seats.iter().map(|s| s.price_cents).collect();
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
    let seats = browse::seat_map(pool, id, web.actor())
        .await
        .map_err(|e| web.fail(ApiError::from(e)))?;
    let (sections, tiers) = seat_map(seats, selected);
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
            place, time_zone, sections, tiers, published, entry, left,
            error => shown,
        },
    ))
}

/// `GET /events/:id`
#[handler]
pub async fn show(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    render(&web, id, &BTreeSet::new(), None).await
}

/// `GET /events/:id/seats?seat=…`: the map alone, for live refreshes; the
/// seats someone had picked stay picked while they are free.
#[handler]
pub async fn seats_part(
    web: Web,
    Path(id): Path<Uuid>,
    request: &Request,
) -> Result<Response, Stop> {
    let selected = selected_in(&Fields::parse(
        request.uri().query().unwrap_or_default().as_bytes(),
    ));
    let event = EventView::from(detail(&web, id).await?.event);
    let seats = browse::seat_map(&web.state.pool, id, web.actor())
        .await
        .map_err(|e| web.fail(ApiError::from(e)))?;
    let (sections, tiers) = seat_map(seats, &selected);
    Ok(web.page(
        "events/_seats.html",
        minijinja::context! { event, sections, tiers },
    ))
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
