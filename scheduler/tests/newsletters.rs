//! Two scheduler processes ticking every second, one of them restarted:
//! each newsletter period is still sent once per subscriber, through a real
//! SMTP server.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use marquee_core::auth::{self, NewUser};
use marquee_core::subscriptions::{self, ContentInput, Frequency, SubscriptionPayload};
use marquee_core::testing::TestContext;
use marquee_worker::Registry;
use marquee_worker::testing::{SmtpSink, drain};
use secrecy::ExposeSecret;
use std::collections::HashSet;

fn spawn_scheduler(ctx: &TestContext) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_marquee-scheduler"));
    command
        .env("MARQUEE_ENV", "test")
        .env(
            "MARQUEE__DATABASE__URL",
            ctx.settings.database.url.expose_secret(),
        )
        .env("MARQUEE__REDIS__KEY_PREFIX", &ctx.settings.redis.key_prefix)
        .env("MARQUEE__SCHEDULER__SUBSCRIPTIONS_CRON", "* * * * * *")
        .env(
            "MARQUEE_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config"),
        );
    if std::env::var_os("TEST_LOG").is_none() {
        command.stdout(Stdio::null()).stderr(Stdio::null());
    }
    command.spawn().expect("spawn marquee-scheduler")
}

fn stop(mut scheduler: Child) {
    scheduler.kill().ok();
    scheduler.wait().ok();
}

#[tokio::test]
async fn two_schedulers_and_a_restart_send_each_period_once() {
    let sink = SmtpSink::start();
    let mut ctx = TestContext::new().await;
    sink.configure(&mut ctx.settings);
    let new = NewUser::parse("shop@example.com", "Shop", "correct horse").unwrap();
    let owner = auth::create_user(&ctx.pool, &new, "unused")
        .await
        .unwrap()
        .unwrap()
        .id;
    let news = ContentInput::parse("news", "Monthly news", Some("Hello"), None).unwrap();
    subscriptions::contents::create(&ctx.pool, owner, &news)
        .await
        .unwrap();
    // Weekly and monthly: a test this short crosses no period boundary
    // (barring Monday 00:00 UTC).
    for (to, frequency) in [("w@example.com", "@weekly"), ("m@example.com", "@monthly")] {
        let change = SubscriptionPayload::parse(to, "news", Some(frequency), true).unwrap();
        subscriptions::apply(&ctx.pool, owner, 1, &change)
            .await
            .unwrap();
    }
    let started = Utc::now();

    let first = spawn_scheduler(&ctx);
    let second = spawn_scheduler(&ctx);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    stop(second);
    let restarted = spawn_scheduler(&ctx);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    stop(first);
    stop(restarted);
    // Each frequency's digests: one per period the run touched (one, unless
    // it crossed a boundary).
    let periods = |frequency: Frequency| {
        let spanned: HashSet<_> = [started, Utc::now()]
            .map(|at| frequency.period_start(at))
            .into();
        spanned.len()
    };

    let digests = sqlx::query!(
        r#"SELECT dedupe_key AS "dedupe_key!", dispatches FROM jobs
         WHERE kind = 'send_digest' ORDER BY dedupe_key"#,
    )
    .fetch_all(&ctx.pool)
    .await
    .unwrap();
    let expected: usize = Frequency::ALL.into_iter().map(periods).sum();
    assert_eq!(
        digests.len(),
        expected,
        "one digest per frequency and period: {digests:?}"
    );
    assert!(digests.iter().all(|digest| digest.dispatches == 1));

    drain(&ctx, Registry::standard(), Duration::from_secs(20)).await;
    let issues: Vec<String> = sink
        .messages()
        .into_iter()
        .filter(|m| m.contains("Subject: Monthly news"))
        .collect();
    for (to, frequency) in [
        ("w@example.com", Frequency::Weekly),
        ("m@example.com", Frequency::Monthly),
    ] {
        let to_header = format!("To: {to}");
        let received = issues.iter().filter(|m| m.contains(&to_header)).count();
        assert_eq!(
            received,
            periods(frequency),
            "one issue per period for {to}"
        );
    }
}
