//! Resend's HTTP API (`email.transport = "resend"`), as its official SDKs
//! call it: `POST {base_url}/emails` with a Bearer key and a JSON body, and
//! the email's id as the `Idempotency-Key`. Resend keeps a key for 24 hours
//! and answers a repeat with the first answer, so a send in doubt (a crash
//! or timeout after the request went out) is retried without a second
//! delivery: exactly once, where SMTP can only promise at least once.

use std::time::Duration;

use base64::Engine;
use marquee_core::config::ResendSettings;
use marquee_core::jobs::JobError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Envelope;
use super::mailer::Refused;

/// A client of one Resend account.
#[derive(Clone)]
pub struct Resend {
    client: reqwest::Client,
    endpoint: String,
    api_key: SecretString,
}

/// Resend's error body.
#[derive(Debug, Default, Deserialize)]
struct Problem {
    #[serde(default)]
    name: String,
    #[serde(default)]
    message: String,
}

impl Resend {
    /// From `[email.resend]`.
    pub fn new(settings: &ResendSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_seconds))
            .user_agent(concat!("marquee/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            endpoint: format!("{}/emails", settings.base_url.trim_end_matches('/')),
            api_key: settings.api_key.clone(),
        })
    }

    /// Sends one email. Network trouble, timeouts, 429 and 5xx may pass
    /// later (retryable); a refused request (400, 401, 403, 422) never will.
    pub async fn send(&self, envelope: Envelope<'_>) -> Result<(), Refused> {
        let key = envelope.email_id.to_string();
        let body = body(envelope);
        let response = self
            .client
            .post(&self.endpoint)
            .bearer_auth(self.api_key.expose_secret())
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                Refused::other(JobError::retryable(format!("Resend request failed: {e}")))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let problem: Problem = response.json().await.unwrap_or_default();
        let said = format!(
            "Resend answered {status} {}: {}",
            problem.name, problem.message
        );
        match (status.as_u16(), problem.name.as_str()) {
            // The key was used with another body: an earlier attempt of this
            // email was accepted (its content changed since, e.g. a
            // newsletter edited between attempts). It went out once.
            (409, "invalid_idempotent_request") => {
                tracing::warn!(email.id = %key, "{said}; an earlier attempt was delivered");
                Ok(())
            }
            // The first request with this key is still being handled.
            (409, _) | (408 | 429, _) | (500..=599, _) => {
                Err(Refused::other(JobError::retryable(said)))
            }
            _ => Err(Refused::other(JobError::permanent(said))),
        }
    }
}

/// The JSON body of `POST /emails`.
fn body(envelope: Envelope<'_>) -> Value {
    let Envelope {
        from,
        to,
        message_id,
        content,
        headers,
        attachments,
        ..
    } = envelope;
    let mut extra: Map<String, Value> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), Value::String(value.clone())))
        .collect();
    extra.insert(
        "Message-ID".to_owned(),
        Value::String(message_id.to_owned()),
    );
    let mut body = json!({
        "from": from,
        "to": [to],
        "subject": content.subject,
        "headers": extra,
    });
    if !content.text.is_empty() {
        body["text"] = Value::String(content.text);
    }
    if !content.html.is_empty() {
        body["html"] = Value::String(content.html);
    }
    if !attachments.is_empty() {
        let files: Vec<Value> = attachments
            .into_iter()
            .map(|file| {
                let mut entry = json!({
                    "filename": file.filename,
                    "content": base64::engine::general_purpose::STANDARD.encode(&file.body),
                    "content_type": file.content_type,
                });
                if let Some(cid) = file.inline_id {
                    entry["content_id"] = Value::String(cid);
                }
                entry
            })
            .collect();
        body["attachments"] = Value::Array(files);
    }
    body
}
