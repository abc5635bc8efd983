//! Sign-up, sign-in and sign-out pages. The session is a cookie
//! (`web::session`); the rules are the API's (`actions::accounts`).

use poem::handler;
use poem::web::Query;
use poem::{IntoResponse, Response};
use serde::Deserialize;

use crate::actions::accounts;
use crate::problem::ApiError;
use crate::web::errors::Shown;
use crate::web::form::Fields;
use crate::web::page::{Web, see_other};
use crate::web::session;

#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Where to go after signing in: a path on this site only, never another
/// site. `//evil.example` is another site, and so is `/\t/evil.example`:
/// browsers drop tabs and newlines from URLs and read `\` as `/`, so no
/// whitespace, control character or backslash is let through.
fn local(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '\\') =>
        {
            path
        }
        _ => "/",
    }
}

/// `GET /sign-in`
#[handler]
pub fn sign_in_form(web: Web, Query(next): Query<Next>) -> Response {
    if web.me.is_some() {
        return see_other(local(next.next.as_deref()));
    }
    web.page(
        "account/sign_in.html",
        minijinja::context! { next => local(next.next.as_deref()) },
    )
}

/// `POST /sign-in`
#[handler]
pub async fn sign_in(web: Web, fields: Fields) -> Response {
    let email = fields.get("email").unwrap_or_default();
    let next = local(fields.get("next")).to_owned();
    match accounts::sign_in(
        &web.state,
        &web.ip,
        email,
        fields.get("password").unwrap_or_default(),
    )
    .await
    {
        Ok((_, refresh)) => {
            replace_session(&web, refresh.token).await;
            see_other(&next)
        }
        Err(error) => form_again(&web, "account/sign_in.html", &error, email, "", &next),
    }
}

/// `GET /sign-up`
#[handler]
pub fn sign_up_form(web: Web, Query(next): Query<Next>) -> Response {
    web.page(
        "account/sign_up.html",
        minijinja::context! { next => local(next.next.as_deref()) },
    )
}

/// `POST /sign-up`
#[handler]
pub async fn sign_up(web: Web, fields: Fields) -> Response {
    let email = fields.get("email").unwrap_or_default();
    let name = fields.get("name").unwrap_or_default();
    let next = local(fields.get("next")).to_owned();
    match accounts::sign_up(
        &web.state,
        email,
        name,
        fields.get("password").unwrap_or_default(),
    )
    .await
    {
        Ok((_, refresh)) => {
            replace_session(&web, refresh.token).await;
            see_other(&next)
        }
        Err(error) => form_again(&web, "account/sign_up.html", &error, email, name, &next),
    }
}

/// Starts the new session; one this browser had is revoked, so a shared
/// computer keeps no live session of the person before.
async fn replace_session(web: &Web, token: String) {
    if let Some(old) = web.jar.get(session::SESSION)
        && let Err(error) = accounts::sign_out(&web.state, old.value_str()).await
    {
        tracing::warn!(error = %error, "the replaced page session was not revoked");
    }
    session::start(&web.state.settings, &web.jar, token);
}

fn form_again(
    web: &Web,
    template: &str,
    error: &ApiError,
    email: &str,
    name: &str,
    next: &str,
) -> Response {
    let shown = Shown::from(error);
    web.page_with(
        shown.status,
        template,
        minijinja::context! { error => shown, email, name, next },
    )
}

/// `POST /sign-out`: revokes the session everywhere, then drops the cookie.
#[handler]
pub async fn sign_out(web: Web) -> Response {
    if let Some(cookie) = web.jar.get(session::SESSION)
        && let Err(error) = accounts::sign_out(&web.state, cookie.value_str()).await
    {
        return web.error_page(&error).into_response();
    }
    session::forget(&web.state.settings, &web.jar, session::SESSION);
    see_other("/")
}
