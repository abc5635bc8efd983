//! Events: validation, ownership, the lifecycle's every invalid transition,
//! and the inventory created at publish.

mod common;

use chrono::{Duration, Utc};
use common::*;
use marquee_core::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

struct Setup {
    app: TestApp,
    alice: String,
    venue: Value,
}

/// Alice, an organizer with a 10-seat venue: Stalls (A x3, B x3), Balcony (C x4).
async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    let body = json!({"name": "Blue Hall", "sections": [
        {"name": "Stalls", "rows": [{"label": "A", "seats": 3}, {"label": "B", "seats": 3}]},
        {"name": "Balcony", "rows": [{"label": "C", "seats": 4}]}
    ]});
    let venue = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/venues",
            Some(&alice),
            Some(body),
        )
        .await,
        201,
    )
    .await;
    Setup { app, alice, venue }
}

fn section(venue: &Value, n: usize) -> String {
    venue["sections"][n]["id"].as_str().unwrap().to_owned()
}

fn in_days(days: i64) -> String {
    (Utc::now() + Duration::days(days)).to_rfc3339()
}

/// A seated + general-admission event at the venue.
fn concert(venue: &Value) -> Value {
    json!({"title": "Night Concert", "description": "Strings", "starts_at": in_days(30), "currency": "eur",
        "venue_id": venue["id"], "section_prices": [
            {"section_id": section(venue, 0), "price_cents": 5000},
            {"section_id": section(venue, 1), "price_cents": 2500}],
        "ticket_types": [{"name": "Standing", "price_cents": 1000, "capacity": 50}]})
}

async fn create(s: &Setup, body: Value) -> String {
    let event = json_of(
        call(
            &s.app,
            Method::POST,
            "/api/v1/events",
            Some(&s.alice),
            Some(body),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(event["status"], "draft");
    event["id"].as_str().unwrap().to_owned()
}

async fn act(s: &Setup, id: &str, action: &str) -> reqwest::Response {
    call(
        &s.app,
        Method::POST,
        &format!("/api/v1/events/{id}/{action}"),
        Some(&s.alice),
        None,
    )
    .await
}

#[tokio::test]
async fn every_invalid_transition_is_409_with_its_reason() {
    let s = setup().await;
    // draft: cannot cancel or complete.
    let draft = create(&s, concert(&s.venue)).await;
    for action in ["cancel", "complete"] {
        let body = problem(act(&s, &draft, action).await, 409).await;
        assert!(body["detail"].as_str().unwrap().contains("draft"), "{body}");
    }
    // published: cannot publish again or be deleted.
    let published = create(&s, concert(&s.venue)).await;
    json_of(act(&s, &published, "publish").await, 200).await;
    problem(act(&s, &published, "publish").await, 409).await;
    problem(
        call(
            &s.app,
            Method::DELETE,
            &format!("/api/v1/events/{published}"),
            Some(&s.alice),
            None,
        )
        .await,
        409,
    )
    .await;
    // cancelled and completed: final.
    let cancelled = create(&s, concert(&s.venue)).await;
    json_of(act(&s, &cancelled, "publish").await, 200).await;
    assert_eq!(
        json_of(act(&s, &cancelled, "cancel").await, 200).await["status"],
        "cancelled"
    );
    json_of(act(&s, &published, "complete").await, 200).await;
    for id in [&cancelled, &published] {
        for action in ["publish", "cancel", "complete"] {
            problem(act(&s, id, action).await, 409).await;
        }
        problem(
            call(
                &s.app,
                Method::DELETE,
                &format!("/api/v1/events/{id}"),
                Some(&s.alice),
                None,
            )
            .await,
            409,
        )
        .await;
        let patch = json!({"title": "Renamed"});
        problem(
            call(
                &s.app,
                Method::PATCH,
                &format!("/api/v1/events/{id}"),
                Some(&s.alice),
                Some(patch),
            )
            .await,
            409,
        )
        .await;
    }
    // A draft is deleted.
    let response = call(
        &s.app,
        Method::DELETE,
        &format!("/api/v1/events/{draft}"),
        Some(&s.alice),
        None,
    )
    .await;
    assert_eq!(response.status(), 204);
    assert_eq!(count(&s.app, "SELECT count(*) FROM events").await, 2);
}

#[tokio::test]
async fn publish_needs_a_future_start_priced_sections_and_something_to_sell() {
    let s = setup().await;
    let mut past = concert(&s.venue);
    past["starts_at"] = json!((Utc::now() - Duration::hours(1)).to_rfc3339());
    let id = create(&s, past).await;
    assert!(
        problem(act(&s, &id, "publish").await, 409).await["detail"]
            .as_str()
            .unwrap()
            .contains("past")
    );

    let mut unpriced = concert(&s.venue);
    unpriced["section_prices"] = json!([{"section_id": section(&s.venue, 0), "price_cents": 5000}]);
    let id = create(&s, unpriced).await;
    assert!(
        problem(act(&s, &id, "publish").await, 409).await["detail"]
            .as_str()
            .unwrap()
            .contains("Balcony")
    );

    let empty = json!({"title": "Nothing", "starts_at": in_days(3), "currency": "EUR"});
    let id = create(&s, empty).await;
    assert!(
        problem(act(&s, &id, "publish").await, 409).await["detail"]
            .as_str()
            .unwrap()
            .contains("nothing to sell")
    );
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM events WHERE status = 'draft'").await,
        3
    );
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM event_seats").await,
        0,
        "a refused publish creates no inventory"
    );
}

