//! Past `http.max_in_flight_requests`, requests wait for a slot before a
//! handler runs; `/health/*` never waits, and a body still arriving holds
//! no slot.

mod common;

use std::time::Duration;

use common::*;

/// `GET path`, which must be answered within `seconds`.
async fn get_within(app: &TestApp, path: &str, seconds: u64, why: &str) -> reqwest::Response {
    tokio::time::timeout(Duration::from_secs(seconds), app.get(path))
        .await
        .expect(why)
}

/// Takes an exclusive lock on `users` and sends a sign-in, which blocks in
/// its handler (holding a slot) until the returned transaction ends; the
/// task answers the sign-in's status.
async fn block_a_sign_in(
    app: &TestApp,
) -> (
    sqlx::Transaction<'static, sqlx::Postgres>,
    tokio::task::JoinHandle<u16>,
) {
    let mut lock = app.ctx.pool.begin().await.unwrap();
    sqlx::query!("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let blocked = tokio::spawn({
        let request = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "nobody@example.com", "password": "not it at all"}));
        async move { request.send().await.unwrap().status().as_u16() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !blocked.is_finished(),
        "the sign-in did not block on the lock"
    );
    (lock, blocked)
}

/// Sends a sign-in that blocks in its handler (the test holds an exclusive
/// lock on `users`), then `GET /api/v1/events` (which never reads `users`),
/// and says whether the second finished while the first was blocked.
/// Releases the lock, checks both answers and returns that.
async fn events_ran_beside_a_blocked_request(app: &TestApp) -> bool {
    let (lock, blocked) = block_a_sign_in(app).await;

    let events = tokio::spawn({
        let request = app.client.get(app.url("/api/v1/events"));
        async move { request.send().await.unwrap().status().as_u16() }
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let ran_beside = events.is_finished();

    // Health answers whatever the slots are doing.
    let ping = get_within(
        app,
        "/health/ping",
        5,
        "/health/ping does not wait for a slot",
    )
    .await;
    assert_eq!(ping.status(), 200);

    lock.rollback().await.unwrap();
    let wait = Duration::from_secs(10);
    assert_eq!(
        tokio::time::timeout(wait, blocked).await.unwrap().unwrap(),
        401
    );
    let events = tokio::time::timeout(wait, events)
        .await
        .expect("a waiting request runs once the slot is free");
    assert_eq!(events.unwrap(), 200);
    ran_beside
}

#[tokio::test]
async fn a_request_past_the_limit_waits_for_a_slot_and_health_does_not() {
    let mut ctx = marquee_core::testing::TestContext::new().await;
    ctx.settings.http.max_in_flight_requests = 1;
    let app = TestApp::spawn_with(ctx).await;
    assert!(!events_ran_beside_a_blocked_request(&app).await);
}

#[tokio::test]
async fn under_the_limit_requests_run_side_by_side() {
    let app = TestApp::spawn().await;
    assert_eq!(app.ctx.settings.http.max_in_flight_requests, 256);
    assert!(events_ran_beside_a_blocked_request(&app).await);
}

/// A client sending its body slowly holds its connection, not a slot:
/// stalled uploads cannot shut other clients out.
#[tokio::test]
async fn a_body_still_arriving_holds_no_slot() {
    let mut ctx = marquee_core::testing::TestContext::new().await;
    ctx.settings.http.max_in_flight_requests = 1;
    let app = TestApp::spawn_with(ctx).await;
    let stalled = app.stall_a_sign_in_body().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = get_within(
        &app,
        "/api/v1/events",
        5,
        "the stalled upload holds no slot",
    )
    .await;
    assert_eq!(events.status(), 200);
    drop(stalled);
}

/// A request that cannot get a slot within `http.max_wait_seconds` is
/// answered 503 with Retry-After, so stuck requests ahead cannot hold the
/// queue for ever.
#[tokio::test]
async fn a_request_that_waits_too_long_for_a_slot_is_503_with_retry_after() {
    let mut ctx = marquee_core::testing::TestContext::new().await;
    ctx.settings.http.max_in_flight_requests = 1;
    ctx.settings.http.max_wait_seconds = 1;
    let app = TestApp::spawn_with(ctx).await;
    let (lock, blocked) = block_a_sign_in(&app).await;
    let shed = get_within(&app, "/api/v1/events", 10, "the wait is bounded").await;
    // Half the wait, at least a second: a retry after one second would
    // only rejoin the tail of a queue at least max_wait long.
    assert_eq!(shed.headers()["retry-after"], "1");
    problem(shed, 503).await;
    lock.rollback().await.unwrap();
    let blocked = tokio::time::timeout(Duration::from_secs(10), blocked).await;
    assert_eq!(
        blocked.expect("the sign-in ends with the lock").unwrap(),
        401
    );
    // The slot is free again.
    let events = app.client.get(app.url("/api/v1/events")).send().await;
    assert_eq!(events.unwrap().status(), 200);
}
