//! One queue's consumer for the life of the process. apalis's `Monitor`
//! cannot stop a worker and start it again later, which pausing needs, so
//! each queue gets this loop instead: run an apalis worker while the queue
//! is not paused; when it is paused (or the process stops), stop the
//! worker gracefully — jobs in flight finish, and apalis hands the jobs it
//! fetched but had not started back to the queue — and wait for the resume.
//! A worker that fails (Redis gone) is rebuilt after a backoff, under a new
//! name, because apalis-redis refuses a name that heartbeated recently.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::RedisStorage;
use futures::FutureExt;
use futures::future::BoxFuture;
use marquee_core::jobs::JobRef;
use marquee_core::redis::RedisConn;
use tokio::sync::watch;

use crate::permits::{AHEAD, Permits};

use crate::runner::Runner;

/// Least room apalis gets beyond the handler permits, whatever
/// `worker.pipeline` says: jobs whose handler has returned and whose outcome
/// is being written. Without it half the permits sat waiting on the ledger.
const FINISHING: usize = 64;

/// Jobs apalis may hold for a queue: `pipeline`, but no more than `AHEAD`
/// waiting per handler permit, and at least `concurrency` plus room for
/// `min(concurrency, 64)` outcomes being written. Beyond the handlers, the
/// jobs held wait for a permit, claimed ahead while handlers are quick (see
/// [`Permits`]; a claim is given back if the worker's run ends first, see
/// [`Generation`]), or write their outcome. Holding more than ~600 once
/// slowed the drain, but the cause was sqlx 0.9.0 leaving Nagle on: an
/// outcome batch of ~400 rows went out in two writes and waited 40 ms for
/// PostgreSQL's delayed ACK (docs/BENCHMARKS.md, eighth slice).
pub fn held(concurrency: usize, pipeline: usize) -> usize {
    let ahead = pipeline.min(concurrency * (1 + AHEAD));
    ahead.max(concurrency + concurrency.min(FINISHING))
}

/// What a queue's consumer needs.
#[derive(Clone)]
pub struct QueueConsumer {
    /// Queue name (as configured).
    pub queue: String,
    /// The process's worker name; each run adds `:<queue>:<generation>`.
    pub process: String,
    /// Redis.
    pub redis: RedisConn,
    /// apalis-redis key layout and heartbeats.
    pub config: apalis_redis::Config,
    /// Handlers running at once.
    pub concurrency: usize,
    /// Most jobs held at once (`worker.pipeline`, see [`held`]).
    pub pipeline: usize,
    /// `concurrency` permits, shared by this queue's successive workers.
    pub handlers: Arc<Permits>,
    /// Idle poll interval.
    pub poll_interval: Duration,
    /// Runs the jobs.
    pub runner: Arc<Runner>,
}

/// Resolves once `queue` is paused or `stop` is set.
async fn paused_or_stopping(
    queue: String,
    mut pauses: watch::Receiver<BTreeSet<String>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow_and_update() || pauses.borrow_and_update().contains(&queue) {
            return;
        }
        tokio::select! {
            changed = pauses.changed() => if changed.is_err() { return },
            changed = stop.changed() => if changed.is_err() { return },
        }
    }
}

/// Waits while `queue` is paused; returns false if the process stops first.
async fn until_resumed(
    queue: &str,
    pauses: &mut watch::Receiver<BTreeSet<String>>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        if *stop.borrow_and_update() {
            return false;
        }
        if !pauses.borrow_and_update().contains(queue) {
            return true;
        }
        tokio::select! {
            changed = pauses.changed() => if changed.is_err() { return false },
            changed = stop.changed() => if changed.is_err() { return false },
        }
    }
}

/// Delay before rebuilding a worker after `failures` failures in a row
/// (0.1 s, doubling, at most 5 s).
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << failures.min(6))).min(Duration::from_secs(5))
}

