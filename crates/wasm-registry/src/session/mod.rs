//! Talking to registries: one [`Transport`] per process, one [`Session`] per registry and
//! identity, and the one place where a request is sent ([`Session::request`]).
//!
//! Requests are made with our own HTTP client (reqwest, built by [`client`]) rather than
//! oci-client's: that one re-probes `GET /v2/` before operations, hides the response headers a
//! decision needs (`Retry-After`, `WWW-Authenticate`), reads a manifest whole before any size
//! check, and reports errors as text (docs/reliability.md).
//!
//! Per registry ([`Endpoint`], shared by every session of the process):
//! - the [`ConnectionPlan`] and the HTTP client for its trust;
//! - the scheme, learnt from the first answer when the plan says "TLS, then plain HTTP";
//! - the registry's challenge, learnt from its first 401: after that, requests carry their
//!   authorization from the start (Basic, or a token for their scope) instead of being refused
//!   first. The first request to a registry goes alone; the others wait for what it learns.
//!   The challenge (scheme, realm, service: nothing secret) is remembered in the cache, so a
//!   later run skips `GET /v2/` too; a remembered challenge that the registry contradicts (a
//!   401 with another challenge) or whose token service fails is dropped and relearnt.
//!
//! Per identity (registry and credentials): access tokens by scope, fetched once and reused by
//! every request with that scope, renewed when stale by our clock or when the registry answers
//! 401 to them (once per request; a second 401 means the credentials lack the scope).
//!
//! What must stay true: credentials and tokens go only to the registry's own origin and only
//! when the plan allows it ([`ConnectionPlan::may_send_credentials`]); an upload location or
//! redirect elsewhere gets none; tokens are never written anywhere.

mod api;
mod auth;
mod client;
mod retry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, Response};
use url::Url;
use wasm_config::{RegistryName, Scheme, Secret};

pub use auth::{Challenge, realm_is_safe, scope};
pub(crate) use auth::{refresh_token_grant, token_answer, token_request_url};
pub use client::DnsError;
pub use retry::RetryPolicy;
pub(crate) use retry::Watchdog;

use crate::cache::Cache;
use crate::credentials::{Credential, CredentialChain, Resolution};
use crate::error::{Action, Ctx, ErrorAnswer, RegistryError, classify_transport, error_text};
use crate::plan::{ConnectionPlan, Flags, SchemeChoice};
use auth::{Token, TokenCredential, TokenError};
use client::Clients;

/// Options from the command line that apply to every registry.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    /// `--plain-http`: speak plain HTTP.
    pub plain_http: bool,
    /// `--insecure`: do not verify TLS certificates.
    pub insecure: bool,
    /// Retries of requests that fail for a transient reason.
    pub retry: RetryPolicy,
    /// `--timeout`: a request that makes no progress for this long fails (connecting, waiting
    /// for an answer, or a body slower than 1 KiB/s on average over this span).
    pub timeout: Duration,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self {
            plain_http: false,
            insecure: false,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
        }
    }
}

impl TransportOptions {
    /// The flags the connection plan takes.
    pub fn flags(&self) -> Flags {
        Flags {
            plain_http: self.plain_http,
            insecure: self.insecure,
        }
    }
}

/// Opens sessions to registries, sharing the credential chain, the HTTP clients, what each
/// registry has taught (scheme, challenge) and the tokens of each identity.
pub struct Transport {
    chain: Arc<CredentialChain>,
    options: TransportOptions,
    cache: Option<Cache>,
    clients: Clients,
    endpoints: Mutex<HashMap<RegistryName, Arc<Endpoint>>>,
    tokens: Mutex<HashMap<Identity, Arc<Tokens>>>,
}

impl Transport {
    /// A transport over a credential chain.
    pub fn new(chain: Arc<CredentialChain>, options: TransportOptions) -> Self {
        Self {
            chain,
            options,
            cache: None,
            clients: Clients::default(),
            endpoints: Mutex::default(),
            tokens: Mutex::default(),
        }
    }

    /// Uses `cache` for manifests and blobs.
    pub fn with_cache(mut self, cache: Option<Cache>) -> Self {
        self.cache = cache;
        self
    }

    /// The local cache, if any.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// The credential chain.
    pub fn chain(&self) -> &Arc<CredentialChain> {
        &self.chain
    }

    /// The options every session gets.
    pub fn options(&self) -> &TransportOptions {
        &self.options
    }

