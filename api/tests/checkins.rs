//! The door over real HTTP: one entry per ticket under 20 racing scanners,
//! nonces, revocation on cancel, wrong events, offline batches, keys with
//! the `checkin` scope, stats, and bad input that changes nothing.

mod common;

use common::tickets::*;
use common::*;
use marquee_core::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

async fn first_ticket(s: &Sold) -> Value {
    let id = s.booking_tickets().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.ticket(&id).await
}

#[tokio::test]
async fn twenty_scanners_racing_on_one_code_admit_it_once_and_a_replayed_nonce_is_ok_again() {
    let s = sold(true).await;
    let ticket = first_ticket(&s).await;
    let scans = (0..20).map(|n| {
        let body = json!({"code": ticket["qr_token"], "nonce": format!("scan-{n}"), "device": format!("door-{n}")});
        let (app, alice, event) = (&s.app, &s.alice, &s.event);
        async move { scan_as(app, alice, event, body).await }
    });
    let results = futures::future::join_all(scans).await;
    let ok: Vec<&(u16, Value)> = results
        .iter()
        .filter(|(status, _)| *status == 201)
        .collect();
    assert_eq!(ok.len(), 1, "{results:?}");
    let used = results
        .iter()
        .filter(|(status, body)| *status == 409 && outcome(body) == "already_used");
    assert_eq!(used.count(), 19, "{results:?}");
    let winner = &ok[0].1;
    assert_eq!(winner["label"], ticket["label"]);
    assert_eq!(winner["holder_first_name"], "Zoë");
    // The losers learn when and where it came in.
    let loser = results.iter().find(|(status, _)| *status == 409).unwrap();
    assert_eq!(loser.1["checkin"]["used_device"], winner["used_device"]);
    assert!(loser.1["checkin"]["used_at"].is_string());

    // The winning scanner retries (its answer was lost): `ok` again.
    let device = winner["used_device"].as_str().unwrap();
    let nonce = format!("scan-{}", device.trim_start_matches("door-"));
    let (status, again) = s
        .scan(
            &s.event,
            json!({"code": ticket["qr_token"], "nonce": nonce, "device": device}),
        )
        .await;
    assert_eq!((status, outcome(&again)), (201, "ok"), "{again}");
    assert_eq!(again["used_at"], winner["used_at"]);
    // The same counter nonce from another gate is a second person.
    let (status, other_gate) = s
        .scan(
            &s.event,
            json!({"code": ticket["qr_token"], "nonce": nonce, "device": "south-gate"}),
        )
        .await;
    assert_eq!(
        (status, outcome(&other_gate)),
        (409, "already_used"),
        "{other_gate}"
    );
    // Typing the code by hand is the same ticket: already used.
    let (status, typed) = s
        .scan(
            &s.event,
            json!({"code": ticket["code"].as_str().unwrap().to_lowercase()}),
        )
        .await;
    assert_eq!((status, outcome(&typed)), (409, "already_used"), "{typed}");
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM tickets WHERE status = 'used'").await,
        1
    );
}

