//! Layered settings: `config/default.toml` → `config/<MARQUEE_ENV>.toml` →
//! `MARQUEE__SECTION__KEY` environment variables.

use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;
use serde::Deserialize;

mod sections;
pub use sections::*;

/// The JWT secret shipped in `config/default.toml`; production refuses it.
pub const DEV_JWT_SECRET: &str = "dev-secret-do-not-use-in-production";

/// Which `config/<env>.toml` is layered over the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// A laptop: readable logs, file mail transport.
    Development,
    /// `just test`.
    Test,
    /// A real deployment: JSON logs, secrets required.
    Production,
}

impl Environment {
    /// Reads `MARQUEE_ENV` (default `development`).
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var("MARQUEE_ENV").as_deref() {
            Err(_) | Ok("development") | Ok("dev") => Ok(Self::Development),
            Ok("test") => Ok(Self::Test),
            Ok("production") | Ok("prod") => Ok(Self::Production),
            Ok(other) => Err(ConfigError::invalid(
                "MARQUEE_ENV",
                format!("unknown environment `{other}` (development, test or production)"),
            )),
        }
    }

    /// The file name stem under `config/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
        }
    }
}

/// A configuration problem, always naming the offending key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    /// Dotted key, e.g. `http.port`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// All settings of every binary.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// HTTP listener.
    pub http: HttpSettings,
    /// PostgreSQL.
    pub database: DatabaseSettings,
    /// Redis.
    pub redis: RedisSettings,
    /// Session tokens.
    pub jwt: JwtSettings,
    /// Password hashing.
    pub auth: AuthSettings,
    /// Request limits.
    pub rate_limits: RateLimitSettings,
    /// Outgoing mail.
    pub email: EmailSettings,
    /// `marquee-worker`.
    pub worker: WorkerSettings,
    /// Retry policy and the outbox relay.
    pub jobs: JobSettings,
    /// `marquee-scheduler`.
    pub scheduler: SchedulerSettings,
    /// Holds and checkout.
    pub booking: BookingSettings,
    /// The payment provider.
    pub payments: PaymentSettings,
    /// Live event streams.
    pub live: LiveSettings,
    /// Logging.
    pub log: LogSettings,
    /// Which environment file was loaded.
    #[serde(skip, default = "default_env")]
    pub environment: Option<Environment>,
}

/// Whether the redis crate accepts `url`.
fn redis_url_parses(url: &str) -> bool {
    redis::IntoConnectionInfo::into_connection_info(url).is_ok()
}

fn default_env() -> Option<Environment> {
    None
}

impl Settings {
    /// Loads settings for the environment named by `MARQUEE_ENV`.
    pub fn load() -> Result<Self, ConfigError> {
        let env = Environment::from_env()?;
        let dir = config_dir()?;
        Self::load_from(&dir, env)
    }

    /// Loads `dir/default.toml`, `dir/<env>.toml` and `MARQUEE__*` variables.
    pub fn load_from(dir: &Path, env: Environment) -> Result<Self, ConfigError> {
        let built = config::Config::builder()
            .add_source(config::File::from(dir.join("default.toml")).required(true))
            .add_source(
                config::File::from(dir.join(format!("{}.toml", env.as_str()))).required(false),
            )
            .add_source(
                config::Environment::with_prefix("MARQUEE")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("worker.queues")
                    .with_list_parse_key("redis.urls")
                    .with_list_parse_key("http.trusted_proxies")
                    .with_list_parse_key("http.cors_allowed_origins"),
            )
            .build()
            .map_err(from_config_error)?;
        let mut unknown = Vec::new();
        let mut settings: Settings =
            serde_ignored::deserialize(built, |path| unknown.push(path.to_string()))
                .map_err(from_config_error)?;
        for key in unknown {
            tracing::warn!(config.key = %key, "unknown configuration key ignored");
            eprintln!("warning: unknown configuration key ignored: {key}");
        }
        settings.environment = Some(env);
        settings.validate(env)?;
        Ok(settings)
    }

