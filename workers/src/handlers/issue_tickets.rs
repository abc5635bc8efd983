//! `issue_tickets`: a paid booking's tickets are created, rendered (QR as
//! PNG and SVG, a PDF each) and mailed to the holder, each step once.

use marquee_core::jobs::JobError;
use marquee_core::tickets::{self, IssueTickets, files};
use uuid::Uuid;

use crate::email::{Attachment, Outgoing, render, send_message_once};
use crate::registry::JobContext;
use crate::tickets::render::{self as draw, TicketFace};

/// Creates missing tickets, renders those without files, then sends the
/// tickets email once per booking. Every step skips what a previous run
/// did, so a rerun (a new job for the same booking) creates nothing and
/// sends nothing more.
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
    mail(&ctx, job.booking_id).await
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
    Ok((
        draw::qr_png(&face.qr_token)?,
        draw::qr_svg(&face.qr_token)?,
        draw::pdf(std::slice::from_ref(&printed))?,
    ))
}

/// The tickets email: one per booking (its id is derived from the
/// booking), each ticket's PDF attached and its QR inline.
async fn mail(ctx: &JobContext, booking: Uuid) -> Result<(), JobError> {
    let Some(mail) = files::mail(&ctx.pool, booking)
        .await
        .map_err(JobError::retryable)?
    else {
        return Err(JobError::permanent("no such booking"));
    };
    if mail.tickets.is_empty() {
        return Ok(());
    }
    let public_url = ctx.settings.http.public_url.trim_end_matches('/');
    let listed: Vec<_> = mail
        .tickets
        .iter()
        .map(|t| {
            serde_json::json!({
                "label": t.label,
                "link": format!("{public_url}/api/v1/tickets/{}", t.ticket_id),
                "cid": format!("qr-{}", t.ticket_id),
            })
        })
        .collect();
    let content = render(
        "tickets_issued",
        serde_json::json!({
            "name": mail.name,
            "reference": mail.reference,
            "title": mail.title,
            "starts_at": mail.starts_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            "tickets": listed,
        }),
    )
    .map_err(JobError::permanent)?;
    let mut attachments = Vec::with_capacity(mail.tickets.len() * 2);
    for (n, ticket) in mail.tickets.into_iter().enumerate() {
        attachments.push(Attachment {
            filename: format!("qr-{}.png", ticket.ticket_id),
            content_type: "image/png",
            body: ticket.qr_png,
            inline_id: Some(format!("qr-{}", ticket.ticket_id)),
        });
        attachments.push(Attachment {
            filename: format!("ticket-{}-{}.pdf", mail.reference, n + 1),
            content_type: "application/pdf",
            body: ticket.pdf,
            inline_id: None,
        });
    }
    send_message_once(
        ctx,
        Outgoing {
            email_id: Uuid::new_v5(&booking, b"tickets-email"),
            to: &mail.email,
            label: "tickets_issued",
            content,
            headers: &[],
            attachments,
        },
    )
    .await
}
