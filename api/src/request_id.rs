//! `X-Request-Id`: accepted when sane, generated otherwise, echoed on the
//! response, attached to every log line of the request (a span field) and
//! inherited by every job the request enqueues (a task-local). The span also
//! carries the client IP as `client_ip::ResolveClientIp` resolved it.

use std::time::Instant;

use marquee_core::jobs::REQUEST_ID;
use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

/// The header name.
pub const HEADER: &str = "x-request-id";

/// Middleware function; use with `EndpointExt::around`.
pub async fn middleware<E: Endpoint>(next: E, request: Request) -> poem::Result<Response> {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let client_ip = request
        .extensions()
        .get::<crate::client_ip::ClientIp>()
        .copied()
        .unwrap_or(crate::client_ip::ClientIp(None));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        client.ip = %client_ip,
        http.method = %request.method(),
        http.path = %request.uri().path(),
    );
    let started = Instant::now();
    let handled = REQUEST_ID
        .scope(id.clone(), next.call(request).instrument(span.clone()))
        .await;
    let mut response = match handled {
        Ok(response) => response.into_response(),
        Err(error) => crate::problem::render(error).await,
    };
    span.in_scope(|| {
        tracing::info!(
            http.status = response.status().as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "request finished"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    Ok(response)
}

/// Up to 128 visible characters from a safe set, so the id cannot inject
/// anything into logs or headers.
fn is_acceptable(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::is_acceptable;

    #[test]
    fn accepts_ordinary_ids_and_refuses_injection() {
        assert!(is_acceptable("3f1c-abc_DEF.1:2"));
        assert!(!is_acceptable(""));
        assert!(!is_acceptable("a b"));
        assert!(!is_acceptable("line\nbreak"));
        assert!(!is_acceptable(&"x".repeat(129)));
    }
}
