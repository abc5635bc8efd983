//! What every handler can reach.

use std::sync::Arc;

use marquee_core::Settings;
use marquee_core::auth::{AccessTokens, Passwords};
use marquee_core::jobs::Producer;
use marquee_core::rate_limit::{Decision, RateLimiter, Rule};
use marquee_core::redis::RedisConn;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

/// Shared application state; cheap to clone.
/// The fake payment provider's own connections: a checkout holds its
/// transaction while it charges, so too few here throttles every checkout.
const FAKE_PROVIDER_CONNECTIONS: u32 = 16;

#[derive(Clone)]
pub struct AppState {
    /// PostgreSQL, the source of truth.
    pub pool: PgPool,
    /// Redis, for queues and caches.
    pub redis: RedisConn,
    /// Pushes committed jobs.
    pub producer: Producer,
    /// Password hashing.
    pub passwords: Passwords,
    /// Access-token signing.
    pub tokens: AccessTokens,
    /// Request limits in Redis.
    pub limiter: RateLimiter,
    /// Renders Prometheus metrics.
    pub metrics: PrometheusHandle,
    /// Loaded settings.
    pub settings: Arc<Settings>,
    /// Takes the money at checkout.
    pub payments: Arc<dyn marquee_core::booking::payments::PaymentProvider>,
    /// Public catalog reads.
    pub catalog: marquee_core::catalog::cache::CatalogCache,
    /// Operator figures, cached.
    pub figures: Arc<crate::metrics::Figures>,
    /// Publishes live updates after commits.
    pub live: marquee_core::live::Publisher,
    /// This process's live streams.
    pub hub: marquee_core::live::Hub,
}

impl AppState {
    /// Connects to PostgreSQL (fails fast) and Redis (lazily, so the API
    /// starts and reports "not ready" while Redis is down).
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let pool = marquee_core::db::connect(&settings.database).await?;
        Self::with_pool(settings, pool)
    }

    /// Like [`AppState::connect`] with an existing pool.
    pub fn with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let redis = marquee_core::redis::connect(&settings.redis)?;
        let producer = Producer::new(
            pool.clone(),
            redis.clone(),
            settings.redis.key_prefix.clone(),
        )
        .with_task_metadata(settings.redis.task_metadata);
        let passwords =
            Passwords::new(&settings.auth).map_err(|e| anyhow::anyhow!("auth.argon2_*: {e}"))?;
        let tokens = AccessTokens::new(&settings.jwt);
        let limiter = RateLimiter::new(redis.clone(), &settings.redis.key_prefix);
        let metrics = marquee_core::metrics::install();
        let payments: Arc<dyn marquee_core::booking::payments::PaymentProvider> = match settings
            .payments
            .provider
        {
            // Its own connections, as an outside service would have: a
            // checkout holds a transaction while it charges.
            marquee_core::config::PaymentProviderKind::Fake => {
                Arc::new(marquee_core::booking::payments::FakeProvider::new(
                    marquee_core::db::connect_lazy(&settings.database, FAKE_PROVIDER_CONNECTIONS)?,
                ))
            }
        };
        let catalog = marquee_core::catalog::cache::CatalogCache::new(
            redis.clone(),
            &settings.redis.key_prefix,
        );
        let figures = Arc::new(crate::metrics::Figures::new(
            std::time::Duration::from_secs(settings.http.metrics_cache_seconds),
        ));
        let live = marquee_core::live::Publisher::new(
            pool.clone(),
            redis.clone(),
            &settings.redis.key_prefix,
        );
        let hub = marquee_core::live::Hub::new(
            &settings.redis,
            redis.clone(),
            settings.live.max_streams_per_ip,
        );
        Ok(Self {
            live,
            hub,
            figures,
            pool,
            redis,
            producer,
            passwords,
            tokens,
            limiter,
            metrics,
            catalog,
            payments,
            settings: Arc::new(settings),
        })
    }
}

impl AppState {
    /// An event's availability or door changed and the change committed:
    /// drops its cached availability and publishes a live snapshot.
    pub async fn availability_changed(&self, event: uuid::Uuid) {
        self.live.changed(event);
        self.catalog.invalidate_availability(event).await;
    }

    /// Counts a request against `rule`; 429 with Retry-After when over.
    pub async fn limit(
        &self,
        bucket: &str,
        key: &str,
        rule: Rule,
    ) -> Result<(), crate::problem::ApiError> {
        match self.limiter.check(bucket, key, rule).await {
            Decision::Allowed => Ok(()),
            Decision::Limited { retry_after } => {
                tracing::info!(bucket, "rate limited");
                Err(crate::problem::ApiError::RateLimited {
                    retry_after: retry_after.as_secs().max(1) as u32,
                })
            }
        }
    }
}
