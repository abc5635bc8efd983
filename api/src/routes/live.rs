//! Live updates of an event (`GET /api/v1/events/{id}/live`, Server-Sent
//! Events) and organizer announcements. See `marquee_core::live`.

mod views;

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use marquee_core::live::{announcements, stream};
use poem::web::Data;
use poem::web::sse::Event;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{EventStream, Json};
use poem_openapi::registry::{
    MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::auth::{BearerAuth, MaybeAuth};
use crate::client_ip::ClientIp;
use crate::contract::{
    FORBIDDEN, NOT_FOUND, Problems, SERVICE_UNAVAILABLE, TOO_MANY_REQUESTS, UNPROCESSABLE_ENTITY,
};
use crate::pagination::Page;
use crate::problem::{ApiError, FieldError};
use crate::routes::ApiTags;
use crate::state::AppState;
pub use views::*;

/// Live endpoints.
pub struct LiveApi;

/// The live stream's response: poem-openapi's `EventStream` on the wire,
/// documented the way OpenAPI 3.0 describes an event stream — the schema of
/// one event (`event`, `id`, `data`), not an array — with `data` a
/// [`LiveMessage`] as JSON.
pub struct LiveEvents(EventStream<BoxStream<'static, LiveMessage>>);

impl poem::IntoResponse for LiveEvents {
    fn into_response(self) -> poem::Response {
        self.0.into_response()
    }
}

impl poem_openapi::payload::Payload for LiveEvents {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    fn schema_ref() -> MetaSchemaRef {
        let string = |description| {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                description: Some(description),
                ..MetaSchema::new("string")
            }))
        };
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("One Server-Sent Event."),
            required: vec!["event", "id", "data"],
            properties: vec![
                ("event", string("`snapshot` or `announcement`.")),
                ("id", string("The highest sequence number sent so far.")),
                ("data", string("A LiveMessage (see components) as JSON.")),
            ],
            ..MetaSchema::new("object")
        }))
    }

    fn register(registry: &mut Registry) {
        LiveMessage::register(registry);
    }
}

impl ApiResponse for LiveEvents {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The event stream.",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: <Self as poem_openapi::payload::Payload>::CONTENT_TYPE,
                    schema: <Self as poem_openapi::payload::Payload>::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        <Self as poem_openapi::payload::Payload>::register(registry);
    }
}

#[derive(ApiResponse)]
enum Posted {
    /// Stored and sent to everyone watching.
    #[oai(status = 201)]
    Created(Json<AnnouncementView>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Catalog")]
impl LiveApi {
    /// The event's live stream (Server-Sent Events): first a `snapshot`
    /// (seats available, held and sold, units left per ticket type, sold
    /// out, checked in), then a new `snapshot` after every committed change
    /// (coalesced over 50 ms) and each `announcement`. Every message's SSE
    /// `id` is the event's sequence number; reconnecting with
    /// `Last-Event-ID` first sends the announcements numbered after it. A
    /// heartbeat comment comes every `live.heartbeat_seconds` (15). Counts
    /// only: nothing about who holds or bought what. Drafts: their
    /// organizer only. Streams per client address are capped by
    /// `live.max_streams_per_ip` (429); a client that falls 64 messages
    /// behind is dropped.
    #[oai(path = "/events/:id/live", method = "get")]
    async fn live(
        &self,
        state: Data<&AppState>,
        auth: MaybeAuth,
        ip: Data<&ClientIp>,
        id: Path<Uuid>,
        #[oai(name = "Last-Event-ID")] last_event_id: Header<Option<String>>,
    ) -> Result<
        LiveEvents,
        Problems<{ NOT_FOUND | UNPROCESSABLE_ENTITY | TOO_MANY_REQUESTS | SERVICE_UNAVAILABLE }>,
    > {
        let last_seen = match last_event_id.0.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(raw.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::Validation(vec![FieldError {
                    field: "Last-Event-ID".to_owned(),
                    message: "must be a sequence number this stream sent".to_owned(),
                }])
            })?),
        };
        stream::may_watch(&state.pool, id.0, auth.actor())
            .await
            .map_err(ApiError::from)?;
        let slot = state
            .hub
            .slot(ip.limit_key())
            .map_err(|_| ApiError::RateLimited { retry_after: 5 })?;
        let updates = stream::open(&state.hub, &state.pool, id.0, last_seen, slot)
            .await
            .map_err(|error| match error {
                stream::OpenError::Catalog(e) => ApiError::from(e),
                stream::OpenError::Database(e) => ApiError::from(e),
                stream::OpenError::Unavailable(e) => {
                    tracing::warn!(%e, "live stream refused");
                    ApiError::Unavailable {
                        detail: "live updates are unavailable; try again shortly".to_owned(),
                        retry_after: 2,
                    }
                }
            })?;
        let heartbeat = Duration::from_secs(state.settings.live.heartbeat_seconds);
        let mut sent = last_seen.unwrap_or(0);
        Ok(LiveEvents(
            EventStream::new(updates.map(LiveMessage::from).boxed())
                .keep_alive(heartbeat)
                .to_event(move |message| {
                    // Messages from different processes can arrive a little out
                    // of number order; the SSE id is the highest number sent so
                    // far, so `Last-Event-ID` never goes back.
                    let (kind, seq) = message.kind_and_seq();
                    sent = sent.max(seq);
                    Event::message(poem_openapi::types::ToJSON::to_json_string(&message))
                        .event_type(kind)
                        .id(sent.to_string())
                }),
        ))
    }

    /// Post an announcement to everyone watching the event live (the
    /// event's organizer or an admin; a plain user 403, anyone else's event
    /// 404): 1-500 characters. At most 60 per event per hour (429).
    #[oai(path = "/events/:id/announcements", method = "post")]
    async fn announce(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<AnnouncementBody>,
    ) -> Result<
        Posted,
        Problems<{ FORBIDDEN | NOT_FOUND | UNPROCESSABLE_ENTITY | TOO_MANY_REQUESTS }>,
    > {
        let actor = auth.0.require_organizer()?;
        let published =
            crate::actions::catalog::announce(state.0, actor, id.0, &body.0.message).await?;
        Ok(Posted::Created(Json(published.into())))
    }

    /// The event's announcements, newest first, for whoever may see the
    /// event.
    #[oai(path = "/events/:id/announcements", method = "get")]
    async fn announcements(
        &self,
        state: Data<&AppState>,
        auth: MaybeAuth,
        id: Path<Uuid>,
        page: Query<Option<i64>>,
        per_page: Query<Option<i64>>,
    ) -> Result<Json<AnnouncementPage>, Problems<{ NOT_FOUND | UNPROCESSABLE_ENTITY }>> {
        let paging = Page::parse(page.0, per_page.0)?;
        let (items, total) = announcements::list(
            &state.pool,
            auth.actor(),
            id.0,
            paging.page,
            paging.per_page,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(Json(AnnouncementPage {
            items: items.into_iter().map(AnnouncementView::from).collect(),
            total,
            page: paging.page,
            per_page: paging.per_page,
        }))
    }
}
