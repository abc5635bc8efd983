//! The API killed in the middle of a checkout: after the charge and before
//! the booking commits, or before the charge. Reconciliation (the refund
//! sweep's job) settles the pending payment against the provider: the
//! charge with no booking is refunded, a charge that never happened is
//! marked failed. Nobody is charged without a booking.

use std::time::{Duration, Instant};

use marquee_core::booking::payments::FakeProvider;
use marquee_core::booking::reconcile::{Reconciled, reconcile_pending};
use marquee_core::booking::redrive::RedriveRefunds;
use marquee_core::jobs;
use reqwest::Method;
use serde_json::json;

use crate::common::process::ApiProcess;
use crate::common::*;

pub struct Checkout {
    pub app: TestApp,
    pub buyer: String,
    pub hold: String,
}

/// A buyer's hold on two seats of an event on sale.
pub async fn held() -> Checkout {
    let app = TestApp::spawn().await;
    let (_organizer, event) = event_on_sale(&app, 4, 10).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(&app, &event).await;
    let buyer = access_token(&register(&app, "buyer@example.com").await).to_owned();
    let hold = json_of(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/events/{event}/holds"),
            Some(&buyer),
            Some(json!({"seats": [seats[0], seats[1]]})),
        )
        .await,
        201,
    )
    .await;
    let hold = hold["id"].as_str().unwrap().to_owned();
    Checkout { app, buyer, hold }
}

