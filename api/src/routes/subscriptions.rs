//! `/api/v1/subscription-contents`: newsletters an application publishes;
//! `/api/v1/unsubscribe/{token}`: the link in every issue.

use chrono::{DateTime, Utc};
use marquee_core::auth::Invalid;
use marquee_core::auth::api_keys::Scope;
use marquee_core::subscriptions::{
    Content, ContentInput, check_content_type, contents, unsubscribe_all_by_token,
    unsubscribe_by_token, unsubscribe_link,
};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Html, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::auth::AnyAuth;
use crate::contract::{CONFLICT, FORBIDDEN, NONE, NOT_FOUND, Problems, UNPROCESSABLE_ENTITY};
use crate::problem::ApiError;
use crate::routes::ApiTags;
use crate::state::AppState;

/// Content type endpoints (scope `subscriptions`) and the unsubscribe link.
pub struct SubscriptionsApi;

/// A content type's fields.
#[derive(Debug, Object)]
pub struct ContentRequest {
    /// Its name: 1-64 of a-z, 0-9, `.`, `_`, `-`. On PUT it may be left out;
    /// if given it must match the path.
    #[oai(nullable)]
    pub content_type: Option<String>,
    /// Subject of every issue, 1-998 characters.
    pub subject: String,
    /// Plain-text body; give text and/or html.
    #[oai(nullable)]
    pub text: Option<String>,
    /// HTML body.
    #[oai(nullable)]
    pub html: Option<String>,
}

/// A content type.
#[derive(Debug, Object)]
pub struct ContentView {
    /// Name.
    pub content_type: String,
    /// Subject.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
    /// Active subscribers.
    pub subscribers: i64,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Content> for ContentView {
    fn from(c: Content) -> Self {
        Self {
            content_type: c.content_type,
            subject: c.subject,
            text: c.text,
            html: c.html,
            subscribers: c.subscribers,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(ApiResponse)]
enum CreateResponse {
    /// Created.
    #[oai(status = 201)]
    Created(Json<ContentView>),
}

#[derive(ApiResponse)]
enum DeleteResponse {
    /// Deleted, with its subscribers; no further issues go out.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
enum UnsubscribeResponse {
    /// On GET: a page asking to confirm, which changes nothing (mail
    /// scanners follow links). On POST: unsubscribed (again is fine).
    #[oai(status = 200)]
    Done(Html<String>),
    /// No subscription has this link.
    #[oai(status = 404)]
    Unknown(Html<String>),
}

fn parse(path_name: Option<&str>, body: &ContentRequest) -> Result<ContentInput, ApiError> {
    let name = match (path_name, body.content_type.as_deref()) {
        (Some(path), Some(given)) if path != given => {
            return Err(vec![Invalid::new("content_type", "must match the path")].into());
        }
        (Some(path), _) => path,
        (None, given) => given.unwrap_or_default(),
    };
    ContentInput::parse(
        name,
        &body.subject,
        body.text.as_deref(),
        body.html.as_deref(),
    )
    .map_err(ApiError::from)
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such content type".to_owned())
}

/// A name that cannot exist is simply not found (and never reaches SQL).
fn existing_name(name: &str) -> Result<&str, ApiError> {
    match check_content_type(name, "content_type") {
        None => Ok(name),
        Some(_) => Err(not_found()),
    }
}

#[OpenApi(tag = "ApiTags::Subscriptions")]
impl SubscriptionsApi {
    /// Create a content type. Subscribe addresses to it with `subscribe` tasks.
    #[oai(path = "/api/v1/subscription-contents", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        body: Json<ContentRequest>,
    ) -> Result<CreateResponse, Problems<{ FORBIDDEN | CONFLICT | UNPROCESSABLE_ENTITY }>> {
        let caller = auth.caller();
        caller.require_scope(Scope::Subscriptions)?;
        // What a content type holds is mailed to every subscriber: only
        // verified accounts write it (see `senders`).
        crate::senders::require_verified_email(state.0, caller.user_id).await?;
        let input = parse(None, &body)?;
        let created = contents::create(&state.pool, caller.user_id, &input)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| {
                ApiError::Conflict(format!("content type `{}` exists", input.content_type))
            })?;
        Ok(CreateResponse::Created(Json(created.into())))
    }

    /// The caller's content types.
    #[oai(path = "/api/v1/subscription-contents", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
    ) -> Result<Json<Vec<ContentView>>, Problems<FORBIDDEN>> {
        let caller = auth.caller();
        caller.require_scope(Scope::Subscriptions)?;
        let all = contents::list(&state.pool, caller.user_id)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(all.into_iter().map(ContentView::from).collect()))
    }

