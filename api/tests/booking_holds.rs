//! Holds over real HTTP: races for the same seats and units, limits,
//! expiry (lazy and swept), and who may see or release a hold.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn hold(app: &TestApp, token: &str, event: &str, body: Value) -> reqwest::Response {
    call(
        app,
        Method::POST,
        &format!("/api/v1/events/{event}/holds"),
        Some(token),
        Some(body),
    )
    .await
}

/// The invariants after any run: no seat in two active holds, sold never
/// past capacity, held + sold + available = inventory.
async fn check_inventory(app: &TestApp, event: &str) {
    let pool = &app.ctx.pool;
    let event: uuid::Uuid = event.parse().unwrap();
    let doubled = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (SELECT i.seat_id FROM hold_items i JOIN holds h ON h.id = i.hold_id
          WHERE h.event_id = $1 AND h.status IN ('active', 'confirmed') AND h.expires_at > now()
          AND i.seat_id IS NOT NULL GROUP BY i.seat_id HAVING count(*) > 1) d"#,
        event,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(doubled, 0, "a seat is in two live holds");
    let seats = sqlx::query!(
        r#"SELECT count(*) AS "total!",
                  count(*) FILTER (WHERE status IN ('available', 'held', 'sold', 'blocked')) AS "counted!"
         FROM event_seats WHERE event_id = $1"#,
        event,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(seats.total, seats.counted);
    let held_seats = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM event_seats s JOIN holds h ON h.id = s.hold_id
         WHERE s.event_id = $1 AND s.status = 'held' AND h.status = 'active'"#,
        event,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let items = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM hold_items i JOIN holds h ON h.id = i.hold_id
         WHERE h.event_id = $1 AND h.status = 'active' AND i.seat_id IS NOT NULL"#,
        event,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(
        held_seats <= items,
        "every held seat belongs to an active hold"
    );
    let units = sqlx::query!(
        r#"SELECT t.capacity, t.sold, t.held, COALESCE((SELECT sum(i.quantity) FROM hold_items i JOIN holds h ON h.id = i.hold_id
                 WHERE i.ticket_type_id = t.id AND h.status = 'active'), 0) AS "in_holds!"
         FROM ticket_types t WHERE t.event_id = $1"#,
        event,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(
        units.sold + units.held <= units.capacity,
        "never past capacity"
    );
    assert_eq!(
        i64::from(units.held),
        units.in_holds,
        "held units = units in active holds"
    );
}

#[tokio::test]
async fn five_hundred_clients_race_for_ten_seats_and_exactly_ten_win() {
    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, 10, 50).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(&app, &event).await;
    let fans = people(&app, 500).await;
    let races = fans.iter().enumerate().map(|(n, token)| {
        let body = json!({"seats": [seats[n % 10]]});
        let (app, event) = (&app, event.clone());
        async move { hold(app, token, &event, body).await.status().as_u16() }
    });
    let statuses = futures::future::join_all(races).await;
    let won = statuses.iter().filter(|s| **s == 201).count();
    let lost = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!(
        (won, lost),
        (10, 490),
        "{:?}",
        statuses
            .iter()
            .filter(|s| **s != 201 && **s != 409)
            .collect::<Vec<_>>()
    );
    check_inventory(&app, &event).await;
    let held =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM event_seats WHERE status = 'held'"#)
            .fetch_one(&app.ctx.pool)
            .await
            .unwrap();
    assert_eq!(held, 10);
}

#[tokio::test]
async fn two_hundred_clients_race_for_fifty_units_and_exactly_fifty_are_held() {
    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, 1, 50).await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let ticket_type = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let fans = people(&app, 200).await;
    let races = fans.iter().map(|token| {
        let body = json!({"ticket_type_id": ticket_type, "quantity": 1});
        let (app, event) = (&app, event_id.clone());
        async move { hold(app, token, &event, body).await.status().as_u16() }
    });
    let statuses = futures::future::join_all(races).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 50);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 150);
    check_inventory(&app, &event_id).await;
}

