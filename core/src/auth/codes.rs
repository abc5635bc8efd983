//! One-time codes by email: 6 digits derived from a random per-code seed
//! (see [`super::code_seed`]), stored hashed, valid 10 minutes, usable once,
//! locked after 5 wrong tries. A new code for the same person and purpose
//! voids the previous one.

use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::jobs::{Job, queues};

/// How long a code lives.
pub const CODE_TTL_MINUTES: i64 = 10;
/// Wrong tries before a code locks.
pub const MAX_WRONG_TRIES: i32 = 5;

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// `POST /auth/password-reset/confirm`
    PasswordReset,
    /// `POST /auth/verify-email/confirm`
    VerifyEmail,
}

/// Generates, stores (hashed) and emails a code. The handler belongs to the
/// email queue; the job carries only the row id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendCode {
    /// `one_time_codes.id`
    pub code_id: Uuid,
}

impl Job for SendCode {
    const KIND: &'static str = "send_code";
    const QUEUE: &'static str = queues::EMAIL;
}

/// Why a code was refused. The API answers all alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Wrong, used, voided, expired or never issued.
    #[error("invalid or expired code")]
    Invalid,
    /// Too many wrong tries.
    #[error("too many wrong tries; request a new code")]
    Locked,
}

/// Whom a code goes to, and what for.
#[derive(Debug, Clone)]
pub struct CodeRecipient {
    /// The account's address.
    pub email: String,
    /// The account's display name.
    pub name: String,
    /// What the code is for.
    pub purpose: Purpose,
}

/// The account a code row belongs to; `None` if the row is gone.
pub async fn recipient(
    db: impl sqlx::PgExecutor<'_>,
    code_id: Uuid,
) -> Result<Option<CodeRecipient>, sqlx::Error> {
    sqlx::query_as!(
        CodeRecipient,
        r#"SELECT u.email, u.name, c.purpose AS "purpose: Purpose"
         FROM one_time_codes c JOIN users u ON u.id = c.user_id WHERE c.id = $1"#,
        code_id,
    )
    .fetch_optional(db)
    .await
}

/// Creates a pending code row (no code yet) and voids older ones.
pub async fn request(
    conn: &mut PgConnection,
    user_id: Uuid,
    purpose: Purpose,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query!(
        "UPDATE one_time_codes SET voided_at = now()
         WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL AND voided_at IS NULL",
        user_id,
        purpose as Purpose,
    )
    .execute(&mut *conn)
    .await?;
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO one_time_codes (id, user_id, purpose, expires_at, seed) VALUES ($1, $2, $3, $4, $5)",
        id,
        user_id,
        purpose as Purpose,
        Utc::now() + Duration::minutes(CODE_TTL_MINUTES),
        super::code_seed::new_seed(),
    )
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// The email job's step: derives the code from the row's seed and stores
/// its hash (once). Every call returns the same code, so a job that runs
/// again after a crash emails exactly what verifies. `None` if the row is
/// gone, used, voided or expired.
pub async fn issue(
    conn: &mut PgConnection,
    code_id: Uuid,
    pepper: &[u8],
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT user_id, purpose AS "purpose: Purpose", seed, code_hash IS NULL AS "unhashed!"
         FROM one_time_codes
         WHERE id = $1 AND used_at IS NULL AND voided_at IS NULL AND expires_at > now()
         FOR UPDATE"#,
        code_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let code = super::code_seed::code(pepper, &row.seed, 6);
    if row.unhashed {
        sqlx::query!(
            "UPDATE one_time_codes SET code_hash = $2 WHERE id = $1",
            code_id,
            hash(pepper, row.user_id, row.purpose, &code),
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(Some(code))
}

/// Spends the user's current code for `purpose` if `code` matches. Run in a
/// transaction and commit even on failure, so wrong tries are counted.
pub async fn consume(
    conn: &mut PgConnection,
    user_id: Uuid,
    purpose: Purpose,
    code: &str,
    pepper: &[u8],
) -> Result<Result<(), CodeError>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT id, code_hash, attempts FROM one_time_codes
         WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL AND voided_at IS NULL AND expires_at > now()
         ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
        user_id,
        purpose as Purpose,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Err(CodeError::Invalid));
    };
    let (id, attempts) = (row.id, row.attempts);
    let Some(stored) = row.code_hash else {
        return Ok(Err(CodeError::Invalid));
    };
    if attempts >= MAX_WRONG_TRIES {
        return Ok(Err(CodeError::Locked));
    }
    if stored != hash(pepper, user_id, purpose, code.trim()) {
        sqlx::query!(
            "UPDATE one_time_codes SET attempts = attempts + 1 WHERE id = $1",
            id,
        )
        .execute(&mut *conn)
        .await?;
        return Ok(Err(CodeError::Invalid));
    }
    sqlx::query!(
        "UPDATE one_time_codes SET used_at = now() WHERE id = $1",
        id
    )
    .execute(&mut *conn)
    .await?;
    Ok(Ok(()))
}

/// Six digits are guessable offline, so the hash is keyed with a server
/// secret (the JWT secret) and bound to the user and purpose.
fn hash(pepper: &[u8], user_id: Uuid, purpose: Purpose, code: &str) -> Vec<u8> {
    let mut digest = Sha256::new();
    digest.update(pepper);
    digest.update(user_id.as_bytes());
    digest.update([purpose as u8]);
    digest.update(code.as_bytes());
    digest.finalize().to_vec()
}
