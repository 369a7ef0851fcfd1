//! Renewing an access token that the registry stops accepting in the middle of an operation,
//! and retrying the request that failed, once.
//!
//! oci-client caches access tokens and renews the ones it fetched itself (with a username and
//! password) when their `exp` claim has passed by its own clock. It cannot renew:
//! - an access token exchanged from an identity token: oci-client only ever sees it as a fixed
//!   bearer token, and keeps sending it after it expired;
//! - a token the registry stops accepting before the client thinks it expired: the client's
//!   clock is behind, an opaque token (no `exp`) lives less than the 60 s oci-client assumes, or
//!   the token was revoked.
//!
//! So every request of a push or pull after authentication goes through
//! [`Session::renewing`]: on a 401 it gets a new token (a new token request with the username and
//! password, or a new refresh-token grant with the identity token), puts it into oci-client's
//! cache for the operations the session does, and repeats the request once. A second 401 is
//! reported as usual (with a fresh token: the credentials lack the scope). A registry that
//! takes Basic auth on every request issues no token: its 401 is reported at once.
//!
//! What must stay true: only requests made after authentication succeeded (callers call
//! `auth` first) and with credentials are retried, each at most once, and a request whose body
//! is a stream is rebuilt by its closure, never replayed.

use std::future::Future;

use oci_client::RegistryOperation;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;

use crate::credentials::Credential;
use crate::error::{Action, Ctx, RegistryError};
use crate::token::{exchange_identity_token, scope};
use crate::transport::Session;

impl Session {
    /// Runs `request`; when the registry answers 401 although there are credentials, renews the
    /// access token and runs `request` once more. Errors are classified with `ctx`.
    ///
    /// Each attempt must answer within the session's timeout; for requests that stream a body
    /// and watch their own progress, see [`Session::renewing_streaming`].
    pub(crate) async fn renewing<T, F, Fut>(
        &self,
        ctx: &Ctx<'_>,
        image: &oci_client::Reference,
        request: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        self.renewing_within(ctx, image, request, Some(self.timeout))
            .await
    }

    /// [`Session::renewing`] without a limit on the whole request: for uploads, which take as
    /// long as their size needs and fail on their own when they stop making progress.
    pub(crate) async fn renewing_streaming<T, F, Fut>(
        &self,
        ctx: &Ctx<'_>,
        image: &oci_client::Reference,
        request: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        self.renewing_within(ctx, image, request, None).await
    }

    async fn renewing_within<T, F, Fut>(
        &self,
        ctx: &Ctx<'_>,
        image: &oci_client::Reference,
        mut request: F,
        limit: Option<std::time::Duration>,
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        // Transient failures (connection broken, 429/502/503/504) are retried with backoff;
        // each attempt may renew the token once.
        let started = std::time::Instant::now();
        let mut retry = 0;
        loop {
            match self.renewing_once(ctx, image, &mut request, limit).await {
                Ok(value) => return Ok(value),
                Err(e) => match self.retry.next_delay(retry, started, &e) {
                    Some(delay) => {
                        let what = format!("a request to {}", self.registry);
                        self.retry.wait(&what, retry, delay, &e).await;
                        retry += 1;
                    }
                    None => return Err(e),
                },
            }
        }
    }

