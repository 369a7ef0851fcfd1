//! `wasm registry test`: whether a registry works for `push` and `pull`, and if not, exactly why
//! and what to do, step by step and with one verdict.
//!
//! The steps build on each other:
//! 1. **credentials**: the [`CredentialChain`](crate::CredentialChain), each source and its
//!    outcome, the username (never a secret);
//! 2. **connection**: the address, the proxy in effect, plain HTTP or TLS, and for TLS the
//!    server's certificate and whether it is trusted;
//! 3. **`GET /v2/`**: whether an OCI registry answers, and its challenge;
//! 4. **authentication**: the request a client makes with those credentials (Basic, the token
//!    request, or the refresh-token grant for identity tokens) and the answer;
//! 5. **access** to a repository: pull, and push when asked.
//!
//! [`run`] performs them (the I/O lives in `probe`, `tls` and `proxy`) and collects
//! [`Findings`] (the types of `findings`: data for `--json`, and the lines shown);
//! [`Verdict::decide`] (`verdict`) turns findings into one verdict and its fix. That function is
//! pure: its unit tests (`tests`) cover every verdict, including those no end-to-end test can
//! provoke.
//!
//! What must stay true:
//! - No secret reaches a [`Report`]: credentials stay in [`Secret`](wasm_config::Secret)s, tokens
//!   are only decoded for their `access` claim, requests are described without their
//!   `Authorization` header or form secrets, and proxy URLs lose their user information.
//! - The checks do what `push` and `pull` do: the same credential chain, the same choice of plain
//!   HTTP or TLS, the same trusted certificates (rustls-platform-verifier with `ca-file` and
//!   `SSL_CERT_FILE`, as reqwest), the same proxy rules (hyper-util's matcher, as reqwest), and
//!   the token request the session makes. A passing test means those commands get past
//!   connecting and authenticating.
//! - Harmless: nothing is written, except a blob upload session for `--push` without a token
//!   that states its access, and that session is cancelled at once.

mod findings;
mod probe;
mod proxy;
mod tls;
mod verdict;

use serde::Serialize;

use wasm_config::{RegistryName, Scheme};

use crate::reference::{RegistryArgument, RegistryArgumentError};

pub use findings::{
    AccessCheck, AccessFindings, ApiFindings, ApiProblem, AuthFindings, AuthMethod, AuthOutcome,
    CertificateFindings, ChallengeFindings, ConnectionFindings, ConnectionProblem,
    CredentialFindings, CredentialProblem, CredentialProblemKind, Grant, ProxyFindings, TlsProblem,
    TrustFindings, token_access,
};
pub use probe::run;
pub use proxy::ProxyEnv;
pub use verdict::{Verdict, VerdictClass, VerdictCode};

use findings::{describe_grants, join_host_port, status_text};
pub(crate) use tls::{HandshakeError, tls_hello};

/// The registry as the user wrote it, and what `wasm` makes of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// As given, e.g. `https://index.docker.io/v1/`.
    pub input: String,
    /// The registry, e.g. `docker.io`.
    pub registry: RegistryName,
    /// Where requests go: `index.docker.io` for Docker Hub, else the registry.
    pub api_host: String,
    /// The scheme written in the input (`http://`, `https://`), if any.
    pub scheme: Option<Scheme>,
    /// A repository named by a path in the input (`ghcr.io/me/app`).
    pub repository: Option<String>,
}

impl Target {
    /// Reads a registry argument ([`RegistryArgument`], a repository allowed): `ghcr.io`,
    /// `https://ghcr.io/v2/`, `https://index.docker.io/v1/`, `http://localhost:5000`,
    /// `ghcr.io/me/app`.
    pub fn parse(input: &str) -> Result<Self, RegistryArgumentError> {
        let argument = RegistryArgument::parse(input, true)?;
        Ok(Self {
            input: input.to_string(),
            api_host: argument.name.api_authority().to_owned(),
            registry: argument.name,
            scheme: argument.scheme,
            repository: argument.repository,
        })
    }
}

/// What to check besides the registry itself.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The repository whose access to check (pull, and push with `push`).
    pub repository: Option<String>,
    /// Also check push access.
    pub push: bool,
}

// `--plain-http` and `--insecure` reach the checks through the transport's connection plan, as
// they reach `push` and `pull`.

/// Everything the steps found; the input of [`Verdict::decide`].
#[derive(Clone, Debug, Default)]
pub struct Findings {
    /// Step 1.
    pub credentials: CredentialFindings,
    /// Step 2; `None` only before it ran.
    pub connection: Option<ConnectionFindings>,
    /// Step 3; `None` when the connection failed.
    pub api: Option<ApiFindings>,
    /// Step 4; `None` when an earlier step failed.
    pub auth: Option<AuthFindings>,
    /// Step 5; `None` without a repository or when an earlier step failed.
    pub access: Option<AccessFindings>,
}

