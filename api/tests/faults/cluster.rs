//! Marquee on a real Redis Cluster (three masters on loopback, started by
//! the test): the job path with retries, dead jobs and a master that loses
//! its data; pausing a queue; and, across two API processes, rate limits,
//! the catalog cache and live updates. `redis-cli --cluster check` passes
//! before and after each. Skipped, with a note, without Redis 7.

use std::time::Duration;

use marquee_core::jobs::{self, Noop, queues};
use marquee_core::redis::queue_namespace;
use marquee_core::testing::{PrivateCluster, TestContext, redis_7_installed};
use serde_json::json;

use crate::common::process::ApiProcess;
use crate::common::sse::Sse;
use crate::common::*;
use crate::stack::{Stack, serial};

/// Whether to run; prints why not.
pub fn cluster_available() -> bool {
    let ok = redis_7_installed();
    if !ok {
        eprintln!("skipped: Redis Cluster tests need redis-server 7 or later");
    }
    ok
}

/// The master port holding `queue`'s keys for install `prefix`.
fn queue_master(cluster: &PrivateCluster, prefix: &str, queue: &str) -> u16 {
    cluster.master_of(&format!("{}:active", queue_namespace(prefix, queue)))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_queues_spread_over_three_masters() {
    if !cluster_available() {
        return;
    }
    let _turn = serial().await;
    let cluster = tokio::task::spawn_blocking(|| PrivateCluster::start(3, 0))
        .await
        .unwrap();
    let mut masters: Vec<u16> = queues::ALL
        .iter()
        .map(|queue| queue_master(&cluster, "marquee", queue))
        .collect();
    masters.sort_unstable();
    masters.dedup();
    assert_eq!(masters, cluster.masters(), "every master holds a queue");
}

/// How many of `ids` are in `status` with `attempts` attempts.
async fn counted(stack: &Stack, ids: &[uuid::Uuid], status: &str, attempts: i32) -> i64 {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM jobs WHERE id = ANY($1) AND status = $2 AND attempts = $3"#,
        ids,
        status,
        attempts
    )
    .fetch_one(&stack.ctx.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_run_retry_die_and_survive_a_master_losing_its_data_on_a_cluster() {
    if !cluster_available() {
        return;
    }
    // Only noticing the loss can bring lost jobs back within a minute.
    let env = [("MARQUEE__JOBS__REDISPATCH_AFTER_SECONDS", "300")];
    let mut stack = Stack::start_on_cluster(3, 0, 2, &env).await;
    let cluster = stack.cluster.as_ref().unwrap();
    cluster.assert_healthy();
    let prefix = stack.ctx.settings.redis.key_prefix.clone();
    let system = queue_master(cluster, &prefix, queues::SYSTEM);

    let plain = Noop {
        sleep_ms: 5,
        ..Noop::default()
    };
    let ok = stack.enqueue_returning(&vec![plain; 3_000]).await;
    let retried = stack
        .enqueue_returning(&vec![
            Noop {
                fail_attempts: 2,
                ..Noop::default()
            };
            20
        ])
        .await;
    let buried = stack
        .enqueue_returning(&vec![
            Noop {
                permanent: true,
                ..Noop::default()
            };
            10
        ])
        .await;
    stack.until_succeeded(600, Duration::from_secs(60)).await;

    // The master holding the system queue restarts empty, in effect.
    let cluster = stack.cluster.as_ref().unwrap();
    assert_eq!(cluster.cli(system, &["FLUSHALL"]), "OK");
    let all = stack.until_succeeded(3_020, Duration::from_secs(60)).await;
    println!("cluster job path: all 3,020 jobs succeeded {all:?} after a master was wiped");

    assert_eq!(
        counted(&stack, &ok, "succeeded", 1).await,
        3_000,
        "each once"
    );
    let redone: i64 = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM jobs
           WHERE id = ANY($1) AND attempt_log <> '[]'::jsonb"#,
        &ok
    )
    .fetch_one(&stack.ctx.pool)
    .await
    .unwrap();
    assert_eq!(redone, 0, "no plain job ran twice or was taken over");
    assert_eq!(
        counted(&stack, &retried, "succeeded", 3).await,
        20,
        "two failures, then success"
    );
    assert_eq!(
        counted(&stack, &buried, "dead", 1).await,
        10,
        "dead at once"
    );
    stack.cluster.as_ref().unwrap().assert_healthy();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_master_that_is_down_holds_up_only_its_own_queues() {
    if !cluster_available() {
        return;
    }
    let mut stack = Stack::start_on_cluster(3, 0, 1, &[]).await;
    let prefix = stack.ctx.settings.redis.key_prefix.clone();
    let cluster = stack.cluster.as_ref().unwrap();
    cluster.assert_healthy();
    let system = queue_master(cluster, &prefix, queues::SYSTEM);
    // Preferably the master of apalis-redis's global queue list, which
    // every worker's registration writes to (best effort, since that
    // master is down here).
    let registry = cluster.master_of("core:apalis:queues:list");
    let down = queues::ALL
        .into_iter()
        .filter(|queue| queue_master(cluster, &prefix, queue) != system)
        .max_by_key(|queue| queue_master(cluster, &prefix, queue) == registry)
        .unwrap();
    let victim = queue_master(cluster, &prefix, down);
    stack.cluster.as_mut().unwrap().kill(victim);

    // Rows no producer pushed, the relay's to push: first some for the
    // queue whose master is down, then some for the system queue.
    let mut tx = stack.ctx.pool.begin().await.unwrap();
    let stuck: Vec<uuid::Uuid> = jobs::enqueue_many(&mut tx, &vec![Noop::default(); 20])
        .await
        .unwrap()
        .iter()
        .map(|job| job.id)
        .collect();
    sqlx::query!(
        "UPDATE jobs SET queue = $1 WHERE id = ANY($2)",
        down,
        &stuck
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    stack.track(&stuck);
    stack.enqueue_unpushed(&vec![Noop::default(); 50]).await;
    let pushed = stack.until_succeeded(50, Duration::from_secs(60)).await;
    println!(
        "cluster: master of {down} down; the system queue's 50 jobs ran {pushed:?} after enqueue"
    );
    assert_eq!(
        stack.jobs_in("queued").await,
        20,
        "the down queue's jobs wait"
    );

    // The master comes back (empty): its jobs go too.
    let cluster = stack.cluster.as_mut().unwrap();
    cluster.restart(victim);
    cluster.wait_ok(Duration::from_secs(30));
    stack.until_succeeded(70, Duration::from_secs(60)).await;
    stack.cluster.as_ref().unwrap().assert_healthy();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wrong_redis_mode_is_refused_with_a_message_that_names_it() {
    if !cluster_available() {
        return;
    }
    let _turn = serial().await;
    let cluster = tokio::task::spawn_blocking(|| PrivateCluster::start(3, 0))
        .await
        .unwrap();
    let single = marquee_core::testing::PrivateRedis::start();
    let ctx = TestContext::new().await;

    // Standalone settings on a cluster node, and cluster settings on a
    // single server: both refused at start, naming redis.mode.
    let mut standalone = ctx.settings.redis.clone();
    standalone.url = cluster.urls()[0].clone().into();
    let mut clustered = ctx.settings.redis.clone();
    clustered.mode = marquee_core::config::RedisMode::Cluster;
    clustered.urls = vec![single.url().into()];
    for settings in [&standalone, &clustered] {
        let conn = marquee_core::redis::connect(settings).unwrap();
        let refused = marquee_core::redis::check_mode(&conn).await.unwrap_err();
        assert!(refused.to_string().contains("redis.mode"), "{refused}");
    }
    let worker = std::process::Command::new(
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_marquee-api"))
            .with_file_name("marquee-worker"),
    )
    .args(["--queues", "system"])
    .envs(ctx.process_env())
    .env("MARQUEE__REDIS__MODE", "cluster")
    .env("MARQUEE__REDIS__URLS", single.url())
    .output()
    .unwrap();
    assert!(!worker.status.success());
    let said = String::from_utf8_lossy(&worker.stderr);
    assert!(said.contains("redis.mode"), "{said}");
}

async fn ops(api: &ApiProcess, token: &str, path: &str) -> serde_json::Value {
    let response = api
        .client
        .post(api.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_queue_holds_its_jobs_on_a_cluster_until_resumed() {
    if !cluster_available() {
        return;
    }
    let mut stack = Stack::start_on_cluster(3, 0, 1, &[]).await;
    stack.cluster.as_ref().unwrap().assert_healthy();
    let token = admin_token_in(&stack.ctx).await;
    let paused = ops(&stack.api, &token, "/api/v1/ops/queues/system/pause").await;
    assert_eq!(paused["paused"], true);
    // Workers read pauses every worker.pause_poll_ms.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.enqueue(&vec![Noop::default(); 200]).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        stack.jobs_in("succeeded").await,
        0,
        "nothing runs while paused"
    );
    let queues: serde_json::Value = stack
        .api
        .client
        .get(stack.api.url("/api/v1/ops/queues"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let system = queues["queues"]
        .as_array()
        .and_then(|all| all.iter().find(|q| q["name"] == "system"))
        .unwrap_or_else(|| panic!("the system queue in {queues}"));
    // Besides ours, the scheduler's noop ticks wait there.
    let ready = system["ready"].as_i64().unwrap_or(0);
    assert!(
        (200..210).contains(&ready),
        "depth read from the cluster: {system}"
    );

    ops(&stack.api, &token, "/api/v1/ops/queues/system/resume").await;
    stack.until_succeeded(200, Duration::from_secs(30)).await;
    stack.cluster.as_ref().unwrap().assert_healthy();
}

/// Two API processes on one cluster: this test's in-process server and the
/// real binary.
struct Replicas {
    app: TestApp,
    other: ApiProcess,
    cluster: PrivateCluster,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

/// `None` (with a note) without Redis 7.
async fn replicas() -> Option<Replicas> {
    if !cluster_available() {
        return None;
    }
    let turn = serial().await;
    let cluster = tokio::task::spawn_blocking(|| PrivateCluster::start(3, 0))
        .await
        .unwrap();
    cluster.assert_healthy();
    let app = TestApp::spawn_with(TestContext::on_cluster(&cluster).await).await;
    let other = ApiProcess::spawn(&app.ctx, &[]).await;
    Some(Replicas {
        app,
        other,
        cluster,
        _turn: turn,
    })
}

async fn login(client: &reqwest::Client, url: &str, email: &str, password: &str) -> u16 {
    client
        .post(url)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_api_processes_share_rate_limits_on_a_cluster() {
    let Some(Replicas {
        app,
        other,
        cluster,
        ..
    }) = replicas().await
    else {
        return;
    };
    register(&app, "ada@example.com").await;
    let here = app.url("/api/v1/auth/login");
    let there = other.url("/api/v1/auth/login");
    // Ten wrong passwords, half through each process...
    for attempt in 0..10 {
        let (client, url) = if attempt % 2 == 0 {
            (&app.client, &here)
        } else {
            (&other.client, &there)
        };
        assert_eq!(
            login(client, url, "ada@example.com", "wrong horse").await,
            401
        );
    }
    // ...and the eleventh is refused by both.
    assert_eq!(login(&app.client, &here, "ada@example.com", "x").await, 429);
    assert_eq!(
        login(&other.client, &there, "ada@example.com", "x").await,
        429
    );
    // Other emails hash to other slots and have limits of their own.
    for n in 0..5 {
        let email = format!("other-{n}@example.com");
        assert_eq!(
            login(&other.client, &there, &email, "x").await,
            401,
            "{email}"
        );
    }
    cluster.assert_healthy();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_cache_serves_and_invalidates_across_processes_on_a_cluster() {
    let Some(Replicas {
        app,
        other,
        cluster,
        ..
    }) = replicas().await
    else {
        return;
    };
    let (organizer, event) = event_on_sale(&app, 4, 2).await;
    let id = event["id"].as_str().unwrap().to_owned();
    let read = |path: String| {
        let client = other.client.clone();
        async move {
            let response = client.get(path).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let first = read(other.url(&format!("/api/v1/events/{id}"))).await;
    let title = first["title"].as_str().unwrap().to_owned();
    // The process that read it cached it, in the catalog's slot.
    let prefix = &app.ctx.settings.redis.key_prefix;
    let catalog = format!("{{{prefix}:catalog}}");
    let master = cluster.master_of(&catalog);
    let cached = cluster.cli(master, &["--scan", "--pattern", &format!("{catalog}:*")]);
    assert!(cached.lines().count() >= 2, "version and entry: {cached}");

    // A change through this process is what the other one serves next.
    let renamed = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/events/{id}"),
        Some(&organizer),
        Some(json!({"title": format!("{title} (moved)")})),
    )
    .await;
    assert_eq!(renamed.status(), 200);
    let second = read(other.url(&format!("/api/v1/events/{id}"))).await;
    assert_eq!(second["title"], format!("{title} (moved)"));
    cluster.assert_healthy();
}

#[tokio::test(flavor = "multi_thread")]
async fn live_updates_fan_out_across_processes_on_a_cluster() {
    let Some(Replicas {
        app,
        other,
        cluster,
        ..
    }) = replicas().await
    else {
        return;
    };
    let (_, event) = event_on_sale(&app, 10, 5).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let seats = seat_ids(&app, &event).await;
    let fan = people(&app, 1).await.remove(0);
    let live = format!("/api/v1/events/{event}/live");
    let second = Duration::from_secs(1);
    let mut there = Sse::open(&other.client, &other.url(&live), None, None).await;
    let mut here = Sse::open(&app.client, &app.url(&live), None, None).await;
    assert!(there.next(second).await.is_some(), "a first snapshot");
    assert!(here.next(second).await.is_some(), "a first snapshot");

    let held = call(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/events/{event}/holds"),
        Some(&fan),
        Some(json!({ "seats": &seats[..2] })),
    )
    .await;
    assert_eq!(held.status(), 201);
    for stream in [&mut there, &mut here] {
        let seen = stream
            .until("snapshot", second, |d| d["seats_held"] == 2)
            .await
            .expect("the hold within a second, on both processes");
        assert_eq!(seen.data["seats_available"], 8);
    }
    cluster.assert_healthy();
}
