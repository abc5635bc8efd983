//! Organizer analytics: `GET /api/v1/events/{id}/stats` and
//! `GET /api/v1/stats/overview`. Organizers see their own events, admins
//! everyone's.

mod views;

use chrono::NaiveDate;
use marquee_core::insights::{self, Days, Zone};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{OpenApi, payload::Json};
use uuid::Uuid;

use crate::auth::BearerAuth;
use crate::contract::{FORBIDDEN, NOT_FOUND, Problems, UNPROCESSABLE_ENTITY};
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;
pub use views::*;

/// Analytics endpoints.
pub struct InsightsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Insights")]
impl InsightsApi {
    /// An event's figures: inventory, bookings and cancellations, revenue
    /// (minor units), check-ins, the waitlist, hold conversion and sales
    /// per calendar day in `tz` (IANA name, default UTC; unknown: 422).
    #[oai(path = "/events/:id/stats", method = "get")]
    async fn event_stats(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        tz: Query<Option<String>>,
    ) -> Result<Json<EventStatsView>, Problems<{ FORBIDDEN | NOT_FOUND | UNPROCESSABLE_ENTITY }>>
    {
        let actor = auth.0.require_organizer()?;
        let zone = Zone::parse(tz.0.as_deref()).map_err(|p| ApiError::from(vec![p]))?;
        let stats = insights::event_stats(&state.pool, actor, id.0, zone)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(stats.into()))
    }

    /// Totals across your events for the calendar days `from`..=`to` in
    /// `tz` (default: the 30 days up to today, UTC; at most 731 days): per
    /// currency, the top events by tickets and by net revenue, revenue per
    /// day and the top tags. A reversed range or an unknown zone: 422.
    #[oai(path = "/stats/overview", method = "get")]
    async fn overview(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        from: Query<Option<NaiveDate>>,
        to: Query<Option<NaiveDate>>,
        tz: Query<Option<String>>,
    ) -> Result<Json<OverviewView>, Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        let actor = auth.0.require_organizer()?;
        let zone = Zone::parse(tz.0.as_deref()).map_err(|p| ApiError::from(vec![p]))?;
        let days = Days::new(from.0, to.0, zone).map_err(|p| ApiError::from(vec![p]))?;
        let overview = insights::overview(&state.pool, actor, days)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(overview.into()))
    }
}
