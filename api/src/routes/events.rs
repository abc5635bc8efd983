//! `/api/v1/events`: organizers build and run events; everyone browses.

mod views;

use chrono::{DateTime, Utc};
use marquee_core::catalog::CatalogError;
use marquee_core::catalog::browse::{self, EventQuery};
use marquee_core::catalog::cache::{AVAILABILITY_TTL, LIST_TTL};
use marquee_core::catalog::events::{self, EventFields, EventPatch};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{ApiResponse, OpenApi, payload::Json};
use uuid::Uuid;

use crate::actions::catalog::{self, Transition};
use crate::auth::{BearerAuth, MaybeAuth};
use crate::cached_json::CachedJson;
use crate::contract::{CONFLICT, FORBIDDEN, NOT_FOUND, Problems, UNPROCESSABLE_ENTITY};
use crate::pagination::Page;
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;
pub use views::*;

/// Event endpoints.
pub struct EventsApi;

/// Cached list pages are response bodies, served as stored: the release
/// names their shape, so replicas of two releases never serve each other's.
const PAGE_KIND: &str = concat!("events-page:", env!("CARGO_PKG_VERSION"));

#[derive(ApiResponse)]
enum CreateResponse {
    /// Created as a draft.
    #[oai(status = 201)]
    Created(Json<EventView>),
}

