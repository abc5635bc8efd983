//! `just bench`: a booking rush held for a while. N clients (default 2,000)
//! hold and pay for seats of one event with M seats (default 20,000), over
//! and over, for S seconds (default 30), through a release `marquee-api`:
//! each takes a random seat nobody has taken yet, holds it, pays (`tok_ok`)
//! and starts again. Prints holds/s, confirms/s and their latencies, then
//! this machine's single-row UPDATE ceiling (pgbench) measured in the same
//! run, and the rates as shares of it (targets: holds 25%, confirms 10%).
//!
//! BENCH_CLIENTS, BENCH_SEATS and BENCH_SECONDS tune it.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use marquee_core::auth::{AccessTokens, Role};
use marquee_core::config::{Environment, Settings, config_dir};
use marquee_core::testing::delete_prefix;
use rand::Rng;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use support::{fresh_database, knob, percentile_ms};
use uuid::Uuid;

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
    let seats = knob("BENCH_SEATS", 20_000).clamp(100, 500_000) / 100 * 100;
    let seconds = knob("BENCH_SECONDS", 30) as u64;
    let settings = Settings::load_from(&config_dir()?, Environment::Test)?;
    let prefix = format!("bench-steady:{}", std::process::id());
    let database = fresh_database("marquee_bench_steady").await?;
    let pool = marquee_core::db::connect_url(&database, 4).await?;
    let client = reqwest::Client::new();
    let (api, base) = support::serve_api(&client, &database, &prefix).await?;
    let tokens = AccessTokens::new(&settings.jwt);
    let people = support::people(&pool, clients).await?;
    let organizer = tokens.issue(people[0], Role::Organizer, Uuid::now_v7());
    let event = support::seated_event(&client, &base, &organizer, seats).await?;
    let free = support::seat_ids(&client, &base, &event, seats).await?;
    let free = Arc::new(Mutex::new(free));

    println!(
        "steady booking: {clients} clients, {seats} seats, {seconds} s, one API process (release), fake payments"
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = people[1..]
        .iter()
        .map(|person| {
            let token = tokens.issue(*person, Role::User, Uuid::now_v7());
            let (client, base, event, free) =
                (client.clone(), base.clone(), event.clone(), free.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut round = 0u32;
                while Instant::now() < deadline {
                    round += 1;
                    // Seats are handed out once: a hold that loses anyway
                    // (another API write got there) is a real 409.
                    let seat = {
                        let mut free = free.lock().expect("not poisoned");
                        if free.is_empty() {
                            break;
                        }
                        let at = rand::rng().random_range(0..free.len());
                        free.swap_remove(at)
                    };
                    let sent = Instant::now();
                    let response = client
                        .post(format!("{base}/api/v1/events/{event}/holds"))
                        .bearer_auth(&token)
                        .json(&json!({"seats": [seat]}))
                        .send()
                        .await?;
                    tally.holds.push(sent.elapsed());
                    match response.status().as_u16() {
                        201 => {}
                        409 => {
                            tally.lost_races += 1;
                            continue;
                        }
                        s if s >= 500 => {
                            tally.server_errors += 1;
                            continue;
                        }
                        s => anyhow::bail!("hold: {s}"),
                    }
                    let hold: Value = response.json().await?;
                    let sent = Instant::now();
                    let response = client
                        .post(format!("{base}/api/v1/bookings"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", format!("steady-{round}"))
                        .json(&json!({"hold_id": hold["id"], "payment": {"method": "card", "token": "tok_ok"}}))
                        .send()
                        .await?;
                    tally.confirms.push(sent.elapsed());
                    match response.status().as_u16() {
                        201 => {}
                        s if s >= 500 => tally.server_errors += 1,
                        s => anyhow::bail!("booking: {s}"),
                    }
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
    let elapsed = started.elapsed().as_secs_f64();
    let oversold: i64 = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (SELECT i.seat_id FROM bookings b
             JOIN hold_items i ON i.hold_id = b.hold_id
            WHERE b.status = 'confirmed' GROUP BY i.seat_id HAVING count(*) > 1) d"#
    )
    .fetch_one(&pool)
    .await?;
    all.holds.sort();
    all.confirms.sort();
    let (holds, confirms) = (
        all.holds.len() as f64 / elapsed,
        all.confirms.len() as f64 / elapsed,
    );
    println!(
        "| holds/s | confirms/s | hold p50 / p99 | confirm p50 / p99 | 5xx | lost races (409) | oversold | wall |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {holds:.0} | {confirms:.0} | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {} | {} | {oversold} | {elapsed:.1} s |",
        percentile_ms(&all.holds, 0.5),
        percentile_ms(&all.holds, 0.99),
        percentile_ms(&all.confirms, 0.5),
        percentile_ms(&all.confirms, 0.99),
        all.server_errors,
        all.lost_races,
    );
    if let Some(mib) = marquee_core::testing::peak_rss_mib(api.0.id()) {
        println!("API peak RSS (VmHWM): {mib:.0} MiB");
    }
    anyhow::ensure!(oversold == 0, "OVERSOLD");
    drop(api);
    pool.close().await;
    if let Some(tps) = support::pgbench::single_row_update_tps() {
        println!(
            "holds/s = {:.1}% of that TPS (target 25%), confirms/s = {:.1}% (target 10%)",
            holds / tps * 100.0,
            confirms / tps * 100.0
        );
    }
    delete_prefix(settings.redis.url.expose_secret(), &prefix).await?;
    Ok(())
}
