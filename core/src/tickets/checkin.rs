//! Check-in at the door: one entry per ticket, however many scanners race.
//!
//! A scan is one conditional `UPDATE … WHERE status = 'valid'`: of any
//! number of concurrent scans exactly one changes the row; the others read
//! it back as `already_used` (or `ok` again when they carry the winner's
//! nonce, i.e. they are its retries).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{keys, secret, token};

/// One scan of a code at the door.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The QR token, or the secret typed by hand.
    pub code: String,
    /// Set by the device per scan; a retry with the same nonce is the same scan.
    pub nonce: Option<String>,
    /// Which door device (or person) scanned.
    pub device: String,
    /// When it was scanned, for scans uploaded later; `None` is now.
    pub scanned_at: Option<DateTime<Utc>>,
}

/// The answer for the door staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Come in.
    Ok,
    /// This ticket already came in.
    AlreadyUsed,
    /// Cancelled, reissued, or outside its validity window.
    Revoked,
    /// A real ticket, for another event.
    WrongEvent,
    /// No such ticket, or a forged or damaged code.
    Unknown,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::AlreadyUsed => "already_used",
            Self::Revoked => "revoked",
            Self::WrongEvent => "wrong_event",
            Self::Unknown => "unknown",
        }
    }
}

/// A scan's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// What to do at the door.
    pub status: Status,
    /// The ticket, when the code named a real one of this event.
    pub ticket_id: Option<Uuid>,
    /// Seat or ticket type.
    pub label: Option<String>,
    /// The holder's first name, to match against the person.
    pub holder: Option<String>,
    /// For `ok` and `already_used`: when the ticket came in, and where.
    pub used_at: Option<DateTime<Utc>>,
    /// The device that let it in.
    pub used_device: Option<String>,
}

impl Outcome {
    fn bare(status: Status) -> Self {
        Self {
            status,
            ticket_id: None,
            label: None,
            holder: None,
            used_at: None,
            used_device: None,
        }
    }
}

/// A code that cannot be a ticket's (bad input, 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub &'static str);

/// Largest code accepted.
pub const MAX_CODE: usize = token::MAX_TOKEN;

/// Checks `scan` in at `event`.
pub async fn check_in(pool: &PgPool, event: Uuid, scan: &Scan) -> Result<Outcome, CheckinError> {
    let outcome = decide(pool, event, scan).await?;
    metrics::counter!("marquee_checkins_total", "result" => outcome.status.as_str()).increment(1);
    if outcome.status == Status::Unknown {
        tracing::warn!(event.id = %event, device = %scan.device, "check-in of an unknown code");
    }
    Ok(outcome)
}

async fn decide(pool: &PgPool, event: Uuid, scan: &Scan) -> Result<Outcome, CheckinError> {
    let code = scan.code.trim();
    if code.is_empty() || code.len() > MAX_CODE {
        return Err(Malformed("code: 1-256 characters").into());
    }
    let ticket = if code.contains('.') {
        match from_token(pool, event, code, scan.scanned_at).await? {
            Ok(ticket) => ticket,
            Err(outcome) => return Ok(outcome),
        }
    } else {
        let secret = secret::normalize(code).ok_or(Malformed(
            "code: neither a ticket's QR token nor its 28-character code",
        ))?;
        let found = sqlx::query!("SELECT id, event_id FROM tickets WHERE secret = $1", secret)
            .fetch_optional(pool)
            .await?;
        match found {
            None => return Ok(Outcome::bare(Status::Unknown)),
            Some(t) if t.event_id != event => return Ok(Outcome::bare(Status::WrongEvent)),
            Some(t) => t.id,
        }
    };
    admit(pool, event, ticket, scan).await.map_err(Into::into)
}

