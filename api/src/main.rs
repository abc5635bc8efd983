//! `marquee-api [serve]` | `migrate` | `seed` | `admin create-user` | `stats rebuild`

use clap::{Parser, Subcommand};
use marquee_core::auth::Role;
use marquee_core::{Settings, db, telemetry};

/// The Marquee HTTP API.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Load demo accounts, venues and events into a fresh database (not in
    /// production); does nothing if they are there.
    Seed,
    /// Administration from the shell.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Organizer analytics.
    #[command(subcommand)]
    Stats(StatsCommand),
}

#[derive(Debug, Subcommand)]
enum StatsCommand {
    /// Recompute the analytics rollups from bookings, refunds, holds and
    /// tickets (sales may go on meanwhile).
    Rebuild,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an account with any role (the password comes from
    /// MARQUEE_ADMIN_PASSWORD or a prompt).
    CreateUser {
        /// Email address.
        #[arg(long)]
        email: String,
        /// user, organizer or admin.
        #[arg(long, default_value = "admin", value_parser = parse_role)]
        role: Role,
        /// Display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

fn parse_role(value: &str) -> Result<Role, String> {
    match value {
        "user" => Ok(Role::User),
        "organizer" => Ok(Role::Organizer),
        "admin" => Ok(Role::Admin),
        other => Err(format!("unknown role `{other}` (user, organizer, admin)")),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("marquee-api: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init_tracing("marquee-api", &settings.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => marquee_api::serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::Seed => marquee_api::seed::command(&settings).await,
        Command::Admin(AdminCommand::CreateUser { email, role, name }) => {
            marquee_api::admin_cli::create_user(&settings, &email, &name, role).await
        }
        Command::Stats(StatsCommand::Rebuild) => {
            marquee_api::admin_cli::rebuild_stats(&settings).await
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("marquee-api: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    db::ensure_database(&settings.database).await?;
    let pool = db::connect(&settings.database).await?;
    db::migrate(&pool).await?;
    tracing::info!("migrations applied");
    Ok(())
}
