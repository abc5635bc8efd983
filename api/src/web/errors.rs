//! Errors in words: what a page shows for an `ApiError` (a sentence, and
//! one message per field for a form), and HTML error pages for whatever
//! poem itself refuses (unknown paths, wrong methods, bad path segments).

use std::collections::BTreeMap;

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use serde::Serialize;

use super::page::{Web, state_of};
use crate::client_ip::ClientIp;
use crate::problem::ApiError;

/// An error as a page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    /// HTTP status of the page.
    #[serde(skip)]
    pub status: StatusCode,
    /// "Not found", "Payment declined".
    pub title: String,
    /// A sentence for a person.
    pub message: String,
    /// Field name → what is wrong with it.
    pub fields: BTreeMap<String, String>,
}

impl From<&ApiError> for Shown {
    fn from(error: &ApiError) -> Self {
        let status = poem::error::ResponseError::status(error);
        let mut fields = BTreeMap::new();
        let message = match error {
            ApiError::Validation(errors) => {
                for e in errors {
                    fields
                        .entry(e.field.clone())
                        .or_insert(capitalised(&e.message));
                }
                "Please correct the fields marked below.".to_owned()
            }
            ApiError::PaymentRequired(why) => format!("Your payment was refused: {why}."),
            ApiError::SeatsTaken(seats) => format!(
                "{} of the seats you picked {} just taken by someone else. Pick others.",
                seats.len(),
                if seats.len() == 1 { "was" } else { "were" }
            ),
            ApiError::RateLimited { retry_after } => {
                format!("Too many attempts. Try again in {retry_after} seconds.")
            }
            ApiError::Internal(_) => {
                // Logged in full; the person sees a generic line.
                tracing::error!(error = %error, "page failed");
                "Something went wrong on our side. Try again in a moment.".to_owned()
            }
            other => capitalised(&other.to_string()),
        };
        Self {
            status,
            title: title_of(status).to_owned(),
            message: sentence(message),
            fields,
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn sentence(text: String) -> String {
    let text = capitalised(&text);
    if text.ends_with(['.', '!', '?']) {
        text
    } else {
        text + "."
    }
}

/// The heading for a status.
pub fn title_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Bad request",
        401 => "Not signed in",
        402 => "Payment declined",
        403 => "Not allowed",
        404 => "Not found",
        405 => "Not allowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "Too large",
        422 => "Check your input",
        429 => "Slow down",
        503 => "Unavailable",
        s if s >= 500 => "Something went wrong",
        _ => "Error",
    }
}

/// Renders errors that reach the page stack as HTML pages: a page a
/// handler finished (`Stop`) passes as it is.
pub async fn pages<E: Endpoint>(next: E, request: Request) -> Result<Response> {
    let state = state_of(&request).clone();
    let jar = request.cookie().clone();
    let ip = request
        .data::<ClientIp>()
        .copied()
        .unwrap_or(ClientIp(None));
    let here = request.uri().path().to_owned();
    // Browsers ask for HTML; a script or scraper that hits a path with no
    // page gets the API's problem+json instead.
    let wants_html = request
        .header(poem::http::header::ACCEPT)
        .is_some_and(|accept| accept.contains("text/html"));
    let error = match next.call(request).await {
        Ok(response) => return Ok(response.into_response()),
        Err(error) if error.is_from_response() => return Ok(error.into_response()),
        Err(error) if !wants_html => return Ok(crate::problem::render(error).await),
        Err(error) => error,
    };
    let status = error.status();
    let api = match error.downcast::<ApiError>() {
        Ok(api) => api,
        Err(_) if status == StatusCode::NOT_FOUND => {
            ApiError::NotFound("There is no page at this address.".to_owned())
        }
        Err(error) if status.is_server_error() => ApiError::Internal(anyhow::anyhow!("{error}")),
        Err(error) => ApiError::BadRequest(error.to_string()),
    };
    let mut shown = Shown::from(&api);
    shown.status = status;
    shown.title = title_of(status).to_owned();
    match Web::load(state, jar, ip, here).await {
        Ok(web) => Ok(web.page_with(status, "error.html", &shown)),
        // The database is down: a page without the person's name.
        Err(_) => Ok((status, shown.message).into_response()),
    }
}
