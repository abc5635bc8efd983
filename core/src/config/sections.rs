//! The sections of the settings, one struct each.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Bind address.
    pub host: String,
    /// Bind port; 0 picks a free one.
    pub port: u16,
    /// Base URL printed and used in links.
    pub public_url: String,
    /// Serve `/api/v1/system/*` diagnostics (never in production).
    pub diagnostics: bool,
    /// Seconds in-flight requests get on shutdown.
    pub shutdown_timeout_seconds: u64,
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed, for rate limits
    /// and logs; from any other peer the header is ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Largest request body read; larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest body of `POST /api/v1/tasks/batch` (up to 500 tasks).
    pub max_batch_body_bytes: usize,
    /// Seconds a request body may take to arrive in full; past it, 408.
    pub body_read_timeout_seconds: u64,
    /// Seconds a connection may stay silent (no byte either way) before it
    /// is closed: a stalled client cannot pin a connection for ever.
    pub idle_timeout_seconds: u64,
    /// Requests handled at once; the rest wait, once their body is read,
    /// in arrival order (`/health/*` never waits). 0 = no limit.
    pub max_in_flight_requests: usize,
    /// Seconds a request may wait for one of those slots; past it, 503
    /// with Retry-After.
    pub max_wait_seconds: u64,
    /// Prometheus `/metrics` listener port (not the public one); 0 = off.
    pub metrics_port: u16,
    /// Its bind address: loopback unless scrapers come from elsewhere.
    pub metrics_host: String,
    /// How long queue depths and job totals are reused before another query.
    pub metrics_cache_seconds: u64,
    /// Origins (`https://app.example.com`) whose pages may call the JSON
    /// API; `["*"]` for any. Empty: none but the API's own.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
}

impl HttpSettings {
    /// Whether pages are served over https, so cookies must be `Secure`.
    pub fn https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Connection URL; may hold a password, so it is secret.
    pub url: SecretString,
    /// Pool size.
    pub max_connections: u32,
    /// How long a query waits for a connection before it fails: when
    /// PostgreSQL is down, the API answers 503 after this, not later.
    pub acquire_timeout_ms: u64,
    /// Apply migrations when the API starts.
    pub migrate_on_start: bool,
}

/// `[redis]`
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// A single server, or a Redis Cluster.
    #[serde(default)]
    pub mode: RedisMode,
    /// Connection URL; may hold a password. In cluster mode, the seed node
    /// when `urls` is empty.
    pub url: SecretString,
    /// Cluster mode: seed nodes (any reachable one is enough; list several
    /// so a node that is down does not stop a start).
    #[serde(default)]
    pub urls: Vec<SecretString>,
    /// Prefix of every key Marquee writes.
    pub key_prefix: String,
    /// Whether a push writes apalis-redis's per-task metadata hash.
    #[serde(default)]
    pub task_metadata: TaskMetadata,
}

/// `redis.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    /// One Redis server (or a primary behind a failover proxy).
    #[default]
    Standalone,
    /// Redis Cluster (7.0 or later): keys spread over its masters by hash
    /// slot; live updates use sharded pub/sub.
    Cluster,
}

/// `redis.task_metadata`: what a push writes besides the task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskMetadata {
    /// The metadata hash every release reads. Only needed while workers of
    /// a release without this setting run: they fail a fetch without it.
    Full,
    /// No hash: workers of every release with this setting read a missing
    /// one as a fresh task. About a third less Redis work a job
    /// (docs/BENCHMARKS.md).
    #[default]
    Lean,
}

/// `[jwt]`
#[derive(Debug, Clone, Deserialize)]
pub struct JwtSettings {
    /// HS256 signing secret.
    pub secret: SecretString,
    /// Access token lifetime.
    pub access_ttl_seconds: u64,
    /// Refresh token lifetime.
    pub refresh_ttl_seconds: u64,
}

/// `[email]`
#[derive(Debug, Clone, Deserialize)]
pub struct EmailSettings {
    /// Where mail goes.
    pub transport: EmailTransport,
    /// The From header.
    pub from: String,
    /// Folder for the `file` transport.
    pub file_dir: PathBuf,
    /// The `smtp` transport.
    pub smtp: SmtpSettings,
    /// The `resend` transport.
    pub resend: ResendSettings,
}

