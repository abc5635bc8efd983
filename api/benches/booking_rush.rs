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
    let event = support::seated_event(&client, &base, &organizer, seats).await?;
    let seat_ids = Arc::new(support::seat_ids(&client, &base, &event, seats).await?);

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
    if let Some(mib) = marquee_core::testing::peak_rss_mib(api.0.id()) {
        println!("API peak RSS (VmHWM) over the rush: {mib:.0} MiB");
    }
    // Stop the API and free its connections before pgbench takes 50.
    drop(api);
    pool.close().await;
    support::pgbench::single_row_update_tps();
    delete_prefix(settings.redis.url.expose_secret(), &prefix).await?;
    Ok(())
}
