//! `wasm pull REF [-o PATH]`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use wasm_registry::{Reference, pull};

use crate::cli::{GlobalOpts, JsonOpt, RegistryOpts};
use crate::context;
use crate::output::{self, Bars};

/// Pull a Wasm component from a registry
///
/// The layer is verified (size and digest) while it streams into a temporary file beside the
/// target, which is renamed into place only when complete: a failed pull never leaves a
/// partial file behind. Artifacts that are not Wasm (container images, several layers) are
/// refused.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm pull ghcr.io/me/hello:1.0.0                 # writes ./hello.wasm
  wasm pull ghcr.io/me/hello@sha256:... -o app.wasm
  wasm pull localhost:5000/hello -o out/           # writes out/hello.wasm"))]
pub(crate) struct Opts {
    /// What to pull: [REGISTRY/]REPOSITORY[:TAG|@DIGEST]
    reference: String,
    /// Output file, or directory to write NAME.wasm into (default: ./NAME.wasm, NAME being the
    /// last segment of the repository)
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let reference = Reference::parse(&self.reference)?;
        let transport = context::transport(global, &self.registry)?;
        let outcome = context::runtime()?.block_on(pull(
            &transport,
            &reference,
            self.output.as_deref(),
            Arc::new(Bars::new()),
        ))?;
        if self.json.json {
            output::json(&outcome)?;
        } else {
            output::status(&format!(
                "{} {} ({}, {})",
                output::good("pulled"),
                reference.pinned(&outcome.digest),
                output::human_size(outcome.size),
                outcome.layer_digest
            ));
            if !output::quiet() {
                output::data(&outcome.path.display().to_string())?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