/// `[email.resend]`: Resend's HTTP API.
#[derive(Debug, Clone, Deserialize)]
pub struct ResendSettings {
    /// `re_…`; secret.
    pub api_key: SecretString,
    /// `https://api.resend.com`, or a local stand-in in tests.
    pub base_url: String,
    /// Requests in flight at once per worker process.
    pub max_in_flight: u32,
    /// One request's time limit; past it the send is in doubt and retried
    /// under the same Idempotency-Key.
    pub timeout_seconds: u64,
}

/// `email.transport`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    /// Send over SMTP.
    Smtp,
    /// Write `.eml` files (development default).
    File,
    /// Resend's HTTP API, with each email's id as the Idempotency-Key.
    Resend,
}

/// `[email.smtp]`
#[derive(Debug, Clone, Deserialize)]
pub struct SmtpSettings {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Transport security.
    pub tls: SmtpTls,
    /// Empty means no authentication.
    pub username: String,
    /// SMTP password.
    pub password: SecretString,
    /// Connections kept open per worker process, and messages in flight.
    pub max_connections: u32,
}

/// `email.smtp.tls`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (local sinks only).
    None,
    /// Upgrade with STARTTLS.
    Starttls,
    /// Implicit TLS.
    Tls,
}

/// `[worker]`
#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    /// Queues this worker consumes.
    pub queues: Vec<String>,
    /// Jobs in flight per queue.
    pub concurrency: usize,
    /// Idle poll interval.
    pub poll_interval_ms: u64,
    /// Jobs taken per fetch.
    pub fetch_batch: usize,
    /// Most jobs one worker process holds per queue: running, claimed and
    /// waiting for a handler, or writing their outcome. Never less than
    /// `concurrency + min(concurrency, 64)`.
    pub pipeline: usize,
    /// Heartbeat interval.
    pub heartbeat_seconds: u64,
    /// Missed heartbeats before a worker's jobs are re-run elsewhere.
    pub missed_heartbeats: usize,
    /// Grace period for in-flight jobs on shutdown.
    pub shutdown_timeout_seconds: u64,
    /// Upper bound of one attempt.
    pub job_timeout_seconds: u64,
    /// Serve Prometheus `/metrics` on 127.0.0.1:<port>; 0 turns it off.
    pub metrics_port: u16,
    /// Address the metrics listener binds.
    pub metrics_host: String,
    /// First delay before a failed ledger write (claim or outcome) is tried
    /// again; doubled per failure up to `ledger_retry_max_ms`. The worker
    /// retries until PostgreSQL is back, never hands the failure to apalis.
    pub ledger_retry_first_ms: u64,
    /// Longest delay between tries of a failed ledger write.
    pub ledger_retry_max_ms: u64,
    /// How often a worker process reads which queues are paused.
    pub pause_poll_ms: u64,
}

/// `[jobs]`
#[derive(Debug, Clone, Deserialize)]
pub struct JobSettings {
    /// First retry delay.
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_max_ms: u64,
    /// How often the relay scans the outbox.
    pub relay_interval_ms: u64,
    /// Age of an undispatched row before the relay pushes it.
    pub relay_grace_ms: u64,
    /// A job in Redis this long without starting is pushed again, in case
    /// Redis lost it (restart without persistence).
    pub redispatch_after_seconds: u64,
    /// Finished jobs' task data stays in Redis this long.
    pub prune_after_seconds: u64,
    /// Succeeded and cancelled jobs' ledger rows are deleted after this many days.
    pub retain_succeeded_days: i32,
    /// Dead jobs' ledger rows are deleted after this many days.
    pub retain_dead_days: i32,
    /// Dead jobs kept at most; the oldest are deleted first.
    pub max_dead_jobs: i64,
    /// Operator audit entries are deleted after this many days.
    pub retain_audit_days: i32,
    /// Rows one retention statement deletes.
    pub retention_batch: i64,
    /// Jobs one bulk operator action (by filter) changes at most.
    pub bulk_action_max: usize,
}

