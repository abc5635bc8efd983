//! Redis connections: lazy and self-healing, so a Redis restart never needs
//! a Marquee restart.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;

use crate::config::RedisSettings;

/// A connection manager that connects on first use and reconnects after
/// failures. Cheap to clone.
pub fn connect(settings: &RedisSettings) -> redis::RedisResult<ConnectionManager> {
    connect_url(settings.url.expose_secret())
}

/// Same as [`connect`] for an explicit URL.
pub fn connect_url(url: &str) -> redis::RedisResult<ConnectionManager> {
    // Nagle off, as PostgreSQL (sqlx 0.9.1) and SMTP (vendor/lettre) have
    // it: a command written in two pieces (a large script call) would
    // otherwise wait for Redis's delayed ACK, 40 ms on Linux.
    let info = redis::IntoConnectionInfo::into_connection_info(url)?
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    let client = redis::Client::open(info)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config)
}

/// PING with a deadline, for readiness checks.
pub async fn ping(conn: &mut ConnectionManager) -> Result<(), String> {
    let reply = tokio::time::timeout(
        Duration::from_secs(2),
        redis::cmd("PING").query_async::<String>(conn),
    )
    .await;
    match reply {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// The Redis namespace of one queue: `<key_prefix>:queue:<name>`.
pub fn queue_namespace(key_prefix: &str, queue: &str) -> String {
    format!("{key_prefix}:queue:{queue}")
}
