//! Prometheus metrics live on `http.metrics_port`, not the public listener.

mod common;

use common::*;
use marquee_core::testing::TestContext;

#[tokio::test]
async fn prometheus_metrics_are_served_on_the_metrics_port_only() {
    let mut ctx = TestContext::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    ctx.settings.http.metrics_port = port;
    let app = TestApp::spawn_with(ctx).await;

    let scrape = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(
        scrape.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
    );
    let text = scrape.text().await.unwrap();
    assert!(
        text.contains(r#"marquee_queue_depth{queue="system",state="ready"}"#),
        "{text}"
    );
    // The public listener has no /metrics, and the metrics one has no API.
    problem(app.get("/metrics").await, 404).await;
    let api = app
        .client
        .get(format!("http://127.0.0.1:{port}/health/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
}
