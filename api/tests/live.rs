//! Live updates: a client on one API process sees holds and sales made
//! through another, numbered in order; reconnecting replays missed
//! announcements; a failed checkout publishes nothing; access, caps,
//! heartbeats and shutdown.

mod common;

use std::time::{Duration, Instant};

use common::process::ApiProcess;
use common::sse::Sse;
use common::*;
use marquee_core::testing::TestContext;
use reqwest::Method;
use serde_json::{Value, json};

const SECOND: Duration = Duration::from_secs(1);

fn live(event: &str) -> String {
    format!("/api/v1/events/{event}/live")
}

async fn hold(app: &TestApp, token: &str, event: &str, seats: &[String]) -> Value {
    json_of(
        call(
            app,
            Method::POST,
            &format!("/api/v1/events/{event}/holds"),
            Some(token),
            Some(json!({ "seats": seats })),
        )
        .await,
        201,
    )
    .await
}

async fn checkout(app: &TestApp, token: &str, hold: &Value, card: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/bookings"))
        .bearer_auth(token)
        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
        .json(&json!({"hold_id": hold["id"], "payment": {"method": "card", "token": card}}))
        .send()
        .await
        .unwrap()
}

async fn announce(app: &TestApp, token: &str, event: &str, message: &str) -> reqwest::Response {
    call(
        app,
        Method::POST,
        &format!("/api/v1/events/{event}/announcements"),
        Some(token),
        Some(json!({ "message": message })),
    )
    .await
}

#[tokio::test]
async fn a_client_on_another_process_sees_a_hold_and_a_booking_within_a_second() {
    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, 10, 5).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(&app, &event).await;
    let fan = people(&app, 1).await.remove(0);
    // Process B: the real binary, sharing only PostgreSQL and Redis.
    let other = ApiProcess::spawn(&app.ctx, &[]).await;
    let mut stream = Sse::open(&other.client, &other.url(&live(&event)), None, None).await;
    let first = stream.next(SECOND).await.expect("a first snapshot");
    assert_eq!(first.event, "snapshot");
    assert_eq!(first.data["seats_available"], 10);
    assert_eq!(first.data["seats_held"], 0);
    assert_eq!(first.data["tickets_available"], 5);
    let mut keys: Vec<&str> = first
        .data
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "checked_in",
            "event_id",
            "seats_available",
            "seats_held",
            "seats_sold",
            "seq",
            "sold_out",
            "status",
            "ticket_types",
            "tickets_available",
            "type"
        ],
        "counts only, nothing about people"
    );
    let first_seq = first.id.unwrap();
    assert_eq!(first.data["seq"], first_seq);

    // A hold through process A (this test's in-process server).
    let held = hold(&app, &fan, &event, &seats[..2]).await;
    let committed = Instant::now();
    let seen = stream
        .until("snapshot", SECOND, |d| d["seats_held"] == 2)
        .await
        .expect("the hold within a second");
    println!("hold seen after {:?}", committed.elapsed());
    assert!(committed.elapsed() < SECOND);
    assert_eq!(seen.data["seats_available"], 8);
    let hold_seq = seen.id.unwrap();
    assert!(hold_seq > first_seq);

    let paid = checkout(&app, &fan, &held, "tok_ok").await;
    json_of(paid, 201).await;
    let committed = Instant::now();
    let sold = stream
        .until("snapshot", SECOND, |d| d["seats_sold"] == 2)
        .await
        .expect("the booking within a second");
    println!("booking seen after {:?}", committed.elapsed());
    assert!(committed.elapsed() < SECOND);
    assert_eq!(sold.data["seats_held"], 0);
    assert_eq!(sold.data["seats_available"], 8);
    assert!(sold.id.unwrap() > hold_seq, "sequence numbers increase");
}

