//! `Idempotency-Key` for writes that cost money: the first request with a
//! key runs; a replay with the same body gets the stored response; another
//! body gets 409. Only successes are stored: after a failure the key is
//! free, so the client can retry. Each claim carries a token: a first
//! request slow enough that its claim was taken over (after a minute, as if
//! it had crashed) can neither store its response over an answer the newer
//! request stored nor free the newer claim. It still stores its answer when
//! none is stored yet (the newer request failed, or still runs), so a
//! replay finds the booking that was made.

use sqlx::PgPool;
use uuid::Uuid;

/// What to do with a request carrying a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// First use: run it, then `finish` or `abandon` with this claim.
    Fresh(Claim),
    /// Seen and answered: send this again.
    Replay {
        /// HTTP status.
        status: u16,
        /// JSON body.
        body: serde_json::Value,
    },
    /// The key was used with another request body.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// One request's hold on a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    token: Uuid,
    request_hash: Vec<u8>,
}

/// Claims `key` for this request (per user and scope). Keys older than a
/// day are forgotten; a claim left unfinished for a minute (a crash) is
/// taken over.
pub async fn begin(
    pool: &PgPool,
    user: Uuid,
    scope: &str,
    key: &str,
    request_hash: &[u8],
) -> Result<Begin, sqlx::Error> {
    sqlx::query!(
        "DELETE FROM idempotent_responses
         WHERE user_id = $1 AND scope = $2 AND key = $3
           AND (created_at < now() - interval '24 hours'
                OR (status IS NULL AND created_at < now() - interval '1 minute'))",
        user,
        scope,
        key,
    )
    .execute(pool)
    .await?;
    let claim = Uuid::new_v4();
    let claimed = sqlx::query!(
        "INSERT INTO idempotent_responses (user_id, scope, key, request_hash, claim)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        user,
        scope,
        key,
        request_hash,
        claim,
    )
    .execute(pool)
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(Begin::Fresh(Claim {
            token: claim,
            request_hash: request_hash.to_vec(),
        }));
    }
    let stored = sqlx::query!(
        "SELECT request_hash, status, body FROM idempotent_responses
         WHERE user_id = $1 AND scope = $2 AND key = $3",
        user,
        scope,
        key,
    )
    .fetch_optional(pool)
    .await?;
    Ok(match stored {
        // Finished and forgotten in between: treat as in progress; the
        // client's retry will find the key free.
        None => Begin::InProgress,
        Some(row) if row.request_hash != request_hash => Begin::Mismatch,
        Some(row) => match (row.status, row.body) {
            (Some(status), Some(body)) => Begin::Replay {
                status: status as u16,
                body,
            },
            _ => Begin::InProgress,
        },
    })
}

/// Stores the response of a successful request unless the key already has
/// an answer (stored by a request that took the key over) or now belongs
/// to another request body; `false` when it was not stored. A claim taken
/// over, or freed by the request that took it over and failed, is
/// replaced.
pub async fn finish(
    pool: &PgPool,
    user: Uuid,
    scope: &str,
    key: &str,
    claim: &Claim,
    status: u16,
    body: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let stored = sqlx::query!(
        "INSERT INTO idempotent_responses AS r (user_id, scope, key, request_hash, claim, status, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (user_id, scope, key) DO UPDATE
             SET claim = excluded.claim, status = excluded.status, body = excluded.body
             WHERE r.status IS NULL AND r.request_hash = excluded.request_hash",
        user,
        scope,
        key,
        claim.request_hash,
        claim.token,
        i32::from(status),
        body,
    )
    .execute(pool)
    .await?;
    Ok(stored.rows_affected() == 1)
}

/// Frees the key after a failed request, if `claim` still holds it.
pub async fn abandon(
    pool: &PgPool,
    user: Uuid,
    scope: &str,
    key: &str,
    claim: &Claim,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM idempotent_responses
         WHERE user_id = $1 AND scope = $2 AND key = $3 AND claim = $4 AND status IS NULL",
        user,
        scope,
        key,
        claim.token,
    )
    .execute(pool)
    .await?;
    Ok(())
}
