//! Checkout over real HTTP: payment outcomes, Idempotency-Key, expiry,
//! ownership, concurrent confirms, history and the confirmation email.

mod common;

use common::*;
use marquee_core::auth::Role;
use marquee_core::testing::TestContext;
use marquee_worker::testing::SmtpSink;
use reqwest::Method;
use serde_json::{Value, json};

struct Shop {
    app: TestApp,
    alice: String,
    event: String,
    seats: Vec<String>,
}

async fn shop(ctx: Option<TestContext>) -> Shop {
    let app = match ctx {
        Some(ctx) => TestApp::spawn_with(ctx).await,
        None => TestApp::spawn().await,
    };
    let (alice, event) = event_on_sale(&app, 6, 10).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(&app, &event).await;
    Shop {
        app,
        alice,
        event,
        seats,
    }
}

async fn hold(s: &Shop, token: &str, seats: &[&String]) -> String {
    let body = json!({"seats": seats});
    let hold = json_of(
        call(
            &s.app,
            Method::POST,
            &format!("/api/v1/events/{}/holds", s.event),
            Some(token),
            Some(body),
        )
        .await,
        201,
    )
    .await;
    hold["id"].as_str().unwrap().to_owned()
}

async fn book(
    s: &Shop,
    token: &str,
    hold: &str,
    card: &str,
    key: Option<&str>,
) -> reqwest::Response {
    let body = json!({"hold_id": hold, "payment": {"method": "card", "token": card}});
    let mut request = s
        .app
        .client
        .post(s.app.url("/api/v1/bookings"))
        .bearer_auth(token)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_paid_hold_becomes_a_confirmed_booking_and_the_buyer_is_emailed() {
    let sink = SmtpSink::start();
    let mut ctx = TestContext::new().await;
    sink.configure(&mut ctx.settings);
    let s = shop(Some(ctx)).await;
    let fan = with_role(&s.app, "fan@example.com", Role::User).await;
    let hold_id = hold(&s, &fan, &[&s.seats[0], &s.seats[1]]).await;

    let booking = json_of(book(&s, &fan, &hold_id, "tok_ok", Some("k1")).await, 201).await;
    assert_eq!(booking["status"], "confirmed");
    assert_eq!(booking["total_cents"], 5000);
    assert_eq!(booking["payment"]["status"], "paid");
    let reference = booking["reference"].as_str().unwrap();
    assert!(
        reference.starts_with("MQ-") && reference.len() == 11,
        "{reference}"
    );
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM event_seats WHERE status = 'sold'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM event_seats WHERE status = 'held'"
        )
        .await,
        0
    );
    let detail = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("/api/v1/events/{}", s.event),
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(detail["availability"]["seats_sold"], 2);

    drain_with(&s.app, s.app.ctx.settings.clone()).await;
    let confirmation = sink
        .messages()
        .into_iter()
        .find(|m| m.contains(&format!("Subject: Booking {reference}")))
        .expect("the confirmation email");
    assert!(
        confirmation.contains("To: fan@example.com"),
        "{confirmation}"
    );
    assert!(
        confirmation.contains("A-1") && confirmation.contains("50.00 EUR"),
        "{confirmation}"
    );
}

#[tokio::test]
async fn a_declined_card_is_402_with_no_booking_and_the_hold_stays() {
    let s = shop(None).await;
    let fan = people(&s.app, 1).await.remove(0);
    let hold_id = hold(&s, &fan, &[&s.seats[0]]).await;
    problem(
        book(&s, &fan, &hold_id, "tok_declined", Some("try-1")).await,
        402,
    )
    .await;
    assert_eq!(count(&s.app, "SELECT count(*) FROM bookings").await, 0);
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM payments WHERE status = 'declined'"
        )
        .await,
        1,
        "the attempt is on record"
    );
    let held = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("/api/v1/holds/{hold_id}"),
            Some(&fan),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(held["status"], "active");
    // Another card, the same hold: booked, charged once.
    json_of(book(&s, &fan, &hold_id, "tok_ok", Some("try-2")).await, 201).await;
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM fake_provider_charges WHERE outcome = 'paid'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn the_idempotency_key_is_required_replays_identically_and_binds_the_body() {
    let s = shop(None).await;
    let fan = people(&s.app, 1).await.remove(0);
    let hold_id = hold(&s, &fan, &[&s.seats[0]]).await;
    let missing = problem(book(&s, &fan, &hold_id, "tok_ok", None).await, 422).await;
    assert_eq!(missing["errors"][0]["field"], "Idempotency-Key");

    let first: Value = json_of(book(&s, &fan, &hold_id, "tok_ok", Some("same")).await, 201).await;
    let replay: Value = json_of(book(&s, &fan, &hold_id, "tok_ok", Some("same")).await, 201).await;
    assert_eq!(first, replay, "identical body");
    problem(
        book(&s, &fan, &hold_id, "tok_other", Some("same")).await,
        409,
    )
    .await;
    assert_eq!(count(&s.app, "SELECT count(*) FROM bookings").await, 1);
}

