//! A Redis Cluster master killed under load: three masters with a replica
//! each, `cluster-node-timeout` 2 s. The replica of the master holding the
//! system queue is promoted, and every job still succeeds exactly once.

use std::time::{Duration, Instant};

use marquee_core::jobs::{self, Noop, queues};
use marquee_core::redis::queue_namespace;

use crate::cluster::cluster_available;
use crate::stack::Stack;

const JOBS: i64 = 6_000;

#[tokio::test(flavor = "multi_thread")]
async fn a_master_killed_under_load_fails_over_and_every_job_runs_once() {
    if !cluster_available() {
        return;
    }
    // Pushes the dead master acknowledged but never passed to its replica
    // come back through the relay after this long.
    let env = [("MARQUEE__JOBS__REDISPATCH_AFTER_SECONDS", "10")];
    let mut stack = Stack::start_on_cluster(3, 1, 2, &env).await;
    let cluster = stack.cluster.as_ref().unwrap();
    cluster.assert_healthy();
    let prefix = stack.ctx.settings.redis.key_prefix.clone();
    let active = format!("{}:active", queue_namespace(&prefix, queues::SYSTEM));
    let victim = cluster.master_of(&active);
    let job = Noop {
        sleep_ms: 10,
        ..Noop::default()
    };
    stack.enqueue(&vec![job.clone(); (JOBS / 2) as usize]).await;
    stack
        .until_succeeded(JOBS / 8, Duration::from_secs(60))
        .await;

    // Kill the master mid-run while more jobs are being enqueued.
    let cluster = stack.cluster.as_mut().unwrap();
    cluster.kill(victim);
    let killed = Instant::now();
    let (pool, producer) = (stack.ctx.pool.clone(), stack.producer());
    let more = tokio::spawn(async move {
        let mut ids = Vec::new();
        for _ in 0..10 {
            let mut tx = pool.begin().await.unwrap();
            let written = jobs::enqueue_many(&mut tx, &vec![job.clone(); (JOBS / 20) as usize])
                .await
                .unwrap();
            tx.commit().await.unwrap();
            producer.dispatch(&written).await;
            ids.extend(written.iter().map(|job| job.id));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        ids
    });
    let cluster = stack.cluster.as_ref().unwrap();
    let promoted = loop {
        let master = cluster.master_of(&active);
        if master != victim {
            break master;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no replica took over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let failed_over = killed.elapsed();
    let ids = more.await.unwrap();
    stack.track(&ids);
    let all = stack.until_succeeded(JOBS, Duration::from_secs(120)).await;
    println!(
        "cluster failover: master :{victim} killed, replica :{promoted} serves the system queue \
         after {failed_over:?}; all {JOBS} jobs succeeded {:?} after the kill",
        killed.elapsed().max(all)
    );
    assert_eq!(stack.jobs_in("succeeded").await, JOBS);
    assert_eq!(stack.ran_twice().await, 0, "no job ran twice");

    // The old master comes back as a replica; the cluster checks clean.
    let cluster = stack.cluster.as_mut().unwrap();
    cluster.restart(victim);
    cluster.wait_ok(Duration::from_secs(30));
    cluster.assert_healthy();
}
