//! Test harness: every test gets its own database, cloned from a migrated
//! template, and its own Redis key prefix, so tests run in parallel against
//! the real services and clean up after themselves.

use std::hash::{Hash, Hasher};
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::config::{Environment, Settings, config_dir};
use crate::db::MIGRATOR;

mod private_cluster;
mod private_postgres;
mod private_redis;
pub use private_cluster::{PrivateCluster, redis_7_installed};
pub use private_postgres::PrivatePostgres;
pub use private_redis::PrivateRedis;

/// Any PostgreSQL advisory lock id only the harness uses.
const TEMPLATE_LOCK: i64 = 0x6d61_7271_7565;

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// A database and Redis namespace of one's own; both vanish on drop.
pub struct TestContext {
    /// Test settings pointing at this test's database and key prefix.
    pub settings: Settings,
    /// A pool on this test's database.
    pub pool: PgPool,
    db_name: String,
    admin: PgConnectOptions,
}

impl TestContext {
    /// Creates the database (from the template) and the settings.
    pub async fn new() -> Self {
        Self::on_servers(None, None).await
    }

    /// Like [`Self::new`], on a PostgreSQL server (`postgres` URL) and a
    /// Redis (`redis` URL) of the test's own, such as [`PrivatePostgres`]
    /// and [`PrivateRedis`]; `None` takes the machine's.
    pub async fn on_servers(postgres: Option<&str>, redis: Option<&str>) -> Self {
        Self::with_redis(postgres, |settings| {
            if let Some(url) = redis {
                settings.url = SecretString::from(url.to_owned());
            }
        })
        .await
    }

    /// Like [`Self::new`], with Redis on `cluster` (`redis.mode = "cluster"`).
    pub async fn on_cluster(cluster: &PrivateCluster) -> Self {
        Self::with_redis(None, |settings| {
            settings.mode = crate::config::RedisMode::Cluster;
            settings.urls = cluster.urls().into_iter().map(SecretString::from).collect();
            settings.url = settings.urls[0].clone();
        })
        .await
    }

