//! `just bench`: tickets. Buyers book an event of T (default 10,000)
//! general-admission tickets, 10 a booking, through a release `marquee-api`;
//! then one release `marquee-worker --queues tickets` issues them all (sign,
//! QR as PNG and SVG, a PDF each, one email a booking to files) and the
//! bench reports tickets issued per second. Then S (default 50) concurrent
//! scanners check every ticket in once by its QR token and the bench
//! reports scans per second and p50/p99 latency, and checks that exactly T
//! scans were `ok`.
//!
//! BENCH_TICKETS and BENCH_SCANNERS tune it.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use marquee_core::auth::{AccessTokens, Role};
use marquee_core::config::{Environment, Settings, config_dir};
use marquee_core::testing::delete_prefix;
use secrecy::ExposeSecret;
use serde_json::json;
use support::{Running, common_env, fresh_database, knob, percentile_ms, release};
use uuid::Uuid;

const PER_BOOKING: usize = 10;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let tickets =
        knob("BENCH_TICKETS", 10_000).clamp(PER_BOOKING, 100_000) / PER_BOOKING * PER_BOOKING;
    let scanners = knob("BENCH_SCANNERS", 50).max(1);
    let bookings = tickets / PER_BOOKING;
    let settings = Settings::load_from(&config_dir()?, Environment::Test)?;
    let prefix = format!("bench-checkins:{}", std::process::id());
    let database = fresh_database("marquee_bench_checkins").await?;
    let pool = marquee_core::db::connect_url(&database, 4).await?;
    let client = reqwest::Client::new();
    let (api, base) = support::serve_api(&client, &database, &prefix).await?;

    let tokens = AccessTokens::new(&settings.jwt);
    let people = support::people(&pool, bookings).await?;
    let organizer = tokens.issue(people[0], Role::Organizer, Uuid::now_v7());
    let (event, ticket_type) =
        support::ga_event(&client, &base, &organizer, tickets, PER_BOOKING).await?;

    // Sell out: 50 buyers at a time.
    let booked = Arc::new(AtomicUsize::new(0));
    let buyers: Vec<String> = people[1..]
        .iter()
        .map(|p| tokens.issue(*p, Role::User, Uuid::now_v7()))
        .collect();
    futures::future::try_join_all(buyers.chunks(bookings.div_ceil(50)).map(|chunk| {
        let (client, base, event, ticket_type, booked) = (
            client.clone(),
            base.clone(),
            event.clone(),
            ticket_type.clone(),
            booked.clone(),
        );
        let chunk = chunk.to_vec();
        async move {
            for token in chunk {
                support::buy(&client, &base, (&event, &ticket_type), &token, PER_BOOKING).await?;
                booked.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }
    }))
    .await?;
    anyhow::ensure!(booked.load(Ordering::Relaxed) == bookings);

    // One worker issues everything, mailing to files in a scratch folder.
    let mail = tempfile::tempdir()?;
    let started = Instant::now();
    let worker = Running(
        release("marquee-worker")
            .args(["--queues", "tickets"])
            .envs(common_env(&database, &prefix))
            .env("MARQUEE__EMAIL__TRANSPORT", "file")
            .env("MARQUEE__EMAIL__FILE_DIR", mail.path())
            .spawn()?,
    );
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let done = sqlx::query_scalar!(
            r#"SELECT count(*) AS "done!" FROM jobs WHERE kind = 'issue_tickets' AND status = 'succeeded'"#
        )
        .fetch_one(&pool)
        .await?;
        if done as usize == bookings {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {bookings} bookings issued"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let issuing = started.elapsed();
    drop(worker);
    let rendered = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM ticket_files"#)
        .fetch_one(&pool)
        .await?;
    anyhow::ensure!(
        rendered as usize == tickets,
        "{rendered} of {tickets} rendered"
    );
    let pdf_bytes = sqlx::query_scalar!(
        r#"SELECT COALESCE(avg(length(pdf)), 0)::float8 AS "avg!" FROM ticket_files"#
    )
    .fetch_one(&pool)
    .await?;
    println!(
        "tickets: {tickets} in {bookings} bookings of {PER_BOOKING}; one worker (release), email to files"
    );
    println!("| tickets issued | wall | issued/s | avg PDF |");
    println!("|---|---|---|---|");
    println!(
        "| {tickets} | {:.1} s | {:.0} | {:.1} KB |",
        issuing.as_secs_f64(),
        tickets as f64 / issuing.as_secs_f64(),
        pdf_bytes / 1024.0
    );

    // The door: every ticket scanned once by its QR token. First flush what
    // issuing wrote (about 30 KB of files a ticket), so the scans do not
    // pay for the issuing phase's checkpoint.
    sqlx::query!("CHECKPOINT").execute(&pool).await?;
    let codes: Arc<Vec<String>> = Arc::new(
        sqlx::query_scalar!("SELECT qr_token FROM tickets ORDER BY random()")
            .fetch_all(&pool)
            .await?,
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let lanes = (0..scanners).map(|lane| {
        let (client, base, event, organizer, codes, next) =
            (client.clone(), base.clone(), event.clone(), organizer.clone(), codes.clone(), next.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut ok, mut other) = (0usize, 0usize);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(code) = codes.get(n) else { break };
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/api/v1/events/{event}/checkins"))
                    .bearer_auth(&organizer)
                    .json(&json!({"code": code, "nonce": format!("{lane}-{n}"), "device": format!("gate-{lane}")}))
                    .send()
                    .await?;
                let status = response.status().as_u16();
                response.bytes().await?;
                latencies.push(sent.elapsed());
                if status == 201 { ok += 1 } else { other += 1 }
            }
            anyhow::Ok((latencies, ok, other))
        })
    });
    let mut latencies = Vec::new();
    let (mut ok, mut other) = (0, 0);
    for lane in futures::future::join_all(lanes).await {
        let (l, o, x) = lane??;
        latencies.extend(l);
        ok += o;
        other += x;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "check-ins: {scanners} concurrent scanners, each ticket once, one API process (release)"
    );
    println!("| scans | ok | not ok | scans/s | p50 | p99 | wall |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {ok} | {other} | {:.0} | {:.2} ms | {:.2} ms | {:.1} s |",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile_ms(&latencies, 0.5),
        percentile_ms(&latencies, 0.99),
        elapsed.as_secs_f64(),
    );
    anyhow::ensure!(
        ok == tickets && other == 0,
        "every ticket must check in exactly once"
    );
    drop(api);
    pool.close().await;
    delete_prefix(settings.redis.url.expose_secret(), &prefix).await?;
    Ok(())
}
