//! A stage for page tests: the app with a worker and an SMTP sink, and
//! Alice's published event tagged `jazz` (two sections at two prices) next
//! to an untagged one.

use marquee_core::testing::TestContext;
use marquee_worker::testing::{InProcessWorker, SmtpSink};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, call, json_of, organizer};

pub struct Stage {
    pub app: TestApp,
    pub event: Value,
    worker: Option<InProcessWorker>,
    _sink: SmtpSink,
}

impl Stage {
    /// The app, a worker on every queue, and the two events.
    pub async fn new() -> Self {
        let mut ctx = TestContext::new().await;
        let sink = SmtpSink::start();
        sink.configure(&mut ctx.settings);
        let app = TestApp::spawn_with(ctx).await;
        let worker = InProcessWorker::start(&app.ctx, marquee_worker::Registry::standard());
        let alice = organizer(&app, "alice@example.com").await;
        let event = publish(&app, &alice, "Late Night Jazz", &["jazz", "late"]).await;
        publish(&app, &alice, "Brass Matinee", &["brass"]).await;
        Self {
            app,
            event,
            worker: Some(worker),
            _sink: sink,
        }
    }

    pub fn event_id(&self) -> &str {
        self.event["id"].as_str().unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(worker) = self.worker.take() {
            worker.stop().await.unwrap();
        }
    }
}

/// A venue of two sections (Stalls 2 x 6 at 25.00, Balcony 1 x 6 at 15.00)
/// and an event there three days out (so the default policy refunds 50%),
/// with general admission too; published.
pub async fn publish(app: &TestApp, token: &str, title: &str, tags: &[&str]) -> Value {
    let venue = json!({"name": format!("{title} Hall"), "sections": [
        {"name": "Stalls", "rows": [{"label": "A", "seats": 6}, {"label": "B", "seats": 6}]},
        {"name": "Balcony", "rows": [{"label": "C", "seats": 6}]},
    ]});
    let venue = json_of(
        call(
            app,
            Method::POST,
            "/api/v1/venues",
            Some(token),
            Some(venue),
        )
        .await,
        201,
    )
    .await;
    let body = json!({"title": title, "currency": "EUR", "max_per_order": 6, "tags": tags,
        "description": "An evening of music.",
        "starts_at": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
        "venue_id": venue["id"],
        "section_prices": [
            {"section_id": venue["sections"][0]["id"], "price_cents": 2500},
            {"section_id": venue["sections"][1]["id"], "price_cents": 1500}],
        "ticket_types": [{"name": "Standing", "price_cents": 1000, "capacity": 20}]});
    let event = json_of(
        call(app, Method::POST, "/api/v1/events", Some(token), Some(body)).await,
        201,
    )
    .await;
    let id = event["id"].as_str().unwrap();
    json_of(
        call(
            app,
            Method::POST,
            &format!("/api/v1/events/{id}/publish"),
            Some(token),
            None,
        )
        .await,
        200,
    )
    .await
}