    /// The plan for `registry`, with a scheme written in the address the user typed, if any
    /// (see [`ConnectionPlan::decide`]).
    pub fn plan(&self, registry: &RegistryName, address_scheme: Option<Scheme>) -> ConnectionPlan {
        let ssl_cert_file = std::env::var_os("SSL_CERT_FILE")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from);
        ConnectionPlan::decide(
            registry,
            self.chain.config().registry(registry),
            self.options.flags(),
            address_scheme,
            ssl_cert_file,
        )
    }

    /// The HTTP client for `plan`'s trust (one per distinct trust per process).
    pub(crate) fn client_for(
        &self,
        plan: &ConnectionPlan,
    ) -> Result<reqwest::Client, RegistryError> {
        self.clients.get(
            &plan.trust(),
            plan.registry.as_str(),
            self.options.timeout.min(Duration::from_secs(15)),
        )
    }

    /// The endpoint of `registry` (made on first use, then shared).
    pub(crate) fn endpoint(
        &self,
        registry: &RegistryName,
        address_scheme: Option<Scheme>,
    ) -> Result<Arc<Endpoint>, RegistryError> {
        if address_scheme.is_none()
            && let Some(e) = self.endpoints.lock().expect("poisoned").get(registry)
        {
            return Ok(e.clone());
        }
        let plan = self.plan(registry, address_scheme);
        let client = self.client_for(&plan)?;
        let endpoint = Arc::new(Endpoint::new(
            plan,
            client,
            self.options.timeout,
            self.cache.clone(),
        ));
        if address_scheme.is_none() {
            self.endpoints
                .lock()
                .expect("poisoned")
                .insert(registry.clone(), endpoint.clone());
        }
        Ok(endpoint)
    }

    /// Opens a session for `registry`, resolving its credentials for `repository` (Podman keys
    /// may be namespaced).
    pub async fn session(
        &self,
        registry: &RegistryName,
        repository: &str,
    ) -> Result<Session, RegistryError> {
        let endpoint = self.endpoint(registry, None)?;
        let chain = self.chain.clone();
        let (reg, repo) = (registry.clone(), repository.to_string());
        let resolution = tokio::task::spawn_blocking(move || chain.resolve(&reg, Some(&repo)))
            .await
            .map_err(|source| RegistryError::Task {
                what: "the credential lookup",
                source,
            })??;
        let withheld = resolution.credential != Credential::Anonymous
            && match endpoint.plan.scheme {
                SchemeChoice::Fixed(scheme) => !endpoint.plan.may_send_credentials(scheme),
                SchemeChoice::TlsThenPlain => false,
            };
        if withheld {
            tracing::warn!(
                "not sending the credentials for {registry} over plain HTTP; set `protocol = \"http\"` for it to allow that"
            );
        }
        // Tokens are shared by every session with the same registry and credentials.
        let identity = Identity {
            registry: registry.clone(),
            kind: resolution.credential.kind(),
            username: resolution.credential.username().map(str::to_owned),
            withheld,
        };
        let tokens = self
            .tokens
            .lock()
            .expect("poisoned")
            .entry(identity)
            .or_default()
            .clone();
        tracing::debug!(
            registry = %registry,
            scheme = ?endpoint.plan.scheme,
            credentials = %resolution.describe_source(),
            "session"
        );
        Ok(Session {
            registry: registry.clone(),
            endpoint,
            resolution,
            withheld,
            tokens,
            retry: self.options.retry,
            timeout: self.options.timeout,
        })
    }
}

/// One registry as this process knows it: its plan, its client, and what it has taught.
pub(crate) struct Endpoint {
    pub(crate) plan: ConnectionPlan,
    pub(crate) client: reqwest::Client,
    timeout: Duration,
    /// Where a probed scheme is remembered between invocations.
    cache: Option<Cache>,
    learnt: Mutex<Learnt>,
    /// Held by the first request, so that the others go with what it learns.
    first: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Learnt {
    /// The scheme; `None` while "TLS, then plain HTTP" has not been settled.
    scheme: Option<Scheme>,
    /// The registry's challenge, once a 401 showed it (or remembered from an earlier run).
    challenge: Option<Challenge>,
    /// The challenge was shown by the registry in this run, not only remembered.
    challenge_confirmed: bool,
    /// A request has completed (answered or failed).
    settled: bool,
}

impl Endpoint {
    fn new(
        plan: ConnectionPlan,
        client: reqwest::Client,
        timeout: Duration,
        cache: Option<Cache>,
    ) -> Self {
        let scheme = match plan.scheme {
            SchemeChoice::Fixed(s) => Some(s),
            // Learnt by an earlier invocation; relearnt if the registry answers otherwise.
            SchemeChoice::TlsThenPlain => cache.as_ref().and_then(|c| c.scheme(&plan.registry)),
        };
        if let (SchemeChoice::TlsThenPlain, Some(s)) = (plan.scheme, scheme) {
            tracing::debug!(registry = %plan.registry, scheme = %s, "scheme remembered from an earlier run");
        }
        let challenge = cache
            .as_ref()
            .and_then(|c| c.challenge(&plan.registry))
            .filter(Challenge::usable_from_cache);
        if let Some(c) = &challenge {
            tracing::debug!(registry = %plan.registry, scheme = %c.scheme, realm = c.realm(), "challenge remembered from an earlier run");
        }
        Self {
            plan,
            client,
            timeout,
            cache,
            learnt: Mutex::new(Learnt {
                scheme,
                challenge,
                ..Learnt::default()
            }),
            first: tokio::sync::Mutex::new(()),
        }
    }

