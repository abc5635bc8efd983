//! Runs (`job_runs`): the attempts under way. A claim locks its job's
//! ledger row and writes a run, but writes no new version of the row. A
//! statement that waited for that lock therefore re-checks the row without
//! seeing the run, because its snapshot predates the claim. Whoever must
//! not act on a running job locks the rows first, here, and looks for runs
//! in a later statement of the same transaction: that statement's snapshot
//! sees every run started before the lock, and no claim can start one until
//! the transaction ends.

use sqlx::PgConnection;
use uuid::Uuid;

/// Locks the ledger rows of `ids` until the transaction ends, in id order
/// like every batched writer, so two lockers wait instead of deadlocking.
pub(crate) async fn lock_rows(tx: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "SELECT id FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        ids
    )
    .fetch_all(tx)
    .await?;
    Ok(())
}

/// Which of `ids` have a run. Call it once their rows are locked (by
/// [`lock_rows`] or any `FOR UPDATE`) and in a later statement.
pub(crate) async fn running(tx: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!("SELECT job_id FROM job_runs WHERE job_id = ANY($1)", ids)
        .fetch_all(tx)
        .await
}

/// Which of `ids` have a run older than `secs` seconds. Like [`running`],
/// call it once their rows are locked and in a later statement.
pub(crate) async fn older_than(
    tx: &mut PgConnection,
    ids: &[Uuid],
    secs: f64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT job_id FROM job_runs
         WHERE job_id = ANY($1) AND started_at < now() - make_interval(secs => $2)",
        ids,
        secs
    )
    .fetch_all(tx)
    .await
}
