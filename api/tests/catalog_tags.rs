//! Tags: normalised on the way in, at most 10, filtered on in browse (all
//! given tags must match), and counted over published events only.

mod common;

use chrono::{Duration, Utc};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn draft(app: &TestApp, token: &str, title: &str, tags: Value) -> reqwest::Response {
    let body = json!({"title": title, "currency": "EUR", "tags": tags,
        "starts_at": (Utc::now() + Duration::days(5)).to_rfc3339(),
        "ticket_types": [{"name": "GA", "price_cents": 1000, "capacity": 10}]});
    call(app, Method::POST, "/api/v1/events", Some(token), Some(body)).await
}

async fn published(app: &TestApp, token: &str, title: &str, tags: Value) -> String {
    let event = json_of(draft(app, token, title, tags).await, 201).await;
    let id = event["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/events/{id}/publish");
    json_of(call(app, Method::POST, &path, Some(token), None).await, 200).await;
    id
}

async fn titles(app: &TestApp, query: &str) -> Vec<String> {
    let page = json_of(app.get(&format!("/api/v1/events{query}")).await, 200).await;
    let mut titles: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    titles
}

async fn popular(app: &TestApp) -> Vec<(String, i64)> {
    let list = json_of(app.get("/api/v1/tags").await, 200).await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap().to_owned(),
                t["events"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn eleven() -> Value {
    json!((0..11).map(|n| format!("tag{n}")).collect::<Vec<_>>())
}

#[tokio::test]
async fn tags_are_normalised_and_limited_to_ten() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    let event = json_of(
        draft(
            &app,
            &alice,
            "Gig",
            json!([
                " Jazz",
                "OUTDOOR",
                "jazz ",
                "Café",
                "ＪＡＺＺ",
                "cafe\u{301}"
            ]),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(event["tags"], json!(["jazz", "outdoor", "café"]));

    let events_before = count(&app, "SELECT count(*) FROM events").await;
    for bad in [
        eleven(),
        json!(["rock n roll"]),
        json!([""]),
        json!(["x".repeat(33)]),
        json!(["---"]),
        json!(["\u{3164}"]),
    ] {
        let body = problem(draft(&app, &alice, "Bad", bad.clone()).await, 422).await;
        assert_eq!(body["errors"][0]["field"], "tags", "{bad}: {body}");
    }
    assert_eq!(
        count(&app, "SELECT count(*) FROM events").await,
        events_before
    );

    // Ten distinct tags after normalising are fine, however they were typed.
    let ten: Vec<String> = (0..10)
        .map(|n| format!("T{n}"))
        .chain(["t0".into()])
        .collect();
    json_of(draft(&app, &alice, "Ten", json!(ten)).await, 201).await;

    // Tags can change on a published event; a bad change changes nothing.
    let id = published(&app, &alice, "Live", json!(["jazz"])).await;
    let path = format!("/api/v1/events/{id}");
    let patch = |tags: Value| {
        call(
            &app,
            Method::PATCH,
            &path,
            Some(&alice),
            Some(json!({"tags": tags})),
        )
    };
    problem(patch(eleven()).await, 422).await;
    let event = json_of(
        call(&app, Method::GET, &path, Some(&alice), None).await,
        200,
    )
    .await;
    assert_eq!(event["tags"], json!(["jazz"]));
    let event = json_of(patch(json!(["Blues", "late-night"])).await, 200).await;
    assert_eq!(event["tags"], json!(["blues", "late-night"]));
    assert_eq!(
        titles(&app, "?tag=blues").await,
        ["Live"],
        "the cached page saw the edit"
    );
    assert_eq!(titles(&app, "?tag=jazz").await, Vec::<String>::new());
}

#[tokio::test]
async fn browse_matches_every_given_tag() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    published(&app, &alice, "Both", json!(["jazz", "outdoor"])).await;
    published(&app, &alice, "Jazz only", json!(["jazz"])).await;
    published(&app, &alice, "Rock", json!(["rock"])).await;
    json_of(draft(&app, &alice, "Draft", json!(["jazz"])).await, 201).await;

    assert_eq!(titles(&app, "?tag=jazz").await, ["Both", "Jazz only"]);
    assert_eq!(titles(&app, "?tag=jazz&tag=outdoor").await, ["Both"]);
    assert_eq!(titles(&app, "?tag=outdoor&tag=jazz").await, ["Both"]);
    assert_eq!(
        titles(&app, "?tag=%20JAZZ").await,
        ["Both", "Jazz only"],
        "normalised"
    );
    assert_eq!(
        titles(&app, "?tag=jazz&tag=rock").await,
        Vec::<String>::new()
    );
    assert_eq!(titles(&app, "").await.len(), 3);
    let page = json_of(app.get("/api/v1/events?tag=jazz").await, 200).await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["tags"], json!(["jazz", "outdoor"]));

    let body = problem(app.get("/api/v1/events?tag=no%20spaces").await, 422).await;
    assert_eq!(body["errors"][0]["field"], "tag");
    let query: String = (0..11).map(|n| format!("tag=t{n}&")).collect();
    problem(app.get(&format!("/api/v1/events?{query}")).await, 422).await;
}

#[tokio::test]
async fn popular_tags_count_published_events_only() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    assert_eq!(popular(&app).await, vec![]);
    let first = published(&app, &alice, "A", json!(["jazz", "outdoor"])).await;
    published(&app, &alice, "B", json!(["jazz", "blues"])).await;
    published(&app, &alice, "C", json!(["jazz"])).await;
    json_of(
        draft(&app, &alice, "Draft", json!(["secret", "jazz"])).await,
        201,
    )
    .await;
    assert_eq!(
        popular(&app).await,
        [
            ("jazz".into(), 3),
            ("blues".into(), 1),
            ("outdoor".into(), 1)
        ],
        "most used first, ties by name; drafts not counted"
    );

    // Cancelling is a catalog write: the cached list shows it at once.
    let path = format!("/api/v1/events/{first}/cancel");
    let cancelled = call(&app, Method::POST, &path, Some(&alice), None).await;
    assert_eq!(
        cancelled.status(),
        200,
        "{}",
        cancelled.text().await.unwrap()
    );
    assert_eq!(
        popular(&app).await,
        [("jazz".into(), 2), ("blues".into(), 1)]
    );

    let one = json_of(app.get("/api/v1/tags?limit=1").await, 200).await;
    assert_eq!(one["items"], json!([{"tag": "jazz", "events": 2}]));
    for bad in ["0", "101", "x"] {
        let response = app.get(&format!("/api/v1/tags?limit={bad}")).await;
        assert_eq!(
            response.status(),
            if bad == "x" { 400 } else { 422 },
            "{bad}"
        );
    }
}
