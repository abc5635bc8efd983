//! The waitlist under concurrency, over real HTTP with real workers:
//! cancellations racing promotions, strangers racing the line, and joins
//! racing each other. Invariants are checked while it runs, not only after.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::waitlist::*;
use common::*;
use marquee_core::jobs::{self, Producer};
use marquee_core::waitlist::PromoteWaitlist;
use reqwest::Method;
use serde_json::json;

/// Strangers try to hold the waited-for units, and a checker reads the
/// invariants, until `stop`; returns (hold statuses seen, checks made).
fn watch(line: &Line, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<(Vec<u16>, usize)> {
    let app_url = line.app.url("");
    let (event, ga) = (line.event.clone(), line.ga.clone());
    let strangers = line
        .buyers
        .iter()
        .map(|(t, _)| t.clone())
        .collect::<Vec<_>>();
    let checker = line.app.ctx.pool.clone();
    let app = CheckApp { pool: checker };
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let (mut statuses, mut checks) = (Vec::new(), 0);
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            // Buyers hold nothing now: each is a stranger to the line.
            let token = &strangers[n % strangers.len()];
            n += 1;
            let response = client
                .post(format!("{app_url}/api/v1/events/{event}/holds"))
                .bearer_auth(token)
                .json(&json!({"ticket_type_id": ga, "quantity": 1}))
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
            assert_eq!(app.violations().await, 0, "an invariant broke mid-run");
            checks += 1;
        }
        (statuses, checks)
    })
}

struct CheckApp {
    pool: sqlx::PgPool,
}

impl CheckApp {
    #[allow(clippy::disallowed_methods)]
    async fn violations(&self) -> i64 {
        sqlx::query_scalar(VIOLATIONS)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// `common::waitlist::violations`, for a task that has no `TestApp`.
const VIOLATIONS: &str = "SELECT (SELECT count(*) FROM ticket_types t WHERE t.held <> (
        SELECT COALESCE(sum(i.quantity), 0) FROM hold_items i JOIN holds h ON h.id = i.hold_id
        WHERE h.status = 'active' AND i.ticket_type_id = t.id))
  + (SELECT count(*) FROM waitlist_entries o WHERE o.status = 'offered' AND EXISTS (
        SELECT 1 FROM waitlist_entries w WHERE w.event_id = o.event_id AND w.status = 'waiting' AND w.seq < o.seq))
  + (SELECT count(*) FROM holds WHERE status = 'active' AND waitlist_entry_id IS NULL)";

async fn fifty_waiting() -> (Line, Vec<String>) {
    let line = sold_out(1, 20).await;
    let waiting = line.waiting(50).await;
    (line, waiting)
}

async fn cancel_all_at_once(line: &Line) {
    futures::future::join_all((0..line.buyers.len()).map(|n| line.cancel(n))).await;
}

async fn assert_first_twenty_offered(line: &Line, waiting: &[String]) {
    assert_eq!(line.offered(20).await, (1..=20).collect::<Vec<i64>>());
    // Nothing more comes: a late promotion finds nothing free.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ranks(&line.app, "offered").await.len(), 20);
    assert_eq!(violations(&line.app).await, 0);
    assert_eq!(
        count(&line.app, "SELECT sum(held) + sum(sold) FROM ticket_types").await,
        20
    );
    assert_eq!(
        count(
            &line.app,
            "SELECT count(*) FROM holds WHERE waitlist_entry_id IS NOT NULL"
        )
        .await,
        20,
        "one offer per entry"
    );
    let first = line.me(&waiting[0]).await;
    assert_eq!(first["status"], "offered");
    assert_eq!(first["offer"]["quantity"], 1);
    assert!(first["position"].is_null());
    let next = line.me(&waiting[20]).await;
    assert_eq!(
        (next["status"].as_str(), next["position"].as_i64()),
        (Some("waiting"), Some(1))
    );
    assert_eq!(line.me(&waiting[49]).await["position"], 30);
}

