//! Redis restarted without persistence, or wiped, while 10,000 jobs are in
//! flight: every job succeeds once, and the jobs Redis lost are pushed
//! again within seconds, not after `jobs.redispatch_after_seconds`.

use std::time::{Duration, Instant};

use marquee_core::jobs::Noop;
use marquee_core::testing::PrivateRedis;

use crate::mail::Mail;
use crate::stack::Stack;

const JOBS: i64 = 10_000;
const EMAILS: usize = 1_000;

#[tokio::test(flavor = "multi_thread")]
async fn redis_restarted_empty_mid_run_loses_no_job_and_runs_none_twice() {
    lose_redis_mid_run("restart", |redis| {
        redis.stop();
        std::thread::sleep(Duration::from_secs(1));
        redis.start_again();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_wiped_mid_run_loses_no_job_and_runs_none_twice() {
    lose_redis_mid_run("flushall", |redis| {
        assert_eq!(redis.cli(&["FLUSHALL"]), "OK");
    })
    .await;
}

async fn lose_redis_mid_run(fault_name: &str, fault: impl FnOnce(&mut PrivateRedis)) {
    // The slow safety net stays at its default: only noticing the loss can
    // bring the jobs back within seconds.
    let mut mail = Mail::start();
    let mut env = vec![("MARQUEE__JOBS__REDISPATCH_AFTER_SECONDS", "300")];
    env.extend(mail.env());
    let mut stack = Stack::start(0, &env).await;
    mail.add_worker(&mut stack, "w0");
    mail.add_worker(&mut stack, "w1");
    let jobs = vec![
        Noop {
            sleep_ms: 40,
            ..Noop::default()
        };
        JOBS as usize
    ];
    stack.enqueue(&jobs).await;
    let emails = mail.enqueue(&mut stack, EMAILS).await;
    stack
        .until_succeeded(JOBS / 5, Duration::from_secs(60))
        .await;

    fault(stack.redis());
    let at_fault = stack.jobs_in("succeeded").await;
    let resumed = stack
        .until_succeeded(at_fault + 100, Duration::from_secs(30))
        .await;
    let all = stack
        .until_succeeded(JOBS + EMAILS as i64, Duration::from_secs(90))
        .await;
    let (received, repeats, counted) = mail.delivered_at_least_once(&emails).await;
    let api_ready = ready_within(&stack, Duration::from_secs(10)).await;

    println!(
        "{fault_name}: {at_fault} of {JOBS} jobs and {EMAILS} emails done at the fault; 100 more \
         {resumed:?} after Redis returned, all {all:?} after; API ready after {api_ready:?}; \
         {received} messages received, {repeats} repeats, {counted} counted"
    );
    assert_eq!(stack.jobs_in("succeeded").await, JOBS + EMAILS as i64);
    assert_eq!(stack.ran_twice().await, 0, "no job ran twice");
    assert!(
        resumed < Duration::from_secs(5),
        "work resumed after {resumed:?}"
    );
    assert!(
        all < Duration::from_secs(60),
        "lost jobs came back after {all:?}"
    );
    assert!(
        api_ready < Duration::from_secs(5),
        "API ready after {api_ready:?}"
    );

    // Rate limits and caches live only in Redis and rebuild themselves.
    let api = &stack.api;
    for _ in 0..2 {
        let events = api
            .client
            .get(api.url("/api/v1/events"))
            .send()
            .await
            .unwrap();
        assert_eq!(events.status(), 200, "the catalog (cached) answers");
    }
    let login = api
        .client
        .post(api.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "nobody@example.com", "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 401, "a rate-limited route answers");
}

/// How long until the API says it is ready again.
async fn ready_within(stack: &Stack, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let ready = stack
            .api
            .client
            .get(stack.api.url("/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "API not ready within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
