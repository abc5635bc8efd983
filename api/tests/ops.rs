//! Operations API: dead jobs listed with every attempt and retried, bulk
//! actions, cancel, and who may do what.

mod common;

use std::time::Duration;

use common::*;
use marquee_core::auth::Role;
use marquee_core::jobs::{self, Noop, Producer};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    json_of(call(app, Method::GET, path, Some(token), None).await, 200).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value, status: u16) -> Value {
    json_of(
        call(app, Method::POST, path, Some(token), Some(body)).await,
        status,
    )
    .await
}

/// Enqueues `n` noop jobs like `job` through the outbox; returns their ids.
async fn noops(app: &TestApp, job: Noop, n: usize, max_attempts: i32) -> Vec<Uuid> {
    let mut tx = app.ctx.pool.begin().await.unwrap();
    let written = jobs::enqueue_many(&mut tx, &vec![job; n]).await.unwrap();
    let ids: Vec<Uuid> = written.iter().map(|j| j.id).collect();
    sqlx::query!(
        "UPDATE jobs SET max_attempts = $2 WHERE id = ANY($1)",
        &ids,
        max_attempts
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let producer = Producer::new(
        app.ctx.pool.clone(),
        app.ctx.redis(),
        app.ctx.settings.redis.key_prefix.clone(),
    );
    for chunk in written.chunks(1_000) {
        producer.dispatch(chunk).await;
    }
    ids
}

async fn drain(app: &TestApp) {
    drain_within(app, app.ctx.settings.clone(), Duration::from_secs(60)).await;
}

async fn job(app: &TestApp, token: &str, id: Uuid) -> Value {
    get(app, token, &format!("/api/v1/ops/jobs/{id}")).await
}

fn queue<'a>(queues: &'a Value, name: &str) -> &'a Value {
    queues["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .unwrap()
}

#[tokio::test]
async fn a_dead_job_is_listed_with_each_attempt_and_runs_again_when_retried() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let [id] = noops(
        &app,
        Noop {
            fail_attempts: 10,
            ..Noop::default()
        },
        1,
        2,
    )
    .await[..] else {
        unreachable!()
    };
    drain(&app).await;

    let dead = get(&app, &admin, "/api/v1/ops/jobs?state=dead&queue=system").await;
    let listed = &dead["items"][0];
    assert_eq!(listed["id"], id.to_string(), "{dead}");
    assert_eq!(listed["last_error"], "noop asked to fail attempt 2");
    assert_eq!(dead["items"].as_array().unwrap().len(), 1);
    let detail = job(&app, &admin, id).await;
    let log = detail["attempts_log"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{detail}");
    for (n, (attempt, outcome)) in log.iter().zip(["retrying", "dead"]).enumerate() {
        assert_eq!(attempt["attempt"], n + 1);
        assert_eq!(attempt["outcome"], outcome);
        assert_eq!(
            attempt["error"],
            format!("noop asked to fail attempt {}", n + 1)
        );
        assert!(attempt["worker"].is_string() && attempt["started_at"].is_string());
        assert!(attempt["finished_at"].as_str() >= attempt["started_at"].as_str());
    }
    assert_eq!(detail["payload"], json!({"fail_attempts": 10}));
    let queues = get(&app, &admin, "/api/v1/ops/queues").await;
    assert_eq!(queue(&queues, "system")["dead"], 1, "{queues}");
    assert_eq!(queue(&queues, "system")["failed"]["hour"], 2);

    // The cause is fixed (here: in the test data), and the retry runs it.
    sqlx::query!("UPDATE jobs SET payload = '{}' WHERE id = $1", id)
        .execute(&app.ctx.pool)
        .await
        .unwrap();
    let retried = post(
        &app,
        &admin,
        &format!("/api/v1/ops/jobs/{id}/retry"),
        json!({}),
        200,
    )
    .await;
    assert_eq!(retried["state"], "retrying");
    drain(&app).await;
    let detail = job(&app, &admin, id).await;
    assert_eq!(detail["state"], "succeeded", "{detail}");
    assert_eq!(detail["attempts"], 3);
    let succeeded = &detail["attempts_log"][2];
    assert_eq!(succeeded["outcome"], "succeeded", "{detail}");
    assert_eq!(succeeded["attempt"], 3);
    assert!(succeeded["worker"].is_string() && succeeded["error"].is_null());
    assert!(succeeded["finished_at"].as_str() >= succeeded["started_at"].as_str());
    assert_eq!(detail["attempts_log"].as_array().unwrap().len(), 3);
    // A row that succeeded under an older release logged its last attempt
    // too: it is listed once, not twice.
    sqlx::query!(
        r#"UPDATE jobs SET attempt_log = attempt_log || jsonb_build_array(jsonb_build_object(
               'attempt', attempts, 'worker', worker, 'started_at', started_at,
               'finished_at', finished_at, 'outcome', 'succeeded', 'error', NULL))
           WHERE id = $1"#,
        id
    )
    .execute(&app.ctx.pool)
    .await
    .unwrap();
    let detail = job(&app, &admin, id).await;
    assert_eq!(
        detail["attempts_log"].as_array().unwrap().len(),
        3,
        "{detail}"
    );
    assert_eq!(detail["attempts_log"][2], succeeded.clone());
    // Nothing left to retry.
    let refused = problem(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/ops/jobs/{id}/retry"),
            Some(&admin),
            None,
        )
        .await,
        409,
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("succeeded"),
        "{refused}"
    );
    let audit = get(&app, &admin, "/api/v1/ops/audit").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["items"][0]["action"], "retry");
    assert_eq!(audit["items"][0]["job_id"], id.to_string());
    assert_eq!(audit["items"][0]["changed"], 1);
}

