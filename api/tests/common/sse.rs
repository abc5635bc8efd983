//! A minimal Server-Sent-Events reader for tests: connects, then yields
//! each event (`event`, `id`, JSON `data`) or heartbeat comment.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<i64>,
    pub data: Value,
}

pub struct Sse {
    body: BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
    /// Heartbeat comments seen so far.
    pub heartbeats: usize,
}

impl Sse {
    /// Opens `url`; panics unless the answer is a 200 event stream.
    pub async fn open(
        client: &reqwest::Client,
        url: &str,
        token: Option<&str>,
        last_event_id: Option<&str>,
    ) -> Self {
        let response = Self::request(client, url, token, last_event_id).await;
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{url}"
        );
        Self::from_response(response)
    }

    pub async fn request(
        client: &reqwest::Client,
        url: &str,
        token: Option<&str>,
        last_event_id: Option<&str>,
    ) -> reqwest::Response {
        let mut request = client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        request.send().await.unwrap()
    }

    pub fn from_response(response: reqwest::Response) -> Self {
        let body = response
            .bytes_stream()
            .map(|chunk| chunk.map(|b| b.to_vec()))
            .boxed();
        Self {
            body,
            buffer: String::new(),
            heartbeats: 0,
        }
    }

    /// The next event within `timeout`; `None` on timeout or end of stream.
    pub async fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = self.parse(&block) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next()).await;
            match chunk {
                Ok(Some(Ok(bytes))) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                _ => return None,
            }
        }
    }

    /// Whether the server ended the stream within `timeout`.
    pub async fn ended(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }

    /// The next event of kind `event` whose data satisfies `wanted`.
    pub async fn until(
        &mut self,
        event: &str,
        timeout: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let next = self.next(left).await?;
            if next.event == event && wanted(&next.data) {
                return Some(next);
            }
        }
    }

    fn parse(&mut self, block: &str) -> Option<SseEvent> {
        let (mut event, mut id, mut data) = ("message".to_owned(), None, String::new());
        for line in block.lines() {
            if line.starts_with(':') {
                self.heartbeats += 1;
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if data.is_empty() {
            return None;
        }
        Some(SseEvent {
            event,
            id,
            data: serde_json::from_str(&data).unwrap(),
        })
    }
}
