//! Organizer analytics add up: a random history of sales, partial and full
//! refunds, a cancelled event, check-ins and expired holds, made through
//! the API and a real worker, gives the same figures as counts taken
//! straight from the raw rows; and `stats rebuild` gives identical JSON.

mod common;

use chrono::{Duration, Utc};
use common::tickets::me;
use common::waitlist::buy_units;
use common::*;
use marquee_core::testing::TestContext;
use marquee_worker::testing::SmtpSink;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// An organizer's shop: three events in two currencies, people to buy.
struct Shop {
    app: TestApp,
    sink: SmtpSink,
    alice: String,
    /// (event id, GA ticket type id) of each event.
    events: Vec<(String, String)>,
    people: Vec<String>,
}

async fn ga_event(
    app: &TestApp,
    token: &str,
    currency: &str,
    capacity: i32,
    price: i32,
) -> (String, String) {
    let body = json!({"title": format!("{currency} show"), "currency": currency, "tags": ["live"],
        "starts_at": (Utc::now() + Duration::days(30)).to_rfc3339(), "max_per_order": 10,
        "ticket_types": [{"name": "GA", "price_cents": price, "capacity": capacity}]});
    let event = json_of(
        call(app, Method::POST, "/api/v1/events", Some(token), Some(body)).await,
        201,
    )
    .await;
    let id = event["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/events/{id}/publish");
    let event = json_of(call(app, Method::POST, &path, Some(token), None).await, 200).await;
    (
        id,
        event["ticket_types"][0]["id"].as_str().unwrap().to_owned(),
    )
}

