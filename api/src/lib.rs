//! `marquee-api`: the HTTP server. Handlers answer synchronously and hand
//! slow work to jobs through the outbox.

pub mod admin_cli;
mod auth;
mod boundary;
mod pagination;
pub mod problem;
pub mod request_id;
mod routes;
pub mod seed;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use marquee_core::Settings;
use poem::listener::{Acceptor, Listener, TcpListener};

pub use routes::app;
pub use state::AppState;

/// A bound, not yet serving, HTTP server.
pub struct Server {
    acceptor: poem::listener::TcpAcceptor,
    state: AppState,
}

impl Server {
    /// Binds `http.host:http.port` (port 0 picks a free one).
    pub async fn bind(state: AppState) -> anyhow::Result<Self> {
        let address = format!("{}:{}", state.settings.http.host, state.settings.http.port);
        let acceptor = TcpListener::bind(address.clone())
            .into_acceptor()
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
        Ok(Self { acceptor, state })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .expect("a TCP listener has a socket address")
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let timeout = Duration::from_secs(self.state.settings.http.shutdown_timeout_seconds);
        poem::Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app(self.state), shutdown, Some(timeout))
            .await
    }
}

/// Migrates when configured, binds and serves until SIGINT/SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    if settings.database.migrate_on_start {
        marquee_core::db::ensure_database(&settings.database).await?;
    }
    let state = AppState::connect(settings).await?;
    if state.settings.database.migrate_on_start {
        marquee_core::db::migrate(&state.pool).await?;
    }
    let server = Server::bind(state.clone()).await?;
    let address = server.local_addr();
    tracing::info!(%address, public_url = %state.settings.http.public_url, "marquee-api listening");
    server
        .run(async {
            let _ = marquee_core::shutdown::signal().await;
        })
        .await?;
    Ok(())
}
