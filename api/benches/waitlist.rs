//! `just bench`: the waitlist. An event of C (default 500) general-admission
//! tickets sells out one per buyer through a release `marquee-api`; W
//! (default 1,000) people join its waitlist, 50 at a time; then every buyer
//! cancels at once while one release `marquee-worker --queues waitlist`
//! promotes. The bench reports the time from the first cancellation until
//! every freed ticket is offered, offers per second, and how many promotion
//! jobs the burst made; and checks that exactly the first C in line hold
//! offers. Then, with no worker, the organizer raises the capacity by C and
//! runs one promotion by hand (`POST …/waitlist/promote`): the time of that
//! one walk, C offers from a standing start, is the promotion's own rate.
//!
//! BENCH_WAITLIST_CAPACITY and BENCH_WAITLIST_WAITING tune it.

mod support;

use std::time::{Duration, Instant};

use marquee_core::auth::{AccessTokens, Role};
use marquee_core::config::{Environment, Settings, config_dir};
use marquee_core::testing::delete_prefix;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use support::{Running, common_env, fresh_database, knob, release};
use uuid::Uuid;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let capacity = knob("BENCH_WAITLIST_CAPACITY", 500).clamp(1, 10_000);
    let waiting = knob("BENCH_WAITLIST_WAITING", 1_000).max(capacity);
    let settings = Settings::load_from(&config_dir()?, Environment::Test)?;
    let prefix = format!("bench-waitlist:{}", std::process::id());
    let database = fresh_database("marquee_bench_waitlist").await?;
    let pool = marquee_core::db::connect_url(&database, 4).await?;
    let client = reqwest::Client::new();
    let (api, base) = support::serve_api(&client, &database, &prefix).await?;

    let tokens = AccessTokens::new(&settings.jwt);
    let people = support::people(&pool, capacity + waiting).await?;
    let organizer = tokens.issue(people[0], Role::Organizer, Uuid::now_v7());
    let token = |p: &Uuid| tokens.issue(*p, Role::User, Uuid::now_v7());
    let buyers: Vec<String> = people[1..=capacity].iter().map(token).collect();
    let waiters: Vec<String> = people[capacity + 1..].iter().map(token).collect();
    let (event, ticket_type) = support::ga_event(&client, &base, &organizer, capacity, 10).await?;

    let bookings = in_lanes(&buyers, |t| {
        support::buy(&client, &base, (&event, &ticket_type), t, 1)
    })
    .await?;
    let started = Instant::now();
    let joined = in_lanes(&waiters, |t| join(&client, &base, &event, &ticket_type, t)).await?;
    let joining = started.elapsed();
    let mut positions: Vec<i64> = joined.iter().map(|j| j.parse().unwrap_or(0)).collect();
    positions.sort();
    anyhow::ensure!(
        positions == (1..=waiting as i64).collect::<Vec<_>>(),
        "positions must be 1 to {waiting}"
    );

    let worker = Running(
        release("marquee-worker")
            .args(["--queues", "waitlist"])
            .envs(common_env(&database, &prefix))
            .spawn()?,
    );
    tokio::time::sleep(Duration::from_secs(1)).await; // the worker is up
    let started = Instant::now();
    let cancels = buyers.iter().zip(&bookings).map(|(token, booking)| {
        let client = client.clone();
        let url = format!("{base}/api/v1/bookings/{booking}/cancel");
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await?
                .error_for_status()?;
            anyhow::Ok(())
        }
    });
    futures::future::try_join_all(cancels).await?;
    let cancelling = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let offered = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM waitlist_entries WHERE status = 'offered'"#
        )
        .fetch_one(&pool)
        .await?;
        if offered as usize == capacity {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {offered} of {capacity} offered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let offering = started.elapsed();
    let check = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM (SELECT status FROM waitlist_entries ORDER BY seq LIMIT $1) f
                   WHERE status = 'offered') AS "first!",
                  (SELECT count(*) FROM jobs WHERE kind = 'promote_waitlist') AS "jobs!",
                  (SELECT sum(sold + held) FROM ticket_types) AS "taken!""#,
        capacity as i64,
    )
    .fetch_one(&pool)
    .await?;
    anyhow::ensure!(
        check.first as usize == capacity && check.taken as usize == capacity,
        "the first {capacity} in line must hold every ticket"
    );
    drop(worker);

    // A standing start: C more units, one promotion walked by hand.
    let more = capacity.min(waiting - capacity);
    client
        .patch(format!(
            "{base}/api/v1/events/{event}/ticket-types/{ticket_type}"
        ))
        .bearer_auth(&organizer)
        .json(&json!({"capacity": capacity + more}))
        .send()
        .await?
        .error_for_status()?;
    let started = Instant::now();
    let promoted: Value = client
        .post(format!("{base}/api/v1/events/{event}/waitlist/promote"))
        .bearer_auth(&organizer)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let walking = started.elapsed();
    anyhow::ensure!(
        promoted["offers"].as_u64() == Some(more as u64),
        "one walk must offer all {more}: {promoted}"
    );
    println!(
        "waitlist: {capacity} tickets sold out, {waiting} waiting; all {capacity} bookings cancelled at once; one worker --queues waitlist (release)"
    );
    println!(
        "| joins/s (50 at a time) | cancels done | every offer made | offers/s | promote jobs |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {:.0} | {:.2} s | {:.2} s | {:.0} | {} |",
        waiting as f64 / joining.as_secs_f64(),
        cancelling.as_secs_f64(),
        offering.as_secs_f64(),
        capacity as f64 / offering.as_secs_f64(),
        check.jobs,
    );
    println!(
        "one promotion by hand (no worker), after a capacity raise of {more}: {more} offers in {:.2} s = {:.0} offers/s",
        walking.as_secs_f64(),
        more as f64 / walking.as_secs_f64(),
    );
    drop(api);
    pool.close().await;
    delete_prefix(settings.redis.url.expose_secret(), &prefix).await?;
    Ok(())
}

/// Runs `each` over `tokens`, 50 at a time; returns the answers in order.
async fn in_lanes<'a, F, Fut>(tokens: &'a [String], each: F) -> anyhow::Result<Vec<String>>
where
    F: Fn(&'a str) -> Fut,
    Fut: Future<Output = anyhow::Result<String>>,
{
    use futures::StreamExt;
    let answers = futures::stream::iter(tokens.iter().map(|t| each(t)))
        .buffered(50)
        .collect::<Vec<_>>()
        .await;
    answers.into_iter().collect()
}

/// Joins the waitlist for one unit; returns the position.
async fn join(
    client: &reqwest::Client,
    base: &str,
    event: &str,
    ticket_type: &str,
    token: &str,
) -> anyhow::Result<String> {
    let joined: Value = client
        .post(format!("{base}/api/v1/events/{event}/waitlist"))
        .bearer_auth(token)
        .json(&json!({"quantity": 1, "ticket_type_id": ticket_type}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(joined["position"].to_string())
}