async fn shop() -> Shop {
    let sink = SmtpSink::start();
    let mut ctx = TestContext::new().await;
    sink.configure(&mut ctx.settings);
    let app = TestApp::spawn_with(ctx).await;
    // A seated EUR event whose policy refunds 60% less a 150 fee: partial
    // refunds.
    let (alice, seated) = event_on_sale(&app, 8, 12).await;
    let seated_id = seated["id"].as_str().unwrap().to_owned();
    let policy = json!({"allow": true, "deadline_hours_before_start": 0,
        "refund_tiers": [{"hours_before_start": 0, "refund_percent": 60}],
        "fee": {"type": "fixed", "amount": 150}});
    let path = format!("/api/v1/events/{seated_id}/cancellation-policy");
    json_of(
        call(&app, Method::PUT, &path, Some(&alice), Some(policy)).await,
        200,
    )
    .await;
    let seated_ga = seated["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let usd = ga_event(&app, &alice, "USD", 15, 1999).await;
    let doomed = ga_event(&app, &alice, "EUR", 10, 700).await;
    let people = people(&app, 6).await;
    Shop {
        app,
        sink,
        alice,
        events: vec![(seated_id, seated_ga), usd, doomed],
        people,
    }
}

impl Shop {
    async fn drain(&self) {
        let mut settings = self.app.ctx.settings.clone();
        self.sink.configure(&mut settings);
        drain_with(&self.app, settings).await;
    }

    fn pool(&self) -> &PgPool {
        &self.app.ctx.pool
    }

    async fn free_seat(&self, event: &str) -> Option<String> {
        let map = json_of(
            self.app.get(&format!("/api/v1/events/{event}/seats")).await,
            200,
        )
        .await;
        map.as_array()?
            .iter()
            .find(|s| s["available"] == true)
            .map(|s| s["seat_id"].as_str().unwrap().to_owned())
    }

    async fn checkout(&self, token: &str, hold: &str, card: &str) -> u16 {
        let response = self
            .app
            .client
            .post(self.app.url("/api/v1/bookings"))
            .bearer_auth(token)
            .header("Idempotency-Key", Uuid::now_v7().to_string())
            .json(&json!({"hold_id": hold, "payment": {"method": "card", "token": card}}))
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }

    /// A random history through the API; every answer is one a client can
    /// get (a sold-out hold is a 409, an expired one's checkout a 410).
    async fn random_history(&self, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        // (token, hold id) of holds not yet checked out.
        let mut holds: Vec<(String, String)> = Vec::new();
        for _ in 0..36 {
            let person = self.people[rng.random_range(0..self.people.len())].clone();
            let (event, ga) = &self.events[rng.random_range(0..2)];
            match rng.random_range(0..10) {
                0..=3 => {
                    let body = match (event == &self.events[0].0, rng.random_bool(0.5)) {
                        (true, true) => match self.free_seat(event).await {
                            Some(seat) => json!({"seats": [seat]}),
                            None => continue,
                        },
                        _ => json!({"ticket_type_id": ga, "quantity": rng.random_range(1..4)}),
                    };
                    let path = format!("/api/v1/events/{event}/holds");
                    let response =
                        call(&self.app, Method::POST, &path, Some(&person), Some(body)).await;
                    let status = response.status().as_u16();
                    assert!(status == 201 || status == 409, "hold gave {status}");
                    if status == 201 {
                        let hold = response.json::<Value>().await.unwrap();
                        holds.push((person, hold["id"].as_str().unwrap().to_owned()));
                    }
                }
                4..=6 if !holds.is_empty() => {
                    let (token, hold) = holds.swap_remove(rng.random_range(0..holds.len()));
                    let card = if rng.random_bool(0.8) {
                        "tok_ok"
                    } else {
                        "tok_declined"
                    };
                    let status = self.checkout(&token, &hold, card).await;
                    assert!([201, 402, 410].contains(&status), "checkout gave {status}");
                }
                7 if !holds.is_empty() => {
                    // Let a hold run out: it stays counted as a hold made.
                    let (_, hold) = holds.swap_remove(rng.random_range(0..holds.len()));
                    expire(self.pool(), &hold).await;
                }
                8 if !holds.is_empty() => {
                    let (token, hold) = holds.swap_remove(rng.random_range(0..holds.len()));
                    let path = format!("/api/v1/holds/{hold}");
                    let status = call(&self.app, Method::DELETE, &path, Some(&token), None)
                        .await
                        .status();
                    assert!(status.is_success(), "release gave {status}");
                }
                _ => self.cancel_one(&mut rng).await,
            }
        }
        // Holds left open: half are checked out, the rest run out.
        for (n, (token, hold)) in holds.iter().enumerate() {
            if n % 2 == 0 {
                self.checkout(token, hold, "tok_ok").await;
            } else {
                expire(self.pool(), hold).await;
            }
        }
        sweep_expired_holds(&self.app).await;
        self.drain().await;
    }

    /// Someone cancels a random confirmed booking of theirs (a partial
    /// refund on the seated event, a full one elsewhere).
    async fn cancel_one(&self, rng: &mut StdRng) {
        let booking = sqlx::query!(
            "SELECT id, user_id FROM bookings WHERE status = 'confirmed' ORDER BY id OFFSET $1 LIMIT 1",
            rng.random_range(0..4_i64)
        )
        .fetch_optional(self.pool()).await.unwrap()
        .map(|b| (b.id, b.user_id));
        let Some((booking, user)) = booking else {
            return;
        };
        let token = self.token_of(user).await;
        let path = format!("/api/v1/bookings/{booking}/cancel");
        let status = call(
            &self.app,
            Method::POST,
            &path,
            Some(&token),
            Some(json!({"reason": "busy"})),
        )
        .await
        .status();
        assert!(status == 200 || status == 409, "cancel gave {status}");
    }

    async fn token_of(&self, user: Uuid) -> String {
        for token in &self.people {
            if me(&self.app, token).await == user.to_string() {
                return token.clone();
            }
        }
        panic!("no token for {user}");
    }

    /// Scans a few tickets of the seated event in.
    async fn check_in(&self, n: i64) {
        let event: Uuid = self.events[0].0.parse().unwrap();
        let tokens = sqlx::query_scalar!(
            "SELECT qr_token FROM tickets WHERE event_id = $1 AND status = 'valid' ORDER BY id LIMIT $2",
            event, n
        )
        .fetch_all(self.pool()).await.unwrap();
        for (i, code) in tokens.iter().enumerate() {
            let body = json!({"code": code, "nonce": format!("n{i}"), "device": "door"});
            let path = format!("/api/v1/events/{}/checkins", self.events[0].0);
            let response = call(
                &self.app,
                Method::POST,
                &path,
                Some(&self.alice),
                Some(body),
            )
            .await;
            assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        }
    }

    async fn stats(&self, event: &str, tz: &str) -> Value {
        let path = format!("/api/v1/events/{event}/stats?tz={tz}");
        json_of(
            call(&self.app, Method::GET, &path, Some(&self.alice), None).await,
            200,
        )
        .await
    }
}

async fn expire(pool: &PgPool, hold: &str) {
    let hold: Uuid = hold.parse().unwrap();
    sqlx::query!(
        "UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = $1",
        hold
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query!(
        "UPDATE event_seats SET held_until = now() - interval '1 second' WHERE hold_id = $1 AND status = 'held'",
        hold
    )
    .execute(pool).await.unwrap();
}

async fn sweep_expired_holds(app: &TestApp) {
    let mut tx = app.ctx.pool.begin().await.unwrap();
    let job = marquee_core::jobs::enqueue(&mut tx, &marquee_core::booking::holds::ExpireHolds {})
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let producer = marquee_core::jobs::Producer::new(
        app.ctx.pool.clone(),
        app.ctx.redis(),
        app.ctx.settings.redis.key_prefix.clone(),
    );
    producer.dispatch(&[job]).await;
}

/// The figures of `event`, counted from the raw rows alone.
async fn raw_figures(pool: &PgPool, event: &str) -> Value {
    let event: Uuid = event.parse().unwrap();
    let r = sqlx::query!(
        r#"SELECT
             (SELECT count(*) FROM bookings WHERE event_id = $1) AS "bookings!",
             (SELECT count(*) FROM bookings WHERE event_id = $1 AND status = 'cancelled') AS "cancellations!",
             (SELECT coalesce(sum(i.quantity), 0)::bigint FROM bookings b JOIN hold_items i ON i.hold_id = b.hold_id
               WHERE b.event_id = $1) AS "tickets_sold!",
             (SELECT coalesce(sum(i.quantity), 0)::bigint FROM bookings b JOIN hold_items i ON i.hold_id = b.hold_id
               WHERE b.event_id = $1 AND b.status = 'cancelled') AS "tickets_cancelled!",
             (SELECT count(*) FROM holds WHERE event_id = $1) AS "holds!",
             (SELECT coalesce(sum(total_cents), 0)::bigint FROM bookings WHERE event_id = $1) AS "gross!",
             (SELECT coalesce(sum(r.amount_cents), 0)::bigint FROM refunds r JOIN bookings b ON b.id = r.booking_id
               WHERE b.event_id = $1 AND r.status = 'refunded') AS "refunded!",
             (SELECT count(*) FROM tickets WHERE event_id = $1 AND status IN ('valid', 'used')) AS "valid!",
             (SELECT count(*) FROM tickets WHERE event_id = $1 AND status = 'used') AS "used!",
             (SELECT count(*) FROM tickets WHERE event_id = $1 AND status = 'revoked') AS "revoked!",
             (SELECT count(*) FROM event_seats WHERE event_id = $1 AND status = 'sold')
               + (SELECT coalesce(sum(sold), 0) FROM ticket_types WHERE event_id = $1)::bigint AS "sold!",
             (SELECT count(*) FROM event_seats WHERE event_id = $1 AND status <> 'blocked')
               + (SELECT coalesce(sum(capacity), 0) FROM ticket_types WHERE event_id = $1)::bigint AS "capacity!""#,
        event,
    )
    .fetch_one(pool).await.unwrap();
    json!({
        "bookings": r.bookings, "cancellations": r.cancellations, "tickets_sold": r.tickets_sold,
        "tickets_cancelled": r.tickets_cancelled, "holds": r.holds,
        "revenue": {"gross_cents": r.gross, "refunded_cents": r.refunded},
        "tickets": {"valid": r.valid, "checked_in": r.used, "revoked": r.revoked},
        "inventory": {"sold": r.sold, "capacity": r.capacity},
    })
}

/// Per local day: bookings, tickets and gross by booking time,
/// cancellations by cancel time, refunds by payout time; days with any.
async fn raw_days(pool: &PgPool, event: &str, tz: &str) -> Vec<(String, i64, i64, i64, i64, i64)> {
    let event: Uuid = event.parse().unwrap();
    let rows = sqlx::query!(
        r#"SELECT day::text AS "day!", sum(bookings)::bigint AS "bookings!", sum(tickets)::bigint AS "tickets!",
                sum(gross)::bigint AS "gross!", sum(cancellations)::bigint AS "cancellations!",
                sum(refunded)::bigint AS "refunded!"
         FROM (
           SELECT (b.created_at AT TIME ZONE $2)::date AS day, 1 AS bookings,
                  (SELECT sum(quantity) FROM hold_items i WHERE i.hold_id = b.hold_id) AS tickets,
                  b.total_cents AS gross, 0 AS cancellations, 0 AS refunded
           FROM bookings b WHERE b.event_id = $1
           UNION ALL
           SELECT (b.cancelled_at AT TIME ZONE $2)::date, 0, 0, 0, 1, 0
           FROM bookings b WHERE b.event_id = $1 AND b.status = 'cancelled'
           UNION ALL
           SELECT (r.refunded_at AT TIME ZONE $2)::date, 0, 0, 0, 0, r.amount_cents
           FROM refunds r JOIN bookings b ON b.id = r.booking_id
           WHERE b.event_id = $1 AND r.status = 'refunded'
         ) facts GROUP BY day ORDER BY day"#,
        event,
        tz,
    )
    .fetch_all(pool).await.unwrap();
    rows.into_iter()
        .map(|r| {
            (
                r.day,
                r.bookings,
                r.tickets,
                r.gross,
                r.cancellations,
                r.refunded,
            )
        })
        .collect()
}

fn api_days(stats: &Value) -> Vec<(String, i64, i64, i64, i64, i64)> {
    stats["sales_per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_owned(),
                d["bookings"].as_i64().unwrap(),
                d["tickets"].as_i64().unwrap(),
                d["gross_cents"].as_i64().unwrap(),
                d["cancellations"].as_i64().unwrap(),
                d["refunded_cents"].as_i64().unwrap(),
            )
        })
        .filter(|d| (d.1, d.4, d.5) != (0, 0, 0))
        .collect()
}

