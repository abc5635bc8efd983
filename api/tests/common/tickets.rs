//! A booking with tickets: Alice's event on sale, a fan who bought two seats
//! and one general-admission unit, and a worker run that issued them.

use marquee_core::auth::Role;
use marquee_core::testing::TestContext;
use marquee_worker::testing::SmtpSink;
use reqwest::Method;
use serde_json::{Value, json};

use super::*;

pub struct Sold {
    pub app: TestApp,
    pub sink: SmtpSink,
    /// The organizer's token.
    pub alice: String,
    /// The buyer's token.
    pub fan: String,
    pub event: String,
    pub booking: Value,
}

impl Sold {
    /// The settings a worker needs to mail through the sink.
    pub fn worker_settings(&self) -> marquee_core::Settings {
        let mut settings = self.app.ctx.settings.clone();
        self.sink.configure(&mut settings);
        settings
    }

    /// Runs a worker until every job is done.
    pub async fn drain(&self) {
        drain_with(&self.app, self.worker_settings()).await;
    }

    /// The booking's tickets, as `GET /bookings/{id}` lists them.
    pub async fn booking_tickets(&self) -> Vec<Value> {
        let id = self.booking["id"].as_str().unwrap();
        let booking = json_of(
            call(
                &self.app,
                Method::GET,
                &format!("/api/v1/bookings/{id}"),
                Some(&self.fan),
                None,
            )
            .await,
            200,
        )
        .await;
        booking["tickets"].as_array().unwrap().clone()
    }

    /// One ticket in full.
    pub async fn ticket(&self, id: &str) -> Value {
        json_of(
            call(
                &self.app,
                Method::GET,
                &format!("/api/v1/tickets/{id}"),
                Some(&self.fan),
                None,
            )
            .await,
            200,
        )
        .await
    }

    /// Scans `code` at `event` as Alice; returns the status and the body.
    pub async fn scan(&self, event: &str, body: Value) -> (u16, Value) {
        scan_as(&self.app, &self.alice, event, body).await
    }
}

/// Scans at `event` with `token` (a person's or a key).
pub async fn scan_as(app: &TestApp, token: &str, event: &str, body: Value) -> (u16, Value) {
    let response = call(
        app,
        Method::POST,
        &format!("/api/v1/events/{event}/checkins"),
        Some(token),
        Some(body),
    )
    .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// The door outcome of a scan answer: the body (201) or its `checkin`.
pub fn outcome(body: &Value) -> &str {
    body["status"]
        .as_str()
        .filter(|s| !s.chars().all(|c| c.is_ascii_digit()))
        .or_else(|| body["checkin"]["status"].as_str())
        .unwrap_or("none")
}

/// Books two seats and one GA unit for a fan ("Zoë Fan") of Alice's event;
/// with `issue`, runs a worker so the tickets exist.
pub async fn sold(issue: bool) -> Sold {
    let sink = SmtpSink::start();
    let mut ctx = TestContext::new().await;
    sink.configure(&mut ctx.settings);
    let app = TestApp::spawn_with(ctx).await;
    let (alice, event) = event_on_sale(&app, 6, 10).await;
    let event = event["id"].as_str().unwrap().to_owned();
    let booking = buy(&app, &event, "fan@example.com", 2).await;
    let fan = booking.1;
    let sold = Sold {
        app,
        sink,
        alice,
        fan,
        event,
        booking: booking.0,
    };
    if issue {
        sold.drain().await;
    }
    sold
}

/// A new person buys `seats` seats (the first free ones) and one GA unit of
/// `event`; returns the booking and their token.
pub async fn buy(app: &TestApp, event: &str, email: &str, seats: usize) -> (Value, String) {
    let fan = with_role(app, email, Role::User).await;
    let id: uuid::Uuid = me(app, &fan).await.parse().unwrap();
    sqlx::query!("UPDATE users SET name = 'Zoë Fan' WHERE id = $1", id)
        .execute(&app.ctx.pool)
        .await
        .unwrap();
    let free: Vec<String> = json_of(
        call(
            app,
            Method::GET,
            &format!("/api/v1/events/{event}/seats"),
            None,
            None,
        )
        .await,
        200,
    )
    .await
    .as_array()
    .unwrap()
    .iter()
    .filter(|s| s["available"] == true)
    .map(|s| s["seat_id"].as_str().unwrap().to_owned())
    .take(seats)
    .collect();
    let details = json_of(
        call(
            app,
            Method::GET,
            &format!("/api/v1/events/{event}"),
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    let ga = details["ticket_types"][0]["id"].clone();
    let hold = json_of(
        call(
            app,
            Method::POST,
            &format!("/api/v1/events/{event}/holds"),
            Some(&fan),
            Some(json!({"seats": free, "ticket_type_id": ga, "quantity": 1})),
        )
        .await,
        201,
    )
    .await;
    let booking = app
        .client
        .post(app.url("/api/v1/bookings"))
        .bearer_auth(&fan)
        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
        .json(&json!({"hold_id": hold["id"], "payment": {"method": "card", "token": "tok_ok"}}))
        .send()
        .await
        .unwrap();
    (json_of(booking, 201).await, fan)
}

pub async fn me(app: &TestApp, token: &str) -> String {
    json_of(
        call(app, Method::GET, "/api/v1/auth/me", Some(token), None).await,
        200,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}
