//! My bookings: the list, one booking with its tickets (QR and PDF), and
//! cancelling with the refund shown before confirming.

use std::collections::HashMap;

use marquee_core::booking::{bookings, cancel};
use marquee_core::catalog::browse::{self, Headline};
use marquee_core::tickets::read;
use poem::http::StatusCode;
use poem::web::Path;
use poem::{Response, handler};
use uuid::Uuid;

use crate::actions::booking as actions;
use crate::problem::ApiError;
use crate::web::errors::Shown;
use crate::web::form::Fields;
use crate::web::page::{Stop, Web, see_other};

/// Each event's headline by id.
pub async fn headlines(
    web: &Web,
    ids: impl Iterator<Item = Uuid>,
) -> Result<HashMap<String, Headline>, Stop> {
    let mut ids: Vec<Uuid> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(browse::headlines(&web.state.pool, &ids)
        .await
        .map_err(|e| web.fail(e))?
        .into_iter()
        .map(|h| (h.id.to_string(), h))
        .collect())
}

/// `GET /bookings`: the newest 100.
#[handler]
pub async fn index(web: Web) -> Result<Response, Stop> {
    let me = web.person()?.user_id;
    let (list, total) = bookings::list(&web.state.pool, me, 1, 100)
        .await
        .map_err(|e| web.fail(e))?;
    let events = headlines(&web, list.iter().map(|b| b.event_id)).await?;
    Ok(web.page(
        "bookings/index.html",
        minijinja::context! { bookings => list, total, events },
    ))
}

/// A booking of the signed-in person; anyone else's is 404.
async fn mine(web: &Web, id: Uuid) -> Result<bookings::Booking, Stop> {
    let me = web.person()?.user_id;
    match bookings::load(&web.state.pool, id)
        .await
        .map_err(|e| web.fail(e))?
    {
        Some(booking) if booking.user_id == me => Ok(booking),
        _ => Err(web.fail(ApiError::NotFound("no such booking".to_owned()))),
    }
}

async fn tickets_context(web: &Web, booking: Uuid) -> Result<minijinja::Value, Stop> {
    let tickets = read::of_booking(&web.state.pool, booking)
        .await
        .map_err(|e| web.fail(e))?;
    let issuing = tickets.is_empty() || tickets.iter().any(|t| !t.rendered);
    Ok(minijinja::context! { booking_id => booking, tickets, issuing })
}

/// `GET /bookings/:id`
#[handler]
pub async fn show(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    let booking = mine(&web, id).await?;
    let events = headlines(&web, std::iter::once(booking.event_id)).await?;
    let refund = cancel::refund_of(&web.state.pool, id)
        .await
        .map_err(|e| web.fail(e))?;
    let tickets = tickets_context(&web, id).await?;
    Ok(web.page(
        "bookings/show.html",
        minijinja::context! {
            event => events.get(&booking.event_id.to_string()),
            booking, refund, tickets,
        },
    ))
}

/// `GET /bookings/:id/tickets`: the tickets alone; the page polls it
/// while they are being issued.
#[handler]
pub async fn tickets_part(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    let booking = mine(&web, id).await?;
    let tickets = tickets_context(&web, booking.id).await?;
    Ok(web.page("bookings/_tickets.html", minijinja::context! { tickets }))
}

async fn render_cancel(web: &Web, id: Uuid, error: Option<&ApiError>) -> Result<Response, Stop> {
    let booking = mine(web, id).await?;
    let events = headlines(web, std::iter::once(booking.event_id)).await?;
    let (refund, refused) = match cancel::quote(&web.state.pool, booking.user_id, id).await {
        Ok(amount) => (Some(amount), None),
        Err(refused) => (None, Some(Shown::from(&ApiError::from(refused)))),
    };
    let shown = error.map(Shown::from);
    let status = shown.as_ref().map_or(StatusCode::OK, |s| s.status);
    Ok(web.page_with(
        status,
        "bookings/cancel.html",
        minijinja::context! {
            event => events.get(&booking.event_id.to_string()),
            booking, refund, refused, error => shown,
        },
    ))
}

/// `GET /bookings/:id/cancel`: what cancelling refunds now, to confirm.
#[handler]
pub async fn confirm_cancel(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    render_cancel(&web, id, None).await
}

/// `POST /bookings/:id/cancel`: `expected_refund` (the figure shown) and
/// an optional `reason`. A refund that changed meanwhile is shown again.
#[handler]
pub async fn cancel_booking(
    web: Web,
    Path(id): Path<Uuid>,
    fields: Fields,
) -> Result<Response, Stop> {
    let me = web.person()?.user_id;
    let Some(expected) = fields
        .text("expected_refund")
        .and_then(|e| e.parse::<i32>().ok())
    else {
        let error = ApiError::from(vec![marquee_core::auth::Invalid::new(
            "expected_refund",
            "confirm the refund shown on this page",
        )]);
        return render_cancel(&web, id, Some(&error)).await;
    };
    match actions::cancel(&web.state, me, id, fields.get("reason"), Some(expected)).await {
        Ok(_) => Ok(see_other(&format!("/bookings/{id}"))),
        Err(error) => render_cancel(&web, id, Some(&error)).await,
    }
}
