//! Holding seats or tickets, the hold page with its countdown, checkout
//! with a card token, and letting a hold go.

use marquee_core::auth::Invalid;
use marquee_core::booking::holds::{self, HoldRequest};
use marquee_core::catalog::events;
use poem::http::StatusCode;
use poem::web::Path;
use poem::{Response, handler};
use uuid::Uuid;

use crate::actions::booking::{self as actions, Payment};
use crate::problem::ApiError;
use crate::web::errors::Shown;
use crate::web::form::Fields;
use crate::web::page::{Stop, Web, see_other};

/// `POST /events/:id/holds`: `seat` (repeated) or `ticket_type_id` and
/// `quantity`. Refused: the event page again, with the reason.
#[handler]
pub async fn create(web: Web, Path(event): Path<Uuid>, fields: Fields) -> Result<Response, Stop> {
    let me = web.person()?.user_id;
    let seats = super::event::posted_seats(&fields);
    let malformed = fields.all("seat").count() != seats.len();
    let quantity = fields.text("quantity");
    let request = HoldRequest {
        seats: seats.iter().copied().collect(),
        ticket_type_id: fields.text("ticket_type_id").and_then(|t| t.parse().ok()),
        quantity: quantity.and_then(|q| q.parse().ok()),
    };
    let refused = if malformed {
        Err(ApiError::from(vec![Invalid::new(
            "seats",
            "pick seats from the map",
        )]))
    } else if quantity.is_some() && request.quantity.is_none() {
        Err(ApiError::from(vec![Invalid::new(
            "quantity",
            "must be a whole number",
        )]))
    } else {
        actions::hold(&web.state, me, event, request).await
    };
    match refused {
        Ok(hold) => Ok(see_other(&format!("/holds/{}", hold.id))),
        Err(error) => super::event::render(&web, event, &fields, &seats, Some(&error)).await,
    }
}

/// The hold page, with a fresh idempotency key for its checkout form.
async fn render(web: &Web, id: Uuid, error: Option<&ApiError>) -> Result<Response, Stop> {
    let me = web.person()?.user_id;
    let hold = holds::get(&web.state.pool, me, id)
        .await
        .map_err(|e| web.fail(e))?;
    let event = events::load(&web.state.pool, hold.event_id)
        .await
        .map_err(|e| web.fail(ApiError::from(e)))?
        .ok_or_else(|| web.fail(ApiError::NotFound("no such event".to_owned())))?;
    let mut shown = error.map(Shown::from);
    if let Some(shown) = shown.as_mut()
        && let Some(message) = shown.fields.remove("payment.token")
    {
        shown.fields.insert("token".to_owned(), message);
    }
    if let Some(shown) = shown.as_mut()
        && shown.status == StatusCode::PAYMENT_REQUIRED
    {
        shown.fields.insert(
            "token".to_owned(),
            "This card was declined. Try another card.".to_owned(),
        );
    }
    let status = shown.as_ref().map_or(StatusCode::OK, |s| s.status);
    Ok(web.page_with(
        status,
        "holds/show.html",
        minijinja::context! {
            hold, event => super::event::EventView::from(event),
            active => hold.status == "active" && hold.expires_at > chrono::Utc::now(),
            idempotency_key => Uuid::new_v4(),
            error => shown,
        },
    ))
}

/// `GET /holds/:id`
#[handler]
pub async fn show(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    render(&web, id, None).await
}

/// `POST /holds/:id/pay`: `token` (`tok_ok`, `tok_declined`, …) and the
/// form's `idempotency_key`, so a double submit books once.
#[handler]
pub async fn pay(web: Web, Path(id): Path<Uuid>, fields: Fields) -> Result<Response, Stop> {
    let me = web.person()?.user_id;
    let payment = Payment {
        hold_id: id,
        method: "card",
        token: fields.get("token").map(str::trim).unwrap_or_default(),
    };
    // A double click sends the form twice: the second waits for the first
    // (up to 10 s) and shows the same booking, never a "still running".
    let key = fields.get("idempotency_key");
    let mut answer = actions::book(&web.state, me, key, payment).await;
    for _ in 0..40 {
        match &answer {
            Err(ApiError::Conflict(why)) if why == actions::STILL_RUNNING => {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                answer = actions::book(&web.state, me, key, payment).await;
            }
            _ => break,
        }
    }
    match answer {
        Ok(booking) => Ok(see_other(&format!("/bookings/{}", booking.id))),
        Err(error) => render(&web, id, Some(&error)).await,
    }
}

/// `POST /holds/:id/release`: back to the event.
#[handler]
pub async fn release(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    let me = web.person()?.user_id;
    let hold = holds::get(&web.state.pool, me, id)
        .await
        .map_err(|e| web.fail(e))?;
    actions::release(&web.state, me, id)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(see_other(&format!("/events/{}", hold.event_id)))
}
