//! `wasm add NAME[@REQ] | REF [--registry R]`.

use std::process::ExitCode;

use clap::Args;
use wasm_package::ops::{AddTarget, Context, InstallOptions, add};
use wasm_package::{RegistryClient, RegistryPrefix};

use crate::cli::{GlobalOpts, JsonOpt};
use crate::context;
use crate::output;
use crate::packages::{self, PackageOpts};

/// Add a dependency to wasm.toml, lock it and install it
///
/// A package name (NS:NAME) is resolved through the name mapping to a repository; without a
/// requirement, the newest release is written as the requirement (`1.4.0`, meaning ^1.4.0). A
/// reference (REGISTRY/REPOSITORY:TAG or @DIGEST) is recorded as a fixed artifact under the name
/// of its repository's last two segments (or --name). wasm.toml keeps its comments and layout;
/// it and wasm.lock are written only once the package is installed.
///
/// The kind comes from the artifact: a component goes to [install] dir, a WIT package to
/// wit/deps/NS-NAME-VERSION/package.wit, with the WIT packages it uses (as `wasm wit fetch`).
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm add acme:logger                          # newest release, through the name mapping
  wasm add acme:logger@1.2                      # requirement ^1.2
  wasm add wasi:http@0.2 --registry ghcr.io/webassembly
  wasm add ghcr.io/acme/tools/fmt@sha256:...    # a fixed artifact, listed as tools:fmt
  wasm add localhost:5000/demo/hello:1 --name demo:hello"))]
pub(crate) struct Opts {
    /// NS:NAME[@REQUIREMENT], or a reference REGISTRY/REPOSITORY:TAG|@DIGEST
    package: String,
    /// Where the package lives, REGISTRY[/PATH] (the repository is PATH/NS/NAME)
    #[arg(long = "registry", value_name = "REGISTRY")]
    registry_prefix: Option<String>,
    /// The name to list a reference under (NS:NAME)
    #[arg(long, value_name = "NS:NAME")]
    name: Option<String>,
    #[command(flatten)]
    package_opts: PackageOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let target = AddTarget::parse(&self.package, self.name.as_deref())?;
        let prefix = self
            .registry_prefix
            .as_deref()
            .map(|p| {
                RegistryPrefix::parse(p)
                    .map_err(|e| anyhow::anyhow!("invalid --registry `{p}`: {e}"))
            })
            .transpose()?;
        let setup = packages::setup(global, &self.package_opts)?;
        let client = RegistryClient::new(&setup.transport, self.package_opts.jobs);
        let cx = Context {
            registry: &client,
            mapper: &setup.mapper,
        };
        let report = context::runtime()?.block_on(add(
            &cx,
            &setup.project,
            &target,
            prefix.as_ref(),
            &InstallOptions::default(),
        ))?;
        packages::print_report(&setup.project, &report, self.json.json)?;
        // A WIT package goes to wit/deps; the packages it uses follow it there (`wit fetch`).
        packages::follow_wit(&cx, &setup.project, &report)?;
        Ok(ExitCode::SUCCESS)
    }
}
