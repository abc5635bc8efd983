//! The OpenAPI service: every route, `/openapi.json` and `/docs`.

mod admin;
mod api_keys;
mod auth;
mod booking;
mod checkins;
mod codes;
mod events;
mod exports;
mod health;
mod insights;
mod live;
pub(crate) mod ops;
mod otp;
mod subscriptions;
mod suppressions;
mod system;
mod tags;
mod tasks;
mod tasks_batch;
mod tickets;
mod venues;
mod waitlist;

use poem::{EndpointExt, IntoEndpoint, Route};
use poem_openapi::{OpenApiService, Tags};

pub(crate) use booking::BookingView;
pub use checkins::CheckinView;

use crate::contract::Contract;
use crate::state::AppState;

/// Groups in the OpenAPI document.
#[derive(Tags)]
pub enum ApiTags {
    /// Liveness and readiness.
    Health,
    /// Accounts and sessions.
    Auth,
    /// Administration (admins only).
    Admin,
    /// Keys for applications.
    ApiKeys,
    /// Email work submitted by applications.
    Tasks,
    /// Newsletters: content types and the unsubscribe link.
    Subscriptions,
    /// Venues and events: organizers build, everyone browses.
    Catalog,
    /// Holds, checkout and bookings.
    Booking,
    /// Tickets: codes, QR and PDF downloads, reissue.
    Tickets,
    /// The door: check-ins, keys and revocations for offline devices.
    Checkin,
    /// Organizer analytics.
    Insights,
    /// Operator diagnostics.
    System,
    /// Operations: queues, jobs, workers, history and the audit trail.
    Ops,
}

/// The OpenAPI service: every operation, with its problems documented.
fn service(settings: &marquee_core::Settings) -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    OpenApiService::new(
        Contract((
            health::HealthApi,
            auth::AuthApi,
            codes::CodesApi,
            api_keys::ApiKeysApi,
            tasks::TasksApi,
            (
                subscriptions::SubscriptionsApi,
                suppressions::SuppressionsApi,
            ),
            venues::VenuesApi,
            (
                events::EventsApi,
                tags::TagsApi,
                insights::InsightsApi,
                exports::ExportsApi,
                live::LiveApi,
            ),
            booking::BookingApi,
            tickets::TicketsApi,
            checkins::CheckinApi,
            waitlist::WaitlistApi,
            otp::OtpApi,
            admin::AdminApi,
            system::SystemApi,
            // Tuples implement OpenApi up to 16 members: nest the rest.
            (ops::OpsApi, ops::OpsJobsApi),
        )),
        "Marquee",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Event tickets and transactional email, driven by durable jobs.")
    .server(settings.http.public_url.clone())
}

/// The document served at `/openapi.json`.
pub fn openapi(settings: &marquee_core::Settings) -> String {
    service(settings).spec()
}

/// The whole HTTP application.
pub fn app(state: AppState) -> impl poem::Endpoint {
    let api = service(&state.settings);
    let client_ip = crate::client_ip::ResolveClientIp::new(&state.settings.http.trusted_proxies);
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    // Path templates from our own document name the parameter a bad path
    // segment stands for.
    let document = serde_json::from_str(&api.spec()).unwrap_or_default();
    let routes = std::sync::Arc::new(crate::metrics::RouteTemplates::from_spec(&document));
    let boundary = crate::boundary::Boundary::new(
        state.settings.http.max_body_bytes,
        state.settings.http.max_batch_body_bytes,
        std::time::Duration::from_secs(state.settings.http.body_read_timeout_seconds),
        crate::boundary::PathTemplates::from_spec(&document),
    )
    .with_state(state.clone());
    let in_flight = crate::in_flight::InFlight::new(
        state.settings.http.max_in_flight_requests,
        std::time::Duration::from_secs(state.settings.http.max_wait_seconds),
    );
    // The JSON API keeps its paths; every other path is a page.
    let api = std::sync::Arc::new(crate::cors::layer(&state.settings, api.into_endpoint()));
    Route::new()
        .nest_no_strip("/api", api.clone())
        .nest_no_strip("/health", api)
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/", crate::web::routes())
        .data(state)
        .into_endpoint()
        .around(move |next, request| {
            let in_flight = in_flight.clone();
            async move { in_flight.admit(next, request).await }
        })
        .around(move |next, request| {
            let boundary = boundary.clone();
            async move { boundary.check(next, request).await }
        })
        .catch_all_error(crate::problem::render)
        .around(crate::request_id::middleware)
        .around(move |next, request| {
            let routes = routes.clone();
            async move { crate::metrics::timed(&routes, next, request).await }
        })
        .with(client_ip)
}
