//! `just bench`: the email pipeline end to end. N concurrent clients POST
//! `message` tasks to a release `marquee-api`; one release `marquee-worker`
//! delivers them to a tokio SMTP sink in this process (`support/smtp_sink.rs`,
//! which only counts; its own ceiling is measured first). Prints enqueue
//! latency (p50/p99) and mails/s from the first request until the sink has
//! received every message.
//!
//! Then a fifth as many from BENCH_LATENCY_CLIENTS clients (default 10),
//! the acceptance's latency figure, and as many as the first pass through
//! `POST /api/v1/tasks/batch` (500 per request, BENCH_BATCH_CLIENTS clients,
//! default 4).
//!
//! BENCH_EMAILS (default 10000), BENCH_CLIENTS (default 50),
//! BENCH_SMTP_CONNECTIONS (default 10) and BENCH_WORKER_CONCURRENCY
//! (default 100) tune it.

#[path = "support/smtp_sink.rs"]
mod smtp_sink;
mod support;

use std::time::{Duration, Instant};

use marquee_core::config::{Environment, Settings, config_dir};
use marquee_core::testing::delete_prefix;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use support::{
    Running, common_env, free_port, fresh_database, knob, percentile_ms, release, wait_ready,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let emails = knob("BENCH_EMAILS", 10_000);
    let clients = knob("BENCH_CLIENTS", 50).clamp(1, emails);
    let connections = knob("BENCH_SMTP_CONNECTIONS", 10);
    let concurrency = knob("BENCH_WORKER_CONCURRENCY", 100);
    let settings = Settings::load_from(&config_dir()?, Environment::Test)?;
    let prefix = format!("bench-email:{}", std::process::id());
    let database = fresh_database("marquee_bench_email").await?;

    let sink_alone = smtp_sink::sink_alone(emails, connections as u32).await?;
    let sink = smtp_sink::Sink::start().await?;
    let smtp_port = sink.port;
    let http_port = free_port();
    let base = format!("http://127.0.0.1:{http_port}");
    let common = common_env(&database, &prefix);
    let _api = Running(
        release("marquee-api")
            .arg("serve")
            .envs(common.clone())
            .env("MARQUEE__HTTP__PORT", http_port.to_string())
            .env("MARQUEE__HTTP__PUBLIC_URL", &base)
            .env("MARQUEE__RATE_LIMITS__PER_API_KEY__LIMIT", "1000000000")
            .env("MARQUEE__RATE_LIMITS__TASKS_PER_USER__LIMIT", "1000000000")
            .spawn()?,
    );
    let _worker = Running(
        release("marquee-worker")
            .args([
                "--queues",
                "email",
                "--concurrency",
                &concurrency.to_string(),
            ])
            .envs(common)
            .env("MARQUEE__EMAIL__TRANSPORT", "smtp")
            .env("MARQUEE__EMAIL__SMTP__PORT", smtp_port.to_string())
            .env(
                "MARQUEE__EMAIL__SMTP__MAX_CONNECTIONS",
                connections.to_string(),
            )
            .env("MARQUEE__WORKER__FETCH_BATCH", "100")
            .spawn()?,
    );
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await?;
    let key = api_key(&client, &base, &database).await?;
    // Registration sent a welcome email; wait for it so it is not counted.
    sink.wait_for(1, Duration::from_secs(30)).await?;

    println!(
        "email pipeline: {emails} message tasks, {clients} concurrent clients, one worker \
         (concurrency {concurrency}, {connections} SMTP connections), tokio SMTP sink \
         (alone it takes {sink_alone:.0} messages/s from lettre over {connections} connections)"
    );
    // The acceptance's latency figure is at 10 clients; the throughput one
    // at BENCH_CLIENTS. A fifth as many tasks is plenty for a p99.
    let latency_clients = knob("BENCH_LATENCY_CLIENTS", 10).clamp(1, emails);
    let passes = [
        (clients, emails),
        (latency_clients, (emails / 5).max(latency_clients)),
    ];
    println!("| clients | enqueue req/s | enqueue p50 | enqueue p99 | mails/s end to end |");
    println!("|---|---|---|---|---|");
    for (clients, count) in passes {
        let before = sink.received();
        let started = Instant::now();
        let latencies = fan_out(clients, count, |c, mine| {
            let (client, base, key) = (client.clone(), base.clone(), key.clone());
            async move { submit(&client, &base, &key, c, mine).await }
        })
        .await?;
        let enqueued = started.elapsed();
        sink.wait_for(before + count, Duration::from_secs(600))
            .await?;
        let delivered = started.elapsed();
        println!(
            "| {clients} | {:.0} | {:.2} ms | {:.2} ms | {:.0} |",
            count as f64 / enqueued.as_secs_f64(),
            percentile_ms(&latencies, 0.50),
            percentile_ms(&latencies, 0.99),
            count as f64 / delivered.as_secs_f64(),
        );
    }

    // The same number again through the batch route, 500 per request.
    let batch_clients = knob("BENCH_BATCH_CLIENTS", 4).max(1);
    let before = sink.received();
    let started = Instant::now();
    let batch_latencies = fan_out(batch_clients, emails, |c, mine| {
        let (client, base, key) = (client.clone(), base.clone(), key.clone());
        async move { submit_batches(&client, &base, &key, c, mine).await }
    })
    .await?;
    let accepted = started.elapsed();
    sink.wait_for(before + emails, Duration::from_secs(600))
        .await?;
    let delivered = started.elapsed();
    println!(
        "| batch route ({batch_clients} clients x 500 tasks) | accepted tasks/s | request p50 | request p99 | mails/s end to end |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {emails} tasks | {:.0} | {:.2} ms | {:.2} ms | {:.0} |",
        emails as f64 / accepted.as_secs_f64(),
        percentile_ms(&batch_latencies, 0.50),
        percentile_ms(&batch_latencies, 0.99),
        emails as f64 / delivered.as_secs_f64(),
    );
    delete_prefix(settings.redis.url.expose_secret(), &prefix).await?;
    Ok(())
}

