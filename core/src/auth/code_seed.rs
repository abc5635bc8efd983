//! Codes sent by email are derived, not drawn at send time: each row gets a
//! random seed from the CSPRNG when it is requested, and the code is an HMAC
//! of that seed under the server secret. Every attempt of the sending job
//! therefore emails the same code, and the stored hash always matches what
//! the person received, whatever a crash interrupted. Guessing a code still
//! needs both the database row and the server secret.

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

/// A fresh seed for a new code row.
pub fn new_seed() -> Vec<u8> {
    rand::rng().random::<[u8; 32]>().to_vec()
}

/// The `digits`-long decimal code of `seed` (1-9 digits).
pub fn code(pepper: &[u8], seed: &[u8], digits: u32) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(pepper).expect("HMAC takes keys of any length");
    mac.update(b"marquee one-time code\0");
    mac.update(seed);
    let bytes = mac.finalize().into_bytes();
    // 128 bits reduced mod 10^digits: the bias is below 10^9 / 2^128.
    let value = u128::from_be_bytes(bytes[..16].try_into().expect("32-byte digest"));
    let modulus = 10u128.pow(digits);
    format!("{:0width$}", value % modulus, width = digits as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_code() {
        let seed = new_seed();
        assert_eq!(code(b"k", &seed, 6), code(b"k", &seed, 6));
        assert_eq!(code(b"k", &seed, 6).len(), 6);
        assert_eq!(code(b"k", &seed, 4).len(), 4);
        assert!(code(b"k", &seed, 8).chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn seeds_and_secrets_change_the_code() {
        let seeds: std::collections::HashSet<String> =
            (0..200).map(|_| code(b"k", &new_seed(), 8)).collect();
        assert!(seeds.len() > 190, "codes from fresh seeds repeat too often");
        let seed = new_seed();
        let keys: std::collections::HashSet<String> =
            (0..50u8).map(|k| code(&[k], &seed, 8)).collect();
        assert!(keys.len() > 45);
    }
}
