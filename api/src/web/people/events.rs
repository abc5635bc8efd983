//! Browse and search: text and tags, soonest first.

use marquee_core::catalog::browse::{self, EventQuery};
use marquee_core::catalog::tags;
use poem::{Request, Response, handler};

use crate::problem::ApiError;
use crate::web::form::Fields;
use crate::web::page::{Stop, Web};

const PER_PAGE: i64 = 20;

/// `GET /` and `GET /events?q=&tag=&page=`: the whole page, or only the
/// results for htmx (the search box updates them as people type).
#[handler]
pub async fn index(web: Web, request: &Request) -> Result<Response, Stop> {
    let params = Fields::parse(request.uri().query().unwrap_or_default().as_bytes());
    let q = params.text("q").map(str::to_owned);
    if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(web.fail(vec![marquee_core::auth::Invalid::new(
            "q",
            "at most 200 characters",
        )]));
    }
    let mut problems = Vec::new();
    let raw: Vec<String> = params.all("tag").map(str::to_owned).collect();
    let mut chosen = tags::check(&mut problems, "tag", &raw);
    if !problems.is_empty() {
        return Err(web.fail(problems));
    }
    chosen.sort_unstable();
    chosen.dedup();
    let page = params
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (1..=10_000).contains(p))
        .unwrap_or(1);
    let query = EventQuery {
        q: q.clone(),
        tags: chosen.clone(),
        page,
        per_page: PER_PAGE,
        ..EventQuery::default()
    };
    let (events, total) = browse::list(&web.state.pool, &query)
        .await
        .map_err(|e| web.fail(ApiError::from(e)))?;
    let popular = tags::popular(&web.state.pool, 20)
        .await
        .map_err(|e| web.fail(ApiError::from(e)))?;
    let pages = (total + PER_PAGE - 1) / PER_PAGE;
    let context = minijinja::context! {
        events, total, page, pages, q, chosen, popular,
    };
    let partial =
        request.header("hx-request").is_some() && request.header("hx-target") == Some("results");
    Ok(web.page(
        if partial {
            "events/_results.html"
        } else {
            "events/index.html"
        },
        context,
    ))
}
