//! Redis connections: lazy and self-healing, so a Redis restart never needs
//! a Marquee restart; one type for a single server and for Redis Cluster.
//!
//! On a cluster every multi-key operation must stay inside one hash slot.
//! Marquee's keys are laid out for that: each queue's keys share the hash
//! tag of [`queue_namespace`], and every script's extra keys are built from
//! its first key. Batches over many unrelated keys (revoking sessions) are
//! sent as separate commands, never as one pipeline.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, Value};
use secrecy::ExposeSecret;

use crate::config::{RedisMode, RedisSettings};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a command may wait for its reply.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to a single Redis or to a Redis Cluster; cheap to clone,
/// shared by every task of a process.
#[derive(Clone)]
pub enum RedisConn {
    /// One server (`redis.mode = "standalone"`).
    Single(ConnectionManager),
    /// A cluster (`redis.mode = "cluster"`): commands go to the master of
    /// their key's slot and follow it through failovers.
    Cluster(ClusterConnection),
}

impl RedisConn {
    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(cmd, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// A connection that connects on first use and reconnects after failures,
/// to the server or cluster `settings` name.
pub fn connect(settings: &RedisSettings) -> redis::RedisResult<RedisConn> {
    match settings.mode {
        RedisMode::Standalone => connect_url(settings.url.expose_secret()),
        RedisMode::Cluster => {
            let client = cluster_client(settings).build()?;
            let config = redis::cluster::ClusterConfig::new()
                .set_connection_timeout(CONNECT_TIMEOUT)
                .set_response_timeout(RESPONSE_TIMEOUT);
            Ok(RedisConn::Cluster(
                client.get_pending_async_connection_with_config(config),
            ))
        }
    }
}

/// The cluster's seed nodes: `redis.urls`, or `redis.url` alone.
pub fn cluster_seeds(settings: &RedisSettings) -> Vec<String> {
    // `MARQUEE__REDIS__URLS=` (empty) or a trailing comma give empty entries.
    let seeds: Vec<String> = settings
        .urls
        .iter()
        .map(|url| url.expose_secret().trim().to_owned())
        .filter(|url| !url.is_empty())
        .collect();
    if seeds.is_empty() {
        vec![settings.url.expose_secret().to_owned()]
    } else {
        seeds
    }
}

/// A cluster client builder over the seeds, with Marquee's timeouts.
pub fn cluster_client(settings: &RedisSettings) -> ClusterClientBuilder {
    ClusterClientBuilder::new(cluster_seeds(settings))
        .tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true))
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        // Enough to ride out a failover (cluster-node-timeout plus the
        // election), not so many that an outage hangs a request.
        .retries(8)
        .max_retry_wait(1_000)
}

/// A connection to the single server at `url`.
pub fn connect_url(url: &str) -> redis::RedisResult<RedisConn> {
    // Nagle off, as PostgreSQL (sqlx 0.9.1) and SMTP (vendor/lettre) have
    // it: a command written in two pieces (a large script call) would
    // otherwise wait for Redis's delayed ACK, 40 ms on Linux.
    let info = redis::IntoConnectionInfo::into_connection_info(url)?
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    let client = redis::Client::open(info)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config).map(RedisConn::Single)
}

/// PING with a deadline, for readiness checks. On a cluster it asks one
/// node: one master failing over must not make every replica of the API
/// unready at once (the commands that need that master wait it out).
pub async fn ping(conn: &mut RedisConn) -> Result<(), String> {
    let ping = async {
        match conn {
            RedisConn::Single(conn) => redis::cmd("PING").query_async::<()>(conn).await,
            RedisConn::Cluster(conn) => {
                let any = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
                conn.route_command(redis::cmd("PING"), any).await.map(drop)
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// At start: refuses to run when Redis is plainly not what `redis.mode`
/// says, since the other kind answers keyed commands with errors (`MOVED`,
/// or "cluster support disabled") that callers such as the rate limiter
/// would take for an outage. Asked with `CLUSTER INFO`; a Redis that does
/// not answer, or does not allow the command (an ACL, a proxy), is only
/// logged, and a one-shard cluster (no `MOVED` ever) is allowed in
/// standalone mode.
pub async fn check_mode(conn: &RedisConn) -> anyhow::Result<()> {
    let mut conn = conn.clone();
    let asked = async {
        match &mut conn {
            RedisConn::Single(conn) => {
                redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async::<String>(conn)
                    .await
            }
            RedisConn::Cluster(conn) => {
                let any = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
                let mut info = redis::cmd("CLUSTER");
                info.arg("INFO");
                match conn.route_command(info, any).await {
                    Ok(reply) => redis::from_redis_value::<String>(reply).map_err(|e| {
                        redis::RedisError::from((
                            redis::ErrorKind::Parse,
                            "CLUSTER INFO",
                            e.to_string(),
                        ))
                    }),
                    Err(e) => Err(e),
                }
            }
        }
    };
    let answer = tokio::time::timeout(Duration::from_secs(2), asked).await;
    let cluster = matches!(conn, RedisConn::Cluster(_));
    match answer {
        Ok(Ok(info)) => {
            let size = info
                .lines()
                .find_map(|line| line.strip_prefix("cluster_size:"))
                .and_then(|n| n.trim().parse::<u32>().ok())
                .unwrap_or(0);
            if !cluster && size > 1 {
                anyhow::bail!(
                    "redis.mode is \"standalone\" but redis.url is a node of a Redis Cluster with \
                     {size} masters: set redis.mode = \"cluster\" (and redis.urls)"
                );
            }
            Ok(())
        }
        Ok(Err(e)) if cluster && e.to_string().contains("cluster support disabled") => {
            anyhow::bail!(
                "redis.mode is \"cluster\" but the server at redis.urls (or redis.url) has \
                 cluster support disabled: set redis.mode = \"standalone\""
            )
        }
        // A single server says "cluster support disabled": as it should.
        Ok(Err(e)) if !cluster && e.to_string().contains("cluster support disabled") => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not check that Redis matches redis.mode; going on");
            Ok(())
        }
        Err(_) => {
            tracing::warn!("Redis did not answer at start; going on");
            Ok(())
        }
    }
}

/// The Redis namespace of one queue, `{<key_prefix>:queue:<name>}`: the
/// braces make it the hash tag of every key of the queue
/// (`{marquee:queue:email}:active`, ...), so on a cluster a queue lives in
/// one slot and apalis-redis's scripts never cross slots, while different
/// queues spread over the masters.
pub fn queue_namespace(key_prefix: &str, queue: &str) -> String {
    format!("{{{key_prefix}:queue:{queue}}}")
}

/// Sets each key to `value` for `ttl_seconds`, one command per key so the
/// keys may live in different slots. Concurrent commands share the
/// connection's pipeline, so this costs one round trip on a single server.
pub async fn set_each_ex(
    conn: &RedisConn,
    keys: impl IntoIterator<Item = String>,
    value: &str,
    ttl_seconds: u64,
) -> redis::RedisResult<()> {
    let writes = keys.into_iter().map(|key| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("EX")
                .arg(ttl_seconds)
                .query_async::<()>(&mut conn)
                .await
        }
    });
    futures::future::try_join_all(writes).await.map(|_| ())
}