    /// Checks values that parse but make no sense.
    fn validate(&self, env: Environment) -> Result<(), ConfigError> {
        let secret = self.jwt.secret.expose_secret();
        // The shipped secret, or a placeholder from an example (deploy/k8s).
        let placeholder = secret == DEV_JWT_SECRET || secret.to_lowercase().contains("change-me");
        if env == Environment::Production && (secret.is_empty() || placeholder) {
            return Err(ConfigError::invalid(
                "jwt.secret",
                "production needs a secret of its own: set MARQUEE__JWT__SECRET",
            ));
        }
        if secret.len() < 32 {
            return Err(ConfigError::invalid(
                "jwt.secret",
                "must be at least 32 characters",
            ));
        }
        let checks: [(&str, bool, &str); 32] = [
            (
                "http.public_url",
                self.http.public_url.starts_with("http"),
                "must be an http(s) URL",
            ),
            (
                "http.max_body_bytes",
                self.http.max_body_bytes >= 1024,
                "must be at least 1024",
            ),
            (
                "http.max_in_flight_requests",
                self.http.max_in_flight_requests <= 1_000_000,
                "must be 0 (no limit) to 1000000",
            ),
            (
                "database.max_connections",
                self.database.max_connections > 0,
                "must be at least 1",
            ),
            (
                "database.acquire_timeout_ms",
                (100..=600_000).contains(&self.database.acquire_timeout_ms),
                "must be 100 to 600000",
            ),
            (
                "redis.key_prefix",
                !self.redis.key_prefix.is_empty() && !self.redis.key_prefix.contains(['{', '}']),
                "must not be empty or hold braces (Marquee's keys use them as cluster hash tags)",
            ),
            (
                "redis.url",
                redis_url_parses(self.redis.url.expose_secret()),
                "must be a redis:// URL (this build has no TLS for Redis: rediss:// is refused)",
            ),
            (
                "redis.urls",
                self.redis
                    .urls
                    .iter()
                    .map(|url| url.expose_secret().trim())
                    .filter(|url| !url.is_empty())
                    .all(redis_url_parses),
                "each must be a redis:// URL (no rediss://), comma-separated in MARQUEE__REDIS__URLS",
            ),
            (
                "worker.queues",
                !self.worker.queues.is_empty(),
                "must name at least one queue",
            ),
            (
                "worker.concurrency",
                (1..=10_000).contains(&self.worker.concurrency),
                "must be 1-10000",
            ),
            (
                "worker.pipeline",
                (1..=10_000).contains(&self.worker.pipeline),
                "must be 1-10000",
            ),
            (
                "worker.poll_interval_ms",
                (1..=60_000).contains(&self.worker.poll_interval_ms),
                "must be 1-60000",
            ),
            (
                "worker.fetch_batch",
                (1..=1_000).contains(&self.worker.fetch_batch),
                "must be 1-1000",
            ),
            (
                "live.max_streams_per_ip",
                (1..=100_000).contains(&self.live.max_streams_per_ip),
                "must be 1-100000",
            ),
            (
                "live.heartbeat_seconds",
                (1..=300).contains(&self.live.heartbeat_seconds),
                "must be 1-300",
            ),
            (
                "booking.max_active_holds_per_event",
                (1..=100).contains(&self.booking.max_active_holds_per_event),
                "must be 1-100",
            ),
            (
                "email.resend.api_key",
                self.email.transport != EmailTransport::Resend
                    || is_token(self.email.resend.api_key.expose_secret()),
                "must be set (visible ASCII, no spaces) when email.transport is \"resend\"",
            ),
            (
                "email.resend.base_url",
                ["https://", "http://"].iter().any(|scheme| {
                    self.email
                        .resend
                        .base_url
                        .strip_prefix(scheme)
                        .is_some_and(|rest| is_token(rest) && !rest.starts_with('/'))
                }),
                "must be an http(s) URL with a host",
            ),
            (
                "email.resend.max_in_flight",
                (1..=1_000).contains(&self.email.resend.max_in_flight),
                "must be 1 to 1000",
            ),
            (
                "email.resend.timeout_seconds",
                (1..=300).contains(&self.email.resend.timeout_seconds),
                "must be 1 to 300",
            ),
            (
                "payments.reconcile_after_seconds",
                (120..=604_800).contains(&self.payments.reconcile_after_seconds),
                "must be 120 (twice the longest a checkout may take to charge) to 604800",
            ),
            (
                "email.smtp.max_connections",
                (1..=1_000).contains(&self.email.smtp.max_connections),
                "must be 1-1000",
            ),
            (
                "worker.heartbeat_seconds",
                self.worker.heartbeat_seconds > 0,
                "must be at least 1",
            ),
            (
                "jobs.backoff_max_ms",
                self.jobs.backoff_max_ms >= self.jobs.backoff_base_ms,
                "must be >= jobs.backoff_base_ms",
            ),
            (
                "worker.ledger_retry_first_ms",
                self.worker.ledger_retry_first_ms > 0,
                "must be at least 1",
            ),
            (
                "worker.ledger_retry_max_ms",
                self.worker.ledger_retry_max_ms >= self.worker.ledger_retry_first_ms,
                "must be >= worker.ledger_retry_first_ms",
            ),
            (
                "worker.pause_poll_ms",
                (10..=60_000).contains(&self.worker.pause_poll_ms),
                "must be 10-60000",
            ),
            (
                "jobs.retain_succeeded_days",
                self.jobs.retain_succeeded_days >= 1,
                "must be at least 1",
            ),
            (
                "jobs.retain_dead_days",
                self.jobs.retain_dead_days >= 1,
                "must be at least 1",
            ),
            (
                "jobs.max_dead_jobs",
                self.jobs.max_dead_jobs >= 0,
                "must not be negative",
            ),
            (
                "jobs.retention_batch",
                (1..=100_000).contains(&self.jobs.retention_batch),
                "must be 1-100000",
            ),
            (
                "jobs.bulk_action_max",
                (1..=1_000_000).contains(&self.jobs.bulk_action_max),
                "must be 1-1000000",
            ),
        ];
        for (key, ok, message) in checks {
            if !ok {
                return Err(ConfigError::invalid(key, message));
            }
        }
        for origin in &self.http.cors_allowed_origins {
            if let Err(why) = check_origin(origin, self.http.cors_allowed_origins.len()) {
                return Err(ConfigError::invalid("http.cors_allowed_origins", why));
            }
        }
        if !(1..=1_000).contains(&self.auth.max_api_keys_per_user) {
            return Err(ConfigError::invalid(
                "auth.max_api_keys_per_user",
                "must be 1-1000",
            ));
        }
        if self.worker.missed_heartbeats == 0 {
            return Err(ConfigError::invalid(
                "worker.missed_heartbeats",
                "must be at least 1",
            ));
        }
        for (key, expression) in [
            ("scheduler.heartbeat_cron", &self.scheduler.heartbeat_cron),
            ("scheduler.prune_cron", &self.scheduler.prune_cron),
            (
                "scheduler.subscriptions_cron",
                &self.scheduler.subscriptions_cron,
            ),
            ("scheduler.hold_sweep_cron", &self.scheduler.hold_sweep_cron),
            (
                "scheduler.refund_sweep_cron",
                &self.scheduler.refund_sweep_cron,
            ),
            ("scheduler.stats_fold_cron", &self.scheduler.stats_fold_cron),
        ] {
            if cron::Schedule::try_from(expression.as_str()).is_err() {
                return Err(ConfigError::invalid(
                    key,
                    "not a six-field cron expression (seconds first)",
                ));
            }
        }
        Ok(())
    }
}