#[tokio::test]
async fn a_failed_checkout_publishes_nothing() {
    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, 4, 1).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(&app, &event).await;
    let fan = people(&app, 1).await.remove(0);
    let mut stream = Sse::open(&app.client, &app.url(&live(&event)), None, None).await;
    stream.next(SECOND).await.expect("a first snapshot");
    let held = hold(&app, &fan, &event, &seats[..1]).await;
    stream
        .until("snapshot", SECOND, |d| d["seats_held"] == 1)
        .await
        .expect("the hold");
    // Let anything still on its way (publishing the event) arrive first.
    while stream.next(Duration::from_millis(500)).await.is_some() {}
    let declined = checkout(&app, &fan, &held, "tok_declined").await;
    problem(declined, 402).await;
    let after = stream.next(2 * SECOND).await;
    assert!(
        after.is_none(),
        "a rolled-back checkout sends no message: {after:?}"
    );
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_gets_the_announcement_it_missed() {
    let app = TestApp::spawn().await;
    let (alice, event) = event_on_sale(&app, 4, 1).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let other = ApiProcess::spawn(&app.ctx, &[]).await;
    let url = other.url(&live(&event));

    let mut stream = Sse::open(&other.client, &url, None, None).await;
    let first = stream.next(SECOND).await.unwrap();
    let posted = json_of(
        announce(&app, &alice, &event, "Doors open at 19:00").await,
        201,
    )
    .await;
    let live = stream
        .until("announcement", SECOND, |_| true)
        .await
        .expect("the announcement live");
    assert_eq!(live.data["message"], "Doors open at 19:00");
    assert_eq!(live.id, posted["seq"].as_i64());
    let last = live.id.unwrap().to_string();
    drop(stream);

    // Missed while away.
    let missed = json_of(
        announce(&app, &alice, &event, "Gate B is closed").await,
        201,
    )
    .await;
    let mut back = Sse::open(&other.client, &url, None, Some(&last)).await;
    let replayed = back.next(SECOND).await.unwrap();
    assert_eq!(replayed.event, "announcement");
    assert_eq!(replayed.data["message"], "Gate B is closed");
    assert_eq!(replayed.id, missed["seq"].as_i64());
    let snapshot = back.next(SECOND).await.unwrap();
    assert_eq!(snapshot.event, "snapshot", "then a fresh snapshot");
    assert!(
        back.next(Duration::from_millis(300)).await.is_none(),
        "nothing twice"
    );

    // From before both: both, oldest first.
    let mut early = Sse::open(
        &other.client,
        &url,
        None,
        Some(&first.id.unwrap().to_string()),
    )
    .await;
    let a = early.next(SECOND).await.unwrap();
    let b = early.next(SECOND).await.unwrap();
    assert_eq!(
        (a.data["message"].as_str(), b.data["message"].as_str()),
        (Some("Doors open at 19:00"), Some("Gate B is closed"))
    );

    let listed = json_of(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/events/{event}/announcements"),
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(listed["total"], 2);
    assert_eq!(
        listed["items"][0]["message"], "Gate B is closed",
        "newest first"
    );
}

#[tokio::test]
async fn announcements_and_streams_follow_the_events_rules() {
    let app = TestApp::spawn().await;
    let (alice, event) = event_on_sale(&app, 2, 1).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let fan = people(&app, 1).await.remove(0);
    let bob = organizer(&app, "bob@example.com").await;

    problem(announce(&app, &fan, &event, "hi").await, 403).await;
    problem(announce(&app, &bob, &event, "hi").await, 404).await;
    let long = "x".repeat(501);
    for bad in ["", "   ", long.as_str(), "bell\u{7}"] {
        let answer = problem(announce(&app, &alice, &event, bad).await, 422).await;
        assert_eq!(answer["errors"][0]["field"], "message", "{bad:?}");
    }
    let anonymous = app
        .client
        .post(app.url(&format!("/api/v1/events/{event}/announcements")))
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    problem(anonymous, 401).await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM event_announcements").await,
        0,
        "nothing stored"
    );
    let max = "y".repeat(500);
    json_of(announce(&app, &alice, &event, &max).await, 201).await;

    // Bob's draft: his to watch, nobody else's.
    let draft = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/events",
            Some(&bob),
            Some(json!({"title": "Secret", "currency": "EUR",
                "starts_at": (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339(),
                "ticket_types": [{"name": "GA", "price_cents": 100, "capacity": 3}]})),
        )
        .await,
        201,
    )
    .await;
    let draft = draft["id"].as_str().unwrap();
    for token in [None, Some(fan.as_str()), Some(alice.as_str())] {
        let refused = Sse::request(&app.client, &app.url(&live(draft)), token, None).await;
        problem(refused, 404).await;
    }
    problem(announce(&app, &alice, draft, "hi").await, 404).await;
    let mut own = Sse::open(&app.client, &app.url(&live(draft)), Some(&bob), None).await;
    let snapshot = own.next(SECOND).await.unwrap();
    assert_eq!(snapshot.data["status"], "draft");
    assert_eq!(snapshot.data["ticket_types"][0]["available"], 3);

    let unknown = Sse::request(
        &app.client,
        &app.url(&live(&uuid::Uuid::now_v7().to_string())),
        None,
        None,
    )
    .await;
    problem(unknown, 404).await;
    let garbage = Sse::request(&app.client, &app.url(&live(&event)), None, Some("abc")).await;
    problem(garbage, 422).await;
}

