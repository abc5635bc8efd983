//! CORS for front-ends on other origins: only the JSON API answers it,
//! only for the configured origins, never with credentials.

use reqwest::Method;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ORIGIN,
};

use crate::common::TestApp;

async fn app_allowing(origins: &[&str]) -> TestApp {
    let mut ctx = marquee_core::testing::TestContext::new().await;
    ctx.settings.http.cors_allowed_origins = origins.iter().map(|o| o.to_string()).collect();
    TestApp::spawn_with(ctx).await
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/api/v1/bookings"))
        .header(ORIGIN, origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_allowed_origin_gets_preflights_and_answers_without_credentials() {
    let app = app_allowing(&["https://app.example.com"]).await;
    let response = preflight(&app, "https://app.example.com").await;
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(
        headers[ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    let methods = headers[ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .unwrap()
        .to_owned();
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = headers[ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .to_lowercase();
    for header in ["authorization", "content-type", "idempotency-key"] {
        assert!(allowed.contains(header), "{allowed}");
    }
    assert!(headers.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());

    let response = app
        .client
        .get(app.url("/api/v1/events"))
        .header(ORIGIN, "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    assert!(
        response
            .headers()
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap().contains("Origin")),
        "a shared cache must not mix answers for different origins"
    );
    assert!(
        response
            .headers()
            .get(ACCESS_CONTROL_ALLOW_CREDENTIALS)
            .is_none()
    );
}

#[tokio::test]
async fn a_refused_origin_gets_no_cors_headers() {
    let app = app_allowing(&["https://app.example.com"]).await;
    let response = preflight(&app, "https://evil.example").await;
    assert!(!response.status().is_success());
    assert!(
        response
            .headers()
            .get(ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    let response = app
        .client
        .get(app.url("/api/v1/events"))
        .header(ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get(ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}

#[tokio::test]
async fn by_default_nothing_is_allowed_and_a_star_never_comes_with_credentials() {
    let app = TestApp::spawn().await;
    let response = preflight(&app, "https://app.example.com").await;
    assert!(
        response
            .headers()
            .get(ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );

    let app = app_allowing(&["*"]).await;
    let response = preflight(&app, "https://anyone.example").await;
    assert!(response.status().is_success());
    assert!(
        response
            .headers()
            .get(ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_some()
    );
    assert!(
        response
            .headers()
            .get(ACCESS_CONTROL_ALLOW_CREDENTIALS)
            .is_none()
    );
    // Pages never answer CORS.
    let page = app
        .client
        .get(app.url("/events"))
        .header(ORIGIN, "https://anyone.example")
        .send()
        .await
        .unwrap();
    assert!(page.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}
