//! Jobs: by state with filters, one job's attempts and errors, and retry,
//! discard or cancel, one at a time or in bulk, each confirmed first.

use marquee_core::ops::{self, Action, JobFilter, JobState};
use poem::web::Path;
use poem::{Request, Response, handler};
use uuid::Uuid;

use super::operator;
use crate::actions::ops::{Selection, on_job, on_jobs};
use crate::problem::ApiError;
use crate::routes::ops::filter::{FilterBody, parse};
use crate::web::form::Fields;
use crate::web::page::{Stop, Web, see_other};

/// Jobs a page shows.
const PAGE: i64 = 100;
/// Ids one bulk form may carry.
const MAX_IDS: usize = 1_000;

/// The filter in `fields` (a query string or a bulk form's hidden fields).
fn filter_of(web: &Web, fields: &Fields) -> Result<JobFilter, ApiError> {
    let body = FilterBody {
        queue: fields.text("queue").map(str::to_owned),
        kind: fields.text("kind").map(str::to_owned),
        state: fields.text("state").map(str::to_owned),
        id: None,
        error: fields.text("error").map(str::to_owned),
        created_from: None,
        created_to: None,
        request_id: None,
    };
    let mut errors = Vec::new();
    let filter = parse(&body, &web.state.settings.worker.queues, "", &mut errors);
    if errors.is_empty() {
        Ok(filter)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `GET /ops/jobs?queue=&state=&kind=&error=`: the newest 100 matching.
#[handler]
pub async fn index(web: Web, request: &Request) -> Result<Response, Stop> {
    operator(&web)?;
    let query = Fields::parse(request.uri().query().unwrap_or_default().as_bytes());
    let filter = filter_of(&web, &query).map_err(|e| web.fail(e))?;
    let (jobs, more) = ops::jobs::list(&web.state.pool, &filter, None, PAGE)
        .await
        .map_err(|e| web.fail(e))?;
    let states: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
    let chosen: std::collections::BTreeMap<&str, &str> = ["queue", "state", "kind", "error"]
        .into_iter()
        .map(|k| (k, query.text(k).unwrap_or_default()))
        .collect();
    Ok(web.page(
        "ops/jobs.html",
        minijinja::context! {
            jobs, more => more.is_some(), chosen, states,
            queues => web.state.settings.worker.queues,
            filtered => !filter.is_empty(),
        },
    ))
}

/// `GET /ops/jobs/:id`: the job, its payload and every attempt's error.
/// The summary row refreshes itself (htmx) until the job is finished.
#[handler]
pub async fn show(web: Web, Path(id): Path<Uuid>, request: &Request) -> Result<Response, Stop> {
    operator(&web)?;
    let job = ops::jobs::detail(&web.state.pool, id)
        .await
        .map_err(|e| web.fail(e))?
        .ok_or_else(|| web.fail(ApiError::NotFound("no such job".to_owned())))?;
    let payload = serde_json::to_string_pretty(&job.payload).unwrap_or_default();
    let finished = matches!(
        job.summary.state.as_str(),
        "succeeded" | "dead" | "cancelled"
    );
    let template = if request.header("hx-request").is_some() {
        "ops/_job_row.html"
    } else {
        "ops/job.html"
    };
    Ok(web.page(
        template,
        minijinja::context! {
            job => job.summary, attempts => job.attempts, dispatches => job.dispatches,
            payload, finished,
        },
    ))
}

fn action_of(web: &Web, name: &str) -> Result<Action, Stop> {
    match Action::parse(name) {
        Some(action @ (Action::Retry | Action::Discard | Action::Cancel)) => Ok(action),
        _ => Err(web.fail(ApiError::NotFound("no such action".to_owned()))),
    }
}

/// `POST /ops/jobs/:id/:action` (`retry`, `discard`, `cancel`).
#[handler]
pub async fn act(web: Web, Path((id, action)): Path<(Uuid, String)>) -> Result<Response, Stop> {
    let actor = operator(&web)?;
    let action = action_of(&web, &action)?;
    let job = on_job(&web.state, &actor, id, action)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(see_other(&match job {
        Some(_) => format!("/ops/jobs/{id}"),
        None => "/ops/jobs?state=dead".to_owned(),
    }))
}

/// `POST /ops/jobs/bulk`: `action`, and either the ticked `id`s or
/// `scope=filter` with the list's filter (every matching job, up to
/// `jobs.bulk_action_max`).
#[handler]
pub async fn bulk(web: Web, fields: Fields) -> Result<Response, Stop> {
    let actor = operator(&web)?;
    let action = action_of(&web, fields.get("action").unwrap_or_default())?;
    let selection =
        if fields.get("scope") == Some("filter") {
            let filter = filter_of(&web, &fields).map_err(|e| web.fail(e))?;
            if filter.is_empty() {
                return Err(web.fail(ApiError::BadRequest(
                "Choose a queue, state, kind or error first: an empty filter would take every job."
                    .to_owned(),
            )));
            }
            Selection::Filter(filter)
        } else {
            let mut ids = Vec::new();
            for id in fields.all("id") {
                ids.push(id.parse::<Uuid>().map_err(|_| {
                    web.fail(ApiError::BadRequest(format!("`{id}` is not a job id")))
                })?);
            }
            ids.sort_unstable();
            ids.dedup();
            if ids.is_empty() || ids.len() > MAX_IDS {
                return Err(web.fail(ApiError::BadRequest(format!(
                    "Tick 1 to {MAX_IDS} jobs first."
                ))));
            }
            Selection::Ids(ids)
        };
    let outcome = on_jobs(&web.state, &actor, &selection, action)
        .await
        .map_err(|e| web.fail(e))?;
    Ok(web.page(
        "ops/bulk_done.html",
        minijinja::context! { action => action.as_str(), outcome },
    ))
}
