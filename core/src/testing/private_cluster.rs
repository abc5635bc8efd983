//! A Redis Cluster of a test's own: redis-server processes with
//! `--cluster-enabled yes` on loopback ports, joined by
//! `redis-cli --cluster create`. Needs Redis 7 (sharded pub/sub).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a master may be unreachable before its replica takes over.
pub const NODE_TIMEOUT_MS: u64 = 2_000;

/// The cluster's nodes; every process is killed and its directory removed
/// on drop.
pub struct PrivateCluster {
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

struct Node {
    port: u16,
    process: Option<Child>,
}

/// Whether the installed redis-server is 7 or later; the cluster tests
/// skip (with a note) on older ones.
pub fn redis_7_installed() -> bool {
    let Ok(output) = Command::new("redis-server").arg("--version").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .and_then(|version| version.split('.').next()?.parse::<u32>().ok())
        .is_some_and(|major| major >= 7)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl PrivateCluster {
    /// Starts `masters` masters with `replicas` replicas each and waits
    /// until every node reports `cluster_state:ok`.
    pub fn start(masters: usize, replicas: usize) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut cluster = Self {
            nodes: Vec::new(),
            dir,
        };
        // The cluster bus listens on port + 10000: both must be free.
        while cluster.nodes.len() < masters * (1 + replicas) {
            let port = free_port();
            if port > 55_000 || TcpListener::bind(("127.0.0.1", port + 10_000)).is_err() {
                continue;
            }
            let process = cluster.spawn(port);
            cluster.nodes.push(Node {
                port,
                process: Some(process),
            });
        }
        for node in &cluster.nodes {
            wait_for_port(node.port);
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli on PATH");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        cluster.wait_ok(Duration::from_secs(30));
        cluster
    }

    fn spawn(&self, port: u16) -> Child {
        let conf: PathBuf = self.dir.path().join(format!("nodes-{port}.conf"));
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--cluster-enabled", "yes"])
            .arg("--cluster-config-file")
            .arg(conf)
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            // Replicas sync at once (Redis 7 waits 5 s for more replicas to
            // share a transfer): one that never synced cannot take over.
            .args(["--repl-diskless-sync-delay", "0"])
            // Slots of a master that is down (and has no replica) fail;
            // the others go on serving, as many production clusters run.
            .args(["--cluster-require-full-coverage", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (just services installs it)")
    }

    /// Seed URLs, one per node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect()
    }

    /// `redis-cli` on the node at `port`, trimmed output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli on PATH");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// A node that is up.
    fn live_port(&self) -> u16 {
        self.nodes
            .iter()
            .find(|n| n.process.is_some())
            .expect("a live node")
            .port
    }

    /// `redis-cli --cluster check`: whether every slot is covered and the
    /// nodes agree, with its report.
    pub fn check(&self) -> (bool, String) {
        let output = Command::new("redis-cli")
            .args(["--cluster", "check"])
            .arg(format!("127.0.0.1:{}", self.live_port()))
            .output()
            .expect("redis-cli on PATH");
        let report = String::from_utf8_lossy(&output.stdout).into_owned();
        let ok = output.status.success()
            && report.contains("[OK] All 16384 slots covered.")
            && !report.contains("[ERR]");
        (ok, report)
    }

    /// Panics unless [`Self::check`] passes.
    pub fn assert_healthy(&self) {
        let (ok, report) = self.check();
        assert!(ok, "redis-cli --cluster check failed:\n{report}");
    }

    /// Waits until every live node says `cluster_state:ok`, every replica
    /// has synced with its master, and the nodes agree.
    pub fn wait_ok(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let ok = self.nodes.iter().filter(|n| n.process.is_some()).all(|n| {
                let replication = self.cli(n.port, &["INFO", "replication"]);
                self.cli(n.port, &["CLUSTER", "INFO"])
                    .contains("cluster_state:ok")
                    && (!replication.contains("role:slave")
                        || replication.contains("master_link_status:up"))
            });
            if ok && self.check().0 {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The port of the master serving `key`'s slot.
    pub fn master_of(&self, key: &str) -> u16 {
        let slot: u16 = self
            .cli(self.live_port(), &["CLUSTER", "KEYSLOT", key])
            .parse()
            .expect("a slot number");
        self.master_of_slot(slot)
    }

    /// The port of the master serving `slot`, as a live node sees it.
    pub fn master_of_slot(&self, slot: u16) -> u16 {
        // CLUSTER SHARDS would be neater; CLUSTER SLOTS reads the same in
        // redis-cli's plain output: start, end, master ip, port, id, ...
        let text = self.cli(self.live_port(), &["CLUSTER", "SLOTS"]);
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i + 3 < lines.len() {
            let (start, end) = (lines[i].parse::<u16>(), lines[i + 1].parse::<u16>());
            if let (Ok(start), Ok(end)) = (start, end)
                && (start..=end).contains(&slot)
                && lines[i + 2] == "127.0.0.1"
                && let Ok(port) = lines[i + 3].parse::<u16>()
            {
                return port;
            }
            i += 1;
        }
        panic!("no master for slot {slot} in:\n{text}");
    }

    /// Ports of the masters, as a live node sees them.
    pub fn masters(&self) -> Vec<u16> {
        let text = self.cli(self.live_port(), &["CLUSTER", "NODES"]);
        let mut ports: Vec<u16> = text
            .lines()
            .filter(|line| line.contains("master") && !line.contains("fail"))
            .filter_map(|line| {
                let address = line.split_whitespace().nth(1)?;
                address.split([':', '@']).nth(1)?.parse().ok()
            })
            .collect();
        ports.sort_unstable();
        ports
    }

    /// Kills the node on `port` (SIGKILL: a crash).
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node on that port");
        if let Some(mut process) = node.process.take() {
            process.kill().ok();
            process.wait().ok();
        }
    }
}

impl PrivateCluster {
    /// Starts the node on `port` again after [`Self::kill`], with its
    /// cluster config and no data: it rejoins (a killed master as a
    /// replica of the one that replaced it) and resyncs.
    pub fn restart(&mut self, port: u16) {
        let process = self.spawn(port);
        wait_for_port(port);
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node on that port");
        node.process = Some(process);
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "a cluster node did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut process) = node.process.take() {
                process.kill().ok();
                process.wait().ok();
            }
        }
    }
}
