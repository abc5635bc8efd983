//! Every page form refuses bad input with a clear 4xx, says what is wrong,
//! and changes nothing; and nobody reaches another person's things.

use marquee_core::auth::Role;
use reqwest::StatusCode;

use crate::common::{TestApp, count, event_on_sale, register, seat_ids, with_role};
use crate::security::Visitor;

#[tokio::test]
async fn people_forms_refuse_bad_input_and_other_peoples_things() {
    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, 4, 10).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let page = format!("/events/{event}");
    let holds = format!("/events/{event}/holds");
    let seats = seat_ids(&app, &event).await;

    // Sign-up: each field's problem next to it, no account.
    let mut anon = Visitor::new(&app);
    let users = count(&app, "SELECT count(*) FROM users").await;
    let (status, html) = anon
        .submit(
            "/sign-up",
            "/sign-up",
            &[
                ("name", ""),
                ("email", "not-an-email"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["e-name", "e-email", "e-password"] {
        assert!(html.contains(&format!("id=\"{field}\"")), "{field}: {html}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM users").await, users);

    register(&app, "pat@example.com").await;
    let mut pat = Visitor::signed_in(&app, "pat@example.com").await;
    for (form, said) in [
        (vec![("seat", "not-a-seat")], "Pick seats from the map"),
        (vec![], "Give seats"),
        (
            vec![
                ("ticket_type_id", "00000000-0000-0000-0000-000000000000"),
                ("quantity", "abc"),
            ],
            "whole number",
        ),
        (
            vec![("seat", seats[0].as_str()), ("seat", seats[0].as_str())],
            "",
        ),
    ] {
        let (status, html) = pat.submit(&page, &holds, &form).await;
        assert!(status.is_client_error(), "{form:?}: {status}");
        assert!(html.contains(said), "{form:?}: {said}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM holds").await, 0);

    // A hold, then bad payments: no booking.
    let (status, hold) = pat.submit(&page, &holds, &[("seat", &seats[0])]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{hold}");
    let pay = format!("{hold}/pay");
    for (token, status, said) in [
        ("", StatusCode::UNPROCESSABLE_ENTITY, "1-255 characters"),
        (
            "tok_declined",
            StatusCode::PAYMENT_REQUIRED,
            "This card was declined",
        ),
    ] {
        let (got, html) = pat
            .submit(
                &hold,
                &pay,
                &[
                    ("token", token),
                    ("idempotency_key", &uuid::Uuid::new_v4().to_string()),
                ],
            )
            .await;
        assert_eq!(got, status, "{token}");
        assert!(
            html.contains("id=\"e-token\"") && html.contains(said),
            "{token}: {html}"
        );
    }
    assert_eq!(count(&app, "SELECT count(*) FROM bookings").await, 0);

    // Someone else sees none of Pat's things.
    register(&app, "sam@example.com").await;
    let mut sam = Visitor::signed_in(&app, "sam@example.com").await;
    assert_eq!(sam.get(&hold).await.status(), StatusCode::NOT_FOUND);
    let key = uuid::Uuid::new_v4().to_string();
    let (status, booking) = pat
        .submit(
            &hold,
            &pay,
            &[("token", "tok_ok"), ("idempotency_key", &key)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{booking}");
    // The same form sent twice books once.
    let (status, again) = pat
        .submit(
            &hold,
            &pay,
            &[("token", "tok_ok"), ("idempotency_key", &key)],
        )
        .await;
    assert_eq!(
        (status, again.as_str()),
        (StatusCode::SEE_OTHER, booking.as_str())
    );
    assert_eq!(count(&app, "SELECT count(*) FROM bookings").await, 1);
    for path in [
        booking.clone(),
        format!("{booking}/cancel"),
        format!("{booking}/tickets"),
    ] {
        assert_eq!(
            sam.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let cancel = format!("{booking}/cancel");
    let (status, _) = sam
        .submit("/bookings", &cancel, &[("expected_refund", "2500")])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A refund other than the one shown is refused; nothing is cancelled.
    let (status, html) = pat
        .submit(&cancel, &cancel, &[("expected_refund", "1")])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("review it again"), "{html}");
    let (status, _) = pat
        .submit(&cancel, &cancel, &[("expected_refund", "lots")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, html) = pat
        .submit(
            &cancel,
            &cancel,
            &[("expected_refund", "2500"), ("reason", &"x".repeat(501))],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM bookings WHERE status = 'confirmed'"
        )
        .await,
        1
    );
    assert_eq!(count(&app, "SELECT count(*) FROM refunds").await, 0);
}

#[tokio::test]
async fn organizer_forms_refuse_bad_input_and_other_organizers_events() {
    let app = TestApp::spawn().await;
    let (_, alices) = event_on_sale(&app, 4, 10).await;
    let alices = alices["id"].as_str().unwrap().to_owned();
    with_role(&app, "olga@example.com", Role::Organizer).await;
    let mut olga = Visitor::signed_in(&app, "olga@example.com").await;
    let venues = count(&app, "SELECT count(*) FROM venues").await;
    for (form, said) in [
        (
            vec![
                ("name", "Hall"),
                ("time_zone", "UTC"),
                ("layout", "Stalls A 10"),
            ],
            "Line 1",
        ),
        (
            vec![
                ("name", "Hall"),
                ("time_zone", "Mars/Olympus"),
                ("layout", "Stalls: A 10"),
            ],
            "IANA time zone",
        ),
        (
            vec![
                ("name", ""),
                ("time_zone", "UTC"),
                ("layout", "Stalls: A 10"),
            ],
            "e-name",
        ),
        (
            vec![
                ("name", "Hall"),
                ("time_zone", "UTC"),
                ("layout", "Stalls: A 0"),
            ],
            "",
        ),
        (
            vec![
                ("name", "Hall"),
                ("time_zone", "UTC"),
                ("layout", "Stalls: A 1000"),
            ],
            "id=\"e-layout\"",
        ),
    ] {
        let (status, html) = olga
            .submit("/organizer/venues/new", "/organizer/venues", &form)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}: {html}");
        assert!(html.contains(said), "{form:?}: {said}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM venues").await, venues);

    let events = count(&app, "SELECT count(*) FROM events").await;
    for (form, said) in [
        (
            vec![
                ("title", "Gig"),
                ("starts_at", "2030-01-01T20:00"),
                ("ga_name_1", "GA"),
                ("ga_price_1", "12,50"),
                ("ga_capacity_1", "10"),
            ],
            "is not a price",
        ),
        (
            vec![
                ("title", "Gig"),
                ("ga_name_1", "GA"),
                ("ga_price_1", "12"),
                ("ga_capacity_1", "10"),
            ],
            "When does it start",
        ),
        (
            vec![
                ("title", "Gig"),
                ("starts_at", "tomorrow"),
                ("ga_name_1", "GA"),
                ("ga_price_1", "12"),
                ("ga_capacity_1", "10"),
            ],
            "A date and time",
        ),
        (
            vec![
                ("title", "Gig"),
                ("starts_at", "2030-01-01T20:00"),
                ("max_per_order", "many"),
            ],
            "whole number",
        ),
    ] {
        let (status, html) = olga
            .submit("/organizer/events/new", "/organizer/events", &form)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}: {html}");
        assert!(html.contains(said), "{form:?}: {said}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM events").await, events);

    // Alice's event is not Olga's: every page and action is 404.
    for path in ["", "/dashboard", "/door", "/progress", "/attendees.csv"] {
        let path = format!("/organizer/events/{alices}{path}");
        assert_eq!(
            olga.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let manage = format!("/organizer/events/{alices}");
    for action in ["cancel", "publish", "announcements", "policy", "door"] {
        let (status, _) = olga
            .submit(
                "/organizer",
                &format!("{manage}/{action}"),
                &[
                    ("message", "hi"),
                    ("code", "X"),
                    ("deadline_hours_before_start", "1"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
    }
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE status = 'published'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM event_announcements").await,
        0
    );

    // Alice's own bad input.
    let mut alice = Visitor::signed_in(&app, "alice@example.com").await;
    let (status, _) = alice
        .submit(
            &manage,
            &format!("{manage}/announcements"),
            &[("message", "   ")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = alice
        .submit(
            &manage,
            &format!("{manage}/policy"),
            &[("deadline_hours_before_start", "soon")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, html) = alice
        .submit(
            &manage,
            &format!("{manage}/policy"),
            &[
                ("deadline_hours_before_start", "12"),
                ("tier_hours_1", "72"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("needs both its hours and its percentage"),
        "{html}"
    );
    let (status, _) = alice
        .submit(
            &manage,
            &manage,
            &[("title", "Still"), ("max_per_order", "abc")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        count(&app, "SELECT count(*) FROM events WHERE title = 'Still'").await,
        0
    );
    let (status, html) = alice
        .submit(&manage, &format!("{manage}/door"), &[("code", "\u{0}")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    let (status, _) = alice
        .submit(&manage, &format!("{manage}/rename"), &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        count(&app, "SELECT count(*) FROM event_announcements").await,
        0
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM tickets WHERE status = 'used'").await,
        0
    );
}

#[tokio::test]
async fn operator_forms_refuse_bad_input_and_audit_nothing() {
    let app = TestApp::spawn().await;
    with_role(&app, "ops@example.com", Role::Admin).await;
    let mut ops = Visitor::signed_in(&app, "ops@example.com").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    for (action, form, status) in [
        (
            "/ops/queues/nope/pause".to_owned(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/ops/queues/email/explode".to_owned(),
            vec![],
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/ops/jobs/{unknown}/retry"),
            vec![],
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/ops/jobs/{unknown}/explode"),
            vec![],
            StatusCode::NOT_FOUND,
        ),
        (
            "/ops/jobs/bulk".to_owned(),
            vec![("action", "retry")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ops/jobs/bulk".to_owned(),
            vec![("action", "retry"), ("id", "x")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ops/jobs/bulk".to_owned(),
            vec![("action", "retry"), ("scope", "filter")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ops/jobs/bulk".to_owned(),
            vec![("action", "pause"), ("id", &unknown)],
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (got, html) = ops.submit("/ops", &action, &form).await;
        assert_eq!(got, status, "{action} {form:?}: {html}");
    }
    assert_eq!(
        ops.get("/ops/jobs?state=sleeping").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(count(&app, "SELECT count(*) FROM ops_audit").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM queue_pauses").await, 0);
}

#[tokio::test]
async fn a_big_hall_is_drawn_a_section_and_a_run_of_rows_at_a_time() {
    let app = TestApp::spawn().await;
    let alice = crate::common::organizer(&app, "alice@example.com").await;
    let rows = |n: usize, seats: i32| -> Vec<serde_json::Value> {
        (0..n)
            .map(|i| serde_json::json!({"label": format!("R{i:02}"), "seats": seats}))
            .collect()
    };
    let venue = serde_json::json!({"name": "Arena", "sections": [
        {"name": "Floor", "rows": rows(40, 60)}, {"name": "Circle", "rows": rows(10, 10)}]});
    let venue = crate::common::json_of(
        crate::common::call(
            &app,
            reqwest::Method::POST,
            "/api/v1/venues",
            Some(&alice),
            Some(venue),
        )
        .await,
        201,
    )
    .await;
    let body = serde_json::json!({"title": "Big Night", "currency": "EUR",
        "starts_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
        "venue_id": venue["id"],
        "section_prices": [
            {"section_id": venue["sections"][0]["id"], "price_cents": 5000},
            {"section_id": venue["sections"][1]["id"], "price_cents": 3000}]});
    let event = crate::common::json_of(
        crate::common::call(
            &app,
            reqwest::Method::POST,
            "/api/v1/events",
            Some(&alice),
            Some(body),
        )
        .await,
        201,
    )
    .await;
    let id = event["id"].as_str().unwrap();
    crate::common::json_of(
        crate::common::call(
            &app,
            reqwest::Method::POST,
            &format!("/api/v1/events/{id}/publish"),
            Some(&alice),
            None,
        )
        .await,
        200,
    )
    .await;

    let mut visitor = Visitor::new(&app);
    let page = visitor
        .get(&format!("/events/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let drawn = page.matches("data-seat=").count();
    assert!(
        drawn > 0 && drawn <= 2_000,
        "{drawn} seats drawn: {}",
        &page[..page.len().min(3000)]
    );
    assert!(page.len() < 1_000_000, "{} bytes", page.len());
    assert!(page.contains("aria-label=\"Sections\"") && page.contains("Circle · 100 of 100 free"));
    assert!(page.contains("aria-label=\"Rows\"") && page.contains("Rows R00–"));
    let circle = venue["sections"][1]["id"].as_str().unwrap();
    let part = visitor
        .get(&format!("/events/{id}/seats?section={circle}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(part.matches("data-seat=").count(), 100);
    let floor = venue["sections"][0]["id"].as_str().unwrap();
    let rest = visitor
        .get(&format!("/events/{id}/seats?section={floor}&part=1"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        drawn + rest.matches("data-seat=").count(),
        2_400,
        "the two runs make the floor"
    );

    // The organizer's preview of a huge layout is counts, not seats.
    let mut alice_pages = Visitor::signed_in(&app, "alice@example.com").await;
    let layout = (0..50)
        .map(|s| {
            format!(
                "S{s}: {}",
                (0..100)
                    .map(|r| format!("R{r} 100"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (status, preview) = alice_pages
        .submit(
            "/organizer/venues/new",
            "/organizer/venues/preview",
            &[("layout", &layout)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        preview.contains("500000 seats") && preview.len() < 20_000,
        "{} bytes",
        preview.len()
    );
}
