//! One-time passwords for applications: digits derived from a random
//! per-OTP seed (see [`crate::auth::code_seed`]), stored as a keyed hash with
//! their expiry, verified once, locked after 5 wrong tries; a new OTP for the same
//! owner, address and purpose voids the previous one.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::Invalid;
use crate::jobs::{Job, queues};

/// Wrong tries before an OTP locks.
pub const MAX_WRONG_TRIES: i32 = 5;

/// An `otp` task's payload, validated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OtpPayload {
    /// Recipient address (lower-cased).
    pub to: String,
    /// Digits, 4-8.
    pub length: i32,
    /// Free text separating OTPs of one address (e.g. `login`).
    pub purpose: String,
    /// Validity, 60-3600 seconds.
    pub ttl_seconds: i32,
}

impl OtpPayload {
    /// Checks every field, with defaults: length 6, ttl 600 s, purpose "".
    pub fn parse(
        to: &str,
        length: Option<i64>,
        purpose: Option<&str>,
        ttl: Option<i64>,
    ) -> Result<Self, Vec<Invalid>> {
        let mut problems = Vec::new();
        let to = to.trim().to_lowercase();
        if to.parse::<email_address::EmailAddress>().is_err() {
            problems.push(Invalid::new("payload.to", "must be a valid email address"));
        }
        let length = length.unwrap_or(6);
        if !(4..=8).contains(&length) {
            problems.push(Invalid::new("payload.length", "must be 4-8"));
        }
        let ttl = ttl.unwrap_or(600);
        if !(60..=3600).contains(&ttl) {
            problems.push(Invalid::new("payload.ttl_seconds", "must be 60-3600"));
        }
        let purpose = purpose.unwrap_or_default().trim().to_owned();
        if purpose.chars().count() > 100 {
            problems.push(Invalid::new(
                "payload.purpose",
                "must be at most 100 characters",
            ));
        }
        if problems.is_empty() {
            Ok(Self {
                to,
                length: length as i32,
                purpose,
                ttl_seconds: ttl as i32,
            })
        } else {
            Err(problems)
        }
    }
}

/// Draws, stores and emails an OTP (queue `otp`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IssueOtp {
    /// `otps.id` (also the task's and this job's id).
    pub otp_id: Uuid,
}

impl Job for IssueOtp {
    const KIND: &'static str = "issue_otp";
    const QUEUE: &'static str = queues::OTP;
}

/// Creates a pending OTP with id `id`, voiding older ones of the same
/// owner, address and purpose.
pub async fn request(
    conn: &mut PgConnection,
    id: Uuid,
    owner_id: Uuid,
    otp: &OtpPayload,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE otps SET voided_at = now()
         WHERE owner_id = $1 AND to_address = $2 AND purpose = $3 AND used_at IS NULL AND voided_at IS NULL",
        owner_id,
        otp.to,
        otp.purpose,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO otps (id, owner_id, to_address, purpose, length, ttl_seconds, seed)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id,
        owner_id,
        otp.to,
        otp.purpose,
        otp.length,
        otp.ttl_seconds,
        crate::auth::code_seed::new_seed(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The job's step: derives the code from the OTP's seed and stores its hash
/// and expiry (once). Every call returns the same code, so a job that runs
/// again after a crash emails exactly what verifies. Returns (address,
/// code, ttl), or `None` if used, voided or expired.
pub async fn issue(
    conn: &mut PgConnection,
    id: Uuid,
    pepper: &[u8],
) -> Result<Option<(String, String, i32)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT to_address, length, ttl_seconds, seed, code_hash IS NULL AS "unhashed!" FROM otps
         WHERE id = $1 AND used_at IS NULL AND voided_at IS NULL
           AND (expires_at IS NULL OR expires_at > now())
         FOR UPDATE"#,
        id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let code = crate::auth::code_seed::code(pepper, &row.seed, row.length as u32);
    if row.unhashed {
        sqlx::query!(
            "UPDATE otps SET code_hash = $2, expires_at = now() + make_interval(secs => $3) WHERE id = $1",
            id,
            hash(pepper, id, &code),
            f64::from(row.ttl_seconds),
        )
        .execute(conn)
        .await?;
    }
    Ok(Some((row.to_address, code, row.ttl_seconds)))
}

/// Checks `code` against the owner's current OTP for the address and
/// purpose: true exactly once; false when wrong, used, expired or locked.
/// Commit even when false, so wrong tries count.
pub async fn verify(
    conn: &mut PgConnection,
    owner_id: Uuid,
    to: &str,
    purpose: &str,
    code: &str,
    pepper: &[u8],
) -> Result<bool, sqlx::Error> {
    // code_hash is not null: the WHERE clause says so.
    let row = sqlx::query!(
        r#"SELECT id, code_hash AS "code_hash!", attempts FROM otps
         WHERE owner_id = $1 AND to_address = $2 AND purpose = $3 AND code_hash IS NOT NULL
           AND used_at IS NULL AND voided_at IS NULL AND expires_at > now()
         ORDER BY created_at DESC LIMIT 1 FOR UPDATE"#,
        owner_id,
        to.trim().to_lowercase(),
        purpose.trim(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let id = row.id;
    if row.attempts >= MAX_WRONG_TRIES {
        return Ok(false);
    }
    if row.code_hash != hash(pepper, id, code.trim()) {
        sqlx::query!("UPDATE otps SET attempts = attempts + 1 WHERE id = $1", id)
            .execute(conn)
            .await?;
        return Ok(false);
    }
    sqlx::query!("UPDATE otps SET used_at = now() WHERE id = $1", id)
        .execute(conn)
        .await?;
    Ok(true)
}

/// Keyed with a server secret (short codes are guessable offline) and
/// salted with the OTP's id.
fn hash(pepper: &[u8], id: Uuid, code: &str) -> Vec<u8> {
    let mut digest = Sha256::new();
    digest.update(pepper);
    digest.update(id.as_bytes());
    digest.update(code.as_bytes());
    digest.finalize().to_vec()
}
