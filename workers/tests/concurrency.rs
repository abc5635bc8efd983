//! `worker.concurrency` bounds the handlers running at once, although apalis
//! holds more jobs than that (those writing their outcome, or waiting for a
//! permit).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use marquee_core::jobs::{self, JobOptions, JobStatus, Noop};
use marquee_core::testing::TestContext;
use marquee_worker::testing::drain;
use marquee_worker::{JobContext, Registry, handlers};

#[tokio::test]
async fn no_more_handlers_run_at_once_than_the_configured_concurrency() {
    let mut ctx = TestContext::new().await;
    ctx.settings.worker.concurrency = 3;
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (running.clone(), most.clone());
    let registry = Registry::default().on(move |job: jobs::Noop, ctx: JobContext| {
        let (now, peak) = (now.clone(), peak.clone());
        async move {
            let at_once = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(at_once, Ordering::SeqCst);
            let result = handlers::noop::run(job, ctx).await;
            now.fetch_sub(1, Ordering::SeqCst);
            result
        }
    });
    let mut ids = Vec::new();
    for _ in 0..24 {
        let job = Noop {
            sleep_ms: 30,
            ..Noop::default()
        };
        ids.push(
            enqueue_committed(&ctx, &job, JobOptions::default())
                .await
                .id,
        );
    }
    drain(&ctx, registry, Duration::from_secs(60)).await;
    for id in ids {
        assert_eq!(record(&ctx, id).await.status, JobStatus::Succeeded);
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        3,
        "the three permits were all used, and never more"
    );
}
