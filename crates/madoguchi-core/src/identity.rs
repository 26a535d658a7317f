//! Identity (SPEC Q3, issue "Foundation" §3): one account per email shared by Desk and
//! Chat; argon2id password hashes; API tokens and page sessions stored as SHA-256
//! hashes of random secrets, so a database leak reveals no usable credential.

use crate::bus::Bus;
use crate::error::OnConflict;
use crate::ids::{hash_secret, new_id, random_secret};
use crate::{Clock, Db, Error, ErrorCode, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Serialize;
use sqlx::Row;
use std::sync::Arc;

pub const MIN_PASSWORD_CHARS: usize = 10;
const SESSION_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    #[serde(skip)]
    pub lang: Option<String>,
}

/// A validated, normalised email address. Comparison is case-insensitive (the stored
/// `email_lower`), while the address is shown as the user typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        let s = raw.trim();
        let valid = s.len() <= 254
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !s.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
                    && !domain.contains('@')
            });
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::invalid(field, "error-invalid-email"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn lower(&self) -> String {
        self.0.to_lowercase()
    }
}

#[derive(Clone)]
pub struct Identity {
    db: Db,
    clock: Clock,
    /// Carries revocations to the sockets of every node (Q6).
    bus: Option<Arc<dyn Bus>>,
}

/// The bus subject on which the end of one token or session is announced (Q6): named
/// by the credential's hash ([`hash_secret`], as stored), never by the secret. Every
/// socket opened with that credential listens on it and closes.
pub fn revocation_subject(credential_hash: &str) -> String {
    format!("identity.revoked.{credential_hash}")
}

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        lang: row.try_get("lang")?,
    })
}

async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(anyhow::anyhow!("hashing password: {e}")))
    })
    .await
    .map_err(Error::internal)?
}

async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash to verify against when the email is unknown, so that a wrong email and a
/// wrong password take the same time.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(b"no such user", &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

impl Identity {
    pub fn new(db: Db, clock: Clock) -> Self {
        Self {
            db,
            clock,
            bus: None,
        }
    }

