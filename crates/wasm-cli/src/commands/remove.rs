//! `wasm remove NAME`.

use std::process::ExitCode;

use clap::Args;
use wasm_package::RegistryClient;
use wasm_package::ops::{Context, InstallOptions, remove};

use crate::cli::{GlobalOpts, JsonOpt};
use crate::context;
use crate::output;
use crate::packages::{self, PackageOpts};

/// Remove a dependency from wasm.toml, wasm.lock and the install directory
///
/// wasm.toml keeps its comments and layout. No request is made unless another dependency's
/// file is missing too (then it is installed as `wasm install` would).
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm remove acme:logger"))]
pub(crate) struct Opts {
    /// The dependency to remove (NS:NAME)
    name: String,
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
        let report = context::runtime()?.block_on(remove(
            &cx,
            &setup.project,
            &self.name,
            &InstallOptions::default(),
        ))?;
        packages::print_report(&setup.project, &report, self.json.json)?;
        Ok(ExitCode::SUCCESS)
    }
}
