//! `/api/v1/admin/*`: admins only; everyone else gets 403.

use marquee_core::auth::{self, Role};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{Object, OpenApi, payload::Json};
use uuid::Uuid;

use super::auth::{RoleView, UserView};
use crate::auth::BearerAuth;
use crate::contract::{FORBIDDEN, NOT_FOUND, Problems, UNPROCESSABLE_ENTITY};
use crate::pagination::Page;
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;

/// Admin endpoints.
pub struct AdminApi;

/// One page of users.
#[derive(Debug, Object)]
pub struct UserPage {
    /// Users, oldest first.
    pub items: Vec<UserView>,
    /// Users in all.
    pub total: i64,
    /// This page (1-based).
    pub page: i64,
    /// Page size.
    pub per_page: i64,
}

/// A role change.
#[derive(Debug, Object)]
pub struct RoleChange {
    /// The new role.
    pub role: RoleView,
}

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// List users, paginated (`page` from 1, `per_page` 1-100, default 20).
    #[oai(path = "/users", method = "get")]
    async fn list_users(
        &self,
        state: Data<&AppState>,
        caller: BearerAuth,
        page: Query<Option<i64>>,
        per_page: Query<Option<i64>>,
    ) -> Result<Json<UserPage>, Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        caller.0.require_person()?;
        caller.0.require(Role::Admin)?;
        let page = Page::parse(page.0, per_page.0)?;
        let users = auth::list_users(&state.pool, page.per_page, page.offset())
            .await
            .map_err(ApiError::from)?;
        let total = auth::count_users(&state.pool)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(UserPage {
            items: users.into_iter().map(UserView::from).collect(),
            total,
            page: page.page,
            per_page: page.per_page,
        }))
    }

    /// Change a user's role; it applies to their next request.
    #[oai(path = "/users/:id", method = "patch")]
    async fn set_role(
        &self,
        state: Data<&AppState>,
        caller: BearerAuth,
        id: Path<Uuid>,
        body: Json<RoleChange>,
    ) -> Result<Json<UserView>, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        caller.0.require_person()?;
        caller.0.require(Role::Admin)?;
        let prefix = &state.settings.redis.key_prefix;
        let user = auth::cache::set_role(&state.pool, &state.redis, prefix, id.0, body.role.into())
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound("no such user".to_owned()))?;
        tracing::info!(user.id = %user.id, role = user.role.as_str(), by = %caller.0.user_id, "role changed");
        Ok(Json(user.into()))
    }
}
