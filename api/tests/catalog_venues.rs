//! Venues: generated seats, ownership, validation, and the layout freezing
//! once a published event uses it.

mod common;

use chrono::{Duration, Utc};
use common::*;
use marquee_core::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

fn hall() -> Value {
    json!({"name": "Blue Hall", "address": "1 Quay St", "sections": [
        {"name": "Stalls", "rows": [{"label": "A", "seats": 3}, {"label": "B", "seats": 2}]},
        {"name": "Balcony", "rows": [{"label": "C", "seats": 4}]}
    ]})
}

#[tokio::test]
async fn an_organizer_creates_a_venue_with_labelled_seats_and_only_they_and_admins_see_it() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    let venue = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/venues",
            Some(&alice),
            Some(hall()),
        )
        .await,
        201,
    )
    .await;
    let sections = venue["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 2);
    let labels: Vec<&str> = sections[0]["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["A-1", "A-2", "A-3", "B-1", "B-2"]);
    assert_eq!(sections[1]["seats"].as_array().unwrap().len(), 4);
    let id = venue["id"].as_str().unwrap();

    let bob = organizer(&app, "bob@example.com").await;
    json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/venues",
            Some(&bob),
            Some(json!({"name": "Bob's Barn"})),
        )
        .await,
        201,
    )
    .await;
    let mine = json_of(
        call(&app, Method::GET, "/api/v1/venues", Some(&alice), None).await,
        200,
    )
    .await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["seats"], 9);
    problem(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/venues/{id}"),
            Some(&bob),
            None,
        )
        .await,
        404,
    )
    .await;
    let patch = json!({"name": "Stolen"});
    problem(
        call(
            &app,
            Method::PATCH,
            &format!("/api/v1/venues/{id}"),
            Some(&bob),
            Some(patch),
        )
        .await,
        404,
    )
    .await;

    let admin = with_role(&app, "root@example.com", Role::Admin).await;
    let all = json_of(
        call(&app, Method::GET, "/api/v1/venues", Some(&admin), None).await,
        200,
    )
    .await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    json_of(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/venues/{id}"),
            Some(&admin),
            None,
        )
        .await,
        200,
    )
    .await;
}

#[tokio::test]
async fn people_and_api_keys_cannot_create_venues() {
    let app = TestApp::spawn().await;
    let session = register(&app, "fan@example.com").await;
    let token = access_token(&session);
    problem(
        call(
            &app,
            Method::POST,
            "/api/v1/venues",
            Some(token),
            Some(hall()),
        )
        .await,
        403,
    )
    .await;
    problem(
        call(&app, Method::GET, "/api/v1/venues", Some(token), None).await,
        403,
    )
    .await;
    problem(
        call(&app, Method::POST, "/api/v1/venues", None, Some(hall())).await,
        401,
    )
    .await;
    assert_eq!(count(&app, "SELECT count(*) FROM venues").await, 0);
}

#[tokio::test]
async fn invalid_layouts_get_422_naming_the_fields_and_store_nothing() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    let cases = [
        (
            json!({"name": "X", "sections": [{"name": "S", "rows": [{"label": "A", "seats": 101}]}]}),
            "sections.rows.seats",
        ),
        (
            json!({"name": "X", "sections": [{"name": "S", "rows": [{"label": "A", "seats": 0}]}]}),
            "sections.rows.seats",
        ),
        (
            json!({"name": "X", "sections": [{"name": "S", "rows": []}]}),
            "sections.rows",
        ),
        (
            json!({"name": "X", "sections": [{"name": "S", "rows": [{"label": "A", "seats": 1}, {"label": "A", "seats": 1}]}]}),
            "sections.rows.label",
        ),
        (
            json!({"name": "X", "sections": [{"name": "S", "rows": [{"label": "A", "seats": 1}]}, {"name": "s", "rows": [{"label": "A", "seats": 1}]}]}),
            "sections.name",
        ),
        (json!({"name": " ", "sections": []}), "name"),
        (json!({"name": "X\u{0}", "sections": []}), "name"),
    ];
    for (body, field) in cases {
        let response = call(
            &app,
            Method::POST,
            "/api/v1/venues",
            Some(&alice),
            Some(body.clone()),
        )
        .await;
        let problem = problem(response, 422).await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body} -> {fields:?}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM venues").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM venue_seats").await, 0);
}

#[tokio::test]
async fn details_change_freely_but_the_layout_freezes_once_a_published_event_uses_it() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    let venue = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/venues",
            Some(&alice),
            Some(hall()),
        )
        .await,
        201,
    )
    .await;
    let id = venue["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/venues/{id}");

    let renamed = json_of(
        call(
            &app,
            Method::PATCH,
            &path,
            Some(&alice),
            Some(json!({"name": "Red Hall", "address": null})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (renamed["name"].as_str(), renamed["address"].as_str()),
        (Some("Red Hall"), None)
    );

    let layout = json!({"sections": [{"name": "Floor", "rows": [{"label": "A", "seats": 2}]}]});
    let relaid = json_of(
        call(
            &app,
            Method::PUT,
            &format!("{path}/sections"),
            Some(&alice),
            Some(layout.clone()),
        )
        .await,
        200,
    )
    .await;
    let floor = relaid["sections"][0]["id"].as_str().unwrap();

    let event = json!({"title": "Gig", "starts_at": (Utc::now() + Duration::days(30)).to_rfc3339(), "currency": "EUR",
        "venue_id": id, "section_prices": [{"section_id": floor, "price_cents": 1500}]});
    let event = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/events",
            Some(&alice),
            Some(event),
        )
        .await,
        201,
    )
    .await;
    let event_id = event["id"].as_str().unwrap();
    json_of(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/events/{event_id}/publish"),
            Some(&alice),
            None,
        )
        .await,
        200,
    )
    .await;

    let body = problem(
        call(
            &app,
            Method::PUT,
            &format!("{path}/sections"),
            Some(&alice),
            Some(layout),
        )
        .await,
        409,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("published"),
        "{body}"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM venue_seats").await,
        2,
        "layout unchanged"
    );
    json_of(
        call(
            &app,
            Method::PATCH,
            &path,
            Some(&alice),
            Some(json!({"name": "Still fine"})),
        )
        .await,
        200,
    )
    .await;
}