/// Why a check-in did not produce an outcome.
#[derive(Debug, thiserror::Error)]
pub enum CheckinError {
    /// Bad input (422).
    #[error(transparent)]
    Malformed(#[from] Malformed),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The ticket a signed token names, or the outcome that ends the scan.
async fn from_token(
    pool: &PgPool,
    event: Uuid,
    code: &str,
    scanned_at: Option<DateTime<Utc>>,
) -> Result<Result<Uuid, Outcome>, sqlx::Error> {
    let Ok(unverified) = token::read(code) else {
        tracing::warn!(event.id = %event, "check-in: a token that does not parse");
        return Ok(Err(Outcome::bare(Status::Unknown)));
    };
    let (signer, key_id, ticket) = (
        unverified.claims.event_id,
        unverified.claims.key_id,
        unverified.claims.ticket_id,
    );
    let Some(public) = public_key(pool, signer, key_id).await? else {
        tracing::warn!(event.id = %event, "check-in: a token signed by no key of ours");
        return Ok(Err(Outcome::bare(Status::Unknown)));
    };
    let Ok(claims) = unverified.verify(&public) else {
        tracing::warn!(event.id = %event, ticket.id = %ticket, "check-in: a forged or damaged token");
        return Ok(Err(Outcome::bare(Status::Unknown)));
    };
    if claims.event_id != event {
        return Ok(Err(Outcome::bare(Status::WrongEvent)));
    }
    let at = scanned_at.unwrap_or_else(Utc::now);
    if at < claims.valid_from || at > claims.valid_until {
        let mut outcome = Outcome::bare(Status::Revoked);
        outcome.ticket_id = Some(claims.ticket_id);
        return Ok(Err(outcome));
    }
    Ok(Ok(claims.ticket_id))
}

/// Public keys by event and key id.
type KeyCache = HashMap<(Uuid, u16), [u8; 32]>;

/// Public keys never change once made, so each process keeps the ones it
/// has used: a token scan then costs one statement.
async fn public_key(
    pool: &PgPool,
    event: Uuid,
    key_id: u16,
) -> Result<Option<[u8; 32]>, sqlx::Error> {
    static CACHE: LazyLock<Mutex<KeyCache>> = LazyLock::new(Default::default);
    if let Some(key) = CACHE.lock().expect("not poisoned").get(&(event, key_id)) {
        return Ok(Some(*key));
    }
    let mut conn = pool.acquire().await?;
    let key = keys::public_key(&mut conn, event, key_id).await?;
    if let Some(key) = key {
        let mut cache = CACHE.lock().expect("not poisoned");
        if cache.len() >= 100_000 {
            cache.clear();
        }
        cache.insert((event, key_id), key);
    }
    Ok(key)
}

/// Marks the ticket used unless it is; reports what it found.
async fn admit(
    pool: &PgPool,
    event: Uuid,
    ticket: Uuid,
    scan: &Scan,
) -> Result<Outcome, sqlx::Error> {
    let at = scan.scanned_at.unwrap_or_else(Utc::now);
    let admitted = sqlx::query!(
        r#"UPDATE tickets t SET status = 'used', used_at = $3, used_device = $4, used_nonce = $5
         FROM users u
         WHERE t.id = $1 AND t.event_id = $2 AND t.status = 'valid' AND u.id = t.user_id
           AND $3 BETWEEN t.valid_from AND t.valid_until
         RETURNING t.label, u.name, t.used_at AS "used_at!""#,
        ticket,
        event,
        at,
        scan.device,
        scan.nonce,
    )
    .fetch_optional(pool)
    .await?;
    if let Some(row) = admitted {
        return Ok(Outcome {
            status: Status::Ok,
            ticket_id: Some(ticket),
            label: Some(row.label),
            holder: Some(first_name(&row.name)),
            // As stored (microseconds), so a retry reports the same time.
            used_at: Some(row.used_at),
            used_device: Some(scan.device.clone()),
        });
    }
    // An upload of offline scans: the first scan in time wins, even over
    // one recorded earlier from a later scan (but never from outside the
    // ticket's window).
    if scan.scanned_at.is_some() {
        sqlx::query!(
            "UPDATE tickets SET used_at = $3, used_device = $4, used_nonce = $5
             WHERE id = $1 AND event_id = $2 AND status = 'used' AND used_at > $3
               AND $3 BETWEEN valid_from AND valid_until",
            ticket,
            event,
            at,
            scan.device,
            scan.nonce,
        )
        .execute(pool)
        .await?;
    }
    let row = sqlx::query!(
        r#"SELECT t.event_id, t.status, t.label, t.used_at, t.used_device, t.used_nonce, u.name,
                  $2 BETWEEN t.valid_from AND t.valid_until AS "in_window!"
         FROM tickets t JOIN users u ON u.id = t.user_id WHERE t.id = $1"#,
        ticket,
        at,
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(Outcome::bare(Status::Unknown));
    };
    // Another event's ticket says nothing about its holder here.
    if row.event_id != event {
        return Ok(Outcome::bare(Status::WrongEvent));
    }
    // A retry is the winner's own nonce from the winner's own device: a
    // counter nonce repeated by another gate is a second person.
    let retry = scan.nonce.is_some()
        && row.used_nonce == scan.nonce
        && row.used_device.as_deref() == Some(scan.device.as_str());
    let status = match row.status.as_str() {
        "used" if retry => Status::Ok,
        "used" => Status::AlreadyUsed,
        "revoked" => Status::Revoked,
        // Valid, but scanned outside the window its token states (a typed
        // code too): as good as revoked at the door.
        "valid" if !row.in_window => Status::Revoked,
        _ => Status::Unknown,
    };
    Ok(Outcome {
        status,
        ticket_id: Some(ticket),
        label: Some(row.label),
        holder: Some(first_name(&row.name)),
        used_at: row.used_at,
        used_device: row.used_device,
    })
}

fn first_name(name: &str) -> String {
    name.split_whitespace().next().unwrap_or("").to_owned()
}

/// Scans made offline, uploaded together: processed in scan-time order
/// (the first scan in time wins), answered in the order given.
pub async fn check_in_batch(
    pool: &PgPool,
    event: Uuid,
    scans: &[Scan],
) -> Result<Vec<Result<Outcome, Malformed>>, sqlx::Error> {
    let mut order: Vec<usize> = (0..scans.len()).collect();
    order.sort_by_key(|&i| scans[i].scanned_at);
    let mut results: Vec<Option<Result<Outcome, Malformed>>> = vec![None; scans.len()];
    for i in order {
        results[i] = Some(match check_in(pool, event, &scans[i]).await {
            Ok(outcome) => Ok(outcome),
            Err(CheckinError::Malformed(why)) => Err(why),
            Err(CheckinError::Database(error)) => return Err(error),
        });
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every scan"))
        .collect())
}