    /// One content type; someone else's is 404.
    #[oai(path = "/api/v1/subscription-contents/:content_type", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        content_type: Path<String>,
    ) -> Result<Json<ContentView>, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        let caller = auth.caller();
        caller.require_scope(Scope::Subscriptions)?;
        let name = existing_name(&content_type.0)?;
        let found = contents::get(&state.pool, caller.user_id, name)
            .await
            .map_err(ApiError::from)?;
        Ok(found.map(|c| Json(c.into())).ok_or_else(not_found)?)
    }

    /// Replace the content; the next issue sends it.
    #[oai(path = "/api/v1/subscription-contents/:content_type", method = "put")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        content_type: Path<String>,
        body: Json<ContentRequest>,
    ) -> Result<Json<ContentView>, Problems<{ FORBIDDEN | NOT_FOUND | UNPROCESSABLE_ENTITY }>> {
        let caller = auth.caller();
        caller.require_scope(Scope::Subscriptions)?;
        // What a content type holds is mailed to every subscriber: only
        // verified accounts write it (see `senders`).
        crate::senders::require_verified_email(state.0, caller.user_id).await?;
        let input = parse(Some(existing_name(&content_type.0)?), &body)?;
        let updated = contents::update(&state.pool, caller.user_id, &input)
            .await
            .map_err(ApiError::from)?;
        Ok(updated.map(|c| Json(c.into())).ok_or_else(not_found)?)
    }

    /// Delete a content type and its subscribers.
    #[oai(
        path = "/api/v1/subscription-contents/:content_type",
        method = "delete"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: AnyAuth,
        content_type: Path<String>,
    ) -> Result<DeleteResponse, Problems<{ FORBIDDEN | NOT_FOUND }>> {
        let caller = auth.caller();
        caller.require_scope(Scope::Subscriptions)?;
        let name = existing_name(&content_type.0)?;
        if contents::delete(&state.pool, caller.user_id, name)
            .await
            .map_err(ApiError::from)?
        {
            Ok(DeleteResponse::Deleted)
        } else {
            Err(not_found().into())
        }
    }

    /// The unsubscribe link of a newsletter (no sign-in: the token is the
    /// credential). It shows a page asking to confirm and changes nothing,
    /// so a mail scanner that opens every link unsubscribes nobody; the
    /// page's buttons POST.
    #[oai(path = "/api/v1/unsubscribe/:token", method = "get")]
    async fn unsubscribe_page(
        &self,
        state: Data<&AppState>,
        token: Path<String>,
    ) -> Result<UnsubscribeResponse, Problems<NONE>> {
        let link = unsubscribe_link(&state.pool, &token.0)
            .await
            .map_err(ApiError::from)?;
        Ok(match link {
            // The token passed `is_token` (base64url) and the name is a
            // slug: neither needs escaping.
            Some((name, true)) => UnsubscribeResponse::Done(page(
                "Unsubscribe",
                &format!(
                    "<p>Stop receiving <b>{name}</b>?</p>\
                     <form method=\"post\" action=\"/api/v1/unsubscribe/{token}\">\
                     <button type=\"submit\">Unsubscribe from {name}</button></form>\
                     <form method=\"post\" action=\"/api/v1/unsubscribe/{token}/all\">\
                     <button type=\"submit\">Unsubscribe from all mail from this sender</button></form>",
                    token = token.0
                ),
            )),
            Some((name, false)) => UnsubscribeResponse::Done(page(
                "Unsubscribed",
                &format!("<p>You are already unsubscribed from <b>{name}</b>.</p>"),
            )),
            None => unknown_link(),
        })
    }

    /// Unsubscribes from this newsletter: the confirmation page's button,
    /// and RFC 8058 one-click as mail clients send it.
    #[oai(path = "/api/v1/unsubscribe/:token", method = "post")]
    async fn unsubscribe_one_click(
        &self,
        state: Data<&AppState>,
        token: Path<String>,
    ) -> Result<UnsubscribeResponse, Problems<NONE>> {
        Ok(unsubscribe(&state, &token.0).await?)
    }

    /// Unsubscribes the address from all mail of this newsletter's sender:
    /// every newsletter, and tasks (the address joins the sender's
    /// suppression list).
    #[oai(path = "/api/v1/unsubscribe/:token/all", method = "post")]
    async fn unsubscribe_from_all(
        &self,
        state: Data<&AppState>,
        token: Path<String>,
    ) -> Result<UnsubscribeResponse, Problems<NONE>> {
        let address = unsubscribe_all_by_token(&state.pool, &token.0)
            .await
            .map_err(ApiError::from)?;
        Ok(match address {
            Some(_) => {
                tracing::info!("unsubscribed from all mail by link");
                UnsubscribeResponse::Done(page(
                    "Unsubscribed",
                    "<p>You are unsubscribed from all mail from this sender.</p>",
                ))
            }
            None => unknown_link(),
        })
    }
}

/// A small page of its own (these links live outside the site's pages).
fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title><h1>{title}</h1>{body}</html>"
    ))
}

fn unknown_link() -> UnsubscribeResponse {
    UnsubscribeResponse::Unknown(page(
        "Unknown link",
        "<p>This unsubscribe link is not valid.</p>",
    ))
}

async fn unsubscribe(state: &AppState, token: &str) -> Result<UnsubscribeResponse, ApiError> {
    let content_type = unsubscribe_by_token(&state.pool, token)
        .await
        .map_err(ApiError::from)?;
    Ok(match content_type {
        Some(name) => {
            tracing::info!(content_type = %name, "unsubscribed by link");
            UnsubscribeResponse::Done(page(
                "Unsubscribed",
                // A slug: nothing to escape.
                &format!(
                    "<p>You are unsubscribed from <b>{name}</b>. No further issues will be sent.</p>"
                ),
            ))
        }
        None => unknown_link(),
    })
}
