//! The `noop` job on queue `system`: proves the whole path and feeds the
//! benchmark. Its knobs let tests and operators exercise retries, dead jobs,
//! slow jobs and crashes without touching a real handler.

use serde::{Deserialize, Serialize};

use super::{Job, queues};

/// Does nothing, unless asked to misbehave.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Noop {
    /// Sleep this long before finishing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sleep_ms: u64,
    /// Fail (retryably) on the first this-many attempts.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub fail_attempts: u32,
    /// Fail permanently.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub permanent: bool,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

impl Job for Noop {
    const KIND: &'static str = "noop";
    const QUEUE: &'static str = queues::SYSTEM;
}
