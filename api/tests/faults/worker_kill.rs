//! A worker SIGKILLed in the middle of 1,000 emails sent through the
//! `resend` transport: every email is delivered exactly once at the
//! provider (a local stand-in honouring Idempotency-Key), the sends the
//! dead worker left in doubt included.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use marquee_core::auth::{self, NewUser};
use marquee_core::jobs::WelcomeEmail;
use marquee_worker::testing::FakeResend;

use crate::mail::Mail;
use crate::stack::Stack;

const EMAILS: usize = 1_000;

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_send_leaves_every_resend_email_delivered_once() {
    // Each send takes 50 ms at the provider: a kill always finds some in flight.
    let resend = FakeResend::start(50);
    let env = resend.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut stack = Stack::start(2, &env).await;
    let new = NewUser::parse("ada@example.com", "Ada Lovelace", "correct horse").unwrap();
    let user_id = auth::create_user(&stack.ctx.pool, &new, "not-a-real-hash")
        .await
        .unwrap()
        .unwrap()
        .id;
    stack.enqueue(&vec![WelcomeEmail { user_id }; EMAILS]).await;

    let started = Instant::now();
    while resend.delivered().len() < EMAILS / 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "sending did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let victim = &mut stack.workers[0];
    victim.kill().unwrap(); // SIGKILL: requests in flight are left in doubt
    victim.wait().unwrap();
    let killed_at = Instant::now();
    let all = stack
        .until_succeeded(EMAILS as i64, Duration::from_secs(90))
        .await;

    let delivered = resend.delivered();
    let keys: HashSet<&str> = delivered
        .iter()
        .map(|email| email["idempotency_key"].as_str().unwrap())
        .collect();
    let stats = resend.stats().await;
    println!(
        "resend kill: {} delivered, {} distinct, all jobs done {all:?} after the kill \
         ({:?} since); provider saw {stats}",
        delivered.len(),
        keys.len(),
        killed_at.elapsed()
    );
    assert_eq!(delivered.len(), EMAILS, "exactly {EMAILS} delivered");
    assert_eq!(keys.len(), EMAILS, "none twice");
}

/// The same over SMTP, which can only promise at least once: every email
/// arrives, and each repeat is a send the killed worker left in doubt,
/// counted by the worker that sent it again.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_send_leaves_every_smtp_email_delivered_and_repeats_counted() {
    let mut mail = Mail::start();
    let mut stack = Stack::start(0, &mail.env()).await;
    mail.add_worker(&mut stack, "w0");
    mail.add_worker(&mut stack, "w1");
    let emails = mail.enqueue(&mut stack, EMAILS).await;

    let started = Instant::now();
    while mail.sink.messages().len() < EMAILS / 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "sending did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let victim = &mut stack.workers[0];
    victim.kill().unwrap();
    victim.wait().unwrap();
    stack
        .until_succeeded(EMAILS as i64, Duration::from_secs(90))
        .await;
    let (received, repeats, counted) = mail.delivered_at_least_once(&emails).await;
    println!("smtp kill: {received} received for {EMAILS}, {repeats} repeats, {counted} counted");
}
