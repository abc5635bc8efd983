//! The Redis lists deploy/k8s's KEDA ScaledObjects watch are the lists
//! Marquee keeps ready jobs in: read off a running worker (its
//! `marquee_worker_queue_info` metric), for every worker Deployment of
//! every overlay, and filled by a real push.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use marquee_core::jobs::{Producer, Push};
use marquee_core::testing::{PrivateRedis, TestContext};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One overlay rendered by `scripts/k8s_check.py --json` (tools from
/// `just k8s-tools`).
fn rendered(overlay: &str) -> Vec<Value> {
    let venv = root().join(".tools/k8s/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let output = Command::new(&python)
        .arg(root().join("scripts/k8s_check.py"))
        .args(["--json", overlay])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run `just k8s-tools`)", python.display()));
    assert!(
        output.status.success(),
        "rendering {overlay}: {} (run `just k8s-tools`)",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// (worker Deployment's --queues, lists its ScaledObject watches).
fn scaled_workers(objects: &[Value]) -> Vec<(String, BTreeSet<String>)> {
    fn named<'a>(objects: &'a [Value], kind: &'a str) -> impl Iterator<Item = (String, &'a Value)> {
        objects
            .iter()
            .filter(move |o| o["kind"] == kind)
            .map(|o| (o["metadata"]["name"].as_str().unwrap().to_owned(), o))
    }
    let mut found = Vec::new();
    for (name, scaled) in named(objects, "ScaledObject") {
        let target = scaled["spec"]["scaleTargetRef"]["name"].as_str().unwrap();
        let deployment = named(objects, "Deployment")
            .find(|(n, _)| n == target)
            .unwrap_or_else(|| panic!("{name} targets a missing Deployment {target}"))
            .1;
        let args: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let at = args.iter().position(|a| *a == "--queues").unwrap();
        let watched = scaled["spec"]["triggers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["metadata"]["listName"].as_str().unwrap().to_owned())
            .collect();
        found.push((args[at + 1].to_owned(), watched));
    }
    assert!(!found.is_empty(), "no ScaledObjects");
    found
}

/// The key prefix the overlay's ConfigMap gives every process.
fn key_prefix(objects: &[Value]) -> String {
    objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .find_map(|o| o["data"]["MARQUEE__REDIS__KEY_PREFIX"].as_str())
        .unwrap_or("marquee")
        .to_owned()
}

/// The ready lists a worker consuming `queues` reports on /metrics.
async fn lists_of_a_running_worker(
    ctx: &TestContext,
    redis: &PrivateRedis,
    prefix: &str,
    queues: &str,
) -> BTreeSet<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_marquee-worker"))
        .args(["--queues", queues, "--metrics-port", &port.to_string()])
        .envs(ctx.process_env())
        .env("MARQUEE__REDIS__URL", redis.url())
        .env("MARQUEE__REDIS__KEY_PREFIX", prefix)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        if let Ok(response) = client.get(&url).send().await {
            break response.text().await.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the worker's /metrics never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    worker.kill().ok();
    worker.wait().ok();
    body.lines()
        .filter(|line| line.starts_with("marquee_worker_queue_info{"))
        .filter_map(|line| {
            let at = line.find("ready_list=\"")? + "ready_list=\"".len();
            Some(line[at..].split('"').next()?.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn every_scaled_object_watches_the_lists_its_workers_consume() {
    // A Redis of its own: the overlays' prefix is the production one.
    let redis = PrivateRedis::start();
    let ctx = TestContext::on_servers(None, Some(&redis.url())).await;
    for overlay in ["dev", "production"] {
        let objects = rendered(overlay);
        let prefix = key_prefix(&objects);
        for (queues, watched) in scaled_workers(&objects) {
            let used = lists_of_a_running_worker(&ctx, &redis, &prefix, &queues).await;
            assert_eq!(watched, used, "{overlay}: workers for {queues}");
        }
    }
}

#[tokio::test]
async fn a_pushed_job_waits_in_the_list_keda_watches() {
    let redis = PrivateRedis::start();
    let ctx = TestContext::on_servers(None, Some(&redis.url())).await;
    let objects = rendered("production");
    let prefix = key_prefix(&objects);
    let producer = Producer::new(ctx.pool.clone(), ctx.redis(), prefix);
    for (queues, watched) in scaled_workers(&objects) {
        for queue in queues.split(',') {
            let pushes: Vec<Push> = (0..3)
                .map(|_| Push {
                    job_id: uuid::Uuid::now_v7(),
                    task_id: uuid::Uuid::now_v7(),
                    queue: queue.to_owned(),
                    run_at: None,
                })
                .collect();
            producer.push(&pushes).await.unwrap();
            let waiting: Vec<String> = watched
                .iter()
                .filter(|list| redis.cli(&["LLEN", list]) == "3")
                .cloned()
                .collect();
            assert_eq!(
                waiting.len(),
                1,
                "{queue}: one watched list holds its 3 jobs"
            );
            redis.cli(&["DEL", &waiting[0]]);
        }
    }
}