#[tokio::test]
async fn a_published_event_accepts_only_the_fields_its_status_allows() {
    let s = setup().await;
    let id = create(&s, concert(&s.venue)).await;
    let path = format!("/api/v1/events/{id}");
    // A draft changes freely, prices and ticket types included.
    let patch = json!({"starts_at": in_days(40), "ticket_types": [{"name": "VIP", "price_cents": 9000, "capacity": 5}]});
    let draft = json_of(
        call(&s.app, Method::PATCH, &path, Some(&s.alice), Some(patch)).await,
        200,
    )
    .await;
    assert_eq!(draft["ticket_types"][0]["name"], "VIP");
    // An unknown currency is 422 naming it, and the draft keeps its own;
    // lower case is normalised.
    let bad = json!({"currency": "XYZ", "title": "Renamed"});
    let body = problem(
        call(&s.app, Method::PATCH, &path, Some(&s.alice), Some(bad)).await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "currency", "{body}");
    let kept = json_of(
        call(&s.app, Method::GET, &path, Some(&s.alice), None).await,
        200,
    )
    .await;
    assert_eq!(
        (kept["currency"].as_str(), kept["title"].as_str()),
        (Some("EUR"), Some("Night Concert"))
    );
    let yen = json!({"currency": "jpy"});
    let yen = json_of(
        call(&s.app, Method::PATCH, &path, Some(&s.alice), Some(yen)).await,
        200,
    )
    .await;
    assert_eq!(yen["currency"], "JPY");
    json_of(act(&s, &id, "publish").await, 200).await;

    for patch in [
        json!({"starts_at": in_days(50)}),
        json!({"currency": "USD"}),
        json!({"venue_id": null}),
        json!({"ticket_types": []}),
        json!({"title": "Ok", "section_prices": []}),
    ] {
        let body = problem(
            call(
                &s.app,
                Method::PATCH,
                &path,
                Some(&s.alice),
                Some(patch.clone()),
            )
            .await,
            409,
        )
        .await;
        assert!(
            body["detail"].as_str().unwrap().contains("published"),
            "{patch} -> {body}"
        );
    }
    let patch = json!({"title": "Night Concert (moved indoors)", "max_per_order": 4});
    let event = json_of(
        call(&s.app, Method::PATCH, &path, Some(&s.alice), Some(patch)).await,
        200,
    )
    .await;
    assert_eq!(
        (event["title"].as_str(), event["max_per_order"].as_i64()),
        (Some("Night Concert (moved indoors)"), Some(4))
    );
}

