//! `marquee-worker [--queues a,b] [--concurrency N]`

use clap::Parser;
use marquee_core::{Settings, shutdown, telemetry};
use marquee_worker::{Registry, unique_worker_name};

/// Consumes Marquee job queues. Run as many as you like.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Queues to consume, comma-separated (default: worker.queues).
    #[arg(long, value_delimiter = ',')]
    queues: Option<Vec<String>>,
    /// Jobs in flight per queue (default: worker.concurrency).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Serve Prometheus /metrics on this port (default: worker.metrics_port).
    #[arg(long)]
    metrics_port: Option<u16>,
    /// Worker name (default: host-pid-random; must be unique).
    #[arg(long)]
    name: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("marquee-worker: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(queues) = cli.queues {
        settings.worker.queues = queues;
    }
    if let Some(port) = cli.metrics_port {
        settings.worker.metrics_port = port;
    }
    if let Some(concurrency) = cli.concurrency {
        settings.worker.concurrency = concurrency;
    }
    telemetry::init_tracing("marquee-worker", &settings.log);
    let name = cli.name.unwrap_or_else(unique_worker_name);
    match marquee_worker::run(settings, Registry::standard(), name, shutdown::signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "worker failed");
            eprintln!("marquee-worker: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