#[tokio::test]
async fn streams_per_address_are_capped_and_idle_streams_get_heartbeats() {
    let mut ctx = TestContext::new().await;
    ctx.settings.live.max_streams_per_ip = 2;
    ctx.settings.live.heartbeat_seconds = 1;
    let app = TestApp::spawn_with(ctx).await;
    let (_, event) = event_on_sale(&app, 2, 1).await;
    let url = app.url(&live(event["id"].as_str().unwrap()));
    let mut one = Sse::open(&app.client, &url, None, None).await;
    let two = Sse::open(&app.client, &url, None, None).await;
    let third = Sse::request(&app.client, &url, None, None).await;
    assert!(third.headers().contains_key("retry-after"));
    problem(third, 429).await;
    drop(two);
    // The slot comes back once the server sees the client gone.
    let deadline = Instant::now() + 5 * SECOND;
    loop {
        let again = Sse::request(&app.client, &url, None, None).await;
        if again.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream's slot came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    one.next(SECOND).await.expect("the snapshot");
    // Publishing the event may still send a snapshot; then it is idle.
    while one.next(Duration::from_millis(2500)).await.is_some() {}
    assert!(one.heartbeats >= 1, "a heartbeat comment while idle");
}

#[tokio::test]
async fn shutdown_ends_streams_cleanly() {
    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, 2, 1).await;
    let mut api = ApiProcess::spawn(&app.ctx, &[]).await;
    let url = api.url(&live(event["id"].as_str().unwrap()));
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut stream = Sse::open(&api.client, &url, None, None).await;
        stream.next(SECOND).await.unwrap();
        streams.push(stream);
    }
    let asked = Instant::now();
    api.terminate();
    for stream in &mut streams {
        assert!(stream.ended(5 * SECOND).await, "the stream ended");
    }
    let status = api.wait(10 * SECOND).await.expect("the API exited");
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < 5 * SECOND,
        "without waiting out the grace period: {:?}",
        asked.elapsed()
    );
}