    async fn with_redis(
        postgres: Option<&str>,
        redis: impl FnOnce(&mut crate::config::RedisSettings),
    ) -> Self {
        crate::telemetry::init_test_tracing();
        let mut settings =
            Settings::load_from(&config_dir().expect("config dir"), Environment::Test)
                .expect("test settings");
        if let Some(url) = postgres {
            settings.database.url = SecretString::from(url.to_owned());
        }
        redis(&mut settings.redis);
        let base = PgConnectOptions::from_str(settings.database.url.expose_secret())
            .expect("database.url")
            .disable_statement_logging();
        let admin = base.clone().database("postgres");
        let template = match postgres {
            None => TEMPLATE
                .get_or_try_init(|| ensure_template(&admin))
                .await
                .cloned(),
            Some(_) => ensure_template(&admin).await,
        }
        .expect("could not build the template database; is PostgreSQL running? (just services)");
        let db_name = format!("marquee_t_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .expect("connect as admin");
        run_admin(
            &mut conn,
            format!(r#"CREATE DATABASE "{db_name}" TEMPLATE "{template}""#),
        )
        .await
        .expect("create test database");
        conn.close().await.ok();

        let db_options = base.clone().database(&db_name);
        settings.database.url = SecretString::from(db_options.to_url_lossy().to_string());
        settings.redis.key_prefix = format!("test:{}", &db_name["marquee_t_".len()..][..12]);
        settings.http.port = 0;
        // Tests run many servers at once; one that wants metrics picks a port.
        settings.http.metrics_port = 0;
        // The file mail transport writes here, never into the source tree.
        settings.email.file_dir = std::env::temp_dir().join(format!("marquee-mail-{db_name}"));
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(settings.database.max_connections)
            .connect_with(db_options)
            .await
            .expect("connect to test database");
        Self {
            settings,
            pool,
            db_name,
            admin,
        }
    }

    /// What a child process (a real binary) needs in its environment to run
    /// with the test settings on this test's database and Redis namespace.
    pub fn process_env(&self) -> Vec<(&'static str, String)> {
        let config = config_dir().expect("config dir");
        let mut env = vec![
            ("MARQUEE_ENV", "test".to_owned()),
            ("MARQUEE_CONFIG_DIR", config.display().to_string()),
            (
                "MARQUEE__DATABASE__URL",
                self.settings.database.url.expose_secret().to_owned(),
            ),
            (
                "MARQUEE__REDIS__URL",
                self.settings.redis.url.expose_secret().to_owned(),
            ),
            (
                "MARQUEE__REDIS__MODE",
                match self.settings.redis.mode {
                    crate::config::RedisMode::Standalone => "standalone",
                    crate::config::RedisMode::Cluster => "cluster",
                }
                .to_owned(),
            ),
            (
                "MARQUEE__REDIS__KEY_PREFIX",
                self.settings.redis.key_prefix.clone(),
            ),
            // The file mail transport writes here, never into the source tree.
            (
                "MARQUEE__EMAIL__FILE_DIR",
                self.settings.email.file_dir.display().to_string(),
            ),
        ];
        let urls = &self.settings.redis.urls;
        if !urls.is_empty() {
            let urls: Vec<&str> = urls.iter().map(|url| url.expose_secret()).collect();
            env.push(("MARQUEE__REDIS__URLS", urls.join(",")));
        }
        env
    }

    /// A Redis connection for this test.
    pub fn redis(&self) -> crate::redis::RedisConn {
        crate::redis::connect(&self.settings.redis).expect("redis url")
    }
}

impl Drop for TestContext {
    fn drop(&mut self) {
        if self
            .settings
            .email
            .file_dir
            .starts_with(std::env::temp_dir())
        {
            std::fs::remove_dir_all(&self.settings.email.file_dir).ok();
        }
        let db_name = self.db_name.clone();
        let admin = self.admin.clone();
        let redis = self.settings.redis.clone();
        let prefix = self.settings.redis.key_prefix.clone();
        // Drop runs inside the test's runtime; clean up on a thread of our own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect_with(&admin).await {
                    let drop = format!(r#"DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)"#);
                    let _ = run_admin(&mut conn, drop).await;
                }
                if let Ok(mut conn) = crate::redis::connect(&redis) {
                    let _ = delete_keys(&mut conn, &prefix).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A running process's peak resident memory (`VmHWM`) in MiB; `None` once
/// it has exited or off Linux. For benches that report footprint.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    proc_status_mib(pid, "VmHWM:")
}

/// A running process's resident memory now (`VmRSS`) in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    proc_status_mib(pid, "VmRSS:")
}

fn proc_status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Deletes every Redis key under `prefix` on the server at `url`.
pub async fn delete_prefix(url: &str, prefix: &str) -> redis::RedisResult<()> {
    let mut conn = crate::redis::connect_url(url)?;
    delete_keys(&mut conn, prefix).await
}

/// Deletes every key of install `prefix`: `<prefix>:*` and its queues'
/// hash-tagged `{<prefix>:*}`; on a cluster, on every master.
pub async fn delete_keys(
    conn: &mut crate::redis::RedisConn,
    prefix: &str,
) -> redis::RedisResult<()> {
    for pattern in [format!("{prefix}:*"), format!("{{{prefix}:*")] {
        let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(conn).await?;
        // One DEL per key: on a cluster they live in many slots.
        for chunk in keys.chunks(500) {
            let deletes = chunk.iter().map(|key| {
                let mut conn = conn.clone();
                async move {
                    redis::cmd("DEL")
                        .arg(key)
                        .query_async::<()>(&mut conn)
                        .await
                }
            });
            futures::future::try_join_all(deletes).await?;
        }
    }
    Ok(())
}

/// Builds (once per set of migrations) the template every test database is
/// cloned from. An advisory lock keeps concurrent test processes from
/// building it twice; building under a temporary name and renaming keeps a
/// crashed build from leaving a half-migrated template behind.
async fn ensure_template(admin: &PgConnectOptions) -> Result<String, sqlx::Error> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for migration in MIGRATOR.iter() {
        migration.version.hash(&mut hasher);
        migration.checksum.hash(&mut hasher);
    }
    let name = format!("marquee_tmpl_{:016x}", hasher.finish());
    let mut conn = PgConnection::connect_with(admin).await?;
    sqlx::query_scalar!("SELECT pg_advisory_lock($1)", TEMPLATE_LOCK)
        .fetch_one(&mut conn)
        .await?;
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS "exists!""#,
        name,
    )
    .fetch_one(&mut conn)
    .await?;
    if !exists {
        let building = format!("{name}_build");
        for statement in [
            format!(r#"DROP DATABASE IF EXISTS "{building}" WITH (FORCE)"#),
            format!(r#"CREATE DATABASE "{building}""#),
        ] {
            run_admin(&mut conn, statement).await?;
        }
        let pool = PgPool::connect_with(admin.clone().database(&building)).await?;
        MIGRATOR.run(&pool).await?;
        pool.close().await;
        let rename = format!(r#"ALTER DATABASE "{building}" RENAME TO "{name}""#);
        run_admin(&mut conn, rename).await?;
    }
    sqlx::query_scalar!("SELECT pg_advisory_unlock($1)", TEMPLATE_LOCK)
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(name)
}

/// Runs one database-level statement (CREATE, DROP or ALTER DATABASE) as
/// the admin connection.
// Dynamic on purpose: database names cannot be bind parameters, and they are
// generated here (a UUID or a migrations hash), never taken from input.
#[allow(clippy::disallowed_methods)]
async fn run_admin(conn: &mut PgConnection, statement: String) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(conn)
        .await?;
    Ok(())
}