/// Every figure of `stats` against the raw rows.
async fn assert_adds_up(shop: &Shop, event: &str, stats: &Value, tz: &str) {
    let raw = raw_figures(shop.pool(), event).await;
    for key in [
        "bookings",
        "cancellations",
        "tickets_sold",
        "tickets_cancelled",
        "holds",
    ] {
        assert_eq!(stats[key], raw[key], "{key} of {event}");
    }
    for key in ["gross_cents", "refunded_cents"] {
        assert_eq!(
            stats["revenue"][key], raw["revenue"][key],
            "revenue.{key} of {event}"
        );
    }
    let net = raw["revenue"]["gross_cents"].as_i64().unwrap()
        - raw["revenue"]["refunded_cents"].as_i64().unwrap();
    assert_eq!(stats["revenue"]["net_cents"], net);
    assert_eq!(stats["tickets"], raw["tickets"], "tickets of {event}");
    assert_eq!(stats["inventory"]["sold"], raw["inventory"]["sold"]);
    assert_eq!(stats["inventory"]["capacity"], raw["inventory"]["capacity"]);
    // What was sold and not cancelled is what the inventory shows sold.
    let kept = raw["tickets_sold"].as_i64().unwrap() - raw["tickets_cancelled"].as_i64().unwrap();
    assert_eq!(
        raw["inventory"]["sold"].as_i64().unwrap(),
        kept,
        "inventory agrees with bookings"
    );
    let i = &stats["inventory"];
    assert_eq!(
        i["available"].as_i64().unwrap(),
        i["capacity"].as_i64().unwrap() - i["sold"].as_i64().unwrap() - i["held"].as_i64().unwrap()
    );
    let bookings = raw["bookings"].as_f64().unwrap();
    if bookings > 0.0 {
        let expected =
            (raw["cancellations"].as_f64().unwrap() / bookings * 10_000.0).round() / 10_000.0;
        assert_eq!(stats["cancel_rate"].as_f64().unwrap(), expected);
        let conversion = (bookings / raw["holds"].as_f64().unwrap() * 10_000.0).round() / 10_000.0;
        assert_eq!(stats["hold_conversion"].as_f64().unwrap(), conversion);
    }
    assert_eq!(
        api_days(stats),
        raw_days(shop.pool(), event, tz).await,
        "days of {event} in {tz}"
    );
}

