//! Cancelling: the policy decides, one code path, one refund per booking
//! however many cancels race, refunds paid once, and an organizer's cancel
//! refunding everyone once.

mod common;

use common::*;
use marquee_core::booking::cancel::{self, Processed};
use marquee_core::booking::payments::FakeProvider;
use marquee_core::booking::redrive;
use marquee_core::testing::TestContext;
use marquee_worker::testing::SmtpSink;
use reqwest::Method;
use serde_json::{Value, json};

struct Shop {
    app: TestApp,
    alice: String,
    event: Value,
    seats: Vec<String>,
}

async fn shop(ctx: Option<TestContext>) -> Shop {
    let app = match ctx {
        Some(ctx) => TestApp::spawn_with(ctx).await,
        None => TestApp::spawn().await,
    };
    let (alice, event) = event_on_sale(&app, 6, 10).await;
    let seats = seat_ids(&app, event["id"].as_str().unwrap()).await;
    Shop {
        app,
        alice,
        event,
        seats,
    }
}

/// `token` books `seat`; returns the booking.
async fn booked(s: &Shop, token: &str, seat: &str) -> Value {
    let path = format!("/api/v1/events/{}/holds", s.event["id"].as_str().unwrap());
    let hold = json_of(
        call(
            &s.app,
            Method::POST,
            &path,
            Some(token),
            Some(json!({"seats": [seat]})),
        )
        .await,
        201,
    )
    .await;
    let body = json!({"hold_id": hold["id"], "payment": {"method": "card", "token": "tok_ok"}});
    let response = s
        .app
        .client
        .post(s.app.url("/api/v1/bookings"))
        .bearer_auth(token)
        .header("Idempotency-Key", format!("key-{seat}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    json_of(response, 201).await
}

async fn cancel_booking(s: &Shop, token: &str, booking: &Value) -> reqwest::Response {
    let path = format!(
        "/api/v1/bookings/{}/cancel",
        booking["id"].as_str().unwrap()
    );
    call(
        &s.app,
        Method::POST,
        &path,
        Some(token),
        Some(json!({"reason": "cannot come"})),
    )
    .await
}

async fn set_policy(s: &Shop, policy: Value) -> reqwest::Response {
    let path = format!(
        "/api/v1/events/{}/cancellation-policy",
        s.event["id"].as_str().unwrap()
    );
    call(&s.app, Method::PUT, &path, Some(&s.alice), Some(policy)).await
}

#[tokio::test]
async fn the_owner_cancels_gets_the_policys_refund_paid_once_and_emailed() {
    let sink = SmtpSink::start();
    let mut ctx = TestContext::new().await;
    sink.configure(&mut ctx.settings);
    let s = shop(Some(ctx)).await;
    let fan = people(&s.app, 1).await.remove(0);
    let booking = booked(&s, &fan, &s.seats[0]).await;
    // Thirty days out: the default policy gives everything back.
    let cancelled = json_of(cancel_booking(&s, &fan, &booking).await, 200).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(
        (
            cancelled["refund"]["amount_cents"].as_i64(),
            cancelled["refund"]["status"].as_str()
        ),
        (Some(2500), Some("pending"))
    );
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM event_seats WHERE status = 'available'"
        )
        .await,
        6,
        "the seat is back on sale"
    );
    problem(cancel_booking(&s, &fan, &booking).await, 409).await;

    drain_with(&s.app, s.app.ctx.settings.clone()).await;
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM refunds WHERE status = 'refunded'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM fake_provider_refunds WHERE amount_cents = 2500"
        )
        .await,
        1
    );
    let shown = json_of(
        call(
            &s.app,
            Method::GET,
            &format!("/api/v1/bookings/{}", booking["id"].as_str().unwrap()),
            Some(&fan),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(shown["status"], "cancelled");
    let emails: Vec<String> = sink
        .messages()
        .into_iter()
        .filter(|m| m.contains("Subject: Refund for booking"))
        .collect();
    assert_eq!(emails.len(), 1);
    assert!(emails[0].contains("25.00 EUR"), "{}", emails[0]);
}

#[tokio::test]
async fn the_policy_sets_the_amount_and_a_refusal_is_422_with_the_reason() {
    let s = shop(None).await;
    let fans = people(&s.app, 3).await;
    let policy = json!({"allow": true, "deadline_hours_before_start": 24,
        "refund_tiers": [{"hours_before_start": 1000, "refund_percent": 100}, {"hours_before_start": 240, "refund_percent": 40}],
        "fee": {"type": "fixed", "amount": 100}});
    json_of(set_policy(&s, policy).await, 200).await;
    // 30 days (720 h) out: the 240 h tier applies: 40% of 2500 - 100.
    let first = booked(&s, &fans[0], &s.seats[0]).await;
    let refund = json_of(cancel_booking(&s, &fans[0], &first).await, 200).await["refund"].clone();
    assert_eq!(refund["amount_cents"], 900);

    json_of(set_policy(&s, json!({"allow": false, "deadline_hours_before_start": 0, "refund_tiers": [], "fee": {"type": "none", "amount": 0}})).await, 200).await;
    let second = booked(&s, &fans[1], &s.seats[1]).await;
    let body = problem(cancel_booking(&s, &fans[1], &second).await, 422).await;
    assert!(body.to_string().contains("does not allow"), "{body}");
    json_of(set_policy(&s, json!({"allow": true, "deadline_hours_before_start": 1000, "refund_tiers": [], "fee": {"type": "none", "amount": 0}})).await, 200).await;
    let body = problem(cancel_booking(&s, &fans[1], &second).await, 422).await;
    assert!(body.to_string().contains("1000 hours"), "{body}");
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM bookings WHERE status = 'confirmed'"
        )
        .await,
        1,
        "refused cancels change nothing"
    );
    assert_eq!(count(&s.app, "SELECT count(*) FROM refunds").await, 1);

    // Bad policies are 422; someone else's event is 404; another's booking is 404.
    let bad = json!({"allow": true, "deadline_hours_before_start": -1, "refund_tiers": [{"hours_before_start": 1, "refund_percent": 101}], "fee": {"type": "bribe", "amount": 1}});
    problem(set_policy(&s, bad).await, 422).await;
    let bad = json!({"allow": true, "deadline_hours_before_start": -1, "refund_tiers": [{"hours_before_start": 1, "refund_percent": 101}], "fee": {"type": "percent", "amount": 1}});
    let body = problem(set_policy(&s, bad).await, 422).await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    let bob = organizer(&s.app, "bob@example.com").await;
    let path = format!(
        "/api/v1/events/{}/cancellation-policy",
        s.event["id"].as_str().unwrap()
    );
    problem(
        call(&s.app, Method::GET, &path, Some(&bob), None).await,
        404,
    )
    .await;
    problem(cancel_booking(&s, &fans[2], &second).await, 404).await;
}