/// `[scheduler]`
#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerSettings {
    /// Cron expression (six fields) of the heartbeat noop job.
    pub heartbeat_cron: String,
    /// Cron expression of the job that prunes finished jobs from Redis.
    pub prune_cron: String,
    /// Cron expression of the newsletter check (each period sent once).
    pub subscriptions_cron: String,
    /// Cron expression of the sweep that releases expired holds.
    pub hold_sweep_cron: String,
    /// Cron expression of the sweep that re-drives refunds and event
    /// cancellations whose jobs died.
    pub refund_sweep_cron: String,
    /// Cron expression of the job that folds closed analytics slots.
    pub stats_fold_cron: String,
    /// Serve Prometheus `/metrics` on `metrics_host:<port>`; 0 turns it off.
    pub metrics_port: u16,
    /// Address the metrics listener binds.
    pub metrics_host: String,
}

/// `[booking]`
#[derive(Debug, Clone, Deserialize)]
pub struct BookingSettings {
    /// Active holds one person may have on one event.
    pub max_active_holds_per_event: i64,
}

/// `[live]`
#[derive(Debug, Clone, Deserialize)]
pub struct LiveSettings {
    /// Live event streams one client address may hold open on one API
    /// process (an IPv6 client: its /64).
    pub max_streams_per_ip: usize,
    /// Seconds between heartbeat comments on an idle stream.
    pub heartbeat_seconds: u64,
}

/// `[payments]`
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentSettings {
    /// Which provider takes the money.
    pub provider: PaymentProviderKind,
    /// A payment still `pending` this long after checkout began (a crash
    /// between the charge and the booking), whose hold has expired, is
    /// settled against the provider by the refund sweep.
    pub reconcile_after_seconds: u64,
}

/// `payments.provider`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentProviderKind {
    /// Deterministic, keeps its books in PostgreSQL (tokens `tok_ok`,
    /// `tok_declined`, `tok_error`); the development default.
    Fake,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// tracing EnvFilter directives.
    pub filter: String,
    /// Output format.
    pub format: LogFormat,
}

/// `log.format`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for development.
    Pretty,
    /// One JSON object per line, for production.
    Json,
}

impl WorkerSettings {
    /// `heartbeat_seconds` as a Duration.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_seconds)
    }
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// argon2id memory cost in KiB (19456 = OWASP's minimum).
    pub argon2_memory_kib: u32,
    /// argon2id passes.
    pub argon2_iterations: u32,
    /// Refuse `message` tasks and API-key creation until the account's
    /// address is verified (off only for closed installations).
    pub require_verified_email: bool,
    /// Live (unrevoked) API keys one account may hold.
    pub max_api_keys_per_user: i64,
}

/// `[rate_limits]`: each `{ limit, period_seconds }`.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    /// Sign-in attempts per email.
    pub login_per_email: crate::rate_limit::Rule,
    /// Sign-in attempts per client IP.
    pub login_per_ip: crate::rate_limit::Rule,
    /// Password-reset requests per email.
    pub password_reset_per_email: crate::rate_limit::Rule,
    /// One-time-code checks per email.
    pub code_verify_per_email: crate::rate_limit::Rule,
    /// Requests per API key.
    pub per_api_key: crate::rate_limit::Rule,
    /// Tasks (mail) per account, whichever token or key submits them.
    pub tasks_per_user: crate::rate_limit::Rule,
    /// Password-reset requests per client IP.
    pub password_reset_per_ip: crate::rate_limit::Rule,
    /// Verification-code emails per account.
    pub verify_email_per_user: crate::rate_limit::Rule,
    /// Ticket reissues per person (each is a revocation door devices sync).
    pub reissue_per_user: crate::rate_limit::Rule,
    /// One-time-code checks (reset and verification) per client IP.
    pub code_verify_per_ip: crate::rate_limit::Rule,
    /// Failed one-time-code checks across every account; past it every
    /// check is refused until the budget refills.
    pub code_failures_global: crate::rate_limit::Rule,
}
