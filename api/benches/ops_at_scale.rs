//! `just bench`: the operator endpoints over a big ledger. Fills the job
//! ledger with BENCH_LEDGER_ROWS rows (default 10,000,000: seven days of
//! finished jobs on seven queues, 1% dead, a 1% backlog of ready jobs and
//! some retrying) and 48 hours of minute history, then measures, from a release
//! `marquee-api` with every cache off (`http.metrics_cache_seconds = 0`):
//! `GET /api/v1/ops/queues`, `GET /health/metrics`, the Prometheus scrape,
//! job listings (a filter, an error substring, a deep cursor page), and a
//! bulk retry and a bulk cancel by filter of over 10,000 jobs each.
//!
//! Each read is timed alone (BENCH_OPS_ALONE requests one at a time, default
//! 50: the latency one operator sees) and loaded (BENCH_OPS_REQUESTS, default
//! 300, from BENCH_CLIENTS concurrent clients, default 10).

mod support;

use std::time::Instant;

use marquee_core::auth::{AccessTokens, Role};
use marquee_core::config::{Environment, Settings, config_dir};
use marquee_core::testing::delete_prefix;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use support::{Running, common_env, free_port, fresh_database, knob, release, wait_ready};

/// Rows written per statement while filling.
const FILL_CHUNK: i64 = 500_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows = knob("BENCH_LEDGER_ROWS", 10_000_000) as i64;
    let requests = knob("BENCH_OPS_REQUESTS", 300);
    let clients = knob("BENCH_CLIENTS", 10).clamp(1, requests);
    let alone = knob("BENCH_OPS_ALONE", 50);
    let settings = Settings::load_from(&config_dir()?, Environment::Test)?;
    let prefix = format!("bench-ops:{}", std::process::id());
    let database = fresh_database("marquee_bench_ops").await?;
    let pool = marquee_core::db::connect_url(&database, 4).await?;

    let filling = Instant::now();
    fill(&pool, rows).await?;
    let admin = uuid::Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO users (id, email, name, password_hash, role)
         VALUES ($1, 'ops@bench.local', 'Operator', 'unusable', 'admin')",
        admin
    )
    .execute(&pool)
    .await?;
    let token = AccessTokens::new(&settings.jwt).issue(admin, Role::Admin, uuid::Uuid::now_v7());
    println!(
        "ops at scale: {rows} ledger rows written and vacuumed in {:.0} s",
        filling.elapsed().as_secs_f64()
    );

    let port = free_port();
    let metrics_port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _api = Running(
        release("marquee-api")
            .arg("serve")
            .envs(common_env(&database, &prefix))
            .env("MARQUEE__HTTP__PORT", port.to_string())
            .env("MARQUEE__HTTP__METRICS_PORT", metrics_port.to_string())
            .env("MARQUEE__HTTP__METRICS_CACHE_SECONDS", "0")
            .spawn()?,
    );
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await?;

    let dead_page: Value = client
        .get(format!(
            "{base}/api/v1/ops/jobs?state=dead&queue=email&limit=1000"
        ))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let deep = dead_page["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    println!(
        "caches off; alone: {alone} requests one at a time; loaded: {requests} requests from {clients} concurrent clients"
    );
    println!("| request | alone p50 | alone p99 | loaded requests/s | loaded p50 | loaded p99 |");
    println!("|---|---|---|---|---|---|");
    for (label, url) in [
        (
            "GET /api/v1/ops/queues",
            format!("{base}/api/v1/ops/queues"),
        ),
        ("GET /health/metrics", format!("{base}/health/metrics")),
        (
            "GET /metrics (Prometheus)",
            format!("http://127.0.0.1:{metrics_port}/metrics"),
        ),
        (
            "GET /api/v1/ops/jobs?state=dead",
            format!("{base}/api/v1/ops/jobs?state=dead&limit=50"),
        ),
        (
            "GET /api/v1/ops/jobs?error=… (substring)",
            format!("{base}/api/v1/ops/jobs?error=mailbox%20unavailable%20%2317&limit=50"),
        ),
        (
            "GET /api/v1/ops/jobs?queue=email&cursor=… (page 21)",
            format!("{base}/api/v1/ops/jobs?queue=email&state=dead&limit=50&cursor={deep}"),
        ),
        (
            "GET /api/v1/ops/jobs?queue=email&state=succeeded",
            format!("{base}/api/v1/ops/jobs?queue=email&state=succeeded&limit=50"),
        ),
        (
            "GET /api/v1/ops/history (60 min, all queues)",
            format!("{base}/api/v1/ops/history"),
        ),
    ] {
        support::latency_row(&client, label, &url, &token, (clients, alone, requests)).await?;
    }

    println!("| bulk action | jobs changed | time |");
    println!("|---|---|---|");
    for (label, path, body) in [
        (
            "retry every dead `email` job (filter)",
            "/api/v1/ops/jobs/retry",
            json!({"filter": {"state": "dead", "queue": "email"}}),
        ),
        (
            "cancel every ready `system` job (filter)",
            "/api/v1/ops/jobs/cancel",
            json!({"filter": {"state": "ready", "queue": "system"}}),
        ),
    ] {
        let started = Instant::now();
        let outcome: Value = client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        println!(
            "| {label} | {} | {:.2} s |",
            outcome["changed"],
            started.elapsed().as_secs_f64()
        );
    }
    delete_prefix(settings.redis.url.expose_secret(), &prefix).await?;
    Ok(())
}

