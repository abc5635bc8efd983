//! Holds and bookings: people claim seats or tickets, then pay.

mod views;

use marquee_core::booking::checkout::{self, CheckoutRequest};
use marquee_core::booking::holds::{self, HoldLimits, HoldRequest};
use marquee_core::booking::{bookings, cancel};
use marquee_core::idempotency::{self, Begin};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{ApiResponse, OpenApi, payload::Json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::BearerAuth;
use crate::contract::{
    CONFLICT, FORBIDDEN, GONE, NOT_FOUND, PAYMENT_REQUIRED, Problems, UNPROCESSABLE_ENTITY,
};
use crate::pagination::Page;
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;
pub use views::*;

/// Hold and booking endpoints (signed-in people).
pub struct BookingApi;

#[derive(ApiResponse)]
enum HoldCreated {
    /// Held until `expires_at`.
    #[oai(status = 201)]
    Created(Json<HoldView>),
}

#[derive(ApiResponse)]
enum Released {
    /// Released (or already gone).
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
enum BookingCreated {
    /// Booked and paid (a replay of the same Idempotency-Key returns this
    /// again).
    #[oai(status = 201)]
    Created(Json<BookingView>),
}

#[OpenApi(tag = "ApiTags::Booking")]
impl BookingApi {
    /// Hold seats and/or ticket units of a published event, all or nothing.
    /// 409 lists the seats someone else has.
    #[oai(path = "/api/v1/events/:id/holds", method = "post")]
    async fn hold(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<HoldBody>,
    ) -> Result<
        HoldCreated,
        Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT | GONE | UNPROCESSABLE_ENTITY }>,
    > {
        auth.0.require_person()?;
        let request = HoldRequest {
            seats: body.0.seats,
            ticket_type_id: body.0.ticket_type_id,
            quantity: body.0.quantity,
        }
        .check()
        .map_err(ApiError::from)?;
        let limits = HoldLimits {
            active_per_person: state.settings.booking.max_active_holds_per_event,
        };
        let hold = holds::create(&state.pool, auth.0.user_id, id.0, &request, limits)
            .await
            .map_err(ApiError::from)?;
        state.availability_changed(id.0).await;
        Ok(HoldCreated::Created(Json(hold.into())))
    }

    /// One of the caller's holds; anyone else's is 404.
    #[oai(path = "/api/v1/holds/:id", method = "get")]
    async fn get_hold(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<HoldView>, Problems<NOT_FOUND>> {
        let hold = holds::get(&state.pool, auth.0.user_id, id.0)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(hold.into()))
    }

    /// Release one of the caller's holds now. Releasing a waitlist offer
    /// declines it; the next person in line is offered.
    #[oai(path = "/api/v1/holds/:id", method = "delete")]
    async fn release(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Released, Problems<{ NOT_FOUND | CONFLICT }>> {
        let (event, jobs) = holds::release(&state.pool, auth.0.user_id, id.0)
            .await
            .map_err(ApiError::from)?;
        state.producer.dispatch(&jobs).await;
        state.availability_changed(event).await;
        Ok(Released::Done)
    }

    /// Pay for a hold. `Idempotency-Key` is required: replaying it returns
    /// the identical response; reusing it with another body is 409.
    #[oai(path = "/api/v1/bookings", method = "post")]
    async fn book(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: Json<CheckoutBody>,
    ) -> Result<
        BookingCreated,
        Problems<
            { PAYMENT_REQUIRED | FORBIDDEN | NOT_FOUND | CONFLICT | GONE | UNPROCESSABLE_ENTITY },
        >,
    > {
        auth.0.require_person()?;
        let user = auth.0.user_id;
        let key = match idempotency_key.0.filter(|k| !k.is_empty()) {
            Some(key) if key.len() <= 255 => key,
            _ => {
                return Err(ApiError::from(vec![marquee_core::auth::Invalid::new(
                    "Idempotency-Key",
                    "required: 1-255 characters, unique per booking attempt",
                )])
                .into());
            }
        };
        let token = &body.payment.token;
        if token.is_empty() || token.len() > 255 || token.contains(|c: char| c.is_control()) {
            return Err(ApiError::from(vec![marquee_core::auth::Invalid::new(
                "payment.token",
                "must be 1-255 characters, without control characters",
            )])
            .into());
        }
        if body.payment.method != "card" {
            return Err(ApiError::from(vec![marquee_core::auth::Invalid::new(
                "payment.method",
                "must be `card`",
            )])
            .into());
        }
        let hash = Sha256::digest(
            format!(
                "{}|{}|{}",
                body.hold_id, body.payment.method, body.payment.token
            )
            .as_bytes(),
        )
        .to_vec();
        match idempotency::begin(&state.pool, user, "bookings", &key, &hash)
            .await
            .map_err(ApiError::from)?
        {
            Begin::Fresh => {}
            Begin::Replay { body, .. } => {
                let view = BookingView::parse_from_json(Some(body)).map_err(|e| {
                    ApiError::Internal(anyhow::anyhow!("stored response: {}", e.message()))
                })?;
                return Ok(BookingCreated::Created(Json(view)));
            }
            Begin::Mismatch => {
                return Err(ApiError::Conflict(
                    "this Idempotency-Key was used with a different request".to_owned(),
                )
                .into());
            }
            Begin::InProgress => {
                return Err(ApiError::Conflict(
                    "a request with this Idempotency-Key is still running; retry shortly"
                        .to_owned(),
                )
                .into());
            }
        }
        let request = CheckoutRequest {
            hold_id: body.hold_id,
            token: body.payment.token.clone(),
        };
        match checkout::confirm(&state.pool, state.payments.as_ref(), user, &request).await {
            Ok((booking, jobs)) => {
                state.producer.dispatch(&jobs).await;
                state.availability_changed(booking.event_id).await;
                let view = BookingView::from(booking);
                let stored = view.to_json().unwrap_or_default();
                idempotency::finish(&state.pool, user, "bookings", &key, 201, &stored)
                    .await
                    .map_err(ApiError::from)?;
                Ok(BookingCreated::Created(Json(view)))
            }
            Err(error) => {
                idempotency::abandon(&state.pool, user, "bookings", &key)
                    .await
                    .map_err(ApiError::from)?;
                Err(ApiError::from(error).into())
            }
        }
    }

    /// Cancel one of the caller's bookings under the event's policy
    /// (evaluated now; 422 with the reason when it forbids). Seats go back
    /// on sale at once; the refund is paid by a job, then emailed.
    #[oai(path = "/api/v1/bookings/:id/cancel", method = "post")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<CancelBody>,
    ) -> Result<
        Json<CancelledView>,
        Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT | UNPROCESSABLE_ENTITY }>,
    > {
        auth.0.require_person()?;
        let reason = body.0.reason.filter(|r| !r.trim().is_empty());
        if reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > 500 || r.contains('\0'))
        {
            return Err(ApiError::from(vec![marquee_core::auth::Invalid::new(
                "reason",
                "at most 500 characters",
            )])
            .into());
        }
        let (refund, jobs) = cancel::cancel(&state.pool, auth.0.user_id, id.0, reason.as_deref())
            .await
            .map_err(ApiError::from)?;
        state.producer.dispatch(&jobs).await;
        state.availability_changed(refund.event_id).await;
        Ok(Json(CancelledView {
            status: "cancelled".to_owned(),
            refund: RefundView {
                id: refund.id,
                amount_cents: refund.amount_cents,
                status: refund.status,
            },
        }))
    }

    /// The caller's bookings, newest first.
    #[oai(path = "/api/v1/bookings", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        page: Query<Option<i64>>,
        per_page: Query<Option<i64>>,
    ) -> Result<Json<BookingPage>, Problems<UNPROCESSABLE_ENTITY>> {
        let paging = Page::parse(page.0, per_page.0)?;
        let (items, total) =
            bookings::list(&state.pool, auth.0.user_id, paging.page, paging.per_page)
                .await
                .map_err(ApiError::from)?;
        Ok(Json(BookingPage {
            items: items.into_iter().map(BookingView::from).collect(),
            total,
            page: paging.page,
            per_page: paging.per_page,
        }))
    }

    /// A booking: its owner, its event's organizer and admins; else 404.
    #[oai(path = "/api/v1/bookings/:id", method = "get")]
    async fn get_booking(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<BookingView>, Problems<NOT_FOUND>> {
        let booking = bookings::get(&state.pool, auth.0.actor(), id.0)
            .await
            .map_err(ApiError::from)?;
        let tickets = marquee_core::tickets::read::of_booking(&state.pool, booking.id)
            .await
            .map_err(ApiError::from)?;
        let mut view = BookingView::from(booking);
        view.tickets = Some(
            tickets
                .into_iter()
                .map(|t| BookingTicket {
                    id: t.id,
                    label: t.label,
                    status: t.status,
                    issued: t.rendered,
                })
                .collect(),
        );
        Ok(Json(view))
    }
}
