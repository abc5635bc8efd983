//! The peers of the no-op bench: BullMQ on the same Redis and graphile-worker
//! (batched completion and local queue on) on the same PostgreSQL, run by
//! `benches/peers/bench.mjs` with the same job count and concurrency. Ratios
//! from one run are what count: absolute figures swing on a shared machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One peer's figures, as `bench.mjs` prints them (jobs per second).
#[derive(Debug, serde::Deserialize)]
pub struct PeerRun {
    pub peer: String,
    pub version: String,
    pub enqueue_per_s: f64,
    pub drain_per_s: f64,
    pub end_to_end_per_s: f64,
    /// CPU µs per job over the drain, by process name (see `cpu.rs`).
    #[serde(default)]
    pub drain_cpu_us_per_job: BTreeMap<String, f64>,
}

/// The peers, in the order they run.
pub const PEERS: [&str; 2] = ["bullmq", "graphile"];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/peers")
}

fn works(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs the pinned npm packages once. `None` (with a notice printed)
/// when Node or npm is missing or the install fails: the peers are skipped,
/// never the bench.
pub fn ready() -> Option<()> {
    if !works("node") || !works("npm") {
        println!("peers skipped: `node` and `npm` are needed (apt-get install nodejs npm)");
        return None;
    }
    if dir().join("node_modules").is_dir() {
        return Some(());
    }
    let installed = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        println!("peers skipped: `npm ci` in benches/peers failed");
        return None;
    }
    Some(())
}

/// Runs one peer; `None` (with a notice) if it fails.
pub fn run(peer: &str, jobs: usize, concurrency: usize) -> Option<PeerRun> {
    let output = Command::new("node")
        .arg("bench.mjs")
        .arg(peer)
        .env("JOBS", jobs.to_string())
        .env("CONCURRENCY", concurrency.to_string())
        .current_dir(dir())
        .stderr(Stdio::null())
        .output();
    let parsed = output.ok().filter(|o| o.status.success()).and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        serde_json::from_str::<PeerRun>(text.lines().last()?).ok()
    });
    if parsed.is_none() {
        println!(
            "peer {peer} failed; run `node benches/peers/bench.mjs {peer}` to see why (skipped)"
        );
    }
    parsed
}
