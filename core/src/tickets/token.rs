//! The QR token: a compact, Ed25519-signed statement "ticket T admits to
//! event E at seat or type S between these times", which a door device
//! checks with the event's public key alone, offline.
//!
//! Wire form: `base64url(payload) "." base64url(signature)`, no padding.
//! The payload is binary, big-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format version, `1` |
//! | 16 | ticket id (UUID) |
//! | 16 | event id (UUID) |
//! | 2 | key id within the event (`checkin-keys`) |
//! | 4 | valid from, Unix seconds |
//! | 4 | valid until, Unix seconds |
//! | 1 + n | seat or ticket type: length, then UTF-8 (n <= 64) |
//!
//! The signature covers `marquee-ticket-v1` followed by the payload bytes,
//! so no other Marquee signature can pass for a ticket.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use uuid::Uuid;

const VERSION: u8 = 1;
const CONTEXT: &[u8] = b"marquee-ticket-v1";
/// Longest label carried, in bytes (cut at a character boundary).
pub const MAX_LABEL: usize = 64;
/// Longest string that can be a token; anything longer is refused unread.
pub const MAX_TOKEN: usize = 256;
const FIXED: usize = 1 + 16 + 16 + 2 + 4 + 4 + 1;

/// What a token states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `tickets.id`
    pub ticket_id: Uuid,
    /// The event it admits to.
    pub event_id: Uuid,
    /// Which of the event's keys signed it.
    pub key_id: u16,
    /// Not before.
    pub valid_from: DateTime<Utc>,
    /// Not after.
    pub valid_until: DateTime<Utc>,
    /// Seat or ticket type.
    pub label: String,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not shaped like a token at all (bad input).
    #[error("not a ticket token")]
    Malformed,
    /// Shaped right, but the signature does not verify (forged or damaged).
    #[error("the signature does not verify")]
    BadSignature,
}

/// Signs `claims` with `key`.
pub fn sign(claims: &Claims, key: &SigningKey) -> String {
    let payload = encode(claims);
    let signature = key.sign(&signed_message(&payload));
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

/// A token taken apart, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Unverified {
    /// What it claims: enough to pick the key that must verify it.
    pub claims: Claims,
    payload: Vec<u8>,
    signature: Signature,
}

impl Unverified {
    /// The claims, if `public_key` signed them. The validity window is the
    /// caller's to judge.
    pub fn verify(self, public_key: &[u8; 32]) -> Result<Claims, TokenError> {
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| TokenError::BadSignature)?;
        key.verify(&signed_message(&self.payload), &self.signature)
            .map_err(|_| TokenError::BadSignature)?;
        Ok(self.claims)
    }
}

/// Takes a token apart without checking its signature.
pub fn read(token: &str) -> Result<Unverified, TokenError> {
    if token.len() > MAX_TOKEN {
        return Err(TokenError::Malformed);
    }
    let (payload, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?
        .try_into()
        .map_err(|_| TokenError::Malformed)?;
    let claims = decode(&payload).ok_or(TokenError::Malformed)?;
    Ok(Unverified {
        claims,
        payload,
        signature: Signature::from_bytes(&signature),
    })
}

/// The claims of `token` if `public_key` signed it. The validity window is
/// the caller's to judge.
pub fn verify(token: &str, public_key: &[u8; 32]) -> Result<Claims, TokenError> {
    read(token)?.verify(public_key)
}

fn signed_message(payload: &[u8]) -> Vec<u8> {
    [CONTEXT, payload].concat()
}

fn encode(claims: &Claims) -> Vec<u8> {
    let label = truncate(&claims.label, MAX_LABEL);
    let mut out = Vec::with_capacity(FIXED + label.len());
    out.push(VERSION);
    out.extend_from_slice(claims.ticket_id.as_bytes());
    out.extend_from_slice(claims.event_id.as_bytes());
    out.extend_from_slice(&claims.key_id.to_be_bytes());
    out.extend_from_slice(&unix_seconds(claims.valid_from).to_be_bytes());
    out.extend_from_slice(&unix_seconds(claims.valid_until).to_be_bytes());
    out.push(label.len() as u8);
    out.extend_from_slice(label.as_bytes());
    out
}

fn decode(payload: &[u8]) -> Option<Claims> {
    if payload.len() < FIXED || payload[0] != VERSION {
        return None;
    }
    let uuid = |at: usize| Uuid::from_slice(&payload[at..at + 16]).ok();
    let seconds = |at: usize| {
        let raw = u32::from_be_bytes(payload[at..at + 4].try_into().ok()?);
        DateTime::from_timestamp(i64::from(raw), 0)
    };
    let label_len = usize::from(payload[FIXED - 1]);
    if payload.len() != FIXED + label_len || label_len > MAX_LABEL {
        return None;
    }
    Some(Claims {
        ticket_id: uuid(1)?,
        event_id: uuid(17)?,
        key_id: u16::from_be_bytes([payload[33], payload[34]]),
        valid_from: seconds(35)?,
        valid_until: seconds(39)?,
        label: String::from_utf8(payload[FIXED..].to_vec()).ok()?,
    })
}

/// Seconds since 1970 as the token stores them (u32 lasts until 2106).
fn unix_seconds(at: DateTime<Utc>) -> u32 {
    at.timestamp().clamp(0, i64::from(u32::MAX)) as u32
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            ticket_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            key_id: 3,
            valid_from: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            valid_until: DateTime::from_timestamp(1_800_086_400, 0).unwrap(),
            label: "Balcony B-7".to_owned(),
        }
    }

    #[test]
    fn a_token_verifies_with_its_public_key_and_says_what_was_signed() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let token = sign(&claims(), &key);
        assert!(token.len() < 200, "{} chars", token.len());
        let read = verify(&token, key.verifying_key().as_bytes()).unwrap();
        assert_eq!(read, claims_with_ids(&read));
    }

    fn claims_with_ids(read: &Claims) -> Claims {
        Claims {
            ticket_id: read.ticket_id,
            event_id: read.event_id,
            ..claims()
        }
    }

    #[test]
    fn any_flipped_byte_or_another_key_fails() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = *key.verifying_key().as_bytes();
        let token = sign(&claims(), &key);
        for at in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let flipped = String::from_utf8(bytes).unwrap();
            if flipped != token {
                assert!(verify(&flipped, &public).is_err(), "byte {at} flipped");
            }
        }
        let other = SigningKey::from_bytes(&[8; 32]);
        assert_eq!(
            verify(&token, other.verifying_key().as_bytes()),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_crash() {
        let public = *SigningKey::from_bytes(&[7; 32]).verifying_key().as_bytes();
        for junk in ["", ".", "a.b", "AAAA.AAAA", &"x".repeat(1000), "é.é"] {
            assert_eq!(verify(junk, &public), Err(TokenError::Malformed), "{junk}");
        }
    }

    #[test]
    fn long_labels_are_cut_at_a_character_boundary() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut long = claims();
        long.label = "é".repeat(100);
        let read = verify(&sign(&long, &key), key.verifying_key().as_bytes()).unwrap();
        assert_eq!(read.label, "é".repeat(32));
    }
}
