//! Organizer CSV exports: who may read them, what they hold, that a cell a
//! spreadsheet would run as a formula is neutralised, and that 100,000 rows
//! stream through a real `marquee-api` process in flat memory.

mod common;

use common::process::ApiProcess;
use common::tickets::{buy, sold};
use common::*;
use reqwest::Method;
use serde_json::json;

/// The CSV's rows (header first) as strings.
fn rows(body: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn export(app: &TestApp, token: &str, event: &str, what: &str) -> reqwest::Response {
    call(
        app,
        Method::GET,
        &format!("/api/v1/events/{event}/{what}.csv"),
        Some(token),
        None,
    )
    .await
}

#[tokio::test]
async fn attendees_and_bookings_export_as_csv_for_the_organizer() {
    let sold = sold(true).await;
    let app = &sold.app;
    // A second buyer whose name and cancel reason are formulas.
    let (other, other_token) = buy(app, &sold.event, "mallory@example.com", 1).await;
    let mallory = uuid::Uuid::parse_str(&common::tickets::me(app, &other_token).await).unwrap();
    sqlx::query!(
        r#"UPDATE users SET name = '=HYPERLINK("http://evil.example","x")' WHERE id = $1"#,
        mallory
    )
    .execute(&app.ctx.pool)
    .await
    .unwrap();
    sold.drain().await;
    let cancelled = call(
        app,
        Method::POST,
        &format!("/api/v1/bookings/{}/cancel", other["id"].as_str().unwrap()),
        Some(&other_token),
        Some(json!({"reason": "@SUM(1+1)"})),
    )
    .await;
    json_of(cancelled, 200).await;
    sold.drain().await;

    let response = export(app, &sold.alice, &sold.event, "attendees").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"attendees-{}.csv\"", sold.event)
    );
    let body = response.text().await.unwrap();
    assert!(
        body.starts_with("\"ticket_id\",\"booking_reference\""),
        "{body}"
    );
    let attendees = rows(&body);
    assert_eq!(
        attendees[0],
        [
            "ticket_id",
            "booking_reference",
            "name",
            "email",
            "ticket",
            "status",
            "checked_in_at",
            "booked_at"
        ]
    );
    // Three tickets for Zoë, two (now revoked) for Mallory.
    assert_eq!(attendees.len(), 1 + 5, "{body}");
    let zoe: Vec<_> = attendees.iter().filter(|r| r[2] == "Zoë Fan").collect();
    assert_eq!(zoe.len(), 3);
    assert!(
        zoe.iter()
            .all(|r| r[3] == "fan@example.com" && r[5] == "valid")
    );
    assert!(
        zoe.iter()
            .all(|r| r[1] == sold.booking["reference"].as_str().unwrap())
    );
    let evil: Vec<_> = attendees
        .iter()
        .filter(|r| r[3] == "mallory@example.com")
        .collect();
    assert_eq!(evil.len(), 2);
    assert!(evil.iter().all(|r| r[5] == "revoked"));
    // The formula is text now: a leading ' and quoted in the file.
    assert_eq!(evil[0][2], r#"'=HYPERLINK("http://evil.example","x")"#);
    assert!(body.contains(r#""'=HYPERLINK(""http://evil.example"",""x"")""#));

    let bookings = export(app, &sold.alice, &sold.event, "bookings").await;
    assert_eq!(bookings.status(), 200);
    let bookings = rows(&bookings.text().await.unwrap());
    assert_eq!(bookings.len(), 3);
    assert_eq!(bookings[0][0], "booking_reference");
    let zoe = bookings.iter().find(|r| r[3] == "fan@example.com").unwrap();
    // Two seats at 25.00 and one GA at 10.00, in euros.
    assert_eq!(&zoe[4..10], ["confirmed", "3", "60.00", "EUR", "", ""]);
    let evil = bookings
        .iter()
        .find(|r| r[3] == "mallory@example.com")
        .unwrap();
    assert_eq!(evil[4], "cancelled");
    assert_eq!(evil[8], "refunded");
    assert_eq!(evil[9], "35.00", "a full refund under the default policy");
    assert!(!evil[11].is_empty(), "cancelled_at");
    assert_eq!(evil[12], "'@SUM(1+1)");
}

#[tokio::test]
async fn exports_are_only_for_the_events_organizer_and_admins() {
    let sold = sold(false).await;
    let app = &sold.app;
    let bob = organizer(app, "bob@example.com").await;
    let admin = admin_token(app).await;
    // No tickets are issued yet (no worker ran): a header alone, and the
    // booking.
    for (what, lines) in [("attendees", 1), ("bookings", 2)] {
        let fan = export(app, &sold.fan, &sold.event, what).await;
        problem(fan, 403).await;
        let other = export(app, &bob, &sold.event, what).await;
        problem(other, 404).await;
        let missing = export(app, &sold.alice, &uuid::Uuid::now_v7().to_string(), what).await;
        problem(missing, 404).await;
        let anonymous = app
            .get(&format!("/api/v1/events/{}/{what}.csv", sold.event))
            .await;
        problem(anonymous, 401).await;
        let by_admin = export(app, &admin, &sold.event, what).await;
        assert_eq!(by_admin.status(), 200, "{what}");
        assert_eq!(rows(&by_admin.text().await.unwrap()).len(), lines, "{what}");
    }
}

/// 100,000 tickets (1,000 bookings of 100) straight into the tables, with
/// the triggers off: the analytics triggers keep one rollup row per event
/// and slot, and 100,000 updates of one row in one transaction take
/// minutes (sales come a booking at a time).
async fn seed_tickets(app: &TestApp, event: uuid::Uuid, fan: uuid::Uuid, evil: uuid::Uuid) {
    let mut tx = app.ctx.pool.begin().await.unwrap();
    sqlx::query!("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    let ticket_type = sqlx::query_scalar!(
        "SELECT id FROM ticket_types WHERE event_id = $1 LIMIT 1",
        event
    )
    .fetch_one(&app.ctx.pool)
    .await
    .unwrap();
    sqlx::query!(
        "INSERT INTO holds (id, event_id, user_id, status, total_cents, currency, expires_at)
         SELECT gen_random_uuid(), $1, CASE WHEN n = 500 THEN $3::uuid ELSE $2::uuid END,
                'confirmed', 100000, 'EUR', now()
         FROM generate_series(1, 1000) n",
        event,
        fan,
        evil,
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query!(
        "INSERT INTO bookings (id, reference, hold_id, event_id, user_id, status, total_cents, currency)
         SELECT gen_random_uuid(), 'X' || lpad((row_number() OVER ())::text, 7, '0'),
                h.id, h.event_id, h.user_id, 'confirmed', h.total_cents, h.currency
         FROM holds h WHERE h.event_id = $1 AND h.status = 'confirmed'",
        event,
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query!(
        "INSERT INTO tickets (id, booking_id, event_id, user_id, item_key, ticket_type_id, label,
                              secret, key_id, qr_token, valid_from, valid_until)
         SELECT gen_random_uuid(), b.id, b.event_id, b.user_id, 'unit:' || $2::uuid || ':' || g,
                $2, 'General admission', md5(b.id::text || g), 1, 'token', now(),
                now() + interval '1 day'
         FROM bookings b CROSS JOIN generate_series(1, 100) g
         WHERE b.event_id = $1",
        event,
        ticket_type,
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_100k_row_attendee_export_streams_in_flat_memory() {
    let app = TestApp::spawn().await;
    let (alice, event) = event_on_sale(&app, 1, 10).await;
    let event: uuid::Uuid = event["id"].as_str().unwrap().parse().unwrap();
    let people = people(&app, 2).await;
    let fan = me_id(&app, &people[0]).await;
    let evil = me_id(&app, &people[1]).await;
    sqlx::query!("UPDATE users SET name = '=1+2' WHERE id = $1", evil)
        .execute(&app.ctx.pool)
        .await
        .unwrap();
    seed_tickets(&app, event, fan, evil).await;

    let api = ApiProcess::spawn(&app.ctx, &[]).await;
    let url = api.url(&format!("/api/v1/events/{event}/attendees.csv"));
    // Warm up with the (1,000-row) bookings export, so the baseline has
    // its connections, buffers and code paths.
    let warm = api
        .client
        .get(api.url(&format!("/api/v1/events/{event}/bookings.csv")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200);
    assert_eq!(rows(&warm.text().await.unwrap()).len(), 1 + 1_000);
    let before = marquee_core::testing::rss_mib(api.pid()).unwrap();

    // Read it slowly, as a client on a poor line would: the server must not
    // buffer ahead of the reader.
    let mut response = api
        .client
        .get(&url)
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
        chunks += 1;
        if chunks % 8 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
    let peak = marquee_core::testing::peak_rss_mib(api.pid()).unwrap();
    let body = String::from_utf8(body).unwrap();
    let rows = rows(&body);
    assert_eq!(rows.len(), 1 + 100_000);
    let distinct: std::collections::HashSet<&str> =
        rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(distinct.len(), 100_000, "every ticket once");
    let neutralised = rows[1..].iter().filter(|r| r[2] == "'=1+2").count();
    assert_eq!(
        neutralised, 100,
        "the formula name is text in each of its rows"
    );
    assert!(rows[1..].iter().all(|r| !r[2].starts_with('=')));
    println!(
        "100,000-row export: {} MiB of CSV, RSS {before:.1} MiB before, peak {peak:.1} MiB",
        body.len() / (1 << 20)
    );
    assert!(
        peak - before < 20.0,
        "the API grew by {:.1} MiB (from {before:.1} to a peak of {peak:.1})",
        peak - before
    );
}

async fn me_id(app: &TestApp, token: &str) -> uuid::Uuid {
    common::tickets::me(app, token).await.parse().unwrap()
}
