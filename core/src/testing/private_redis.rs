//! A redis-server of a test's own, for tests that stop Redis or read its
//! `used_memory` and so must not share the machine's.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server on loopback without persistence; killed on drop.
pub struct PrivateRedis {
    /// Its port.
    pub port: u16,
    process: Child,
}

impl PrivateRedis {
    /// Starts one on a free port.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port)
    }

    /// Starts one on `port` (again, after [`PrivateRedis::stop`]).
    pub fn start_on(port: u16) -> Self {
        let process = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            // DEBUG SLEEP stalls it, for tests of a slow Redis.
            .args(["--enable-debug-command", "local"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (just services installs it)");
        let redis = Self { port, process };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "private redis did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (an outage).
    pub fn stop(&mut self) {
        self.process.kill().ok();
        self.process.wait().ok();
    }

    /// Starts it again on its port after [`Self::stop`]: empty, as a
    /// restart without persistence leaves it.
    pub fn start_again(&mut self) {
        let fresh = Self::start_on(self.port);
        let old = std::mem::replace(self, fresh);
        drop(old);
    }

    /// `redis-cli` output of `args`, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli on PATH");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// `INFO memory`'s `used_memory`, in bytes.
    pub fn used_memory(&self) -> i64 {
        self.cli(&["INFO", "memory"])
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory in INFO memory")
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
