//! A whole installation as separate processes: the API, workers and a
//! scheduler, over a test database and a private Redis.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use marquee_core::jobs::{self, Job, Producer};
use marquee_core::testing::{PrivateCluster, PrivatePostgres, PrivateRedis, TestContext};

use crate::common::process::ApiProcess;

/// The API, workers and a scheduler on one test's database and a Redis of
/// its own; every process is killed on drop.
pub struct Stack {
    /// Its Redis, unless it runs on a cluster.
    redis: Option<PrivateRedis>,
    /// Its Redis Cluster, if it runs on one.
    pub cluster: Option<PrivateCluster>,
    pub api: ApiProcess,
    pub workers: Vec<Child>,
    pub scheduler: Child,
    env: Vec<(String, String)>,
    /// The jobs [`Self::enqueue`] wrote: what the counts count.
    ids: Vec<uuid::Uuid>,
    // Dropped after the processes: its database goes once they are gone.
    pub ctx: TestContext,
    /// The test's own PostgreSQL, when it is the one to fail.
    pub postgres: Option<PrivatePostgres>,
    _serial: tokio::sync::OwnedMutexGuard<()>,
}

/// One stack at a time: each loads both cores, and their timing claims
/// (resumed within 5 s, answered within 2 s) are about faults, not about
/// two stacks fighting for the machine.
static SERIAL: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(Default::default);

/// Waits for this test's turn among those that load the machine.
pub async fn serial() -> tokio::sync::OwnedMutexGuard<()> {
    SERIAL.clone().lock_owned().await
}

