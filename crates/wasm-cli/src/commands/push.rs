//! `wasm push REF FILE`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::Args;
use wasm_registry::{Location, PushOutcome, Reference, push, push_all, push_to_layout};

use crate::cli::{GlobalOpts, JsonOpt, NetworkOpts, RegistryOpts};
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
  wasm push localhost:5000/hello:dev hello.wasm -a org.opencontainers.image.version=1.0
  wasm push ghcr.io/me/a:1 a.wasm ghcr.io/me/b:1 b.wasm   # both, concurrently
  wasm push oci:./layout:1.0.0 hello.wasm                 # into an OCI image layout"))]
pub(crate) struct Opts {
    /// Where to push: [REGISTRY/]REPOSITORY[:TAG] (tag defaults to `latest`), or an OCI image
    /// layout oci:DIR:TAG or oci-archive:FILE:TAG
    reference: String,
    /// The .wasm file
    file: PathBuf,
    /// More pairs of REFERENCE FILE, pushed concurrently
    #[arg(value_name = "REFERENCE FILE")]
    more: Vec<String>,
    /// How many files to push at once
    #[arg(short, long, value_name = "N", env = "WASM_JOBS", default_value_t = crate::cli::DEFAULT_JOBS)]
    jobs: usize,
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
        if !self.more.len().is_multiple_of(2) {
            bail!(
                "`{}` has no file: give pairs of REFERENCE FILE",
                self.more.last().map_or("", String::as_str)
            );
        }
        let annotations = crate::cli::parse_annotations(&self.annotations)?;
        if self.more.is_empty()
            && let Location::Layout(layout) = Location::parse(&self.reference)?
        {
            let outcome = push_to_layout(&layout, &self.file, &annotations)?;
            report(&outcome);
            if self.json.json {
                output::json(&outcome)?;
            } else if !output::quiet() {
                output::data(&outcome.pinned)?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        let mut items = Vec::new();
        let pairs = std::iter::once((self.reference.clone(), self.file.clone())).chain(
            self.more
                .chunks(2)
                .map(|pair| (pair[0].clone(), PathBuf::from(&pair[1]))),
        );
        for (given, file) in pairs {
            let reference = Reference::parse(&given)?;
            if reference.digest().is_some() {
                bail!(
                    "cannot push to `{given}`: a push names a tag, not a digest (the digest is \
                     computed from the content); drop the `@sha256:...` part"
                );
            }
            if !file.exists() {
                bail!(
                    "{} does not exist; pass the path of the .wasm file to push",
                    file.display()
                );
            }
            items.push((reference, file));
        }
        let transport = context::transport(global, &self.registry, Some(&self.network))?;
        let runtime = context::runtime()?;
        let results = if let [(reference, file)] = items.as_slice() {
            vec![runtime.block_on(push(
                &transport,
                reference,
                file,
                &annotations,
                Arc::new(Bars::new()),
            ))]
        } else {
            runtime.block_on(push_all(&transport, &items, &annotations, self.jobs))
        };
        let single = items.len() == 1;
        let mut outcomes = Vec::new();
        let mut failed = Vec::new();
        for ((reference, _), result) in items.iter().zip(results) {
            match result {
                Ok(outcome) => {
                    report(&outcome);
                    outcomes.push(outcome);
                }
                Err(e) if single => return Err(e.into()),
                Err(e) => {
                    output::report_error(&anyhow::Error::new(e));
                    failed.push(reference.to_string());
                }
            }
        }
        if self.json.json {
            if single {
                output::json(&outcomes[0])?;
            } else {
                output::json(&outcomes)?;
            }
        } else if !output::quiet() {
            let pinned: Vec<&str> = outcomes.iter().map(|o| o.pinned.as_str()).collect();
            output::data(&pinned.join("\n"))?;
        }
        if !failed.is_empty() {
            bail!(
                "{} of {} pushes failed: {}",
                failed.len(),
                items.len(),
                failed.join(", ")
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn report(outcome: &PushOutcome) {
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
}
