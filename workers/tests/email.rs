//! Email delivery through a real SMTP server process (aiosmtpd), with
//! assertions on what it received.

mod common;

use std::time::Duration;

use common::*;
use marquee_core::auth::{self, NewUser, codes};
use marquee_core::config::EmailTransport;
use marquee_core::jobs::{self, JobOptions, JobStatus, WelcomeEmail};
use marquee_core::testing::TestContext;
use marquee_worker::Registry;
use marquee_worker::testing::{InProcessWorker, SmtpSink, drain};
use uuid::Uuid;

async fn context_with_smtp(port: u16) -> TestContext {
    let mut ctx = TestContext::new().await;
    ctx.settings.email.transport = EmailTransport::Smtp;
    ctx.settings.email.smtp.port = port;
    ctx.settings.worker.queues = vec!["system".to_owned(), "email".to_owned()];
    ctx
}

async fn user(ctx: &TestContext, email: &str) -> Uuid {
    let new = NewUser::parse(email, "Ada Lovelace", "correct horse").unwrap();
    auth::create_user(&ctx.pool, &new, "not-a-real-hash")
        .await
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn the_welcome_email_is_delivered_with_the_right_headers() {
    let sink = SmtpSink::start();
    let ctx = context_with_smtp(sink.port).await;
    let user_id = user(&ctx, "ada@example.com").await;
    let job = enqueue_committed(&ctx, &WelcomeEmail { user_id }, JobOptions::default()).await;
    drain(&ctx, Registry::standard(), Duration::from_secs(20)).await;

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert!(message.contains("To: ada@example.com"), "{message}");
    assert!(
        message.contains("From: Marquee <no-reply@marquee.local>"),
        "{message}"
    );
    assert!(
        message.contains("Subject: Welcome to Marquee, Ada Lovelace"),
        "{message}"
    );
    assert!(
        message.contains(&format!("Message-ID: <{}@marquee.local>", job.id)),
        "{message}"
    );
    assert!(
        message.contains("multipart/alternative"),
        "text and HTML: {message}"
    );
    let email = sqlx::query!("SELECT status, attempts FROM emails WHERE id = $1", job.id)
        .fetch_one(&ctx.pool)
        .await
        .unwrap();
    assert_eq!((email.status.as_str(), email.attempts), ("sent", 1));
}

#[tokio::test]
async fn smtp_down_at_first_then_up_delivers_with_more_than_one_attempt() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ctx = context_with_smtp(port).await;
    let user_id = user(&ctx, "ada@example.com").await;
    let job = enqueue_committed(&ctx, &WelcomeEmail { user_id }, JobOptions::default()).await;
    let worker = InProcessWorker::start(&ctx, Registry::standard());
    let failed = wait_for(
        &ctx,
        job.id,
        Duration::from_secs(20),
        is_status(JobStatus::Retrying),
    )
    .await;
    assert!(failed.last_error.unwrap().contains("SMTP send failed"));

    let sink = SmtpSink::start_on(port);
    let done = wait_for(
        &ctx,
        job.id,
        Duration::from_secs(30),
        is_status(JobStatus::Succeeded),
    )
    .await;
    worker.stop().await.unwrap();
    assert!(done.attempts > 1, "attempts {}", done.attempts);
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn a_permanent_smtp_refusal_is_dead_after_one_attempt() {
    let sink = SmtpSink::start();
    let ctx = context_with_smtp(sink.port).await;
    let user_id = user(&ctx, "reject-me@example.com").await;
    let job = enqueue_committed(&ctx, &WelcomeEmail { user_id }, JobOptions::default()).await;
    drain(&ctx, Registry::standard(), Duration::from_secs(20)).await;
    let dead = record(&ctx, job.id).await;
    assert_eq!((dead.status, dead.attempts), (JobStatus::Dead, 1));
    assert!(dead.last_error.unwrap().contains("SMTP refused"));
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn an_email_recorded_as_sent_is_never_sent_again() {
    let sink = SmtpSink::start();
    let ctx = context_with_smtp(sink.port).await;
    let user_id = user(&ctx, "ada@example.com").await;
    let job = enqueue_committed(&ctx, &WelcomeEmail { user_id }, JobOptions::default()).await;
    drain(&ctx, Registry::standard(), Duration::from_secs(20)).await;
    assert_eq!(sink.messages().len(), 1);

    // A redelivery after the send (say the worker died before recording the
    // job's success): the job runs again, the email does not go out again.
    sqlx::query!(
        "UPDATE jobs SET status = 'dispatched' WHERE id = $1",
        job.id
    )
    .execute(&ctx.pool)
    .await
    .unwrap();
    let push = jobs::Push {
        job_id: job.id,
        task_id: jobs::task_id_for_attempt(job.id, 7),
        queue: "email".to_owned(),
        run_at: None,
    };
    producer(&ctx).push(&[push]).await.unwrap();
    drain(&ctx, Registry::standard(), Duration::from_secs(20)).await;
    assert_eq!(
        record(&ctx, job.id).await.attempts,
        2,
        "the job did run again"
    );
    assert_eq!(sink.messages().len(), 1, "but sent nothing more");
}

#[tokio::test]
async fn a_reset_code_is_emailed_and_works() {
    let sink = SmtpSink::start();
    let ctx = context_with_smtp(sink.port).await;
    let user_id = user(&ctx, "ada@example.com").await;
    let mut tx = ctx.pool.begin().await.unwrap();
    let code_id = codes::request(&mut tx, user_id, codes::Purpose::PasswordReset)
        .await
        .unwrap();
    let job = jobs::enqueue(&mut tx, &codes::SendCode { code_id })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    producer(&ctx).dispatch(&[job]).await;
    drain(&ctx, Registry::standard(), Duration::from_secs(20)).await;

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("Subject: Your Marquee password reset code"));
    // The code follows this phrase in the plain-text part (headers such as
    // the Message-ID may hold other runs of digits).
    let (_, after) = messages[0]
        .split_once("password is ")
        .expect("the code sentence");
    let code: String = after.chars().take(6).collect();
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
    let pepper = secrecy::ExposeSecret::expose_secret(&ctx.settings.jwt.secret)
        .as_bytes()
        .to_vec();
    let mut conn = ctx.pool.acquire().await.unwrap();
    let spent = codes::consume(
        &mut conn,
        user_id,
        codes::Purpose::PasswordReset,
        &code,
        &pepper,
    )
    .await
    .unwrap();
    assert_eq!(spent, Ok(()));
}
