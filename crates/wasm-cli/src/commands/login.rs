//! `wasm login REGISTRY -u USER [--password-stdin]`.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use wasm_config::Secret;
use wasm_registry::{RegistryArgument, Verified, store_login, verify_login};

use crate::cli::{GlobalOpts, RegistryOpts};
use crate::context;
use crate::output;

/// Log in to a registry: check the credentials, then store them where `docker login` would
///
/// The registry is asked first; nothing is stored unless it accepts the credentials. They go to
/// the credential helper Docker's config.json names for the registry (`credHelpers`), else to
/// its `credsStore` helper, else into its `auths`, base64-encoded but not encrypted (with a
/// warning). A registry that answers with an identity token (an OAuth2 refresh token) gets that
/// stored instead of the password, as Docker does.
///
/// There is no `--password` flag: a secret on the command line leaks into shell history and
/// process listings. Pipe it in with `--password-stdin`, or type it at the prompt.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm login ghcr.io -u me                   # asks for the password, without echo
  printf '%s\\n' \"$TOKEN\" | wasm login ghcr.io -u me --password-stdin
  wasm login https://index.docker.io/v1/ -u me   # Docker Hub, in any spelling"))]
pub(crate) struct Opts {
    /// The registry, in any spelling: ghcr.io, https://ghcr.io/v2/, docker.io, localhost:5000
    registry: String,
    /// The username (asked for when missing and standard input is a terminal)
    #[arg(short, long)]
    username: Option<String>,
    /// Read the password (or access token) from standard input; one trailing newline is dropped
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    registry_opts: RegistryOpts,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let address = RegistryArgument::parse(&self.registry, false)?;
        let registry = &address.name;
        let interactive = std::io::stdin().is_terminal();
        let username = match self.username {
            Some(u) => u,
            None if interactive && !self.password_stdin => prompt_line("Username: ")?,
            None => bail!("no username: pass -u/--username USER"),
        };
        if username.is_empty() {
            bail!("the username is empty");
        }
        let password = if self.password_stdin {
            read_password_stdin()?
        } else if interactive {
            Secret::new(
                rpassword::prompt_password("Password: ")
                    .context("cannot read the password from the terminal")?,
            )
        } else {
            bail!(
                "no password: standard input is not a terminal to type it in; pipe it in with \
                 --password-stdin (wasm has no --password flag: a secret on the command line \
                 leaks into shell history and process listings)"
            );
        };
        if password.expose().is_empty() {
            bail!("the password is empty");
        }

        let transport = context::transport(global, &self.registry_opts, None)?;
        tracing::info!("logging in to {registry} as `{username}`");
        let verified = context::runtime()?
            .block_on(verify_login(&transport, &address, &username, &password))?;
        let what = match &verified {
            Verified::IdentityToken(_) => "an identity token",
            Verified::Password | Verified::Unchecked => "the password",
        };
        if matches!(verified, Verified::Unchecked) {
            output::warning(&format!(
                "{registry} asks for no credentials (GET /v2/ answered 200), so they could not \
                 be checked"
            ));
        }
        let credential = verified.into_credential(&username, password);
        let chain = transport.chain();
        let site = store_login(
            chain.locations(),
            registry,
            &credential,
            chain.config().helper_timeout,
        )?;
        if site.is_plain_file() {
            output::warning(&format!(
                "{what} for {registry} is stored unencrypted (base64) in Docker's config.json; \
                 to keep it in a password store, install a credential helper (e.g. \
                 docker-credential-pass or docker-credential-secretservice), set \
                 `\"credsStore\": \"pass\"` (its name without `docker-credential-`) in that \
                 file, and log in again"
            ));
        }
        if let Some(entry) = chain.config().registry(registry)
            && entry.credential_helper.is_some()
        {
            output::warning(&format!(
                "the wasm config {} has a `credential-helper` for {registry}; it comes first in \
                 the credential chain, so wasm keeps using it rather than what was just stored",
                entry.defined_in.display()
            ));
        }
        let kind = match credential {
            wasm_registry::Credential::IdentityToken { .. } => {
                " (an identity token the registry issued, not the password)"
            }
            _ => "",
        };
        output::status(&format!(
            "Login succeeded: credentials for {registry} stored in {site}{kind}"
        ));
        Ok(ExitCode::SUCCESS)
    }
}

/// Reads the password from standard input, dropping one trailing newline (`\n` or `\r\n`).
fn read_password_stdin() -> anyhow::Result<Secret<String>> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .context("cannot read the password from standard input")?;
    let mut text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("the password on standard input is not UTF-8 text"))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        bail!(
            "--password-stdin: standard input holds no password; write it there, e.g. \
             `printf '%s\\n' \"$TOKEN\" | wasm login REGISTRY -u USER --password-stdin`"
        );
    }
    Ok(Secret::new(text))
}

/// Asks for one line on the terminal.
fn prompt_line(prompt: &str) -> anyhow::Result<String> {
    let mut stderr = std::io::stderr();
    write!(stderr, "{prompt}")?;
    stderr.flush()?;
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read from the terminal")?;
    Ok(line.trim().to_string())
}