#[tokio::test]
async fn concurrent_cancels_make_one_refund() {
    let s = shop(None).await;
    let fan = people(&s.app, 1).await.remove(0);
    let booking = booked(&s, &fan, &s.seats[0]).await;
    let attempts = (0..10).map(|_| {
        let (s, fan, booking) = (&s, &fan, &booking);
        async move { cancel_booking(s, fan, booking).await.status().as_u16() }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        9,
        "{statuses:?}"
    );
    assert_eq!(count(&s.app, "SELECT count(*) FROM refunds").await, 1);
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM jobs WHERE kind = 'process_refund'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_refund_processed_twice_pays_once() {
    let s = shop(None).await;
    let fan = people(&s.app, 1).await.remove(0);
    let booking = booked(&s, &fan, &s.seats[0]).await;
    let refund = json_of(cancel_booking(&s, &fan, &booking).await, 200).await["refund"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let provider = FakeProvider::new(s.app.ctx.pool.clone());
    let (a, b) = tokio::join!(
        cancel::process_refund(&s.app.ctx.pool, &provider, refund),
        cancel::process_refund(&s.app.ctx.pool, &provider, refund)
    );
    let mut outcomes = vec![a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, vec![Processed::AlreadyDone, Processed::Refunded]);
    assert_eq!(
        cancel::process_refund(&s.app.ctx.pool, &provider, refund)
            .await
            .unwrap(),
        Processed::AlreadyDone
    );
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM fake_provider_refunds").await,
        1
    );
}

#[tokio::test]
async fn an_organizer_cancelling_the_event_refunds_everyone_once() {
    let sink = SmtpSink::start();
    let mut ctx = TestContext::new().await;
    sink.configure(&mut ctx.settings);
    let s = shop(Some(ctx)).await;
    let fans = people(&s.app, 3).await;
    for (fan, seat) in fans.iter().zip(&s.seats) {
        booked(&s, fan, seat).await;
    }
    // Someone is mid-checkout when the organizer calls it off.
    let late = people(&s.app, 1).await.remove(0);
    let hold_path = format!("/api/v1/events/{}/holds", s.event["id"].as_str().unwrap());
    let late_hold = json_of(
        call(
            &s.app,
            Method::POST,
            &hold_path,
            Some(&late),
            Some(json!({"seats": [s.seats[5]]})),
        )
        .await,
        201,
    )
    .await;
    let id = s.event["id"].as_str().unwrap();
    json_of(
        call(
            &s.app,
            Method::POST,
            &format!("/api/v1/events/{id}/cancel"),
            Some(&s.alice),
            None,
        )
        .await,
        200,
    )
    .await;
    problem(
        call(
            &s.app,
            Method::POST,
            &format!("/api/v1/events/{id}/cancel"),
            Some(&s.alice),
            None,
        )
        .await,
        409,
    )
    .await;
    let body =
        json!({"hold_id": late_hold["id"], "payment": {"method": "card", "token": "tok_ok"}});
    let response = s
        .app
        .client
        .post(s.app.url("/api/v1/bookings"))
        .bearer_auth(&late)
        .header("Idempotency-Key", "late")
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(response, 409).await;
    drain_with(&s.app, s.app.ctx.settings.clone()).await;

    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM bookings WHERE status = 'cancelled'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM refunds WHERE status = 'refunded' AND amount_cents = 2500"
        )
        .await,
        3,
        "full refunds"
    );
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM fake_provider_refunds").await,
        3
    );
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
    assert_eq!(
        detail["cancellation"],
        json!({"bookings_confirmed": 0, "bookings_cancelled": 3, "refunds_pending": 0, "refunds_paid": 3})
    );
    let refund_emails = sink
        .messages()
        .into_iter()
        .filter(|m| m.contains("Subject: Refund for booking"))
        .count();
    assert_eq!(refund_emails, 3, "one email each");

    // The batch job running again finds nothing left to cancel.
    let mut tx = s.app.ctx.pool.begin().await.unwrap();
    let event_id = id.parse().unwrap();
    let again = marquee_core::jobs::enqueue(&mut tx, &cancel::CancelEventBookings { event_id })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let producer = marquee_core::jobs::Producer::new(
        s.app.ctx.pool.clone(),
        s.app.ctx.redis(),
        s.app.ctx.settings.redis.key_prefix.clone(),
    );
    producer.dispatch(&[again]).await;
    drain_with(&s.app, s.app.ctx.settings.clone()).await;
    assert_eq!(count(&s.app, "SELECT count(*) FROM refunds").await, 3);
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM fake_provider_refunds").await,
        3
    );
}

