//! The client IP that limits count and logs show: `X-Forwarded-For` only from
//! `http.trusted_proxies`, and then its rightmost untrusted address.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use marquee_core::rate_limit::Rule;
use marquee_core::testing::TestContext;
use serde_json::json;

/// Every log line of this test binary, as the fmt layer writes them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
        captured
    })
}

/// The "request finished" line of the request with `request_id`.
fn finished_line(request_id: &str) -> String {
    let text = String::from_utf8(logs().0.lock().unwrap().clone()).unwrap();
    text.lines()
        .find(|l| l.contains(&format!("request_id={request_id}")) && l.contains("request finished"))
        .unwrap_or_else(|| panic!("no log line for {request_id} in:\n{text}"))
        .to_owned()
}

async fn app(trusted: &[&str], login_per_ip: u32) -> TestApp {
    logs();
    let mut ctx = TestContext::new().await;
    ctx.settings.http.trusted_proxies = trusted.iter().map(|n| n.parse().unwrap()).collect();
    ctx.settings.rate_limits.login_per_ip = Rule {
        limit: login_per_ip,
        period_seconds: 3600,
    };
    TestApp::spawn_with(ctx).await
}

/// A failed sign-in (a fresh email each time, so only the per-IP limit can
/// refuse) with `forwarded` as X-Forwarded-For.
async fn login(app: &TestApp, n: usize, forwarded: &str, request_id: &str) -> u16 {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded)
        .header("x-request-id", request_id)
        .json(&json!({"email": format!("nobody{n}@example.com"), "password": "wrong horse"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_changes_neither_limits_nor_logs() {
    let app = app(&[], 3).await;
    for n in 0..3 {
        let status = login(&app, n, &format!("203.0.113.{n}"), &format!("spoof-{n}")).await;
        assert_eq!(status, 401);
    }
    // A new forged address each time does not make a new client.
    assert_eq!(login(&app, 3, "198.51.100.77", "spoof-3").await, 429);
    for n in 0..4 {
        let line = finished_line(&format!("spoof-{n}"));
        assert!(line.contains("client.ip=127.0.0.1"), "{line}");
        assert!(
            !line.contains("203.0.113.") && !line.contains("198.51.100."),
            "{line}"
        );
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client() {
    let app = app(&["127.0.0.1/32"], 2).await;
    // The leftmost entry is the client's own claim; the proxy appended the
    // address it saw, 203.0.113.5.
    let chain = "198.51.100.1, 203.0.113.5";
    assert_eq!(login(&app, 0, chain, "proxied-0").await, 401);
    assert_eq!(
        login(&app, 1, "10.9.9.9, 203.0.113.5", "proxied-1").await,
        401
    );
    assert_eq!(login(&app, 2, chain, "proxied-2").await, 429, "same client");
    // Another client behind the same proxy has a budget of its own; a
    // trusted hop at the right is skipped.
    assert_eq!(
        login(&app, 3, "203.0.113.6, 127.0.0.1", "proxied-3").await,
        401
    );
    let line = finished_line("proxied-0");
    assert!(line.contains("client.ip=203.0.113.5"), "{line}");
    let line = finished_line("proxied-3");
    assert!(line.contains("client.ip=203.0.113.6"), "{line}");
    // Without the header the proxy itself is the client.
    let response = app
        .client
        .get(app.url("/health/ping"))
        .header("x-request-id", "proxied-direct")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let line = finished_line("proxied-direct");
    assert!(line.contains("client.ip=127.0.0.1"), "{line}");
}