/// A binary built beside `marquee-api` (by `cargo test --workspace`). A
/// test of this crate alone does not rebuild other crates' binaries, so
/// one older than its sources is refused rather than tested.
fn sibling(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_marquee-api")).with_file_name(name);
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo build --workspace --bins`",
                path.display()
            )
        });
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // Only sources that go into the binary: not tests, benches or the
    // test harness.
    let crate_dir = format!(
        "{}/src",
        name.trim_start_matches("marquee-")
            .replace("worker", "workers")
    );
    for dir in ["core/src", crate_dir.as_str(), "migrations"] {
        if let Some(newer) = newer_than(&root.join(dir), built) {
            panic!(
                "{} is older than {}: run `cargo build --workspace --bins`",
                path.display(),
                newer.display()
            );
        }
    }
    path
}

/// A file under `dir` changed after `time`, if any.
fn newer_than(dir: &std::path::Path, time: std::time::SystemTime) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        // The test harness is not part of any binary.
        if path.ends_with("core/src/testing") {
            continue;
        }
        if path.is_dir() {
            if let Some(found) = newer_than(&path, time) {
                return Some(found);
            }
        } else if entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|m| m > time)
        {
            return Some(path);
        }
    }
    None
}

impl Stack {
    /// Starts it with `workers` worker processes (every queue) and `env`
    /// (`MARQUEE__…` settings) for every process.
    pub async fn start(workers: usize, env: &[(&str, &str)]) -> Self {
        Self::start_on(None, workers, env).await
    }

    /// Like [`Self::start`], on `postgres` rather than the machine's.
    pub async fn start_on(
        postgres: Option<PrivatePostgres>,
        workers: usize,
        env: &[(&str, &str)],
    ) -> Self {
        let serial = SERIAL.clone().lock_owned().await;
        let redis = PrivateRedis::start();
        let url = postgres.as_ref().map(PrivatePostgres::url);
        let ctx = TestContext::on_servers(url.as_deref(), Some(&redis.url())).await;
        Self::start_with(ctx, Some(redis), None, postgres, workers, env, serial).await
    }

    /// Like [`Self::start`], on a Redis Cluster of `masters` masters with
    /// `replicas` replicas each (`redis.mode = "cluster"`).
    pub async fn start_on_cluster(
        masters: usize,
        replicas: usize,
        workers: usize,
        env: &[(&str, &str)],
    ) -> Self {
        let serial = SERIAL.clone().lock_owned().await;
        let cluster = tokio::task::spawn_blocking(move || PrivateCluster::start(masters, replicas))
            .await
            .unwrap();
        let ctx = TestContext::on_cluster(&cluster).await;
        Self::start_with(ctx, None, Some(cluster), None, workers, env, serial).await
    }

    async fn start_with(
        ctx: TestContext,
        redis: Option<PrivateRedis>,
        cluster: Option<PrivateCluster>,
        postgres: Option<PrivatePostgres>,
        workers: usize,
        env: &[(&str, &str)],
        serial: tokio::sync::OwnedMutexGuard<()>,
    ) -> Self {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let borrowed: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let api = ApiProcess::spawn(&ctx, &borrowed).await;
        let mut stack = Self {
            scheduler: spawn(&ctx, "marquee-scheduler", &[], &env),
            workers: Vec::new(),
            redis,
            cluster,
            api,
            env,
            ids: Vec::new(),
            ctx,
            postgres,
            _serial: serial,
        };
        for n in 0..workers {
            stack.add_worker(&format!("w{n}"));
        }
        stack
    }

    /// Its own Redis (a standalone stack's).
    pub fn redis(&mut self) -> &mut PrivateRedis {
        self.redis.as_mut().expect("a stack on a standalone Redis")
    }

    /// Starts one more worker process named `name`.
    pub fn add_worker(&mut self, name: &str) {
        self.add_worker_with(name, &[]);
    }

    /// Like [`Self::add_worker`], with settings of its own.
    pub fn add_worker_with(&mut self, name: &str, env: &[(&str, &str)]) {
        let queues = jobs::queues::ALL.join(",");
        let args = ["--queues", queues.as_str(), "--name", name];
        let mut all = self.env.clone();
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self.workers
            .push(spawn(&self.ctx, "marquee-worker", &args, &all));
    }

    /// Enqueues `jobs` without pushing them, as if every producer had died
    /// after its commit: only the relay brings them to Redis.
    pub async fn enqueue_unpushed<J: Job>(&mut self, jobs: &[J]) {
        let mut tx = self.ctx.pool.begin().await.unwrap();
        let written = jobs::enqueue_many(&mut tx, jobs).await.unwrap();
        tx.commit().await.unwrap();
        self.ids.extend(written.iter().map(|job| job.id));
    }

    /// Starts a scheduler again (after the first one stopped).
    pub fn restart_scheduler(&mut self) {
        self.scheduler = spawn(&self.ctx, "marquee-scheduler", &[], &self.env);
    }

    /// A producer on the stack's Redis.
    pub fn producer(&self) -> Producer {
        Producer::new(
            self.ctx.pool.clone(),
            self.ctx.redis(),
            self.ctx.settings.redis.key_prefix.clone(),
        )
    }

    /// Commits `jobs` in one transaction and pushes them, as the API does.
    pub async fn enqueue<J: Job>(&mut self, jobs: &[J]) {
        self.enqueue_returning(jobs).await;
    }

    /// Like [`Self::enqueue`]; the jobs' ids.
    pub async fn enqueue_returning<J: Job>(&mut self, jobs: &[J]) -> Vec<uuid::Uuid> {
        let mut tx = self.ctx.pool.begin().await.unwrap();
        let written = jobs::enqueue_many(&mut tx, jobs).await.unwrap();
        tx.commit().await.unwrap();
        self.producer().dispatch(&written).await;
        let ids: Vec<uuid::Uuid> = written.iter().map(|job| job.id).collect();
        self.ids.extend(&ids);
        ids
    }

    /// Counts `ids` among the jobs enqueued here (enqueued elsewhere, say by
    /// a task running beside the test).
    pub fn track(&mut self, ids: &[uuid::Uuid]) {
        self.ids.extend(ids);
    }

    /// Of the jobs enqueued here, those in `status`.
    pub async fn jobs_in(&self, status: &str) -> i64 {
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM jobs WHERE status = $1 AND id = ANY($2)"#,
            status,
            &self.ids
        )
        .fetch_one(&self.ctx.pool)
        .await
        .unwrap()
    }

    /// Waits until `jobs_in("succeeded")` reaches `n`, at most `within`;
    /// the time it took.
    pub async fn until_succeeded(&self, n: i64, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let done = self.jobs_in("succeeded").await;
            if done >= n {
                return started.elapsed();
            }
            if started.elapsed() > within {
                panic!(
                    "{done} of {n} jobs succeeded within {within:?}; the rest: {:?}; Redis: {}",
                    self.unfinished().await,
                    self.redis_keys()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Jobs not succeeded, by status, whether they run, and when they were
    /// last pushed and updated: what a stuck test shows.
    pub async fn unfinished(&self) -> Vec<String> {
        sqlx::query_scalar!(
            r#"SELECT format('%s running=%s n=%s pushed=%s..%s updated=%s..%s dispatches=%s',
                             status, r.job_id IS NOT NULL, count(*),
                             min(dispatched_at), max(dispatched_at),
                             min(updated_at), max(updated_at), max(dispatches)) AS "line!"
               FROM jobs LEFT JOIN job_runs r ON r.job_id = jobs.id
               WHERE status <> 'succeeded' AND id = ANY($1)
               GROUP BY status, r.job_id IS NOT NULL"#,
            &self.ids
        )
        .fetch_all(&self.ctx.pool)
        .await
        .unwrap()
    }

    /// The system queue's Redis keys and their sizes.
    pub fn redis_keys(&self) -> String {
        let queue =
            marquee_core::redis::queue_namespace(&self.ctx.settings.redis.key_prefix, "system");
        let cli = |args: &[&str]| match (&self.redis, &self.cluster) {
            (Some(redis), _) => redis.cli(args),
            (None, Some(cluster)) => cluster.cli(cluster.master_of(&queue), args),
            (None, None) => unreachable!("a stack has a Redis"),
        };
        let keys = cli(&["--scan", "--pattern", &format!("{queue}*")]);
        keys.lines()
            .map(|key| {
                let kind = cli(&["TYPE", key]);
                let size = match kind.as_str() {
                    "list" => cli(&["LLEN", key]),
                    "zset" => cli(&["ZCARD", key]),
                    "set" => cli(&["SCARD", key]),
                    "hash" => cli(&["HLEN", key]),
                    _ => String::new(),
                };
                format!("{key} {kind} {size}")
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Of the jobs enqueued here, those with a run (claimed or running).
    pub async fn unfinished_running(&self) -> i64 {
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM job_runs WHERE job_id = ANY($1)"#,
            &self.ids
        )
        .fetch_one(&self.ctx.pool)
        .await
        .unwrap()
    }

    /// Jobs that ran more than once: an attempt taken over (logged `lost`),
    /// or a no-op job (which never fails) with more than one attempt. An
    /// email whose attempt failed while PostgreSQL was away is retried,
    /// which is no second run of a finished one.
    pub async fn ran_twice(&self) -> i64 {
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM jobs
               WHERE id = ANY($1)
                 AND (attempt_log @> '[{"outcome": "lost"}]'::jsonb
                      OR (kind = 'noop' AND (attempts <> 1 OR attempt_log <> '[]'::jsonb)))"#,
            &self.ids
        )
        .fetch_one(&self.ctx.pool)
        .await
        .unwrap()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for child in self.workers.iter_mut().chain([&mut self.scheduler]) {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// SIGTERM, as an orchestrator stops a process; then its exit status,
/// waiting at most `within`.
pub async fn terminate(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < within,
            "still running {within:?} after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn spawn(ctx: &TestContext, binary: &str, args: &[&str], env: &[(String, String)]) -> Child {
    let mut command = Command::new(sibling(binary));
    command
        .args(args)
        .envs(ctx.process_env())
        .env("MARQUEE__LOG__FILTER", "warn")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if std::env::var_os("TEST_LOG").is_none() {
        command.stdout(Stdio::null()).stderr(Stdio::null());
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("start {binary}: {e}"))
}
