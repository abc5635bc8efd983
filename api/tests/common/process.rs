//! The real `marquee-api` binary as a child process over a test's database
//! and Redis namespace: for what only a separate process shows (its memory,
//! a second replica that shares nothing in-process with the test).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use marquee_core::testing::TestContext;

pub struct ApiProcess {
    pub base: String,
    pub client: reqwest::Client,
    child: Child,
}

impl ApiProcess {
    /// Starts `marquee-api serve` on a free port with the test's settings
    /// plus `env` (`MARQUEE__…` overrides), and waits until it is ready.
    pub async fn spawn(ctx: &TestContext, env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_marquee-api"))
            .arg("serve")
            .envs(ctx.process_env())
            .env("MARQUEE__HTTP__PORT", port.to_string())
            .env("MARQUEE__HTTP__METRICS_PORT", "0")
            .env("MARQUEE__LOG__FILTER", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("start marquee-api");
        let process = Self {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = process
                .client
                .get(process.url("/health/ready"))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return process;
            }
            assert!(
                Instant::now() < deadline,
                "marquee-api did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: a crash, with no chance to clean up.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// Sends SIGTERM; `wait` then gives its exit status.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits for the process to exit, at most `timeout`.
    pub async fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
