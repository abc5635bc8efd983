//! Outgoing mail through lettre: a pooled SMTP transport (none, STARTTLS or
//! implicit TLS, on rustls) or `.eml` files for development.

use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use marquee_core::config::{EmailSettings, EmailTransport, SmtpTls};
use marquee_core::jobs::JobError;
use secrecy::ExposeSecret;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Smtp { .. } => "Mailer::Smtp",
            Self::File(_) => "Mailer::File",
        })
    }
}

impl Mailer {
    /// From `[email]`. Connects lazily, on the first send.
    pub fn from_settings(settings: &EmailSettings) -> anyhow::Result<Self> {
        match settings.transport {
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
            Self::Smtp { permits, .. } => {
                Some(permits.clone().acquire_owned().await.expect("never closed"))
            }
            Self::File(_) => None,
        }
    }

    /// Sends one message; the caller holds a [`Self::permit`]. SMTP 4xx and connection failures may pass later
    /// (retryable); a 5xx never will (permanent).
    pub async fn send(&self, message: Message) -> Result<(), JobError> {
        match self {
            Self::Smtp { transport, .. } => {
                transport.send(message).await.map(drop).map_err(|error| {
                    if error.is_permanent() {
                        JobError::permanent(format!("SMTP refused the message: {error}"))
                    } else {
                        JobError::retryable(format!("SMTP send failed: {error}"))
                    }
                })
            }
            Self::File(transport) => transport
                .send(message)
                .await
                .map(drop)
                .map_err(JobError::retryable),
        }
    }
}
