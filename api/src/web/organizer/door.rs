//! The door page: type a ticket's code (or scan its QR with the device's
//! camera, decoded in the browser by the vendored jsQR) and get a big
//! answer: ok, already used, revoked, another event's, unknown.

use marquee_core::tickets::checkin::Scan;
use marquee_core::tickets::door;
use poem::web::Path;
use poem::{Request, Response, handler};
use uuid::Uuid;

use super::organizer;
use crate::web::errors::Shown;
use crate::web::form::Fields;
use crate::web::page::{Stop, Web};

async fn event_for_door(web: &Web, id: Uuid) -> Result<minijinja::Value, Stop> {
    let actor = organizer(web)?;
    door::require_door(&web.state.pool, actor, id)
        .await
        .map_err(|e| web.fail(e))?;
    let event = marquee_core::catalog::events::get(&web.state.pool, actor, id)
        .await
        .map_err(|e| web.fail(e))?;
    let time_zone =
        marquee_core::catalog::venues::time_zone_of(&web.state.pool, event.fields.venue_id)
            .await
            .map_err(|e| web.fail(e))?;
    Ok(minijinja::context! {
        time_zone,
        ..minijinja::Value::from_serialize(crate::web::people::event::EventView::from(event))
    })
}

/// `GET /organizer/events/:id/door`
#[handler]
pub async fn show(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    let event = event_for_door(&web, id).await?;
    Ok(web.page("organizer/door.html", minijinja::context! { event }))
}

/// `POST /organizer/events/:id/door`: `code`. The verdict alone for htmx,
/// else the whole page with it.
#[handler]
pub async fn scan(
    web: Web,
    Path(id): Path<Uuid>,
    fields: Fields,
    request: &Request,
) -> Result<Response, Stop> {
    let event = event_for_door(&web, id).await?;
    let device = web
        .me
        .as_ref()
        .and_then(|me| me.name.split_whitespace().next())
        .map(|first| format!("Door page ({first})"))
        .unwrap_or_else(|| "Door page".to_owned());
    let scan = Scan {
        code: fields.get("code").unwrap_or_default().trim().to_owned(),
        nonce: None,
        device: device.chars().take(100).collect(),
        scanned_at: None,
    };
    let (verdict, error) = match crate::actions::door::check_in(&web.state, id, &scan).await {
        Ok(view) => (Some(view), None),
        Err(error) => (None, Some(Shown::from(&error))),
    };
    let partial = request.header("hx-request").is_some();
    let status = error
        .as_ref()
        .map_or(poem::http::StatusCode::OK, |e| e.status);
    Ok(web.page_with(
        status,
        if partial {
            "organizer/_verdict.html"
        } else {
            "organizer/door.html"
        },
        minijinja::context! { event, verdict, error },
    ))
}
