//! What the API benches share: a fresh database, free ports, the release
//! binaries as child processes, and latency percentiles.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::PgPool;

pub mod pgbench;

/// `postgres://…/<name>`, dropped and created empty, then migrated.
/// Dynamic SQL: a database name cannot be a bind parameter (the names are
/// the benches' own constants).
#[allow(clippy::disallowed_methods)]
pub async fn fresh_database(name: &str) -> anyhow::Result<String> {
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let admin = PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres").await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    let pool = marquee_core::db::connect_url(&url, 2).await?;
    marquee_core::db::migrate(&pool).await?;
    pool.close().await;
    Ok(url)
}

/// `1 + buyers` people written directly: an organizer, then the buyers
/// (tokens are minted with the API's own test secret).
pub async fn people(pool: &PgPool, buyers: usize) -> anyhow::Result<Vec<uuid::Uuid>> {
    let people: Vec<uuid::Uuid> = (0..=buyers).map(|_| uuid::Uuid::now_v7()).collect();
    let emails: Vec<String> = people
        .iter()
        .map(|id| format!("{id}@bench.local"))
        .collect();
    sqlx::query!(
        "INSERT INTO users (id, email, name, password_hash, role)
         SELECT id, email, 'Bench Fan', 'unusable', CASE WHEN n = 1 THEN 'organizer' ELSE 'user' END
         FROM UNNEST($1::uuid[], $2::text[]) WITH ORDINALITY AS t(id, email, n)",
        &people,
        &emails,
    )
    .execute(pool)
    .await?;
    Ok(people)
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `<target>/release/<binary>` (`just bench` builds it), output silenced.
/// Found next to this bench's own executable (`<target>/release/deps/…`),
/// so a `CARGO_TARGET_DIR` outside the workspace works too.
pub fn release(binary: &str) -> Command {
    let release_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release").into());
    let mut command = Command::new(release_dir.join(binary));
    command.stdout(Stdio::null());
    command
}

/// The settings every bench process shares.
pub fn common_env(database: &str, prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MARQUEE_ENV", "test".to_owned()),
        (
            "MARQUEE_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config").to_owned(),
        ),
        ("MARQUEE__DATABASE__URL", database.to_owned()),
        ("MARQUEE__DATABASE__MAX_CONNECTIONS", "16".to_owned()),
        ("MARQUEE__REDIS__KEY_PREFIX", prefix.to_owned()),
        ("MARQUEE__LOG__FILTER", "error".to_owned()),
    ]
}