    /// Announces revoked tokens and ended sessions on `bus` (see [`revocation_subject`]).
    pub fn with_bus(mut self, bus: Arc<dyn Bus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Tells every node that the credential with this hash is no longer valid.
    async fn announce_revoked(&self, credential_hash: &str) {
        if let Some(bus) = &self.bus {
            bus.publish(&revocation_subject(credential_hash), Vec::new())
                .await;
        }
    }

    #[tracing::instrument(skip_all)]
    pub async fn signup(&self, email: &str, password: &str, name: &str) -> Result<User> {
        let email = Email::parse("email", email)?;
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(Error::invalid("password", "error-password-too-short")
                .with_arg("min", MIN_PASSWORD_CHARS.to_string()));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::invalid("name", "error-invalid-name"));
        }
        let hash = hash_password(password.to_owned()).await?;
        let now = self.clock.now_ms();
        let id = new_id();
        sqlx::query(
            "insert into users (id, email, email_lower, name, password_hash, lang, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, null, $6, $6)",
        )
        .bind(&id)
        .bind(email.as_str())
        .bind(email.lower())
        .bind(name)
        .bind(&hash)
        .bind(now)
        .execute(self.db.pool())
        .await
        .on_conflict(|| Error::new(ErrorCode::EmailTaken).with_field("email"))?;
        Ok(User {
            id,
            email: email.as_str().to_owned(),
            name: name.to_owned(),
            lang: None,
        })
    }

    /// Any wrong email or password is the same `invalid_credentials`.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, email: &str, password: &str) -> Result<User> {
        let row = sqlx::query(
            "select id, email, name, lang, password_hash from users where email_lower = $1",
        )
        .bind(email.trim().to_lowercase())
        .fetch_optional(self.db.pool())
        .await?;
        let (user, hash) = match &row {
            Some(row) => (
                Some(user_from_row(row)?),
                Some(row.try_get("password_hash")?),
            ),
            None => (None, None),
        };
        let ok = verify_password(password.to_owned(), hash).await;
        match user {
            Some(user) if ok => Ok(user),
            _ => Err(Error::new(ErrorCode::InvalidCredentials)),
        }
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        let row = sqlx::query("select id, email, name, lang from users where id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let row = sqlx::query("select id, email, name, lang from users where email_lower = $1")
            .bind(email.trim().to_lowercase())
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn set_lang(&self, user_id: &str, lang: crate::Lang) -> Result<()> {
        sqlx::query("update users set lang = $1, updated_at = $2 where id = $3")
            .bind(lang.code())
            .bind(self.clock.now_ms())
            .bind(user_id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Issues a new API token; only its hash is stored.
    pub async fn issue_token(&self, user_id: &str, label: &str) -> Result<String> {
        let token = format!("mdg_{}", random_secret(32));
        sqlx::query(
            "insert into api_tokens (id, user_id, token_hash, label, created_at) values ($1, $2, $3, $4, $5)",
        )
        .bind(new_id())
        .bind(user_id)
        .bind(hash_secret(&token))
        .bind(label)
        .bind(self.clock.now_ms())
        .execute(self.db.pool())
        .await?;
        Ok(token)
    }

    pub async fn user_by_token(&self, token: &str) -> Result<Option<User>> {
        let row = sqlx::query(
            "select u.id, u.email, u.name, u.lang from api_tokens t join users u on u.id = t.user_id \
             where t.token_hash = $1 and t.revoked_at is null",
        )
        .bind(hash_secret(token))
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Revokes a token; answers whether one was revoked. Sockets opened with it close.
    pub async fn revoke_token(&self, token: &str) -> Result<bool> {
        let token_hash = hash_secret(token);
        let done = sqlx::query(
            "update api_tokens set revoked_at = $1 where token_hash = $2 and revoked_at is null",
        )
        .bind(self.clock.now_ms())
        .bind(&token_hash)
        .execute(self.db.pool())
        .await?;
        let revoked = done.rows_affected() > 0;
        if revoked {
            self.announce_revoked(&token_hash).await;
        }
        Ok(revoked)
    }

    /// Starts a page session: returns (session secret for the cookie, CSRF token).
    pub async fn start_session(&self, user_id: &str) -> Result<(String, String)> {
        let secret = random_secret(32);
        let csrf = random_secret(24);
        let now = self.clock.now_ms();
        sqlx::query(
            "insert into sessions (id_hash, user_id, csrf_token, created_at, expires_at) values ($1, $2, $3, $4, $5)",
        )
        .bind(hash_secret(&secret))
        .bind(user_id)
        .bind(&csrf)
        .bind(now)
        .bind(now + SESSION_TTL_MS)
        .execute(self.db.pool())
        .await?;
        Ok((secret, csrf))
    }

    /// The user and CSRF token of a live session.
    pub async fn session(&self, secret: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(
            "select u.id, u.email, u.name, u.lang, s.csrf_token from sessions s join users u on u.id = s.user_id \
             where s.id_hash = $1 and s.expires_at > $2",
        )
        .bind(hash_secret(secret))
        .bind(self.clock.now_ms())
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            Some(row) => Ok(Some((user_from_row(&row)?, row.try_get("csrf_token")?))),
            None => Ok(None),
        }
    }

    /// Ends a page session; answers whether one was ended. Sockets opened with it close.
    pub async fn end_session(&self, secret: &str) -> Result<bool> {
        let id_hash = hash_secret(secret);
        let done = sqlx::query("delete from sessions where id_hash = $1")
            .bind(&id_hash)
            .execute(self.db.pool())
            .await?;
        let ended = done.rows_affected() > 0;
        if ended {
            self.announce_revoked(&id_hash).await;
        }
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_a_local_part_and_a_domain() {
        assert!(Email::parse("email", "a@example.jp").is_ok());
        assert!(Email::parse("email", " A@Example.JP ").is_ok());
        for bad in ["", "a", "@x", "a@", "a b@x.jp", "a@.jp", "a@x@y"] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_compare_in_lower_case() {
        let e = Email::parse("email", "Suzuki@Example.JP").unwrap();
        assert_eq!(e.as_str(), "Suzuki@Example.JP");
        assert_eq!(e.lower(), "suzuki@example.jp");
    }
}
