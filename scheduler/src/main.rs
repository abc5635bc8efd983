//! `marquee-scheduler`: run one or several; each tick still fires once.

use clap::Parser;
use marquee_core::{Settings, shutdown, telemetry};

/// Runs Marquee's recurring work and the outbox relay.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Serve Prometheus /metrics on this port (default: scheduler.metrics_port).
    #[arg(long)]
    metrics_port: Option<u16>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("marquee-scheduler: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(port) = cli.metrics_port {
        settings.scheduler.metrics_port = port;
    }
    telemetry::init_tracing("marquee-scheduler", &settings.log);
    let name = format!("scheduler-{}", std::process::id());
    match marquee_scheduler::run(settings, name, shutdown::signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("marquee-scheduler: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
