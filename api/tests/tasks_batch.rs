//! `POST /api/v1/tasks/batch`: many tasks in one transaction, a result per
//! item, idempotency keys per item, the account's budget per item.

mod common;

use common::*;
use marquee_core::rate_limit::Rule;
use marquee_core::testing::TestContext;
use serde_json::{Value, json};

fn message(to: &str) -> Value {
    json!({"type": "message", "payload": {"to": to, "subject": "Your tickets", "text": "See you there"}})
}

async fn batch(app: &TestApp, key: &str, tasks: Vec<Value>) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/tasks/batch"))
        .header("x-api-key", key)
        .json(&json!({ "tasks": tasks }))
        .send()
        .await
        .unwrap()
}

async fn ok(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Tasks, and tasks with their job (every task must have one).
async fn written(app: &TestApp) -> (i64, i64) {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "tasks!", count(j.id) AS "with_job!"
           FROM tasks t LEFT JOIN jobs j ON j.id = t.id"#
    )
    .fetch_one(&app.ctx.pool)
    .await
    .unwrap();
    (row.tasks, row.with_job)
}

async fn sender(app: &TestApp, scopes: Value) -> String {
    let session = register(app, "dev@example.com").await;
    api_key(app, access_token(&session), scopes).await
}

#[tokio::test]
async fn five_hundred_tasks_are_accepted_at_once_each_with_its_job() {
    let app = TestApp::spawn().await;
    let key = sender(&app, json!(["email:send"])).await;
    let tasks = (0..500)
        .map(|n| message(&format!("fan{n}@example.com")))
        .collect();
    let body = ok(batch(&app, &key, tasks).await).await;
    assert_eq!(body["accepted"], 500);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 500);
    for (n, result) in results.iter().enumerate() {
        assert_eq!(
            (result["index"].as_u64(), result["status"].as_u64()),
            (Some(n as u64), Some(202))
        );
        assert_eq!(result["task_status"], "queued");
    }
    assert_eq!(written(&app).await, (500, 500));
    // Each is followed like a single task.
    let id = results[499]["id"].as_str().unwrap();
    let task = app
        .client
        .get(app.url(&format!("/api/v1/tasks/{id}")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(task.status(), 200);
}

#[tokio::test]
async fn each_bad_item_gets_its_own_status_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let key = sender(&app, json!(["email:send"])).await;
    let tasks = vec![
        message("good@example.com"),
        message("not an address"),
        json!({"type": "otp", "payload": {"to": "someone@example.com"}}),
        json!({"type": "fax", "payload": {}}),
        json!({"type": "message", "payload": {"to": "a@example.com", "subject": "hi", "text": "x"}, "idempotency_key": "k1"}),
        json!({"type": "message", "payload": {"to": "b@example.com", "subject": "hi", "text": "x"}, "idempotency_key": "k1"}),
        json!({"type": "message", "max_attempts": 99, "payload": {"to": "c@example.com", "subject": "hi", "text": "x"}}),
    ];
    let body = ok(batch(&app, &key, tasks).await).await;
    let statuses: Vec<u64> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [202, 422, 403, 422, 202, 422, 422]);
    assert_eq!(body["accepted"], 2);
    let results = &body["results"];
    assert_eq!(results[1]["errors"][0]["field"], "payload.to");
    assert_eq!(results[3]["errors"][0]["field"], "type");
    assert_eq!(results[5]["errors"][0]["field"], "idempotency_key");
    assert_eq!(results[6]["errors"][0]["field"], "max_attempts");
    assert_eq!(written(&app).await, (2, 2));
}

#[tokio::test]
async fn a_batch_is_one_to_five_hundred_tasks() {
    let app = TestApp::spawn().await;
    let key = sender(&app, json!(["email:send"])).await;
    for size in [0, 501] {
        let tasks = (0..size)
            .map(|n| message(&format!("fan{n}@example.com")))
            .collect();
        let refused = problem(batch(&app, &key, tasks).await, 422).await;
        assert_eq!(refused["errors"][0]["field"], "tasks");
    }
    assert_eq!(written(&app).await, (0, 0));
}