    fn learnt(&self) -> std::sync::MutexGuard<'_, Learnt> {
        self.learnt.lock().expect("poisoned")
    }

    /// The scheme to use now, and whether it may still change (the plan says "TLS, then plain
    /// HTTP": probed, or remembered from an earlier run).
    pub(crate) fn scheme(&self) -> (Scheme, bool) {
        let open = self.plan.scheme == SchemeChoice::TlsThenPlain;
        match self.learnt().scheme {
            Some(s) => (s, open),
            None => (Scheme::Https, open),
        }
    }

    /// Settles the scheme of a "TLS, then plain HTTP" registry before its first request: a TLS
    /// hello with a one-second budget. A TLS answer means HTTPS; a plain-HTTP answer, or none
    /// at all (a plain TCP relay that waits for an HTTP request), means plain HTTP. Remembered
    /// in the cache, so later invocations make no probe.
    async fn settle_scheme(&self) {
        if self.plan.scheme != SchemeChoice::TlsThenPlain || self.learnt().scheme.is_some() {
            return;
        }
        const BUDGET: Duration = Duration::from_secs(1);
        let registry = &self.plan.registry;
        let host = registry
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = registry.port().unwrap_or(443);
        let connected =
            tokio::time::timeout(BUDGET, tokio::net::TcpStream::connect((host, port))).await;
        let scheme = match connected {
            // Nothing to learn from a port that does not answer: the request reports it.
            Ok(Err(_)) | Err(_) => return,
            Ok(Ok(stream)) => {
                match crate::diagnose::tls_hello(stream, registry.host(), BUDGET).await {
                    Ok(()) => Scheme::Https,
                    Err(crate::diagnose::HandshakeError::NotTls)
                    | Err(crate::diagnose::HandshakeError::TimedOut) => Scheme::Http,
                    Err(crate::diagnose::HandshakeError::Other(_)) => Scheme::Https,
                }
            }
        };
        tracing::debug!(registry = %registry, scheme = %scheme, "probed the scheme of a registry on this machine");
        self.learn_scheme(scheme);
    }

    /// Records the scheme a "TLS, then plain HTTP" registry speaks, here and in the cache.
    fn learn_scheme(&self, scheme: Scheme) {
        self.learnt().scheme = Some(scheme);
        if let Some(cache) = &self.cache
            && let Err(e) = cache.set_scheme(&self.plan.registry, scheme)
        {
            tracing::debug!(
                "cannot remember the scheme in {}: {e}",
                cache.root().display()
            );
        }
    }

    fn challenge(&self) -> Option<Challenge> {
        self.learnt().challenge.clone()
    }

    /// Whether the challenge in use was shown by the registry in this run.
    fn challenge_confirmed(&self) -> bool {
        self.learnt().challenge_confirmed
    }

    /// Records the challenge of a 401 from the registry, here and (when it differs from what
    /// is remembered) in the cache.
    fn learn_challenge(&self, challenge: Challenge) {
        let remembered = challenge.remembered();
        let changed = {
            let mut learnt = self.learnt();
            let changed = learnt
                .challenge
                .as_ref()
                .map(Challenge::remembered)
                .as_ref()
                != Some(&remembered);
            learnt.challenge = Some(challenge);
            learnt.challenge_confirmed = true;
            changed
        };
        // One that a later run would not use (a realm that may not receive credentials) is
        // not kept.
        let kept = remembered.usable_from_cache().then_some(&remembered);
        if changed
            && let Some(cache) = &self.cache
            && let Err(e) = cache.set_challenge(&self.plan.registry, kept)
        {
            tracing::debug!(
                "cannot remember the challenge in {}: {e}",
                cache.root().display()
            );
        }
    }