#[tokio::test]
async fn twenty_concurrent_cancellations_offer_exactly_the_first_twenty_in_line() {
    let (line, waiting) = fifty_waiting().await;
    let worker = line.worker();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(&line, stop.clone());
    cancel_all_at_once(&line).await;
    assert_first_twenty_offered(&line, &waiting).await;
    stop.store(true, Ordering::SeqCst);
    let (statuses, checks) = watcher.await.unwrap();
    assert!(checks > 0 && !statuses.is_empty());
    assert!(
        statuses.iter().all(|s| *s == 409),
        "a public hold got through: {statuses:?}"
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn three_workers_and_an_organizer_promoting_at_once_still_offer_exactly_twenty() {
    let (line, waiting) = fifty_waiting().await;
    let workers = [line.worker(), line.worker(), line.worker()];
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(&line, stop.clone());
    // Extra promotion jobs, so the three workers run promotions at once,
    // and the organizer's "promote now" on top.
    let event: uuid::Uuid = line.event.parse().unwrap();
    let producer = Producer::new(
        line.app.ctx.pool.clone(),
        line.app.ctx.redis(),
        line.app.ctx.settings.redis.key_prefix.clone(),
    );
    let mut tx = line.app.ctx.pool.begin().await.unwrap();
    let mut extra = Vec::new();
    for _ in 0..9 {
        extra.push(
            jobs::enqueue(&mut tx, &PromoteWaitlist { event_id: event })
                .await
                .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    let promote = format!("/api/v1/events/{}/waitlist/promote", line.event);
    let organizer =
        (0..5).map(|_| call(&line.app, Method::POST, &promote, Some(&line.alice), None));
    let (_, _, answers) = tokio::join!(
        cancel_all_at_once(&line),
        producer.dispatch(&extra),
        futures::future::join_all(organizer),
    );
    assert!(answers.iter().all(|r| r.status() == 200));
    assert_first_twenty_offered(&line, &waiting).await;
    stop.store(true, Ordering::SeqCst);
    let (statuses, _) = watcher.await.unwrap();
    assert!(
        statuses.iter().all(|s| *s == 409),
        "a public hold got through: {statuses:?}"
    );
    for worker in workers {
        worker.stop().await.unwrap();
    }
}

#[tokio::test]
async fn two_hundred_concurrent_joins_get_positions_one_to_two_hundred() {
    let line = sold_out(1, 1).await;
    let people = people(&line.app, 200).await;
    let body = json!({"quantity": 1, "ticket_type_id": line.ga});
    let joins = people.iter().map(|t| line.join(t, body.clone()));
    let mut positions = Vec::new();
    for response in futures::future::join_all(joins).await {
        positions.push(json_of(response, 201).await["position"].as_i64().unwrap());
    }
    positions.sort();
    assert_eq!(positions, (1..=200).collect::<Vec<i64>>());
    // And each entry's position read back is its place in join order.
    let mut read = Vec::new();
    for token in &people {
        read.push(line.me(token).await["position"].as_i64().unwrap());
    }
    read.sort();
    assert_eq!(read, (1..=200).collect::<Vec<i64>>());
}

#[tokio::test]
async fn cancelling_the_event_during_a_promotion_still_closes_every_entry_and_offer() {
    let line = sold_out(1, 1).await;
    let fans = line.waiting(3).await;
    // Free three units and stall the promotion on the ticket type's row,
    // as a long line would.
    let mut blocker = line.app.ctx.pool.begin().await.unwrap();
    sqlx::query!("UPDATE ticket_types SET capacity = 4")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let promote = line
        .app
        .url(&format!("/api/v1/events/{}/waitlist/promote", line.event));
    let alice = line.alice.clone();
    let promoting = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let response = client
            .post(promote)
            .bearer_auth(alice)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancel = format!("/api/v1/events/{}/cancel", line.event);
    json_of(
        call(&line.app, Method::POST, &cancel, Some(&line.alice), None).await,
        200,
    )
    .await;
    let worker = line.worker();
    // The cancel job's line close waits for the promotion, which waits for us.
    tokio::time::sleep(Duration::from_millis(500)).await;
    blocker.commit().await.unwrap();
    let (status, body) = promoting.await.unwrap();
    assert_eq!(status, 200, "{body}");
    for fan in &fans {
        line.until_status(fan, "closed").await;
    }
    marquee_worker::testing::wait_until_drained(&line.app.ctx, Duration::from_secs(20)).await;
    assert_eq!(
        count(
            &line.app,
            "SELECT count(*) FROM holds WHERE status = 'active'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&line.app, "SELECT sum(held) FROM ticket_types").await,
        0
    );
    worker.stop().await.unwrap();
}
