//! Opaque ids. API ids are strings; we use time-ordered UUIDv7 in simple form so that
//! ids sort roughly by creation, which keeps B-tree inserts local on both backends.

use rand::RngCore;

pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A random secret of `bytes` bytes, URL-safe base64 without padding.
pub fn random_secret(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Hex SHA-256 of a secret: tokens and keys are stored hashed, never in clear.
pub fn hash_secret(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A value derived from `key` for one `purpose` and `input` (HMAC-SHA-256, URL-safe
/// base64): reproducible by anyone holding the key, unguessable by anyone else.
pub fn derive_secret(key: &str, purpose: &str, input: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(purpose.as_bytes());
    mac.update(&[0]);
    mac.update(input.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Constant-time comparison of two secrets (service keys, CSRF tokens).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod derive_tests {
    use super::derive_secret;

    #[test]
    fn a_derived_secret_depends_on_key_purpose_and_input() {
        let a = derive_secret("k1", "visitor-token", "chat-1");
        assert_eq!(a, derive_secret("k1", "visitor-token", "chat-1"));
        assert_ne!(a, derive_secret("k2", "visitor-token", "chat-1"));
        assert_ne!(a, derive_secret("k1", "other", "chat-1"));
        assert_ne!(a, derive_secret("k1", "visitor-token", "chat-2"));
        // Purpose and input are separated, so they cannot be shifted into each other.
        assert_ne!(derive_secret("k", "ab", "c"), derive_secret("k", "a", "bc"));
        assert_eq!(a.len(), 43);
    }
}