#[tokio::test]
async fn keys_replay_per_item_and_a_changed_item_alone_is_409() {
    let app = TestApp::spawn().await;
    let key = sender(&app, json!(["email:send"])).await;
    let keyed = |n: usize, subject: &str| {
        json!({"type": "message", "idempotency_key": format!("order-{n}"),
               "payload": {"to": format!("fan{n}@example.com"), "subject": subject, "text": "x"}})
    };
    let first = ok(batch(&app, &key, (0..20).map(|n| keyed(n, "Tickets")).collect()).await).await;
    // The same batch again, concurrently with itself, and with item 3 changed.
    let mut changed: Vec<Value> = (0..20).map(|n| keyed(n, "Tickets")).collect();
    changed[3] = keyed(3, "Something else");
    let (again, other) = tokio::join!(
        batch(&app, &key, (0..20).map(|n| keyed(n, "Tickets")).collect()),
        batch(&app, &key, changed),
    );
    let (again, other) = (ok(again).await, ok(other).await);
    for n in 0..20 {
        assert_eq!(again["results"][n]["id"], first["results"][n]["id"]);
        assert_eq!(again["results"][n]["status"], 202);
        if n == 3 {
            assert_eq!(other["results"][n]["status"], 409);
        } else {
            assert_eq!(other["results"][n]["id"], first["results"][n]["id"]);
        }
    }
    assert_eq!(written(&app).await, (20, 20));
    // A key from a batch replays on the single route too.
    let single = app
        .client
        .post(app.url("/api/v1/tasks"))
        .header("x-api-key", &key)
        .header("idempotency-key", "order-7")
        .json(&json!({"type": "message", "payload": {"to": "fan7@example.com", "subject": "Tickets", "text": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(single.status(), 202);
    assert_eq!(
        single.json::<Value>().await.unwrap()["id"],
        first["results"][7]["id"]
    );
}

#[tokio::test]
async fn every_item_counts_against_the_budget_and_the_rest_are_429() {
    let mut ctx = TestContext::new().await;
    ctx.settings.rate_limits.tasks_per_user = Rule {
        limit: 10,
        period_seconds: 3600,
    };
    let app = TestApp::spawn_with(ctx).await;
    let key = sender(&app, json!(["email:send"])).await;
    let tasks = (0..25)
        .map(|n| message(&format!("fan{n}@example.com")))
        .collect();
    let body = ok(batch(&app, &key, tasks).await).await;
    assert_eq!(body["accepted"], 10);
    let results = body["results"].as_array().unwrap();
    assert!(results[..10].iter().all(|r| r["status"] == 202));
    assert!(
        results[10..]
            .iter()
            .all(|r| r["status"] == 429 && r["retry_after"].as_u64() >= Some(1))
    );
    assert_eq!(written(&app).await, (10, 10));
    // Spent: the single route is refused too.
    let single = app
        .client
        .post(app.url("/api/v1/tasks"))
        .header("x-api-key", &key)
        .json(&message("late@example.com"))
        .send()
        .await
        .unwrap();
    problem(single, 429).await;
}

#[tokio::test]
async fn an_unverified_account_is_403_for_the_whole_batch() {
    let app = TestApp::spawn().await;
    let session = register_unverified(&app, "new@example.com").await;
    let response = app
        .client
        .post(app.url("/api/v1/tasks/batch"))
        .bearer_auth(access_token(&session))
        .json(&json!({"tasks": [message("victim@example.org")]}))
        .send()
        .await
        .unwrap();
    problem(response, 403).await;
    assert_eq!(written(&app).await, (0, 0));
}

#[tokio::test]
async fn a_batch_may_exceed_the_general_body_limit_up_to_its_own() {
    let mut ctx = TestContext::new().await;
    ctx.settings.http.max_batch_body_bytes = 3 * 1024 * 1024;
    let app = TestApp::spawn_with(ctx).await;
    let key = sender(&app, json!(["email:send"])).await;
    // 100 messages of 20 KB: 2 MB, past the general 1 MiB.
    let text = "x".repeat(20_000);
    let big = |n: usize| json!({"type": "message", "payload": {"to": format!("fan{n}@example.com"), "subject": "Long", "text": text}});
    let body = ok(batch(&app, &key, (0..100).map(big).collect()).await).await;
    assert_eq!(body["accepted"], 100);
    // Past its own limit: 413, nothing written.
    let too_big = batch(&app, &key, (0..200).map(big).collect()).await;
    problem(too_big, 413).await;
    assert_eq!(written(&app).await, (100, 100));
}

#[tokio::test]
async fn retrying_a_whole_batch_replays_it_without_spending_budget_again() {
    let mut ctx = TestContext::new().await;
    ctx.settings.rate_limits.tasks_per_user = Rule {
        limit: 10,
        period_seconds: 3600,
    };
    let app = TestApp::spawn_with(ctx).await;
    let key = sender(&app, json!(["email:send"])).await;
    let keyed = || -> Vec<Value> {
        (0..10)
            .map(|n| json!({"type": "message", "idempotency_key": format!("k{n}"),
                            "payload": {"to": format!("fan{n}@example.com"), "subject": "Hi", "text": "x"}}))
            .collect()
    };
    let first = ok(batch(&app, &key, keyed()).await).await;
    assert_eq!(first["accepted"], 10);
    // The answer was lost; the client sends the same batch again.
    let again = ok(batch(&app, &key, keyed()).await).await;
    assert_eq!(
        again["accepted"], 10,
        "replays are not refused for the budget: {again}"
    );
    for n in 0..10 {
        assert_eq!(again["results"][n]["id"], first["results"][n]["id"]);
    }
    // The budget is still spent for new tasks.
    let fresh = ok(batch(&app, &key, vec![message("new@example.com")]).await).await;
    assert_eq!(fresh["results"][0]["status"], 429);
    assert_eq!(written(&app).await, (10, 10));
}

#[tokio::test]
async fn only_a_signed_in_caller_may_send_a_body_past_the_general_limit() {
    let mut ctx = TestContext::new().await;
    ctx.settings.http.max_batch_body_bytes = 3 * 1024 * 1024;
    let app = TestApp::spawn_with(ctx).await;
    let big = json!({"tasks": [{"type": "message", "payload": {"to": "a@example.com", "subject": "x", "text": "x".repeat(2_000_000)}}]});
    for credential in [None, Some("mk_not-a-key"), Some("not.a.token")] {
        let mut request = app.client.post(app.url("/api/v1/tasks/batch")).json(&big);
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        problem(request.send().await.unwrap(), 413).await;
    }
    assert_eq!(written(&app).await, (0, 0));
}

#[tokio::test]
async fn an_otp_item_replays_by_its_key_without_voiding_its_code() {
    let app = TestApp::spawn().await;
    let key = sender(&app, json!(["email:send", "otp"])).await;
    let otp = || {
        vec![
            json!({"type": "otp", "idempotency_key": "o1", "payload": {"to": "guest@example.com"}}),
        ]
    };
    let first = ok(batch(&app, &key, otp()).await).await;
    let again = ok(batch(&app, &key, otp()).await).await;
    assert_eq!(first["results"][0]["status"], 202);
    assert_eq!(again["results"][0]["id"], first["results"][0]["id"]);
    let live = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM otps WHERE voided_at IS NULL"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(live, 1, "the replay stored no code and voided none");
}
