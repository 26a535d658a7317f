//! Opaque ids. API ids are strings; we use time-ordered UUIDv7 in simple form so that
//! ids sort roughly by creation, which keeps B-tree inserts local on both backends.

use rand::RngCore;

/// A string id or name with its own type, so that a ticket id cannot be passed where
/// a chat id is expected. On the wire and in the database it is the bare string
/// (`#[serde(transparent)]`, bound and decoded as text, a string in OpenAPI); code
/// that only reads it sees a `&str` through `Deref`.
macro_rules! string_id {
    ($($(#[$meta:meta])* $name:ident;)+) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(value: &String) -> Self {
                Self(value.clone())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl sqlx::Type<sqlx::Any> for $name {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <String as sqlx::Type<sqlx::Any>>::type_info()
            }

            fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Any>>::compatible(ty)
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(&self.0, buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Any> for $name {
            fn decode(
                value: <sqlx::Any as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                <String as sqlx::Decode<'r, sqlx::Any>>::decode(value).map(Self)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <String as utoipa::PartialSchema>::schema()
            }
        }

        impl utoipa::ToSchema for $name {}
    )+};
}

string_id! {
    /// A Desk ticket's id.
    TicketId;
    /// A Chat chat's id.
    ChatId;
    /// A Desk portal's name (its URL segment, `deskPortalName` of a link).
    PortalName;
    /// A Desk contact's id.
    ContactId;
    /// A Desk department's id.
    DepartmentId;
}

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
mod string_id_tests {
    use super::TicketId;

    #[test]
    fn a_string_id_is_its_bare_string_on_the_wire() {
        let id = TicketId::from("t-1");
        assert_eq!(serde_json::to_string(&id).ok().as_deref(), Some("\"t-1\""));
        assert_eq!(
            serde_json::from_str::<TicketId>("\"t-1\"").ok(),
            Some(id.clone())
        );
        assert_eq!(id.to_string(), "t-1");
        assert_eq!(id, "t-1");
        assert_eq!(id.len(), 3);
    }
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
