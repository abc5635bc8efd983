//! Runs a real worker in-process for tests until the ledger is drained.

use std::time::{Duration, Instant};

use marquee_core::testing::TestContext;
use tokio::sync::oneshot;

use crate::{Registry, unique_worker_name};

/// A worker running inside the test process.
pub struct InProcessWorker {
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcessWorker {
    /// Starts a worker on every configured queue of `ctx`.
    pub fn start(ctx: &TestContext, registry: Registry) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let settings = ctx.settings.clone();
        let handle = tokio::spawn(crate::run(
            settings,
            registry,
            unique_worker_name(),
            async move {
                let _ = stopped.await;
                Ok(())
            },
        ));
        Self {
            stop: Some(stop),
            handle,
        }
    }

    /// Graceful stop: waits for in-flight jobs.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.handle).await?
    }
}

/// Runs a worker until no job in the ledger is left unfinished (every row
/// succeeded or dead), then stops it. Panics after `timeout` listing what
/// is still pending.
pub async fn drain(ctx: &TestContext, registry: Registry, timeout: Duration) {
    let worker = InProcessWorker::start(ctx, registry);
    wait_until_drained(ctx, timeout).await;
    worker.stop().await.expect("worker stops cleanly");
}

/// Waits until every ledger row is succeeded or dead.
pub async fn wait_until_drained(ctx: &TestContext, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let pending: Vec<(uuid::Uuid, String, String)> = sqlx::query_as(
            "SELECT id, kind, status FROM jobs WHERE status NOT IN ('succeeded', 'dead') LIMIT 10",
        )
        .fetch_all(&ctx.pool)
        .await
        .expect("read ledger");
        if pending.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "jobs still pending after {timeout:?}: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
