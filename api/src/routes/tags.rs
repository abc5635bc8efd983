//! `/api/v1/tags`: the tags of published events, for browse filters.

use marquee_core::catalog::cache::LIST_TTL;
use marquee_core::catalog::tags;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Query;

use crate::cached_json::CachedJson;
use crate::contract::{Problems, UNPROCESSABLE_ENTITY};
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::routes::events::{TagCountView, TagList};
use crate::state::AppState;

/// Tag endpoints.
pub struct TagsApi;

/// The cached body's shape, named by the release like the event pages.
const KIND: &str = concat!("tags:", env!("CARGO_PKG_VERSION"));

#[OpenApi(prefix_path = "/api/v1/tags", tag = "ApiTags::Catalog")]
impl TagsApi {
    /// Tags of published events with how many carry each, most used first
    /// (ties by name). `limit`: 1-100, default 50. Cached like the catalog:
    /// a publish, an edit or a cancellation shows at the next read.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        limit: Query<Option<i64>>,
    ) -> Result<CachedJson<TagList>, Problems<UNPROCESSABLE_ENTITY>> {
        let limit = limit.0.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            let problem = marquee_core::auth::Invalid::new("limit", "must be 1-100");
            return Err(ApiError::from(vec![problem]).into());
        }
        let body = state
            .catalog
            .get_or_load_json(KIND, &limit, LIST_TTL, async {
                let items = tags::popular(&state.pool, limit).await?;
                Ok::<_, sqlx::Error>(CachedJson::encode(&TagList {
                    items: items
                        .into_iter()
                        .map(|t| TagCountView {
                            tag: t.tag,
                            events: t.events,
                        })
                        .collect(),
                }))
            })
            .await
            .map_err(ApiError::from)?;
        Ok(CachedJson::from_encoded(body))
    }
}
