//! `wasm attach REF FILE --artifact-type TYPE`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use wasm_registry::{Location, attach};

use crate::cli::{GlobalOpts, JsonOpt, NetworkOpts, RegistryOpts};
use crate::context;
use crate::output;

/// Attach a file to an artifact (a signature, an SBOM, an attestation) as a referrer
///
/// The file becomes the one layer of an artifact manifest whose `subject` is the artifact.
/// Registries with the Referrers API index it themselves; for the others (distribution, GHCR)
/// the `sha256-<hex>` tag schema index is updated too. The output says which.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm attach ghcr.io/me/hello:1.0.0 sbom.spdx.json --artifact-type application/spdx+json
  wasm attach oci:./layout:1.0.0 sig.bundle --artifact-type application/vnd.dev.sigstore.bundle.v0.3+json"))]
pub(crate) struct Opts {
    /// The artifact: [REGISTRY/]REPOSITORY[:TAG|@DIGEST], oci:DIR:TAG or oci-archive:FILE:TAG
    reference: String,
    /// The file to attach
    file: PathBuf,
    /// The artifact type of what is attached, a media type (e.g. application/spdx+json)
    #[arg(long, value_name = "TYPE")]
    artifact_type: String,
    /// Manifest annotation KEY=VALUE (repeatable)
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE")]
    annotations: Vec<String>,
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
        if !self.file.is_file() {
            bail!(
                "{} is not a file; pass the path of the file to attach",
                self.file.display()
            );
        }
        if !self.artifact_type.contains('/') {
            bail!(
                "invalid --artifact-type `{}`: write a media type such as application/spdx+json",
                self.artifact_type
            );
        }
        let annotations = crate::cli::parse_annotations(&self.annotations)?;
        let transport = context::transport(global, &self.registry, Some(&self.network))?;
        let outcome = context::runtime()?.block_on(attach(
            &transport,
            &location,
            &self.file,
            &self.artifact_type,
            &annotations,
        ))?;
        output::status(&format!(
            "{} {} to {} ({}; recorded through {})",
            output::good("attached"),
            self.file.display(),
            outcome.subject,
            outcome.artifact_type,
            outcome.recorded_by
        ));
        if self.json.json {
            output::json(&outcome)?;
        } else if !output::quiet() {
            output::data(&outcome.digest)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
