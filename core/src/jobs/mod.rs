//! Durable jobs: typed payloads written to the `jobs` table (the outbox and
//! ledger) inside the caller's transaction, then pushed to Redis.
//!
//! Convention: a job's payload holds ids only; the rows it names hold the
//! state. Handlers are idempotent, because delivery is at least once.

mod claim;
mod enqueue;
mod ledger;
mod noop;
mod producer;
mod prune;
mod redis_loss;
pub mod redis_queue;
mod relay;
mod retry;
pub(crate) mod runs;
mod totals;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

pub use claim::{Claimed, Claims, Release, claim_batch, release_batch};
pub use enqueue::{
    DEFAULT_MAX_ATTEMPTS, Enqueued, JobOptions, enqueue, enqueue_many, enqueue_many_deduped,
    enqueue_with,
};
pub use ledger::{Finish, JobRecord, JobStatus, Recorded, find, finish_batch};
pub use noop::Noop;
pub use producer::{Producer, Push, Pushed};
pub use prune::{PruneBatch, PruneQueues, prune_finished};
pub use redis_loss::{LossWatch, marker_key};
pub use relay::{Relayed, relay_once, repush_lost, repush_stale};
pub use retry::{JobError, RetryPolicy};
pub use totals::{QueueTotals, totals};

/// Longest a worker keeps a job claimed while it waits for a handler permit
/// (it claims the jobs it holds ahead of their handlers); past this it gives
/// the claim back and apalis-redis delivers the task again. So a `running`
/// row's `started_at` is at most this long before its handler started, and
/// the relay's `running_after` allows for it.
pub const LONGEST_PERMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Queue names, one Redis list each; workers choose theirs with `--queues`.
pub mod queues {
    /// Housekeeping and the noop job.
    pub const SYSTEM: &str = "system";
    /// Outgoing email.
    pub const EMAIL: &str = "email";
    /// One-time passwords.
    pub const OTP: &str = "otp";
    /// Subscribe, unsubscribe and the newsletter fan-out.
    pub const SUBSCRIPTIONS: &str = "subscriptions";
    /// Paying refunds back, and cancelling a called-off event's bookings.
    pub const REFUNDS: &str = "refunds";
    /// Issuing tickets: signing, rendering QR codes and PDFs, mailing them.
    pub const TICKETS: &str = "tickets";
    /// Offering freed seats and tickets to the waitlist.
    pub const WAITLIST: &str = "waitlist";
    /// Every queue with handlers, e.g. for queue-depth metrics.
    pub const ALL: [&str; 7] = [
        SYSTEM,
        EMAIL,
        OTP,
        SUBSCRIPTIONS,
        REFUNDS,
        TICKETS,
        WAITLIST,
    ];
}

/// The welcome email of a new account. Delivered by the email worker (its
/// own issue); until then it waits in the ledger.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WelcomeEmail {
    /// `users.id`
    pub user_id: Uuid,
}

impl Job for WelcomeEmail {
    const KIND: &'static str = "welcome_email";
    const QUEUE: &'static str = queues::EMAIL;
}

/// A kind of job: where it goes and how its payload looks.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Unique name, stored in `jobs.kind`; the worker routes on it.
    const KIND: &'static str;
    /// The queue it is pushed to.
    const QUEUE: &'static str;
    /// Attempts before the job is dead, wherever it is enqueued (a
    /// [`JobOptions::max_attempts`] overrides it). Jobs that must outlast an
    /// outage, such as those moving money, ask for more.
    const MAX_ATTEMPTS: i32 = DEFAULT_MAX_ATTEMPTS;
}

/// What travels through Redis: only the ledger row id. The payload is read
/// from PostgreSQL when the job is claimed, so Redis never holds the truth.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobRef {
    /// `jobs.id`
    pub id: Uuid,
}

/// The Redis task id of a job's n-th attempt. Attempt 1 uses the row id
/// itself; later attempts get ids derived from it, so a retry pushed twice
/// (by the worker and by the relay) is stored once.
pub fn task_id_for_attempt(job_id: Uuid, attempt: i32) -> Uuid {
    if attempt <= 1 {
        job_id
    } else {
        Uuid::new_v5(&job_id, format!("attempt-{attempt}").as_bytes())
    }
}

tokio::task_local! {
    /// The request id of the HTTP request (or job) that is running now;
    /// jobs enqueued meanwhile inherit it.
    pub static REQUEST_ID: String;
}

/// The current request id, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}
