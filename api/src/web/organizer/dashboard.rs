//! An event's dashboard: sales per day (a chart drawn from the figures),
//! revenue, the door's progress (updated live) and the waitlist.

use marquee_core::insights::{Zone, event_stats};
use marquee_core::tickets::door;
use poem::web::Path;
use poem::{Response, handler};
use uuid::Uuid;

use super::organizer;
use crate::web::chart::{Point, count, svg};
use crate::web::page::{Stop, Web};

async fn progress(web: &Web, id: Uuid) -> Result<minijinja::Value, Stop> {
    let (overall, _) = door::checkin_stats(&web.state.pool, id)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(minijinja::context! { event_id => id, door => overall })
}

/// `GET /organizer/events/:id/dashboard`
#[handler]
pub async fn show(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    let actor = organizer(&web)?;
    let event = marquee_core::catalog::events::get(&web.state.pool, actor, id)
        .await
        .map_err(|e| web.fail(e))?;
    let zone = marquee_core::catalog::venues::time_zone_of(&web.state.pool, event.fields.venue_id)
        .await
        .map_err(|e| web.fail(e))?;
    let stats = event_stats(
        &web.state.pool,
        actor,
        id,
        Zone::parse(Some(&zone)).unwrap_or_else(|_| Zone::parse(None).expect("UTC")),
    )
    .await
    .map_err(|e| web.fail(e))?;
    let currency = stats.revenue.currency.clone();
    let points: Vec<Point> = stats
        .sales_per_day
        .iter()
        .map(|d| Point {
            label: d.day.format("%-d %b").to_string(),
            value: d.tickets as f64,
        })
        .collect();
    let chart = svg("Tickets sold per day", &points, "sales", count);
    let published = event.status == marquee_core::catalog::events::EventStatus::Published;
    Ok(web.page(
        "organizer/dashboard.html",
        minijinja::context! {
            event => crate::web::people::event::EventView::from(event),
            stats, currency, published,
            chart => minijinja::Value::from_safe_string(chart),
            progress => progress(&web, id).await?,
        },
    ))
}

/// `GET /organizer/events/:id/progress`: the door's progress alone; the
/// dashboard fetches it on every live update.
#[handler]
pub async fn progress_part(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    let actor = organizer(&web)?;
    door::require_door(&web.state.pool, actor, id)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(web.page(
        "organizer/_progress.html",
        minijinja::context! { progress => progress(&web, id).await? },
    ))
}