    /// Drops a remembered challenge that failed, here and in the cache.
    fn forget_challenge(&self) {
        {
            let mut learnt = self.learnt();
            learnt.challenge = None;
            learnt.challenge_confirmed = false;
        }
        if let Some(cache) = &self.cache
            && let Err(e) = cache.set_challenge(&self.plan.registry, None)
        {
            tracing::debug!(
                "cannot forget the challenge in {}: {e}",
                cache.root().display()
            );
        }
    }

    /// `GET /v2/` without credentials, learning the scheme as a first request does: for
    /// `wasm login`, which checks credentials itself.
    pub(crate) async fn get_v2(&self) -> Result<(Response, Scheme), RegistryError> {
        let (response, url) = self.get_without_credentials("v2/").await?;
        let scheme = if url.scheme() == "http" {
            Scheme::Http
        } else {
            Scheme::Https
        };
        Ok((response, scheme))
    }

    /// `GET` of `path` below the root without credentials (the API version check, a discovery
    /// document), learning the scheme as a first request does; returns the answer and the URL
    /// asked.
    pub(crate) async fn get_without_credentials(
        &self,
        path: &str,
    ) -> Result<(Response, Url), RegistryError> {
        let registry = self.plan.registry.as_str();
        self.settle_scheme().await;
        let mut relearnt = false;
        loop {
            let (scheme, open) = self.scheme();
            let url =
                self.plan
                    .base_url(scheme)
                    .join(path)
                    .map_err(|e| RegistryError::Protocol {
                        registry: registry.to_owned(),
                        problem: format!("cannot form a URL for `{path}`: {e}"),
                    })?;
            match self
                .client
                .get(url.clone())
                .timeout(self.timeout)
                .send()
                .await
            {
                Ok(response) => {
                    if open && !relearnt && wants_tls(&response, scheme) {
                        relearnt = true;
                        self.learn_scheme(Scheme::Https);
                        continue;
                    }
                    return Ok((response, url));
                }
                Err(e) => {
                    let error = classify_transport(registry, &format!("GET {url}"), Box::new(e));
                    if open && !relearnt && matches!(error, RegistryError::NotTls { .. }) {
                        relearnt = true;
                        self.learn_scheme(Scheme::Http);
                        continue;
                    }
                    return Err(error);
                }
            }
        }
    }

    /// Reads a small answer's body within the timeout and `max` bytes; `what` names the request
    /// in errors.
    pub(crate) async fn read_body(
        &self,
        response: Response,
        max: usize,
        what: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let registry = self.plan.registry.to_string();
        match tokio::time::timeout(self.timeout, api::read_limited(response, max)).await {
            Err(_) => Err(RegistryError::Stalled {
                registry,
                what: what.to_owned(),
                after: self.timeout,
            }),
            Ok(Err(api::BodyError::TooLarge(_))) => Err(RegistryError::Protocol {
                registry,
                problem: format!("the answer to {what} is larger than {max} bytes"),
            }),
            Ok(Err(api::BodyError::Transport(e))) => {
                Err(classify_transport(&registry, what, Box::new(e)))
            }
            Ok(Ok(bytes)) => Ok(bytes),
        }
    }

    /// Waits for the first request to the registry, if it is under way; returns a guard when
    /// this request is the first.
    async fn first_request(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.learnt().settled {
            return None;
        }
        let guard = self.first.lock().await;
        if self.learnt().settled {
            None
        } else {
            Some(guard)
        }
    }
}

/// Who asks a registry for tokens: sessions with the same identity share them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Identity {
    registry: RegistryName,
    kind: &'static str,
    username: Option<String>,
    withheld: bool,
}

/// Access tokens of one identity at one registry, by scope (the sorted scope strings).
#[derive(Default)]
struct Tokens {
    by_scope: Mutex<HashMap<Vec<String>, Token>>,
    /// One token request at a time per scope, so that concurrent requests with that scope wait
    /// for it and reuse it, while requests for other scopes (other repositories of a batch)
    /// fetch theirs at the same time.
    fetching: Mutex<HashMap<Vec<String>, Arc<tokio::sync::Mutex<()>>>>,
}