#[tokio::test]
async fn a_hold_is_all_or_nothing_and_409_names_the_taken_seats() {
    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, 5, 10).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(&app, &event).await;
    let fans = people(&app, 2).await;
    let first = json_of(
        hold(&app, &fans[0], &event, json!({"seats": [seats[1]]})).await,
        201,
    )
    .await;
    assert_eq!(
        (first["total_cents"].as_i64(), first["currency"].as_str()),
        (Some(2500), Some("EUR"))
    );
    assert_eq!(first["items"][0]["label"], "A-2");

    let body = json!({"seats": [seats[0], seats[1], seats[2]], "ticket_type_id": null});
    let problem = problem(hold(&app, &fans[1], &event, body).await, 409).await;
    assert_eq!(problem["unavailable_seats"], json!([seats[1]]));
    let free = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM event_seats WHERE status = 'available'"#
    )
    .fetch_one(&app.ctx.pool)
    .await
    .unwrap();
    assert_eq!(free, 4, "nothing of the failed hold stuck");
    check_inventory(&app, &event).await;
}

#[tokio::test]
async fn limits_and_bad_holds_are_refused_without_a_change() {
    let app = TestApp::spawn().await;
    let (alice, event) = event_on_sale(&app, 20, 100).await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let ticket_type = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(&app, &event_id).await;
    let fan = people(&app, 1).await.remove(0);

    let cases = [
        (json!({"seats": seats[..11]}), 422, "over max_per_order"),
        (
            json!({"ticket_type_id": ticket_type, "quantity": 11}),
            422,
            "over max_per_order",
        ),
        (
            json!({"ticket_type_id": ticket_type, "quantity": 0}),
            422,
            "zero quantity",
        ),
        (json!({}), 422, "nothing to hold"),
        (json!({"seats": [seats[0], seats[0]]}), 422, "a seat twice"),
        (
            json!({"seats": ["00000000-0000-0000-0000-000000000000"]}),
            422,
            "unknown seat",
        ),
        (
            json!({"ticket_type_id": "00000000-0000-0000-0000-000000000000", "quantity": 1}),
            422,
            "unknown ticket type",
        ),
    ];
    for (body, status, why) in cases {
        let response = hold(&app, &fan, &event_id, body).await;
        assert_eq!(response.status().as_u16(), status, "{why}");
    }
    // Three active holds per person per event; the fourth is refused.
    for seat in &seats[..3] {
        json_of(
            hold(&app, &fan, &event_id, json!({"seats": [seat]})).await,
            201,
        )
        .await;
    }
    problem(
        hold(&app, &fan, &event_id, json!({"seats": [seats[5]]})).await,
        409,
    )
    .await;

    // Drafts do not exist to buyers; cancelled events are not on sale.
    let draft = json!({"title": "Draft", "currency": "EUR", "starts_at": (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339(),
        "ticket_types": [{"name": "GA", "price_cents": 100, "capacity": 5}]});
    let draft = json_of(
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
    let draft_type = draft["ticket_types"][0]["id"].as_str().unwrap();
    let body = json!({"ticket_type_id": draft_type, "quantity": 1});
    problem(
        hold(&app, &fan, draft["id"].as_str().unwrap(), body).await,
        404,
    )
    .await;
    json_of(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/events/{event_id}/cancel"),
            Some(&alice),
            None,
        )
        .await,
        200,
    )
    .await;
    let other = people(&app, 1).await.remove(0);
    problem(
        hold(&app, &other, &event_id, json!({"seats": [seats[9]]})).await,
        409,
    )
    .await;

    // Outside the sales window: not on sale yet.
    let later = json!({"title": "Later", "currency": "EUR",
        "starts_at": (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339(),
        "sales_start": (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339(),
        "ticket_types": [{"name": "GA", "price_cents": 100, "capacity": 5}]});
    let later = json_of(
        call(
            &app,
            Method::POST,
            "/api/v1/events",
            Some(&alice),
            Some(later),
        )
        .await,
        201,
    )
    .await;
    let later_id = later["id"].as_str().unwrap();
    json_of(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/events/{later_id}/publish"),
            Some(&alice),
            None,
        )
        .await,
        200,
    )
    .await;
    let body = json!({"ticket_type_id": later["ticket_types"][0]["id"], "quantity": 1});
    let refused = problem(hold(&app, &other, later_id, body).await, 409).await;
    assert!(
        refused["detail"].as_str().unwrap().contains("sales window"),
        "{refused}"
    );

    let holds = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM holds"#)
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap();
    assert_eq!(holds, 3);
    check_inventory(&app, &event_id).await;
}

#[tokio::test]
async fn an_expired_hold_is_claimable_at_once_and_the_sweep_releases_it() {
    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, 3, 2).await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let ticket_type = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(&app, &event_id).await;
    let fans = people(&app, 3).await;
    let both = json!({"seats": [seats[0]], "ticket_type_id": ticket_type, "quantity": 2});
    let first = json_of(hold(&app, &fans[0], &event_id, both.clone()).await, 201).await;
    problem(hold(&app, &fans[1], &event_id, both.clone()).await, 409).await;

    // Time passes: the first hold is past its expiry.
    sqlx::query!("UPDATE holds SET expires_at = now() - interval '1 second'")
        .execute(&app.ctx.pool)
        .await
        .unwrap();
    sqlx::query!(
        "UPDATE event_seats SET held_until = now() - interval '1 second' WHERE status = 'held'",
    )
    .execute(&app.ctx.pool)
    .await
    .unwrap();
    let path = format!("/api/v1/holds/{}", first["id"].as_str().unwrap());
    assert_eq!(
        json_of(
            call(&app, Method::GET, &path, Some(&fans[0]), None).await,
            200
        )
        .await["status"],
        "expired"
    );
    let map = json_of(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/events/{event_id}/seats"),
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        map[0]["available"], true,
        "an expired hold's seat shows available"
    );

    // Someone else takes the seat and the units at once, before any sweep.
    let second = json_of(hold(&app, &fans[1], &event_id, both.clone()).await, 201).await;
    check_inventory(&app, &event_id).await;

    // The sweep releases holds past their time, each once.
    sqlx::query!(
        "UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = $1",
        second["id"]
            .as_str()
            .unwrap()
            .parse::<uuid::Uuid>()
            .unwrap(),
    )
    .execute(&app.ctx.pool)
    .await
    .unwrap();
    let sweeps = (0..3).map(|_| marquee_core::booking::holds::sweep(&app.ctx.pool));
    let released: u64 = futures::future::join_all(sweeps)
        .await
        .into_iter()
        .map(|swept| swept.unwrap().released)
        .sum();
    assert_eq!(released, 1, "only the second hold was still active");
    let held = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM event_seats WHERE status = 'held') AS "seats!",
                  (SELECT held FROM ticket_types) AS "units!""#,
    )
    .fetch_one(&app.ctx.pool)
    .await
    .unwrap();
    assert_eq!((held.seats, held.units), (0, 0));
    json_of(hold(&app, &fans[2], &event_id, both).await, 201).await;
    check_inventory(&app, &event_id).await;
}

