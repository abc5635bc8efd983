//! Pages for operators (admins): queues that update live with pause and
//! resume, workers, jobs by state with filters, a job's attempts and
//! errors, retry and discard (one or in bulk), history charts and the
//! audit trail. Every change goes through `actions::ops`, so it is audited
//! like the API's.

pub mod history;
pub mod jobs;

use marquee_core::auth::Role;
use marquee_core::ops::{self, Action, queues, workers};
use poem::web::Path;
use poem::{Request, Response, handler};

use super::page::{Stop, Web, see_other};

/// The admin behind this request, as the audit trail names them.
pub fn operator(web: &Web) -> Result<ops::Actor, Stop> {
    let me = web.with_role(Role::Admin)?;
    Ok(ops::Actor {
        user_id: me.user_id,
        api_key: None,
    })
}

/// `GET /ops`: every queue (the table refreshes itself every 2 s) and the
/// workers.
#[handler]
pub async fn home(web: Web, request: &Request) -> Result<Response, Stop> {
    operator(&web)?;
    let list = queues::overview(&web.state.pool, &web.state.settings.worker.queues)
        .await
        .map_err(|e| web.fail(e))?;
    if request.header("hx-request").is_some() {
        return Ok(web.page("ops/_queues.html", minijinja::context! { queues => list }));
    }
    let workers = workers::list(&web.state.pool, ops::retention::WORKERS_GONE_KEPT)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(web.page(
        "ops/home.html",
        minijinja::context! { queues => list, workers },
    ))
}

/// `POST /ops/queues/:name/:action` (`pause`, `resume`).
#[handler]
pub async fn switch(
    web: Web,
    Path((name, action)): Path<(String, String)>,
) -> Result<Response, Stop> {
    let actor = operator(&web)?;
    let action = match action.as_str() {
        "pause" => Action::Pause,
        "resume" => Action::Resume,
        _ => {
            return Err(web.fail(crate::problem::ApiError::NotFound(
                "no such action".to_owned(),
            )));
        }
    };
    crate::actions::ops::switch_queue(&web.state, &actor, &name, action)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(see_other("/ops"))
}

/// `GET /ops/audit`: the newest 200 operator actions.
#[handler]
pub async fn audit(web: Web) -> Result<Response, Stop> {
    operator(&web)?;
    let entries = ops::audit::list(&web.state.pool, None, None, 200)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(web.page("ops/audit.html", minijinja::context! { entries }))
}
