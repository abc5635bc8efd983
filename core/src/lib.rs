//! Marquee's shared core: configuration, database, Redis, jobs and
//! telemetry. No HTTP and no worker loop live here, so every binary can
//! depend on it.

pub mod auth;
pub mod booking;
pub mod catalog;
pub mod config;
pub mod db;
pub mod emails;
pub mod idempotency;
pub mod insights;
pub mod jobs;
pub mod live;
pub mod metrics;
pub mod money;
pub mod ops;
pub mod otp;
pub mod rate_limit;
pub mod redis;
pub mod shutdown;
pub mod subscriptions;
pub mod suppressions;
pub mod tasks;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod text;
pub mod tickets;
pub mod waitlist;

pub use config::Settings;
