//! A worker SIGKILLed in the middle of 1,000 emails sent through the
//! `resend` transport: every email is delivered exactly once at the
//! provider (a local stand-in honouring Idempotency-Key), the sends the
//! dead worker left in doubt included.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use marquee_core::auth::{self, NewUser};
use marquee_core::jobs::WelcomeEmail;
use marquee_worker::testing::{FakeResend, SmtpSink};

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
    let sink = SmtpSink::start();
    let port = sink.port.to_string();
    let env = [
        ("MARQUEE__EMAIL__TRANSPORT", "smtp"),
        ("MARQUEE__EMAIL__SMTP__PORT", port.as_str()),
    ];
    let mut stack = Stack::start(0, &env).await;
    let metrics_port = free_port();
    stack.add_worker("w0");
    stack.add_worker_with(
        "w1",
        &[("MARQUEE__WORKER__METRICS_PORT", metrics_port.as_str())],
    );
    let new = NewUser::parse("ada@example.com", "Ada Lovelace", "correct horse").unwrap();
    let user_id = auth::create_user(&stack.ctx.pool, &new, "not-a-real-hash")
        .await
        .unwrap()
        .unwrap()
        .id;
    stack.enqueue(&vec![WelcomeEmail { user_id }; EMAILS]).await;

    let started = Instant::now();
    while sink.messages().len() < EMAILS / 3 {
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

    let ids: Vec<String> = sink
        .messages()
        .iter()
        .filter_map(|m| {
            m.lines()
                .find(|l| l.starts_with("Message-ID:"))
                .map(str::to_owned)
        })
        .collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    let repeats = ids.len() - distinct.len();
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let interrupted: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("marquee_emails_interrupted_total "))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as usize);
    println!(
        "smtp kill: {} received, {} distinct, {repeats} repeats, {interrupted} counted",
        ids.len(),
        distinct.len()
    );
    assert_eq!(distinct.len(), EMAILS, "every email arrived");
    assert!(
        repeats <= interrupted,
        "{repeats} repeats, {interrupted} counted"
    );
}

fn free_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
        .to_string()
}
