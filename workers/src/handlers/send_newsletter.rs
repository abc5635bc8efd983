//! `send_newsletter`: one subscriber's issue, with its unsubscribe link.

use marquee_core::jobs::JobError;
use marquee_core::subscriptions::{self, SendNewsletter};

use crate::email::{Rendered, send_content_once};
use crate::registry::JobContext;

/// Sends the content as it is now, unless the subscriber left meanwhile.
pub async fn run(job: SendNewsletter, ctx: JobContext) -> Result<(), JobError> {
    let row = subscriptions::newsletter(&ctx.pool, job.subscriber_id)
        .await
        .map_err(JobError::retryable)?;
    let Some(subscriptions::Newsletter {
        owner_id,
        address: to,
        active,
        token,
        subject,
        text_body: text,
        html_body: html,
    }) = row
    else {
        tracing::info!(subscriber.id = %job.subscriber_id, "subscription gone; nothing to send");
        return Ok(());
    };
    if !active {
        tracing::info!(subscriber.id = %job.subscriber_id, "unsubscribed; not sending");
        return Ok(());
    }
    let link = format!(
        "{}/api/v1/unsubscribe/{token}",
        ctx.settings.http.public_url.trim_end_matches('/')
    );
    let content = Rendered {
        subject,
        text: if text.is_empty() {
            text
        } else {
            format!("{text}\n\n--\nUnsubscribe: {link}\n")
        },
        html: if html.is_empty() {
            html
        } else {
            format!("{html}\n<p style=\"font-size:small\"><a href=\"{link}\">Unsubscribe</a></p>\n")
        },
    };
    // RFC 2369 link plus RFC 8058 one-click (POST to the same URL).
    let headers = [
        ("List-Unsubscribe", format!("<{link}>")),
        (
            "List-Unsubscribe-Post",
            "List-Unsubscribe=One-Click".to_owned(),
        ),
    ];
    send_content_once(&ctx, Some(owner_id), &to, "newsletter", content, &headers).await
}
