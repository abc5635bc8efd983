//! `just bench`: organizer analytics at scale. One organizer with
//! BENCH_STATS_BOOKINGS bookings (default 100,000) over the last 90 days on
//! ten events, half of them on one event; a tenth cancelled and refunded
//! 60%. The rows are written straight to PostgreSQL (the rollup triggers
//! keep `event_stats` as sales would; then the fold job's work and a
//! vacuum, as in service), then a release `marquee-api`
//! answers `GET /api/v1/events/{id}/stats` for the big event and
//! `GET /api/v1/stats/overview` for the 90 days, in Europe/Paris days:
//! alone (BENCH_STATS_ALONE requests one at a time, default 100) and
//! loaded (BENCH_STATS_REQUESTS, default 500, from BENCH_CLIENTS clients,
//! default 10).

mod support;

use std::time::Instant;

use marquee_core::auth::{AccessTokens, Role};
use marquee_core::config::{Environment, Settings, config_dir};
use marquee_core::testing::delete_prefix;
use secrecy::ExposeSecret;
use support::{fresh_database, knob};

const EVENTS: usize = 10;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bookings = knob("BENCH_STATS_BOOKINGS", 100_000) as i64;
    let alone = knob("BENCH_STATS_ALONE", 100);
    let requests = knob("BENCH_STATS_REQUESTS", 500);
    let clients = knob("BENCH_CLIENTS", 10).clamp(1, requests);
    let settings = Settings::load_from(&config_dir()?, Environment::Test)?;
    let prefix = format!("bench-stats:{}", std::process::id());
    let database = fresh_database("marquee_bench_stats").await?;
    let pool = marquee_core::db::connect_url(&database, 4).await?;
    let client = reqwest::Client::new();
    let (_api, base) = support::serve_api(&client, &database, &prefix).await?;

    let people = support::people(&pool, 1_000).await?;
    let organizer =
        AccessTokens::new(&settings.jwt).issue(people[0], Role::Organizer, uuid::Uuid::now_v7());
    let mut events = Vec::new();
    let mut types = Vec::new();
    for _ in 0..EVENTS {
        let (event, ticket_type) =
            support::ga_event(&client, &base, &organizer, 1_000_000, 10).await?;
        events.push(event.parse::<uuid::Uuid>()?);
        types.push(ticket_type.parse::<uuid::Uuid>()?);
    }
    let filling = Instant::now();
    fill(&pool, &events, &types, &people[1..], bookings).await?;
    let rollup_rows = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM event_stats"#)
        .fetch_one(&pool)
        .await?;
    println!(
        "stats at scale: {bookings} bookings on {EVENTS} events of one organizer over 90 days \
         (half on one event; 10% cancelled, refunded 60%), written in {:.0} s; {rollup_rows} rollup rows",
        filling.elapsed().as_secs_f64()
    );
    println!(
        "release API; alone: {alone} requests one at a time; loaded: {requests} requests from {clients} concurrent clients"
    );
    println!("| request | alone p50 | alone p99 | loaded requests/s | loaded p50 | loaded p99 |");
    println!("|---|---|---|---|---|---|");
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Days::new(89);
    for (label, url) in [
        (
            "GET /api/v1/events/{id}/stats (50,000 bookings)",
            format!("{base}/api/v1/events/{}/stats?tz=Europe/Paris", events[0]),
        ),
        (
            "GET /api/v1/stats/overview (90 days)",
            format!("{base}/api/v1/stats/overview?from={from}&to={today}&tz=Europe/Paris"),
        ),
    ] {
        support::latency_row(&client, label, &url, &organizer, (clients, alone, requests)).await?;
    }
    delete_prefix(settings.redis.url.expose_secret(), &prefix).await?;
    Ok(())
}

/// `bookings` confirmed holds with their items and bookings, evenly over
/// the last 90 days; every even one on the first event, the rest spread;
/// every tenth cancelled a day later and refunded 60% an hour after that.
/// One script over a scratch table, so the query macros cannot check it;
/// the values in it are the bench's own ids and counts.
#[allow(clippy::disallowed_methods)]
async fn fill(
    pool: &sqlx::PgPool,
    events: &[uuid::Uuid],
    types: &[uuid::Uuid],
    buyers: &[uuid::Uuid],
    bookings: i64,
) -> anyhow::Result<()> {
    let array = |ids: &[uuid::Uuid]| {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        format!("'{{{}}}'::uuid[]", ids.join(","))
    };
    let (events, types, buyers) = (array(events), array(types), array(buyers));
    let script = format!(
        "BEGIN;
         CREATE TEMP TABLE bench_sales ON COMMIT DROP AS
         SELECT n, md5('hold' || n)::uuid AS hold, md5('booking' || n)::uuid AS booking,
                ({events})[e] AS event, ({types})[e] AS ticket_type,
                ({buyers})[1 + n % cardinality({buyers})] AS buyer,
                1 + (n % 4)::integer AS quantity,
                now() - interval '90 days' * (n::float8 / {bookings}) AS at
         FROM generate_series(1, {bookings}) AS n
         CROSS JOIN LATERAL (SELECT (CASE WHEN n % 2 = 0 THEN 1 ELSE 2 + (n / 2) % 9 END)::integer AS e) AS pick;
         INSERT INTO holds (id, event_id, user_id, status, total_cents, currency, expires_at, created_at)
         SELECT hold, event, buyer, 'confirmed', 1000 * quantity, 'EUR', at + interval '10 minutes', at
         FROM bench_sales;
         INSERT INTO hold_items (hold_id, ticket_type_id, label, quantity, price_cents)
         SELECT hold, ticket_type, 'Standing', quantity, 1000 FROM bench_sales;
         INSERT INTO bookings (id, reference, hold_id, event_id, user_id, status, total_cents,
                               currency, created_at, cancelled_at)
         SELECT booking, upper(substr(md5('ref' || n), 1, 16)), hold, event, buyer,
                CASE WHEN n % 10 = 0 THEN 'cancelled' ELSE 'confirmed' END, 1000 * quantity,
                'EUR', at, CASE WHEN n % 10 = 0 THEN least(at + interval '1 day', now()) END
         FROM bench_sales;
         INSERT INTO refunds (id, booking_id, amount_cents, currency, status, created_at, refunded_at)
         SELECT md5('refund' || n)::uuid, booking, 600 * quantity, 'EUR', 'refunded',
                least(at + interval '1 day', now()), least(at + interval '25 hours', now())
         FROM bench_sales WHERE n % 10 = 0;
         COMMIT;"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(script))
        .execute(pool)
        .await?;
    // What the fold job and autovacuum would have done by the time anyone
    // reads the figures: only the current slot stays live.
    marquee_core::insights::fold(pool, chrono::Utc::now() - chrono::Duration::minutes(15)).await?;
    sqlx::raw_sql("VACUUM ANALYZE event_stats, bookings, holds")
        .execute(pool)
        .await?;
    Ok(())
}
