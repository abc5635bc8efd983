//! A worker killed with SIGKILL in the middle of 1,000 emails: every email
//! arrives at a real SMTP server, each under its own Message-ID, and a copy
//! is repeated only for a send the kill interrupted (see `send_content_once`).
//!
//! Zero repeats cannot be promised by any SMTP client: a message the server
//! has taken but not yet answered for is in doubt when its sender dies, and
//! resending it is the only way not to lose it. Marquee bounds those to the
//! SMTP connections in flight (`email.smtp.max_connections`) and resends them
//! under the same Message-ID, which receivers collapse.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use marquee_core::auth::{self, NewUser};
use marquee_core::jobs::{self, JobOptions};
use marquee_core::tasks::{MessagePayload, SendMessage};
use marquee_core::testing::TestContext;
use marquee_worker::testing::SmtpSink;
use uuid::Uuid;

const EMAILS: usize = 1_000;

async fn enqueue_messages(ctx: &TestContext) -> Vec<Uuid> {
    let new = NewUser::parse("shop@example.com", "Shop", "correct horse").unwrap();
    let owner = auth::create_user(&ctx.pool, &new, "unused")
        .await
        .unwrap()
        .unwrap()
        .id;
    let mut tx = ctx.pool.begin().await.unwrap();
    let mut written = Vec::new();
    for n in 0..EMAILS {
        let id = Uuid::now_v7();
        let options = JobOptions {
            id: Some(id),
            ..JobOptions::default()
        };
        let job = SendMessage { task_id: id };
        written.push(
            jobs::enqueue_with(&mut tx, &job, options)
                .await
                .unwrap()
                .unwrap(),
        );
        let payload = MessagePayload::parse(
            &format!("fan{n}@example.com"),
            "Doors open at 7",
            Some("See you there"),
            None,
        )
        .unwrap();
        sqlx::query!(
            "INSERT INTO tasks (id, owner_id, type, payload) VALUES ($1, $2, 'message', $3)",
            id,
            owner,
            sqlx::types::Json(payload) as _,
        )
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    producer(ctx).dispatch(&written).await;
    written.iter().map(|job| job.id).collect()
}

fn message_ids(sink: &SmtpSink) -> HashMap<String, usize> {
    let mut copies = HashMap::new();
    for message in sink.messages() {
        let id = message
            .lines()
            .find_map(|line| line.strip_prefix("Message-ID: "))
            .expect("every email has a Message-ID")
            .to_owned();
        *copies.entry(id).or_insert(0) += 1;
    }
    copies
}

async fn emails_sent(ctx: &TestContext) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM emails WHERE status = 'sent'"#)
        .fetch_one(&ctx.pool)
        .await
        .unwrap()
}

async fn jobs_succeeded(ctx: &TestContext) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM jobs WHERE status = 'succeeded'"#)
        .fetch_one(&ctx.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_worker_killed_mid_batch_loses_no_email_and_repeats_none_it_recorded() {
    let sink = SmtpSink::start();
    let ctx = TestContext::new().await;
    let env = [
        ("MARQUEE__EMAIL__TRANSPORT", "smtp".to_owned()),
        ("MARQUEE__EMAIL__SMTP__PORT", sink.port.to_string()),
    ];
    let ids = enqueue_messages(&ctx).await;

    let mut doomed = spawn_worker_with(&ctx, "doomed", "email", &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.messages().len() < EMAILS / 3 {
        assert!(
            Instant::now() < deadline,
            "the first worker sent too little"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill().unwrap(); // SIGKILL, mid-batch
    doomed.wait().unwrap();
    let sent_before_kill = emails_sent(&ctx).await;
    assert!(
        (sent_before_kill as usize) < EMAILS,
        "killed before the batch finished"
    );

    let mut survivor = spawn_worker_with(&ctx, "survivor", "email", &env);
    let deadline = Instant::now() + Duration::from_secs(120);
    while jobs_succeeded(&ctx).await < EMAILS as i64 {
        assert!(
            Instant::now() < deadline,
            "the survivor did not finish the batch"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    survivor.kill().ok();
    survivor.wait().ok();

    let copies = message_ids(&sink);
    let domain = "@marquee.local>";
    let expected: Vec<String> = ids.iter().map(|id| format!("<{id}{domain}")).collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !copies.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert_eq!(
        copies.len(),
        EMAILS,
        "one Message-ID per email, nothing else"
    );

    // A second copy can only come from a send the kill cut off between the
    // server's "250" and our record; those are flagged and resent with the
    // same Message-ID. An email recorded as sent is never sent again.
    let interrupted = sqlx::query_scalar!("SELECT id FROM emails WHERE interrupted_sends > 0")
        .fetch_all(&ctx.pool)
        .await
        .unwrap();
    let repeated: Vec<&String> = copies
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    for id in &repeated {
        assert!(
            interrupted.iter().any(|i| id.contains(&i.to_string())),
            "{id} was repeated without an interrupted send"
        );
        assert_eq!(copies[*id], 2, "at most one extra copy");
    }
    let connections = ctx.settings.email.smtp.max_connections as usize;
    assert!(
        interrupted.len() <= connections,
        "only messages on an SMTP connection were in doubt: {} > {connections}",
        interrupted.len()
    );
    let not_sent =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM emails WHERE status <> 'sent'"#)
            .fetch_one(&ctx.pool)
            .await
            .unwrap();
    assert_eq!(not_sent, 0);
    eprintln!(
        "crash test: {} emails sent before the kill, {} sends interrupted, {} Message-IDs received twice",
        sent_before_kill,
        interrupted.len(),
        repeated.len()
    );
}
