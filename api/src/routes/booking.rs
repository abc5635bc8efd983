//! Holds and bookings: people claim seats or tickets, then pay.

mod views;

use marquee_core::booking::bookings;
use marquee_core::booking::holds::{self, HoldRequest};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::{ApiResponse, OpenApi, payload::Json};
use uuid::Uuid;

use crate::actions::booking as actions;
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
        };
        let hold = actions::hold(state.0, auth.0.user_id, id.0, request).await?;
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
        actions::release(state.0, auth.0.user_id, id.0).await?;
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
        let payment = actions::Payment {
            hold_id: body.hold_id,
            method: &body.payment.method,
            token: &body.payment.token,
        };
        let view = actions::book(
            state.0,
            auth.0.user_id,
            idempotency_key.0.as_deref(),
            payment,
        )
        .await?;
        Ok(BookingCreated::Created(Json(view)))
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
        let refund = actions::cancel(
            state.0,
            auth.0.user_id,
            id.0,
            body.0.reason.as_deref(),
            None,
        )
        .await?;
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
