//! Request bodies are bounded: past `http.max_body_bytes` the API answers
//! 413 having read at most that much, whether or not a Content-Length
//! announced the size, so large bodies cannot exhaust its memory.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HUNDRED_MB: usize = 100 * 1024 * 1024;
/// Growth of the process's peak memory we tolerate while a 100 MB body is
/// refused: far below the body, above allocator noise of parallel tests.
const FLAT: u64 = 40 * 1024 * 1024;

#[tokio::test]
async fn a_100_mb_body_with_content_length_is_413_before_it_is_read() {
    let app = TestApp::spawn().await;
    let before = peak_memory();
    let answer = send_raw(
        &app,
        "/api/v1/auth/login",
        HUNDRED_MB,
        Framing::ContentLength,
    )
    .await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_problem(&answer);
    // Answered from the header: the client had not sent most of the body.
    assert!(
        answer.sent_when_answered < 16 * 1024 * 1024,
        "{} bytes sent before the answer",
        answer.sent_when_answered
    );
    let grown = peak_memory().saturating_sub(before);
    assert!(grown < FLAT, "peak memory grew by {grown} bytes");
    assert_eq!(count(&app, "SELECT count(*) FROM refresh_tokens").await, 0);
}

#[tokio::test]
async fn a_100_mb_chunked_body_is_413_after_reading_only_the_limit() {
    let app = TestApp::spawn().await;
    let before = peak_memory();
    let answer = send_raw(&app, "/api/v1/auth/login", HUNDRED_MB, Framing::Chunked).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_problem(&answer);
    assert!(
        answer.sent_when_answered < 16 * 1024 * 1024,
        "{} bytes sent before the answer",
        answer.sent_when_answered
    );
    let grown = peak_memory().saturating_sub(before);
    assert!(grown < FLAT, "peak memory grew by {grown} bytes");
}

#[tokio::test]
async fn the_limit_is_configurable_and_applies_to_every_route() {
    let mut ctx = marquee_core::testing::TestContext::new().await;
    ctx.settings.http.max_body_bytes = 1024;
    let app = TestApp::spawn_with(ctx).await;
    let long_name = "n".repeat(2000);
    let body = serde_json::json!({"email": "big@example.com", "password": "correct horse", "name": long_name});
    let response = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/register",
        None,
        Some(body),
    )
    .await;
    let problem = problem(response, 413).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("1024"),
        "{problem}"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM users").await, 0);
    // Under the limit, the same route works.
    register(&app, "small@example.com").await;
}

#[tokio::test]
async fn a_maximal_venue_layout_fits_under_the_default_limit() {
    let app = TestApp::spawn().await;
    let alice = organizer(&app, "alice@example.com").await;
    // 50 sections x 100 rows x 100 seats with the longest names and labels
    // (core::catalog::venues limits); one row of 101 seats makes it a 422,
    // so the test proves the body was read and parsed, without 500,000 seats.
    let sections: Vec<serde_json::Value> = (0..50)
        .map(|s| {
            let rows: Vec<serde_json::Value> = (0..100)
                .map(|r| {
                    let seats = if s == 49 && r == 99 { 101 } else { 100 };
                    serde_json::json!({"label": format!("{s:02}{r:02}LLLLLL"), "seats": seats})
                })
                .collect();
            serde_json::json!({"name": format!("{s:02}{}", "N".repeat(98)), "rows": rows})
        })
        .collect();
    let body = serde_json::json!({"name": "Arena", "sections": sections});
    let size = serde_json::to_vec(&body).unwrap().len();
    assert!(size > 128 * 1024, "a maximal layout is {size} bytes");
    let response = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/venues",
        Some(&alice),
        Some(body),
    )
    .await;
    let problem = problem(response, 422).await;
    assert_eq!(problem["errors"][0]["field"], "sections.rows.seats");
    assert_eq!(count(&app, "SELECT count(*) FROM venues").await, 0);
}

