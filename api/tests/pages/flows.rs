//! Whole flows through the pages over plain HTTP: the waitlist from join to
//! a paid offer, an organizer managing a live event, an operator's bulk
//! retries.

use std::time::{Duration, Instant};

use marquee_core::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::waitlist::sold_out;
use crate::common::{TestApp, call, count, event_on_sale, json_of, register, with_role};
use crate::security::Visitor;

#[tokio::test]
async fn a_person_joins_the_waitlist_sees_their_place_and_pays_for_the_offer() {
    let line = sold_out(1, 1).await;
    let app = &line.app;
    register(app, "wendy@example.com").await;
    let mut wendy = Visitor::signed_in(app, "wendy@example.com").await;
    let page = format!("/events/{}", line.event);
    let html = wendy.get(&page).await.text().await.unwrap();
    assert!(
        html.contains(&format!(
            "action=\"/events/{}/waitlist\" data-ticket-type=\"{}\"",
            line.event, line.ga
        )),
        "{html}"
    );
    let (status, to) = wendy
        .submit(
            &page,
            &format!("{page}/waitlist"),
            &[("ticket_type_id", &line.ga), ("quantity", "1")],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, format!("{page}#waitlist").as_str())
    );
    let html = wendy.get(&page).await.text().await.unwrap();
    assert!(
        html.contains("You are number <strong>1</strong> in line"),
        "{html}"
    );

    // A unit comes free: the worker offers it; the page shows the offer.
    let worker = line.worker();
    line.cancel(0).await;
    line.offered(1).await;
    let html = wendy.get(&page).await.text().await.unwrap();
    assert!(html.contains("Tickets are waiting for you"), "{html}");
    let (_, rest) = html
        .split_once("href=\"/holds/")
        .expect("a link to the offer");
    let hold = format!("/holds/{}", rest.split('"').next().unwrap());
    let key = uuid::Uuid::new_v4().to_string();
    let (status, booking) = wendy
        .submit(
            &hold,
            &format!("{hold}/pay"),
            &[("token", "tok_ok"), ("idempotency_key", &key)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{booking}");
    assert!(booking.starts_with("/bookings/"));
    assert_eq!(
        count(
            app,
            "SELECT count(*) FROM waitlist_entries WHERE status = 'converted'"
        )
        .await,
        1
    );
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn an_organizer_edits_sets_the_policy_announces_exports_and_cancels() {
    let app = TestApp::spawn().await;
    let (_, event) = event_on_sale(&app, 4, 10).await;
    let id = event["id"].as_str().unwrap().to_owned();
    let manage = format!("/organizer/events/{id}");
    let mut alice = Visitor::signed_in(&app, "alice@example.com").await;

    let (status, _) = alice
        .submit(
            &manage,
            &manage,
            &[
                ("title", "Renamed"),
                ("description", "New words"),
                ("max_per_order", "4"),
                ("tags", "Folk, late"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let shown = json_of(app.get(&format!("/api/v1/events/{id}")).await, 200).await;
    assert_eq!(shown["title"], "Renamed");
    assert_eq!(shown["tags"], json!(["folk", "late"]));

    let (status, _) = alice
        .submit(
            &manage,
            &format!("{manage}/policy"),
            &[
                ("allow", "on"),
                ("deadline_hours_before_start", "12"),
                ("tier_hours_1", "72"),
                ("tier_percent_1", "100"),
                ("fee_type", "fixed"),
                ("fee_amount", "1.50"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let policy = marquee_core::booking::policy::get(&app.ctx.pool, id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (policy.deadline_hours_before_start, policy.fee_amount),
        (12, 150)
    );
    assert_eq!(policy.refund_tiers.len(), 1);

    let (status, _) = alice
        .submit(
            &manage,
            &format!("{manage}/announcements"),
            &[("message", "Doors at 7")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        alice
            .get(&manage)
            .await
            .text()
            .await
            .unwrap()
            .contains("Doors at 7")
    );

    let csv = alice.get(&format!("{manage}/attendees.csv")).await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attendees-")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.lines().next().unwrap().contains("ticket_id"), "{csv}");

    let (status, _) = alice
        .submit(&manage, &format!("{manage}/cancel"), &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE status = 'cancelled'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_operator_retries_ticked_dead_jobs_then_every_dead_job_matching() {
    let app = TestApp::spawn().await;
    let admin = with_role(&app, "ops@example.com", Role::Admin).await;
    let worker = marquee_worker::testing::InProcessWorker::start(
        &app.ctx,
        marquee_worker::Registry::standard(),
    );
    let mut ids = Vec::new();
    for _ in 0..3 {
        let job = json_of(
            call(
                &app,
                reqwest::Method::POST,
                "/api/v1/system/noop",
                Some(&admin),
                Some(json!({"fail_attempts": 1, "max_attempts": 1})),
            )
            .await,
            202,
        )
        .await;
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&app, "SELECT count(*) FROM jobs WHERE status = 'dead'").await < 3 {
        assert!(Instant::now() < deadline, "the noops never died");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ops = Visitor::signed_in(&app, "ops@example.com").await;
    let page = "/ops/jobs?state=dead";
    let html = ops.get(page).await.text().await.unwrap();
    for id in &ids {
        assert!(html.contains(id.as_str()), "{id} listed");
    }
    let (status, html) = ops
        .submit(
            page,
            "/ops/jobs/bulk",
            &[
                ("action", "retry"),
                ("id", &ids[0]),
                ("id", &ids[1]),
                ("id", &ids[1]),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("2 of 2 jobs changed"), "{html}");
    let (status, html) = ops
        .submit(
            page,
            "/ops/jobs/bulk",
            &[
                ("action", "retry"),
                ("scope", "filter"),
                ("state", "dead"),
                ("kind", "noop"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("1 of 1 jobs changed"), "{html}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(
        &app,
        "SELECT count(*) FROM jobs WHERE status = 'succeeded' AND kind = 'noop'",
    )
    .await
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "the retried jobs never succeeded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM ops_audit WHERE action = 'retry'"
        )
        .await,
        2
    );
    worker.stop().await.unwrap();
}
