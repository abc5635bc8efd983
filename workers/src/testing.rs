//! Runs a real worker in-process for tests until the ledger is drained.

use std::time::{Duration, Instant};

use marquee_core::testing::TestContext;
use tokio::sync::oneshot;

use crate::{Registry, unique_worker_name};

/// A worker running inside the test process.
pub struct InProcessWorker {
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcessWorker {
    /// Starts a worker on every configured queue of `ctx`.
    pub fn start(ctx: &TestContext, registry: Registry) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let settings = ctx.settings.clone();
        let handle = tokio::spawn(crate::run(
            settings,
            registry,
            unique_worker_name(),
            async move {
                let _ = stopped.await;
                Ok(())
            },
        ));
        Self {
            stop: Some(stop),
            handle,
        }
    }

    /// Graceful stop: waits for in-flight jobs.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.handle).await?
    }
}

/// Runs a worker until no job in the ledger is left unfinished (every row
/// succeeded or dead), then stops it. Panics after `timeout` listing what
/// is still pending.
pub async fn drain(ctx: &TestContext, registry: Registry, timeout: Duration) {
    let worker = InProcessWorker::start(ctx, registry);
    wait_until_drained(ctx, timeout).await;
    worker.stop().await.expect("worker stops cleanly");
}

/// Waits until every ledger row is finished: succeeded, dead or cancelled.
pub async fn wait_until_drained(ctx: &TestContext, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let pending = sqlx::query!(
            "SELECT id, kind, status FROM jobs WHERE status NOT IN ('succeeded', 'dead', 'cancelled') LIMIT 10",
        )
        .fetch_all(&ctx.pool)
        .await
        .expect("read ledger");
        if pending.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "jobs still pending after {timeout:?}: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A real SMTP server process (aiosmtpd, `scripts/smtp_sink.py`) storing each
/// message as a file; recipients starting with `reject` get a 550.
pub struct SmtpSink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    process: std::process::Child,
    folder: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts a sink on a free port.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    /// Starts a sink on `port` and waits until it accepts connections.
    pub fn start_on(port: u16) -> Self {
        let folder = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/smtp_sink.py");
        let process = std::process::Command::new("/usr/bin/python3")
            .args([script, &port.to_string(), folder.path().to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (just services installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "SMTP sink did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            port,
            process,
            folder,
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(self.folder.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort_by_key(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
        });
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Points `settings` at this sink (SMTP, no TLS) and consumes the email
    /// queues too.
    pub fn configure(&self, settings: &mut marquee_core::Settings) {
        settings.email.transport = marquee_core::config::EmailTransport::Smtp;
        settings.email.smtp.port = self.port;
        settings.worker.queues = marquee_core::jobs::queues::ALL.map(str::to_owned).to_vec();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.process.kill().ok();
        self.process.wait().ok();
    }
}

/// A local stand-in for Resend's HTTP API (`scripts/fake_resend.py`, a real
/// process): honours Idempotency-Key as Resend documents it and stores each
/// delivered email as a file.
pub struct FakeResend {
    /// Its port on 127.0.0.1.
    pub port: u16,
    process: std::process::Child,
    folder: tempfile::TempDir,
}

/// The fake's API key.
pub const FAKE_RESEND_KEY: &str = "re_test_key";

impl FakeResend {
    /// Starts one on a free port; each send waits `delay_ms` before it is
    /// delivered and answered (a window to crash in).
    pub fn start(delay_ms: u64) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let folder = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/fake_resend.py");
        let process = std::process::Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(folder.path())
            .args([
                "--api-key",
                FAKE_RESEND_KEY,
                "--delay-ms",
                &delay_ms.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("python3 on PATH");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "fake Resend did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            port,
            process,
            folder,
        }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Points `settings` at it and consumes the email queues too.
    pub fn configure(&self, settings: &mut marquee_core::Settings) {
        settings.email.transport = marquee_core::config::EmailTransport::Resend;
        settings.email.resend.base_url = self.url();
        settings.email.resend.api_key = FAKE_RESEND_KEY.to_owned().into();
        settings.worker.queues = marquee_core::jobs::queues::ALL.map(str::to_owned).to_vec();
    }

    /// The same, as `MARQUEE__…` variables for a child process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MARQUEE__EMAIL__TRANSPORT", "resend".to_owned()),
            ("MARQUEE__EMAIL__RESEND__BASE_URL", self.url()),
            (
                "MARQUEE__EMAIL__RESEND__API_KEY",
                FAKE_RESEND_KEY.to_owned(),
            ),
        ]
    }

    /// Every email delivered, in order: `{id, idempotency_key, received_at, body}`.
    pub fn delivered(&self) -> Vec<serde_json::Value> {
        let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(self.folder.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    /// Its counters: requests, delivered, replays, conflicts, failed, rejected.
    pub async fn stats(&self) -> serde_json::Value {
        reqwest::get(format!("{}/_stats", self.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Makes the next `n` sends fail with `status` (500, 503 or 429).
    pub async fn fail_next(&self, n: u32, status: u16) {
        let response = reqwest::Client::new()
            .post(format!("{}/_control", self.url()))
            .json(&serde_json::json!({"fail_next": n, "fail_status": status}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
}

impl Drop for FakeResend {
    fn drop(&mut self) {
        self.process.kill().ok();
        self.process.wait().ok();
    }
}