#[tokio::test]
async fn only_the_owner_sees_or_releases_a_hold() {
    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, 2, 5).await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(&app, &event_id).await;
    let fans = people(&app, 2).await;
    let held = json_of(
        hold(&app, &fans[0], &event_id, json!({"seats": [seats[0]]})).await,
        201,
    )
    .await;
    let path = format!("/api/v1/holds/{}", held["id"].as_str().unwrap());
    problem(
        call(&app, Method::GET, &path, Some(&fans[1]), None).await,
        404,
    )
    .await;
    problem(
        call(&app, Method::DELETE, &path, Some(&fans[1]), None).await,
        404,
    )
    .await;
    problem(
        hold(&app, &fans[1], &event_id, json!({"seats": [seats[0]]})).await,
        409,
    )
    .await;

    assert_eq!(
        call(&app, Method::DELETE, &path, Some(&fans[0]), None)
            .await
            .status(),
        204
    );
    assert_eq!(
        call(&app, Method::DELETE, &path, Some(&fans[0]), None)
            .await
            .status(),
        204,
        "twice is fine"
    );
    assert_eq!(
        json_of(
            call(&app, Method::GET, &path, Some(&fans[0]), None).await,
            200
        )
        .await["status"],
        "released"
    );
    json_of(
        hold(&app, &fans[1], &event_id, json!({"seats": [seats[0]]})).await,
        201,
    )
    .await;
    check_inventory(&app, &event_id).await;
}