#[tokio::test]
async fn a_cancelled_bookings_tickets_scan_revoked_and_are_listed_for_offline_devices() {
    let s = sold(true).await;
    let ticket = first_ticket(&s).await;
    let id = s.booking["id"].as_str().unwrap();
    json_of(
        call(
            &s.app,
            Method::POST,
            &format!("/api/v1/bookings/{id}/cancel"),
            Some(&s.fan),
            Some(json!({})),
        )
        .await,
        200,
    )
    .await;
    for code in [&ticket["qr_token"], &ticket["code"]] {
        let (status, body) = s.scan(&s.event, json!({"code": code})).await;
        assert_eq!((status, outcome(&body)), (410, "revoked"), "{body}");
    }
    let path = format!("/api/v1/events/{}/revocations", s.event);
    let all = json_of(
        call(&s.app, Method::GET, &path, Some(&s.alice), None).await,
        200,
    )
    .await;
    let revoked: Vec<&Value> = all["revocations"].as_array().unwrap().iter().collect();
    assert_eq!(revoked.len(), 3);
    assert!(revoked.iter().all(|r| r["reason"] == "booking_cancelled"));
    assert!(revoked.iter().any(|r| r["ticket_id"] == ticket["id"]));
    // The cursor: nothing newer than what was handed out.
    let next = all["next_since"].as_i64().unwrap();
    let newer = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("{path}?since={next}"),
            Some(&s.alice),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(newer["revocations"].as_array().unwrap().len(), 0);
    assert_eq!(newer["next_since"], next);
    let paged = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("{path}?since=0&limit=2"),
            Some(&s.alice),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(paged["revocations"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_events_cancel_revokes_every_ticket_as_it_commits() {
    let s = sold(true).await;
    let ticket = first_ticket(&s).await;
    json_of(
        call(
            &s.app,
            Method::POST,
            &format!("/api/v1/events/{}/cancel", s.event),
            Some(&s.alice),
            None,
        )
        .await,
        200,
    )
    .await;
    // No worker has refunded anything yet: the tickets are revoked already.
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM bookings WHERE status = 'confirmed'"
        )
        .await,
        1
    );
    let (status, body) = s.scan(&s.event, json!({"code": ticket["qr_token"]})).await;
    assert_eq!((status, outcome(&body)), (410, "revoked"), "{body}");
    assert_eq!(count(&s.app, "SELECT count(*) FROM tickets WHERE status = 'revoked' AND revoke_reason = 'event_cancelled'").await, 3);
    // The refund run after it finds nothing left to revoke, and issuing
    // nothing new for the cancelled event.
    s.drain().await;
    assert_eq!(count(&s.app, "SELECT count(*) FROM tickets").await, 3);
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM tickets WHERE status <> 'revoked'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn another_events_ticket_scans_wrong_event_and_stays_valid() {
    let s = sold(true).await;
    let ticket = first_ticket(&s).await;
    // A second event of Alice's.
    let venue = json!({"name": "Annex", "sections": [{"name": "Floor", "rows": [{"label": "A", "seats": 2}]}]});
    let venue = json_of(
        call(
            &s.app,
            Method::POST,
            "/api/v1/venues",
            Some(&s.alice),
            Some(venue),
        )
        .await,
        201,
    )
    .await;
    let body = json!({"title": "Other", "currency": "EUR",
        "starts_at": (chrono::Utc::now() + chrono::Duration::days(40)).to_rfc3339(),
        "venue_id": venue["id"], "section_prices": [{"section_id": venue["sections"][0]["id"], "price_cents": 100}]});
    let other = json_of(
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
    let other = other["id"].as_str().unwrap();
    for code in [&ticket["qr_token"], &ticket["code"]] {
        let (status, body) = s.scan(other, json!({"code": code})).await;
        assert_eq!((status, outcome(&body)), (409, "wrong_event"), "{body}");
    }
    assert_eq!(
        s.ticket(ticket["id"].as_str().unwrap()).await["status"],
        "valid"
    );
}

#[tokio::test]
async fn only_the_organizer_admins_and_their_checkin_keys_work_the_door() {
    let s = sold(true).await;
    let ticket = first_ticket(&s).await;
    let scan = json!({"code": ticket["code"]});
    // A plain user: 403. The buyer too.
    let plain = with_role(&s.app, "plain@example.com", Role::User).await;
    for token in [&plain, &s.fan] {
        let (status, _) = scan_as(&s.app, token, &s.event, scan.clone()).await;
        assert_eq!(status, 403);
    }
    // Another organizer, and their `checkin` key: 404, as if no such event.
    let bob = organizer(&s.app, "bob@example.com").await;
    let bobs_key = api_key(&s.app, &bob, json!(["checkin"])).await;
    for token in [&bob, &bobs_key] {
        let (status, body) = scan_as(&s.app, token, &s.event, scan.clone()).await;
        assert_eq!(status, 404, "{body}");
        assert!(
            body.get("checkin").is_none(),
            "no door outcome leaks: {body}"
        );
    }
    for path in ["checkin-keys", "revocations", "checkins/stats"] {
        let path = format!("/api/v1/events/{}/{path}", s.event);
        problem(
            call(&s.app, Method::GET, &path, Some(&bobs_key), None).await,
            404,
        )
        .await;
        problem(
            call(&s.app, Method::GET, &path, Some(&plain), None).await,
            403,
        )
        .await;
    }
    // Alice's key without the scope: 403.
    let alices_mail_key = api_key(&s.app, &s.alice, json!(["email:send"])).await;
    let (status, _) = scan_as(&s.app, &alices_mail_key, &s.event, scan.clone()).await;
    assert_eq!(status, 403);
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM tickets WHERE status = 'used'").await,
        0
    );
    // Alice's `checkin` key admits, recorded under the key's name.
    let alices_door = api_key(&s.app, &s.alice, json!(["checkin"])).await;
    let (status, body) = scan_as(&s.app, &alices_door, &s.event, scan.clone()).await;
    assert_eq!((status, outcome(&body)), (201, "ok"), "{body}");
    assert_eq!(body["used_device"], "app");
    // An admin may scan too.
    let admin = admin_token(&s.app).await;
    let (status, body) = scan_as(&s.app, &admin, &s.event, scan).await;
    assert_eq!((status, outcome(&body)), (409, "already_used"));
}

#[tokio::test]
async fn offline_scans_uploaded_together_let_the_first_in_time_win() {
    let s = sold(true).await;
    let tickets = s.booking_tickets().await;
    let a = s.ticket(tickets[0]["id"].as_str().unwrap()).await;
    let b = s.ticket(tickets[1]["id"].as_str().unwrap()).await;
    // Within the minutes since issue (a token is valid from 10 minutes
    // before it was issued).
    let t0 = chrono::Utc::now() - chrono::Duration::minutes(9);
    let at = |minutes: i64| (t0 + chrono::Duration::minutes(minutes)).to_rfc3339();
    // Sent out of order: the later duplicate of `a` comes first.
    let batch = json!({"scans": [
        {"code": a["qr_token"], "nonce": "n-3", "scanned_at": at(3), "device": "gate-2"},
        {"code": a["code"], "nonce": "n-1", "scanned_at": at(1), "device": "gate-1"},
        {"code": b["qr_token"], "nonce": "n-2", "scanned_at": at(2)},
        {"code": "not a ticket", "nonce": "n-4", "scanned_at": at(4)},
        {"code": "AAAA.BBBB", "nonce": "n-5", "scanned_at": at(5)},
    ]});
    let path = format!("/api/v1/events/{}/checkins/batch", s.event);
    let answer = json_of(
        call(
            &s.app,
            Method::POST,
            &path,
            Some(&s.alice),
            Some(batch.clone()),
        )
        .await,
        200,
    )
    .await;
    let statuses: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["already_used", "ok", "ok", "invalid", "unknown"],
        "{answer}"
    );
    assert_eq!(answer["ok"], 2);
    let a_now = s.ticket(a["id"].as_str().unwrap()).await;
    assert_eq!(a_now["used_device"], "gate-1");
    // The same upload again (the device never saw the answer): the same results.
    let again = json_of(
        call(&s.app, Method::POST, &path, Some(&s.alice), Some(batch)).await,
        200,
    )
    .await;
    let statuses: Vec<&str> = again["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["already_used", "ok", "ok", "invalid", "unknown"],
        "{again}"
    );

    // An earlier offline scan arriving after a live one takes its place.
    let c = s.ticket(tickets[2]["id"].as_str().unwrap()).await;
    let (status, _) = s
        .scan(&s.event, json!({"code": c["code"], "device": "live"}))
        .await;
    assert_eq!(status, 201);
    let late = json!({"scans": [{"code": c["qr_token"], "nonce": "early", "scanned_at": at(0), "device": "offline"}]});
    let answer = json_of(
        call(&s.app, Method::POST, &path, Some(&s.alice), Some(late)).await,
        200,
    )
    .await;
    assert_eq!(answer["results"][0]["status"], "ok", "{answer}");
    assert_eq!(
        s.ticket(c["id"].as_str().unwrap()).await["used_device"],
        "offline"
    );

    let stats = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("/api/v1/events/{}/checkins/stats", s.event),
            Some(&s.alice),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (stats["checked_in"].as_i64(), stats["tickets"].as_i64()),
        (Some(3), Some(3)),
        "{stats}"
    );
    let groups = stats["groups"].as_array().unwrap();
    let floor = groups.iter().find(|g| g["name"] == "Floor").unwrap();
    let ga = groups.iter().find(|g| g["name"] == "GA").unwrap();
    assert_eq!(
        (floor["checked_in"].as_i64(), floor["tickets"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        (ga["checked_in"].as_i64(), ga["tickets"].as_i64()),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn bad_door_input_is_a_clear_422_and_changes_nothing() {
    let s = sold(true).await;
    let ticket = first_ticket(&s).await;
    let event = s.event.clone();
    let cases = [
        json!({"code": ""}),
        json!({"code": "x".repeat(10_000)}),
        json!({"code": "hello world"}),
        json!({"code": ticket["code"], "nonce": ""}),
        json!({"code": ticket["code"], "nonce": "n".repeat(129)}),
        json!({"code": ticket["code"], "device": "d".repeat(101)}),
    ];
    for body in cases {
        let response = call(
            &s.app,
            Method::POST,
            &format!("/api/v1/events/{event}/checkins"),
            Some(&s.alice),
            Some(body.clone()),
        )
        .await;
        let problem = problem(response, 422).await;
        assert!(!problem["errors"].as_array().unwrap().is_empty(), "{body}");
    }
    let batch = format!("/api/v1/events/{event}/checkins/batch");
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let scans: Vec<Value> = (0..1001).map(|n| json!({"code": "x", "nonce": format!("{n}"), "scanned_at": chrono::Utc::now().to_rfc3339()})).collect();
    for body in [
        json!({"scans": []}),
        json!({"scans": scans}),
        json!({"scans": [{"code": ticket["code"], "nonce": "n", "scanned_at": future}]}),
        json!({"scans": [{"code": ticket["code"], "nonce": "", "scanned_at": chrono::Utc::now().to_rfc3339()}]}),
        json!({"scans": [{"code": ticket["code"], "nonce": "n", "scanned_at": "1970-01-01T00:00:00Z"}]}),
        json!({"scans": [{"code": ticket["code"], "nonce": "n", "scanned_at": "-5000-01-01T00:00:00Z"}]}),
    ] {
        problem(
            call(&s.app, Method::POST, &batch, Some(&s.alice), Some(body)).await,
            422,
        )
        .await;
    }
    for query in ["since=-1", "limit=0", "limit=1001"] {
        let path = format!("/api/v1/events/{event}/revocations?{query}");
        problem(
            call(&s.app, Method::GET, &path, Some(&s.alice), None).await,
            422,
        )
        .await;
    }
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM tickets WHERE status = 'valid'"
        )
        .await,
        3
    );
    // A well-formed code of no ticket: unknown, 404.
    let (status, body) = s
        .scan(
            &event,
            json!({"code": "2345-6789-ABCD-EFGH-JKMN-PQRS-TUVW"}),
        )
        .await;
    assert_eq!((status, outcome(&body)), (404, "unknown"), "{body}");
}

#[tokio::test]
async fn rotating_adds_a_key_and_tickets_signed_by_either_scan() {
    let s = sold(true).await;
    let path = format!("/api/v1/events/{}/checkin-keys", s.event);
    let added = json_of(
        call(&s.app, Method::POST, &path, Some(&s.alice), None).await,
        201,
    )
    .await;
    assert_eq!(added["key_id"], 2);
    let keys = json_of(
        call(&s.app, Method::GET, &path, Some(&s.alice), None).await,
        200,
    )
    .await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    // An old ticket still scans; a second buyer's tickets are signed by key 2.
    let old = first_ticket(&s).await;
    let (status, _) = s.scan(&s.event, json!({"code": old["qr_token"]})).await;
    assert_eq!(status, 201);
    let (booking, buyer) = buy(&s.app, &s.event, "second@example.com", 1).await;
    s.drain().await;
    let id = booking["id"].as_str().unwrap();
    let listed = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("/api/v1/bookings/{id}"),
            Some(&buyer),
            None,
        )
        .await,
        200,
    )
    .await;
    let new_id = listed["tickets"][0]["id"].as_str().unwrap();
    let new = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("/api/v1/tickets/{new_id}"),
            Some(&buyer),
            None,
        )
        .await,
        200,
    )
    .await;
    let token = new["qr_token"].as_str().unwrap();
    let claims = marquee_core::tickets::token::read(token).unwrap().claims;
    assert_eq!(claims.key_id, 2);
    let (status, _) = s.scan(&s.event, json!({"code": token})).await;
    assert_eq!(status, 201);
    // Only the organizer rotates.
    let bob = organizer(&s.app, "bob@example.com").await;
    problem(
        call(&s.app, Method::POST, &path, Some(&bob), None).await,
        404,
    )
    .await;
    problem(
        call(&s.app, Method::POST, &path, Some(&s.fan), None).await,
        403,
    )
    .await;
}

