//! Tasks: email work applications hand to Marquee and follow by id.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Invalid;
use crate::jobs::{Job, queues};

/// Largest text + HTML body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A `message` task's payload, validated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessagePayload {
    /// Recipient address.
    pub to: String,
    /// 1-998 characters (RFC 5322's line limit).
    pub subject: String,
    /// Plain-text body.
    #[serde(default)]
    pub text: String,
    /// HTML body.
    #[serde(default)]
    pub html: String,
}

impl MessagePayload {
    /// Checks every field; all problems at once, named `payload.<field>`.
    pub fn parse(
        to: &str,
        subject: &str,
        text: Option<&str>,
        html: Option<&str>,
    ) -> Result<Self, Vec<Invalid>> {
        let mut problems = Vec::new();
        let to = to.trim().to_owned();
        if to.parse::<email_address::EmailAddress>().is_err() {
            problems.push(Invalid::new("payload.to", "must be a valid email address"));
        }
        let (text, html) = (text.unwrap_or_default(), html.unwrap_or_default());
        problems.extend(body_problems(
            subject,
            text,
            html,
            ["payload.subject", "payload.text", "payload.html"],
        ));
        if problems.is_empty() {
            Ok(Self {
                to,
                subject: subject.to_owned(),
                text: text.to_owned(),
                html: html.to_owned(),
            })
        } else {
            Err(problems)
        }
    }
}

/// What is wrong with an email's subject and bodies; `fields` names the
/// subject, text and HTML fields in the request.
pub fn body_problems(
    subject: &str,
    text: &str,
    html: &str,
    fields: [&'static str; 3],
) -> Vec<Invalid> {
    let [subject_field, text_field, html_field] = fields;
    let mut problems = Vec::new();
    if !(1..=998).contains(&subject.chars().count()) || subject.contains(['\r', '\n']) {
        problems.push(Invalid::new(
            subject_field,
            "must be 1-998 characters on one line",
        ));
    }
    if text.is_empty() && html.is_empty() {
        problems.push(Invalid::new(text_field, "give text and/or html"));
    }
    // PostgreSQL text cannot hold NUL; refuse it here rather than fail later.
    for (field, value) in [
        (subject_field, subject),
        (text_field, text),
        (html_field, html),
    ] {
        if value.contains('\0') {
            problems.push(Invalid::new(field, "must not contain NUL characters"));
        }
    }
    if text.len() + html.len() > MAX_BODY_BYTES {
        problems.push(Invalid::new(
            html_field,
            format!("text + html must be at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    problems
}

/// Sends a `message` task's email.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendMessage {
    /// The task (whose id is also this job's id).
    pub task_id: Uuid,
}

impl Job for SendMessage {
    const KIND: &'static str = "send_message";
    const QUEUE: &'static str = queues::EMAIL;
}
