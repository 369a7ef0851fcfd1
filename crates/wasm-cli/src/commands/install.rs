//! `wasm install [--locked] [--offline]`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use wasm_package::ops::{Context, InstallOptions, install};
use wasm_package::{LayoutSource, PackageError, RegistryClient};
use wasm_registry::Location;

use crate::cli::{GlobalOpts, JsonOpt};
use crate::context;
use crate::output;
use crate::packages::{self, PackageOpts};

/// Install the dependencies of wasm.toml exactly as wasm.lock pins them
///
/// Dependencies missing from wasm.lock are resolved (the newest version their requirement
/// allows) and locked. Each package is fetched by its locked digest, verified as it streams,
/// and written atomically to DIR/NAMESPACE/NAME.wasm ([install] dir, default vendor/wasm),
/// several at once; WIT packages as WIT text to wit/deps/NS-NAME-VERSION/package.wit. Before a locked package is fetched, its tag is asked: a tag that moved is
/// refused, showing both digests, and nothing is written (`wasm update` moves on purpose).
/// Files of packages no longer listed are removed. When every file is present with its locked
/// digest, no request is made at all.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm install                 # resolve what is new, install what is missing
  wasm install --locked        # in CI: fail if wasm.lock is missing or would change
  wasm install --offline       # from wasm.lock and the local cache only
  wasm install --json
  wasm install --from oci-archive:deps.tar   # air gap: the archive `wasm copy --lock` made"))]
pub(crate) struct Opts {
    /// Fail if wasm.lock is missing or would change (for CI)
    #[arg(long)]
    locked: bool,
    /// Use only wasm.lock and the local cache, no network
    #[arg(long)]
    offline: bool,
    /// Install from an OCI image layout (oci:DIR or oci-archive:FILE, as `wasm copy --lock`
    /// makes it) instead of registries: wasm.lock only, each package by its locked digest, no
    /// network
    #[arg(long, value_name = "LAYOUT", conflicts_with = "offline")]
    from: Option<String>,
    #[command(flatten)]
    package: PackageOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let setup = packages::setup(global, &self.package)?;
        if let Some(from) = &self.from {
            let Location::Layout(layout) = Location::parse(from)? else {
                bail!(
                    "--from takes an image layout, oci:DIR or oci-archive:FILE, not the \
                     registry reference `{from}`"
                );
            };
            let source = LayoutSource::open(&layout)?;
            let cx = Context {
                registry: &source,
                mapper: &setup.mapper,
            };
            // The lock alone: it must exist and match wasm.toml; tags are not asked.
            let options = InstallOptions {
                locked: true,
                offline: true,
                ..InstallOptions::default()
            };
            let report =
                match context::runtime()?.block_on(install(&cx, &setup.project, None, &options)) {
                    Ok(report) => report,
                    // The lock is what the layout was made from: say so rather than `--locked`.
                    Err(PackageError::Locked {
                        missing, changes, ..
                    }) => bail!(
                        "--from installs exactly what wasm.lock pins, but {}:\n{}\nrun `wasm \
                     install` where the registries are reachable, then `wasm copy --lock \
                     wasm.lock` into the layout again",
                        if missing {
                            "wasm.lock is missing"
                        } else {
                            "wasm.lock does not match wasm.toml"
                        },
                        changes
                            .iter()
                            .map(|c| format!("  - {c}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    ),
                    Err(e) => return Err(e.into()),
                };
            packages::print_report_from(&setup.project, &report, self.json.json, Some(from))?;
            return Ok(ExitCode::SUCCESS);
        }
        let client = RegistryClient::new(&setup.transport, self.package.jobs);
        let cx = Context {
            registry: &client,
            mapper: &setup.mapper,
        };
        let options = InstallOptions {
            locked: self.locked,
            offline: self.offline,
            ..InstallOptions::default()
        };
        let report = context::runtime()?.block_on(install(&cx, &setup.project, None, &options))?;
        packages::print_report(&setup.project, &report, self.json.json)?;
        Ok(ExitCode::SUCCESS)
    }
}