#[tokio::test]
async fn a_code_outside_its_window_scans_revoked_typed_or_not_and_offline_scans_are_judged_when_made()
 {
    let s = sold(true).await;
    let tickets = s.booking_tickets().await;
    let late = s.ticket(tickets[0]["id"].as_str().unwrap()).await;
    // The event has passed: its window ended a minute ago. (The token states
    // the old window, so the typed code is what this tests.)
    sqlx::query!(
        "UPDATE tickets SET valid_until = now() - interval '1 minute' WHERE id = $1",
        late["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap(),
    )
    .execute(&s.app.ctx.pool)
    .await
    .unwrap();
    let (status, body) = s.scan(&s.event, json!({"code": late["code"]})).await;
    assert_eq!((status, outcome(&body)), (410, "revoked"), "{body}");
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM tickets WHERE status = 'used'").await,
        0
    );
    // Scanned offline three minutes ago, inside the window: it counts.
    let path = format!("/api/v1/events/{}/checkins/batch", s.event);
    let earlier = (chrono::Utc::now() - chrono::Duration::minutes(3)).to_rfc3339();
    let batch = json!({"scans": [{"code": late["code"], "nonce": "early", "scanned_at": earlier}]});
    let answer = json_of(
        call(&s.app, Method::POST, &path, Some(&s.alice), Some(batch)).await,
        200,
    )
    .await;
    assert_eq!(answer["results"][0]["status"], "ok", "{answer}");
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM tickets WHERE status = 'used'").await,
        1
    );
}

