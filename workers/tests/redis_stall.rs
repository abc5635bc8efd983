//! A Redis that stalls (a slow script, a cluster failover the client rides
//! out) while workers sit idle: once it answers again, the idle consumers
//! take new jobs. apalis's own interval poller left them parked for good.

mod common;

use std::time::Duration;

use common::*;
use marquee_core::jobs::{JobOptions, JobStatus, Noop};
use marquee_core::testing::{PrivateRedis, TestContext};

#[tokio::test]
async fn idle_workers_take_jobs_again_after_redis_stalls_for_longer_than_a_heartbeat() {
    let redis = PrivateRedis::start();
    let ctx = TestContext::on_servers(None, Some(&redis.url())).await;
    let _worker = Killed(spawn_worker_with(&ctx, "idle", "system,email,otp", &[]));
    let first = enqueue_committed(&ctx, &Noop::default(), JobOptions::default()).await;
    wait_for(
        &ctx,
        first.id,
        Duration::from_secs(20),
        is_status(JobStatus::Succeeded),
    )
    .await;

    // Longer than the test heartbeat (2 s), shorter than the client's
    // response timeout (5 s): fetches in flight are slow, not failed.
    for _ in 0..2 {
        assert_eq!(redis.cli(&["DEBUG", "SLEEP", "3"]), "OK");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let after = enqueue_committed(&ctx, &Noop::default(), JobOptions::default()).await;
    let done = wait_for(&ctx, after.id, Duration::from_secs(15), |job| {
        job.status == JobStatus::Succeeded
    })
    .await;
    assert_eq!(done.attempts, 1);
}

/// Kills the worker however the test ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}
