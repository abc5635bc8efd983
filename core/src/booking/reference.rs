//! Booking references people read out on the phone.

use rand::Rng;

/// Crockford's base32 digits: no I, L, O or U to misread.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `MQ-` and eight random characters (40 bits; the table's unique index
/// catches the rare repeat and the caller draws again).
pub fn new_reference() -> String {
    let mut rng = rand::rng();
    let tail: String = (0..8)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("MQ-{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_short_and_unambiguous() {
        for _ in 0..1000 {
            let reference = new_reference();
            assert_eq!(reference.len(), 11);
            assert!(
                !reference[3..].contains(['I', 'L', 'O', 'U']),
                "{reference}"
            );
        }
    }
}
