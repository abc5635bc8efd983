//! Outgoing mail: a pooled SMTP transport through lettre (none, STARTTLS or
//! implicit TLS, on rustls), Resend's HTTP API, or `.eml` files for
//! development.

use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use marquee_core::config::{EmailSettings, EmailTransport, SmtpTls};
use marquee_core::jobs::JobError;
use secrecy::ExposeSecret;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::message::{Envelope, to_mime};
use super::resend::Resend;

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// A real SMTP server, at most `permits` messages at a time.
    Smtp {
        /// Pooled connections.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// One per connection: more sends at once would only open and
        /// drop extra connections, and queue messages the server has
        /// taken but not yet answered (each one in doubt if we crash).
        permits: Arc<Semaphore>,
    },
    /// `.eml` files in a folder (the development default).
    File(AsyncFileTransport<Tokio1Executor>),
    /// Resend's HTTP API, at most `permits` requests at a time.
    Resend {
        /// The client.
        api: Resend,
        /// Requests in flight.
        permits: Arc<Semaphore>,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Smtp { .. } => "Mailer::Smtp",
            Self::File(_) => "Mailer::File",
            Self::Resend { .. } => "Mailer::Resend",
        })
    }
}

impl Mailer {
    /// From `[email]`. Connects lazily, on the first send.
    pub fn from_settings(settings: &EmailSettings) -> anyhow::Result<Self> {
        match settings.transport {
            EmailTransport::Resend => Ok(Self::Resend {
                api: Resend::new(&settings.resend)?,
                permits: Arc::new(Semaphore::new(settings.resend.max_in_flight as usize)),
            }),
            EmailTransport::File => {
                std::fs::create_dir_all(&settings.file_dir)?;
                Ok(Self::File(AsyncFileTransport::new(&settings.file_dir)))
            }
            EmailTransport::Smtp => {
                let smtp = &settings.smtp;
                let builder = match smtp.tls {
                    SmtpTls::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                    }
                    SmtpTls::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?
                    }
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
                };
                let mut builder = builder
                    .port(smtp.port)
                    .pool_config(PoolConfig::new().max_size(smtp.max_connections))
                    .timeout(Some(Duration::from_secs(10)));
                if !smtp.username.is_empty() {
                    builder = builder.credentials(Credentials::new(
                        smtp.username.clone(),
                        smtp.password.expose_secret().to_owned(),
                    ));
                }
                Ok(Self::Smtp {
                    transport: builder.build(),
                    permits: Arc::new(Semaphore::new(smtp.max_connections as usize)),
                })
            }
        }
    }

    /// Waits for a free SMTP connection; hold the permit across
    /// [`Self::send`]. The file transport needs none.
    pub async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        match self {
            Self::Smtp { permits, .. } | Self::Resend { permits, .. } => {
                Some(permits.clone().acquire_owned().await.expect("never closed"))
            }
            Self::File(_) => None,
        }
    }

    /// Sends one message; the caller holds a [`Self::permit`]. SMTP 4xx and connection failures may pass later
    /// (retryable); a 5xx never will (permanent).
    pub async fn send(&self, envelope: Envelope<'_>) -> Result<(), Refused> {
        match self {
            Self::Resend { api, .. } => api.send(envelope).await,
            Self::Smtp { transport, .. } => {
                let message = to_mime(envelope).map_err(Refused::other)?;
                transport.send(message).await.map(drop).map_err(|error| {
                    if error.is_permanent() {
                        Refused {
                            recipient: refuses_recipient(&error),
                            error: JobError::permanent(format!(
                                "SMTP refused the message: {error}"
                            )),
                        }
                    } else {
                        Refused::other(JobError::retryable(format!("SMTP send failed: {error}")))
                    }
                })
            }
            Self::File(transport) => transport
                .send(to_mime(envelope).map_err(Refused::other)?)
                .await
                .map(drop)
                .map_err(|e| Refused::other(JobError::retryable(e))),
        }
    }
}

/// A failed send.
#[derive(Debug)]
pub struct Refused {
    /// What the job makes of it.
    pub error: JobError,
    /// The server refused the recipient for good: the address joins the
    /// sender's suppression list.
    pub recipient: bool,
}

impl Refused {
    pub(super) fn other(error: JobError) -> Self {
        Self {
            error,
            recipient: false,
        }
    }
}

/// Whether a permanent SMTP error refuses the recipient rather than the
/// message: an enhanced status (RFC 3463) of 5.1.x (bad address) or 5.2.1
/// (mailbox disabled) when the server gives one, else a 550, 551 or 553.
/// A 550 5.7.1 (refused as spam, say) is about the message: no suppression.
fn refuses_recipient(error: &lettre::transport::smtp::Error) -> bool {
    let text = error.to_string();
    let enhanced = text.split_whitespace().find(|word| {
        let parts: Vec<&str> = word.split('.').collect();
        parts.len() == 3
            && ["2", "4", "5"].contains(&parts[0])
            && parts[1..]
                .iter()
                .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
    });
    match enhanced {
        Some(status) => status.starts_with("5.1.") || status == "5.2.1",
        None => error
            .status()
            .is_some_and(|code| ["550", "551", "553"].contains(&code.to_string().as_str())),
    }
}
