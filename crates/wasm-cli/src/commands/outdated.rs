//! `wasm outdated`.

use std::process::ExitCode;

use clap::Args;
use wasm_package::RegistryClient;
use wasm_package::ops::{Context, outdated};

use crate::cli::{GlobalOpts, JsonOpt};
use crate::context;
use crate::output;
use crate::packages::{self, PackageOpts};

/// Show dependencies that have newer versions
///
/// For each versioned dependency: the locked version, the newest version its requirement
/// allows (`wasm update` moves there), and the newest release of all (a new requirement in
/// wasm.toml is needed to get it). Pre-releases count only when a requirement names one.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm outdated
  wasm outdated --json"))]
pub(crate) struct Opts {
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
        let lines = context::runtime()?.block_on(outdated(&cx, &setup.project))?;
        if self.json.json {
            output::json(&lines)?;
            return Ok(ExitCode::SUCCESS);
        }
        let stale: Vec<_> = lines.iter().filter(|l| l.is_outdated()).collect();
        if stale.is_empty() {
            output::status(&format!(
                "all {} dependencies are at their newest versions",
                lines.len()
            ));
            return Ok(ExitCode::SUCCESS);
        }
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let mut table = vec![format!(
            "{:<24} {:<12} {:<12} {:<12} {:<12}",
            "name", "requirement", "locked", "compatible", "latest"
        )];
        for line in stale {
            table.push(format!(
                "{:<24} {:<12} {:<12} {:<12} {:<12}",
                line.name,
                line.requirement,
                dash(&line.locked),
                dash(&line.compatible),
                dash(&line.latest)
            ));
        }
        output::data(
            &table
                .iter()
                .map(|l| l.trim_end())
                .collect::<Vec<_>>()
                .join("\n"),
        )?;
        Ok(ExitCode::SUCCESS)
    }
}
