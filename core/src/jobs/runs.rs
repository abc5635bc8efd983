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

/// Which of `ids` have a run, or (with `older_than`) a run that started
/// longer ago than that. Call it once their rows are locked (by
/// [`lock_rows`] or any `FOR UPDATE`) and in a later statement.
pub(crate) async fn with_runs(
    tx: &mut PgConnection,
    ids: &[Uuid],
    older_than: Option<std::time::Duration>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar!(
        "SELECT job_id FROM job_runs
         WHERE job_id = ANY($1)
           AND ($2::float8 IS NULL OR started_at < now() - make_interval(secs => $2))",
        ids,
        older_than.map(|d| d.as_secs_f64()),
    )
    .fetch_all(tx)
    .await
}