/// A person's cancel that starts while the organizer is cancelling the
/// event waits for the organizer's row lock, then sees the event cancelled
/// and refunds in full, not by the policy. (The test takes the lock that
/// `lifecycle::cancel` takes, so the interleaving is certain.)
#[tokio::test]
async fn a_cancel_racing_the_organizers_cancel_waits_and_refunds_in_full() {
    let s = shop(None).await;
    let fan = people(&s.app, 1).await.remove(0);
    let booking = booked(&s, &fan, &s.seats[0]).await;
    // Half back whenever the person cancels.
    let policy = json!({"allow": true, "deadline_hours_before_start": 0,
        "refund_tiers": [{"hours_before_start": 0, "refund_percent": 50}],
        "fee": {"type": "none", "amount": 0}});
    json_of(set_policy(&s, policy).await, 200).await;
    let event: uuid::Uuid = s.event["id"].as_str().unwrap().parse().unwrap();

    // The organizer's cancel has locked the event and not committed yet.
    let mut organizer = s.app.ctx.pool.begin().await.unwrap();
    sqlx::query_scalar!("SELECT status FROM events WHERE id = $1 FOR UPDATE", event)
        .fetch_one(&mut *organizer)
        .await
        .unwrap();
    let cancel = cancel_booking(&s, &fan, &booking);
    tokio::pin!(cancel);
    let waiting = async {
        loop {
            let waiting = sqlx::query_scalar!(
                r#"SELECT count(*) AS "n!" FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'
                   AND query ILIKE '%events%'"#,
            )
            .fetch_one(&s.app.ctx.pool)
            .await
            .unwrap();
            if waiting > 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        response = &mut cancel => {
            let status = response.status();
            let body = response.text().await.unwrap();
            panic!("the cancel did not wait for the organizer's lock: {status} {body}");
        }
        waited = tokio::time::timeout(std::time::Duration::from_secs(10), waiting) => {
            waited.expect("the cancel never waited for the event's lock");
        }
    }
    sqlx::query!(
        "UPDATE events SET status = 'cancelled', cancelled_at = now() WHERE id = $1",
        event,
    )
    .execute(&mut *organizer)
    .await
    .unwrap();
    organizer.commit().await.unwrap();

    let cancelled = json_of(cancel.await, 200).await;
    assert_eq!(
        cancelled["refund"]["amount_cents"], 2500,
        "the event was cancelled first: everything back"
    );
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM refunds WHERE amount_cents = 2500"
        )
        .await,
        1
    );
}

