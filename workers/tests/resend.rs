//! The `resend` transport against a local stand-in for Resend's API (a real
//! process honouring Idempotency-Key as Resend documents it): each email's
//! id is its key, so a send in doubt is retried without a second delivery.

mod common;

use std::time::Duration;

use common::*;
use marquee_core::auth::{self, NewUser};
use marquee_core::jobs::{self, JobOptions, JobStatus, WelcomeEmail};
use marquee_core::testing::TestContext;
use marquee_worker::Registry;
use marquee_worker::testing::{FakeResend, drain};
use uuid::Uuid;

async fn setup(resend: &FakeResend) -> (TestContext, Uuid) {
    let mut ctx = TestContext::new().await;
    resend.configure(&mut ctx.settings);
    let new = NewUser::parse("ada@example.com", "Ada Lovelace", "correct horse").unwrap();
    let user = auth::create_user(&ctx.pool, &new, "not-a-real-hash")
        .await
        .unwrap()
        .unwrap()
        .id;
    (ctx, user)
}

#[tokio::test]
async fn an_email_goes_out_as_resend_documents_it_keyed_by_its_id() {
    let resend = FakeResend::start(0);
    let (ctx, user_id) = setup(&resend).await;
    let job = enqueue_committed(&ctx, &WelcomeEmail { user_id }, JobOptions::default()).await;
    drain(&ctx, Registry::standard(), Duration::from_secs(20)).await;

    let delivered = resend.delivered();
    assert_eq!(delivered.len(), 1);
    let email = &delivered[0];
    assert_eq!(email["idempotency_key"], job.id.to_string());
    let body = &email["body"];
    assert_eq!(body["from"], "Marquee <no-reply@marquee.local>");
    assert_eq!(body["to"], serde_json::json!(["ada@example.com"]));
    assert_eq!(body["subject"], "Welcome to Marquee, Ada Lovelace");
    assert!(body["text"].as_str().unwrap().contains("Ada"), "{body}");
    assert!(body["html"].as_str().unwrap().contains("Ada"), "{body}");
    assert_eq!(
        body["headers"]["Message-ID"],
        format!("<{}@marquee.local>", job.id)
    );
    assert_eq!(record(&ctx, job.id).await.status, JobStatus::Succeeded);
}

/// The worker died after Resend took the request and before the `sent`
/// record: the retry finds `sending`, sends again under the same key, and
/// Resend answers with the first answer instead of a second delivery.
#[tokio::test]
async fn a_send_in_doubt_is_sent_again_under_its_key_and_delivered_once() {
    let resend = FakeResend::start(0);
    let (ctx, user_id) = setup(&resend).await;
    let job = enqueue_committed(&ctx, &WelcomeEmail { user_id }, JobOptions::default()).await;
    drain(&ctx, Registry::standard(), Duration::from_secs(20)).await;
    assert_eq!(resend.delivered().len(), 1);

    sqlx::query!("UPDATE emails SET status = 'sending' WHERE id = $1", job.id)
        .execute(&ctx.pool)
        .await
        .unwrap();
    sqlx::query!(
        "UPDATE jobs SET status = 'dispatched' WHERE id = $1",
        job.id
    )
    .execute(&ctx.pool)
    .await
    .unwrap();
    let push = jobs::Push {
        job_id: job.id,
        task_id: jobs::task_id_for_attempt(job.id, 2),
        queue: "email".to_owned(),
        run_at: None,
    };
    producer(&ctx).push(&[push]).await.unwrap();
    drain(&ctx, Registry::standard(), Duration::from_secs(20)).await;

    let stats = resend.stats().await;
    assert_eq!(stats["requests"], 2, "it was sent again: {stats}");
    assert_eq!(stats["replays"], 1, "{stats}");
    assert_eq!(resend.delivered().len(), 1, "and delivered once");
    let email: String = sqlx::query_scalar!("SELECT status FROM emails WHERE id = $1", job.id)
        .fetch_one(&ctx.pool)
        .await
        .unwrap();
    assert_eq!(email, "sent");
}

#[tokio::test]
async fn an_outage_at_the_provider_is_retried_and_delivered_once() {
    let resend = FakeResend::start(0);
    let (ctx, user_id) = setup(&resend).await;
    resend.fail_next(1, 503).await;
    let job = enqueue_committed(&ctx, &WelcomeEmail { user_id }, JobOptions::default()).await;
    drain(&ctx, Registry::standard(), Duration::from_secs(30)).await;
    let done = record(&ctx, job.id).await;
    assert_eq!((done.status, done.attempts), (JobStatus::Succeeded, 2));
    assert_eq!(resend.delivered().len(), 1);

    resend.fail_next(1, 429).await;
    let again = enqueue_committed(&ctx, &WelcomeEmail { user_id }, JobOptions::default()).await;
    drain(&ctx, Registry::standard(), Duration::from_secs(30)).await;
    assert_eq!(record(&ctx, again.id).await.attempts, 2, "429 is retried");
}

#[tokio::test]
async fn a_wrong_api_key_fails_for_good_and_delivers_nothing() {
    let resend = FakeResend::start(0);
    let (mut ctx, user_id) = setup(&resend).await;
    ctx.settings.email.resend.api_key = "re_wrong".to_owned().into();
    let job = enqueue_committed(&ctx, &WelcomeEmail { user_id }, JobOptions::default()).await;
    drain(&ctx, Registry::standard(), Duration::from_secs(20)).await;
    let dead = record(&ctx, job.id).await;
    assert_eq!((dead.status, dead.attempts), (JobStatus::Dead, 1));
    assert!(dead.last_error.unwrap().contains("invalid_api_key"));
    assert!(resend.delivered().is_empty());
}
