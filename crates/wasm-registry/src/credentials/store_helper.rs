//! The Docker credential-helper protocol: `docker-credential-NAME get|list` (and, for `wasm
//! login`, `store|erase`).
//!
//! `get` takes the server string on stdin and prints `{"ServerURL","Username","Secret"}`. A miss
//! is reported in two ways in the wild: a non-zero exit with `credentials not found` on stdout
//! (the reference helpers), or exit 0 with empty `Username` and `Secret`
//! (`docker-credential-pass` 0.6.4, Debian's). Both mean "no entry", never an error.
//!
//! What must stay true: the helper's stdout is a secret; it is parsed and dropped, and appears in
//! an error only when the helper failed and its stdout is its error message (short, not JSON).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use wasm_config::{CommandOutput, ExecError, Secret, run_program};

/// The username a helper answers with when the secret is an identity token.
pub const TOKEN_USERNAME: &str = "<token>";

/// A credential a helper returned.
#[derive(Debug)]
pub(crate) struct HelperCredential {
    pub(crate) username: String,
    pub(crate) secret: Secret<String>,
}

/// A credential helper that could not answer.
#[derive(Debug, Error)]
pub enum StoreHelperError {
    /// `docker-credential-NAME` is not on PATH.
    #[error(
        "credential helper `{program}` is not installed or not on PATH (configured as \
         `{key}: \"{name}\"` in {file}); install it, or remove that setting and log in again"
    )]
    NotInstalled {
        /// `docker-credential-NAME`.
        program: String,
        /// NAME.
        name: String,
        /// `credsStore` or `credHelpers."HOST"`.
        key: String,
        /// The config file that names it.
        file: String,
    },
    /// The helper exited with an error.
    #[error("credential helper `{program} {action}` failed with exit status {status}{}", detail(.message))]
    Failed {
        /// `docker-credential-NAME`.
        program: String,
        /// `get`, `list`, `store` or `erase`.
        action: &'static str,
        /// Its exit status.
        status: i32,
        /// Its stderr, or its stdout when that is an error message.
        message: String,
    },
    /// The helper ran too long and was stopped.
    #[error(
        "credential helper `{program} {action}` did not answer within {} s and was stopped \
         (is it waiting for a password prompt or a locked keyring?)",
        after.as_secs()
    )]
    TimedOut {
        /// `docker-credential-NAME`.
        program: String,
        /// The action.
        action: &'static str,
        /// The time limit.
        after: Duration,
    },
    /// The helper answered something that is not the protocol's JSON.
    #[error(
        "credential helper `{program} {action}` printed something that is not the expected \
         JSON ({expected})"
    )]
    BadOutput {
        /// `docker-credential-NAME`.
        program: String,
        /// The action.
        action: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// The helper could not be run.
    #[error("cannot run credential helper `{program}`")]
    Io {
        /// `docker-credential-NAME`.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn detail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// Where a helper is configured, for messages.
#[derive(Debug, Clone)]
pub(crate) struct HelperSite {
    pub(crate) name: String,
    pub(crate) key: String,
    pub(crate) file: String,
}

impl HelperSite {
    pub(crate) fn program(&self) -> String {
        format!("docker-credential-{}", self.name)
    }

    fn run(
        &self,
        action: &'static str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<CommandOutput, StoreHelperError> {
        let program = self.program();
        tracing::debug!(%program, action, "running credential helper");
        run_program(&program, &[action], stdin, timeout).map_err(|e| match e {
            ExecError::NotFound { .. } => StoreHelperError::NotInstalled {
                program: program.clone(),
                name: self.name.clone(),
                key: self.key.clone(),
                file: self.file.clone(),
            },
            ExecError::TimedOut { after, .. } => StoreHelperError::TimedOut {
                program: program.clone(),
                action,
                after,
            },
            ExecError::Io { source, .. } => StoreHelperError::Io {
                program: program.clone(),
                source,
            },
        })
    }

    /// `get`: `Ok(None)` when the helper has no entry for `server`.
    pub(crate) fn get(
        &self,
        server: &str,
        timeout: Duration,
    ) -> Result<Option<HelperCredential>, StoreHelperError> {
        let out = self.run("get", Some(server.as_bytes()), timeout)?;
        if out.status != 0 {
            if is_not_found(&out) {
                return Ok(None);
            }
            return Err(self.failed("get", &out));
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let answer: Answer = serde_json::from_slice(out.stdout.expose()).map_err(|_| {
            StoreHelperError::BadOutput {
                program: self.program(),
                action: "get",
                expected: r#"{"ServerURL":"...","Username":"...","Secret":"..."}"#,
            }
        })?;
        if answer.username.is_empty() && answer.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(HelperCredential {
            username: answer.username,
            secret: Secret::new(answer.secret),
        }))
    }

    /// `list`: server URL -> username.
    pub(crate) fn list(
        &self,
        timeout: Duration,
    ) -> Result<BTreeMap<String, String>, StoreHelperError> {
        let out = self.run("list", None, timeout)?;
        if out.status != 0 {
            return Err(self.failed("list", &out));
        }
        serde_json::from_slice(out.stdout.expose()).map_err(|_| StoreHelperError::BadOutput {
            program: self.program(),
            action: "list",
            expected: r#"{"SERVER":"USERNAME",...}"#,
        })
    }

    /// `store`: saves a credential under `server`.
    pub(crate) fn store(
        &self,
        server: &str,
        username: &str,
        secret: &Secret<String>,
        timeout: Duration,
    ) -> Result<(), StoreHelperError> {
        let body = serde_json::json!({
            "ServerURL": server,
            "Username": username,
            "Secret": secret.expose(),
        });
        let out = self.run("store", Some(body.to_string().as_bytes()), timeout)?;
        if out.status != 0 {
            return Err(self.failed("store", &out));
        }
        Ok(())
    }

    /// `erase`: removes the entry for `server`; `Ok(false)` when there was none.
    pub(crate) fn erase(&self, server: &str, timeout: Duration) -> Result<bool, StoreHelperError> {
        let out = self.run("erase", Some(server.as_bytes()), timeout)?;
        if out.status != 0 {
            if is_not_found(&out) {
                return Ok(false);
            }
            return Err(self.failed("erase", &out));
        }
        Ok(true)
    }

    fn failed(&self, action: &'static str, out: &CommandOutput) -> StoreHelperError {
        // The protocol puts a failing helper's message on stdout. It is shown only when it looks
        // like a message: short and not JSON (which could hold a secret).
        let stdout = String::from_utf8_lossy(out.stdout.expose());
        let stdout = stdout.trim();
        let message = if !out.stderr.is_empty() {
            out.stderr.clone()
        } else if stdout.len() <= 300 && !stdout.contains('{') {
            stdout.to_string()
        } else {
            String::new()
        };
        StoreHelperError::Failed {
            program: self.program(),
            action,
            status: out.status,
            message,
        }
    }
}

fn is_not_found(out: &CommandOutput) -> bool {
    let stdout = String::from_utf8_lossy(out.stdout.expose()).to_ascii_lowercase();
    let stderr = out.stderr.to_ascii_lowercase();
    stdout.contains("credentials not found") || stderr.contains("credentials not found")
}
