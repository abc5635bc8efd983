//! My tickets, with their QR codes and PDFs.

use marquee_core::tickets::read::{self, File};
use poem::http::header;
use poem::web::Path;
use poem::{Response, handler};
use uuid::Uuid;

use crate::web::page::{Stop, Web};

/// `GET /tickets`: the newest 100.
#[handler]
pub async fn index(web: Web) -> Result<Response, Stop> {
    let me = web.person()?.user_id;
    let (tickets, total) = read::list_mine(&web.state.pool, me, 1, 100)
        .await
        .map_err(|e| web.fail(e))?;
    let events = super::bookings::headlines(&web, tickets.iter().map(|t| t.event_id)).await?;
    Ok(web.page(
        "tickets/index.html",
        minijinja::context! { tickets, total, events },
    ))
}

async fn file(web: &Web, id: Uuid, kind: File) -> Result<Vec<u8>, Stop> {
    web.person()?;
    let actor = web.actor().expect("a person is signed in");
    read::file(&web.state.pool, actor, id, kind)
        .await
        .map_err(|e| web.fail(e))
}

/// `GET /tickets/:id/qr.svg`: the holder's, their organizer's or an admin's.
#[handler]
pub async fn qr(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    let svg = file(&web, id, File::QrSvg).await?;
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "image/svg+xml")
        .header(header::CACHE_CONTROL, "private, no-store")
        .body(svg))
}

/// `GET /tickets/:id/ticket.pdf`: a download.
#[handler]
pub async fn pdf(web: Web, Path(id): Path<Uuid>) -> Result<Response, Stop> {
    let pdf = file(&web, id, File::Pdf).await?;
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/pdf")
        .header(header::CACHE_CONTROL, "private, no-store")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"ticket-{id}.pdf\""),
        )
        .body(pdf))
}