/// The booking confirmation and the refund email write each amount with
/// its currency's minor unit: none for JPY, three decimals for KWD, two for
/// USD (not every amount as `units.cents`).
#[tokio::test]
async fn emails_show_amounts_in_each_currencys_minor_units() {
    let sink = SmtpSink::start();
    let mut ctx = TestContext::new().await;
    sink.configure(&mut ctx.settings);
    let app = TestApp::spawn_with(ctx).await;
    let alice = organizer(&app, "alice@example.com").await;
    let fan = people(&app, 1).await.remove(0);
    let cases = [
        ("JPY", 1500, "1500 JPY"),
        ("KWD", 1234, "1.234 KWD"),
        ("USD", 1050, "10.50 USD"),
    ];
    for (currency, price, _) in cases {
        let body = json!({"title": format!("Show in {currency}"), "currency": currency,
            "starts_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
            "ticket_types": [{"name": "GA", "price_cents": price, "capacity": 5}]});
        let event = json_of(
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
        .await;
        let id = event["id"].as_str().unwrap();
        let publish = format!("/api/v1/events/{id}/publish");
        json_of(
            call(&app, Method::POST, &publish, Some(&alice), None).await,
            200,
        )
        .await;
        let hold = json!({"ticket_type_id": event["ticket_types"][0]["id"], "quantity": 1});
        let hold = json_of(
            call(
                &app,
                Method::POST,
                &format!("/api/v1/events/{id}/holds"),
                Some(&fan),
                Some(hold),
            )
            .await,
            201,
        )
        .await;
        let checkout =
            json!({"hold_id": hold["id"], "payment": {"method": "card", "token": "tok_ok"}});
        let response = app
            .client
            .post(app.url("/api/v1/bookings"))
            .bearer_auth(&fan)
            .header("Idempotency-Key", format!("key-{currency}"))
            .json(&checkout)
            .send()
            .await
            .unwrap();
        let booking = json_of(response, 201).await;
        let cancel = format!(
            "/api/v1/bookings/{}/cancel",
            booking["id"].as_str().unwrap()
        );
        let cancelled = json_of(
            call(&app, Method::POST, &cancel, Some(&fan), Some(json!({}))).await,
            200,
        )
        .await;
        assert_eq!(cancelled["refund"]["amount_cents"], price, "full refund");
    }
    drain_with(&app, app.ctx.settings.clone()).await;

    // Undo quoted-printable soft line breaks before reading the text.
    let messages: Vec<String> = sink
        .messages()
        .into_iter()
        .map(|m| m.replace("=\r\n", "").replace("=\n", ""))
        .collect();
    for (currency, _, shown) in cases {
        let title = format!("Show in {currency}");
        let confirmation = messages
            .iter()
            .find(|m| m.contains("Subject: Booking") && m.contains(&title))
            .expect("the confirmation email");
        assert!(
            confirmation.contains(&format!("Paid: {shown}")),
            "{confirmation}"
        );
        let refund = messages
            .iter()
            .find(|m| m.contains("Subject: Refund for booking") && m.contains(&title))
            .expect("the refund email");
        assert!(
            refund.contains(&format!("We have refunded {shown} to your card"))
                && refund.contains(&format!(": {shown}\r\n")),
            "{refund}"
        );
    }
}

#[tokio::test]
async fn a_refund_whose_provider_fails_20_times_in_a_row_is_paid_once_afterwards() {
    let mut ctx = TestContext::new().await;
    // The number of failures matters, not the hours they would take.
    ctx.settings.jobs.backoff_base_ms = 1;
    ctx.settings.jobs.backoff_max_ms = 1;
    let s = shop(Some(ctx)).await;
    let fan = people(&s.app, 1).await.remove(0);
    let booking = booked(&s, &fan, &s.seats[0]).await;
    FakeProvider::fail_next_refunds(&s.app.ctx.pool, 20)
        .await
        .unwrap();
    let refund = json_of(cancel_booking(&s, &fan, &booking).await, 200).await["refund"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Retries through Redis wait whole seconds each.
    drain_within(
        &s.app,
        s.app.ctx.settings.clone(),
        std::time::Duration::from_secs(90),
    )
    .await;

    let job = sqlx::query!(
        "SELECT status, attempts FROM jobs WHERE kind = 'process_refund' AND payload->>'refund_id' = $1",
        refund,
    )
    .fetch_one(&s.app.ctx.pool)
    .await
    .unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("succeeded", 21));
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM refunds WHERE status = 'refunded'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM fake_provider_refunds").await,
        1,
        "paid once"
    );
    assert_eq!(
        count(&s.app, "SELECT sum(remaining) FROM fake_provider_outages").await,
        0,
        "all 20 failures happened"
    );
}