#[tokio::test]
async fn a_provider_failure_is_503_and_the_retry_books() {
    let s = shop(None).await;
    let fan = people(&s.app, 1).await.remove(0);
    let hold_id = hold(&s, &fan, &[&s.seats[0]]).await;
    let response = book(&s, &fan, &hold_id, "tok_error", Some("k")).await;
    assert!(response.headers().contains_key("retry-after"));
    problem(response, 503).await;
    assert_eq!(count(&s.app, "SELECT count(*) FROM bookings").await, 0);
    json_of(book(&s, &fan, &hold_id, "tok_ok", Some("k2")).await, 201).await;
}

#[tokio::test]
async fn expired_foreign_and_booked_holds_are_410_404_and_409() {
    let s = shop(None).await;
    let fans = people(&s.app, 2).await;
    let expired = hold(&s, &fans[0], &[&s.seats[0]]).await;
    sqlx::query!(
        "UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = $1",
        expired.parse::<uuid::Uuid>().unwrap(),
    )
    .execute(&s.app.ctx.pool)
    .await
    .unwrap();
    problem(book(&s, &fans[0], &expired, "tok_ok", Some("a")).await, 410).await;

    let mine = hold(&s, &fans[0], &[&s.seats[1]]).await;
    problem(book(&s, &fans[1], &mine, "tok_ok", Some("b")).await, 404).await;
    json_of(book(&s, &fans[0], &mine, "tok_ok", Some("c")).await, 201).await;
    problem(book(&s, &fans[0], &mine, "tok_ok", Some("d")).await, 409).await;
    assert_eq!(count(&s.app, "SELECT count(*) FROM bookings").await, 1);
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM fake_provider_charges").await,
        1,
        "nobody charged for nothing"
    );
}

