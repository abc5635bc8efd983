//! `just bench`: cached catalog reads. N concurrent clients GET
//! `/api/v1/events` (the demo catalog, served from Redis) from a release
//! `marquee-api`, and, run the same way against the same server, the
//! trivial JSON endpoint `/health/ping` as a baseline for poem itself.
//!
//! BENCH_READS (default 20000 per endpoint) and BENCH_CLIENTS (default 50)
//! tune it.

mod support;

use std::time::{Duration, Instant};

use marquee_core::config::{Environment, Settings, config_dir};
use marquee_core::testing::delete_prefix;
use secrecy::ExposeSecret;
use support::{
    Running, common_env, free_port, fresh_database, knob, percentile_ms, release, wait_ready,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let reads = knob("BENCH_READS", 20_000);
    let clients = knob("BENCH_CLIENTS", 50).clamp(1, reads);
    let settings = Settings::load_from(&config_dir()?, Environment::Test)?;
    let prefix = format!("bench-catalog:{}", std::process::id());
    let database = fresh_database("marquee_bench_catalog").await?;
    let common = common_env(&database, &prefix);
    let seeded = release("marquee-api")
        .arg("seed")
        .envs(common.clone())
        .status()?;
    anyhow::ensure!(seeded.success(), "marquee-api seed failed");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _api = Running(
        release("marquee-api")
            .arg("serve")
            .envs(common)
            .env("MARQUEE__HTTP__PORT", port.to_string())
            .spawn()?,
    );
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await?;

    println!(
        "catalog reads: {reads} GETs per endpoint, {clients} concurrent clients, one API process"
    );
    println!("| endpoint | requests/s | p50 | p99 |");
    println!("|---|---|---|---|");
    for path in [
        "/api/v1/events",
        "/api/v1/events?q=hall&per_page=10",
        "/health/ping",
    ] {
        // Warm up (and fill the cache) before measuring.
        hammer(&client, &format!("{base}{path}"), clients, clients * 10).await?;
        let started = Instant::now();
        let mut latencies = hammer(&client, &format!("{base}{path}"), clients, reads).await?;
        let elapsed = started.elapsed();
        latencies.sort();
        println!(
            "| `GET {path}` | {:.0} | {:.2} ms | {:.2} ms |",
            reads as f64 / elapsed.as_secs_f64(),
            percentile_ms(&latencies, 0.50),
            percentile_ms(&latencies, 0.99),
        );
    }
    delete_prefix(settings.redis.url.expose_secret(), &prefix).await?;
    Ok(())
}

/// `total` GETs of `url` from `clients` concurrent clients; every latency.
async fn hammer(
    client: &reqwest::Client,
    url: &str,
    clients: usize,
    total: usize,
) -> anyhow::Result<Vec<Duration>> {
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, url) = (client.clone(), url.to_owned());
            let mine = total / clients + usize::from(c < total % clients);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(mine);
                for _ in 0..mine {
                    let sent = Instant::now();
                    let response = client.get(&url).send().await?;
                    anyhow::ensure!(response.status() == 200, "{url}: {}", response.status());
                    response.bytes().await?;
                    latencies.push(sent.elapsed());
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}
