//! Operations: what operators read and steer — queues with their counts and
//! pause switch, the job ledger with every attempt, bulk retry / discard /
//! cancel, the worker registry, history and the audit trail — and the
//! retention pass that keeps all of it bounded.
//!
//! Everything here reads PostgreSQL (the source of truth), through indexes
//! and counters that keep each answer cheap at millions of ledger rows.

pub mod actions;
pub mod audit;
pub mod history;
pub mod jobs;
pub mod queues;
pub mod retention;
pub mod workers;

pub use actions::{Action, BulkOutcome, SingleOutcome};
pub use audit::{Actor, AuditEntry};
pub use jobs::{Cursor, JobDetail, JobFilter, JobState, JobSummary};
pub use queues::QueueOverview;
pub use workers::{WorkerInfo, WorkerRow};
