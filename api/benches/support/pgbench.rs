//! This machine's PostgreSQL ceiling for single-row updates, measured by
//! pgbench on a scratch database, to compare a bench's rates with.

use std::process::Command;

/// Runs pgbench (50 clients, 10 s of single-row `UPDATE`s), prints its
/// line and returns the transactions per second; `None` without pgbench.
pub fn single_row_update_tps() -> Option<f64> {
    let bin = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|dir| format!("{}/pgbench", dir.trim()))
        .unwrap_or_else(|| "pgbench".to_owned());
    let script = std::env::temp_dir().join("marquee-update-one-row.sql");
    let _ = std::fs::write(
        &script,
        "\\set aid random(1, 100000)\nUPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n",
    );
    let psql = |sql: &str| {
        Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-qc", sql])
            .status()
    };
    let _ = psql("DROP DATABASE IF EXISTS marquee_pgbench");
    let _ = psql("CREATE DATABASE marquee_pgbench");
    let connect = ["-h", "127.0.0.1", "-U", "postgres"];
    let init = Command::new(&bin)
        .args(connect)
        .args(["-i", "-q", "-s", "1", "marquee_pgbench"])
        .output();
    let run = Command::new(&bin)
        .args(connect)
        .args(["-n", "-c", "50", "-j", "2", "-T", "10", "-f"])
        .arg(&script)
        .arg("marquee_pgbench")
        .output();
    let _ = psql("DROP DATABASE IF EXISTS marquee_pgbench");
    let (Ok(_), Ok(out)) = (init, run) else {
        println!("PostgreSQL ceiling: pgbench not found (apt-get install postgresql-contrib)");
        return None;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().find(|l| l.starts_with("tps")) else {
        println!(
            "PostgreSQL ceiling: pgbench reported no tps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    };
    println!("PostgreSQL ceiling, single-row UPDATE (pgbench -c 50 -j 2 -T 10): {line}");
    // "tps = 12345.678901 (without initial connection time)"
    line.split_whitespace().nth(2)?.parse().ok()
}
