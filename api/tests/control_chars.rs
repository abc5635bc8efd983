//! Control characters (NUL, U+0001, ESC...) in any text a client sends are
//! a 422 naming the field, never a 500, and change nothing. The property
//! test walks `/openapi.json`, so routes added later are covered too.

mod common;

use std::collections::BTreeMap;

use common::*;
use marquee_core::auth::Role;
use serde_json::{Value, json};

/// What each text field, query and path parameter is sent with.
const CONTROLS: [&str; 2] = ["a\u{0}b", "\u{1}"];

#[tokio::test]
async fn every_text_field_of_every_operation_refuses_control_characters() {
    let app = TestApp::spawn().await;
    let admin = with_role(&app, "admin@example.com", Role::Admin).await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let before = row_counts(&app).await;
    let mut checked = 0;
    for (template, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let path_values: BTreeMap<String, String> = parameters
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| (name_of(p), sample_param(&spec, &p["schema"])))
                .collect();
            // Keyed `application/json; charset=utf-8`.
            let body = operation["requestBody"]["content"]
                .as_object()
                .and_then(|content| {
                    content
                        .iter()
                        .find(|(media, _)| media.starts_with("application/json"))
                })
                .map(|(_, media)| sample(&spec, &media["schema"], 0));

            // Each string leaf of the body, one at a time.
            if let Some(body) = &body {
                for (pointer, field) in string_leaves(body, "", "") {
                    for control in CONTROLS {
                        let mut bad = body.clone();
                        *bad.pointer_mut(&pointer).unwrap() = json!(control);
                        let path = fill(template, &path_values, None);
                        let response =
                            call(&app, method.clone(), &path, Some(&admin), Some(bad)).await;
                        expect_422(response, &field, &format!("{method} {template} {field}")).await;
                        checked += 1;
                    }
                }
            }
            // Each path and query parameter.
            for parameter in &parameters {
                let name = name_of(parameter);
                for control in CONTROLS {
                    let encoded = percent(control);
                    let path = match parameter["in"].as_str() {
                        Some("path") => fill(template, &path_values, Some((&name, &encoded))),
                        Some("query") => {
                            format!("{}?{name}={encoded}", fill(template, &path_values, None))
                        }
                        _ => continue,
                    };
                    let response =
                        call(&app, method.clone(), &path, Some(&admin), body.clone()).await;
                    expect_422(response, &name, &format!("{method} {template} ?{name}")).await;
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} fields checked");
    assert_eq!(
        row_counts(&app).await,
        before,
        "a refused request changed state"
    );
}

#[tokio::test]
async fn registration_with_a_nul_name_is_422_and_creates_no_user() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "nul@example.com", "password": "correct horse", "name": "Ada\u{0}"});
    let response = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/register",
        None,
        Some(body),
    )
    .await;
    let problem = problem(response, 422).await;
    assert_eq!(problem["errors"][0]["field"], "name", "{problem}");
    assert_eq!(count(&app, "SELECT count(*) FROM users").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM jobs").await, 0);
}

#[tokio::test]
async fn login_with_a_nul_email_is_422() {
    let app = TestApp::spawn().await;
    register(&app, "ada@example.com").await;
    let body = json!({"email": "\u{0}", "password": "correct horse"});
    let response = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/login",
        None,
        Some(body),
    )
    .await;
    let problem = problem(response, 422).await;
    assert_eq!(problem["errors"][0]["field"], "email", "{problem}");
    assert_eq!(count(&app, "SELECT count(*) FROM refresh_tokens").await, 1);
}

#[tokio::test]
async fn tab_newline_and_carriage_return_are_still_text() {
    let app = TestApp::spawn().await;
    let session = register(&app, "sender@example.com").await;
    let key = api_key(&app, access_token(&session), json!(["email:send"])).await;
    let body = json!({"type": "message", "payload": {"to": "someone@example.com",
        "subject": "Lines", "text": "Hello,\r\n\tthis has lines\nand tabs.\n"}});
    let response = app
        .client
        .post(app.url("/api/v1/tasks"))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
}

/// 50,000 bad keys in a 1 MiB body buy a short answer, not one problem per
/// key: an anonymous client cannot make the API build megabytes.
#[tokio::test]
async fn a_body_full_of_bad_keys_gets_a_short_answer() {
    let app = TestApp::spawn().await;
    let fields: Vec<String> = (0..20_000)
        .map(|n| format!("\"k{n}\":\"\\u0001\""))
        .collect();
    let body = format!("{{{}}}", fields.join(","));
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let problem = problem(response, 422).await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 20, "capped");
}

