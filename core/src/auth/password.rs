//! Password hashing with argon2id; cost from `[auth]`.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::AuthSettings;

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    /// A hash of nothing, verified when the email is unknown so both
    /// failures take the same time.
    decoy: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords")
    }
}

impl Passwords {
    /// Builds the hasher; fails on impossible argon2 parameters.
    pub fn new(settings: &AuthSettings) -> Result<Self, argon2::Error> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            1,
            None,
        )?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let decoy = hash_with(&argon2, "decoy password for unknown emails");
        Ok(Self { argon2, decoy })
    }

    /// A PHC string (`$argon2id$…`) with a fresh random salt.
    pub fn hash(&self, password: &str) -> String {
        hash_with(&self.argon2, password)
    }

    /// Whether `password` matches `hash`; `None` checks the decoy and fails.
    pub fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let matched = verify_with(&self.argon2, password, hash.unwrap_or(&self.decoy));
        matched && hash.is_some()
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with valid params")
        .to_string()
}

fn verify_with(argon2: &Argon2<'_>, password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| argon2.verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_the_right_password_only() {
        let passwords = Passwords::new(&AuthSettings {
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            require_verified_email: true,
            max_api_keys_per_user: 10,
        })
        .unwrap();
        let hash = passwords.hash("correct horse");
        assert!(hash.starts_with("$argon2id$"));
        assert!(passwords.verify("correct horse", Some(&hash)));
        assert!(!passwords.verify("wrong horse", Some(&hash)));
        assert!(!passwords.verify("decoy password for unknown emails", None));
    }
}
