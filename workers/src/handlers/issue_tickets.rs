//! `issue_tickets`: a paid booking's tickets are created and rendered (QR as
//! PNG and SVG, a PDF each), then `send_tickets` mails them; each step once.

use marquee_core::jobs::JobError;
use marquee_core::tickets::{self, IssueTickets, files};

use crate::registry::JobContext;
use crate::tickets::render::{self as draw, TicketFace};

/// Creates missing tickets, renders those without files, then queues the
/// booking's one tickets email. Every step skips what a previous run did,
/// so a rerun (a new job for the same booking) creates and sends nothing.
pub async fn run(job: IssueTickets, ctx: JobContext) -> Result<(), JobError> {
    let issued = tickets::issue(&ctx.pool, job.booking_id)
        .await
        .map_err(|e| match e {
            sqlx::Error::RowNotFound => JobError::permanent("no such booking"),
            other => JobError::retryable(other),
        })?;
    if !issued.confirmed {
        tracing::info!(booking.id = %job.booking_id, "booking or event cancelled; no tickets");
        return Ok(());
    }
    for face in files::unrendered(&ctx.pool, job.booking_id)
        .await
        .map_err(JobError::retryable)?
    {
        let ticket = face.ticket_id;
        let (png, svg, pdf) = tokio::task::spawn_blocking(move || render_files(&face))
            .await
            .map_err(JobError::retryable)?
            .map_err(|e| JobError::permanent(format!("rendering ticket {ticket}: {e:#}")))?;
        files::store(&ctx.pool, ticket, &png, &svg, &pdf)
            .await
            .map_err(JobError::retryable)?;
    }
    // One mail job per booking, ever: a second run (or a reissue's run)
    // finds it queued already.
    if let Some(mail) = files::enqueue_mail(&ctx.pool, job.booking_id)
        .await
        .map_err(JobError::retryable)?
    {
        ctx.producer.dispatch(&[mail]).await;
    }
    Ok(())
}

fn render_files(face: &files::Face) -> anyhow::Result<(Vec<u8>, String, Vec<u8>)> {
    let printed = TicketFace {
        event_title: face.title.clone(),
        starts_at: face.starts_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        venue: face.venue.clone().unwrap_or_default(),
        place: face.label.clone(),
        holder: face.holder.clone(),
        reference: face.reference.clone(),
        secret: face.secret.clone(),
        qr_token: face.qr_token.clone(),
    };
    draw::ticket_files(&printed)
}
