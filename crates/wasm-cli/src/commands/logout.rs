//! `wasm logout REGISTRY`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use wasm_registry::{
    CredentialChain, Outcome, RegistryArgument, SourceKind, StoreSite, erase_login,
};

use crate::cli::GlobalOpts;
use crate::context;
use crate::output;

/// Log out of a registry: erase its credentials from Docker's stores
///
/// Erases them from the credential helper `docker login` uses for the registry (its
/// `credHelpers` entry, else `credsStore`), under every spelling of the registry the helper
/// holds, and removes every spelling of the registry from `auths` in Docker's config.json.
/// Not being logged in is not an error. A `credential-helper` in the wasm config and Podman's
/// auth files are left alone; if one of them still has credentials, a warning says so.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm logout ghcr.io
  wasm logout https://index.docker.io/v1/    # Docker Hub, in any spelling"))]
pub(crate) struct Opts {
    /// The registry, in any spelling: ghcr.io, https://ghcr.io/v2/, docker.io, localhost:5000
    registry: String,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let registry = RegistryArgument::parse(&self.registry, false)?.name;
        let chain = context::chain(global)?;
        let erased = erase_login(chain.locations(), &registry, chain.config().helper_timeout)?;
        if erased.is_empty() {
            output::status(&format!("Not logged in to {registry}"));
        } else {
            let mut places = Vec::new();
            if let Some((site, keys)) = &erased.helper
                && !keys.is_empty()
            {
                let program = match site {
                    StoreSite::Helper { program, .. } => program.as_str(),
                    StoreSite::File { .. } => "",
                };
                places.push(format!("{} from {program}", quoted(keys)));
            }
            if let Some(file) = &erased.file
                && !erased.auths.is_empty()
            {
                places.push(format!(
                    "{} from auths in {}",
                    quoted(&erased.auths),
                    file.display()
                ));
            }
            output::status(&format!(
                "Logged out of {registry}: removed {}",
                places.join(" and ")
            ));
        }
        // Sources that `docker logout` leaves alone may still provide credentials. Look without
        // running any helper: a logout should not unlock a password manager.
        let remaining =
            CredentialChain::new(Arc::new(chain.config().clone()), chain.locations().clone())
                .without_exec()
                .resolve(&registry, None);
        if let Ok(resolution) = remaining {
            let step = resolution.source();
            match &step.outcome {
                Outcome::Found { .. } => output::warning(&format!(
                    "{registry} still has credentials in {}; wasm keeps using them",
                    resolution.describe_source()
                )),
                Outcome::NotRun { .. } if step.source == SourceKind::ConfigHelper => {
                    output::warning(&format!(
                        "the wasm config ({}) has a `credential-helper` for {registry}; wasm \
                         keeps using it",
                        step.location
                    ));
                }
                _ => {}
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn quoted(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
