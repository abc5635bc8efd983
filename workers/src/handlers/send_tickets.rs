//! `send_tickets`: the holder's tickets email, once per booking: each
//! ticket's PDF attached and its QR inline, read from where issuing stored
//! them (never from the job's payload).

use marquee_core::jobs::JobError;
use marquee_core::tickets::files::{self, SendTickets};

use crate::email::{Attachment, Outgoing, render, send_message_once};
use crate::registry::JobContext;

/// Sends the email unless it went already. Its row, and so its Message-ID,
/// is derived from the booking ([`files::email_id`]), except for a job that
/// a worker of the release before started: that worker keyed the row by the
/// job's id, and the job keeps it, or a retry here would send it again. A booking cancelled meanwhile
/// has no tickets left to send: nothing goes out.
pub async fn run(job: SendTickets, ctx: JobContext) -> Result<(), JobError> {
    let Some(mail) = files::mail(&ctx.pool, job.booking_id)
        .await
        .map_err(JobError::retryable)?
    else {
        return Err(JobError::permanent("no such booking"));
    };
    if mail.tickets.is_empty() {
        tracing::info!(booking.id = %job.booking_id, "no tickets to send (cancelled)");
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
    let started_before = marquee_core::emails::exists(&ctx.pool, ctx.job_id)
        .await
        .map_err(JobError::retryable)?;
    let email_id = if started_before {
        ctx.job_id
    } else {
        files::email_id(job.booking_id)
    };
    send_message_once(
        &ctx,
        Outgoing {
            owner: None,
            email_id,
            to: &mail.email,
            label: "tickets_issued",
            content,
            headers: &[],
            attachments,
        },
    )
    .await
}
