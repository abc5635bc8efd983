//! `/api/v1/api-keys`: a person manages the keys their applications use.

use chrono::{DateTime, Utc};
use marquee_core::auth::Role;
use marquee_core::auth::api_keys::{self, ApiKey};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;

use crate::auth::BearerAuth;
use crate::contract::{
    CONFLICT, FORBIDDEN, NOT_FOUND, Problems, UNAUTHORIZED, UNPROCESSABLE_ENTITY,
};
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;

/// API key endpoints (people only: a key cannot manage keys).
pub struct ApiKeysApi;

/// A new key.
#[derive(Debug, Object)]
pub struct NewApiKey {
    /// A label, 1-100 characters.
    pub name: String,
    /// Any of `email:send`, `otp`, `subscriptions`.
    pub scopes: Vec<String>,
}

/// A key, without its secret.
#[derive(Debug, Object)]
pub struct ApiKeyView {
    /// Id.
    pub id: Uuid,
    /// Label.
    pub name: String,
    /// The first characters, to recognise it.
    pub prefix: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last use (updated at most once a minute).
    #[oai(nullable)]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            scopes: key.scopes,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// A key just created: the only time its secret is shown.
#[derive(Debug, Object)]
pub struct CreatedApiKey {
    /// The key.
    #[oai(flatten)]
    pub key: ApiKeyView,
    /// `mk_…`: store it now; it cannot be shown again.
    pub secret: String,
}

#[derive(ApiResponse)]
enum CreateResponse {
    /// Created.
    #[oai(status = 201)]
    Created(Json<CreatedApiKey>),
}

#[derive(ApiResponse)]
enum RevokeResponse {
    /// Revoked; the next call with it gets 401.
    #[oai(status = 204)]
    Revoked,
}

#[OpenApi(prefix_path = "/api/v1/api-keys", tag = "ApiTags::ApiKeys")]
impl ApiKeysApi {
    /// Create a key. The account's address must be verified first (403),
    /// and it may hold at most `auth.max_api_keys_per_user` live keys (409).
    #[oai(path = "/", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        caller: BearerAuth,
        body: Json<NewApiKey>,
    ) -> Result<
        CreateResponse,
        Problems<{ UNAUTHORIZED | FORBIDDEN | CONFLICT | UNPROCESSABLE_ENTITY }>,
    > {
        caller.0.require_person()?;
        let (name, scopes) =
            api_keys::parse_new(&body.name, &body.scopes).map_err(ApiError::from)?;
        if let Some(scope) = scopes.iter().find(|scope| scope.admin_only()) {
            caller.0.require(Role::Admin).map_err(|_| {
                ApiError::Forbidden(format!(
                    "only admins may create keys with `{}`",
                    scope.as_str()
                ))
            })?;
        }
        crate::senders::require_verified_email(state.0, caller.0.user_id).await?;
        let max = state.settings.auth.max_api_keys_per_user;
        let session = caller
            .0
            .session_id()
            .ok_or_else(|| ApiError::Unauthorized("sign in again".to_owned()))?;
        let mut tx = state.pool.begin().await.map_err(ApiError::from)?;
        let created = api_keys::create(&mut tx, caller.0.user_id, session, &name, &scopes, max)
            .await
            .map_err(ApiError::from)?;
        let (key, secret) = match created {
            api_keys::Creation::Created(key, secret) => (key, secret),
            api_keys::Creation::AtCap => {
                return Err(ApiError::Conflict(format!(
                    "you already have {max} API keys, the most allowed; revoke one first"
                ))
                .into());
            }
            api_keys::Creation::SessionEnded => {
                return Err(ApiError::Unauthorized(
                    "this session has ended; sign in again".to_owned(),
                )
                .into());
            }
        };
        tx.commit().await.map_err(ApiError::from)?;
        tracing::info!(api_key.id = %key.id, user.id = %caller.0.user_id, "API key created");
        Ok(CreateResponse::Created(Json(CreatedApiKey {
            key: key.into(),
            secret,
        })))
    }

    /// The caller's live keys.
    #[oai(path = "/", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        caller: BearerAuth,
    ) -> Result<Json<Vec<ApiKeyView>>, Problems<FORBIDDEN>> {
        caller.0.require_person()?;
        let keys = api_keys::list(&state.pool, caller.0.user_id)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(keys.into_iter().map(ApiKeyView::from).collect()))
    }

    /// Revoke a key at once. Someone else's key: 404.
    #[oai(path = "/:id", method = "delete")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        caller: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<RevokeResponse, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        caller.0.require_person()?;
        let Some(key_hash) = api_keys::revoke(&state.pool, caller.0.user_id, id.0)
            .await
            .map_err(ApiError::from)?
        else {
            return Err(ApiError::NotFound("no such API key".to_owned()).into());
        };
        marquee_core::auth::key_cache::revoked(
            &state.redis,
            &state.settings.redis.key_prefix,
            &key_hash,
        )
        .await;
        Ok(RevokeResponse::Revoked)
    }
}
