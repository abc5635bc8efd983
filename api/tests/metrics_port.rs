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
    // Made-up methods must not each make a new series.
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        app.client
            .request(method, app.url("/health/ping"))
            .send()
            .await
            .unwrap();
    }

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
    assert!(!text.contains("MADEUP"), "{text}");
    assert!(
        text.contains(r#"marquee_http_request_duration_seconds_count{method="other""#),
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
