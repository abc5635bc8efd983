//! Browsing: search, filters and pagination with totals; drafts hidden;
//! cached reads that still show every write at once.

mod common;

use chrono::{Duration, Utc};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn venue(app: &TestApp, token: &str, name: &str) -> String {
    let body = json!({"name": name, "sections": [{"name": "Floor", "rows": [{"label": "A", "seats": 2}]}]});
    json_of(
        call(app, Method::POST, "/api/v1/venues", Some(token), Some(body)).await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A published general-admission event `days` from now.
async fn published(
    app: &TestApp,
    token: &str,
    title: &str,
    days: i64,
    venue: Option<&str>,
) -> String {
    let mut body = json!({"title": title, "description": format!("{title} live"), "currency": "EUR",
        "starts_at": (Utc::now() + Duration::days(days)).to_rfc3339(),
        "ticket_types": [{"name": "GA", "price_cents": 1000 + days as i32, "capacity": 10}]});
    if let Some(venue) = venue {
        body["venue_id"] = json!(venue);
        let layout = json_of(
            call(
                app,
                Method::GET,
                &format!("/api/v1/venues/{venue}"),
                Some(token),
                None,
            )
            .await,
            200,
        )
        .await;
        body["section_prices"] =
            json!([{"section_id": layout["sections"][0]["id"], "price_cents": 500}]);
    }
    let event = json_of(
        call(app, Method::POST, "/api/v1/events", Some(token), Some(body)).await,
        201,
    )
    .await;
    let id = event["id"].as_str().unwrap().to_owned();
    json_of(
        call(
            app,
            Method::POST,
            &format!("/api/v1/events/{id}/publish"),
            Some(token),
            None,
        )
        .await,
        200,
    )
    .await;
    id
}

async fn browse(app: &TestApp, query: &str) -> Value {
    json_of(
        call(
            app,
            Method::GET,
            &format!("/api/v1/events{query}"),
            None,
            None,
        )
        .await,
        200,
    )
    .await
}

fn titles(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn search_filters_and_pagination_give_the_right_totals() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    let bob = organizer(&app, "bob@example.com").await;
    let hall = venue(&app, &alice, "Blue Hall").await;
    published(&app, &alice, "Jazz Night", 3, Some(&hall)).await;
    published(&app, &alice, "Rock Night", 1, Some(&hall)).await;
    published(&app, &alice, "Jazz Brunch", 10, None).await;
    published(&app, &bob, "Poetry Slam", 5, None).await;
    published(&app, &bob, "Jazz Quartet", 20, None).await;
    // A draft is never listed.
    let draft = json!({"title": "Jazz Secret", "starts_at": (Utc::now() + Duration::days(2)).to_rfc3339(), "currency": "EUR"});
    json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/events",
            Some(&alice),
            Some(draft),
        )
        .await,
        201,
    )
    .await;

    let all = browse(&app, "").await;
    assert_eq!(all["total"], 5);
    assert_eq!(
        titles(&all),
        [
            "Rock Night",
            "Jazz Night",
            "Poetry Slam",
            "Jazz Brunch",
            "Jazz Quartet"
        ],
        "by start"
    );

    let jazz = browse(&app, "?q=jazz").await;
    assert_eq!(
        (jazz["total"].as_i64(), titles(&jazz)),
        (Some(3), vec!["Jazz Night", "Jazz Brunch", "Jazz Quartet"])
    );
    assert_eq!(
        browse(&app, "?q=live%20slam").await["total"],
        1,
        "description words count too"
    );
    assert_eq!(browse(&app, "?q=opera").await["total"], 0);

    let at_hall = browse(&app, &format!("?venue_id={hall}")).await;
    assert_eq!(at_hall["total"], 2);
    assert_eq!(at_hall["items"][0]["venue_name"], "Blue Hall");
    let bobs_id = sqlx::query_scalar!("SELECT id FROM users WHERE email = 'bob@example.com'")
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(
        titles(&browse(&app, &format!("?organizer_id={bobs_id}")).await),
        ["Poetry Slam", "Jazz Quartet"]
    );

    let from = (Utc::now() + Duration::days(4)).format("%Y-%m-%dT%H:%M:%SZ");
    let to = (Utc::now() + Duration::days(15)).format("%Y-%m-%dT%H:%M:%SZ");
    let window = browse(&app, &format!("?from={from}&to={to}")).await;
    assert_eq!(titles(&window), ["Poetry Slam", "Jazz Brunch"]);
    assert_eq!(
        browse(&app, &format!("?q=jazz&from={from}")).await["total"],
        2,
        "filters combine"
    );

    let page2 = browse(&app, "?per_page=2&page=2").await;
    assert_eq!(
        (page2["total"].as_i64(), titles(&page2)),
        (Some(5), vec!["Poetry Slam", "Jazz Brunch"])
    );
    let page3 = browse(&app, "?per_page=2&page=3").await;
    assert_eq!(
        (page3["total"].as_i64(), titles(&page3)),
        (Some(5), vec!["Jazz Quartet"])
    );
    assert_eq!(browse(&app, "?per_page=2&page=9").await["items"], json!([]));
    assert_eq!(
        all["items"][0]["min_price_cents"], 500,
        "the cheapest of seats and ticket types"
    );
}

