//! Serialises millisecond times as RFC 3339 UTC strings (API.md "Conventions").

use serde::Serializer;

pub fn ms<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&madoguchi_core::time::rfc3339(*ms))
}

pub fn opt_ms<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&madoguchi_core::time::rfc3339(*ms)),
        None => s.serialize_none(),
    }
}
