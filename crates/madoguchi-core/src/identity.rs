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
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Semaphore;

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
    hashing: Arc<Semaphore>,
    throttle: Arc<LoginThrottle>,
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

/// Q6: argon2 runs on the blocking pool, at most this many at a time (one per core):
/// a burst of logins waits its turn instead of taking every thread and core from the
/// requests that need none.
fn hash_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Q6 login throttling: failed logins counted per account (the email, known or not,
/// so the answer never tells which accounts exist) and per client address, in a fixed
/// window from the first failure. Over a limit every attempt is 429 `rate_limited`
/// with the seconds until the window ends, before any password is checked. Kept in
/// memory per node, like the widget limits.
pub const LOGIN_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failed logins of one account per window.
pub const LOGIN_FAILURES_PER_ACCOUNT: u32 = 10;
/// Failed logins from one client address per window (any accounts).
pub const LOGIN_FAILURES_PER_ADDRESS: u32 = 30;
const THROTTLE_MAX_KEYS: usize = 100_000;

#[derive(Default)]
struct LoginThrottle {
    accounts: std::sync::Mutex<HashMap<String, (i64, u32)>>,
    addresses: std::sync::Mutex<HashMap<String, (i64, u32)>>,
}

type Counts = std::sync::Mutex<HashMap<String, (i64, u32)>>;

impl LoginThrottle {
    /// Counts an attempt of `key` in `counts`: the milliseconds to wait when it is over
    /// `limit`. An attempt is counted before the password is checked (so concurrent
    /// guesses cannot all slip in) and taken back when it succeeds.
    fn take(counts: &Counts, key: &str, limit: u32, now: i64) -> Result<(), i64> {
        let mut map = counts.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > THROTTLE_MAX_KEYS {
            map.retain(|_, (start, _)| now - *start < LOGIN_WINDOW_MS);
        }
        let entry = map.entry(key.to_owned()).or_insert((now, 0));
        if now - entry.0 >= LOGIN_WINDOW_MS || now < entry.0 {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            return Err(entry.0 + LOGIN_WINDOW_MS - now);
        }
        entry.1 += 1;
        Ok(())
    }

    fn give_back(counts: &Counts, key: &str) {
        let mut map = counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = map.get_mut(key) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }

    fn forget(counts: &Counts, key: &str) {
        counts.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// Runs blocking work on the blocking pool once one of `slots` is free.
async fn on_pool<T: Send + 'static>(
    slots: &Semaphore,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let _slot = slots
        .acquire()
        .await
        .map_err(|e| Error::internal(anyhow::anyhow!("hashing pool closed: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(Error::internal)
}

fn rate_limited(wait_ms: i64) -> Error {
    let secs = (wait_ms.max(1) + 999) / 1000;
    Error::new(ErrorCode::RateLimited)
        .with_message("error-rate_limited-login")
        .with_arg("minutes", ((secs + 59) / 60).to_string())
        .with_extra("retryAfter", secs)
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
            hashing: Arc::new(Semaphore::new(hash_slots())),
            throttle: Arc::default(),
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

    async fn on_hash_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        on_pool(&self.hashing, work).await
    }

    async fn hash_password(&self, password: String) -> Result<String> {
        self.on_hash_pool(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::internal(anyhow::anyhow!("hashing password: {e}")))
        })
        .await?
    }

    async fn verify_password(&self, password: String, hash: Option<String>) -> Result<bool> {
        self.on_hash_pool(move || {
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
        let hash = self.hash_password(password.to_owned()).await?;
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

    /// Any wrong email or password is the same `invalid_credentials`. Throttled per
    /// account and per client `address` (see [`LOGIN_FAILURES_PER_ACCOUNT`]): over a
    /// limit, 429 `rate_limited` with `retryAfter` seconds, the same for every email.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, email: &str, password: &str, address: Option<&str>) -> Result<User> {
        let account = email.trim().to_lowercase();
        let now = self.clock.now_ms();
        let t = &self.throttle;
        if let Some(address) = address {
            LoginThrottle::take(&t.addresses, address, LOGIN_FAILURES_PER_ADDRESS, now)
                .map_err(rate_limited)?;
        }
        if let Err(wait) =
            LoginThrottle::take(&t.accounts, &account, LOGIN_FAILURES_PER_ACCOUNT, now)
        {
            if let Some(address) = address {
                LoginThrottle::give_back(&t.addresses, address);
            }
            return Err(rate_limited(wait));
        }
        let checked = self.check_password(&account, password).await;
        if let Ok(Some(_)) | Err(_) = &checked {
            // A success (or our own failure) is no guess: the attempt is taken back.
            LoginThrottle::forget(&t.accounts, &account);
            if let Some(address) = address {
                LoginThrottle::give_back(&t.addresses, address);
            }
        }
        checked?.ok_or_else(|| Error::new(ErrorCode::InvalidCredentials))
    }

    async fn check_password(&self, account: &str, password: &str) -> Result<Option<User>> {
        let row = sqlx::query(
            "select id, email, name, lang, password_hash from users where email_lower = $1",
        )
        .bind(account)
        .fetch_optional(self.db.pool())
        .await?;
        let (user, hash) = match &row {
            Some(row) => (
                Some(user_from_row(row)?),
                Some(row.try_get("password_hash")?),
            ),
            None => (None, None),
        };
        let ok = self.verify_password(password.to_owned(), hash).await?;
        Ok(user.filter(|_| ok))
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn q6_password_work_never_runs_more_than_its_slots_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let slots = Arc::new(Semaphore::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (slots, running, most) = (slots.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    on_pool(&slots, move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn q6_the_login_throttle_counts_attempts_in_a_window_and_forgives_successes() {
        let t = LoginThrottle::default();
        for _ in 0..3 {
            assert!(LoginThrottle::take(&t.accounts, "a", 3, 0).is_ok());
        }
        assert_eq!(
            LoginThrottle::take(&t.accounts, "a", 3, 1_000),
            Err(LOGIN_WINDOW_MS - 1_000)
        );
        assert!(LoginThrottle::take(&t.accounts, "b", 3, 1_000).is_ok());
        assert!(LoginThrottle::take(&t.accounts, "a", 3, LOGIN_WINDOW_MS).is_ok());
        LoginThrottle::give_back(&t.accounts, "a");
        LoginThrottle::forget(&t.accounts, "b");
        assert!(t.accounts.lock().unwrap().get("b").is_none());
        let e = rate_limited(61_001);
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert_eq!(e.extra["retryAfter"], 62);
    }

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