/// A release `marquee-api` on a free port over `database` (40 connections),
/// ready to serve; returns it and its base URL.
pub async fn serve_api(
    client: &reqwest::Client,
    database: &str,
    prefix: &str,
) -> anyhow::Result<(Running, String)> {
    let port = free_port();
    let api = Running(
        release("marquee-api")
            .arg("serve")
            .envs(common_env(database, prefix))
            .env("MARQUEE__DATABASE__MAX_CONNECTIONS", "40")
            .env("MARQUEE__HTTP__PORT", port.to_string())
            .spawn()?,
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(client, &base).await?;
    Ok((api, base))
}

/// Waits for `/health/ready`.
pub async fn wait_ready(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client.get(format!("{base}/health/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the API did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `p` quantile (0-1) of sorted latencies, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let at = ((sorted.len() - 1) as f64 * p) as usize;
    sorted[at].as_secs_f64() * 1e3
}

/// A child process stopped (SIGTERM, then wait) however the bench ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// A `BENCH_*` environment knob, or its default.
pub fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A published event with one general-admission type of `capacity`, at
/// most `max_per_order` a booking; returns (event id, ticket type id).
pub async fn ga_event(
    client: &reqwest::Client,
    base: &str,
    organizer: &str,
    capacity: usize,
    max_per_order: usize,
) -> anyhow::Result<(String, String)> {
    let event = publish_event(
        client,
        base,
        organizer,
        serde_json::json!({"title": "Bench", "currency": "EUR", "max_per_order": max_per_order,
            "starts_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
            "ticket_types": [{"name": "Standing", "price_cents": 1000, "capacity": capacity}]}),
    )
    .await?;
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    let ticket_type = event["ticket_types"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((id, ticket_type))
}

/// Holds `quantity` units and pays; returns the booking id.
pub async fn buy(
    client: &reqwest::Client,
    base: &str,
    (event, ticket_type): (&str, &str),
    token: &str,
    quantity: usize,
) -> anyhow::Result<String> {
    let hold: serde_json::Value = client
        .post(format!("{base}/api/v1/events/{event}/holds"))
        .bearer_auth(token)
        .json(&serde_json::json!({"ticket_type_id": ticket_type, "quantity": quantity}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let booking: serde_json::Value = client
        .post(format!("{base}/api/v1/bookings"))
        .bearer_auth(token)
        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
        .json(&serde_json::json!({"hold_id": hold["id"], "payment": {"method": "card", "token": "tok_ok"}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(booking["id"].as_str().unwrap_or_default().to_owned())
}

/// A published event with `seats` seats (a multiple of 100: rows of 100,
/// sections of up to 100 rows) at 2,500 each; returns its id.
pub async fn seated_event(
    client: &reqwest::Client,
    base: &str,
    organizer: &str,
    seats: usize,
) -> anyhow::Result<String> {
    let rows = seats / 100;
    let sections: Vec<serde_json::Value> = (0..rows.div_ceil(100))
        .map(|s| {
            let rows: Vec<serde_json::Value> = (s * 100..rows.min(s * 100 + 100))
                .map(|r| serde_json::json!({"label": format!("R{r}"), "seats": 100}))
                .collect();
            serde_json::json!({"name": format!("Floor {s}"), "rows": rows})
        })
        .collect();
    let venue: serde_json::Value = client
        .post(format!("{base}/api/v1/venues"))
        .bearer_auth(organizer)
        .json(&serde_json::json!({"name": "Arena", "sections": sections}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let prices: Vec<serde_json::Value> = venue["sections"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|section| serde_json::json!({"section_id": section["id"], "price_cents": 2500}))
        .collect();
    let event = publish_event(
        client,
        base,
        organizer,
        serde_json::json!({"title": "Rush", "currency": "EUR",
            "starts_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
            "venue_id": venue["id"], "section_prices": prices}),
    )
    .await?;
    Ok(event["id"].as_str().unwrap_or_default().to_owned())
}

/// Creates an event from `body` and publishes it; returns the created event.
async fn publish_event(
    client: &reqwest::Client,
    base: &str,
    organizer: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let event: serde_json::Value = client
        .post(format!("{base}/api/v1/events"))
        .bearer_auth(organizer)
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = event["id"].as_str().unwrap_or_default();
    client
        .post(format!("{base}/api/v1/events/{id}/publish"))
        .bearer_auth(organizer)
        .send()
        .await?
        .error_for_status()?;
    Ok(event)
}

/// The seat ids of `event`'s seat map; fails unless there are `expected`.
pub async fn seat_ids(
    client: &reqwest::Client,
    base: &str,
    event: &str,
    expected: usize,
) -> anyhow::Result<Vec<String>> {
    let map: serde_json::Value = client
        .get(format!("{base}/api/v1/events/{event}/seats"))
        .send()
        .await?
        .json()
        .await?;
    let seats: Vec<String> = map
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["seat_id"].as_str().map(str::to_owned))
        .collect();
    anyhow::ensure!(
        seats.len() == expected,
        "seat map has {} seats, expected {expected}",
        seats.len()
    );
    Ok(seats)
}

/// `total` GETs of `url` from `clients` concurrent clients; every latency.
pub async fn hammer(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    clients: usize,
    total: usize,
) -> anyhow::Result<Vec<Duration>> {
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
            let share = total / clients + usize::from(c < total % clients);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(share);
                for _ in 0..share {
                    let started = Instant::now();
                    client
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await?
                        .error_for_status()?
                        .bytes()
                        .await?;
                    latencies.push(started.elapsed());
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

/// Warms `url` up, then prints one table row: p50 and p99 of `alone`
/// requests one at a time, and requests/s, p50 and p99 of `requests`
/// from `clients` concurrent clients.
pub async fn latency_row(
    client: &reqwest::Client,
    label: &str,
    url: &str,
    token: &str,
    (clients, alone, requests): (usize, usize, usize),
) -> anyhow::Result<()> {
    hammer(client, url, token, clients, clients * 2).await?;
    let mut one = hammer(client, url, token, 1, alone).await?;
    one.sort();
    let started = Instant::now();
    let mut latencies = hammer(client, url, token, clients, requests).await?;
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "| `{label}` | {:.1} ms | {:.1} ms | {:.0} | {:.1} ms | {:.1} ms |",
        percentile_ms(&one, 0.50),
        percentile_ms(&one, 0.99),
        requests as f64 / elapsed.as_secs_f64(),
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
    );
    Ok(())
}
