//! CORS for front-ends served from other origins (`http.cors_allowed_origins`).
//! Only the JSON API answers CORS; pages never do. Empty (the default): no
//! CORS headers at all, so browsers keep other origins out. The API takes
//! bearer tokens and API keys, never cookies, so credentials are never
//! allowed, and `*` can never meet them.

use marquee_core::Settings;
use poem::endpoint::BoxEndpoint;
use poem::http::{Method, header};
use poem::middleware::Cors;
use poem::{Endpoint, EndpointExt};

/// Headers a cross-origin caller may send.
const ALLOWED_HEADERS: [&str; 6] = [
    "authorization",
    "content-type",
    "idempotency-key",
    "last-event-id",
    "x-api-key",
    "x-request-id",
];

/// Headers a cross-origin caller may read.
const EXPOSED_HEADERS: [&str; 4] = [
    "location",
    "retry-after",
    "x-request-id",
    "content-disposition",
];

/// `api` behind the configured CORS policy (unchanged when none is set).
pub fn layer(settings: &Settings, api: impl Endpoint + 'static) -> BoxEndpoint<'static> {
    let origins = &settings.http.cors_allowed_origins;
    if origins.is_empty() {
        return api.map_to_response().boxed();
    }
    let mut cors = Cors::new()
        .allow_credentials(false)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(ALLOWED_HEADERS)
        .expose_headers(EXPOSED_HEADERS)
        .expose_header(header::CONTENT_TYPE)
        .max_age(600);
    let any = origins.iter().any(|o| o == "*");
    // `*` is poem's default (no list); otherwise only the listed origins.
    if !any {
        cors = cors.allow_origins(origins.iter().map(String::as_str));
    }
    let api = std::sync::Arc::new(api.map_to_response());
    let answered = std::sync::Arc::new(api.clone().with(cors).map_to_response());
    let allowed: Vec<String> = origins.clone();
    // Another origin is not refused outright (a server-side client may send
    // any Origin): it is answered without CORS headers, so browsers keep
    // the answer from its page.
    api.around(move |api, request| {
        let listed = request
            .header(header::ORIGIN)
            .is_none_or(|origin| any || allowed.iter().any(|o| o == origin));
        let answered = answered.clone();
        async move {
            if listed {
                answered.call(request).await
            } else {
                api.call(request).await
            }
        }
    })
    // Every answer depends on the Origin asked with: a shared cache must
    // keep them apart.
    .with(poem::middleware::SetHeader::new().appending(header::VARY, "Origin"))
    .boxed()
}
