//! Retrying what failed for a transient reason, with exponential backoff and jitter, bounded
//! in attempts and in total time.
//!
//! Only idempotent steps are retried as a whole: a manifest or tag read, a blob existence
//! check, a blob download (restarted into a fresh temporary file), a blob upload (restarted as
//! a new upload session; the registry discards the abandoned one) and a manifest write (the
//! same bytes to the same tag). What is transient is [`RegistryError::is_transient`].

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::RegistryError;

/// How often and how long to retry.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1: no retry).
    pub attempts: u32,
    /// The delay before the first retry; it doubles for each further one.
    pub base_delay: Duration,
    /// No retry starts later than this after the first attempt.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_millis(250),
            max_total: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (0-based): `base * 2^retry`, with up to 50 %
    /// jitter so that many clients do not retry in lockstep.
    fn delay(&self, retry: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1 << retry.min(16));
        let jitter = exp.mul_f64(fastrand::f64() * 0.5);
        exp + jitter
    }

    /// Runs `op` until it succeeds, fails for a reason that is not transient, or the attempts
    /// or the time are used up. `what` names the step in the log lines (`-v` shows them).
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let started = Instant::now();
        let mut retry = 0;
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(e) if e.is_transient() && retry + 1 < self.attempts => {
                    let delay = self.delay(retry);
                    if started.elapsed() + delay > self.max_total {
                        return Err(e);
                    }
                    retry += 1;
                    tracing::info!(
                        "{what} failed: {}; retrying in {:.1} s (attempt {} of {})",
                        crate::credentials::error_chain(&e),
                        delay.as_secs_f64(),
                        retry + 1,
                        self.attempts
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn unavailable() -> RegistryError {
        RegistryError::Unavailable {
            registry: "r".into(),
            status: 503,
            detail: String::new(),
        }
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn retries_transient_errors_then_succeeds() {
        let calls = Cell::new(0);
        let policy = RetryPolicy::default();
        let result = policy
            .run("step", || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move { if n < 3 { Err(unavailable()) } else { Ok(n) } }
            })
            .await;
        assert_eq!(result.unwrap(), 3);
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn gives_up_after_the_attempts_and_on_permanent_errors() {
        let calls = Cell::new(0);
        let policy = RetryPolicy::default();
        let result: Result<(), _> = policy
            .run("step", || {
                calls.set(calls.get() + 1);
                async { Err(unavailable()) }
            })
            .await;
        assert!(matches!(result, Err(RegistryError::Unavailable { .. })));
        assert_eq!(calls.get(), 4);

        calls.set(0);
        let result: Result<(), _> = policy
            .run("step", || {
                calls.set(calls.get() + 1);
                async { Err(RegistryError::Setup("no".into())) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn delays_grow_with_jitter() {
        let p = RetryPolicy::default();
        for retry in 0..4 {
            let d = p.delay(retry);
            let base = p.base_delay * (1 << retry);
            assert!(d >= base && d <= base.mul_f64(1.5), "{d:?}");
        }
    }
}
