//! Organizer CSV exports: `GET /api/v1/events/{id}/attendees.csv` and
//! `/bookings.csv`. They stream page by page (see
//! `marquee_core::insights::exports`), so memory stays flat.

use marquee_core::insights::exports::Export;
use poem::Body;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Binary;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::auth::BearerAuth;
use crate::contract::{FORBIDDEN, NOT_FOUND, Problems, SERVICE_UNAVAILABLE};
use crate::routes::ApiTags;
use crate::state::AppState;

/// Export endpoints.
pub struct ExportsApi;

#[derive(ApiResponse)]
enum Csv {
    /// RFC 4180 CSV with a header row; every cell quoted, and a cell that
    /// would start a spreadsheet formula (`=`, `+`, `-`, `@`) prefixed
    /// with `'`.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Ok(
        Binary<Body>,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Insights")]
impl ExportsApi {
    /// Attendees: one row per live ticket (ticket_id, booking_reference,
    /// name, email, ticket, status, checked_in_at, booked_at), in sale
    /// order. Organizers export their own events, admins any. At most 2
    /// exports per person and 16 in all stream at once per API process;
    /// more are 503 with Retry-After.
    #[oai(path = "/events/:id/attendees.csv", method = "get")]
    async fn attendees(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Csv, Problems<{ FORBIDDEN | NOT_FOUND | SERVICE_UNAVAILABLE }>> {
        csv(&state, &auth, id.0, Export::Attendees).await
    }

    /// Bookings: one row per booking (booking_reference, booking_id, name,
    /// email, status, tickets, total, currency, refund_status,
    /// refund_amount, booked_at, cancelled_at, cancel_reason). Amounts are
    /// decimals in the currency's minor units ("10.50", "1500").
    #[oai(path = "/events/:id/bookings.csv", method = "get")]
    async fn bookings(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Csv, Problems<{ FORBIDDEN | NOT_FOUND | SERVICE_UNAVAILABLE }>> {
        csv(&state, &auth, id.0, Export::Bookings).await
    }
}

async fn csv(
    state: &AppState,
    auth: &BearerAuth,
    event: Uuid,
    what: Export,
) -> Result<Csv, Problems<{ FORBIDDEN | NOT_FOUND | SERVICE_UNAVAILABLE }>> {
    let actor = auth.0.require_organizer()?;
    let (body, file_name) = crate::actions::catalog::export(state, actor, event, what).await?;
    Ok(Csv::Ok(
        Binary(body),
        format!("attachment; filename=\"{file_name}\""),
        "private, no-store".to_owned(),
    ))
}
