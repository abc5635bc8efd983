//! Pages for organizers: venues, events, a dashboard per event, the door,
//! announcements and exports. Every page needs the organizer role (admins
//! pass) and only shows the organizer's own venues and events (404 for
//! anyone else's).

pub mod dashboard;
pub mod door;
pub mod events;
pub mod venues;

use marquee_core::auth::Role;
use marquee_core::catalog::{Actor, events as catalog_events, venues as catalog_venues};
use poem::{Response, handler};

use super::page::{Stop, Web};

/// The organizer behind this request, or the page that says why not.
pub fn organizer(web: &Web) -> Result<Actor, Stop> {
    web.with_role(Role::Organizer)?;
    Ok(web.actor().expect("signed in"))
}

/// `GET /organizer`: the organizer's events and venues.
#[handler]
pub async fn home(web: Web) -> Result<Response, Stop> {
    let actor = organizer(&web)?;
    let events = catalog_events::of_organizer(&web.state.pool, actor)
        .await
        .map_err(|e| web.fail(e))?;
    let venues = catalog_venues::list(&web.state.pool, actor)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(web.page(
        "organizer/home.html",
        minijinja::context! { events, venues },
    ))
}