#[tokio::test]
async fn random_histories_add_up_and_rebuild_to_the_same_figures() {
    for seed in [7, 1_234, 99_991] {
        let shop = shop().await;
        shop.random_history(seed).await;
        shop.check_in(3).await;
        // The organizer calls the third event off after selling some of it.
        let (doomed, ga) = &shop.events[2];
        for token in &shop.people[..3] {
            buy_units(&shop.app, token, doomed, ga, 2).await;
        }
        let path = format!("/api/v1/events/{doomed}/cancel");
        json_of(
            call(&shop.app, Method::POST, &path, Some(&shop.alice), None).await,
            200,
        )
        .await;
        shop.drain().await;
        let refunded = count(
            &shop.app,
            "SELECT count(*) FROM refunds WHERE status = 'refunded'",
        )
        .await;
        assert!(
            refunded >= 3,
            "seed {seed}: the cancelled event refunded its bookings"
        );

        let zones = ["UTC", "Asia/Kathmandu", "America/Los_Angeles"];
        let mut before = Vec::new();
        for (n, (event, _)) in shop.events.iter().enumerate() {
            let tz = zones[(seed as usize + n) % zones.len()];
            let stats = shop.stats(event, tz).await;
            assert_adds_up(&shop, event, &stats, tz).await;
            before.push(stats);
        }
        let overview_path = "/api/v1/stats/overview?tz=Asia/Kathmandu";
        let overview = json_of(
            call(
                &shop.app,
                Method::GET,
                overview_path,
                Some(&shop.alice),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_overview_adds_up(&shop, &overview).await;

        // Wipe the rollups: the rebuild gives the same answers.
        sqlx::query!("DELETE FROM event_stats")
            .execute(shop.pool())
            .await
            .unwrap();
        assert_eq!(
            shop.stats(&shop.events[0].0, "UTC").await["bookings"],
            0,
            "wiped"
        );
        if seed == 7 {
            rebuild_with_the_cli(&shop.app);
        } else {
            marquee_core::insights::rebuild(shop.pool()).await.unwrap();
        }
        for (n, (event, _)) in shop.events.iter().enumerate() {
            let tz = zones[(seed as usize + n) % zones.len()];
            assert_eq!(
                shop.stats(event, tz).await,
                before[n],
                "seed {seed}: rebuilt {event}"
            );
        }
        let rebuilt = json_of(
            call(
                &shop.app,
                Method::GET,
                overview_path,
                Some(&shop.alice),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(rebuilt, overview, "seed {seed}: rebuilt overview");
    }
}

/// `marquee-api stats rebuild` against the test's database.
fn rebuild_with_the_cli(app: &TestApp) {
    use secrecy::ExposeSecret;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_marquee-api"))
        .args(["stats", "rebuild"])
        .env(
            "MARQUEE_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
        )
        .env("MARQUEE_ENV", "test")
        .env(
            "MARQUEE__DATABASE__URL",
            app.ctx.settings.database.url.expose_secret(),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("analytics rebuilt"), "{stdout}");
}

/// Totals per currency and the per-day series against the raw rows (all of
/// this history falls inside the default 30 days).
async fn assert_overview_adds_up(shop: &Shop, overview: &Value) {
    let totals: Vec<(String, i64, i64, i64, i64)> = sqlx::query!(
        r#"SELECT e.currency, count(*) AS "bookings!", coalesce(sum(b.total_cents), 0)::bigint AS "gross!",
                count(*) FILTER (WHERE b.status = 'cancelled') AS "cancellations!",
                coalesce((SELECT sum(r.amount_cents) FROM refunds r JOIN bookings b2 ON b2.id = r.booking_id
                          JOIN events e2 ON e2.id = b2.event_id
                          WHERE e2.currency = e.currency AND r.status = 'refunded'), 0)::bigint AS "refunded!"
         FROM bookings b JOIN events e ON e.id = b.event_id GROUP BY e.currency ORDER BY e.currency"#
    )
    .fetch_all(shop.pool()).await.unwrap()
    .into_iter()
    .map(|t| (t.currency, t.bookings, t.gross, t.cancellations, t.refunded))
    .collect();
    let api: Vec<(String, i64, i64, i64, i64)> = overview["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["currency"].as_str().unwrap().to_owned(),
                t["bookings"].as_i64().unwrap(),
                t["gross_cents"].as_i64().unwrap(),
                t["cancellations"].as_i64().unwrap(),
                t["refunded_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(api, totals, "totals per currency, never mixed");
    for t in overview["totals"].as_array().unwrap() {
        let net = t["gross_cents"].as_i64().unwrap() - t["refunded_cents"].as_i64().unwrap();
        assert_eq!(t["net_cents"], net);
        let currency = t["currency"].as_str().unwrap();
        let days: Vec<&Value> = overview["revenue_per_day"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["currency"] == currency)
            .collect();
        assert_eq!(days.len(), 30, "every day of the range");
        let sum: i64 = days.iter().map(|d| d["net_cents"].as_i64().unwrap()).sum();
        assert_eq!(sum, net, "{currency}: the days add up to the total");
    }
    let top = overview["top_by_tickets"].as_array().unwrap();
    assert!(
        top.windows(2)
            .all(|w| w[0]["tickets_sold"].as_i64() >= w[1]["tickets_sold"].as_i64())
    );
    let live = &overview["top_tags"][0];
    assert_eq!(live["tag"], "live");
}

/// A booking of `event` made at `at`, written as the raw rows checkout
/// writes (the rollups follow by themselves).
async fn booked_at(pool: &PgPool, event: &str, ga: &str, buyer: Uuid, at: &str, cents: i32) {
    let (event, ga): (Uuid, Uuid) = (event.parse().unwrap(), ga.parse().unwrap());
    let at: chrono::DateTime<Utc> = at.parse().unwrap();
    let hold = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO holds (id, event_id, user_id, status, total_cents, currency, expires_at, created_at)
         VALUES ($1, $2, $3, 'confirmed', $4, 'EUR', $5, $5)",
        hold, event, buyer, cents, at
    )
    .execute(pool).await.unwrap();
    sqlx::query!(
        "INSERT INTO hold_items (hold_id, ticket_type_id, label, quantity, price_cents) VALUES ($1, $2, 'GA', 1, $3)",
        hold, ga, cents
    )
    .execute(pool).await.unwrap();
    sqlx::query!(
        "INSERT INTO bookings (id, reference, hold_id, event_id, user_id, status, total_cents, currency, created_at)
         VALUES ($1, $2, $3, $4, $5, 'confirmed', $6, 'EUR', $7)",
        Uuid::now_v7(), format!("R{}", &hold.simple().to_string()[20..]), hold, event, buyer, cents, at
    )
    .execute(pool).await.unwrap();
}

#[tokio::test]
async fn days_are_calendar_days_in_the_zone_asked_for() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    let (event, ga) = ga_event(&app, &alice, "EUR", 50, 1000).await;
    let buyer: Uuid = me(&app, &people(&app, 1).await[0]).await.parse().unwrap();
    // Kathmandu is UTC+05:45: 18:14 UTC is 23:59 there, 18:15 is midnight.
    booked_at(
        &app.ctx.pool,
        &event,
        &ga,
        buyer,
        "2026-03-01T18:14:00Z",
        1000,
    )
    .await;
    booked_at(
        &app.ctx.pool,
        &event,
        &ga,
        buyer,
        "2026-03-01T18:15:00Z",
        2000,
    )
    .await;
    booked_at(
        &app.ctx.pool,
        &event,
        &ga,
        buyer,
        "2026-03-03T09:00:00Z",
        4000,
    )
    .await;
    let days = |tz: &'static str| {
        let (app, alice, event) = (&app, &alice, &event);
        async move {
            let path = format!("/api/v1/events/{event}/stats?tz={tz}");
            let stats = json_of(call(app, Method::GET, &path, Some(alice), None).await, 200).await;
            stats["sales_per_day"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    (
                        d["day"].as_str().unwrap().to_owned(),
                        d["gross_cents"].as_i64().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let day = |d: &str, cents: i64| (d.to_owned(), cents);
    assert_eq!(
        days("UTC").await,
        [
            day("2026-03-01", 3000),
            day("2026-03-02", 0),
            day("2026-03-03", 4000)
        ]
    );
    assert_eq!(
        days("Asia/Kathmandu").await,
        [
            day("2026-03-01", 1000),
            day("2026-03-02", 2000),
            day("2026-03-03", 4000)
        ]
    );
    assert_eq!(
        days("America/Los_Angeles").await,
        [
            day("2026-03-01", 3000),
            day("2026-03-02", 0),
            day("2026-03-03", 4000)
        ]
    );

    let overview = |query: &'static str| {
        let (app, alice) = (&app, &alice);
        async move {
            let path = format!("/api/v1/stats/overview?{query}");
            json_of(call(app, Method::GET, &path, Some(alice), None).await, 200).await
        }
    };
    let one_day = overview("from=2026-03-02&to=2026-03-02&tz=Asia/Kathmandu").await;
    assert_eq!(
        one_day["totals"],
        json!([{"currency": "EUR", "events": 1, "bookings": 1, "cancellations": 0,
        "tickets_sold": 1, "tickets_cancelled": 0, "gross_cents": 2000, "refunded_cents": 0, "net_cents": 2000}])
    );
    assert_eq!(one_day["revenue_per_day"].as_array().unwrap().len(), 1);
    let utc = overview("from=2026-03-01&to=2026-03-03").await;
    assert_eq!(utc["totals"][0]["gross_cents"], 7000);
    assert_eq!(utc["top_by_tickets"][0]["tickets_sold"], 3);
    assert_eq!(utc["top_by_revenue"][0]["net_cents"], 7000);
    let empty = overview("from=2025-01-01&to=2025-01-31").await;
    assert_eq!(empty["totals"], json!([]));
    assert_eq!(empty["revenue_per_day"], json!([]));
}

#[tokio::test]
async fn only_the_organizer_and_admins_see_an_events_figures() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    let bob = organizer(&app, "bob@example.com").await;
    let (event, _) = ga_event(&app, &alice, "EUR", 5, 1000).await;
    let get = |path: String, token: String| {
        let app = &app;
        async move { call(app, Method::GET, &path, Some(&token), None).await }
    };
    let stats = format!("/api/v1/events/{event}/stats");
    json_of(get(stats.clone(), alice.clone()).await, 200).await;
    problem(get(stats.clone(), bob.clone()).await, 404).await;
    problem(
        get(
            format!("/api/v1/events/{}/stats", Uuid::now_v7()),
            alice.clone(),
        )
        .await,
        404,
    )
    .await;
    let user = people(&app, 1).await.remove(0);
    problem(get(stats.clone(), user.clone()).await, 403).await;
    problem(get("/api/v1/stats/overview".into(), user).await, 403).await;
    let admin = admin_token(&app).await;
    json_of(get(stats.clone(), admin.clone()).await, 200).await;
    assert_eq!(app.get(&stats).await.status(), 401);

    for (path, field) in [
        (format!("{stats}?tz=Mars/Olympus"), "tz"),
        ("/api/v1/stats/overview?tz=Nowhere".to_owned(), "tz"),
        (
            "/api/v1/stats/overview?from=2026-03-02&to=2026-03-01".to_owned(),
            "from",
        ),
        ("/api/v1/stats/overview?to=-262143-01-01".to_owned(), "to"),
        (
            "/api/v1/stats/overview?from=-5000-01-01&to=-5000-01-02".to_owned(),
            "to",
        ),
        (
            "/api/v1/stats/overview?from=2020-01-01&to=2026-03-01".to_owned(),
            "to",
        ),
    ] {
        let body = problem(get(path.clone(), alice.clone()).await, 422).await;
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
    }
    // Bob's overview does not include Alice's sales.
    let buyer = people(&app, 1).await.remove(0);
    let ga: String = json_of(
        get(format!("/api/v1/events/{event}"), alice.clone()).await,
        200,
    )
    .await["ticket_types"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    buy_units(&app, &buyer, &event, &ga, 2).await;
    let bobs = json_of(get("/api/v1/stats/overview".into(), bob).await, 200).await;
    assert_eq!(bobs["totals"], json!([]));
    let alices = json_of(
        get("/api/v1/stats/overview".into(), alice.clone()).await,
        200,
    )
    .await;
    assert_eq!(alices["totals"][0]["tickets_sold"], 2);
    let admins = json_of(get("/api/v1/stats/overview".into(), admin).await, 200).await;
    assert_eq!(admins["totals"], alices["totals"]);
}

#[tokio::test]
async fn folding_shards_keeps_every_figure() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    let (event, ga) = ga_event(&app, &alice, "EUR", 100, 1000).await;
    let buyer: Uuid = me(&app, &people(&app, 1).await[0]).await.parse().unwrap();
    for minute in 0..8 {
        let at = format!("2026-03-01T10:{:02}:00Z", minute * 7);
        booked_at(&app.ctx.pool, &event, &ga, buyer, &at, 1000 + minute).await;
    }
    let path = format!("/api/v1/events/{event}/stats");
    let before = json_of(
        call(&app, Method::GET, &path, Some(&alice), None).await,
        200,
    )
    .await;
    // Spread the figures over shards as concurrent connections would: one
    // row per booking, each slot's on shards 1, 2, ...
    sqlx::query!("DELETE FROM event_stats")
        .execute(&app.ctx.pool)
        .await
        .unwrap();
    sqlx::query!(
        "INSERT INTO event_stats (event_id, slot, shard, holds, bookings, tickets_sold, gross_cents)
         SELECT event_id, event_stats_slot(created_at),
                row_number() OVER (PARTITION BY event_stats_slot(created_at) ORDER BY id), 1, 1, 1, total_cents
         FROM bookings"
    )
    .execute(&app.ctx.pool).await.unwrap();
    assert_eq!(
        count(&app, "SELECT count(*) FROM event_stats WHERE shard > 1").await,
        4,
        "slots with two rows"
    );
    let spread = json_of(
        call(&app, Method::GET, &path, Some(&alice), None).await,
        200,
    )
    .await;
    assert_eq!(spread, before);
    let folded = marquee_core::insights::fold(&app.ctx.pool, Utc::now())
        .await
        .unwrap();
    assert!(folded > 0);
    assert_eq!(
        count(&app, "SELECT count(*) FROM event_stats WHERE shard <> 0").await,
        0
    );
    let after = json_of(
        call(&app, Method::GET, &path, Some(&alice), None).await,
        200,
    )
    .await;
    assert_eq!(after, before);
    assert_eq!(after["bookings"], 8);
}
