//! `just bench`: live fan-out. BENCH_LIVE_CLIENTS (default 2,000) clients
//! hold `GET /api/v1/events/{id}/live` open on one release `marquee-api`.
//! BENCH_LIVE_ROUNDS times (default 30), a buyer holds one unit of the
//! event through the same API; every client's receipt of the snapshot that
//! shows it is timed from the moment the hold's response arrived (the
//! commit is before it). Prints p50, p99 and max over every receipt, how
//! many arrived, and the API's peak RSS.
//!
//! Needs `ulimit -n` above twice the clients (the justfile raises it).

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use marquee_core::auth::{AccessTokens, Role};
use marquee_core::config::{Environment, Settings, config_dir};
use marquee_core::testing::delete_prefix;
use secrecy::ExposeSecret;
use support::{Running, common_env, fresh_database, knob, percentile_ms};
use tokio::sync::mpsc;

const CAPACITY: i64 = 100_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients = knob("BENCH_LIVE_CLIENTS", 2_000);
    let rounds = knob("BENCH_LIVE_ROUNDS", 30);
    let settings = Settings::load_from(&config_dir()?, Environment::Test)?;
    let prefix = format!("bench-live:{}", std::process::id());
    let database = fresh_database("marquee_bench_live").await?;
    let pool = marquee_core::db::connect_url(&database, 2).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let port = support::free_port();
    let api = Running(
        support::release("marquee-api")
            .arg("serve")
            .envs(common_env(&database, &prefix))
            .env("MARQUEE__HTTP__PORT", port.to_string())
            .env(
                "MARQUEE__LIVE__MAX_STREAMS_PER_IP",
                (clients + 10).to_string(),
            )
            .spawn()?,
    );
    let base = format!("http://127.0.0.1:{port}");
    support::wait_ready(&client, &base).await?;

    let people = support::people(&pool, rounds).await?;
    let tokens = AccessTokens::new(&settings.jwt);
    let organizer = tokens.issue(people[0], Role::Organizer, uuid::Uuid::now_v7());
    let (event, ticket_type) =
        support::ga_event(&client, &base, &organizer, CAPACITY as usize, 10).await?;

    // Every client reports (its index, tickets_available, when) per snapshot.
    let (seen_tx, mut seen) = mpsc::unbounded_channel::<(usize, i64, Instant)>();
    let url = format!("{base}/api/v1/events/{event}/live");
    let opening = Instant::now();
    let mut watchers = Vec::with_capacity(clients);
    for index in 0..clients {
        let (client, url, seen_tx) = (client.clone(), url.clone(), seen_tx.clone());
        watchers.push(tokio::spawn(watch(client, url, index, seen_tx)));
        if index % 100 == 99 {
            tokio::task::yield_now().await;
        }
    }
    let mut connected = 0;
    while connected < clients {
        match tokio::time::timeout(Duration::from_secs(60), seen.recv()).await {
            Ok(Some((_, available, _))) if available == CAPACITY => connected += 1,
            Ok(Some(_)) => {}
            _ => anyhow::bail!("only {connected} of {clients} streams opened"),
        }
    }
    println!(
        "live fan-out: {clients} SSE clients on one release API (opened in {:.1} s), {rounds} holds of one unit",
        opening.elapsed().as_secs_f64()
    );

    let mut latencies = Vec::with_capacity(clients * rounds);
    let mut missing = 0;
    for (round, person) in people.iter().enumerate().skip(1) {
        let buyer = tokens.issue(*person, Role::User, uuid::Uuid::now_v7());
        let expected = CAPACITY - round as i64;
        client
            .post(format!("{base}/api/v1/events/{event}/holds"))
            .bearer_auth(&buyer)
            .json(&serde_json::json!({"ticket_type_id": ticket_type, "quantity": 1}))
            .send()
            .await?
            .error_for_status()?;
        let committed = Instant::now();
        let mut got = vec![false; clients];
        let mut count = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while count < clients {
            match tokio::time::timeout_at(deadline, seen.recv()).await {
                Ok(Some((index, available, at))) if available == expected && !got[index] => {
                    got[index] = true;
                    count += 1;
                    latencies.push(at.saturating_duration_since(committed));
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        missing += clients - count;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    latencies.sort();
    println!(
        "| {clients} | {rounds} | {} of {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} MiB |",
        latencies.len(),
        clients * rounds,
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        marquee_core::testing::peak_rss_mib(api.0.id()).unwrap_or(0.0),
    );
    anyhow::ensure!(missing == 0, "{missing} receipts missing");

    for watcher in watchers {
        watcher.abort();
    }
    drop(api);
    pool.close().await;
    delete_prefix(settings.redis.url.expose_secret(), &prefix).await?;
    Ok(())
}

/// One client: opens the stream and reports each snapshot's
/// `tickets_available` (read from the text, not parsed: the bench shares
/// the machine with the API, and 2,000 JSON parsers would weigh on it).
async fn watch(
    client: reqwest::Client,
    url: String,
    index: usize,
    seen: mpsc::UnboundedSender<(usize, i64, Instant)>,
) -> anyhow::Result<()> {
    let response = client.get(&url).send().await?.error_for_status()?;
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = body.next().await {
        let at = Instant::now();
        buffer.push_str(std::str::from_utf8(&chunk?)?);
        while let Some(end) = buffer.find("\n\n") {
            let message: String = buffer.drain(..end + 2).collect();
            if let Some(available) = field(&message, "\"tickets_available\":") {
                let _ = seen.send((index, available, at));
            }
        }
    }
    Ok(())
}

fn field(message: &str, key: &str) -> Option<i64> {
    let start = message.find(key)? + key.len();
    let digits: String = message[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
