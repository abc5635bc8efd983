//! Operations against real worker processes: pausing a queue two processes
//! consume, a restart while paused, the registry noticing a SIGKILL, and
//! history that adds up across processes.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use marquee_core::jobs::{self, Noop, Producer};
use marquee_core::testing::TestContext;
use marquee_worker::testing::SmtpSink;
use reqwest::Method;
use serde_json::{Value, json};

/// The `marquee-worker` binary next to this test's own (`cargo test
/// --workspace`, as `just test` runs, builds it).
fn worker_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("marquee-worker");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p marquee-worker` (just test does)",
        bin.display()
    );
    bin
}

/// A worker process named `name` on `queues`, with extra `MARQUEE__…` settings.
fn spawn_worker(ctx: &TestContext, name: &str, queues: &str, env: &[(&str, String)]) -> Child {
    let mut command = Command::new(worker_binary());
    command
        .args(["--queues", queues, "--name", name])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .envs(ctx.process_env());
    if std::env::var_os("TEST_LOG").is_none() {
        command.stdout(Stdio::null()).stderr(Stdio::null());
    }
    command.spawn().expect("spawn marquee-worker")
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn workers(app: &TestApp, admin: &str) -> Vec<Value> {
    json_of(
        call(app, Method::GET, "/api/v1/ops/workers", Some(admin), None).await,
        200,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn worker_status(app: &TestApp, admin: &str, name: &str) -> Option<String> {
    workers(app, admin)
        .await
        .iter()
        .find(|w| w["name"] == name)
        .map(|w| w["status"].as_str().unwrap().to_owned())
}

async fn email_queue(app: &TestApp, admin: &str) -> Value {
    let queues = json_of(
        call(app, Method::GET, "/api/v1/ops/queues", Some(admin), None).await,
        200,
    )
    .await;
    queues["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "email")
        .unwrap()
        .clone()
}

async fn submit(app: &TestApp, key: &str, to: &str) {
    let response = app
        .client
        .post(app.url("/api/v1/tasks"))
        .header("x-api-key", key)
        .json(&json!({"type": "message", "payload": {"to": to, "subject": "Hi", "text": "Hello"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

async fn started_email_jobs(app: &TestApp) -> i64 {
    count(
        app,
        "SELECT count(*) FROM jobs j WHERE queue = 'email'
           AND (attempts > 0 OR EXISTS (SELECT 1 FROM job_runs r WHERE r.job_id = j.id))",
    )
    .await
}

#[tokio::test]
async fn pausing_email_holds_off_two_worker_processes_and_a_restarted_one() {
    let sink = SmtpSink::start();
    let mut ctx = TestContext::new().await;
    sink.configure(&mut ctx.settings);
    let app = TestApp::spawn_with(ctx).await;
    let admin = admin_token(&app).await;
    let session = register(&app, "shop@example.com").await;
    let key = api_key(&app, access_token(&session), json!(["email:send"])).await;
    let env = [
        ("MARQUEE__EMAIL__TRANSPORT", "smtp".to_owned()),
        ("MARQUEE__EMAIL__SMTP__PORT", sink.port.to_string()),
    ];
    let mut first = spawn_worker(&app.ctx, "mail-1", "email,system", &env);
    let mut second = spawn_worker(&app.ctx, "mail-2", "email,system", &env);
    wait_for("two live workers", Duration::from_secs(20), async || {
        workers(&app, &admin)
            .await
            .iter()
            .filter(|w| w["status"] == "live")
            .count()
            == 2
    })
    .await;
    for n in 0..5 {
        submit(&app, &key, &format!("before-{n}@example.com")).await;
    }
    marquee_worker::testing::wait_until_drained(&app.ctx, Duration::from_secs(20)).await;
    let started_before = started_email_jobs(&app).await;

    let paused = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/ops/queues/email/pause",
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(paused["paused"], true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for n in 0..20 {
        submit(&app, &key, &format!("held-{n}@example.com")).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        started_email_jobs(&app).await,
        started_before,
        "no email job starts while paused"
    );
    let queue = email_queue(&app, &admin).await;
    assert_eq!(
        (queue["ready"].as_i64(), queue["paused"].as_bool()),
        (Some(20), Some(true)),
        "{queue}"
    );

    // A restart while paused: the new process reads the pause before it
    // takes anything.
    signal(&first, "-TERM");
    assert!(first.wait().unwrap().success());
    let mut third = spawn_worker(&app.ctx, "mail-3", "email,system", &env);
    wait_for(
        "the new worker is live",
        Duration::from_secs(20),
        async || worker_status(&app, &admin, "mail-3").await.as_deref() == Some("live"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        started_email_jobs(&app).await,
        started_before,
        "still paused after a restart"
    );
    assert_eq!(
        worker_status(&app, &admin, "mail-1").await.as_deref(),
        Some("gone")
    );

    json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/ops/queues/email/resume",
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    marquee_worker::testing::wait_until_drained(&app.ctx, Duration::from_secs(30)).await;
    let held: Vec<String> = sink
        .messages()
        .into_iter()
        .filter(|m| m.contains("held-"))
        .collect();
    assert_eq!(
        held.len(),
        20,
        "each held email goes out once after the resume"
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM jobs WHERE queue = 'email' AND status <> 'succeeded'"
        )
        .await,
        0
    );
    for child in [&mut second, &mut third] {
        child.kill().ok();
        child.wait().ok();
    }
}

#[tokio::test]
async fn a_worker_killed_with_sigkill_shows_as_gone_within_its_heartbeat_window() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let env = [
        ("MARQUEE__WORKER__HEARTBEAT_SECONDS", "1".to_owned()),
        ("MARQUEE__WORKER__MISSED_HEARTBEATS", "3".to_owned()),
    ];
    let mut doomed = spawn_worker(&app.ctx, "doomed", "system", &env);
    let mut graceful = spawn_worker(&app.ctx, "graceful", "system", &env);
    wait_for("both live", Duration::from_secs(20), async || {
        worker_status(&app, &admin, "doomed").await.as_deref() == Some("live")
            && worker_status(&app, &admin, "graceful").await.as_deref() == Some("live")
    })
    .await;
    let listed = workers(&app, &admin).await;
    let row = listed.iter().find(|w| w["name"] == "doomed").unwrap();
    assert_eq!(row["queues"], json!(["system"]));
    assert_eq!(row["pid"], doomed.id());
    assert!(row["host"].is_string() && row["version"].is_string() && row["concurrency"].is_i64());

    signal(&doomed, "-KILL");
    doomed.wait().ok();
    let killed = Instant::now();
    wait_for(
        "the killed worker is gone",
        Duration::from_secs(3 + 2),
        async || worker_status(&app, &admin, "doomed").await.as_deref() == Some("gone"),
    )
    .await;
    assert!(killed.elapsed() <= Duration::from_secs(5));
    signal(&graceful, "-TERM");
    assert!(graceful.wait().unwrap().success());
    assert_eq!(
        worker_status(&app, &admin, "graceful").await.as_deref(),
        Some("gone"),
        "a clean stop shows at once"
    );
}

#[tokio::test]
async fn history_adds_up_to_what_two_workers_ran() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    // Each holds a few jobs at a time, so neither can drain all 300 no-ops
    // before the other's first poll (under a loaded CI run one once did).
    let small = [
        ("MARQUEE__WORKER__CONCURRENCY", "2".to_owned()),
        ("MARQUEE__WORKER__PIPELINE", "1".to_owned()),
    ];
    let mut a = spawn_worker(&app.ctx, "left", "system", &small);
    let mut b = spawn_worker(&app.ctx, "right", "system", &small);
    wait_for("two live workers", Duration::from_secs(20), async || {
        workers(&app, &admin)
            .await
            .iter()
            .filter(|w| w["status"] == "live")
            .count()
            == 2
    })
    .await;
    let mut batch = vec![Noop::default(); 180];
    batch.extend(vec![
        Noop {
            fail_attempts: 1,
            ..Noop::default()
        };
        100
    ]);
    batch.extend(vec![
        Noop {
            permanent: true,
            ..Noop::default()
        };
        20
    ]);
    let mut tx = app.ctx.pool.begin().await.unwrap();
    let written = jobs::enqueue_many(&mut tx, &batch).await.unwrap();
    tx.commit().await.unwrap();
    Producer::new(
        app.ctx.pool.clone(),
        app.ctx.redis(),
        app.ctx.settings.redis.key_prefix.clone(),
    )
    .dispatch(&written)
    .await;
    marquee_worker::testing::wait_until_drained(&app.ctx, Duration::from_secs(30)).await;

    // 300 jobs: 400 attempts, of which 100 failed and were retried and 20 died.
    let history = json_of(
        call(
            &app,
            Method::GET,
            "/api/v1/ops/history?queue=system",
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    let sum = |field: &str| -> i64 {
        history["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[field].as_i64().unwrap())
            .sum()
    };
    assert_eq!((sum("processed"), sum("failed")), (400, 120), "{history}");
    let days = json_of(
        call(
            &app,
            Method::GET,
            "/api/v1/ops/history?queue=system&resolution=day",
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    let day_total: i64 = days["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["processed"].as_i64().unwrap())
        .sum();
    assert_eq!(day_total, 400);
    let ran_by = count(
        &app,
        "SELECT count(DISTINCT worker) FROM jobs WHERE queue = 'system'",
    )
    .await;
    assert_eq!(ran_by, 2, "both processes ran jobs");
    for child in [&mut a, &mut b] {
        child.kill().ok();
        child.wait().ok();
    }
}

#[tokio::test]
async fn jobs_a_worker_fetched_but_had_not_started_go_back_to_the_queue_on_pause() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    // One job at a time, ten fetched at once: nine wait inside the worker.
    let env = [
        ("MARQUEE__WORKER__FETCH_BATCH", "10".to_owned()),
        ("MARQUEE__WORKER__CONCURRENCY", "1".to_owned()),
    ];
    let mut worker = spawn_worker(&app.ctx, "one-at-a-time", "system", &env);
    wait_for("the worker is live", Duration::from_secs(20), async || {
        worker_status(&app, &admin, "one-at-a-time")
            .await
            .as_deref()
            == Some("live")
    })
    .await;
    let mut tx = app.ctx.pool.begin().await.unwrap();
    let written = jobs::enqueue_many(
        &mut tx,
        &vec![
            Noop {
                sleep_ms: 1_000,
                ..Noop::default()
            };
            10
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Producer::new(
        app.ctx.pool.clone(),
        app.ctx.redis(),
        app.ctx.settings.redis.key_prefix.clone(),
    )
    .dispatch(&written)
    .await;
    let active = format!(
        "{}:active",
        marquee_core::redis::queue_namespace(&app.ctx.settings.redis.key_prefix, "system")
    );
    let mut redis = app.ctx.redis();
    wait_for(
        "the worker fetched the batch",
        Duration::from_secs(10),
        async || {
            redis::cmd("LLEN")
                .arg(&active)
                .query_async::<i64>(&mut redis)
                .await
                .unwrap()
                == 0
                && count(&app, "SELECT count(*) FROM job_runs").await >= 1
        },
    )
    .await;
    json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/ops/queues/system/pause",
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    // The running job finishes; the fetched ones (claimed ahead of a
    // handler) give their claims back and go back to the list.
    wait_for(
        "the unstarted jobs are back in Redis",
        Duration::from_secs(5),
        async || {
            redis::cmd("LLEN")
                .arg(&active)
                .query_async::<i64>(&mut redis)
                .await
                .unwrap()
                >= 8
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let started = count(
        &app,
        "SELECT count(*) FROM jobs j
         WHERE attempts > 0 OR EXISTS (SELECT 1 FROM job_runs r WHERE r.job_id = j.id)",
    )
    .await;
    assert!(
        (1..=2).contains(&started),
        "{started} jobs started around the pause"
    );
    let back: i64 = redis::cmd("LLEN")
        .arg(&active)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        back,
        10 - started,
        "every unstarted job is back in the queue"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM job_runs").await, 0);

    json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/ops/queues/system/resume",
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
    marquee_worker::testing::wait_until_drained(&app.ctx, Duration::from_secs(30)).await;
    let runs = sqlx::query_scalar!(r#"SELECT attempts AS "attempts!" FROM jobs"#)
        .fetch_all(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(runs, vec![1; 10], "each job ran once");
    worker.kill().ok();
    worker.wait().ok();
}
