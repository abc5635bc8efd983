//! Each event's signing keys. The newest signs; all verify. Rotating adds a
//! key and never removes one, so tickets already issued keep scanning.

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sqlx::PgConnection;
use uuid::Uuid;

/// A public key as door devices get it.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// The id tokens carry.
    pub key_id: i32,
    /// Raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// Added at.
    pub created_at: DateTime<Utc>,
}

/// The key that signs an event's tickets now.
pub struct ActiveKey {
    /// Its id, written into each token.
    pub key_id: u16,
    /// The private key; never leaves this process.
    pub signing: SigningKey,
}

/// The event's newest key, created on first use.
pub async fn active(conn: &mut PgConnection, event: Uuid) -> Result<ActiveKey, sqlx::Error> {
    let newest = sqlx::query!(
        "SELECT key_id, private_key FROM ticket_signing_keys
         WHERE event_id = $1 ORDER BY key_id DESC LIMIT 1",
        event,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = newest {
        return Ok(ActiveKey {
            key_id: row.key_id as u16,
            signing: signing_key(&row.private_key),
        });
    }
    // Two first issuers race: one insert wins, both sign with its key.
    let seed = fresh_seed();
    let public = SigningKey::from_bytes(&seed).verifying_key();
    sqlx::query!(
        "INSERT INTO ticket_signing_keys (event_id, key_id, public_key, private_key)
         VALUES ($1, 1, $2, $3) ON CONFLICT DO NOTHING",
        event,
        public.as_bytes().as_slice(),
        seed.as_slice(),
    )
    .execute(&mut *conn)
    .await?;
    Box::pin(active(conn, event)).await
}

/// Adds a key, which signs every ticket issued from now on; returns it.
pub async fn rotate(conn: &mut PgConnection, event: Uuid) -> Result<PublicKey, sqlx::Error> {
    let seed = fresh_seed();
    let public = SigningKey::from_bytes(&seed).verifying_key();
    // The event row (locked by the caller) serialises rotations, so the
    // next id is free.
    sqlx::query_as!(
        PublicKey,
        "INSERT INTO ticket_signing_keys (event_id, key_id, public_key, private_key)
         SELECT $1, COALESCE(max(key_id), 0) + 1, $2, $3 FROM ticket_signing_keys WHERE event_id = $1
         RETURNING key_id, public_key, created_at",
        event,
        public.as_bytes().as_slice(),
        seed.as_slice(),
    )
    .fetch_one(conn)
    .await
}

/// Every key of the event, oldest first.
pub async fn public_keys(
    conn: &mut PgConnection,
    event: Uuid,
) -> Result<Vec<PublicKey>, sqlx::Error> {
    sqlx::query_as!(
        PublicKey,
        "SELECT key_id, public_key, created_at FROM ticket_signing_keys
         WHERE event_id = $1 ORDER BY key_id",
        event,
    )
    .fetch_all(conn)
    .await
}

/// The public half of one key, to verify a token that names it.
pub async fn public_key(
    conn: &mut PgConnection,
    event: Uuid,
    key_id: u16,
) -> Result<Option<[u8; 32]>, sqlx::Error> {
    let raw = sqlx::query_scalar!(
        "SELECT public_key FROM ticket_signing_keys WHERE event_id = $1 AND key_id = $2",
        event,
        i32::from(key_id),
    )
    .fetch_optional(conn)
    .await?;
    Ok(raw.and_then(|bytes| bytes.try_into().ok()))
}

fn fresh_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut seed)
        .expect("the operating system's random source works");
    seed
}

fn signing_key(stored: &[u8]) -> SigningKey {
    let seed: [u8; 32] = stored.try_into().expect("CHECK (length = 32)");
    SigningKey::from_bytes(&seed)
}
