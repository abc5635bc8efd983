//! Events: create (after choosing a venue, so every section gets a price),
//! manage (edit, publish, cancel, cancellation policy, announcements,
//! exports).

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use marquee_core::auth::Invalid;
use marquee_core::booking::policy::{self, FeeType, Policy, RefundTier};
use marquee_core::catalog::events::{self, EventFields, EventPatch, SectionPrice, TicketTypeInput};
use marquee_core::catalog::{Actor, venues};
use marquee_core::insights::exports::Export;
use marquee_core::live::announcements;
use poem::http::header;
use poem::web::Path;
use poem::{Request, Response, handler};
use uuid::Uuid;

use super::organizer;
use crate::actions::catalog::{self, Transition};
use crate::problem::ApiError;
use crate::web::errors::Shown;
use crate::web::form::Fields;
use crate::web::page::{Stop, Web, see_other};

/// Ticket-type rows on the form.
const GA_ROWS: usize = 3;

/// A time typed in a `datetime-local` field, in `zone`.
fn local_time(
    problems: &mut Vec<Invalid>,
    field: &'static str,
    text: Option<&str>,
    zone: chrono_tz::Tz,
) -> Option<DateTime<Utc>> {
    let text = text?;
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").ok();
    let parsed = naive.and_then(|naive| zone.from_local_datetime(&naive).earliest());
    match (naive, parsed) {
        (None, _) => problems.push(Invalid::new(
            field,
            "a date and time, like 2027-03-14T19:30",
        )),
        (Some(_), None) => problems.push(Invalid::new(
            field,
            format!("this time does not exist in {zone} (the clocks skip it); pick another"),
        )),
        _ => {}
    }
    parsed.map(|t| t.with_timezone(&Utc))
}

