//! `just bench`: a booking rush. N clients (default 2,000) each try to buy
//! one seat of M (default 1,000) of one event through a release
//! `marquee-api`: hold a random seat still shown available, then pay
//! (`tok_ok`); a client whose hold loses the race tries another seat, up
//! to three times. Prints sold, oversold (must be 0), 5xx, holds/s,
//! confirms/s and p50/p99 latencies, then this machine's PostgreSQL
//! ceiling for single-row updates (pgbench) to compare with.
//!
//! BENCH_CLIENTS and BENCH_SEATS tune it.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use marquee_core::auth::{AccessTokens, Role};
use marquee_core::config::{Environment, Settings, config_dir};
use marquee_core::testing::delete_prefix;
use rand::seq::IndexedRandom;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use support::{fresh_database, knob, percentile_ms};
use uuid::Uuid;

/// The database's own count of what the rush sold.
struct Outcome {
    sold: i64,
    oversold: i64,
    booked_seats: i64,
}

#[derive(Default)]
struct Tally {
    holds: Vec<Duration>,
    confirms: Vec<Duration>,
    server_errors: usize,
    lost_races: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients = knob("BENCH_CLIENTS", 2_000);
    let seats = knob("BENCH_SEATS", 1_000).clamp(100, 10_000);
    let settings = Settings::load_from(&config_dir()?, Environment::Test)?;
    let prefix = format!("bench-rush:{}", std::process::id());
    let database = fresh_database("marquee_bench_rush").await?;
    let pool = marquee_core::db::connect_url(&database, 4).await?;
    let client = reqwest::Client::new();
    let (api, base) = support::serve_api(&client, &database, &prefix).await?;

    // The organizer and the buyers, written directly; tokens minted with the
    // API's own (test) secret.
    let tokens = AccessTokens::new(&settings.jwt);
    let people = support::people(&pool, clients).await?;
    let organizer = tokens.issue(people[0], Role::Organizer, Uuid::now_v7());
    let event = rush_event(&client, &base, &organizer, seats).await?;
    let map: Value = client
        .get(format!("{base}/api/v1/events/{event}/seats"))
        .send()
        .await?
        .json()
        .await?;
    let seat_ids: Arc<Vec<String>> = Arc::new(
        map.as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .filter_map(|s| s["seat_id"].as_str().map(str::to_owned))
            .collect(),
    );
    anyhow::ensure!(
        seat_ids.len() == seats,
        "seat map has {} seats",
        seat_ids.len()
    );