/// Splits `count` tasks over `clients` concurrent senders (`send(client
/// index, its share)`) and returns every request's latency, sorted.
async fn fan_out<F, Fut>(clients: usize, count: usize, send: F) -> anyhow::Result<Vec<Duration>>
where
    F: Fn(usize, usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Vec<Duration>>> + Send + 'static,
{
    let senders: Vec<_> = (0..clients)
        .map(|c| tokio::spawn(send(c, count / clients + usize::from(c < count % clients))))
        .collect();
    let mut latencies = Vec::with_capacity(count);
    for sender in senders {
        latencies.extend(sender.await??);
    }
    latencies.sort();
    Ok(latencies)
}

/// One client of the batch route: `count` tasks, 500 per request.
async fn submit_batches(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    client_no: usize,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    for start in (0..count).step_by(500) {
        let tasks: Vec<Value> = (start..count.min(start + 500))
            .map(|n| {
                json!({"type": "message", "payload": {
                    "to": format!("batch{client_no}-{n}@example.com"),
                    "subject": "Your tickets",
                    "text": "Row A, seat 12. Doors open at 7.",
                    "html": "<p>Row A, seat 12. Doors open at 7.</p>"
                }})
            })
            .collect();
        let sent = Instant::now();
        let response = client
            .post(format!("{base}/api/v1/tasks/batch"))
            .header("x-api-key", key)
            .json(&json!({ "tasks": tasks }))
            .send()
            .await?;
        anyhow::ensure!(response.status() == 200, "got {}", response.status());
        let body: Value = response.json().await?;
        latencies.push(sent.elapsed());
        anyhow::ensure!(
            body["accepted"].as_u64() == Some(tasks.len() as u64),
            "a batch was not fully accepted: {}",
            body["results"]
        );
    }
    Ok(latencies)
}

/// One client: `count` tasks in a row; returns each request's latency.
async fn submit(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    client_no: usize,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(count);
    for n in 0..count {
        let body = json!({"type": "message", "payload": {
            "to": format!("fan{client_no}-{n}@example.com"),
            "subject": "Your tickets",
            "text": "Row A, seat 12. Doors open at 7.",
            "html": "<p>Row A, seat 12. Doors open at 7.</p>"
        }});
        let sent = Instant::now();
        let response = client
            .post(format!("{base}/api/v1/tasks"))
            .header("x-api-key", key)
            .json(&body)
            .send()
            .await?;
        latencies.push(sent.elapsed());
        anyhow::ensure!(response.status() == 202, "got {}", response.status());
    }
    Ok(latencies)
}

/// Registers the bench account, verifies its address (as the emailed code
/// would; sending needs it) and creates an `email:send` key.
async fn api_key(client: &reqwest::Client, base: &str, database: &str) -> anyhow::Result<String> {
    let session: Value = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "bench@example.com", "password": "correct horse", "name": "Bench"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = session["access_token"].as_str().unwrap_or_default();
    let user: uuid::Uuid = session["user"]["id"].as_str().unwrap_or_default().parse()?;
    let pool = marquee_core::db::connect_url(database, 1).await?;
    marquee_core::auth::mark_email_verified(&pool, user).await?;
    pool.close().await;
    let key: Value = client
        .post(format!("{base}/api/v1/api-keys"))
        .bearer_auth(token)
        .json(&json!({"name": "bench", "scopes": ["email:send"]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(key["secret"].as_str().unwrap_or_default().to_owned())
}