    async fn renewing_once<T, F, Fut>(
        &self,
        ctx: &Ctx<'_>,
        image: &oci_client::Reference,
        request: &mut F,
        limit: Option<std::time::Duration>,
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let with_credentials =
            self.resolution.credential != Credential::Anonymous && !self.withheld;
        // No answer within the timeout (an endless trickle of a small response) fails too.
        let timed = |fut: Fut| async move {
            match limit {
                Some(limit) => match tokio::time::timeout(limit, fut).await {
                    Ok(result) => result.map_err(Some),
                    Err(_) => Err(None),
                },
                None => fut.await.map_err(Some),
            }
        };
        let timeout_error = || RegistryError::Stalled {
            registry: self.registry.clone(),
            what: format!("a request for {}", ctx.repository),
            after: self.timeout,
        };
        let first = match timed(request()).await {
            Ok(v) => Ok(v),
            Err(Some(e)) => Err(e),
            Err(None) => return Err(timeout_error()),
        };
        match first {
            Ok(value) => Ok(value),
            Err(e) if with_credentials && is_unauthorized(&e) => {
                tracing::info!(
                    registry = %self.registry,
                    repository = ctx.repository,
                    "the registry refused the request (access token expired?); renewing the token"
                );
                let Some(token) = self.renew(ctx, image).await? else {
                    return Err(ctx.classify(e));
                };
                tracing::info!(registry = %self.registry, "renewed the access token; retrying once");
                // With a fresh token, a 401 means the credentials lack the scope.
                let renewed = self
                    .ctx(ctx.repository, ctx.reference.clone(), ctx.action)
                    .authenticated(&Some(token));
                match timed(request()).await {
                    Ok(v) => Ok(v),
                    Err(Some(e)) => Err(renewed.classify(e)),
                    Err(None) => Err(timeout_error()),
                }
            }
            Err(e) => Err(ctx.classify(e)),
        }
    }

    /// Gets a new access token and puts it into the client's cache for the operations of
    /// `ctx.action` (a push also reads: it asks for both). `None`: the registry issues no tokens
    /// (Basic auth on every request), so there is nothing to renew.
    async fn renew(
        &self,
        ctx: &Ctx<'_>,
        image: &oci_client::Reference,
    ) -> Result<Option<String>, RegistryError> {
        let operations: &[RegistryOperation] = match ctx.action {
            Action::Pull => &[RegistryOperation::Pull],
            Action::Push => &[RegistryOperation::Pull, RegistryOperation::Push],
        };
        // Errors of the renewal itself are about the credentials, not about a scope.
        let fresh = self.ctx(ctx.repository, ctx.reference.clone(), ctx.action);
        let auth = match &self.resolution.credential {
            Credential::IdentityToken { token, .. } => {
                let http = self.endpoint.http_client()?;
                let access = exchange_identity_token(
                    &http,
                    &self.endpoint.base_url(&self.registry),
                    &self.registry,
                    &scope(ctx.repository, ctx.action),
                    token,
                    &self.resolution.describe_source(),
                )
                .await?;
                RegistryAuth::Bearer(access)
            }
            _ => self.auth.clone(),
        };
        // With a bearer token `auth` makes no request: it only fills the cache. With a username
        // and password it asks the token server again.
        let mut token = None;
        for op in operations {
            token = self
                .client
                .auth(image, &auth, *op)
                .await
                .map_err(|e| fresh.classify(e))?;
        }
        Ok(token)
    }
}

/// Whether an oci-client error is the registry answering 401 Unauthorized.
pub(crate) fn is_unauthorized(e: &OciDistributionError) -> bool {
    use oci_client::errors::OciDistributionError as E;
    match e {
        E::UnauthorizedError { .. } => true,
        E::ServerError { code, .. } => *code == 401,
        E::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| format!("{:?}", e.code).eq_ignore_ascii_case("unauthorized")),
        E::RequestError(e) => e.status().is_some_and(|s| s.as_u16() == 401),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_401_in_every_shape() {
        use oci_client::errors::OciDistributionError as E;
        assert!(is_unauthorized(&E::UnauthorizedError { url: "u".into() }));
        assert!(is_unauthorized(&E::ServerError {
            code: 401,
            url: "u".into(),
            message: String::new()
        }));
        let envelope = serde_json::from_str(
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        )
        .unwrap();
        assert!(is_unauthorized(&E::RegistryError {
            envelope,
            url: "u".into()
        }));
        let envelope =
            serde_json::from_str(r#"{"errors":[{"code":"DENIED","message":"no"}]}"#).unwrap();
        assert!(!is_unauthorized(&E::RegistryError {
            envelope,
            url: "u".into()
        }));
        assert!(!is_unauthorized(&E::ServerError {
            code: 403,
            url: "u".into(),
            message: String::new()
        }));
    }
}