#[tokio::test]
async fn a_bulk_retry_by_error_runs_each_of_a_thousand_dead_jobs_exactly_once_more() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let broken = noops(
        &app,
        Noop {
            permanent: true,
            ..Noop::default()
        },
        1_000,
        5,
    )
    .await;
    let other = noops(
        &app,
        Noop {
            fail_attempts: 9,
            ..Noop::default()
        },
        5,
        1,
    )
    .await;
    drain(&app).await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM jobs WHERE status = 'dead'").await,
        1_005
    );

    sqlx::query!("UPDATE jobs SET payload = '{}' WHERE id = ANY($1)", &broken)
        .execute(&app.ctx.pool)
        .await
        .unwrap();
    let filter = json!({"filter": {"error": "FAIL PERMANENTLY", "state": "dead"}});
    let outcome = post(&app, &admin, "/api/v1/ops/jobs/retry", filter, 200).await;
    assert_eq!(
        outcome,
        json!({"matched": 1000, "changed": 1000, "truncated": false})
    );
    drain(&app).await;

    let runs = sqlx::query!(
        r#"SELECT status, attempts, jsonb_array_length(attempt_log) AS "logged!"
           FROM jobs WHERE id = ANY($1)"#,
        &broken
    )
    .fetch_all(&app.ctx.pool)
    .await
    .unwrap();
    assert_eq!(runs.len(), 1_000);
    // The failed attempt is in the log; the one that succeeded is the row's
    // own worker, started_at and finished_at (the outcome writes no entry).
    for run in runs {
        assert_eq!(
            (run.status.as_str(), run.attempts, run.logged),
            ("succeeded", 2, 1)
        );
    }
    let untouched = sqlx::query_scalar!("SELECT status FROM jobs WHERE id = ANY($1)", &other)
        .fetch_all(&app.ctx.pool)
        .await
        .unwrap();
    assert!(untouched.iter().all(|s| s == "dead"), "{untouched:?}");
    // The history adds up to what ran: 2,005 attempts, 1,005 of them failed.
    let history = get(&app, &admin, "/api/v1/ops/history?queue=system").await;
    let sum = |field: &str| -> i64 {
        history["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[field].as_i64().unwrap())
            .sum()
    };
    assert_eq!(
        (sum("processed"), sum("failed")),
        (2_005, 1_005),
        "{history}"
    );
    let audit = get(&app, &admin, "/api/v1/ops/audit?action=retry").await;
    assert_eq!(audit["items"][0]["changed"], 1000);
    assert_eq!(
        audit["items"][0]["target"]["filter"]["error"],
        "FAIL PERMANENTLY"
    );

    // Discarding by ids deletes the dead ones only. A dead job whose task
    // Redis still holds is left for a later discard: a drain's worker can
    // stop after the ledger write and before apalis acknowledged the task,
    // which a live worker re-enqueues (and then skips) only after the
    // missed-heartbeat timeout. So discard again, with a worker running,
    // until those have gone through.
    let ids: Vec<Uuid> = other.iter().chain(&broken[..3]).copied().collect();
    let worker = marquee_worker::testing::InProcessWorker::start(
        &app.ctx,
        marquee_worker::Registry::standard(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let mut changed = 0;
    loop {
        let discarded = post(
            &app,
            &admin,
            "/api/v1/ops/jobs/discard",
            json!({"ids": ids}),
            200,
        )
        .await;
        if changed == 0 {
            assert_eq!(discarded["matched"], 8, "{discarded}");
        }
        changed += discarded["changed"].as_i64().unwrap();
        if changed >= 5 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    worker.stop().await.unwrap();
    assert_eq!(changed, 5, "the five dead jobs, never the succeeded ones");
    assert_eq!(
        count(&app, "SELECT count(*) FROM jobs WHERE status = 'dead'").await,
        0
    );
}

#[tokio::test]
async fn a_cancelled_job_never_runs_and_a_running_one_cannot_be_cancelled() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let paused = post(
        &app,
        &admin,
        "/api/v1/ops/queues/system/pause",
        json!({}),
        200,
    )
    .await;
    assert_eq!(paused["paused"], true);
    let [queued] = noops(&app, Noop::default(), 1, 5).await[..] else {
        unreachable!()
    };
    let worker = marquee_worker::testing::InProcessWorker::start(
        &app.ctx,
        marquee_worker::Registry::standard(),
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(job(&app, &admin, queued).await["state"], "ready");
    let cancelled = post(
        &app,
        &admin,
        &format!("/api/v1/ops/jobs/{queued}/cancel"),
        json!({}),
        200,
    )
    .await;
    assert_eq!(cancelled["state"], "cancelled");
    problem(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/ops/jobs/{queued}/cancel"),
            Some(&admin),
            None,
        )
        .await,
        409,
    )
    .await;
    post(
        &app,
        &admin,
        "/api/v1/ops/queues/system/resume",
        json!({}),
        200,
    )
    .await;

    let [slow] = noops(
        &app,
        Noop {
            sleep_ms: 2_000,
            ..Noop::default()
        },
        1,
        5,
    )
    .await[..] else {
        unreachable!()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while job(&app, &admin, slow).await["state"] != "running" {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow job never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = problem(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/ops/jobs/{slow}/cancel"),
            Some(&admin),
            None,
        )
        .await,
        409,
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("running"),
        "{refused}"
    );
    marquee_worker::testing::wait_until_drained(&app.ctx, Duration::from_secs(20)).await;
    worker.stop().await.unwrap();
    assert_eq!(job(&app, &admin, slow).await["state"], "succeeded");
    let never = job(&app, &admin, queued).await;
    assert_eq!(
        (never["state"].as_str(), never["attempts"].as_i64()),
        (Some("cancelled"), Some(0))
    );
    let listed = get(&app, &admin, "/api/v1/ops/jobs?state=cancelled").await;
    assert_eq!(listed["items"][0]["id"], queued.to_string());
    let actions: Vec<String> = get(&app, &admin, "/api/v1/ops/audit").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["resume", "cancel", "pause"]);
}

/// The ids of a listing's page, in order.
fn ids_of(page: &Value) -> Vec<Uuid> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Every job `GET /ops/jobs?{filter}` lists, following the cursor: the first
/// page holds `first` jobs, the others `then`.
async fn every_page(app: &TestApp, token: &str, filter: &str, first: u32, then: u32) -> Vec<Uuid> {
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/ops/jobs?{filter}&limit={first}");
    loop {
        let page = get(app, token, &path).await;
        seen.extend(ids_of(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/api/v1/ops/jobs?{filter}&limit={then}&cursor={cursor}")
            }
            None => return seen,
        }
    }
}

#[tokio::test]
async fn pages_follow_the_cursor_without_repeats() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let mut ids = noops(&app, Noop::default(), 25, 5).await;
    let seen = every_page(&app, &admin, "queue=system", 10, 10).await;
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");
    let by_id = get(&app, &admin, &format!("/api/v1/ops/jobs?id={}", ids[3])).await;
    assert_eq!(by_id["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_page_ending_on_a_name_based_id_goes_on_in_id_order() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let ids = noops(&app, Noop::default(), 25, 5).await;
    // A tickets email of an older release: a name-based id, which sorts
    // above every UUIDv7 here, created a day ago.
    let legacy: Uuid = "ffffffff-ffff-5fff-bfff-ffffffffffff".parse().unwrap();
    sqlx::query!(
        "INSERT INTO jobs (id, queue, kind, payload, status, created_at)
         VALUES ($1, 'system', 'noop', '{}', 'succeeded', now() - interval '1 day')",
        legacy
    )
    .execute(&app.ctx.pool)
    .await
    .unwrap();
    // The first page is one job: it ends on the name-based id.
    let seen = every_page(&app, &admin, "queue=system", 1, 10).await;
    let mut expected = vec![legacy];
    expected.extend(ids.iter().rev());
    assert_eq!(seen, expected, "each job once, in id order");
}

#[tokio::test]
async fn creation_time_filters_find_every_job_in_the_range_despite_clock_skew() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let ids = noops(&app, Noop::default(), 25, 5).await;
    // Each row's creation time up to four minutes either side of its id's
    // (another host's clock, a long transaction): within the listing's slack.
    sqlx::query!(
        "UPDATE jobs SET created_at = now() + (n - 13) * interval '20 seconds'
         FROM UNNEST($1::uuid[]) WITH ORDINALITY AS v(id, n) WHERE jobs.id = v.id",
        &ids
    )
    .execute(&app.ctx.pool)
    .await
    .unwrap();
    let now = chrono::Utc::now();
    for (from, to) in [
        (
            now - chrono::Duration::seconds(60),
            now + chrono::Duration::seconds(60),
        ),
        (
            now - chrono::Duration::minutes(10),
            now - chrono::Duration::seconds(100),
        ),
        (
            now + chrono::Duration::seconds(130),
            now + chrono::Duration::minutes(10),
        ),
    ] {
        let expected: Vec<Uuid> = sqlx::query_scalar!(
            "SELECT id FROM jobs WHERE created_at >= $1 AND created_at < $2 ORDER BY id DESC",
            from,
            to
        )
        .fetch_all(&app.ctx.pool)
        .await
        .unwrap();
        assert!(!expected.is_empty());
        let page = get(
            &app,
            &admin,
            &format!(
                "/api/v1/ops/jobs?created_from={}&created_to={}",
                urlencode(&from.to_rfc3339()),
                urlencode(&to.to_rfc3339())
            ),
        )
        .await;
        assert_eq!(ids_of(&page), expected, "{from} .. {to}");
    }
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn only_admins_and_their_ops_keys_operate() {
    let app = TestApp::spawn().await;
    let [id] = noops(&app, Noop::default(), 1, 5).await[..] else {
        unreachable!()
    };
    let user = with_role(&app, "user@example.com", Role::User).await;
    let reads = [
        "/api/v1/ops/queues".to_owned(),
        "/api/v1/ops/jobs".to_owned(),
        format!("/api/v1/ops/jobs/{id}"),
        "/api/v1/ops/workers".to_owned(),
        "/api/v1/ops/history".to_owned(),
        "/api/v1/ops/audit".to_owned(),
    ];
    let writes = [
        "/api/v1/ops/queues/system/pause".to_owned(),
        format!("/api/v1/ops/jobs/{id}/cancel"),
    ];
    for path in &reads {
        problem(call(&app, Method::GET, path, Some(&user), None).await, 403).await;
    }
    for path in &writes {
        problem(call(&app, Method::POST, path, Some(&user), None).await, 403).await;
    }
    problem(
        call(
            &app,
            Method::POST,
            "/api/v1/api-keys",
            Some(&user),
            Some(json!({"name": "ops", "scopes": ["ops:read"]})),
        )
        .await,
        403,
    )
    .await;

    let admin = with_role(&app, "ops@example.com", Role::Admin).await;
    let reader = api_key(&app, &admin, json!(["ops:read"])).await;
    let writer = api_key(&app, &admin, json!(["ops:write"])).await;
    let mailer = api_key(&app, &admin, json!(["email:send"])).await;
    let with_key = |method: Method, path: &str, key: &str| {
        app.client
            .request(method, app.url(path))
            .header("x-api-key", key)
            .send()
    };
    for path in &reads {
        assert_eq!(
            with_key(Method::GET, path, &reader).await.unwrap().status(),
            200,
            "{path}"
        );
        problem(with_key(Method::GET, path, &mailer).await.unwrap(), 403).await;
    }
    for path in &writes {
        problem(with_key(Method::POST, path, &reader).await.unwrap(), 403).await;
    }
    problem(
        with_key(
            Method::POST,
            &format!("/api/v1/ops/jobs/{id}/retry"),
            &reader,
        )
        .await
        .unwrap(),
        403,
    )
    .await;
    assert_eq!(
        json_of(
            with_key(Method::POST, &writes[1], &writer).await.unwrap(),
            200
        )
        .await["state"],
        "cancelled"
    );
    let audit = get(&app, &admin, "/api/v1/ops/audit").await;
    assert_eq!(
        audit["items"].as_array().unwrap().len(),
        1,
        "refusals change nothing: {audit}"
    );
    assert_eq!(audit["items"][0]["api_key"], "app");
    assert_eq!(count(&app, "SELECT count(*) FROM queue_pauses").await, 0);

    // The owner stops being an admin: the keys stop working at once.
    let owner: Uuid = sqlx::query_scalar!("SELECT id FROM users WHERE email = 'ops@example.com'")
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    marquee_core::auth::cache::set_role(
        &app.ctx.pool,
        &app.ctx.redis(),
        &app.ctx.settings.redis.key_prefix,
        owner,
        Role::User,
    )
    .await
    .unwrap();
    problem(
        with_key(Method::GET, "/api/v1/ops/queues", &reader)
            .await
            .unwrap(),
        403,
    )
    .await;
    problem(
        with_key(Method::POST, &writes[0], &writer).await.unwrap(),
        403,
    )
    .await;
}

#[tokio::test]
async fn bad_input_is_a_422_naming_the_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let ids = noops(&app, Noop::default(), 3, 5).await;
    let field = |body: &Value| body["errors"][0]["field"].as_str().unwrap().to_owned();
    for (path, named) in [
        ("/api/v1/ops/jobs?queue=nope", "queue"),
        ("/api/v1/ops/jobs?state=stuck", "state"),
        ("/api/v1/ops/jobs?cursor=not-a-cursor", "cursor"),
        ("/api/v1/ops/jobs?limit=0", "limit"),
        ("/api/v1/ops/jobs?created_from=yesterday", "created_from"),
        ("/api/v1/ops/jobs?error=", "error"),
        ("/api/v1/ops/history?resolution=hour", "resolution"),
        ("/api/v1/ops/history?queue=nope", "queue"),
        ("/api/v1/ops/audit?action=explode", "action"),
    ] {
        let body = problem(call(&app, Method::GET, path, Some(&admin), None).await, 422).await;
        assert_eq!(field(&body), named, "{path}: {body}");
    }
    let body = problem(
        call(
            &app,
            Method::POST,
            "/api/v1/ops/queues/nope/pause",
            Some(&admin),
            None,
        )
        .await,
        422,
    )
    .await;
    assert_eq!(field(&body), "name");
    for (body, named) in [
        (json!({}), "ids"),
        (json!({"filter": {}}), "filter"),
        (json!({"ids": [], }), "ids"),
        (
            json!({"ids": [ids[0]], "filter": {"queue": "system"}}),
            "ids",
        ),
        (json!({"filter": {"state": "stuck"}}), "filter.state"),
        (json!({"filter": {"queue": "nope"}}), "filter.queue"),
    ] {
        for action in ["retry", "discard", "cancel"] {
            let answer = problem(
                call(
                    &app,
                    Method::POST,
                    &format!("/api/v1/ops/jobs/{action}"),
                    Some(&admin),
                    Some(body.clone()),
                )
                .await,
                422,
            )
            .await;
            assert_eq!(field(&answer), named, "{action} {body}: {answer}");
        }
    }
    let too_many: Vec<Uuid> = (0..10_001).map(|_| Uuid::now_v7()).collect();
    let answer = problem(
        call(
            &app,
            Method::POST,
            "/api/v1/ops/jobs/cancel",
            Some(&admin),
            Some(json!({"ids": too_many})),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(field(&answer), "ids");
    problem(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/ops/jobs/{}", Uuid::now_v7()),
            Some(&admin),
            None,
        )
        .await,
        404,
    )
    .await;
    problem(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/ops/jobs/{}/retry", Uuid::now_v7()),
            Some(&admin),
            None,
        )
        .await,
        404,
    )
    .await;
    assert_eq!(count(&app, "SELECT count(*) FROM ops_audit").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM queue_pauses").await, 0);
    assert_eq!(
        count(&app, "SELECT count(*) FROM jobs WHERE status = 'cancelled'").await,
        0
    );
}

/// Jobs cancelled while their queue is paused still have a task in Redis.
/// Housekeeping must leave that task's data alone until a worker
/// has taken it off the queue; otherwise apalis fails to decode it on every
/// fetch and the queue stops.
#[tokio::test]
async fn jobs_cancelled_in_a_paused_queue_survive_housekeeping_and_the_queue_runs_on() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    post(
        &app,
        &admin,
        "/api/v1/ops/queues/system/pause",
        json!({}),
        200,
    )
    .await;
    let cancelled = noops(&app, Noop::default(), 20, 5).await;
    let bulk = post(
        &app,
        &admin,
        "/api/v1/ops/jobs/cancel",
        json!({ "ids": cancelled }),
        200,
    )
    .await;
    assert_eq!(bulk["changed"], 20, "{bulk}");
    let producer = Producer::new(
        app.ctx.pool.clone(),
        app.ctx.redis(),
        app.ctx.settings.redis.key_prefix.clone(),
    );
    let prune = |limit| jobs::prune_finished(&app.ctx.pool, &producer, Duration::ZERO, limit);
    let kept = prune(1_000).await.unwrap();
    assert_eq!(
        (kept.checked, kept.pruned),
        (20, 0),
        "queued tasks are kept"
    );

    post(
        &app,
        &admin,
        "/api/v1/ops/queues/system/resume",
        json!({}),
        200,
    )
    .await;
    let worker = marquee_worker::testing::InProcessWorker::start(
        &app.ctx,
        marquee_worker::Registry::standard(),
    );
    let later = noops(&app, Noop::default(), 3, 5).await;
    marquee_worker::testing::wait_until_drained(&app.ctx, Duration::from_secs(20)).await;
    worker.stop().await.unwrap();
    for id in &later {
        assert_eq!(job(&app, &admin, *id).await["state"], "succeeded");
    }
    for id in &cancelled {
        let never = job(&app, &admin, *id).await;
        assert_eq!(
            (never["state"].as_str(), never["attempts"].as_i64()),
            (Some("cancelled"), Some(0))
        );
    }
    // Taken off the queue and skipped, their data can go now.
    assert_eq!(
        prune(1_000).await.unwrap().pruned,
        cancelled.len() + later.len()
    );
}

/// Refund jobs belong to the refund sweep, which replaces dead ones and
/// re-creates cancelled ones; retrying or cancelling one by hand would race
/// it (two refund jobs at once), so both are refused and nothing changes.
#[tokio::test]
async fn refund_jobs_are_left_to_the_refund_sweep() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let refund = marquee_core::booking::cancel::ProcessRefund {
        refund_id: Uuid::now_v7(),
    };
    let mut tx = app.ctx.pool.begin().await.unwrap();
    let written = jobs::enqueue_many(&mut tx, &[refund.clone(), refund])
        .await
        .unwrap();
    let (dead, queued) = (written[0].id, written[1].id);
    sqlx::query!(
        "UPDATE jobs SET status = 'dead', attempts = max_attempts, finished_at = now()
         WHERE id = $1",
        dead
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    for (id, action) in [(dead, "retry"), (queued, "cancel")] {
        let refused = problem(
            call(
                &app,
                Method::POST,
                &format!("/api/v1/ops/jobs/{id}/{action}"),
                Some(&admin),
                None,
            )
            .await,
            409,
        )
        .await;
        assert!(
            refused["detail"].as_str().unwrap().contains("refund sweep"),
            "{refused}"
        );
        let bulk = post(
            &app,
            &admin,
            &format!("/api/v1/ops/jobs/{action}"),
            json!({ "ids": [id] }),
            200,
        )
        .await;
        assert_eq!(bulk["changed"], 0, "{bulk}");
    }
    assert_eq!(job(&app, &admin, dead).await["state"], "dead");
    assert_eq!(job(&app, &admin, queued).await["state"], "ready");
}

/// Each state's count in `/ops/queues` matches what `/ops/jobs` lists for
/// it, ready and scheduled told apart by `run_at`.
#[tokio::test]
async fn queue_counts_and_listings_agree_state_by_state() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let ids = noops(&app, Noop::default(), 15, 5).await;
    // 5 stay ready; the others are put in each other state by hand.
    let set = |status: &'static str, run_at: Option<i64>, range: std::ops::Range<usize>| {
        let chunk = ids[range].to_vec();
        let pool = app.ctx.pool.clone();
        async move {
            sqlx::query!(
                "UPDATE jobs SET status = $2,
                        run_at = now() + make_interval(secs => $3::float8)
                 WHERE id = ANY($1)",
                &chunk,
                status,
                run_at.map(|s| s as f64),
            )
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    set("dispatched", Some(3_600), 5..8).await;
    set("retrying", Some(60), 8..10).await;
    // Running is a claim: a run, with the ledger status kept.
    jobs::claim_batch(&app.ctx.pool, &ids[10..11], "w1", 0)
        .await
        .unwrap();
    set("dead", None, 11..15).await;

    let queues = get(&app, &admin, "/api/v1/ops/queues").await;
    let system = queue(&queues, "system");
    for (state, n) in [
        ("ready", 5),
        ("scheduled", 3),
        ("retrying", 2),
        ("running", 1),
        ("dead", 4),
    ] {
        assert_eq!(system[state], n, "{state}: {system}");
        let listed = get(
            &app,
            &admin,
            &format!("/api/v1/ops/jobs?queue=system&state={state}&limit=100"),
        )
        .await;
        let items = listed["items"].as_array().unwrap();
        assert_eq!(items.len(), n, "{state}: {listed}");
        assert!(items.iter().all(|j| j["state"] == state), "{listed}");
    }
}
