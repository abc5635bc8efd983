//! Security headers on every page: a strict Content-Security-Policy (no
//! inline script or style, nothing from other origins), no framing, no
//! sniffing, and no caching of pages that may show private data.

use poem::http::{HeaderName, HeaderValue, header};
use poem::{Endpoint, IntoResponse, Request, Response, Result};

/// The policy: only our own files. `worker-src` is for the QR decoder's
/// worker on the door page.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; font-src 'self'; worker-src 'self'; \
    manifest-src 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// Adds the headers; assets keep their own long-lived `Cache-Control`.
pub async fn secure<E: Endpoint>(next: E, request: Request) -> Result<Response> {
    let mut response = next.call(request).await?.into_response();
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(self), microphone=(), geolocation=()",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    Ok(response)
}
