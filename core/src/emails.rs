//! The `emails` table: one row per email a job sends (its id is the job's,
//! or derived from what the email is about), so a retry finds the row and
//! never sends a message recorded as sent.

use sqlx::PgPool;
use uuid::Uuid;

/// Whether a row with this id exists (in any state).
pub async fn exists(pool: &PgPool, email_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM emails WHERE id = $1) AS "exists!""#,
        email_id
    )
    .fetch_one(pool)
    .await
}

/// Creates the row as `sending`, or marks an existing one `sending` (unless
/// `sent`), and returns its status before: `None` for a new row.
pub async fn mark_sending(
    pool: &PgPool,
    email_id: Uuid,
    to: &str,
    template: &str,
    message_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let created = sqlx::query!(
        "INSERT INTO emails (id, to_address, template, message_id, status)
         VALUES ($1, $2, $3, $4, 'sending') ON CONFLICT (id) DO NOTHING",
        email_id,
        to,
        template,
        message_id,
    )
    .execute(pool)
    .await?;
    if created.rows_affected() == 1 {
        return Ok(None);
    }
    // The row lock makes a concurrent attempt of the same job see the
    // other's committed status, not a stale snapshot.
    let before = sqlx::query_scalar!(
        "UPDATE emails e
         SET status = CASE WHEN old.status = 'sent' THEN 'sent' ELSE 'sending' END,
             interrupted_sends = e.interrupted_sends + (old.status = 'sending')::int
         FROM (SELECT id, status FROM emails WHERE id = $1 FOR UPDATE) old
         WHERE e.id = old.id
         RETURNING old.status",
        email_id,
    )
    .fetch_one(pool)
    .await?;
    Ok(Some(before))
}

/// Records how an attempt ended: `status` is `sent` or `failed`, `error`
/// the failure (kept from an earlier attempt when `None`).
pub async fn record_attempt(
    pool: &PgPool,
    email_id: Uuid,
    status: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE emails SET status = $2, attempts = attempts + 1, last_error = COALESCE($3, last_error),
                sent_at = CASE WHEN $2 = 'sent' THEN now() END
         WHERE id = $1",
        email_id,
        status,
        error,
    )
    .execute(pool)
    .await?;
    Ok(())
}