/// Everything needed to talk to one registry as one identity.
pub struct Session {
    /// The registry.
    pub registry: RegistryName,
    pub(crate) endpoint: Arc<Endpoint>,
    /// How the credentials were found.
    pub resolution: Resolution,
    /// Credentials were found but withheld (plain HTTP to a remote host).
    pub withheld: bool,
    tokens: Arc<Tokens>,
    /// Retries of transient failures.
    pub(crate) retry: RetryPolicy,
    /// No progress for this long fails a request.
    pub(crate) timeout: Duration,
}

/// Where a request goes.
pub(crate) enum Target<'a> {
    /// A path below the registry's API root, e.g. `v2/org/app/manifests/1`.
    Path(String),
    /// An absolute URL a registry gave (an upload location).
    Url(&'a Url),
}

/// One request: what [`Session::request`] sends, and how to judge the answer.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) target: Target<'a>,
    /// The token scopes the request needs.
    pub(crate) scopes: Vec<String>,
    pub(crate) headers: HeaderMap,
    /// Makes the body, anew for each attempt.
    pub(crate) body: Option<&'a (dyn Fn() -> reqwest::Body + Send + Sync)>,
    /// Statuses handed back to the caller instead of being reported as errors (404 for an
    /// existence check).
    pub(crate) pass: &'a [u16],
    /// The repository and the reference as the user gave it, for errors.
    pub(crate) repository: &'a str,
    pub(crate) reference: String,
    pub(crate) action: Action,
    /// The answer's headers must arrive within this time; `None` for uploads, which watch
    /// their own progress.
    pub(crate) limit: Option<Duration>,
}

impl<'a> Call<'a> {
    /// A `method` request to `target` for `action` on `repository` (scope from both).
    pub(crate) fn new(
        method: Method,
        target: Target<'a>,
        repository: &'a str,
        reference: String,
        action: Action,
    ) -> Self {
        Self {
            method,
            target,
            scopes: vec![scope(repository, action)],
            headers: HeaderMap::new(),
            body: None,
            pass: &[],
            repository,
            reference,
            action,
            limit: None,
        }
    }
}