enum Framing {
    ContentLength,
    Chunked,
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
    sent_when_answered: usize,
}

fn assert_problem(answer: &Answer) {
    assert_eq!(answer.content_type, "application/problem+json");
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["status"], answer.status);
}

/// POSTs `total` bytes of JSON-ish filler over a raw connection, writing
/// and reading at once (a client that waits to finish writing never sees
/// an early answer), and notes how much was sent when the answer came.
async fn send_raw(app: &TestApp, path: &str, total: usize, framing: Framing) -> Answer {
    let address = app.base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sent = Arc::new(AtomicUsize::new(0));
    let framing_header = match framing {
        Framing::ContentLength => format!("content-length: {total}"),
        Framing::Chunked => "transfer-encoding: chunked".to_owned(),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n{framing_header}\r\n\r\n"
    );
    let counter = sent.clone();
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        while counter.load(Ordering::Relaxed) < total {
            match framing {
                Framing::ContentLength => writer.write_all(&chunk).await?,
                Framing::Chunked => {
                    writer
                        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                        .await?;
                    writer.write_all(&chunk).await?;
                    writer.write_all(b"\r\n").await?;
                }
            }
            counter.fetch_add(chunk.len(), Ordering::Relaxed);
        }
        if let Framing::Chunked = framing {
            writer.write_all(b"0\r\n\r\n").await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 8192];
    let mut sent_when_answered = None;
    let response = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let n = reader.read(&mut buffer).await.expect("reading the answer");
            assert!(n > 0, "connection closed without an answer");
            sent_when_answered.get_or_insert(sent.load(Ordering::Relaxed));
            received.extend_from_slice(&buffer[..n]);
            if let Some(answer) = parse_response(&received) {
                return answer;
            }
        }
    })
    .await
    .expect("an answer within a minute");
    // The server may close before the client is done; that is its right.
    let _ = writing.await;
    let (status, content_type, body) = response;
    Answer {
        status,
        content_type,
        body,
        sent_when_answered: sent_when_answered.unwrap_or_default(),
    }
}

/// Status, content type and body once a whole response is in `bytes`.
fn parse_response(bytes: &[u8]) -> Option<(u16, String, String)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..end]).unwrap().to_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let header = |name: &str| {
        head.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .map(|v| v.trim().to_owned())
    };
    let length: usize = header("content-length")?.parse().ok()?;
    let body = bytes.get(end..end + length)?;
    Some((
        status,
        header("content-type").unwrap_or_default(),
        String::from_utf8_lossy(body).into_owned(),
    ))
}

/// VmHWM of this process (the server runs in it): its peak resident memory.
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib * 1024
}

/// A client that announces a body and then stalls gets 408 once
/// `http.body_read_timeout_seconds` passes, and the connection is closed:
/// stalled bodies cannot pin connections and their buffers for ever.
#[tokio::test]
async fn a_stalled_body_is_408_after_the_read_timeout() {
    let mut ctx = marquee_core::testing::TestContext::new().await;
    ctx.settings.http.body_read_timeout_seconds = 1;
    let app = TestApp::spawn_with(ctx).await;
    let mut stream = app.stall_a_sign_in_body().await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
    read.await.expect("the API answers and closes").unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}

/// An operation that takes no body still has its body read by the boundary:
/// too large is 413 there too, and the document lists it (the contract
/// checker in `common` fails this test otherwise).
#[tokio::test]
async fn a_large_body_on_an_operation_without_one_is_a_documented_413() {
    let mut ctx = marquee_core::testing::TestContext::new().await;
    ctx.settings.http.max_body_bytes = 1024;
    let app = TestApp::spawn_with(ctx).await;
    let response = app
        .client
        .get(app.url("/api/v1/events"))
        .header("content-type", "application/json")
        .body("x".repeat(4096))
        .send()
        .await
        .unwrap();
    problem(response, 413).await;
}
