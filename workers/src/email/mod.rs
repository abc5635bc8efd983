//! Email delivery: templates, transports and the send-once record.

mod mailer;
mod message;
mod resend;
mod templates;

use marquee_core::jobs::JobError;
use marquee_core::suppressions::{self, Reason};
use serde::Serialize;
use uuid::Uuid;

pub use mailer::{Mailer, Refused};
pub use message::Envelope;
pub use templates::{Rendered, render};

use crate::registry::JobContext;

/// Extra headers of one email, e.g. `List-Unsubscribe`.
pub type Headers<'a> = &'a [(&'static str, String)];

/// Renders `template` and sends it to `to`, once: the `emails` row (keyed by
/// the job) records the send, so a retry after success does nothing.
///
/// The row is marked `sending` before SMTP starts. If the worker dies
/// between the server's "250 accepted" and our `sent` record, the retry
/// finds `sending`, cannot know whether the server kept the message, and
/// sends again with the same Message-ID (counted in `interrupted_sends`):
/// no SMTP client can do better, and receivers that collapse repeated
/// Message-IDs (Gmail, most MTAs' duplicate filters) show it once.
pub async fn send_once(
    ctx: &JobContext,
    to: &str,
    template: &str,
    context: impl Serialize,
) -> Result<(), JobError> {
    let rendered = render(template, context).map_err(JobError::permanent)?;
    send_content_once(ctx, None, to, template, rendered, &[]).await
}

/// Like [`send_once`] with content already made; `label` names it in the
/// `emails` table. Mail an account sends (tasks, newsletters) names its
/// `owner`: that account's suppression list applies, and a recipient the
/// server refuses for good joins it.
pub async fn send_content_once(
    ctx: &JobContext,
    owner: Option<Uuid>,
    to: &str,
    label: &str,
    content: Rendered,
    headers: Headers<'_>,
) -> Result<(), JobError> {
    send_message_once(
        ctx,
        Outgoing {
            email_id: ctx.job_id,
            owner,
            to,
            label,
            content,
            headers,
            attachments: Vec::new(),
        },
    )
    .await
}

/// A file in an email. Its bytes come from where they are stored (e.g.
/// `ticket_files`), never from the job's payload, which holds ids only.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The name the reader sees.
    pub filename: String,
    /// e.g. `application/pdf`.
    pub content_type: &'static str,
    /// The file.
    pub body: Vec<u8>,
    /// `Some(cid)`: shown inline, referenced from the HTML as `cid:…`.
    pub inline_id: Option<String>,
}

/// One email to send once.
pub struct Outgoing<'a> {
    /// The `emails` row, and the Message-ID: the same id always gives the
    /// same Message-ID, so a resend is recognisably the same message.
    /// Derive it from what the email is about when a rerun of the job (a
    /// new job id) must not send it again.
    pub email_id: Uuid,
    /// The account whose mail it is, when an account sends it: its
    /// suppression list applies.
    pub owner: Option<Uuid>,
    /// Recipient.
    pub to: &'a str,
    /// Names it in the `emails` table.
    pub label: &'a str,
    /// Subject and bodies.
    pub content: Rendered,
    /// Extra headers.
    pub headers: Headers<'a>,
    /// Files, inline or attached.
    pub attachments: Vec<Attachment>,
}

/// Sends `email` unless its row says it was sent (see [`send_once`]).
pub async fn send_message_once(ctx: &JobContext, email: Outgoing<'_>) -> Result<(), JobError> {
    let Outgoing {
        email_id,
        owner,
        to,
        label: template,
        content,
        headers,
        attachments,
    } = email;
    let domain = ctx
        .settings
        .email
        .from
        .rsplit('@')
        .next()
        .unwrap_or("marquee.local")
        .trim_end_matches('>');
    let message_id = format!("<{email_id}@{domain}>");
    if let Some(owner) = owner {
        let suppressed = suppressions::is_suppressed(&ctx.records, owner, to)
            .await
            .map_err(JobError::retryable)?;
        if suppressed {
            metrics::counter!("marquee_emails_suppressed_total").increment(1);
            return Err(JobError::permanent(format!(
                "suppressed: {to} is on the sender's suppression list"
            )));
        }
    }
    // Only a message that really goes to the server now is marked `sending`.
    let _permit = ctx.mailer.permit().await;
    let before = mark_sending(ctx, email_id, to, template, &message_id).await?;
    match before.as_deref() {
        Some("sent") => {
            tracing::info!(email.id = %email_id, "email already sent; not sending again");
            return Ok(());
        }
        Some("sending") => {
            metrics::counter!("marquee_emails_interrupted_total").increment(1);
            tracing::warn!(
                email.id = %email_id,
                "an earlier attempt died mid-send; sending again with the same Message-ID"
            );
        }
        _ => {}
    }
    let envelope = Envelope {
        email_id,
        from: &ctx.settings.email.from,
        to,
        message_id: &message_id,
        content,
        headers,
        attachments,
    };
    let result = match ctx.mailer.send(envelope).await {
        Ok(()) => Ok(()),
        Err(refused) => {
            if let (true, Some(owner)) = (refused.recipient, owner) {
                let detail = refused.error.to_string();
                suppressions::add(&ctx.records, owner, to, Reason::Bounced, Some(&detail))
                    .await
                    .map_err(JobError::retryable)?;
                tracing::info!(email.id = %email_id, "recipient refused for good; suppressed");
            }
            Err(refused.error)
        }
    };
    record(ctx, email_id, &result).await?;
    result
}

/// Creates the row as `sending`, or marks an existing one `sending` (unless
/// `sent`), and returns its status before: `None` for a new row. Both
/// statements run on `ctx.records`, never waiting behind the main pool.
async fn mark_sending(
    ctx: &JobContext,
    email_id: Uuid,
    to: &str,
    template: &str,
    message_id: &str,
) -> Result<Option<String>, JobError> {
    marquee_core::emails::mark_sending(&ctx.records, email_id, to, template, message_id)
        .await
        .map_err(JobError::retryable)
}

async fn record(
    ctx: &JobContext,
    email_id: Uuid,
    result: &Result<(), JobError>,
) -> Result<(), JobError> {
    let (status, error) = match result {
        Ok(()) => ("sent", None),
        Err(error) => ("failed", Some(error.to_string())),
    };
    // The message went out (or was refused): failing the attempt now would
    // send it again. So while PostgreSQL is out of reach, the record waits
    // for it, up to RECORD_PATIENCE; a longer outage leaves a repeat, which
    // the retry counts as interrupted.
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        let recorded =
            marquee_core::emails::record_attempt(&ctx.records, email_id, status, error.as_deref())
                .await;
        match recorded {
            Ok(_) => break,
            Err(e)
                if marquee_core::db::is_unavailable(&e)
                    && started.elapsed() + pause < RECORD_PATIENCE =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
            }
            Err(e) => return Err(JobError::retryable(e)),
        }
    }
    metrics::counter!("marquee_emails_total", "outcome" => status).increment(1);
    Ok(())
}

/// How long a send's record waits for PostgreSQL before the attempt fails.
const RECORD_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);