#[tokio::test]
async fn the_workers_hold_sweep_publishes_the_units_it_frees() {
    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, 1, 5).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let details = json_of(app.get(&format!("/api/v1/events/{event}")).await, 200).await;
    let ga = details["ticket_types"][0]["id"].clone();
    let fan = people(&app, 1).await.remove(0);
    let mut stream = Sse::open(&app.client, &app.url(&live(&event)), None, None).await;
    stream.next(SECOND).await.unwrap();
    let held = json_of(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/events/{event}/holds"),
            Some(&fan),
            Some(json!({"ticket_type_id": ga, "quantity": 2})),
        )
        .await,
        201,
    )
    .await;
    let left = stream
        .until("snapshot", SECOND, |d| d["tickets_available"] == 3)
        .await
        .expect("the hold");
    assert_eq!(left.data["ticket_types"][0]["available"], 3);
    let hold: uuid::Uuid = held["id"].as_str().unwrap().parse().unwrap();
    sqlx::query!(
        "UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = $1",
        hold
    )
    .execute(&app.ctx.pool)
    .await
    .unwrap();
    let mut tx = app.ctx.pool.begin().await.unwrap();
    let job = marquee_core::jobs::enqueue(&mut tx, &marquee_core::booking::holds::ExpireHolds {})
        .await
        .unwrap();
    tx.commit().await.unwrap();
    marquee_core::jobs::Producer::new(
        app.ctx.pool.clone(),
        app.ctx.redis(),
        app.ctx.settings.redis.key_prefix.clone(),
    )
    .dispatch(&[job])
    .await;
    drain_with(&app, app.ctx.settings.clone()).await;
    let freed = stream
        .until("snapshot", 5 * SECOND, |d| d["tickets_available"] == 5)
        .await
        .expect("the sweep's release, published by the worker");
    assert_eq!(freed.data["ticket_types"][0]["available"], 5);
}

/// A snapshot message for `event` numbered `seq`, as a publisher sends it.
fn published(event: uuid::Uuid, seq: i64) -> String {
    serde_json::to_string(&marquee_core::live::Update::Snapshot(
        marquee_core::live::Snapshot {
            seq,
            event_id: event,
            status: marquee_core::catalog::events::EventStatus::Published,
            seats_available: seq,
            seats_held: 0,
            seats_sold: 0,
            tickets_available: 0,
            ticket_types: Vec::new(),
            sold_out: false,
            checked_in: 0,
        },
    ))
    .unwrap()
}

#[tokio::test]
async fn a_slow_client_is_dropped_without_delaying_the_others() {
    use futures::StreamExt;
    use marquee_core::live::{Hub, stream};
    use redis::AsyncCommands;

    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, 2, 1).await;
    let event: uuid::Uuid = event["id"].as_str().unwrap().parse().unwrap();
    let settings = &app.ctx.settings;
    let hub = Hub::new(&settings.redis, app.ctx.redis(), 10);
    let open = |ip: &str| {
        let slot = hub.slot(ip.to_owned()).unwrap();
        stream::open(&hub, &app.ctx.pool, event, None, slot)
    };
    let mut fast = Box::pin(open("192.0.2.1").await.unwrap());
    let mut slow = Box::pin(open("192.0.2.2").await.unwrap());
    let first = fast.next().await.expect("the first snapshot").seq();
    assert!(slow.next().await.is_some(), "the first snapshot");
    let base = first + 1_000;

    // 100 messages while the slow client reads nothing; the fast one keeps
    // up, reading each as it comes.
    let mut redis = app.ctx.redis();
    let channel = format!("{}:live", settings.redis.key_prefix);
    let mut received = Vec::new();
    for seq in base..base + 100 {
        let _: i64 = redis
            .publish(&channel, published(event, seq))
            .await
            .unwrap();
        let next = tokio::time::timeout(SECOND, fast.next()).await;
        received.push(next.expect("no delay").expect("still open").seq());
    }
    assert_eq!(received, (base..base + 100).collect::<Vec<_>>());
    // The slow one fell more than 64 behind: its stream ends.
    let next = tokio::time::timeout(SECOND, slow.next()).await.unwrap();
    assert!(next.is_none(), "the slow client is dropped");

    // Older numbers are never sent after newer ones.
    let _: i64 = redis
        .publish(&channel, published(event, base + 5))
        .await
        .unwrap();
    let _: i64 = redis
        .publish(&channel, published(event, base + 500))
        .await
        .unwrap();
    let next = tokio::time::timeout(SECOND, fast.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.seq(), base + 500);
    hub.close();
    assert!(
        tokio::time::timeout(SECOND, fast.next())
            .await
            .unwrap()
            .is_none(),
        "closing the hub ends its streams"
    );
}

