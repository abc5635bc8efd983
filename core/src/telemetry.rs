//! One place that sets up logging for every binary and test.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG` wins over `log.filter`.
/// JSON lines carry the current span's fields (e.g. `request_id`), so every
/// line of a request or job can be found by its id.
pub fn init_tracing(service: &'static str, log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match log.format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        // Colour only for a person at a terminal: a log piped to a file or a
        // collector must not carry ANSI escape codes.
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .compact()
                    .with_ansi(std::io::stdout().is_terminal()),
            )
            .try_init(),
    };
    if result.is_ok() {
        tracing::debug!(service, "tracing initialised");
    }
}

/// For tests: logs only when `TEST_LOG` is set, and never fails when called twice.
pub fn init_test_tracing() {
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    let _ = tracing_subscriber::registry()
        .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with(fmt::layer().compact().with_test_writer())
        .try_init();
}