#[tokio::test]
async fn bad_browse_parameters_are_4xx() {
    let app = TestApp::spawn().await;
    for query in ["?per_page=0", "?per_page=101", "?page=0"] {
        problem(
            call(
                &app,
                Method::GET,
                &format!("/api/v1/events{query}"),
                None,
                None,
            )
            .await,
            422,
        )
        .await;
    }
    let response = call(
        &app,
        Method::GET,
        "/api/v1/events?from=yesterday",
        None,
        None,
    )
    .await;
    assert_eq!(response.status(), 400);
    let response = call(&app, Method::GET, "/api/v1/events?venue_id=42", None, None).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        browse(&app, "?q=%22unbalanced%20quote%20%26%7C!").await["total"],
        0,
        "any text is a safe query"
    );
}

#[tokio::test]
async fn an_update_is_visible_to_the_next_read_even_with_the_cache() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    let id = published(&app, &alice, "Jazz Night", 3, None).await;
    let path = format!("/api/v1/events/{id}");
    // Warm the cache.
    for _ in 0..2 {
        assert_eq!(titles(&browse(&app, "").await), ["Jazz Night"]);
        assert_eq!(
            json_of(call(&app, Method::GET, &path, None, None).await, 200).await["title"],
            "Jazz Night"
        );
    }
    // The list is served from Redis: a change behind the API's back stays
    // unseen until its entry expires or a write invalidates it.
    sqlx::query!("UPDATE events SET title = 'Changed behind our back'")
        .execute(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(
        titles(&browse(&app, "").await),
        ["Jazz Night"],
        "served from the cache"
    );
    let patch = json!({"title": "Jazz Night (sold by the door)"});
    json_of(
        call(&app, Method::PATCH, &path, Some(&alice), Some(patch)).await,
        200,
    )
    .await;
    assert_eq!(
        titles(&browse(&app, "").await),
        ["Jazz Night (sold by the door)"]
    );
    assert_eq!(
        json_of(call(&app, Method::GET, &path, None, None).await, 200).await["title"],
        "Jazz Night (sold by the door)"
    );
    assert_eq!(browse(&app, "?q=door").await["total"], 1);

    json_of(
        call(
            &app,
            Method::POST,
            &format!("{path}/cancel"),
            Some(&alice),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        browse(&app, "").await["total"],
        0,
        "a cancelled event leaves the list at once"
    );
    assert_eq!(
        json_of(call(&app, Method::GET, &path, None, None).await, 200).await["status"],
        "cancelled"
    );
}

#[tokio::test]
async fn drafts_are_visible_only_to_their_organizer_and_admins() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    let body = json!({"title": "Secret", "starts_at": (Utc::now() + Duration::days(2)).to_rfc3339(), "currency": "EUR"});
    let id = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/events",
            Some(&alice),
            Some(body),
        )
        .await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/events/{id}");
    let fan = access_token(&register(&app, "fan@example.com").await).to_owned();
    for token in [None, Some(fan.as_str()), Some("not-a-token")] {
        problem(call(&app, Method::GET, &path, token, None).await, 404).await;
        problem(
            call(&app, Method::GET, &format!("{path}/seats"), token, None).await,
            404,
        )
        .await;
    }
    // Anonymous reads before must not hide it from its organizer (no cached 404).
    assert_eq!(
        json_of(
            call(&app, Method::GET, &path, Some(&alice), None).await,
            200
        )
        .await["status"],
        "draft"
    );
    problem(
        call(
            &app,
            Method::GET,
            "/api/v1/events/00000000-0000-0000-0000-000000000000",
            None,
            None,
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn browsing_goes_to_the_database_while_redis_is_down_and_caches_again_after() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = marquee_core::testing::PrivateRedis::start_on(port);
    let mut ctx = marquee_core::testing::TestContext::new().await;
    ctx.settings.redis.url = secrecy::SecretString::from(format!("redis://127.0.0.1:{port}"));
    let app = TestApp::spawn_with(ctx).await;
    let alice = organizer(&app, "alice@example.com").await;
    let id = published(&app, &alice, "Jazz Night", 3, None).await;
    let path = format!("/api/v1/events/{id}");
    assert_eq!(titles(&browse(&app, "").await), ["Jazz Night"]);

    redis.stop();
    // A change behind the API's back shows at once: with Redis down every
    // read is a miss that goes to the database, and nothing fails.
    retitle(&app, "Read from the database").await;
    assert_eq!(titles(&browse(&app, "").await), ["Read from the database"]);
    assert_eq!(
        json_of(call(&app, Method::GET, &path, None, None).await, 200).await["title"],
        "Read from the database"
    );

    // Back up (empty, as after a restart): the next read fills the cache
    // and the one after is served from it.
    let _redis = marquee_core::testing::PrivateRedis::start_on(port);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        browse(&app, "").await;
        retitle(&app, "Changed behind our back").await;
        if titles(&browse(&app, "").await) == ["Read from the database"] {
            break;
        }
        retitle(&app, "Read from the database").await;
        assert!(
            std::time::Instant::now() < deadline,
            "the catalog cache never served again after Redis came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Renames every event behind the API's back.
async fn retitle(app: &TestApp, title: &str) {
    sqlx::query!("UPDATE events SET title = $1", title)
        .execute(&app.ctx.pool)
        .await
        .unwrap();
}