#[tokio::test]
async fn after_redis_restarts_empty_streams_resync_and_numbers_keep_increasing() {
    let mut redis = marquee_core::testing::PrivateRedis::start();
    let port = redis.port;
    let mut ctx = TestContext::new().await;
    ctx.settings.redis.url = secrecy::SecretString::from(redis.url());
    let app = TestApp::spawn_with(ctx).await;
    let (alice, event) = event_on_sale(&app, 6, 1).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(&app, &event).await;
    let fan = people(&app, 1).await.remove(0);
    let url = app.url(&live(&event));
    let mut stream = Sse::open(&app.client, &url, None, None).await;
    stream.next(SECOND).await.unwrap();
    let posted = json_of(announce(&app, &alice, &event, "Before").await, 201).await;
    let before = stream
        .until("announcement", SECOND, |_| true)
        .await
        .unwrap()
        .id
        .unwrap();
    assert_eq!(Some(before), posted["seq"].as_i64());

    // Redis dies and comes back with nothing: the counter is gone too.
    redis.stop();
    let _redis = marquee_core::testing::PrivateRedis::start_on(port);
    // A snapshot numbered before the wipe may still arrive late (it was
    // being read when the announcement overtook it): ids never go back, and
    // the fresh snapshot after the wipe is numbered above everything sent.
    let deadline = std::time::Instant::now() + 10 * SECOND;
    let resynced = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let snapshot = stream
            .until("snapshot", left, |_| true)
            .await
            .expect("a fresh snapshot once the subscription is back");
        let id = snapshot.id.unwrap();
        assert!(id >= before, "numbers never go back");
        if id > before {
            break snapshot;
        }
    };

    hold(&app, &fan, &event, &seats[..1]).await;
    let held = stream
        .until("snapshot", 5 * SECOND, |d| d["seats_held"] == 1)
        .await
        .expect("updates flow again");
    assert!(held.id.unwrap() > resynced.id.unwrap());

    // An announcement after the wipe is numbered above the one before it,
    // so a reconnect from before the wipe replays exactly it.
    let after = json_of(announce(&app, &alice, &event, "After").await, 201).await;
    assert!(after["seq"].as_i64().unwrap() > before);
    drop(stream);
    let mut back = Sse::open(&app.client, &url, None, Some(&before.to_string())).await;
    let replayed = back.next(SECOND).await.unwrap();
    assert_eq!(replayed.data["message"], "After");
    assert_eq!(back.next(SECOND).await.unwrap().event, "snapshot");
}

#[tokio::test]
async fn someone_elses_announcements_do_not_use_up_the_events_budget() {
    let app = TestApp::spawn().await;
    let (alice, event) = event_on_sale(&app, 2, 1).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let bob = organizer(&app, "bob@example.com").await;
    for _ in 0..61 {
        problem(announce(&app, &bob, &event, "mine now").await, 404).await;
    }
    json_of(announce(&app, &alice, &event, "Still mine").await, 201).await;
}

#[tokio::test]
async fn announcement_text_keeps_line_breaks_and_needs_something_visible() {
    let app = TestApp::spawn().await;
    let (alice, event) = event_on_sale(&app, 2, 1).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let posted = json_of(
        announce(&app, &alice, &event, "Gate A\r\nGate B").await,
        201,
    )
    .await;
    assert_eq!(posted["message"], "Gate A\nGate B");
    for invisible in ["\u{200b}", "\u{feff} \u{200d}", "\u{202e}"] {
        let answer = problem(announce(&app, &alice, &event, invisible).await, 422).await;
        assert_eq!(answer["errors"][0]["field"], "message");
    }
    // A draft's announcements go with it.
    let draft = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/events",
            Some(&alice),
            Some(json!({"title": "Draft", "currency": "EUR",
                "starts_at": (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339(),
                "ticket_types": [{"name": "GA", "price_cents": 100, "capacity": 3}]})),
        )
        .await,
        201,
    )
    .await;
    let draft = draft["id"].as_str().unwrap();
    json_of(announce(&app, &alice, draft, "Soon").await, 201).await;
    let deleted = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/events/{draft}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(deleted.status(), 204);
}
