//! `wasm push REF FILE`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::Args;
use wasm_registry::{Reference, push};

use crate::cli::{GlobalOpts, JsonOpt, RegistryOpts};
use crate::context;
use crate::output::{self, Bars};

/// Push a Wasm component (or core module) to a registry as an OCI artifact
///
/// The file is validated before anything is sent. The artifact has the layout of the oci-wasm
/// crate (config `application/vnd.wasm.config.v0+json`, one `application/wasm` layer), which
/// wkg, oras and other OCI tools read. Blobs the registry already has are not uploaded again.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm push ghcr.io/me/hello:1.0.0 target/wasm32-wasip2/release/hello.wasm
  wasm push localhost:5000/hello:dev hello.wasm -a org.opencontainers.image.version=1.0"))]
pub(crate) struct Opts {
    /// Where to push: [REGISTRY/]REPOSITORY[:TAG] (tag defaults to `latest`)
    reference: String,
    /// The .wasm file
    file: PathBuf,
    /// Manifest annotation KEY=VALUE (repeatable)
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    #[command(flatten)]
    registry: RegistryOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let reference = Reference::parse(&self.reference)?;
        if reference.digest().is_some() {
            bail!(
                "cannot push to `{}`: a push names a tag, not a digest (the digest is computed \
                 from the content); drop the `@sha256:...` part",
                self.reference
            );
        }
        let mut annotations = BTreeMap::new();
        for a in &self.annotations {
            match a.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    annotations.insert(k.trim().to_string(), v.to_string());
                }
                _ => bail!("invalid --annotation `{a}`: write KEY=VALUE"),
            }
        }
        if !self.file.exists() {
            bail!(
                "{} does not exist; pass the path of the .wasm file to push",
                self.file.display()
            );
        }
        let transport = context::transport(global, &self.registry)?;
        let outcome = context::runtime()?.block_on(push(
            &transport,
            &reference,
            &self.file,
            &annotations,
            Arc::new(Bars::new()),
        ))?;
        if self.json.json {
            output::json(&outcome)?;
        } else {
            output::status(&format!(
                "{} {} ({}, {} uploaded{})",
                output::good("pushed"),
                outcome.reference,
                output::human_size(outcome.file.size),
                output::human_size(outcome.uploaded_bytes),
                if outcome.skipped_blobs > 0 {
                    format!(", {} blob(s) already present", outcome.skipped_blobs)
                } else {
                    String::new()
                }
            ));
            if !output::quiet() {
                output::data(&outcome.pinned)?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