    println!(
        "booking rush: {clients} clients, {seats} seats, one API process (release), fake payments"
    );
    let taken = Arc::new(std::sync::Mutex::new(
        std::collections::HashSet::<String>::new(),
    ));
    let sold_counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = people[1..]
        .iter()
        .map(|person| {
            let token = tokens.issue(*person, Role::User, Uuid::now_v7());
            let (client, base, event) = (client.clone(), base.clone(), event.clone());
            let (seat_ids, taken, sold_counter) = (seat_ids.clone(), taken.clone(), sold_counter.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                for attempt in 0..3 {
                    let seat = {
                        let taken = taken.lock().expect("not poisoned");
                        let free: Vec<&String> = seat_ids.iter().filter(|s| !taken.contains(*s)).collect();
                        match free.choose(&mut rand::rng()) {
                            Some(seat) => (*seat).clone(),
                            None => break,
                        }
                    };
                    let sent = Instant::now();
                    let response = client
                        .post(format!("{base}/api/v1/events/{event}/holds"))
                        .bearer_auth(&token)
                        .json(&json!({"seats": [seat]}))
                        .send()
                        .await?;
                    tally.holds.push(sent.elapsed());
                    let status = response.status().as_u16();
                    if status >= 500 {
                        tally.server_errors += 1;
                        continue;
                    }
                    if status == 409 {
                        tally.lost_races += 1;
                        taken.lock().expect("not poisoned").insert(seat);
                        continue;
                    }
                    anyhow::ensure!(status == 201, "hold: {status}");
                    let hold: Value = response.json().await?;
                    let sent = Instant::now();
                    let response = client
                        .post(format!("{base}/api/v1/bookings"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", format!("rush-{attempt}"))
                        .json(&json!({"hold_id": hold["id"], "payment": {"method": "card", "token": "tok_ok"}}))
                        .send()
                        .await?;
                    tally.confirms.push(sent.elapsed());
                    let status = response.status().as_u16();
                    if status >= 500 {
                        tally.server_errors += 1;
                        continue;
                    }
                    anyhow::ensure!(status == 201, "booking: {status}");
                    taken.lock().expect("not poisoned").insert(seat);
                    sold_counter.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                anyhow::Ok(tally)
            })
        })
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        let tally = task.await??;
        all.holds.extend(tally.holds);
        all.confirms.extend(tally.confirms);
        all.server_errors += tally.server_errors;
        all.lost_races += tally.lost_races;
    }
    let elapsed = started.elapsed();

    let Outcome {
        sold,
        oversold,
        booked_seats,
    } = sqlx::query_as!(
        Outcome,
        r#"SELECT (SELECT count(*) FROM event_seats WHERE status = 'sold') AS "sold!",
                (SELECT count(*) FROM (SELECT i.seat_id FROM bookings b JOIN hold_items i ON i.hold_id = b.hold_id
                  WHERE b.status = 'confirmed' GROUP BY i.seat_id HAVING count(*) > 1) d) AS "oversold!",
                (SELECT count(*) FROM bookings b JOIN hold_items i ON i.hold_id = b.hold_id WHERE b.status = 'confirmed') AS "booked_seats!""#,
    )
    .fetch_one(&pool)
    .await?;
    all.holds.sort();
    all.confirms.sort();
    println!(
        "| sold | oversold | 5xx | lost races (409) | holds/s | confirms/s | hold p50 / p99 | confirm p50 / p99 | wall |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {sold} of {seats} ({booked_seats} booked seats) | {oversold} | {} | {} | {:.0} | {:.0} | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {:.1} s |",
        all.server_errors,
        all.lost_races,
        all.holds.len() as f64 / elapsed.as_secs_f64(),
        all.confirms.len() as f64 / elapsed.as_secs_f64(),
        percentile_ms(&all.holds, 0.5),
        percentile_ms(&all.holds, 0.99),
        percentile_ms(&all.confirms, 0.5),
        percentile_ms(&all.confirms, 0.99),
        elapsed.as_secs_f64(),
    );
    anyhow::ensure!(oversold == 0 && sold == booked_seats, "OVERSOLD");
    // Stop the API and free its connections before pgbench takes 50.
    drop(api);
    pool.close().await;
    pgbench_ceiling();
    delete_prefix(settings.redis.url.expose_secret(), &prefix).await?;
    Ok(())
}

/// A published event with `seats` seats (rows of 100) at 2,500 each.
async fn rush_event(
    client: &reqwest::Client,
    base: &str,
    organizer: &str,
    seats: usize,
) -> anyhow::Result<String> {
    let rows: Vec<Value> = (0..seats / 100)
        .map(|r| json!({"label": format!("R{r}"), "seats": 100}))
        .collect();
    let venue: Value = client
        .post(format!("{base}/api/v1/venues"))
        .bearer_auth(organizer)
        .json(&json!({"name": "Arena", "sections": [{"name": "Floor", "rows": rows}]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let event: Value = client
        .post(format!("{base}/api/v1/events"))
        .bearer_auth(organizer)
        .json(&json!({"title": "Rush", "currency": "EUR",
            "starts_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
            "venue_id": venue["id"], "section_prices": [{"section_id": venue["sections"][0]["id"], "price_cents": 2500}]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    client
        .post(format!("{base}/api/v1/events/{id}/publish"))
        .bearer_auth(organizer)
        .send()
        .await?
        .error_for_status()?;
    Ok(id)
}

/// pgbench on a scratch database: 50 clients, 10 s of single-row UPDATEs.
fn pgbench_ceiling() {
    let bin = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|dir| format!("{}/pgbench", dir.trim()))
        .unwrap_or_else(|| "pgbench".to_owned());
    let script = std::env::temp_dir().join("marquee-update-one-row.sql");
    let _ = std::fs::write(
        &script,
        "\\set aid random(1, 100000)\nUPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n",
    );
    let psql = |sql: &str| {
        Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-qc", sql])
            .status()
    };
    let _ = psql("DROP DATABASE IF EXISTS marquee_pgbench");
    let _ = psql("CREATE DATABASE marquee_pgbench");
    let init = Command::new(&bin)
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-i",
            "-q",
            "-s",
            "1",
            "marquee_pgbench",
        ])
        .output();
    let run = Command::new(&bin)
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-n",
            "-c",
            "50",
            "-j",
            "2",
            "-T",
            "10",
            "-f",
        ])
        .arg(&script)
        .arg("marquee_pgbench")
        .output();
    match (init, run) {
        (Ok(_), Ok(out)) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let tps = text.lines().find(|l| l.starts_with("tps")).map_or_else(
                || {
                    format!(
                        "not reported: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )
                },
                str::to_owned,
            );
            println!("PostgreSQL ceiling, single-row UPDATE (pgbench -c 50 -j 2 -T 10): {tps}");
        }
        _ => println!("PostgreSQL ceiling: pgbench not found (apt-get install postgresql-contrib)"),
    }
    let _ = psql("DROP DATABASE IF EXISTS marquee_pgbench");
}
