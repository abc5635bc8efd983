//! `noop`: does nothing, or misbehaves on request (see [`Noop`]).

use std::time::Duration;

use marquee_core::jobs::{JobError, Noop};

use crate::registry::JobContext;

/// Runs a noop job.
pub async fn run(job: Noop, ctx: JobContext) -> Result<(), JobError> {
    if job.sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(job.sleep_ms)).await;
    }
    if job.permanent {
        return Err(JobError::permanent("noop asked to fail permanently"));
    }
    if ctx.attempt <= job.fail_attempts as i32 {
        return Err(JobError::retryable(format!(
            "noop asked to fail attempt {}",
            ctx.attempt
        )));
    }
    Ok(())
}