#[tokio::test]
async fn two_clients_confirming_one_hold_make_one_booking_and_one_charge() {
    let s = shop(None).await;
    let fan = people(&s.app, 1).await.remove(0);
    let hold_id = hold(&s, &fan, &[&s.seats[0], &s.seats[1]]).await;
    let attempts = (0..8).map(|n| {
        let (s, fan, hold_id) = (&s, &fan, &hold_id);
        async move {
            book(s, fan, hold_id, "tok_ok", Some(&format!("client-{n}")))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(count(&s.app, "SELECT count(*) FROM bookings").await, 1);
    assert_eq!(count(&s.app, "SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM fake_provider_charges").await,
        1
    );
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM event_seats WHERE status = 'sold'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn history_shows_own_bookings_and_a_booking_to_its_organizer_and_admins() {
    let s = shop(None).await;
    let fans = people(&s.app, 2).await;
    let mut ids = Vec::new();
    for (n, seat) in s.seats[..3].iter().enumerate() {
        let hold_id = hold(&s, &fans[0], &[seat]).await;
        let booking = json_of(
            book(&s, &fans[0], &hold_id, "tok_ok", Some(&format!("h{n}"))).await,
            201,
        )
        .await;
        ids.push(booking["id"].as_str().unwrap().to_owned());
    }
    let page = json_of(
        call(
            &s.app,
            Method::GET,
            "/api/v1/bookings?per_page=2",
            Some(&fans[0]),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["id"], ids[2], "newest first");
    let none = json_of(
        call(
            &s.app,
            Method::GET,
            "/api/v1/bookings",
            Some(&fans[1]),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(none["total"], 0);

    let path = format!("/api/v1/bookings/{}", ids[0]);
    json_of(
        call(&s.app, Method::GET, &path, Some(&fans[0]), None).await,
        200,
    )
    .await;
    json_of(
        call(&s.app, Method::GET, &path, Some(&s.alice), None).await,
        200,
    )
    .await;
    let admin = with_role(&s.app, "root@example.com", Role::Admin).await;
    json_of(
        call(&s.app, Method::GET, &path, Some(&admin), None).await,
        200,
    )
    .await;
    problem(
        call(&s.app, Method::GET, &path, Some(&fans[1]), None).await,
        404,
    )
    .await;
    let bob = organizer(&s.app, "bob@example.com").await;
    problem(
        call(&s.app, Method::GET, &path, Some(&bob), None).await,
        404,
    )
    .await;
}

/// A first request so slow that its claim on the key was taken over (after
/// a minute, as if it had crashed) must not store its answer over the
/// answer of the request that took over, nor free that request's claim.
#[tokio::test]
async fn a_slow_first_request_cannot_overwrite_the_claim_that_took_over_its_key() {
    use marquee_core::idempotency::{self, Begin};

    let app = TestApp::spawn().await;
    let user = user_id(&register(&app, "slow@example.com").await);
    let pool = &app.ctx.pool;
    let (scope, key, hash) = ("bookings", "key-1", b"same request".as_slice());
    let Begin::Fresh(slow) = idempotency::begin(pool, user, scope, key, hash)
        .await
        .unwrap()
    else {
        panic!("the first request claims the key");
    };
    assert_eq!(
        idempotency::begin(pool, user, scope, key, hash)
            .await
            .unwrap(),
        Begin::InProgress
    );
    // A minute later the slow request looks crashed: a retry takes over.
    sqlx::query!(
        "UPDATE idempotent_responses SET created_at = now() - interval '2 minutes' WHERE key = $1",
        key
    )
    .execute(pool)
    .await
    .unwrap();
    let Begin::Fresh(retry) = idempotency::begin(pool, user, scope, key, hash)
        .await
        .unwrap()
    else {
        panic!("the retry takes the stale claim over");
    };
    assert_ne!(slow, retry);

    // The slow one fails and gives up its key: the retry's claim stays.
    idempotency::abandon(pool, user, scope, key, &slow)
        .await
        .unwrap();
    assert_eq!(
        idempotency::begin(pool, user, scope, key, hash)
            .await
            .unwrap(),
        Begin::InProgress,
        "the retry still holds the key"
    );
    let answer = json!({"booking": "from the retry"});
    assert!(
        idempotency::finish(pool, user, scope, key, &retry, 201, &answer)
            .await
            .unwrap()
    );
    // The slow one then succeeds after all: its answer is not stored.
    let late = json!({"booking": "from the slow request"});
    assert!(
        !idempotency::finish(pool, user, scope, key, &slow, 201, &late)
            .await
            .unwrap()
    );
    assert_eq!(
        idempotency::begin(pool, user, scope, key, hash)
            .await
            .unwrap(),
        Begin::Replay {
            status: 201,
            body: answer
        },
        "a replay gets the retry's answer"
    );
}

/// The other order: the request that took the key over fails and frees it,
/// then the slow first request succeeds. Its answer is stored, so a replay
/// finds the booking it made rather than "already booked".
#[tokio::test]
async fn a_slow_first_request_stores_its_answer_when_the_takeover_failed() {
    use marquee_core::idempotency::{self, Begin};

    let app = TestApp::spawn().await;
    let user = user_id(&register(&app, "slow@example.com").await);
    let pool = &app.ctx.pool;
    let (scope, key, hash) = ("bookings", "key-1", b"same request".as_slice());
    let Begin::Fresh(slow) = idempotency::begin(pool, user, scope, key, hash)
        .await
        .unwrap()
    else {
        panic!("the first request claims the key");
    };
    sqlx::query!(
        "UPDATE idempotent_responses SET created_at = now() - interval '2 minutes' WHERE key = $1",
        key
    )
    .execute(pool)
    .await
    .unwrap();
    let Begin::Fresh(retry) = idempotency::begin(pool, user, scope, key, hash)
        .await
        .unwrap()
    else {
        panic!("the retry takes the stale claim over");
    };
    idempotency::abandon(pool, user, scope, key, &retry)
        .await
        .unwrap();
    let answer = json!({"booking": "made by the slow request"});
    assert!(
        idempotency::finish(pool, user, scope, key, &slow, 201, &answer)
            .await
            .unwrap()
    );
    assert_eq!(
        idempotency::begin(pool, user, scope, key, hash)
            .await
            .unwrap(),
        Begin::Replay {
            status: 201,
            body: answer
        }
    );
    // Another body under the key is still refused.
    assert_eq!(
        idempotency::begin(pool, user, scope, key, b"other")
            .await
            .unwrap(),
        Begin::Mismatch
    );
}