impl QueueConsumer {
    /// An apalis worker named `name` that runs until `signal`, then stops
    /// gracefully. Built outside any async fn and boxed here, where its
    /// concrete type proves it `Send` (inside an async fn the compiler
    /// loses the lifetimes of apalis's boxed error type and cannot).
    fn worker(
        &self,
        name: String,
        generation: Generation,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> BoxFuture<'static, Result<(), WorkerError>> {
        let backend = RedisStorage::<JobRef, RedisConn>::new(self.redis.clone())
            .with_config(self.config.clone())
            .poll_with_strategy(crate::poll::Ticking::every(self.poll_interval));
        WorkerBuilder::new(name)
            .backend(backend)
            .concurrency(held(self.concurrency, self.pipeline))
            .parallelize(tokio::spawn)
            .data(self.runner.clone())
            .data(self.handlers.clone())
            .data(generation)
            .build(deliver)
            .run_until(async move {
                signal.await;
                Ok::<(), WorkerError>(())
            })
            .boxed()
    }

    /// Consumes the queue until `stop` is set, honouring pauses.
    pub async fn run(
        self,
        mut pauses: watch::Receiver<BTreeSet<String>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut generation = 0u64;
        let mut failures = 0u32;
        loop {
            if !until_resumed(&self.queue, &mut pauses, &mut stop).await {
                return;
            }
            let name = format!("{}:{}:{generation}", self.process, self.queue);
            generation += 1;
            let pause_or_stop =
                paused_or_stopping(self.queue.clone(), pauses.clone(), stop.clone());
            let ended = Arc::new(watch::Sender::new(false));
            let generation = Generation(ended.subscribe());
            let on_signal = ended.clone();
            let signal = async move {
                pause_or_stop.await;
                on_signal.send_replace(true);
            };
            let result = self.worker(name.clone(), generation, signal).await;
            // Also when the worker failed: its jobs still waiting for a
            // permit must not claim what the next generation may be handed.
            ended.send_replace(true);
            match result {
                Ok(()) => {
                    failures = 0;
                    if pauses.borrow().contains(&self.queue) {
                        tracing::info!(queue = %self.queue, worker = %name, "queue paused; worker stopped and its unstarted jobs went back");
                    }
                }
                Err(error) => {
                    failures += 1;
                    let delay = backoff(failures);
                    tracing::warn!(queue = %self.queue, worker = %name, %error, retry_in_ms = delay.as_millis() as u64, "worker stopped; restarting");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
    }
}

/// One run of an apalis worker, seen from its jobs: ends when the queue is
/// paused, the process stops or the worker fails. A job still waiting for a
/// handler permit then gives its claim back and returns an error, so
/// apalis-redis schedules it again (in a second) instead of this worker
/// starting it. Without this, a pause or SIGTERM would still start every
/// job the worker holds (`worker.pipeline`), and after a failure a detached
/// job of the old worker could run a job apalis had meanwhile handed to the
/// new one.
#[derive(Clone)]
pub struct Generation(watch::Receiver<bool>);

impl Generation {
    /// Resolves once this run is over.
    pub async fn ended(mut self) {
        // An error means the sender is gone: over too.
        let _ = self.0.wait_for(|ended| *ended).await;
    }
}

/// The apalis task function: every queue's jobs go through the runner.
async fn deliver(
    job: JobRef,
    runner: Data<Arc<Runner>>,
    handlers: Data<Arc<Permits>>,
    generation: Data<Generation>,
) -> Result<(), BoxDynError> {
    let ended = (*generation).clone().ended();
    runner.run(job, &handlers, ended).await.map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_is_the_pipeline_but_leaves_room_for_outcomes() {
        assert_eq!(held(50, 1500), 1500);
        assert_eq!(held(10, 1500), 310);
        assert_eq!(held(50, 512), 512);
        assert_eq!(held(500, 512), 564);
        assert_eq!(held(1, 512), 31);
        assert_eq!(held(3, 1), 6);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(30), Duration::from_secs(5));
    }
}
