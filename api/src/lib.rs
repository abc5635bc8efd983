//! `marquee-api`: the HTTP server. Handlers answer synchronously and hand
//! slow work to jobs through the outbox.

mod actions;
pub mod admin_cli;
mod auth;
mod boundary;
mod cached_json;
pub mod client_ip;
pub mod contract;
mod cors;
mod guesses;
mod in_flight;
pub mod metrics;
mod pagination;
pub mod problem;
pub mod request_id;
mod routes;
pub mod seed;
mod senders;
pub mod state;
mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use marquee_core::Settings;
use poem::EndpointExt;
use poem::endpoint::BoxEndpoint;
use poem::listener::{Acceptor, Listener, TcpListener};

pub use routes::{app, openapi};
pub use state::AppState;

/// A bound, not yet serving, HTTP server: the public listener and, unless
/// `http.metrics_port` is 0, the Prometheus one.
pub struct Server {
    acceptor: poem::listener::TcpAcceptor,
    metrics: Option<poem::listener::TcpAcceptor>,
    state: AppState,
    layer: Option<Layer>,
}

/// Something wrapped around the whole application (tests watch every
/// answer through one).
pub type Layer = Box<dyn FnOnce(BoxEndpoint<'static>) -> BoxEndpoint<'static> + Send>;

impl Server {
    /// Binds `http.host:http.port` (port 0 picks a free one) and
    /// `http.metrics_host:metrics_port`.
    pub async fn bind(state: AppState) -> anyhow::Result<Self> {
        let http = &state.settings.http;
        let acceptor = listen(format!("{}:{}", http.host, http.port)).await?;
        let metrics = match http.metrics_port {
            0 => None,
            port => Some(listen(format!("{}:{port}", http.metrics_host)).await?),
        };
        Ok(Self {
            acceptor,
            metrics,
            state,
            layer: None,
        })
    }

    /// Serves the application through `layer`.
    pub fn with_layer(mut self, layer: Layer) -> Self {
        self.layer = Some(layer);
        self
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
        let metrics = self.metrics.map(|acceptor| {
            let endpoint = metrics::endpoint(self.state.clone());
            tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint))
        });
        let idle = Duration::from_secs(self.state.settings.http.idle_timeout_seconds);
        // Live streams never finish by themselves: end them when draining
        // starts, or shutdown would wait out its whole grace period.
        let hub = self.state.hub.clone();
        let shutdown = async move {
            shutdown.await;
            hub.close();
        };
        let app = app(self.state).map_to_response().boxed();
        let app = match self.layer {
            Some(layer) => layer(app),
            None => app,
        };
        let served = poem::Server::new_with_acceptor(self.acceptor)
            .idle_timeout(idle)
            .run_with_graceful_shutdown(app, shutdown, Some(timeout))
            .await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        served
    }
}

async fn listen(address: String) -> anyhow::Result<poem::listener::TcpAcceptor> {
    TcpListener::bind(address.clone())
        .into_acceptor()
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))
}

/// Migrates when configured, binds and serves until SIGINT/SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    if settings.database.migrate_on_start {
        marquee_core::db::ensure_database(&settings.database).await?;
    }
    let state = AppState::connect(settings).await?;
    marquee_core::redis::check_mode(&state.redis).await?;
    if state.settings.database.migrate_on_start {
        marquee_core::db::migrate(&state.pool).await?;
    }
    let server = Server::bind(state.clone()).await?;
    let address = server.local_addr();
    let metrics_port = state.settings.http.metrics_port;
    tracing::info!(%address, public_url = %state.settings.http.public_url, metrics_port, "marquee-api listening");
    server
        .run(async {
            let _ = marquee_core::shutdown::signal().await;
        })
        .await?;
    Ok(())
}