/// An Idempotency-Key that is not visible ASCII used to read as no key at
/// all, so a retry sent the mail twice. It is a 422 now, and nothing is sent.
#[tokio::test]
async fn an_unreadable_idempotency_key_is_422_not_ignored() {
    let app = TestApp::spawn().await;
    let session = register(&app, "sender@example.com").await;
    let token = access_token(&session).to_owned();
    let body = json!({"type": "message", "payload": {"to": "someone@example.com",
        "subject": "Invoice", "text": "pay"}});
    for _ in 0..2 {
        let key = reqwest::header::HeaderValue::from_bytes(b"r\xc3\xa9sum\xc3\xa9-1").unwrap();
        let response = app
            .client
            .post(app.url("/api/v1/tasks"))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_422(response, "Idempotency-Key", "non-ASCII key").await;
    }
    assert_eq!(count(&app, "SELECT count(*) FROM tasks").await, 0);
}

async fn expect_422(response: reqwest::Response, field: &str, what: &str) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap_or_default();
    assert_eq!(status, 422, "{what}: {body}");
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(fields.contains(&field), "{what}: {body}");
}

fn name_of(parameter: &Value) -> String {
    parameter["name"].as_str().unwrap().to_owned()
}

/// `template` with `{name}` replaced by `values`, or by `bad` for its name.
fn fill(template: &str, values: &BTreeMap<String, String>, bad: Option<(&str, &str)>) -> String {
    let mut path = template.to_owned();
    for (name, value) in values {
        let value = match bad {
            Some((bad_name, bad_value)) if bad_name == name => bad_value,
            _ => value,
        };
        path = path.replace(&format!("{{{name}}}"), value);
    }
    path
}

fn percent(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            resolve(spec, &spec["components"]["schemas"][name])
        }
        None => match schema["allOf"].as_array() {
            Some(all) if all.len() == 1 => resolve(spec, &all[0]),
            _ => schema,
        },
    }
}

fn sample_param(spec: &Value, schema: &Value) -> String {
    match sample(spec, schema, 0) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// A value of `schema` with every property present, arrays of one item,
/// and text everywhere text may go.
fn sample(spec: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(spec, schema);
    if depth > 8 {
        return Value::Null;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = schema[key].as_array().and_then(|a| a.first()) {
            return sample(spec, first, depth + 1);
        }
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("object") => {
            let mut object = serde_json::Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    object.insert(name.clone(), sample(spec, property, depth + 1));
                }
            }
            Value::Object(object)
        }
        Some("array") => json!([sample(spec, &schema["items"], depth + 1)]),
        Some("integer") | Some("number") => json!(schema["minimum"].as_i64().unwrap_or(1)),
        Some("boolean") => json!(false),
        Some("string") => json!(match schema["format"].as_str() {
            Some("uuid") => uuid::Uuid::now_v7().to_string(),
            Some("date-time") => "2030-01-01T00:00:00Z".to_owned(),
            Some("email") => "someone@example.com".to_owned(),
            _ => "text".to_owned(),
        }),
        // Free-form JSON: text is one thing it may hold.
        _ => json!("text"),
    }
}

/// (JSON pointer, field name as errors name it) of every string in `value`;
/// field names are dotted paths without array indices (`sections.rows.label`).
fn string_leaves(value: &Value, pointer: &str, field: &str) -> Vec<(String, String)> {
    match value {
        Value::String(_) => vec![(pointer.to_owned(), field.to_owned())],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(i, item)| string_leaves(item, &format!("{pointer}/{i}"), field))
            .collect(),
        Value::Object(fields) => fields
            .iter()
            .flat_map(|(name, item)| {
                let dotted = if field.is_empty() {
                    name.clone()
                } else {
                    format!("{field}.{name}")
                };
                string_leaves(item, &format!("{pointer}/{name}"), &dotted)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Rows per table, to show a refused request wrote nothing.
async fn row_counts(app: &TestApp) -> BTreeMap<String, i64> {
    let tables = sqlx::query_scalar!(
        r#"SELECT table_name::text AS "table_name!" FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"#,
    )
    .fetch_all(&app.ctx.pool)
    .await
    .unwrap();
    let mut counts = BTreeMap::new();
    for table in tables {
        let n = rows_in(app, &table).await;
        counts.insert(table, n);
    }
    counts
}

/// The rows of one table. A table name cannot be a bind parameter and the
/// tables are only known at run time, so this statement is built here; the
/// names come from information_schema, not from input.
#[allow(clippy::disallowed_methods)]
async fn rows_in(app: &TestApp, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM \"{table}\"");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&app.ctx.pool)
        .await
        .unwrap()
}