impl Checkout {
    /// Starts the checkout on a real API process with `card`, waits until
    /// `reached` (SQL returning a count) is 1, then SIGKILLs the process.
    async fn crash_when(&self, card: &str, reached: &'static str) {
        let mut api = ApiProcess::spawn(&self.app.ctx, &[]).await;
        let request = api
            .client
            .post(api.url("/api/v1/bookings"))
            .bearer_auth(&self.buyer)
            .header("Idempotency-Key", "checkout-1")
            .json(&json!({"hold_id": self.hold, "payment": {"method": "card", "token": card}}))
            .send();
        let pending = tokio::spawn(request);
        let started = Instant::now();
        while count(&self.app, reached).await < 1 {
            assert!(
                started.elapsed() < Duration::from_secs(8),
                "never reached: {reached}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        api.kill();
        assert!(
            pending.await.unwrap().is_err(),
            "the client saw the connection die"
        );
    }

    /// As the sweep finds it later: the hold expired, the payment old.
    async fn time_passes(&self) {
        let pool = &self.app.ctx.pool;
        sqlx::query!("UPDATE holds SET expires_at = now() - interval '1 second'")
            .execute(pool)
            .await
            .unwrap();
    }

    async fn payment(&self) -> (String, Option<String>) {
        let row = sqlx::query!("SELECT status, refund_ref FROM payments")
            .fetch_one(&self.app.ctx.pool)
            .await
            .unwrap();
        (row.status, row.refund_ref)
    }
}

#[tokio::test]
async fn a_crash_after_the_charge_leads_to_a_refund_and_no_booking() {
    let c = held().await;
    c.crash_when("tok_slow", "SELECT count(*) FROM fake_provider_charges")
        .await;
    assert_eq!(c.payment().await.0, "pending");
    assert_eq!(count(&c.app, "SELECT count(*) FROM bookings").await, 0);

    // Not yet: the hold is live (a checkout might still be running).
    let pool = &c.app.ctx.pool;
    let provider = FakeProvider::new(pool.clone());
    let early = reconcile_pending(pool, &provider, Duration::ZERO, 100)
        .await
        .unwrap();
    assert_eq!(early, Reconciled::default());

    c.time_passes().await;
    let settled = reconcile_pending(pool, &provider, Duration::ZERO, 100)
        .await
        .unwrap();
    assert_eq!(settled.refunded, 1, "{settled:?}");
    let (status, refund) = c.payment().await;
    assert_eq!(status, "refunded");
    let refunded: i64 = sqlx::query_scalar!(
        r#"SELECT r.amount_cents::bigint AS "n!" FROM fake_provider_refunds r
           JOIN fake_provider_charges c ON c.id = r.charge_id"#
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(refunded, 5000, "the whole charge came back");
    assert!(refund.unwrap().starts_with("fake_re_"));
    assert_eq!(
        reconcile_pending(pool, &provider, Duration::ZERO, 100)
            .await
            .unwrap(),
        Reconciled::default(),
        "settled once"
    );
    assert_eq!(
        count(&c.app, "SELECT count(*) FROM fake_provider_refunds").await,
        1
    );

    // The buyer retries the checkout: the hold is gone, nothing is charged
    // or booked on top of the refund.
    let retry = c
        .app
        .client
        .post(c.app.url("/api/v1/bookings"))
        .bearer_auth(&c.buyer)
        .header("Idempotency-Key", "checkout-2")
        .json(&json!({"hold_id": c.hold, "payment": {"method": "card", "token": "tok_ok"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 410);
    assert_eq!(count(&c.app, "SELECT count(*) FROM bookings").await, 0);
    assert_eq!(c.payment().await.0, "refunded");
}

#[tokio::test]
async fn a_crash_before_the_charge_is_marked_failed_by_the_sweep_job() {
    let c = held().await;
    c.crash_when(
        "tok_stall",
        "SELECT count(*) FROM payments WHERE status = 'pending'",
    )
    .await;
    c.time_passes().await;
    // The refund sweep's job does it, as the scheduler runs it.
    let mut settings = c.app.ctx.settings.clone();
    settings.payments.reconcile_after_seconds = 0;
    let mut tx = c.app.ctx.pool.begin().await.unwrap();
    let job = jobs::enqueue(&mut tx, &RedriveRefunds {}).await.unwrap();
    tx.commit().await.unwrap();
    let ctx = &c.app.ctx;
    jobs::Producer::new(
        ctx.pool.clone(),
        ctx.redis(),
        ctx.settings.redis.key_prefix.clone(),
    )
    .dispatch(std::slice::from_ref(&job))
    .await;
    drain_with(&c.app, settings).await;
    assert_eq!(
        jobs::find(&c.app.ctx.pool, job.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        jobs::JobStatus::Succeeded
    );
    assert_eq!(c.payment().await, ("failed".to_owned(), None));
    assert_eq!(
        count(&c.app, "SELECT count(*) FROM fake_provider_charges").await,
        0
    );
    assert_eq!(
        count(&c.app, "SELECT count(*) FROM fake_provider_refunds").await,
        0
    );
}

#[tokio::test]
async fn a_payment_whose_booking_committed_is_marked_paid_and_nothing_refunded() {
    let c = held().await;
    let booked = c
        .app
        .client
        .post(c.app.url("/api/v1/bookings"))
        .bearer_auth(&c.buyer)
        .header("Idempotency-Key", "checkout-1")
        .json(&json!({"hold_id": c.hold, "payment": {"method": "card", "token": "tok_ok"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(booked.status(), 201);
    // As if the process died after the commit but the row said pending.
    let pool = &c.app.ctx.pool;
    sqlx::query!("UPDATE payments SET status = 'pending', booking_id = NULL")
        .execute(pool)
        .await
        .unwrap();
    c.time_passes().await;
    let settled = reconcile_pending(pool, &FakeProvider::new(pool.clone()), Duration::ZERO, 100)
        .await
        .unwrap();
    assert_eq!(settled.paid, 1);
    assert_eq!(c.payment().await.0, "paid");
    assert_eq!(
        count(&c.app, "SELECT count(*) FROM fake_provider_refunds").await,
        0
    );
}

/// The provider failed to answer (`tok_error`): it may have charged, so the
/// payment stays `pending` (in doubt), not `failed`; reconciliation asks the
/// provider and settles it.
#[tokio::test]
async fn a_provider_failure_leaves_the_payment_in_doubt_until_reconciled() {
    let c = held().await;
    let failed = c
        .app
        .client
        .post(c.app.url("/api/v1/bookings"))
        .bearer_auth(&c.buyer)
        .header("Idempotency-Key", "checkout-1")
        .json(&json!({"hold_id": c.hold, "payment": {"method": "card", "token": "tok_error"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 503);
    assert_eq!(c.payment().await.0, "pending", "in doubt, not failed");
    c.time_passes().await;
    let pool = &c.app.ctx.pool;
    let settled = reconcile_pending(pool, &FakeProvider::new(pool.clone()), Duration::ZERO, 100)
        .await
        .unwrap();
    assert_eq!(settled.failed, 1);
    assert_eq!(c.payment().await, ("failed".to_owned(), None));
}
