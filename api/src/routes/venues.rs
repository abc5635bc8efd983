//! `/api/v1/venues`: an organizer's places and their seat maps.

use chrono::{DateTime, Utc};
use marquee_core::catalog::venues::{self, RowInput, SectionInput, Venue, VenueSummary};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;

use crate::auth::BearerAuth;
use crate::contract::{CONFLICT, FORBIDDEN, NOT_FOUND, Problems, UNPROCESSABLE_ENTITY};
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;

/// Venue endpoints (organizers and admins).
pub struct VenuesApi;

/// A row: a label and a number of seats, numbered from 1.
#[derive(Debug, Object)]
pub struct RowBody {
    /// "A", "B", "AA"...; seats are labelled "A-1", "A-2"...
    pub label: String,
    /// 1-100 seats.
    pub seats: i32,
}

/// A section and its rows.
#[derive(Debug, Object)]
pub struct SectionBody {
    /// Unique in the venue.
    pub name: String,
    /// 1-100 rows.
    pub rows: Vec<RowBody>,
}

/// A new venue.
#[derive(Debug, Object)]
pub struct NewVenue {
    /// 1-200 characters.
    pub name: String,
    /// Up to 500 characters.
    #[oai(nullable)]
    pub address: Option<String>,
    /// IANA time zone its events' times are shown in, such as
    /// `Europe/Paris`; `UTC` when absent.
    #[oai(nullable)]
    pub time_zone: Option<String>,
    /// Up to 50 sections; may be empty (general admission only).
    #[oai(default)]
    pub sections: Vec<SectionBody>,
}

/// Name and address changes.
#[derive(Debug, Object)]
pub struct VenuePatch {
    /// New name.
    #[oai(nullable)]
    pub name: Option<String>,
    /// New address; null clears it.
    #[oai(nullable)]
    pub address: MaybeUndefined<String>,
    /// New IANA time zone.
    #[oai(nullable)]
    pub time_zone: Option<String>,
}

/// A new seat layout.
#[derive(Debug, Object)]
pub struct SectionsBody {
    /// Replaces every section.
    pub sections: Vec<SectionBody>,
}

/// A seat.
#[derive(Debug, Object)]
pub struct SeatView {
    /// Id.
    pub id: Uuid,
    /// Row label.
    pub row: String,
    /// Number in its row.
    pub number: i32,
    /// "A-12".
    pub label: String,
}

/// A section with its seats.
#[derive(Debug, Object)]
pub struct SectionView {
    /// Id (events price sections by it).
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Seats.
    pub seats: Vec<SeatView>,
}

/// A venue with its seat map.
#[derive(Debug, Object)]
pub struct VenueView {
    /// Id.
    pub id: Uuid,
    /// Organizer.
    pub owner_id: Uuid,
    /// Name.
    pub name: String,
    /// Address.
    #[oai(nullable)]
    pub address: Option<String>,
    /// IANA time zone its events' times are shown in.
    pub time_zone: String,
    /// Sections.
    pub sections: Vec<SectionView>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Venue> for VenueView {
    fn from(v: Venue) -> Self {
        Self {
            id: v.id,
            owner_id: v.owner_id,
            name: v.name,
            address: v.address,
            time_zone: v.time_zone,
            sections: v
                .sections
                .into_iter()
                .map(|s| SectionView {
                    id: s.id,
                    name: s.name,
                    seats: s
                        .seats
                        .into_iter()
                        .map(|seat| SeatView {
                            id: seat.id,
                            row: seat.row,
                            number: seat.number,
                            label: seat.label,
                        })
                        .collect(),
                })
                .collect(),
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

/// A venue in a list.
#[derive(Debug, Object)]
pub struct VenueListItem {
    /// Id.
    pub id: Uuid,
    /// Organizer.
    pub owner_id: Uuid,
    /// Name.
    pub name: String,
    /// Address.
    #[oai(nullable)]
    pub address: Option<String>,
    /// Seats in all sections.
    pub seats: i64,
}

impl From<VenueSummary> for VenueListItem {
    fn from(v: VenueSummary) -> Self {
        Self {
            id: v.id,
            owner_id: v.owner_id,
            name: v.name,
            address: v.address,
            seats: v.seats,
        }
    }
}

fn layout(body: &[SectionBody]) -> Vec<SectionInput> {
    body.iter()
        .map(|s| SectionInput {
            name: s.name.clone(),
            rows: s
                .rows
                .iter()
                .map(|r| RowInput {
                    label: r.label.clone(),
                    seats: r.seats,
                })
                .collect(),
        })
        .collect()
}

#[derive(ApiResponse)]
enum CreateResponse {
    /// Created, seats generated.
    #[oai(status = 201)]
    Created(Json<VenueView>),
}

#[OpenApi(prefix_path = "/api/v1/venues", tag = "ApiTags::Catalog")]
impl VenuesApi {
    /// Create a venue; its seats are generated from the rows.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<NewVenue>,
    ) -> Result<CreateResponse, Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        let actor = auth.0.require_organizer()?;
        let new = venues::NewVenue::check(
            &body.name,
            body.address.as_deref(),
            body.time_zone.as_deref(),
            &layout(&body.sections),
        )
        .map_err(ApiError::from)?;
        let venue = venues::create(&state.pool, actor.user_id, &new)
            .await
            .map_err(ApiError::from)?;
        Ok(CreateResponse::Created(Json(venue.into())))
    }

    /// The caller's venues (all venues for an admin).
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<Vec<VenueListItem>>, Problems<FORBIDDEN>> {
        let actor = auth.0.require_organizer()?;
        let all = venues::list(&state.pool, actor)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(all.into_iter().map(VenueListItem::from).collect()))
    }

    /// A venue with sections and seats; someone else's is 404.
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<VenueView>, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        let actor = auth.0.require_organizer()?;
        let venue = venues::get(&state.pool, actor, id.0)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(venue.into()))
    }

    /// Change name and address.
    #[oai(path = "/:id", method = "patch")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<VenuePatch>,
    ) -> Result<Json<VenueView>, Problems<{ FORBIDDEN | NOT_FOUND | UNPROCESSABLE_ENTITY }>> {
        let actor = auth.0.require_organizer()?;
        let patch = venues::DetailsPatch {
            name: body.name.clone(),
            address: match &body.address {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(a) => Some(Some(a.clone())),
            },
            time_zone: body.time_zone.clone(),
        }
        .check()
        .map_err(ApiError::from)?;
        let venue = venues::update_details(&state.pool, actor, id.0, &patch)
            .await
            .map_err(ApiError::from)?;
        state.catalog.invalidate().await;
        Ok(Json(venue.into()))
    }

    /// Replace the sections and seats; 409 once a published event uses the
    /// venue.
    #[oai(path = "/:id/sections", method = "put")]
    async fn replace_sections(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<SectionsBody>,
    ) -> Result<
        Json<VenueView>,
        Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT | UNPROCESSABLE_ENTITY }>,
    > {
        let actor = auth.0.require_organizer()?;
        let layout = venues::check_sections(&layout(&body.sections)).map_err(ApiError::from)?;
        let venue = venues::replace_sections(&state.pool, actor, id.0, &layout)
            .await
            .map_err(ApiError::from)?;
        state.catalog.invalidate().await;
        Ok(Json(venue.into()))
    }
}
