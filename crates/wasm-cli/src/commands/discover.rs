//! `wasm discover REF`.

use std::process::ExitCode;

use clap::Args;
use wasm_registry::{Location, Referrer, discover};

use crate::cli::{GlobalOpts, JsonOpt, NetworkOpts, RegistryOpts};
use crate::context;
use crate::output;

/// List what is attached to an artifact (signatures, SBOMs, attestations), as a tree
///
/// Referrers are found through the registry's Referrers API where it has one, else through the
/// `sha256-<hex>` tag schema (distribution, GHCR); in an image layout, among the manifests of
/// its index.json. The output says which.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm discover ghcr.io/me/hello:1.0.0
  wasm discover oci:./layout:1.0.0 --json"))]
pub(crate) struct Opts {
    /// The artifact: [REGISTRY/]REPOSITORY[:TAG|@DIGEST], oci:DIR:TAG or oci-archive:FILE:TAG
    reference: String,
    #[command(flatten)]
    registry: RegistryOpts,
    #[command(flatten)]
    network: NetworkOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let location = Location::parse(&self.reference)?;
        let transport = context::transport(global, &self.registry, Some(&self.network))?;
        let found = context::runtime()?.block_on(discover(&transport, &location))?;
        if self.json.json {
            output::json(&found)?;
            return Ok(ExitCode::SUCCESS);
        }
        output::status(&format!(
            "{} referrer(s) of {}, found through {}",
            found.referrers.len(),
            found.subject,
            found.found_by
        ));
        let mut out = format!("{}@{}\n", found.subject, found.digest);
        render(&found.referrers, "", &mut out);
        output::data(out.trim_end())?;
        Ok(ExitCode::SUCCESS)
    }
}

/// One line per referrer, indented as a tree: `└── TYPE DIGEST`.
fn render(referrers: &[Referrer], indent: &str, out: &mut String) {
    for (i, r) in referrers.iter().enumerate() {
        let last = i + 1 == referrers.len();
        let (branch, next) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        out.push_str(&format!(
            "{indent}{branch}{} {}\n",
            r.artifact_type.as_deref().unwrap_or("(no artifact type)"),
            r.digest
        ));
        render(&r.referrers, &format!("{indent}{next}"), out);
    }
}
