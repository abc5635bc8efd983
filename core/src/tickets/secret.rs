//! The code printed under the QR, typed by hand when a scanner fails.

use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};

/// Digits and capitals without the look-alikes 0/O and 1/I/L.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// 28 characters of 31: 138 bits, above the 128 a guesser must beat.
const LENGTH: usize = 28;
/// Printed in groups of four: `ABCD-EFGH-…`.
const GROUP: usize = 4;

/// A fresh secret from the operating system's CSPRNG, grouped for reading.
pub fn new_secret() -> String {
    let mut rng = OsRng.unwrap_err();
    let chars: Vec<u8> = (0..LENGTH)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect();
    chars
        .chunks(GROUP)
        .map(|group| std::str::from_utf8(group).expect("ASCII"))
        .collect::<Vec<_>>()
        .join("-")
}

/// A typed secret in its stored form, forgiving what people do at a door:
/// lower case, and spaces or no dashes between groups. `None` when it
/// cannot be a secret.
pub fn normalize(typed: &str) -> Option<String> {
    let chars: Vec<u8> = typed
        .bytes()
        .filter(|b| !matches!(b, b'-' | b' '))
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if chars.len() != LENGTH || !chars.iter().all(|c| ALPHABET.contains(c)) {
        return None;
    }
    Some(
        chars
            .chunks(GROUP)
            .map(|group| std::str::from_utf8(group).expect("ASCII"))
            .collect::<Vec<_>>()
            .join("-"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_128_bits_without_look_alikes() {
        let bits = LENGTH as f64 * (ALPHABET.len() as f64).log2();
        assert!(bits >= 128.0, "{bits}");
        for _ in 0..500 {
            let secret = new_secret();
            assert_eq!(secret.len(), LENGTH + LENGTH / GROUP - 1);
            assert!(!secret.contains(['0', 'O', '1', 'I', 'L']), "{secret}");
            assert_eq!(normalize(&secret).as_deref(), Some(secret.as_str()));
        }
        assert_ne!(new_secret(), new_secret());
    }

    #[test]
    fn typed_secrets_are_forgiven_case_and_spacing_but_not_length() {
        let secret = new_secret();
        let typed = secret.replace('-', " ").to_lowercase();
        assert_eq!(normalize(&typed), Some(secret.clone()));
        assert_eq!(normalize(&secret.replace('-', "")), Some(secret.clone()));
        assert_eq!(normalize(&secret[..secret.len() - 1]), None);
        assert_eq!(normalize("not a secret at all"), None);
        assert_eq!(normalize(""), None);
    }
}
