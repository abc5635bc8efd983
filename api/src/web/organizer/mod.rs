//! Pages for organizers: their events.

use marquee_core::auth::Role;
use marquee_core::catalog::events;
use poem::{Response, handler};

use super::page::{Stop, Web};

/// `GET /organizer`: the organizer's events (every event for admins).
#[handler]
pub async fn home(web: Web) -> Result<Response, Stop> {
    web.with_role(Role::Organizer)?;
    let actor = web.actor().expect("signed in");
    let list = events::of_organizer(&web.state.pool, actor)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(web.page(
        "organizer/home.html",
        minijinja::context! { events => list },
    ))
}