/// Makes every hold of the test's database past its time.
async fn expire_everything(app: &TestApp) {
    sqlx::query!(
        "UPDATE holds SET expires_at = now() - interval '1 second' WHERE status = 'active'",
    )
    .execute(&app.ctx.pool)
    .await
    .unwrap();
    sqlx::query!(
        "UPDATE event_seats SET held_until = now() - interval '1 second' WHERE status = 'held'",
    )
    .execute(&app.ctx.pool)
    .await
    .unwrap();
}

/// Holds that ask for seats plus units that only expired holds still have:
/// each one releases the expired holds while other holds are claiming those
/// holds' seats (lazily, as expired). Rounds of concurrent clients over
/// HTTP, every hold of the last round expired before the next; some ask
/// for seats only. A deadlock between two holds was a 500; now no request
/// fails, and nothing is oversold.
#[tokio::test]
async fn holds_releasing_expired_holds_while_others_claim_their_seats_never_fail() {
    const SEATS: usize = 40;
    const UNITS: i32 = 16;
    const CLIENTS: usize = 60;
    const ROUNDS: usize = 12;
    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, SEATS as i32, UNITS).await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let ticket_type = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(&app, &event_id).await;
    let fans = people(&app, CLIENTS * (ROUNDS + 1)).await;
    // Every unit and every seat in a hold that then expires.
    for (n, fan) in fans[..SEATS / 2].iter().enumerate() {
        let mut body = json!({"seats": [seats[2 * n], seats[2 * n + 1]]});
        if (n as i32) < UNITS {
            body["ticket_type_id"] = json!(ticket_type);
            body["quantity"] = json!(1);
        }
        json_of(hold(&app, fan, &event_id, body).await, 201).await;
    }
    let mut statuses = Vec::new();
    for round in 0..ROUNDS {
        expire_everything(&app).await;
        let clients = fans[CLIENTS * (round + 1)..CLIENTS * (round + 2)].iter();
        let races = clients.enumerate().map(|(n, token)| {
            // Two seats far apart (different expired holds), spread so that
            // clients overlap on some seats and not on others.
            let a = (n * 7 + round * 3) % SEATS;
            let b = (a + 11 + n % 5) % SEATS;
            let mut body = json!({"seats": [seats[a], seats[b]]});
            if n % 3 != 0 {
                body["ticket_type_id"] = json!(ticket_type);
                body["quantity"] = json!(1);
            }
            let (app, event) = (&app, event_id.clone());
            async move { hold(app, token, &event, body).await.status().as_u16() }
        });
        statuses.extend(futures::future::join_all(races).await);
        check_inventory(&app, &event_id).await;
    }
    let failed: Vec<&u16> = statuses
        .iter()
        .filter(|s| **s != 201 && **s != 409)
        .collect();
    assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
    assert!(
        statuses.iter().filter(|s| **s == 201).count() >= ROUNDS,
        "every round someone wins"
    );
}
