//! `wasm pull REF... [-o PATH]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::Args;
use wasm_registry::{
    LayoutTarget, Location, PullOptions, PullOutcome, Reference, output_path, pull, pull_all,
    pull_from_layout,
};

use crate::cli::{GlobalOpts, JsonOpt, NetworkOpts, RegistryOpts};
use crate::context;
use crate::output::{self, Bars};

/// Pull Wasm components from a registry
///
/// The layer is verified (size and digest) while it streams in, and the file is renamed into
/// place only when complete: a failed pull never leaves a partial file behind. Artifacts that
/// are not Wasm (container images, several layers) are refused. Blobs are kept in the local
/// cache ($XDG_CACHE_HOME/wasm): pulling an unchanged reference again fetches only its manifest.
/// Several references are pulled concurrently into a directory.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm pull ghcr.io/me/hello:1.0.0                 # writes ./hello.wasm
  wasm pull ghcr.io/me/hello@sha256:... -o app.wasm
  wasm pull localhost:5000/hello -o out/           # writes out/hello.wasm
  wasm pull ghcr.io/me/a:1 ghcr.io/me/b:1 -o deps/ # both, concurrently
  wasm pull ghcr.io/me/hello:1.0.0 --offline       # from the local cache only
  wasm pull oci:./layout:1.0.0 -o hello.wasm       # from an OCI image layout"))]
pub(crate) struct Opts {
    /// What to pull: [REGISTRY/]REPOSITORY[:TAG|@DIGEST], one or more, or one OCI image
    /// layout oci:DIR:TAG or oci-archive:FILE:TAG
    #[arg(required = true, value_name = "REFERENCE")]
    references: Vec<String>,
    /// Output file, or directory to write NAME.wasm into (default: ./NAME.wasm, NAME being the
    /// last segment of the repository); with several references, a directory
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Serve the pull from the local cache only, without network access
    #[arg(long)]
    offline: bool,
    /// How many references to pull at once
    #[arg(short, long, value_name = "N", env = "WASM_JOBS", default_value_t = crate::cli::DEFAULT_JOBS)]
    jobs: usize,
    #[command(flatten)]
    registry: RegistryOpts,
    #[command(flatten)]
    network: NetworkOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        if let [given] = self.references.as_slice()
            && let Location::Layout(layout) = Location::parse(given)?
        {
            let outcome = pull_from_layout(&layout, self.output.as_deref())?;
            let pinned = layout
                .with_target(Some(LayoutTarget::Digest(outcome.digest.clone())))
                .to_string();
            report_one(&outcome, &pinned, self.json.json)?;
            return Ok(ExitCode::SUCCESS);
        }
        let references = self
            .references
            .iter()
            .map(|r| Reference::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        let transport = context::transport(global, &self.registry, Some(&self.network))?;
        let options = PullOptions {
            offline: self.offline,
        };
        let runtime = context::runtime()?;
        if let [reference] = references.as_slice() {
            let outcome = runtime.block_on(pull(
                &transport,
                reference,
                self.output.as_deref(),
                options,
                Arc::new(Bars::new()),
            ))?;
            report_one(&outcome, &reference.pinned(&outcome.digest), self.json.json)?;
            return Ok(ExitCode::SUCCESS);
        }

        let dir = self.output.clone().unwrap_or_else(|| PathBuf::from("."));
        if !dir.is_dir() {
            bail!(
                "{} is not a directory: with several references, -o names the directory to \
                 write them into (create it first)",
                dir.display()
            );
        }
        let mut seen = BTreeMap::new();
        let mut items = Vec::new();
        for (reference, given) in references.iter().zip(&self.references) {
            let path = output_path(reference, Some(&dir));
            if let Some(other) = seen.insert(path.clone(), given) {
                bail!(
                    "`{other}` and `{given}` would both be written to {}; pull them separately \
                     with -o",
                    path.display()
                );
            }
            items.push((reference.clone(), path));
        }
        let results = runtime.block_on(pull_all(&transport, &items, options, self.jobs));
        let mut failed = Vec::new();
        let mut outcomes = Vec::new();
        for ((reference, _), result) in items.iter().zip(results) {
            match result {
                Ok(outcome) => {
                    output::status(&format!(
                        "{} {} -> {}",
                        output::good("pulled"),
                        reference.pinned(&outcome.digest),
                        outcome.path.display()
                    ));
                    outcomes.push(outcome);
                }
                Err(e) => {
                    output::report_error(&anyhow::Error::new(e));
                    failed.push(reference.to_string());
                }
            }
        }
        if self.json.json {
            output::json(&outcomes)?;
        } else if !output::quiet() {
            let paths: Vec<String> = outcomes
                .iter()
                .map(|o| o.path.display().to_string())
                .collect();
            output::data(&paths.join("\n"))?;
        }
        if !failed.is_empty() {
            bail!(
                "{} of {} pulls failed: {}",
                failed.len(),
                items.len(),
                failed.join(", ")
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// What a pull of one artifact (`pinned`) did: JSON on stdout, or a line on stderr and the
/// path on stdout.
fn report_one(outcome: &PullOutcome, pinned: &str, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(outcome);
    }
    output::status(&format!(
        "{} {pinned} ({}, {})",
        output::good("pulled"),
        output::human_size(outcome.size),
        outcome.layer_digest
    ));
    if !output::quiet() {
        output::data(&outcome.path.display().to_string())?;
    }
    Ok(())
}
