//! Driving the ledger's batched writes by hand, as named workers would.

use marquee_core::jobs::{self, Claimed, JobOptions, JobStatus, Noop, Release};
use marquee_core::testing::TestContext;
use uuid::Uuid;

use super::enqueue_committed;

/// The history counter slot every hand-made write uses.
pub const SLOT: i16 = 0;

/// A committed no-op job.
pub async fn noop_job(ctx: &TestContext) -> Uuid {
    enqueue_committed(ctx, &Noop::default(), JobOptions::default())
        .await
        .id
}

/// `worker` claims the job, which must be claimable.
pub async fn claim(ctx: &TestContext, id: Uuid, worker: &str) -> Claimed {
    let mut claimed = jobs::claim_batch(&ctx.pool, &[id], worker, SLOT)
        .await
        .unwrap()
        .claimed;
    assert_eq!(claimed.len(), 1, "{worker} claims the job");
    claimed.remove(0)
}

/// `worker` gives the claim back.
pub async fn release(ctx: &TestContext, claimed: &Claimed, worker: &str) {
    jobs::release_batch(&ctx.pool, &[Release::from(claimed)], worker)
        .await
        .unwrap();
}

/// The outcome of `claimed` as one `Finish`.
pub fn outcome(claimed: &Claimed, status: JobStatus) -> jobs::Finish {
    jobs::Finish {
        id: claimed.id,
        status,
        error: (status != JobStatus::Succeeded).then(|| "boom".to_owned()),
        retry_at: (status == JobStatus::Retrying).then(chrono::Utc::now),
        attempt: claimed.attempts,
        claimed_at: claimed.claimed_at,
    }
}

/// `worker` reports the attempt's outcome; whether it was recorded.
pub async fn finish(ctx: &TestContext, claimed: &Claimed, worker: &str, status: JobStatus) -> bool {
    let recorded = jobs::finish_batch(&ctx.pool, &[outcome(claimed, status)], worker, SLOT)
        .await
        .unwrap();
    recorded
        == [jobs::Recorded {
            id: claimed.id,
            claimed_at: claimed.claimed_at,
        }]
}

/// w1 claims the job and stalls; w2 gets it again, logging w1's attempt as
/// lost. Returns both claims.
pub async fn taken_over(ctx: &TestContext, id: Uuid) -> (Claimed, Claimed) {
    let stalled = claim(ctx, id, "w1").await;
    (stalled, claim(ctx, id, "w2").await)
}

/// An operator's cancel of `ids`; the ids it cancelled.
pub async fn cancel(
    pool: &sqlx::PgPool,
    producer: &jobs::Producer,
    ids: &[Uuid],
) -> anyhow::Result<Vec<Uuid>> {
    marquee_core::ops::actions::apply(
        pool,
        producer,
        marquee_core::ops::actions::Action::Cancel,
        ids,
    )
    .await
}

/// (processed, failed) in the minute history, all slots.
pub async fn history(ctx: &TestContext) -> (i64, i64) {
    let row = sqlx::query!(
        r#"SELECT COALESCE(sum(processed), 0)::int8 AS "processed!",
                  COALESCE(sum(failed), 0)::int8 AS "failed!"
           FROM queue_minutes"#
    )
    .fetch_one(&ctx.pool)
    .await
    .unwrap();
    (row.processed, row.failed)
}