#[tokio::test]
async fn invalid_events_get_422_naming_the_field_and_store_nothing() {
    let s = setup().await;
    let other = json_of(call(&s.app, Method::POST, "/api/v1/venues", Some(&s.alice),
        Some(json!({"name": "Other", "sections": [{"name": "X", "rows": [{"label": "A", "seats": 1}]}]}))).await, 201).await;
    let with = |field: &str, value: Value| {
        let mut body = concert(&s.venue);
        body[field] = value;
        body
    };
    let cases = [
        (with("ends_at", json!(in_days(29))), "ends_at"),
        (
            with(
                "section_prices",
                json!([{"section_id": section(&s.venue, 0), "price_cents": -1}]),
            ),
            "section_prices.price_cents",
        ),
        (
            with(
                "ticket_types",
                json!([{"name": "GA", "price_cents": -5, "capacity": 10}]),
            ),
            "ticket_types.price_cents",
        ),
        (
            with(
                "ticket_types",
                json!([{"name": "GA", "price_cents": 100, "capacity": 0}]),
            ),
            "ticket_types.capacity",
        ),
        (
            with(
                "section_prices",
                json!([{"section_id": section(&other, 0), "price_cents": 100}]),
            ),
            "section_prices.section_id",
        ),
        (with("currency", json!("euro")), "currency"),
        // Three letters are not enough: ISO 4217 must list it as a currency.
        (with("currency", json!("XYZ")), "currency"),
        (with("currency", json!("xyz")), "currency"),
        (with("currency", json!("XXX")), "currency"),
        (with("currency", json!("XAU")), "currency"),
        (with("title", json!("")), "title"),
        (with("max_per_order", json!(0)), "max_per_order"),
        (with("sales_end", json!(in_days(-2))).clone(), "sales_end"),
    ];
    for (mut body, field) in cases {
        if field == "sales_end" {
            body["sales_start"] = json!(in_days(1));
        }
        let response = call(
            &s.app,
            Method::POST,
            "/api/v1/events",
            Some(&s.alice),
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
        assert!(fields.contains(&field), "{field}: {fields:?}");
    }
    assert_eq!(count(&s.app, "SELECT count(*) FROM events").await, 0);
}

#[tokio::test]
async fn organizers_see_only_their_own_events_and_plain_users_cannot_create() {
    let s = setup().await;
    let id = create(&s, concert(&s.venue)).await;
    let bob = organizer(&s.app, "bob@example.com").await;
    let path = format!("/api/v1/events/{id}");
    problem(
        call(&s.app, Method::GET, &path, Some(&bob), None).await,
        404,
    )
    .await;
    problem(call(&s.app, Method::GET, &path, None, None).await, 404).await;
    problem(
        call(
            &s.app,
            Method::PATCH,
            &path,
            Some(&bob),
            Some(json!({"title": "Mine"})),
        )
        .await,
        404,
    )
    .await;
    problem(
        call(
            &s.app,
            Method::POST,
            &format!("{path}/publish"),
            Some(&bob),
            None,
        )
        .await,
        404,
    )
    .await;
    problem(
        call(&s.app, Method::DELETE, &path, Some(&bob), None).await,
        404,
    )
    .await;
    // Bob cannot put Alice's venue in his event either.
    problem(
        call(
            &s.app,
            Method::POST,
            "/api/v1/events",
            Some(&bob),
            Some(concert(&s.venue)),
        )
        .await,
        422,
    )
    .await;

    let fan = access_token(&register(&s.app, "fan@example.com").await).to_owned();
    problem(
        call(
            &s.app,
            Method::POST,
            "/api/v1/events",
            Some(&fan),
            Some(concert(&s.venue)),
        )
        .await,
        403,
    )
    .await;

    json_of(
        call(&s.app, Method::GET, &path, Some(&s.alice), None).await,
        200,
    )
    .await;
    let admin = with_role(&s.app, "root@example.com", Role::Admin).await;
    json_of(
        call(&s.app, Method::GET, &path, Some(&admin), None).await,
        200,
    )
    .await;
    json_of(
        call(
            &s.app,
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"title": "Admin edit"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(count(&s.app, "SELECT count(*) FROM events").await, 1);
}

#[tokio::test]
async fn the_seat_map_and_counts_are_right_after_publish() {
    let s = setup().await;
    let id = create(&s, concert(&s.venue)).await;
    let draft_map = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("/api/v1/events/{id}/seats"),
            Some(&s.alice),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(draft_map, json!([]), "no inventory before publish");
    json_of(act(&s, &id, "publish").await, 200).await;

    let map = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("/api/v1/events/{id}/seats"),
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    let seats = map.as_array().unwrap();
    assert_eq!(seats.len(), 10);
    assert!(seats.iter().all(|seat| seat["available"] == true));
    assert!(
        seats
            .iter()
            .all(|seat| seat.get("hold_id").is_none() && seat.get("status").is_none()),
        "never who holds it"
    );
    let price_of = |label: &str| {
        seats.iter().find(|s| s["label"] == label).unwrap()["price_cents"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        (price_of("A-1"), price_of("B-3"), price_of("C-4")),
        (5000, 5000, 2500)
    );
    assert_eq!(seats[0]["section"], "Stalls");

    let detail = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("/api/v1/events/{id}"),
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    let availability = &detail["availability"];
    assert_eq!(availability["seats_total"], 10);
    assert_eq!(availability["seats_available"], 10);
    assert_eq!(availability["tickets_available"], 50);
    assert_eq!(availability["sold_out"], false);
    assert_eq!(detail["currency"], "EUR");
}

#[tokio::test]
async fn two_events_at_one_venue_keep_independent_inventory() {
    let s = setup().await;
    let first = create(&s, concert(&s.venue)).await;
    let second = create(&s, concert(&s.venue)).await;
    json_of(act(&s, &first, "publish").await, 200).await;
    json_of(act(&s, &second, "publish").await, 200).await;
    assert_eq!(count(&s.app, "SELECT count(*) FROM event_seats").await, 20);

    // Sell and hold seats of the first event only.
    let first_id: uuid::Uuid = first.parse().unwrap();
    sqlx::query!(
        "UPDATE event_seats SET status = 'sold' WHERE event_id = $1 AND label IN ('A-1', 'A-2')",
        first_id,
    )
    .execute(&s.app.ctx.pool)
    .await
    .unwrap();
    sqlx::query!(
        "UPDATE event_seats SET status = 'held', held_until = now() + interval '5 minutes'
         WHERE event_id = $1 AND label = 'C-1'",
        first_id,
    )
    .execute(&s.app.ctx.pool)
    .await
    .unwrap();
    let availability = |id: String| {
        let app = &s.app;
        async move {
            let path = format!("/api/v1/events/{id}");
            tokio::time::sleep(std::time::Duration::from_millis(2_100)).await; // past the availability TTL
            json_of(call(app, Method::GET, &path, None, None).await, 200).await["availability"]
                .clone()
        }
    };
    let (one, two) = tokio::join!(availability(first.clone()), availability(second.clone()));
    assert_eq!(
        (
            one["seats_sold"].as_i64(),
            one["seats_held"].as_i64(),
            one["seats_available"].as_i64()
        ),
        (Some(2), Some(1), Some(7))
    );
    assert_eq!(
        (
            two["seats_sold"].as_i64(),
            two["seats_held"].as_i64(),
            two["seats_available"].as_i64()
        ),
        (Some(0), Some(0), Some(10))
    );
    let map = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("/api/v1/events/{second}/seats"),
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(
        map.as_array()
            .unwrap()
            .iter()
            .all(|seat| seat["available"] == true)
    );
}
