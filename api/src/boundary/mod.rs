//! The boundary every request crosses before routing.
//!
//! - Its body is read here, at most `http.max_body_bytes` of it
//!   (`http.max_batch_body_bytes` for the task batch route): past that
//!   the answer is 413 without reading further, whether or not a
//!   Content-Length announced the size (a chunked body is counted as it
//!   arrives). Handlers then see the buffered body, as poem-openapi would
//!   have buffered it anyway, only bounded.
//! - No text in its JSON body, query string or path may hold a control
//!   character other than tab, newline and carriage return (PostgreSQL
//!   refuses NUL, and no field of ours means to hold the others): 422 naming
//!   each field, before any handler or database sees it. One check here
//!   covers every route, including routes added later.

mod text;

use std::sync::Arc;

use poem::http::header;
use poem::{Endpoint, IntoResponse, Request, Response};
use tokio::io::AsyncReadExt;

use crate::problem::ApiError;
pub use text::PathTemplates;

/// The limits a request is held to.
#[derive(Clone)]
pub struct Boundary {
    max_body_bytes: usize,
    max_batch_body_bytes: usize,
    /// To tell a credentialed batch from anyone's (see `read_body`).
    state: Option<crate::state::AppState>,
    body_timeout: std::time::Duration,
    paths: Arc<PathTemplates>,
}

impl Boundary {
    /// Bodies up to `max_body_bytes`, arriving within `body_timeout`; path
    /// parameters named after `paths`.
    pub fn new(
        max_body_bytes: usize,
        max_batch_body_bytes: usize,
        body_timeout: std::time::Duration,
        paths: PathTemplates,
    ) -> Self {
        Self {
            max_body_bytes,
            max_batch_body_bytes,
            state: None,
            body_timeout,
            paths: Arc::new(paths),
        }
    }

    /// Lets signed-in callers of the batch route send up to
    /// `max_batch_body_bytes`.
    pub fn with_state(mut self, state: crate::state::AppState) -> Self {
        self.state = Some(state);
        self
    }

    /// Middleware body; use with `EndpointExt::around`.
    pub async fn check<E: Endpoint>(
        &self,
        next: Arc<E>,
        mut request: Request,
    ) -> poem::Result<Response> {
        let body = self.read_body(&mut request).await?;
        let mut problems = text::path_problems(request.uri().path(), &self.paths);
        // A header that is not visible ASCII reads as absent to poem-openapi;
        // an unreadable Idempotency-Key must not silently turn a retry into
        // a second send.
        if request
            .headers()
            .get_all(IDEMPOTENCY_KEY)
            .iter()
            .any(|value| value.to_str().is_err())
        {
            problems.push(field_error(
                "Idempotency-Key",
                "must be visible ASCII characters",
            ));
        }
        if let Some(query) = request.uri().query() {
            problems.extend(text::query_problems(query));
        }
        if is_json_or_unlabelled(&request) {
            problems.extend(text::json_problems(&body));
        }
        if !problems.is_empty() {
            problems.truncate(text::MAX_PROBLEMS);
            return Err(ApiError::Validation(problems).into());
        }
        request.set_body(body);
        Ok(next.call(request).await?.into_response())
    }

    /// The whole body, or 413 as soon as it is known to be too large.
    async fn read_body(&self, request: &mut Request) -> poem::Result<Vec<u8>> {
        // The one route whose bodies are made to be large has its own limit,
        // for callers with a valid credential only: this runs before the
        // route's own authentication, and nobody else may make us buffer
        // (and scan) 16 MiB.
        let batch =
            request.method() == poem::http::Method::POST && request.uri().path() == BATCH_PATH;
        let limit = match &self.state {
            Some(state)
                if batch && crate::auth::presents_credential(state, request.headers()).await =>
            {
                self.max_batch_body_bytes
            }
            _ => self.max_body_bytes,
        };
        let announced = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::TooLarge { limit }.into());
        }
        let mut body = Vec::with_capacity(announced.unwrap_or(0) as usize);
        // One byte past the limit tells "too large" from "exactly the limit".
        let mut stream = request.take_body().into_async_read().take(limit as u64 + 1);
        let read = stream.read_to_end(&mut body);
        tokio::time::timeout(self.body_timeout, read)
            .await
            .map_err(|_| ApiError::BodyTimeout {
                seconds: self.body_timeout.as_secs(),
            })?
            .map_err(poem::error::ReadBodyError::Io)?;
        if body.len() > limit {
            return Err(ApiError::TooLarge { limit }.into());
        }
        Ok(body)
    }
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// `POST /api/v1/tasks/batch`, held to `http.max_batch_body_bytes`.
pub const BATCH_PATH: &str = "/api/v1/tasks/batch";

fn field_error(field: &str, message: &str) -> crate::problem::FieldError {
    crate::problem::FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// Bodies we parse: JSON, or unlabelled (which poem-openapi refuses, but
/// refusing control characters first costs nothing).
fn is_json_or_unlabelled(request: &Request) -> bool {
    match request.content_type() {
        None => true,
        Some(value) => {
            let essence = value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        }
    }
}