#[tokio::test]
async fn a_booking_someone_came_in_on_cannot_be_cancelled_for_a_refund() {
    let s = sold(true).await;
    let ticket = first_ticket(&s).await;
    let (status, _) = s.scan(&s.event, json!({"code": ticket["code"]})).await;
    assert_eq!(status, 201);
    let id = s.booking["id"].as_str().unwrap();
    let refused = call(
        &s.app,
        Method::POST,
        &format!("/api/v1/bookings/{id}/cancel"),
        Some(&s.fan),
        Some(json!({})),
    )
    .await;
    let body = problem(refused, 409).await;
    assert!(
        body["detail"].as_str().unwrap().contains("checked in"),
        "{body}"
    );
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM bookings WHERE status = 'confirmed'"
        )
        .await,
        1
    );
    assert_eq!(count(&s.app, "SELECT count(*) FROM refunds").await, 0);
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM event_seats WHERE status = 'sold'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM tickets WHERE status = 'valid'"
        )
        .await,
        2
    );
    // The organizer calling the event off still refunds everyone.
    json_of(
        call(
            &s.app,
            Method::POST,
            &format!("/api/v1/events/{}/cancel", s.event),
            Some(&s.alice),
            None,
        )
        .await,
        200,
    )
    .await;
    s.drain().await;
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM bookings WHERE status = 'cancelled'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM tickets WHERE status = 'used'").await,
        1
    );
}

#[tokio::test]
async fn an_event_has_at_most_a_hundred_keys() {
    let s = sold(true).await;
    let event: uuid::Uuid = s.event.parse().unwrap();
    for _ in 1..marquee_core::tickets::door::MAX_KEYS {
        marquee_core::tickets::door::rotate_key(&s.app.ctx.pool, event)
            .await
            .unwrap();
    }
    let path = format!("/api/v1/events/{}/checkin-keys", s.event);
    problem(
        call(&s.app, Method::POST, &path, Some(&s.alice), None).await,
        409,
    )
    .await;
    let keys = json_of(
        call(&s.app, Method::GET, &path, Some(&s.alice), None).await,
        200,
    )
    .await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 100);
}
