//! An operator runs the queues in a real browser: pause and resume while
//! jobs pile up, then find a dead job, read its error and retry it.

use std::time::{Duration, Instant};

use marquee_core::auth::Role;
use marquee_core::testing::TestContext;
use marquee_worker::testing::{InProcessWorker, SmtpSink};
use serde_json::json;

use crate::common::browser::Browser;
use crate::common::{TestApp, api_key, call, count, json_of, with_role};
use crate::organizer::sign_in;

/// The number in the `email` row's `ready` cell.
const READY: &str =
    "Number(document.querySelector('tr[data-queue=\"email\"] [data-count=\"ready\"]').textContent)";

#[tokio::test]
async fn an_operator_pauses_email_watches_jobs_wait_resumes_and_retries_a_dead_job() {
    let mut ctx = TestContext::new().await;
    let sink = SmtpSink::start();
    sink.configure(&mut ctx.settings);
    let app = TestApp::spawn_with(ctx).await;
    let worker = InProcessWorker::start(&app.ctx, marquee_worker::Registry::standard());
    let admin = with_role(&app, "ops@example.com", Role::Admin).await;
    let key = api_key(&app, &admin, json!(["email:send"])).await;

    let browser = Browser::open(&app.base, "operator").await;
    sign_in(&browser, "ops@example.com", "/ops").await;
    browser
        .wait_text("tr[data-queue='email']", "Running", Duration::from_secs(5))
        .await;
    let serious = browser.axe().await;
    assert!(serious.is_empty(), "ops home: {serious:#?}");
    browser
        .client
        .execute("window.neverReloaded = true;", vec![])
        .await
        .unwrap();

    // Pause: the whole fleet stops taking email jobs, and they wait.
    browser.click("button[aria-label='Pause email']").await;
    browser
        .wait_text("tr[data-queue='email']", "Paused", Duration::from_secs(5))
        .await;
    browser
        .client
        .execute("window.neverReloaded = true;", vec![])
        .await
        .unwrap();
    // Workers read pauses every `worker.pause_poll_ms` (500 ms).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for n in 0..5 {
        let task = json!({"type": "message", "payload": {"to": format!("guest{n}@example.com"), "subject": "Hello", "text": "Hi"}});
        let response = app
            .client
            .post(app.url("/api/v1/tasks"))
            .header("x-api-key", &key)
            .json(&task)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    }
    // The table refreshes by itself: the ready jobs grow without a reload.
    browser
        .wait_js(
            &format!("window.neverReloaded && {READY} >= 5"),
            Duration::from_secs(10),
        )
        .await;
    browser.shot("email-paused-jobs-waiting").await;
    let to_guests = |sink: &SmtpSink| {
        sink.messages()
            .iter()
            .filter(|m| m.contains("guest"))
            .count()
    };
    assert_eq!(to_guests(&sink), 0, "nothing is sent while paused");

    browser.click("button[aria-label='Resume email']").await;
    browser
        .wait_text("tr[data-queue='email']", "Running", Duration::from_secs(5))
        .await;
    browser
        .client
        .execute("window.neverReloaded = true;", vec![])
        .await
        .unwrap();
    browser
        .wait_js(
            &format!("window.neverReloaded && {READY} === 0"),
            Duration::from_secs(20),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while to_guests(&sink) < 5 {
        assert!(Instant::now() < deadline, "the paused mail never went out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.shot("email-resumed").await;

    // A job that dies on its first attempt.
    let job = json_of(
        call(
            &app,
            reqwest::Method::POST,
            "/api/v1/system/noop",
            Some(&admin),
            Some(json!({"fail_attempts": 1, "max_attempts": 1})),
        )
        .await,
        202,
    )
    .await;
    let job_id = job["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&app, "SELECT count(*) FROM jobs WHERE status = 'dead'").await == 0 {
        assert!(Instant::now() < deadline, "the noop never died");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    browser.goto("/ops").await;
    browser.click_link("Dead jobs").await;
    browser.click(&format!("tr[data-job='{job_id}'] a")).await;
    let attempts = browser.text("main").await;
    assert!(
        attempts.contains("noop asked to fail attempt 1"),
        "{attempts}"
    );
    assert_eq!(browser.text("#job-state").await, "dead");
    browser.shot("dead-job-with-error").await;
    browser.click("#retry").await;
    // The retry asks first.
    let question = browser.client.get_alert_text().await.unwrap();
    assert!(question.contains("Retry this job"), "{question}");
    browser.client.accept_alert().await.unwrap();
    browser
        .wait_text("#job-state", "succeeded", Duration::from_secs(20))
        .await;
    browser.shot("retried-job-succeeded").await;
    let audited = count(
        &app,
        "SELECT count(*) FROM ops_audit WHERE action IN ('pause', 'resume', 'retry')",
    )
    .await;
    assert_eq!(audited, 3, "every operator action is audited");

    browser.goto("/ops/history").await;
    assert_eq!(browser.all("svg.chart").await.len(), 4);
    browser.goto("/ops/audit").await;
    browser
        .wait_text("main table", "retry", Duration::from_secs(5))
        .await;
    browser.assert_no_csp_violations().await;
    browser.close().await;
    worker.stop().await.unwrap();
}
