//! `wasm publish [--dry-run] [--force]`.

use std::process::ExitCode;

use clap::Args;
use wasm_package::RegistryClient;
use wasm_package::ops::{Context, PublishOutcome, publish};

use crate::cli::{GlobalOpts, JsonOpt};
use crate::context;
use crate::output;
use crate::packages::{self, PackageOpts};

/// Publish this project's component, tagged with its version
///
/// Validates [package].file of wasm.toml (or, with [package].wit instead, builds the WIT
/// package of that directory and checks its name and version against [package]), finds the
/// repository ([package].repository, or the
/// name mapping of [package].name), and pushes the file in the oci-wasm layout with
/// org.opencontainers.image.* annotations from [package] (description, licenses, authors, url,
/// documentation, source, revision, version, title), tagged with [package].version. Published
/// versions are immutable: a version tag that holds other content is not replaced; the same
/// file again is not pushed again. Prints the pinned reference REGISTRY/REPOSITORY@DIGEST.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm publish --dry-run       # validate and show what would be pushed where
  wasm publish"))]
pub(crate) struct Opts {
    /// Validate and show what would be pushed, without pushing
    #[arg(long)]
    dry_run: bool,
    /// DANGEROUS: replace a version tag that holds other content; every lock that pinned the
    /// old digest will then refuse the new content
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    package: PackageOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let setup = packages::setup(global, &self.package)?;
        let client = RegistryClient::new(&setup.transport, self.package.jobs);
        let cx = Context {
            registry: &client,
            mapper: &setup.mapper,
        };
        let report =
            context::runtime()?.block_on(publish(&cx, &setup.project, self.force, self.dry_run))?;
        if self.json.json {
            output::json(&report)?;
            return Ok(ExitCode::SUCCESS);
        }
        let file = packages::shown(&setup.project, &report.file);
        let size = output::human_size(report.size);
        match report.outcome {
            PublishOutcome::WouldPush => {
                output::status(&format!(
                    "dry run: would push {file} ({size}, {}) to {} ({})",
                    report.file_digest, report.reference, report.rule
                ));
                for (key, value) in &report.annotations {
                    output::status(&format!("  {key} = {value}"));
                }
            }
            PublishOutcome::AlreadyPublished => output::status(&format!(
                "{} already holds {file} ({size}); nothing pushed",
                report.reference
            )),
            PublishOutcome::Pushed | PublishOutcome::Replaced => output::status(&format!(
                "{} {} ({size}){}",
                output::good("published"),
                report.reference,
                if report.outcome == PublishOutcome::Replaced {
                    ", replacing what the version held (--force)"
                } else {
                    ""
                }
            )),
        }
        if let Some(pinned) = &report.pinned
            && !output::quiet()
        {
            output::data(pinned)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
