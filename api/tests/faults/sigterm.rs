//! SIGTERM under load, as an orchestrator stops each kind of process: the
//! API finishes what it is answering and takes no new connections, a worker
//! finishes or hands back its jobs, the scheduler stops between passes; each
//! exits 0 and nothing is lost.

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use marquee_core::jobs::Noop;
use serde_json::json;

use crate::checkout_crash::{Checkout, held};
use crate::common::process::ApiProcess;
use crate::common::*;
use crate::stack::{Stack, terminate};

#[tokio::test(flavor = "multi_thread")]
async fn the_api_finishes_in_flight_requests_refuses_new_connections_and_exits_0() {
    let Checkout { app, buyer, hold } = held().await;
    let mut api = ApiProcess::spawn(
        &app.ctx,
        &[("MARQUEE__HTTP__SHUTDOWN_TIMEOUT_SECONDS", "20")],
    )
    .await;
    let port = api.base.rsplit(':').next().unwrap().parse::<u16>().unwrap();

    // A checkout that takes 10 s at the provider, and readers all along.
    let checkout = api
        .client
        .post(api.url("/api/v1/bookings"))
        .bearer_auth(&buyer)
        .header("Idempotency-Key", "slow-1")
        .json(&json!({"hold_id": hold, "payment": {"method": "card", "token": "tok_slow"}}))
        .send();
    let checkout = tokio::spawn(checkout);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let (url, stop) = (api.url("/api/v1/events"), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut statuses = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match client.get(&url).send().await {
                        Ok(response) => statuses.push(response.status().as_u16()),
                        Err(_) => break, // the listener closed
                    }
                }
                statuses
            })
        })
        .collect();
    let started = Instant::now();
    while count(&app, "SELECT count(*) FROM fake_provider_charges").await < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "the checkout never charged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    api.terminate();
    let termed = Instant::now();
    // New connections are refused once the listener has closed.
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_err() {
            break;
        }
        assert!(
            termed.elapsed() < Duration::from_secs(2),
            "still accepting after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused_after = termed.elapsed();
    let booked = checkout
        .await
        .unwrap()
        .expect("the in-flight checkout was answered");
    assert_eq!(booked.status(), 201, "and it completed");
    let status = api.wait(Duration::from_secs(25)).await.expect("it exited");
    assert!(status.success(), "exit status {status:?}");
    stop.store(true, Ordering::SeqCst);
    let mut answered = 0;
    for reader in readers {
        let statuses = reader.await.unwrap();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        answered += statuses.len();
    }
    println!(
        "api SIGTERM: listener closed {refused_after:?} after; the 10 s checkout completed; \
         {answered} reads all 200; exited after {:?}",
        termed.elapsed()
    );
    assert_eq!(count(&app, "SELECT count(*) FROM bookings").await, 1);
    assert_eq!(
        count(&app, "SELECT count(*) FROM payments WHERE status = 'paid'").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_finishes_or_hands_back_its_jobs_and_exits_0() {
    let mut stack = Stack::start(1, &[("MARQUEE__WORKER__SHUTDOWN_TIMEOUT_SECONDS", "10")]).await;
    let jobs = vec![
        Noop {
            sleep_ms: 50,
            ..Noop::default()
        };
        3_000
    ];
    stack.enqueue(&jobs).await;
    stack.until_succeeded(300, Duration::from_secs(60)).await;
    let termed = Instant::now();
    let status = terminate(&mut stack.workers[0], Duration::from_secs(15)).await;
    let exited_in = termed.elapsed();
    assert!(status.success(), "exit status {status:?}");
    // Jobs take 50 ms: nothing should keep it near its 10 s grace.
    assert!(
        exited_in < Duration::from_secs(5),
        "exited after {exited_in:?}"
    );
    let done_at_stop = stack.jobs_in("succeeded").await;
    assert!(
        stack.unfinished_running().await == 0,
        "nothing left running"
    );

    stack.add_worker("w1");
    stack.until_succeeded(3_000, Duration::from_secs(90)).await;
    println!(
        "worker SIGTERM: exited 0 after {exited_in:?}; {done_at_stop} of 3000 done; the rest by the next"
    );
    assert_eq!(
        stack.ran_twice().await,
        0,
        "no job ran twice, none was lost"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduler_stops_between_passes_and_loses_nothing() {
    let mut stack = Stack::start(1, &[]).await;
    // Rows no producer pushed: only the relay brings them to Redis.
    stack.enqueue_unpushed(&vec![Noop::default(); 5_000]).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let status = terminate(&mut stack.scheduler, Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status:?}");
    stack.restart_scheduler();
    stack.until_succeeded(5_000, Duration::from_secs(60)).await;
    assert_eq!(stack.ran_twice().await, 0);
}
