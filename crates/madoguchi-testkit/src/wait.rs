//! Waiting for a state, never for a time: poll until the state holds, with a deadline
//! that fails the test and says what never happened.

use std::future::Future;
use std::time::Duration;

/// How long a state may take to arrive. Generous: CI machines have two cores shared
/// with the compiler, and a debug build may stall for seconds.
pub const WITHIN: Duration = Duration::from_secs(20);

/// Calls `probe` every `every` until it answers `Some`, for at most `within`; after
/// that the test fails saying it was waiting for `what`. A probe that knows more (the
/// last body it saw) can panic itself with it.
pub async fn until_every<T, F, Fut>(
    within: Duration,
    every: Duration,
    what: &str,
    mut probe: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}

/// [`until_every`] polling every 100 ms.
pub async fn until<T, F, Fut>(within: Duration, what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    until_every(within, Duration::from_millis(100), what, probe).await
}
