//! `marquee-scheduler`: run one or several; each tick still fires once.

use marquee_core::{Settings, shutdown, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("marquee-scheduler: {error}");
            return std::process::ExitCode::from(2);
        }
    };
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
