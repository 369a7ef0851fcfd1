//! Retrying what failed for a transient reason, with exponential backoff and jitter, bounded
//! in attempts and in total time.
//!
//! Only idempotent steps are retried as a whole: a manifest or tag read, a blob existence
//! check, a blob download (restarted into a fresh temporary file), a blob upload (restarted as
//! a new upload session; the registry discards the abandoned one) and a manifest write (the
//! same bytes to the same tag). What is transient is [`RegistryError::is_transient`]; a
//! registry's `Retry-After` sets the least delay.

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
    /// No retry starts later than this after the first attempt failed.
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

    /// The delay before the next attempt after `error` in attempt `retry + 1`, or `None` when
    /// it is not transient, or the attempts or the time since `started` are used up.
    pub(crate) fn next_delay(
        &self,
        retry: u32,
        started: Instant,
        error: &RegistryError,
    ) -> Option<Duration> {
        if !error.is_transient() || retry + 1 >= self.attempts {
            return None;
        }
        // A registry that says how long to wait (`Retry-After`) is taken at its word.
        let delay = self
            .delay(retry)
            .max(error.retry_after().unwrap_or_default());
        (started.elapsed() + delay <= self.max_total).then_some(delay)
    }

    /// Logs a retry (shown with `-v`) and waits.
    pub(crate) async fn wait(
        &self,
        what: &str,
        retry: u32,
        delay: Duration,
        error: &RegistryError,
    ) {
        tracing::info!(
            "{what} failed: {}; retrying in {:.1} s (attempt {} of {})",
            crate::credentials::error_chain(error),
            delay.as_secs_f64(),
            retry + 2,
            self.attempts
        );
        tokio::time::sleep(delay).await;
    }

    /// Runs `op` until it succeeds, fails for a reason that is not transient, or the attempts
    /// or the time are used up. `what` names the step in the log lines (`-v` shows them).
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        // The budget counts from the first failure, not the first start: a request that
        // hung for the whole `--timeout` still gets its retry.
        let mut first_failure = None;
        let mut retry = 0;
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(e) => match self.next_delay(
                    retry,
                    *first_failure.get_or_insert_with(Instant::now),
                    &e,
                ) {
                    Some(delay) => {
                        self.wait(what, retry, delay, &e).await;
                        retry += 1;
                    }
                    None => return Err(e),
                },
            }
        }
    }
}

/// Notices when a transfer stops making progress: the transfer calls [`Watchdog::touch`] as
/// it moves; [`Watchdog::stalled`] completes once no touch came for the given time.
#[derive(Clone, Debug)]
pub(crate) struct Watchdog {
    started: Instant,
    last: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Watchdog {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            last: Default::default(),
        }
    }

    /// Records progress now.
    pub(crate) fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last.store(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// Completes when there has been no progress for `timeout`.
    pub(crate) async fn stalled(&self, timeout: Duration) {
        loop {
            let last = Duration::from_millis(self.last.load(std::sync::atomic::Ordering::Relaxed));
            let idle = self.started.elapsed().saturating_sub(last);
            if idle >= timeout {
                return;
            }
            tokio::time::sleep(timeout - idle).await;
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
            retry_after: None,
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
    async fn a_request_that_hung_past_the_budget_is_still_tried_again() {
        // The budget (20 ms here, 60 s by default) is shorter than the first attempt, as when a
        // request waits the whole `--timeout` (60 s by default) for an answer.
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_total: Duration::from_millis(20),
            ..RetryPolicy::default()
        };
        let calls = Cell::new(0);
        let result = policy
            .run("step", || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                if n == 1 {
                    std::thread::sleep(Duration::from_millis(40));
                }
                async move { if n < 2 { Err(unavailable()) } else { Ok(n) } }
            })
            .await;
        assert_eq!(result.unwrap(), 2);
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
                async {
                    Err(RegistryError::Protocol {
                        registry: "r".into(),
                        problem: "no".into(),
                    })
                }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn retry_after_sets_the_least_delay() {
        let p = RetryPolicy::default();
        let mut e = unavailable();
        if let RegistryError::Unavailable { retry_after, .. } = &mut e {
            *retry_after = Some(Duration::from_secs(5));
        }
        let d = p.next_delay(0, Instant::now(), &e).unwrap();
        assert_eq!(d, Duration::from_secs(5));
        // Longer than the policy allows in all: give up now, with the registry's advice.
        if let RegistryError::Unavailable { retry_after, .. } = &mut e {
            *retry_after = Some(Duration::from_secs(3600));
        }
        assert_eq!(p.next_delay(0, Instant::now(), &e), None);
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
