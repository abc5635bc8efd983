//! Tickets for their holders (and the event's organizer and admins): read
//! them, download the QR and the PDF, reissue a leaked one.

mod views;

use marquee_core::tickets::{self, read};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::auth::BearerAuth;
use crate::contract::{
    CONFLICT, FORBIDDEN, NOT_FOUND, Problems, TOO_MANY_REQUESTS, UNPROCESSABLE_ENTITY,
};
use crate::pagination::Page;
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;
pub use views::*;

/// Ticket endpoints.
pub struct TicketsApi;

#[derive(ApiResponse)]
enum Png {
    /// The QR code, 8 px per module.
    #[oai(status = 200, content_type = "image/png")]
    Ok(Binary<Vec<u8>>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
enum Svg {
    /// The QR code as SVG.
    #[oai(status = 200, content_type = "image/svg+xml")]
    Ok(Binary<Vec<u8>>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
enum Pdf {
    /// The printable ticket: one page.
    #[oai(status = 200, content_type = "application/pdf")]
    Ok(Binary<Vec<u8>>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
enum Reissued {
    /// The replacement: a new id, code and QR (rendered shortly; its
    /// downloads answer 409 with Retry-After until then).
    #[oai(status = 201)]
    Created(Json<TicketView>),
}

/// A ticket's files never change (a new code is a new ticket), but they
/// are personal: browsers may keep them, shared caches may not.
const PRIVATE: &str = "private, max-age=86400";

#[OpenApi(tag = "ApiTags::Tickets")]
impl TicketsApi {
    /// The caller's tickets, newest first (reissued-away ones included,
    /// as `revoked`).
    #[oai(path = "/api/v1/tickets", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        page: Query<Option<i64>>,
        per_page: Query<Option<i64>>,
    ) -> Result<Json<TicketPage>, Problems<UNPROCESSABLE_ENTITY>> {
        let page = Page::parse(page.0, per_page.0)?;
        let (items, total) = read::list_mine(&state.pool, auth.0.user_id, page.page, page.per_page)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(TicketPage {
            items: items.into_iter().map(TicketView::from).collect(),
            page: page.page,
            per_page: page.per_page,
            total,
        }))
    }

    /// One ticket with its code and `qr_token`: for its holder, the
    /// event's organizer and admins; 404 for anyone else.
    #[oai(path = "/api/v1/tickets/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<TicketView>, Problems<NOT_FOUND>> {
        let ticket = read::get(&state.pool, auth.0.actor(), id.0)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(ticket.into()))
    }

    /// The QR code as PNG; 409 with Retry-After while being issued.
    #[oai(path = "/api/v1/tickets/:id/qr.png", method = "get")]
    async fn qr_png(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Png, Problems<{ NOT_FOUND | CONFLICT }>> {
        let bytes = download(&state, &auth, id.0, read::File::QrPng).await?;
        Ok(Png::Ok(Binary(bytes), PRIVATE.to_owned()))
    }

    /// The QR code as SVG; 409 with Retry-After while being issued.
    #[oai(path = "/api/v1/tickets/:id/qr.svg", method = "get")]
    async fn qr_svg(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Svg, Problems<{ NOT_FOUND | CONFLICT }>> {
        let bytes = download(&state, &auth, id.0, read::File::QrSvg).await?;
        Ok(Svg::Ok(Binary(bytes), PRIVATE.to_owned()))
    }

    /// The printable PDF; 409 with Retry-After while being issued.
    #[oai(path = "/api/v1/tickets/:id/pdf", method = "get")]
    async fn pdf(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Pdf, Problems<{ NOT_FOUND | CONFLICT }>> {
        let bytes = download(&state, &auth, id.0, read::File::Pdf).await?;
        Ok(Pdf::Ok(Binary(bytes), PRIVATE.to_owned()))
    }

    /// For a ticket that leaked: its code and QR stop working at once
    /// (`revoked`, listed in the event's revocations) and a new ticket for
    /// the same seat or type replaces it. Holder only; 409 for a ticket
    /// already used or revoked, or of an event no longer on; limited per
    /// person (`rate_limits.reissue_per_user`), since every reissue is a
    /// revocation each door device must sync.
    #[oai(path = "/api/v1/tickets/:id/reissue", method = "post")]
    async fn reissue(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Reissued, Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT | TOO_MANY_REQUESTS }>> {
        auth.0.require_person()?;
        // Anyone else's ticket is 404 before it costs the caller anything.
        read::get(&state.pool, auth.0.actor(), id.0)
            .await
            .map_err(ApiError::from)?;
        state
            .limit(
                "reissue-user",
                &auth.0.user_id.to_string(),
                state.settings.rate_limits.reissue_per_user,
            )
            .await?;
        let (replacement, job) = tickets::reissue(&state.pool, auth.0.user_id, id.0)
            .await
            .map_err(ApiError::from)?;
        state.producer.dispatch(&[job]).await;
        let ticket = read::get(&state.pool, auth.0.actor(), replacement)
            .await
            .map_err(ApiError::from)?;
        Ok(Reissued::Created(Json(ticket.into())))
    }
}

async fn download(
    state: &AppState,
    auth: &BearerAuth,
    id: Uuid,
    file: read::File,
) -> Result<Vec<u8>, ApiError> {
    read::file(&state.pool, auth.0.actor(), id, file)
        .await
        .map_err(ApiError::from)
}