#[derive(ApiResponse)]
enum DeleteResponse {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(prefix_path = "/api/v1/events", tag = "ApiTags::Catalog")]
impl EventsApi {
    /// Create a draft event: seated (venue + section prices), general
    /// admission (ticket types), or both.
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<NewEventBody>,
    ) -> Result<CreateResponse, Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT | UNPROCESSABLE_ENTITY }>>
    {
        let actor = auth.0.require_organizer()?;
        let event = catalog::create_event(state.0, actor, EventFields::from(body.0)).await?;
        Ok(CreateResponse::Created(Json(event.into())))
    }

    /// Published events, soonest first. `q` searches title and description;
    /// each `tag` (repeatable, up to 10) must be on the event.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        q: Query<Option<String>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        venue_id: Query<Option<Uuid>>,
        organizer_id: Query<Option<Uuid>>,
        tag: Query<Vec<String>>,
        page: Query<Option<i64>>,
        per_page: Query<Option<i64>>,
    ) -> Result<CachedJson<EventPage>, Problems<UNPROCESSABLE_ENTITY>> {
        let paging = Page::parse(page.0, per_page.0)?;
        let mut problems = Vec::new();
        let mut tags = marquee_core::catalog::tags::check(&mut problems, "tag", &tag.0);
        if !problems.is_empty() {
            return Err(ApiError::from(problems).into());
        }
        // Sorted so that `tag=a&tag=b` and `tag=b&tag=a` share a cache entry.
        tags.sort_unstable();
        if q.0
            .as_ref()
            .is_some_and(|q| q.chars().count() > 200 || q.contains('\0'))
        {
            return Err(ApiError::from(vec![marquee_core::auth::Invalid::new(
                "q",
                "must be at most 200 characters",
            )])
            .into());
        }
        // Trimmed here as the search does it, so " rock" and "rock" (or an
        // empty q and none) share one cache entry.
        let query = EventQuery {
            q: q.0.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()),
            from: from.0,
            to: to.0,
            venue_id: venue_id.0,
            organizer_id: organizer_id.0,
            tags,
            page: paging.page,
            per_page: paging.per_page,
        };
        // The whole page is cached as its response body: a hit is served
        // as stored, without decoding and encoding it again.
        let body = state
            .catalog
            .get_or_load_json(PAGE_KIND, &query, LIST_TTL, async {
                let (items, total) = browse::list(&state.pool, &query).await?;
                Ok::<_, sqlx::Error>(CachedJson::encode(&EventPage {
                    items: items.into_iter().map(EventListItem::from).collect(),
                    total,
                    page: paging.page,
                    per_page: paging.per_page,
                }))
            })
            .await
            .map_err(ApiError::from)?;
        Ok(CachedJson::from_encoded(body))
    }

    /// An event with its availability. Drafts: organizer and admins only.
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: MaybeAuth,
        id: Path<Uuid>,
    ) -> Result<Json<EventDetailView>, Problems<NOT_FOUND>> {
        let public = state
            .catalog
            .get_or_load(
                "event",
                &id.0,
                AVAILABILITY_TTL,
                browse::detail(&state.pool, id.0, None),
            )
            .await;
        let detail = match (public, auth.actor()) {
            (Err(CatalogError::NotFound(_)), Some(viewer)) => {
                browse::detail(&state.pool, id.0, Some(viewer)).await
            }
            (result, _) => result,
        }
        .map_err(ApiError::from)?;
        Ok(Json(detail.into()))
    }

    /// The seat map: price and availability per seat, never who holds it.
    #[oai(path = "/:id/seats", method = "get")]
    async fn seats(
        &self,
        state: Data<&AppState>,
        auth: MaybeAuth,
        id: Path<Uuid>,
    ) -> Result<Json<Vec<MapSeatView>>, Problems<NOT_FOUND>> {
        let public = state
            .catalog
            .get_or_load(
                "seats",
                &id.0,
                AVAILABILITY_TTL,
                browse::seat_map(&state.pool, id.0, None),
            )
            .await;
        let seats = match (public, auth.actor()) {
            (Err(CatalogError::NotFound(_)), Some(viewer)) => {
                browse::seat_map(&state.pool, id.0, Some(viewer)).await
            }
            (result, _) => result,
        }
        .map_err(ApiError::from)?;
        Ok(Json(seats.into_iter().map(MapSeatView::from).collect()))
    }

    /// Change an event: a draft freely; a published event only its title,
    /// description, sales_end, max_per_order and hold_minutes (409
    /// otherwise); a cancelled or completed one not at all.
    #[oai(path = "/:id", method = "patch")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<EventPatchBody>,
    ) -> Result<
        Json<EventView>,
        Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT | UNPROCESSABLE_ENTITY }>,
    > {
        let actor = auth.0.require_organizer()?;
        let patch = EventPatch::from(body.0);
        let event = catalog::update_event(state.0, actor, id.0, &patch).await?;
        Ok(Json(event.into()))
    }

    /// Delete a draft (409 for anything else: cancel it instead).
    #[oai(path = "/:id", method = "delete")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<DeleteResponse, Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT }>> {
        let actor = auth.0.require_organizer()?;
        events::delete(&state.pool, actor, id.0)
            .await
            .map_err(ApiError::from)?;
        state.catalog.invalidate().await;
        Ok(DeleteResponse::Deleted)
    }

    /// draft -> published: needs a future start, a price for every section
    /// of the venue, and something to sell. Creates the inventory.
    #[oai(path = "/:id/publish", method = "post")]
    async fn publish(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<EventView>, Problems<TRANSITION>> {
        transition(&state, &auth, id.0, Transition::Publish).await
    }

    /// The event's cancellation policy (the default if none was set).
    #[oai(path = "/:id/cancellation-policy", method = "get")]
    async fn get_policy(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<PolicyBody>, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        let actor = auth.0.require_organizer()?;
        events::get(&state.pool, actor, id.0)
            .await
            .map_err(ApiError::from)?;
        let policy = marquee_core::booking::policy::get(&state.pool, id.0)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(policy.into()))
    }

    /// Set the cancellation policy; it applies to cancellations from now on.
    #[oai(path = "/:id/cancellation-policy", method = "put")]
    async fn put_policy(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<PolicyBody>,
    ) -> Result<Json<PolicyBody>, Problems<{ FORBIDDEN | NOT_FOUND | UNPROCESSABLE_ENTITY }>> {
        let actor = auth.0.require_organizer()?;
        let policy = marquee_core::booking::policy::Policy::try_from(body.0)?;
        let policy = catalog::put_policy(state.0, actor, id.0, policy).await?;
        Ok(Json(policy.into()))
    }

    /// Set one ticket type's capacity, also on a published event, never
    /// below its sold plus held units (409). A raise on a published event
    /// goes to the waitlist first.
    #[oai(path = "/:id/ticket-types/:ticket_type_id", method = "patch")]
    async fn set_capacity(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        ticket_type_id: Path<Uuid>,
        body: Json<CapacityBody>,
    ) -> Result<
        Json<EventView>,
        Problems<{ FORBIDDEN | NOT_FOUND | CONFLICT | UNPROCESSABLE_ENTITY }>,
    > {
        let actor = auth.0.require_organizer()?;
        let (event, promotion) =
            events::set_capacity(&state.pool, actor, id.0, ticket_type_id.0, body.0.capacity)
                .await
                .map_err(ApiError::from)?;
        state.producer.dispatch(&Vec::from_iter(promotion)).await;
        state.catalog.invalidate().await;
        state.live.changed(id.0);
        Ok(Json(event.into()))
    }

    /// published -> cancelled: every confirmed booking is then cancelled
    /// with a full refund and an email, by jobs, in batches; progress shows
    /// on the event.
    #[oai(path = "/:id/cancel", method = "post")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<EventView>, Problems<TRANSITION>> {
        transition(&state, &auth, id.0, Transition::Cancel).await
    }

    /// published -> completed.
    #[oai(path = "/:id/complete", method = "post")]
    async fn complete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<EventView>, Problems<TRANSITION>> {
        transition(&state, &auth, id.0, Transition::Complete).await
    }
}

/// What a status change can answer.
const TRANSITION: u32 = FORBIDDEN | NOT_FOUND | CONFLICT | UNPROCESSABLE_ENTITY;

async fn transition(
    state: &AppState,
    auth: &BearerAuth,
    id: Uuid,
    to: Transition,
) -> Result<Json<EventView>, Problems<TRANSITION>> {
    let actor = auth.0.require_organizer()?;
    let event = catalog::transition(state, actor, id, to).await?;
    Ok(Json(event.into()))
}
