//! The pages: server-rendered HTML for people, organizers and operators,
//! from templates compiled into the binary, with vendored assets (no CDN,
//! no Node build step). Pages call `core` and the shared `actions`, never
//! the HTTP API, so the API's rules (roles, ownership, limits, idempotency)
//! hold here too.
//!
//! Every page goes through the same stack: security headers (a strict CSP
//! without inline script), the CSRF guard on every write, cookie handling,
//! and HTML error pages.

mod assets;
mod chart;
mod csrf;
mod errors;
mod form;
mod headers;
mod ops;
mod organizer;
mod page;
mod people;
mod session;
mod templates;

use poem::middleware::CookieJarManager;
use poem::{EndpointExt, Route, get, post};

/// Every page, under `/`.
pub fn routes() -> impl poem::Endpoint {
    Route::new()
        .at("/", get(people::events::index))
        .at("/events", get(people::events::index))
        .at("/events/:id", get(people::event::show))
        .at("/events/:id/seats", get(people::event::seats_part))
        .at(
            "/events/:id/availability",
            get(people::event::availability_part),
        )
        .at("/events/:id/holds", post(people::holds::create))
        .at("/events/:id/waitlist", post(people::waitlist::join))
        .at("/events/:id/waitlist/leave", post(people::waitlist::leave))
        .at("/holds/:id", get(people::holds::show))
        .at("/holds/:id/pay", post(people::holds::pay))
        .at("/holds/:id/release", post(people::holds::release))
        .at("/bookings", get(people::bookings::index))
        .at("/bookings/:id", get(people::bookings::show))
        .at("/bookings/:id/tickets", get(people::bookings::tickets_part))
        .at(
            "/bookings/:id/cancel",
            get(people::bookings::confirm_cancel).post(people::bookings::cancel_booking),
        )
        .at("/tickets", get(people::tickets::index))
        .at("/tickets/:id/qr.svg", get(people::tickets::qr))
        .at("/tickets/:id/ticket.pdf", get(people::tickets::pdf))
        .at(
            "/sign-in",
            get(people::account::sign_in_form).post(people::account::sign_in),
        )
        .at(
            "/sign-up",
            get(people::account::sign_up_form).post(people::account::sign_up),
        )
        .at("/sign-out", post(people::account::sign_out))
        .at("/organizer", get(organizer::home))
        .at("/organizer/venues", post(organizer::venues::create))
        .at("/organizer/venues/new", get(organizer::venues::new_form))
        .at(
            "/organizer/venues/preview",
            post(organizer::venues::preview),
        )
        .at("/organizer/events", post(organizer::events::create))
        .at("/organizer/events/new", get(organizer::events::new_form))
        .at(
            "/organizer/events/:id",
            get(organizer::events::manage).post(organizer::events::update),
        )
        .at(
            "/organizer/events/:id/:action",
            get(organizer::events::export).post(organizer::events::transition),
        )
        .at(
            "/organizer/events/:id/policy",
            post(organizer::events::set_policy),
        )
        .at(
            "/organizer/events/:id/announcements",
            post(organizer::events::announce),
        )
        .at(
            "/organizer/events/:id/dashboard",
            get(organizer::dashboard::show),
        )
        .at(
            "/organizer/events/:id/progress",
            get(organizer::dashboard::progress_part),
        )
        .at(
            "/organizer/events/:id/door",
            get(organizer::door::show).post(organizer::door::scan),
        )
        .at("/ops", get(ops::home))
        .at("/ops/queues/:name/:action", post(ops::switch))
        .at("/ops/jobs", get(ops::jobs::index))
        .at("/ops/jobs/bulk", post(ops::jobs::bulk))
        .at("/ops/jobs/:id", get(ops::jobs::show))
        .at("/ops/jobs/:id/:action", post(ops::jobs::act))
        .at("/ops/history", get(ops::history::show))
        .at("/ops/audit", get(ops::audit))
        .at("/licenses", get(assets::licenses))
        .at("/assets/:file", get(assets::serve))
        .around(errors::pages)
        .around(csrf::guard)
        .with(CookieJarManager::new())
        .around(headers::secure)
}