/// The state of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// It worked.
    Ok,
    /// It failed.
    Failed,
    /// Not done, because an earlier step failed or it was not asked for.
    Skipped,
}

/// One step of the report.
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    /// `credentials`, `connection`, `api`, `authentication`, `access`.
    pub name: &'static str,
    /// Its state.
    pub status: StepStatus,
    /// `status == ok`.
    pub ok: bool,
    /// The heading shown, e.g. `GET /v2/`.
    pub title: String,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The detail lines shown under the heading.
    pub details: Vec<String>,
    /// What the step found, as data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<serde_json::Value>,
}

impl StepReport {
    fn new(
        name: &'static str,
        title: String,
        ok: bool,
        details: Vec<String>,
        findings: &impl Serialize,
    ) -> Self {
        Self {
            name,
            status: if ok {
                StepStatus::Ok
            } else {
                StepStatus::Failed
            },
            ok,
            title,
            skipped: None,
            details,
            findings: serde_json::to_value(findings).ok(),
        }
    }

    fn skipped(name: &'static str, title: String, why: &str) -> Self {
        Self {
            name,
            status: StepStatus::Skipped,
            ok: false,
            title,
            skipped: Some(why.to_string()),
            details: Vec::new(),
            findings: None,
        }
    }
}

/// The outcome of `registry test`: the steps and the verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The canonical registry.
    pub registry: String,
    /// The registry as given.
    pub normalized_from: String,
    /// Where requests go.
    pub api_host: String,
    /// The repository checked, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Whether push access was checked.
    pub push: bool,
    /// The steps, in order.
    pub steps: Vec<StepReport>,
    /// The verdict.
    pub verdict: Verdict,
}

impl Report {
    /// The report of `findings`, with its verdict.
    pub fn new(target: &Target, options: &Options, findings: &Findings) -> Self {
        let verdict = Verdict::decide(target, options, findings);
        let repository = repository_of(target, options);
        let mut steps = Vec::new();
        let c = &findings.credentials;
        steps.push(StepReport::new(
            "credentials",
            "credentials".into(),
            c.problem.is_none(),
            c.lines(),
            c,
        ));
        match &findings.connection {
            Some(conn) => steps.push(StepReport::new(
                "connection",
                "connection".into(),
                conn.problem.is_none(),
                conn.lines(),
                conn,
            )),
            None => steps.push(StepReport::skipped(
                "connection",
                "connection".into(),
                "not checked",
            )),
        }
        match &findings.api {
            Some(api) => steps.push(StepReport::new(
                "api",
                "GET /v2/".into(),
                api.problem.is_none(),
                api.lines(),
                api,
            )),
            None => steps.push(StepReport::skipped(
                "api",
                "GET /v2/".into(),
                "no connection",
            )),
        }
        match &findings.auth {
            Some(auth) => steps.push(StepReport::new(
                "authentication",
                "authentication".into(),
                auth.passed(),
                auth.lines(),
                auth,
            )),
            None => {
                let why = if findings.api.as_ref().is_none_or(|a| a.problem.is_some()) {
                    "no registry answer to authenticate with"
                } else {
                    "the credential chain failed"
                };
                steps.push(StepReport::skipped(
                    "authentication",
                    "authentication".into(),
                    why,
                ));
            }
        }
        let access_title = match &repository {
            Some(r) => format!("access to {r}"),
            None => "access".into(),
        };
        match (&findings.access, &repository) {
            (Some(access), _) => {
                let ok = access.checks().all(|(_, c)| c.granted == Some(true));
                steps.push(StepReport::new(
                    "access",
                    access_title,
                    ok,
                    access.lines(),
                    access,
                ));
            }
            (None, None) => steps.push(StepReport::skipped(
                "access",
                access_title,
                "no repository given: add --repository REPO",
            )),
            (None, Some(_)) => steps.push(StepReport::skipped(
                "access",
                access_title,
                "an earlier step failed",
            )),
        }
        Self {
            registry: target.registry.to_string(),
            normalized_from: target.input.clone(),
            api_host: target.api_host.clone(),
            repository,
            push: options.push,
            steps,
            verdict,
        }
    }
}

/// The repository to check: `--repository`, else a path in the registry argument.
pub fn repository_of(target: &Target, options: &Options) -> Option<String> {
    options
        .repository
        .clone()
        .or_else(|| target.repository.clone())
}

#[cfg(test)]
mod tests;
