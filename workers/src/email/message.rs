//! One email as the transports take it: its parts (the HTTP API sends
//! them as JSON), or built into a MIME message (SMTP and `.eml` files).

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue, MessageId};
use lettre::message::{Attachment as LettreAttachment, Mailbox, MultiPart, SinglePart};
use marquee_core::jobs::JobError;
use uuid::Uuid;

use super::{Attachment, Headers, Rendered};

/// An email ready to go.
pub struct Envelope<'a> {
    /// Its `emails` row: the HTTP API's Idempotency-Key.
    pub email_id: Uuid,
    /// The From header.
    pub from: &'a str,
    /// Recipient.
    pub to: &'a str,
    /// `<id@domain>`.
    pub message_id: &'a str,
    /// Subject and bodies.
    pub content: Rendered,
    /// Extra headers.
    pub headers: Headers<'a>,
    /// Files, inline or attached.
    pub attachments: Vec<Attachment>,
}

/// The MIME message of `envelope`, for SMTP and `.eml` files.
pub(super) fn to_mime(envelope: Envelope<'_>) -> Result<Message, JobError> {
    let Envelope {
        from,
        to,
        message_id,
        content: email,
        headers,
        attachments,
        ..
    } = envelope;
    let from: Mailbox = from
        .parse()
        .map_err(|e| JobError::permanent(format!("email.from: {e}")))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| JobError::permanent(format!("bad recipient {to}: {e}")))?;
    let builder = headers.iter().fold(
        Message::builder()
            .from(from)
            .to(to)
            .subject(email.subject)
            .header(MessageId::from(message_id.to_owned())),
        |builder, (name, value)| {
            builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(name),
                value.clone(),
            ))
        },
    );
    let body = match (email.text.is_empty(), email.html.is_empty()) {
        (false, true) => MultiPart::mixed().singlepart(SinglePart::plain(email.text)),
        (true, false) => MultiPart::mixed().singlepart(SinglePart::html(email.html)),
        _ => MultiPart::alternative_plain_html(email.text, email.html),
    };
    if attachments.is_empty() {
        return builder.multipart(body).map_err(JobError::permanent);
    }
    // mixed( related( alternative(text, html), inline images… ), files… )
    let (inline, files): (Vec<_>, Vec<_>) =
        attachments.into_iter().partition(|a| a.inline_id.is_some());
    let related =
        inline
            .into_iter()
            .try_fold(MultiPart::related().multipart(body), |part, file| {
                let cid = file.inline_id.clone().unwrap_or_default();
                Ok::<_, JobError>(part.singlepart(attachment_part(file, Some(cid))?))
            })?;
    let mixed = files
        .into_iter()
        .try_fold(MultiPart::mixed().multipart(related), |part, file| {
            Ok::<_, JobError>(part.singlepart(attachment_part(file, None)?))
        })?;
    builder.multipart(mixed).map_err(JobError::permanent)
}

fn attachment_part(file: Attachment, inline_id: Option<String>) -> Result<SinglePart, JobError> {
    let content_type = ContentType::parse(file.content_type).map_err(JobError::permanent)?;
    let part = match inline_id {
        Some(cid) => LettreAttachment::new_inline(cid),
        None => LettreAttachment::new(file.filename),
    };
    Ok(part.body(file.body, content_type))
}