#[tokio::test]
async fn the_refund_sweep_redrives_refunds_and_event_cancels_whose_jobs_died() {
    let s = shop(None).await;
    let fans = people(&s.app, 3).await;
    let mut bookings = Vec::new();
    for (fan, seat) in fans.iter().zip(&s.seats) {
        bookings.push(booked(&s, fan, seat).await);
    }
    let pool = &s.app.ctx.pool;
    // One person cancels, then the organizer calls the event off; both jobs
    // die before doing anything (as after an outage longer than their
    // attempts), so nobody would ever be paid back.
    json_of(cancel_booking(&s, &fans[0], &bookings[0]).await, 200).await;
    let id = s.event["id"].as_str().unwrap();
    let cancel_path = format!("/api/v1/events/{id}/cancel");
    json_of(
        call(&s.app, Method::POST, &cancel_path, Some(&s.alice), None).await,
        200,
    )
    .await;
    sqlx::query!("UPDATE jobs SET status = 'dead', last_error = 'outage' WHERE queue = 'refunds'")
        .execute(pool)
        .await
        .unwrap();
    drain_with(&s.app, s.app.ctx.settings.clone()).await;
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM bookings WHERE status = 'confirmed'"
        )
        .await,
        2,
        "stranded: the cancel job died"
    );
    problem(
        call(&s.app, Method::POST, &cancel_path, Some(&s.alice), None).await,
        409,
    )
    .await;

    // The sweep, as the scheduler's tick enqueues it.
    let mut tx = pool.begin().await.unwrap();
    let sweep = marquee_core::jobs::enqueue(&mut tx, &redrive::RedriveRefunds {})
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let producer = marquee_core::jobs::Producer::new(
        pool.clone(),
        s.app.ctx.redis(),
        s.app.ctx.settings.redis.key_prefix.clone(),
    );
    producer.dispatch(&[sweep]).await;
    drain_with(&s.app, s.app.ctx.settings.clone()).await;

    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM bookings WHERE status = 'cancelled'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM refunds WHERE status = 'refunded'"
        )
        .await,
        3
    );
    assert_eq!(
        count(&s.app, "SELECT count(*) FROM fake_provider_refunds").await,
        3,
        "each paid once"
    );
    assert_eq!(
        count(
            &s.app,
            "SELECT count(*) FROM jobs WHERE kind = 'process_refund' AND max_attempts = 25"
        )
        .await,
        4,
        "the dead one and three new ones, each with the long budget"
    );
    assert!(
        redrive::redrive(pool, 100).await.unwrap().is_empty(),
        "nothing left to re-drive"
    );
}
