//! Faults injected into real processes (`marquee-api`, `marquee-worker`,
//! `marquee-scheduler`) over a Redis and, where it is the one to fail, a
//! PostgreSQL of the test's own: restarts, wipes, outages and shutdowns
//! under load, counted afterwards. The worker and scheduler binaries are
//! the ones `cargo test --workspace` builds next to `marquee-api`. Tests
//! that take over a minute are `#[ignore]`d here and run by
//! `just test-faults`.

#[path = "../common/mod.rs"]
mod common;

mod checkout_crash;
mod cluster;
mod cluster_failover;
mod mail;
mod postgres_down;
mod redis_loss;
mod sigterm;
mod stack;
mod worker_kill;
