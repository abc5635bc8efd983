//! The shipped Grafana dashboard and Prometheus alerts: the rules are valid
//! (`promtool check rules`), and every metric they name exists in real
//! /metrics output of an API, a worker and a scheduler that did some work.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use marquee_core::testing::TestContext;
use marquee_worker::testing::SmtpSink;
use reqwest::Method;
use serde_json::{Value, json};

const ALERTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/prometheus/alerts.yml"
);
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/grafana/marquee.json"
);

/// Metric names (`marquee_…`) in a PromQL expression.
fn metric_names(expr: &str, into: &mut BTreeSet<String>) {
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("marquee_") {
        let start = i + at;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end] == b'_') {
            end += 1;
        }
        into.insert(expr[start..end].to_owned());
        i = end;
    }
}

const SCRAPE_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/prometheus/prometheus.yml"
);

#[test]
fn the_alert_rules_and_scrape_config_pass_promtool() {
    for args in [
        ["check", "rules", ALERTS],
        ["check", "config", SCRAPE_CONFIG],
    ] {
        let output = std::process::Command::new("promtool")
            .args(args)
            .output()
            .expect("promtool (Debian package `prometheus`; just services installs it)");
        assert!(
            output.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_use_is_exported() {
    let mut used = BTreeSet::new();
    let alerts = std::fs::read_to_string(ALERTS).unwrap();
    for line in alerts.lines().filter(|l| !l.trim_start().starts_with('#')) {
        metric_names(line, &mut used);
    }
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            metric_names(target["expr"].as_str().unwrap(), &mut used);
        }
    }
    assert!(used.len() >= 10, "{used:?}");

    // An API with its metrics listener, a worker and a scheduler, in this
    // process (one recorder), doing work that touches every metric: HTTP
    // requests, an email sent and one refused, a job that dies, ticks.
    let sink = SmtpSink::start();
    let mut ctx = TestContext::new().await;
    sink.configure(&mut ctx.settings);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    ctx.settings.http.metrics_port = port;
    ctx.settings.http.metrics_cache_seconds = 0;
    ctx.settings.scheduler.heartbeat_cron = "* * * * * *".to_owned();
    let app = TestApp::spawn_with(ctx).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(marquee_scheduler::run(
        app.ctx.settings.clone(),
        "dashboards".to_owned(),
        async move {
            let _ = stopped.await;
            Ok(())
        },
    ));
    let admin = admin_token(&app).await;
    let session = register(&app, "shop@example.com").await;
    let key = api_key(&app, access_token(&session), json!(["email:send"])).await;
    for to in ["guest@example.com", "reject@example.com"] {
        let response = app
            .client
            .post(app.url("/api/v1/tasks"))
            .header("x-api-key", &key)
            .json(&json!({"type": "message", "payload": {"to": to, "subject": "Hi", "text": "Hello"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    let noop = call(
        &app,
        Method::POST,
        "/api/v1/system/noop",
        Some(&admin),
        Some(json!({"permanent": true})),
    )
    .await;
    assert_eq!(noop.status(), 202);
    let worker = marquee_worker::testing::InProcessWorker::start(
        &app.ctx,
        marquee_worker::Registry::standard(),
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    marquee_worker::testing::wait_until_drained(&app.ctx, Duration::from_secs(20)).await;
    let text = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    worker.stop().await.unwrap();
    let _ = stop.send(());
    scheduler.await.unwrap().unwrap();

    let exported: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = used
        .iter()
        .filter(|name| {
            !exported.iter().any(|series| {
                *series == name.as_str()
                    || ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| *series == format!("{name}{s}"))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "used but not exported: {missing:?}\n{text}"
    );
    // Prometheus conventions: every family has HELP and TYPE, counters end
    // in _total, and request durations are labelled by route template.
    for family in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = family.split_once(' ').unwrap();
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
        if kind == "counter" {
            assert!(
                name.ends_with("_total"),
                "{name} is a counter without _total"
            );
        }
    }
    assert!(
        text.contains(r#"route="/api/v1/ops/jobs/{id}""#)
            || text.contains(r#"route="/api/v1/tasks""#),
        "{text}"
    );
    assert!(
        !text.contains("route=\"/api/v1/tasks/0"),
        "raw paths never become labels"
    );
}
