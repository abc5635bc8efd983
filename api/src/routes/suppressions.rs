//! `/api/v1/suppressions`: the addresses an account's mail no longer goes
//! to (refused for good by the recipient's server, or unsubscribed from all
//! of its mail), for the owner to review and lift. Scope `email:send`.

use chrono::{DateTime, Utc};
use marquee_core::auth::api_keys::Scope;
use marquee_core::suppressions::{self, Suppression};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::auth::AnyAuth;
use crate::contract::{FORBIDDEN, NOT_FOUND, Problems, UNPROCESSABLE_ENTITY};
use crate::pagination::Page;
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;

/// The suppression list endpoints.
pub struct SuppressionsApi;

/// An address the caller's mail does not go to.
#[derive(Debug, Object)]
pub struct SuppressionView {
    /// The address, lower-cased.
    pub address: String,
    /// `bounced` (the server refused the recipient for good) or
    /// `unsubscribed` (from all of the caller's mail).
    pub reason: String,
    /// The server's answer, for a bounce.
    pub detail: Option<String>,
    /// Since when.
    pub created_at: DateTime<Utc>,
}

impl From<Suppression> for SuppressionView {
    fn from(s: Suppression) -> Self {
        Self {
            address: s.address,
            reason: s.reason,
            detail: s.detail,
            created_at: s.created_at,
        }
    }
}

/// A page of the list, newest first.
#[derive(Debug, Object)]
pub struct SuppressionPage {
    /// This page.
    pub items: Vec<SuppressionView>,
    /// Entries in all.
    pub total: i64,
    /// Page number.
    pub page: i64,
    /// Page size.
    pub per_page: i64,
}

#[derive(ApiResponse)]
enum LiftResponse {
    /// Lifted: mail goes to the address again.
    #[oai(status = 204)]
    Lifted,
}

#[OpenApi(tag = "ApiTags::Tasks")]
impl SuppressionsApi {
    /// The caller's suppression list. Tasks to a listed address end `dead`
    /// with reason `suppressed`, without touching the mail server.
    #[oai(path = "/api/v1/suppressions", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        page: Query<Option<i64>>,
        per_page: Query<Option<i64>>,
    ) -> Result<Json<SuppressionPage>, Problems<{ FORBIDDEN | UNPROCESSABLE_ENTITY }>> {
        let caller = auth.caller();
        caller.require_scope(Scope::EmailSend)?;
        let paging = Page::parse(page.0, per_page.0)?;
        let (items, total) = suppressions::list(
            &state.pool,
            caller.user_id,
            paging.per_page,
            paging.offset(),
        )
        .await
        .map_err(ApiError::from)?;
        Ok(Json(SuppressionPage {
            items: items.into_iter().map(SuppressionView::from).collect(),
            total,
            page: paging.page,
            per_page: paging.per_page,
        }))
    }

    /// Lift an entry: mail goes to the address again.
    #[oai(path = "/api/v1/suppressions/:address", method = "delete")]
    async fn lift(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        address: Path<String>,
    ) -> Result<LiftResponse, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        let caller = auth.caller();
        caller.require_scope(Scope::EmailSend)?;
        if address.0.len() > 320 {
            return Err(ApiError::NotFound("no such suppression".to_owned()).into());
        }
        if suppressions::lift(&state.pool, caller.user_id, &address.0)
            .await
            .map_err(ApiError::from)?
        {
            Ok(LiftResponse::Lifted)
        } else {
            Err(ApiError::NotFound("no such suppression".to_owned()).into())
        }
    }
}