/// The event form's fields, read against the venue's sections.
fn read_fields(
    fields: &Fields,
    venue: Option<&venues::Venue>,
) -> Result<EventFields, Vec<Invalid>> {
    let mut problems = Vec::new();
    let zone: chrono_tz::Tz = venue
        .and_then(|v| v.time_zone.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    let currency = fields.text("currency").unwrap_or("EUR").to_uppercase();
    let starts_at = local_time(&mut problems, "starts_at", fields.text("starts_at"), zone);
    if fields.text("starts_at").is_none() {
        problems.push(Invalid::new("starts_at", "when does it start?"));
    }
    let ends_at = local_time(&mut problems, "ends_at", fields.text("ends_at"), zone);
    let mut price = |text: &str| match marquee_core::money::parse(text, &currency) {
        Some(cents) => cents,
        None => {
            problems.push(Invalid::new(
                "prices",
                format!("`{text}` is not a price in {currency} (like 25.00)"),
            ));
            0
        }
    };
    let mut section_prices = Vec::new();
    for section in venue.map(|v| v.sections.as_slice()).unwrap_or_default() {
        let field = format!("price_{}", section.id);
        if let Some(text) = fields.text(&field) {
            section_prices.push(SectionPrice {
                section_id: section.id,
                price_cents: price(text),
            });
        }
    }
    let mut ticket_types = Vec::new();
    for i in 1..=GA_ROWS {
        let Some(name) = fields.text(&format!("ga_name_{i}")) else {
            continue;
        };
        let price_cents = price(fields.text(&format!("ga_price_{i}")).unwrap_or_default());
        let capacity = fields
            .text(&format!("ga_capacity_{i}"))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        ticket_types.push(TicketTypeInput {
            name: name.to_owned(),
            price_cents,
            capacity,
        });
    }
    let number =
        |name: &str, default: i32| fields.text(name).map_or(Some(default), |t| t.parse().ok());
    let (max_per_order, hold_minutes) = (number("max_per_order", 10), number("hold_minutes", 10));
    if max_per_order.is_none() {
        problems.push(Invalid::new("max_per_order", "a whole number"));
    }
    if hold_minutes.is_none() {
        problems.push(Invalid::new("hold_minutes", "a whole number"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(EventFields {
        title: fields.get("title").unwrap_or_default().to_owned(),
        description: fields.get("description").unwrap_or_default().to_owned(),
        starts_at: starts_at.expect("checked"),
        ends_at,
        venue_id: venue.map(|v| v.id),
        section_prices,
        ticket_types,
        currency,
        sales_start: None,
        sales_end: None,
        max_per_order: max_per_order.expect("checked"),
        hold_minutes: hold_minutes.expect("checked"),
        waitlist_offer_minutes: 30,
        tags: tags_of(fields),
    })
}

fn tags_of(fields: &Fields) -> Vec<String> {
    fields
        .get("tags")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn venue_of(
    web: &Web,
    actor: Actor,
    id: Option<Uuid>,
) -> Result<Option<venues::Venue>, Stop> {
    match id {
        Some(id) => Ok(Some(
            venues::get(&web.state.pool, actor, id)
                .await
                .map_err(|e| web.fail(e))?,
        )),
        None => Ok(None),
    }
}

fn render_new(
    web: &Web,
    venue: Option<&venues::Venue>,
    venues_list: Vec<venues::VenueSummary>,
    fields: Option<&Fields>,
    error: Option<&ApiError>,
) -> Response {
    let shown = error.map(Shown::from);
    let status = shown
        .as_ref()
        .map_or(poem::http::StatusCode::OK, |s| s.status);
    let value = |name: &str| {
        fields
            .and_then(|f| f.get(name))
            .unwrap_or_default()
            .to_owned()
    };
    let sections: Vec<_> = venue
        .map(|v| v.sections.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let field = format!("price_{}", s.id);
            minijinja::context! { id => s.id, name => s.name, seats => s.seats.len(), field => field.clone(), value => value(&field) }
        })
        .collect();
    let ga: Vec<_> = (1..=GA_ROWS)
        .map(|i| {
            minijinja::context! {
                i, name => value(&format!("ga_name_{i}")), price => value(&format!("ga_price_{i}")),
                capacity => value(&format!("ga_capacity_{i}")),
            }
        })
        .collect();
    let form: std::collections::BTreeMap<&str, String> = [
        "title",
        "description",
        "starts_at",
        "ends_at",
        "currency",
        "max_per_order",
        "hold_minutes",
        "tags",
    ]
    .into_iter()
    .map(|k| (k, value(k)))
    .collect();
    web.page_with(
        status,
        "organizer/event_new.html",
        minijinja::context! {
            venue, venues => venues_list, sections, ga, form, error => shown,
        },
    )
}

/// `GET /organizer/events/new?venue=`: pick a venue, then the form.
#[handler]
pub async fn new_form(web: Web, request: &Request) -> Result<Response, Stop> {
    let actor = organizer(&web)?;
    let query = Fields::parse(request.uri().query().unwrap_or_default().as_bytes());
    let venue = venue_of(&web, actor, super::venues::venue_id(query.text("venue"))).await?;
    let list = venues::list(&web.state.pool, actor)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(render_new(&web, venue.as_ref(), list, None, None))
}

/// `POST /organizer/events`: a draft.
#[handler]
pub async fn create(web: Web, fields: Fields) -> Result<Response, Stop> {
    let actor = organizer(&web)?;
    let venue = venue_of(
        &web,
        actor,
        super::venues::venue_id(fields.text("venue_id")),
    )
    .await?;
    let created = match read_fields(&fields, venue.as_ref()) {
        Ok(event) => catalog::create_event(&web.state, actor, event).await,
        Err(problems) => Err(ApiError::from(problems)),
    };
    match created {
        Ok(event) => Ok(see_other(&format!("/organizer/events/{}", event.id))),
        Err(error) => {
            let list = venues::list(&web.state.pool, actor)
                .await
                .map_err(|e| web.fail(e))?;
            Ok(render_new(
                &web,
                venue.as_ref(),
                list,
                Some(&fields),
                Some(&error),
            ))
        }
    }
}

/// The manage page of one of the organizer's events.
async fn render_manage(web: &Web, id: Uuid, error: Option<&ApiError>) -> Result<Response, Stop> {
    let actor = organizer(web)?;
    let event = events::get(&web.state.pool, actor, id)
        .await
        .map_err(|e| web.fail(e))?;
    let policy = policy::get(&web.state.pool, id)
        .await
        .map_err(|e| web.fail(e))?;
    let (said, _) = announcements::list(&web.state.pool, Some(actor), id, 1, 20)
        .await
        .map_err(|e| web.fail(e))?;
    let time_zone = venues::time_zone_of(&web.state.pool, event.fields.venue_id)
        .await
        .map_err(|e| web.fail(e))?;
    let shown = error.map(Shown::from);
    let status = shown
        .as_ref()
        .map_or(poem::http::StatusCode::OK, |s| s.status);
    let tiers: Vec<_> = policy.refund_tiers.iter().collect();
    Ok(web.page_with(
        status,
        "organizer/event.html",
        minijinja::context! {
            event => crate::web::people::event::EventView::from(event.clone()),
            status => event.status.as_str(),
            tags => event.fields.tags.join(", "),
            policy, tiers, announcements => said, time_zone,
            fee_type => match policy.fee_type { FeeType::None => "none", FeeType::Fixed => "fixed", FeeType::Percent => "percent" },
            error => shown,
        },
    ))
}

/// `GET /organizer/events/:id`
#[handler]
pub async fn manage(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    render_manage(&web, id, None).await
}

/// `POST /organizer/events/:id`: title, description, tags, limits.
#[handler]
pub async fn update(web: Web, Path(id): Path<Uuid>, fields: Fields) -> Result<Response, Stop> {
    let actor = organizer(&web)?;
    let bad: Vec<Invalid> = ["max_per_order", "hold_minutes"]
        .into_iter()
        .filter(|name| fields.text(name).is_some_and(|t| t.parse::<i32>().is_err()))
        .map(|name| Invalid::new(name, "a whole number"))
        .collect();
    if !bad.is_empty() {
        return render_manage(&web, id, Some(&ApiError::from(bad))).await;
    }
    let number = |name: &str| fields.text(name).and_then(|t| t.parse::<i32>().ok());
    let patch = EventPatch {
        title: fields.get("title").map(str::to_owned),
        description: fields.get("description").map(str::to_owned),
        max_per_order: number("max_per_order"),
        hold_minutes: number("hold_minutes"),
        tags: fields.get("tags").map(|_| tags_of(&fields)),
        ..EventPatch::default()
    };
    match catalog::update_event(&web.state, actor, id, &patch).await {
        Ok(_) => Ok(see_other(&format!("/organizer/events/{id}"))),
        Err(error) => render_manage(&web, id, Some(&error)).await,
    }
}

/// `POST /organizer/events/:id/:action` (`publish`, `cancel`, `complete`).
#[handler]
pub async fn transition(
    web: Web,
    Path((id, action)): Path<(Uuid, String)>,
) -> Result<Response, Stop> {
    let actor = organizer(&web)?;
    let to = match action.as_str() {
        "publish" => Transition::Publish,
        "cancel" => Transition::Cancel,
        "complete" => Transition::Complete,
        _ => return Err(web.fail(ApiError::NotFound("no such action".to_owned()))),
    };
    match catalog::transition(&web.state, actor, id, to).await {
        Ok(_) => Ok(see_other(&format!("/organizer/events/{id}"))),
        Err(error) => render_manage(&web, id, Some(&error)).await,
    }
}

/// `POST /organizer/events/:id/policy`
#[handler]
pub async fn set_policy(web: Web, Path(id): Path<Uuid>, fields: Fields) -> Result<Response, Stop> {
    let actor = organizer(&web)?;
    let number = |name: &str| fields.text(name).and_then(|t| t.parse::<i32>().ok());
    let mut refund_tiers = Vec::new();
    let mut half_tiers = false;
    for i in 1..=3 {
        let (hours, percent) = (format!("tier_hours_{i}"), format!("tier_percent_{i}"));
        match (number(&hours), number(&percent)) {
            (Some(hours), Some(percent)) => refund_tiers.push(RefundTier {
                hours_before_start: hours,
                refund_percent: percent,
            }),
            _ if fields.text(&hours).is_some() || fields.text(&percent).is_some() => {
                half_tiers = true;
            }
            _ => {}
        }
    }
    if half_tiers {
        let error = ApiError::from(vec![Invalid::new(
            "refund_tiers",
            "each refund tier needs both its hours and its percentage, as whole numbers",
        )]);
        return render_manage(&web, id, Some(&error)).await;
    }
    let fee_type = match fields.get("fee_type") {
        Some("fixed") => FeeType::Fixed,
        Some("percent") => FeeType::Percent,
        _ => FeeType::None,
    };
    let currency = events::get(&web.state.pool, actor, id)
        .await
        .map_err(|e| web.fail(e))?
        .fields
        .currency;
    let fee_amount = match fee_type {
        FeeType::None => Some(0),
        FeeType::Percent => number("fee_amount"),
        FeeType::Fixed => fields
            .text("fee_amount")
            .and_then(|t| marquee_core::money::parse(t, &currency)),
    };
    let policy = match (number("deadline_hours_before_start"), fee_amount) {
        (Some(deadline), Some(fee_amount)) => Ok(Policy {
            allow: fields.get("allow") == Some("on"),
            deadline_hours_before_start: deadline,
            refund_tiers,
            fee_type,
            fee_amount,
        }),
        _ => Err(ApiError::from(vec![Invalid::new(
            "policy",
            "the deadline and fee must be numbers",
        )])),
    };
    let saved = match policy {
        Ok(policy) => catalog::put_policy(&web.state, actor, id, policy).await,
        Err(error) => Err(error),
    };
    match saved {
        Ok(_) => Ok(see_other(&format!("/organizer/events/{id}#policy"))),
        Err(error) => render_manage(&web, id, Some(&error)).await,
    }
}

/// `POST /organizer/events/:id/announcements`
#[handler]
pub async fn announce(web: Web, Path(id): Path<Uuid>, fields: Fields) -> Result<Response, Stop> {
    let actor = organizer(&web)?;
    let message = fields.get("message").unwrap_or_default();
    match catalog::announce(&web.state, actor, id, message).await {
        Ok(_) => Ok(see_other(&format!("/organizer/events/{id}#announcements"))),
        Err(error) => render_manage(&web, id, Some(&error)).await,
    }
}

/// `GET /organizer/events/:id/:file` (`attendees.csv`, `bookings.csv`).
#[handler]
pub async fn export(web: Web, Path((id, file)): Path<(Uuid, String)>) -> Result<Response, Stop> {
    let actor = organizer(&web)?;
    let what = match file.as_str() {
        "attendees.csv" => Export::Attendees,
        "bookings.csv" => Export::Bookings,
        _ => return Err(web.fail(ApiError::NotFound("no such export".to_owned()))),
    };
    let (body, name) = catalog::export(&web.state, actor, id, what)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .header(header::CACHE_CONTROL, "private, no-store")
        .body(body))
}
