//! The contract in `/openapi.json`: every operation documents its problems,
//! and the checker every API test runs under catches an answer the document
//! does not list.

mod common;

use common::contract::Contract;
use common::*;
use serde_json::{Value, json};

#[test]
fn the_checker_catches_an_undocumented_status() {
    let spec = json!({"paths": {
        "/api/v1/things/{id}": {"get": {"responses": {"200": {}, "404": {}}}},
        "/api/v1/things/mine": {"get": {"responses": {"200": {}}}},
        "/api/v1/ranged": {"get": {"responses": {"2XX": {}}}},
    }});
    let contract = Contract::from_spec(&spec);
    contract.record("GET", "/api/v1/things/7", 200);
    contract.record("GET", "/api/v1/things/7", 404);
    contract.record("GET", "/api/v1/ranged", 204);
    // Outside the document: another method, another path.
    contract.record("DELETE", "/api/v1/things/7", 405);
    contract.record("GET", "/openapi.json", 200);
    contract.record("GET", "/api/v1/things/7/more", 404);
    assert!(contract.undocumented().is_empty());

    contract.record("GET", "/api/v1/things/7", 409);
    // The literal template wins over the parameter, as in the router.
    contract.record("GET", "/api/v1/things/mine", 404);
    assert_eq!(
        contract.undocumented(),
        [
            ("GET".to_owned(), "/api/v1/things/mine".to_owned(), 404),
            ("GET".to_owned(), "/api/v1/things/{id}".to_owned(), 409),
        ]
    );
    let failed = std::panic::catch_unwind(|| contract.assert_kept()).unwrap_err();
    let message = failed.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("GET /api/v1/things/{id} -> 409"),
        "{message}"
    );
}

#[tokio::test]
async fn the_checker_watches_the_served_api() {
    let app = TestApp::spawn().await;
    // A 404 for an unknown path is outside the document; a 401 for /auth/me
    // is documented.
    problem(app.get("/api/v1/nothing-here").await, 404).await;
    problem(app.get("/api/v1/auth/me").await, 401).await;
    assert!(app.contract.undocumented().is_empty());
    // What the served document does not list for an operation is caught.
    app.contract.record("GET", "/health/live", 409);
    assert_eq!(app.contract.undocumented().len(), 1);
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(app)));
    assert!(failed.is_err(), "TestApp fails a test that saw it");
}

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((method.to_uppercase(), path.clone(), operation.clone()));
        }
    }
    all
}

#[tokio::test]
async fn every_operation_documents_its_problems_as_problem_json() {
    let app = TestApp::spawn().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let all = operations(&spec);
    assert!(all.len() > 40, "{} operations", all.len());
    let mut failures = Vec::new();
    for (method, path, operation) in &all {
        let responses = operation["responses"].as_object().unwrap();
        let has = |status: &str| responses.contains_key(status);
        let secured = operation["security"]
            .as_array()
            .is_some_and(|s| !s.iter().any(|r| r.as_object().unwrap().is_empty()));
        // The boundary reads (and may refuse) a body on every operation.
        let mut expected = vec!["408", "413", "422"];
        if operation.get("requestBody").is_some() {
            expected.extend(["400", "415"]);
        }
        if operation.get("parameters").is_some() {
            expected.push("400");
        }
        if secured {
            expected.extend(["401", "503"]);
        }
        for status in expected {
            if !has(status) {
                failures.push(format!("{method} {path} does not document {status}"));
            }
        }
        for (status, response) in responses {
            let content = response["content"].as_object();
            let problem = content.and_then(|c| c.get("application/problem+json"));
            if status.starts_with('4') || status.starts_with('5') {
                // A 404 page of the unsubscribe link is HTML, on purpose.
                let html = content.is_some_and(|c| c.keys().any(|t| t.starts_with("text/html")));
                if problem.is_none() && !html {
                    failures.push(format!("{method} {path} {status} is not problem+json"));
                }
            }
            let retry_after = response["headers"]
                .as_object()
                .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("retry-after")));
            if (status == "429" || status == "503") && !retry_after {
                failures.push(format!("{method} {path} {status} lacks Retry-After"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        spec["components"]["schemas"]["Problem"]["required"],
        json!(["type", "title", "status"])
    );
}