impl Session {
    /// Context for classifying errors of `call`.
    pub(crate) fn ctx<'b>(&'b self, call: &'b Call<'_>, authenticated: bool) -> Ctx<'b> {
        Ctx {
            registry: self.registry.as_str(),
            repository: call.repository,
            reference: call.reference.clone(),
            action: call.action,
            resolution: &self.resolution,
            withheld: self.withheld,
            authenticated,
        }
    }

    /// Sends `call` once (no retry: see [`RetryPolicy::run`]), learning the scheme and the
    /// challenge on the way and renewing authorization once when the registry answers 401.
    /// Returns the answer when it is a success or one of `call.pass`; every other answer, and
    /// a request without answer, is classified into a [`RegistryError`].
    pub(crate) async fn request(&self, call: &Call<'_>) -> Result<Response, RegistryError> {
        let endpoint = &self.endpoint;
        let sends_credentials =
            self.resolution.credential != Credential::Anonymous && !self.withheld;
        // Without credentials and with the scheme known, there is nothing for a first request
        // to learn that the others need before they start: at worst each is refused once and
        // they share one anonymous token. So they all go at once (a push's existence checks
        // are one round trip, not two).
        // Nor with credentials when the challenge is known too (remembered from an earlier
        // run): every request carries its authorization from the start.
        let knows_enough = {
            let learnt = endpoint.learnt();
            learnt.scheme.is_some() && (!sends_credentials || learnt.challenge.is_some())
        };
        let mut first = if knows_enough {
            None
        } else {
            endpoint.first_request().await
        };
        let result = async {
            if first.is_some() {
                endpoint.settle_scheme().await;
            }
            // With credentials to send, the challenge is learnt from `GET /v2/` before the first
            // request, which then carries them: an upload's body is never sent only to be
            // refused. Without, the first request learns it (an open registry needs nothing).
            if first.is_some() && endpoint.challenge().is_none() && sends_credentials {
                self.learn_challenge(call).await?;
                if endpoint.learnt().scheme.is_some() {
                    // Scheme and challenge are known: the others go now, not after this request.
                    endpoint.learnt().settled = true;
                    first = None;
                }
            }
            self.request_once(call).await
        }
        .await;
        // A transient failure leaves the next attempt to learn again.
        if first.is_some() && !result.as_ref().is_err_and(RegistryError::is_transient) {
            endpoint.learnt().settled = true;
        }
        result
    }

    /// `GET /v2/`: the registry's challenge, if it has one.
    async fn learn_challenge(&self, call: &Call<'_>) -> Result<(), RegistryError> {
        let (response, scheme) = self.endpoint.get_v2().await?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            401 => {
                if let Some(challenge) = Challenge::of(response.headers()) {
                    tracing::debug!(registry = %self.registry, scheme = %challenge.scheme, "challenge");
                    self.endpoint.learn_challenge(challenge);
                }
                Ok(())
            }
            _ => {
                let answer = error_answer(response, scheme).await;
                Err(self.ctx(call, false).classify_answer(&answer))
            }
        }
    }

    async fn request_once(&self, call: &Call<'_>) -> Result<Response, RegistryError> {
        let endpoint = &self.endpoint;
        let what = format!("{} {}", call.method, call.repository);
        // At most once each: authorizing after a challenge, renewing a refused token, and
        // authorizing anew under a challenge other than the one the request was sent under.
        let mut authorized = false;
        let mut renewed = false;
        let mut rechallenged = false;
        // Once: a remembered or probed scheme that the registry's answer contradicts.
        let mut relearnt = false;
        loop {
            let (scheme, open) = endpoint.scheme();
            let open = open && matches!(call.target, Target::Path(_));
            let url = match &call.target {
                Target::Path(path) => endpoint.plan.base_url(scheme).join(path).map_err(|e| {
                    RegistryError::Protocol {
                        registry: self.registry.to_string(),
                        problem: format!("cannot form a URL for `{path}`: {e}"),
                    }
                })?,
                Target::Url(url) => (*url).clone(),
            };
            let sent_under = endpoint.challenge();
            let sent = self.authorization(call, &url, scheme).await?;
            let mut builder = endpoint
                .client
                .request(call.method.clone(), url.clone())
                .headers(call.headers.clone());
            if let Some(value) = sent.header() {
                builder = builder.header(AUTHORIZATION, value);
            }
            if let Some(body) = call.body {
                builder = builder.body(body());
            }
            let outcome = match call.limit {
                Some(limit) => tokio::time::timeout(limit, builder.send())
                    .await
                    .map_err(|_| RegistryError::Stalled {
                        registry: self.registry.to_string(),
                        what: format!("a request for {}", call.repository),
                        after: limit,
                    })?,
                None => builder.send().await,
            };
            let response = match outcome {
                Ok(response) => response,
                Err(e) => {
                    let error = classify_transport(self.registry.as_str(), &what, Box::new(e));
                    if open && !relearnt && matches!(error, RegistryError::NotTls { .. }) {
                        tracing::debug!(registry = %self.registry, "no TLS on this port: plain HTTP");
                        relearnt = true;
                        endpoint.learn_scheme(Scheme::Http);
                        continue;
                    }
                    return Err(error);
                }
            };
            if open && !relearnt && wants_tls(&response, scheme) {
                tracing::debug!(registry = %self.registry, "the port wants TLS");
                relearnt = true;
                endpoint.learn_scheme(Scheme::Https);
                continue;
            }
            let status = response.status().as_u16();
            tracing::trace!(method = %call.method, url = %url, status, "answer");
            if status == 401 && endpoint.plan.is_registry_origin(&url, scheme) {
                let challenge = Challenge::of(response.headers());
                if let Some(c) = &challenge {
                    endpoint.learn_challenge(c.clone());
                }
                let other_challenge = challenge.as_ref().map(Challenge::remembered)
                    != sent_under.as_ref().map(Challenge::remembered);
                match (&sent, &challenge) {
                    // Authorization under a challenge the registry no longer makes (one
                    // remembered from an earlier run: the registry moved its token service, or
                    // went from Basic to tokens): once more under the one it makes now.
                    (Sent::Basic(_) | Sent::Token { .. }, Some(_))
                        if other_challenge && !rechallenged =>
                    {
                        tracing::debug!(registry = %self.registry, "the registry answers with another challenge than the one remembered; authorizing anew");
                        rechallenged = true;
                        self.forget_token(call, &sent);
                        continue;
                    }
                    // A challenge that authorization can answer: a token (with the credentials,
                    // or anonymous), or the username and password.
                    (Sent::None, Some(c))
                        if !authorized
                            && (c.is_bearer()
                                || matches!(self.credential(scheme), Credential::Basic { .. })) =>
                    {
                        authorized = true;
                        continue;
                    }
                    // A token the registry no longer accepts (expired early, revoked, a clock
                    // behind the registry's): a new one, and the request once more.
                    (Sent::Token { .. }, Some(_)) if !renewed => {
                        tracing::info!(
                            registry = %self.registry,
                            repository = call.repository,
                            "the registry refused the request (access token expired?); renewing the token"
                        );
                        renewed = true;
                        self.forget_token(call, &sent);
                        let token = self.authorization(call, &url, scheme).await?;
                        if matches!(token, Sent::Token { .. }) {
                            tracing::info!(registry = %self.registry, "renewed the access token; retrying once");
                        }
                        continue;
                    }
                    _ => {}
                }
                let answer = error_answer(response, scheme).await;
                let authenticated = matches!(
                    sent,
                    Sent::Token {
                        with_credentials: true,
                        ..
                    }
                );
                return Err(self.ctx(call, authenticated).classify_answer(&answer));
            }
            if response.status().is_success() || call.pass.contains(&status) {
                return Ok(response);
            }
            let answer = error_answer(response, scheme).await;
            let authenticated = !matches!(sent, Sent::None);
            return Err(self.ctx(call, authenticated).classify_answer(&answer));
        }
    }

    /// The credentials that may be used over `scheme`: none when they are withheld.
    fn credential(&self, scheme: Scheme) -> &Credential {
        if self.withheld || !self.endpoint.plan.may_send_credentials(scheme) {
            &Credential::Anonymous
        } else {
            &self.resolution.credential
        }
    }

    /// The authorization for `call` to `url`. Only the registry's own origin gets any.
    async fn authorization(
        &self,
        call: &Call<'_>,
        url: &Url,
        scheme: Scheme,
    ) -> Result<Sent, RegistryError> {
        if !self.endpoint.plan.is_registry_origin(url, scheme) {
            return Ok(Sent::None);
        }
        let Some(challenge) = self.endpoint.challenge() else {
            return Ok(Sent::None);
        };
        let credential = self.credential(scheme);
        if !challenge.is_bearer() {
            return match credential {
                Credential::Basic { username, password } => {
                    Ok(Sent::Basic(basic(username, password)))
                }
                Credential::Anonymous => Ok(Sent::None),
                Credential::IdentityToken { .. } => Err(RegistryError::Protocol {
                    registry: self.registry.to_string(),
                    problem: format!(
                        "the credentials from {} are an identity token, but the registry does \
                         not use token authentication (it asks for Basic auth); log in with a \
                         username and password instead",
                        self.resolution.describe_source()
                    ),
                }),
            };
        }
        let token = match self.token(call, &challenge, credential).await {
            Ok(token) => token,
            // A challenge remembered from an earlier run whose token service fails now (moved,
            // gone, or refusing): ask the registry for its challenge, and authorize under that.
            Err(e) if !self.endpoint.challenge_confirmed() => {
                tracing::debug!(registry = %self.registry, "the token request under the remembered challenge failed ({e}); asking the registry for its challenge");
                self.endpoint.forget_challenge();
                self.learn_challenge(call).await?;
                return Box::pin(self.authorization(call, url, scheme)).await;
            }
            Err(e) => return Err(e),
        };
        let mut value =
            HeaderValue::try_from(format!("Bearer {}", token.expose())).map_err(|_| {
                RegistryError::Protocol {
                    registry: self.registry.to_string(),
                    problem: "the token endpoint issued a token that is not a header value".into(),
                }
            })?;
        value.set_sensitive(true);
        Ok(Sent::Token {
            header: value,
            token,
            with_credentials: *credential != Credential::Anonymous,
        })
    }

    fn scope_key(call: &Call<'_>) -> Vec<String> {
        let mut scopes = call.scopes.clone();
        scopes.sort();
        scopes
    }

    /// Drops the token for `call`'s scopes if it is still the one `sent` carried: requests
    /// refused together with the same token renew it once, not once each (a request refused
    /// after another one renewed it keeps the new token).
    fn forget_token(&self, call: &Call<'_>, sent: &Sent) {
        let Sent::Token { token, .. } = sent else {
            return;
        };
        let mut by_scope = self.tokens.by_scope.lock().expect("poisoned");
        let key = Self::scope_key(call);
        if by_scope.get(&key).is_some_and(|t| t.value == *token) {
            by_scope.remove(&key);
        }
    }

    /// The token for `call`'s scopes: the one this identity holds, or a new one (one token
    /// request at a time per scope; concurrent requests with that scope wait for it and share
    /// it).
    async fn token(
        &self,
        call: &Call<'_>,
        challenge: &Challenge,
        credential: &Credential,
    ) -> Result<Secret<String>, RegistryError> {
        let key = Self::scope_key(call);
        let cached = |tokens: &Tokens| {
            tokens
                .by_scope
                .lock()
                .expect("poisoned")
                .get(&key)
                .filter(|t| !t.is_stale())
                .map(|t| t.value.clone())
        };
        if let Some(token) = cached(&self.tokens) {
            return Ok(token);
        }
        let flight = Arc::clone(
            self.tokens
                .fetching
                .lock()
                .expect("poisoned")
                .entry(key.clone())
                .or_default(),
        );
        let _one_at_a_time = flight.lock().await;
        if let Some(token) = cached(&self.tokens) {
            return Ok(token);
        }
        let sent = match credential {
            Credential::Anonymous => TokenCredential::Anonymous,
            Credential::Basic { username, password } => {
                TokenCredential::Basic { username, password }
            }
            Credential::IdentityToken { token, .. } => TokenCredential::Refresh(token),
        };
        let token = auth::request_token(
            &self.endpoint.client,
            challenge,
            &call.scopes,
            sent,
            self.timeout,
        )
        .await
        .map_err(|e| self.token_error(call, credential, e))?;
        let value = token.value.clone();
        self.tokens
            .by_scope
            .lock()
            .expect("poisoned")
            .insert(key, token);
        Ok(value)
    }

    fn token_error(
        &self,
        call: &Call<'_>,
        credential: &Credential,
        e: TokenError,
    ) -> RegistryError {
        let registry = self.registry.to_string();
        let protocol = |problem: String| RegistryError::Protocol {
            registry: registry.clone(),
            problem,
        };
        match e {
            TokenError::NoRealm => protocol("its Bearer challenge names no realm".into()),
            TokenError::BadRealm(realm) => {
                protocol(format!("its token realm `{realm}` is not a URL"))
            }
            TokenError::UnsafeRealm(realm) => RegistryError::UnsafeRealm {
                registry,
                realm: realm.to_string(),
            },
            TokenError::BadAnswer(problem) => protocol(problem.into()),
            TokenError::Transport(e) => classify_transport(&registry, "token request", Box::new(e)),
            TokenError::Refused { status, body } => match (credential, status) {
                (Credential::IdentityToken { .. }, _) => RegistryError::Rejected {
                    registry,
                    username: "<token>".into(),
                    source_desc: self.resolution.describe_source(),
                    detail: format!("token endpoint answered {status}: {}", error_text(&body)),
                },
                (_, 401) => self.ctx(call, false).unauthorized(error_text(&body)),
                _ => self.ctx(call, false).classify_answer(&ErrorAnswer {
                    status,
                    body,
                    retry_after: None,
                    plain_http: false,
                    http10: false,
                }),
            },
        }
    }
}

