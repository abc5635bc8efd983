//! The waitlist: people join a sold-out event's line, see their place and
//! leave; organizers read the line and run a promotion now.

mod views;

use marquee_core::catalog::events;
use marquee_core::waitlist::{self, WaitRequest};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{ApiResponse, OpenApi, payload::Json};
use uuid::Uuid;

use crate::auth::BearerAuth;
use crate::contract::{CONFLICT, FORBIDDEN, NOT_FOUND, Problems, UNPROCESSABLE_ENTITY};
use crate::pagination::Page;
use crate::problem::{ApiError, FieldError};
use crate::routes::ApiTags;
use crate::state::AppState;
pub use views::*;

/// Waitlist endpoints.
pub struct WaitlistApi;

#[derive(ApiResponse)]
enum JoinedResponse {
    /// On the line; an offer follows by email when something frees up.
    #[oai(status = 201)]
    Created(Json<JoinedView>),
}

#[derive(ApiResponse)]
enum LeftResponse {
    /// Off the line; an offer you held went to the next person.
    #[oai(status = 204)]
    Left,
}

const STATUSES: [&str; 7] = [
    "waiting",
    "offered",
    "converted",
    "expired",
    "declined",
    "left",
    "closed",
];

#[OpenApi(prefix_path = "/api/v1/events", tag = "ApiTags::Booking")]
impl WaitlistApi {
    /// Join the waitlist of a published event on sale, for what cannot be
    /// held now (409 when it can: hold it instead). One open entry per
    /// person per event.
    #[oai(path = "/:id/waitlist", method = "post")]
    async fn join(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<JoinBody>,
    ) -> Result<JoinedResponse, Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT | UNPROCESSABLE_ENTITY }>>
    {
        auth.0.require_person()?;
        let request = WaitRequest {
            quantity: body.0.quantity,
            ticket_type_id: body.0.ticket_type_id,
            section_id: body.0.section_id,
        };
        let joined =
            crate::actions::waitlist::join(state.0, auth.0.user_id, id.0, &request).await?;
        Ok(JoinedResponse::Created(Json(joined.into())))
    }

    /// The caller's entry: status, exact place among those still waiting,
    /// and the offer (its hold and deadline) once made.
    #[oai(path = "/:id/waitlist/me", method = "get")]
    async fn me(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<EntryView>, Problems<NOT_FOUND>> {
        let entry = waitlist::me(&state.pool, auth.0.user_id, id.0)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(entry.into()))
    }

    /// Leave the waitlist. An offer the caller holds is released and
    /// passes to the next person at once.
    #[oai(path = "/:id/waitlist/me", method = "delete")]
    async fn leave(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<LeftResponse, Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT }>> {
        auth.0.require_person()?;
        crate::actions::waitlist::leave(state.0, auth.0.user_id, id.0).await?;
        Ok(LeftResponse::Left)
    }

    /// The line in join order (organizer and admins), optionally of one
    /// status; `position` is set for entries still waiting.
    #[oai(path = "/:id/waitlist", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        status: Query<Option<String>>,
        page: Query<Option<i64>>,
        per_page: Query<Option<i64>>,
    ) -> Result<Json<WaitlistPage>, Problems<{ FORBIDDEN | NOT_FOUND | UNPROCESSABLE_ENTITY }>>
    {
        let actor = auth.0.require_organizer()?;
        let paging = Page::parse(page.0, per_page.0)?;
        if let Some(status) = status.0.as_deref()
            && !STATUSES.contains(&status)
        {
            return Err(ApiError::Validation(vec![FieldError {
                field: "status".to_owned(),
                message: format!("one of {}", STATUSES.join(", ")),
            }])
            .into());
        }
        events::get(&state.pool, actor, id.0)
            .await
            .map_err(ApiError::from)?;
        let (items, total) = waitlist::list(
            &state.pool,
            id.0,
            status.0.as_deref(),
            paging.page,
            paging.per_page,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(Json(WaitlistPage {
            items: items.into_iter().map(ListedView::from).collect(),
            total,
            page: paging.page,
            per_page: paging.per_page,
        }))
    }

    /// Run a promotion now (organizer and admins): free inventory goes to
    /// the people waiting, in order. Answers with the offers made.
    #[oai(path = "/:id/waitlist/promote", method = "post")]
    async fn promote(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<PromotedView>, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        let actor = auth.0.require_organizer()?;
        events::get(&state.pool, actor, id.0)
            .await
            .map_err(ApiError::from)?;
        let promoted = waitlist::promote(&state.pool, id.0)
            .await
            .map_err(ApiError::from)?;
        state.producer.dispatch(&promoted.jobs).await;
        state.availability_changed(id.0).await;
        Ok(Json(promoted.into()))
    }
}