/// `MARQUEE_CONFIG_DIR`, else the nearest `config/` with a `default.toml`
/// walking up from the working directory (so tests run from a crate dir work).
pub fn config_dir() -> Result<PathBuf, ConfigError> {
    if let Ok(dir) = std::env::var("MARQUEE_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let start =
        std::env::current_dir().map_err(|e| ConfigError::invalid("config", e.to_string()))?;
    start
        .ancestors()
        .map(|dir| dir.join("config"))
        .find(|dir| dir.join("default.toml").is_file())
        .ok_or_else(|| {
            ConfigError::invalid(
                "MARQUEE_CONFIG_DIR",
                "no config/default.toml found; set MARQUEE_CONFIG_DIR",
            )
        })
}

/// The config crate says "… for key `http.port`"; pull the key out so the
/// one-line error starts with it.
fn from_config_error(err: config::ConfigError) -> ConfigError {
    let text = err.to_string();
    let key = text
        .split("for key `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned)
        .or_else(|| {
            text.strip_prefix("missing field `")
                .and_then(|r| r.split('`').next())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "config".to_owned());
    ConfigError { key, message: text }
}

#[cfg(test)]
mod tests;

/// An allowed CORS origin: `*` alone, or `scheme://host[:port]` exactly as
/// browsers send it (no path, no trailing slash).
fn check_origin(origin: &str, listed: usize) -> Result<(), String> {
    if origin == "*" {
        return match listed {
            1 => Ok(()),
            _ => Err("`*` allows every origin; list it alone".to_owned()),
        };
    }
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("`{origin}` must start with http:// or https://"))?;
    let host_ok = !rest.is_empty()
        && rest.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | ':' | '[' | ']')
        });
    if host_ok {
        Ok(())
    } else {
        Err(format!(
            "`{origin}` must be scheme://host[:port] in lower case, as browsers send it, with no path or trailing slash"
        ))
    }
}

/// Non-empty visible ASCII: what may go into a header or a URL as is.
fn is_token(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic())
}