/// Writes `rows` ledger rows: created over the last seven days, spread over
/// seven queues; 1% dead, a 1% backlog of ready jobs, 0.01% retrying; the
/// rest succeeded and pruned. Then 48 hours of minute history
/// from 4 workers, and VACUUM ANALYZE (what autovacuum does in service).
async fn fill(pool: &sqlx::PgPool, rows: i64) -> anyhow::Result<()> {
    let mut from = 0;
    while from < rows {
        let to = (from + FILL_CHUNK).min(rows);
        sqlx::query!(
            r#"INSERT INTO jobs (id, queue, kind, payload, status, attempts, max_attempts,
                               last_error, request_id, dispatches, worker, run_at, created_at,
                               updated_at, dispatched_at, started_at, finished_at, pruned_at,
                               attempt_log)
               -- A UUIDv7 of the row's creation time, as the enqueue writes.
               SELECT (lpad(to_hex((extract(epoch FROM at) * 1000)::int8), 12, '0') || '7'
                       || substr(md5(n::text), 1, 3) || '8' || substr(md5(n::text), 4, 15))::uuid,
                      q.queue, q.queue || '_job',
                      jsonb_build_object('id', gen_random_uuid()),
                      s.status,
                      CASE WHEN s.status = 'dead' THEN 5 WHEN s.status = 'dispatched' THEN 0 ELSE 1 END,
                      5,
                      CASE WHEN s.status IN ('dead', 'retrying')
                           THEN 'smtp: 550 mailbox unavailable #' || (n % 50) END,
                      'req-' || n, 1, 'bench-worker', NULL, at, at, at, at,
                      CASE WHEN s.status IN ('succeeded', 'dead') THEN at END,
                      CASE WHEN s.status IN ('succeeded', 'dead') THEN at + interval '10 minutes' END,
                      '[]'::jsonb
               FROM generate_series($1::int8, $2::int8 - 1) AS n
               CROSS JOIN LATERAL (SELECT now() - (($3::int8 - n) * interval '60 milliseconds') AS at) AS t
               CROSS JOIN LATERAL (SELECT (ARRAY['email', 'system', 'otp', 'tickets', 'waitlist',
                                                 'refunds', 'subscriptions'])[1 + n % 7] AS queue) AS q
               CROSS JOIN LATERAL (SELECT CASE WHEN n % 100 = 0 THEN 'dead'
                                               WHEN n % 100 = 1 THEN 'ready'
                                               WHEN n % 10000 = 2 THEN 'retrying'
                                               ELSE 'succeeded' END AS status) AS s0
               CROSS JOIN LATERAL (SELECT CASE WHEN s0.status = 'ready' THEN 'dispatched'
                                               ELSE s0.status END AS status) AS s"#,
            from,
            to,
            rows,
        )
        .execute(pool)
        .await?;
        from = to;
    }
    sqlx::query!(
        "INSERT INTO queue_minutes (queue, minute, slot, processed, failed)
         SELECT q, m, s, 100, 1
         FROM unnest(ARRAY['email', 'system', 'otp', 'tickets', 'waitlist', 'refunds', 'subscriptions']) AS q,
              generate_series(date_trunc('minute', now()) - interval '48 hours',
                              date_trunc('minute', now()), interval '1 minute') AS m,
              generate_series(0, 3) AS s"
    )
    .execute(pool)
    .await?;
    // VACUUM is a utility statement the query macros cannot describe.
    #[allow(clippy::disallowed_methods)]
    sqlx::raw_sql("VACUUM ANALYZE jobs, queue_minutes")
        .execute(pool)
        .await?;
    Ok(())
}
