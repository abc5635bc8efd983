//! Pages for operators (admins): the queues.

use marquee_core::auth::Role;
use marquee_core::ops::queues;
use poem::{Request, Response, handler};

use super::page::{Stop, Web};

/// `GET /ops`: every queue with its counts; htmx refreshes the table.
#[handler]
pub async fn home(web: Web, request: &Request) -> Result<Response, Stop> {
    web.with_role(Role::Admin)?;
    let list = queues::overview(&web.state.pool, &web.state.settings.worker.queues)
        .await
        .map_err(|e| web.fail(e))?;
    let partial = request.header("hx-request").is_some();
    Ok(web.page(
        if partial {
            "ops/_queues.html"
        } else {
            "ops/home.html"
        },
        minijinja::context! { queues => list },
    ))
}
