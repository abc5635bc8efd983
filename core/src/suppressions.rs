//! Suppression lists: per account, the addresses its mail must not go to.
//! A permanent refusal of the recipient by the mail server, or an
//! unsubscribe from all of the account's mail, adds one; the owner reviews
//! and lifts them. Senders check before they touch the transport.
//! Addresses are compared as mailboxes (SQL `mail_address`): a display
//! name, case and surrounding space make no other address.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The mail server refused the recipient for good (5xx on RCPT).
    Bounced,
    /// The person unsubscribed from all of the owner's mail.
    Unsubscribed,
}

impl Reason {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bounced => "bounced",
            Self::Unsubscribed => "unsubscribed",
        }
    }
}

/// One entry.
#[derive(Debug, Clone)]
pub struct Suppression {
    /// The mailbox: lower-cased, without a display name.
    pub address: String,
    /// `bounced` or `unsubscribed`.
    pub reason: String,
    /// The server's answer, for a bounce.
    pub detail: Option<String>,
    /// Since when.
    pub created_at: DateTime<Utc>,
}

/// Suppresses `address` for `owner`; an existing entry is kept as it is.
pub async fn add(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    address: &str,
    reason: Reason,
    detail: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO suppressions (owner_id, address, reason, detail)
         VALUES ($1, mail_address($2), $3, $4)
         ON CONFLICT DO NOTHING",
        owner,
        address,
        reason.as_str(),
        detail,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Whether `owner`'s mail must not go to `address`.
pub async fn is_suppressed(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    address: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM suppressions
                          WHERE owner_id = $1 AND address = mail_address($2)) AS "found!""#,
        owner,
        address,
    )
    .fetch_one(db)
    .await
}

/// A page of `owner`'s entries, newest first, and how many there are.
pub async fn list(
    pool: &PgPool,
    owner: Uuid,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Suppression>, i64), sqlx::Error> {
    let rows = sqlx::query_as!(
        Suppression,
        "SELECT address, reason, detail, created_at FROM suppressions
         WHERE owner_id = $1 ORDER BY created_at DESC, address LIMIT $2 OFFSET $3",
        owner,
        limit,
        offset,
    )
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM suppressions WHERE owner_id = $1"#,
        owner
    )
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}

/// Lifts `owner`'s entry for `address`; `false` if there was none.
pub async fn lift(pool: &PgPool, owner: Uuid, address: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "DELETE FROM suppressions WHERE owner_id = $1 AND address = mail_address($2)",
        owner,
        address,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