/// Whether an answer to plain HTTP says the port wants TLS: Go's HTTP server answers plain HTTP
/// on a TLS port with a bare `HTTP/1.0 400` before any registry code runs (docs/registries.md).
fn wants_tls(response: &Response, scheme: Scheme) -> bool {
    scheme == Scheme::Http
        && response.status().as_u16() == 400
        && response.version() == reqwest::Version::HTTP_10
}

/// The authorization a request carried.
enum Sent {
    /// None.
    None,
    /// The username and password.
    Basic(HeaderValue),
    /// An access token, obtained with the user's credentials or anonymously.
    Token {
        header: HeaderValue,
        /// The token in the header (to tell whether it is still the one held).
        token: Secret<String>,
        with_credentials: bool,
    },
}

impl Sent {
    fn header(&self) -> Option<HeaderValue> {
        match self {
            Sent::None => None,
            Sent::Basic(h) | Sent::Token { header: h, .. } => Some(h.clone()),
        }
    }
}

/// `Basic base64(user:password)`, marked sensitive so that it never reaches a log.
fn basic(username: &str, password: &Secret<String>) -> HeaderValue {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{username}:{}", password.expose()));
    let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

/// Reads an error answer (its first 64 KiB, for at most 10 s) for classification.
async fn error_answer(response: Response, scheme: Scheme) -> ErrorAnswer {
    let status = response.status().as_u16();
    let http10 = response.version() == reqwest::Version::HTTP_10;
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::error::parse_retry_after);
    let body = tokio::time::timeout(
        Duration::from_secs(10),
        api::read_limited(response, 64 * 1024),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .map(|b| String::from_utf8_lossy(&b).into_owned())
    .unwrap_or_default();
    ErrorAnswer {
        status,
        body,
        retry_after,
        plain_http: scheme == Scheme::Http,
        http10,
    }
}
