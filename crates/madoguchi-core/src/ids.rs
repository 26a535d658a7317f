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

/// Constant-time comparison of two secrets (service keys, CSRF tokens).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
