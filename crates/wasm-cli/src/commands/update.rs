//! `wasm update [NAME...] [--dry-run]`.

use std::collections::BTreeSet;
use std::process::ExitCode;

use clap::Args;
use wasm_package::ops::{Context, InstallOptions, Update, install};
use wasm_package::{PackageName, RegistryClient};

use crate::cli::{GlobalOpts, JsonOpt};
use crate::context;
use crate::output;
use crate::packages::{self, PackageOpts};

/// Move dependencies to the newest versions their requirements allow
///
/// Resolves the named packages (all without names) again, ignoring wasm.lock, prints each
/// change as old -> new with manifest digests, writes wasm.lock and installs. A version whose
/// tag now points at other content shows as the same version with a new digest: this is how a
/// moved tag is accepted on purpose.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm update                  # every dependency
  wasm update acme:logger      # one
  wasm update --dry-run        # show what would change, write nothing"))]
pub(crate) struct Opts {
    /// The packages to update (NS:NAME); all when none is given
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// Show what would change; write nothing
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    package: PackageOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let setup = packages::setup(global, &self.package)?;
        let update = if self.names.is_empty() {
            Update::All
        } else {
            let mut names = BTreeSet::new();
            for given in &self.names {
                let name = PackageName::parse(given)?;
                if !setup.project.manifest.dependencies.contains_key(&name) {
                    anyhow::bail!(
                        "`{name}` is not a dependency in {}; add it with `wasm add {name}`",
                        setup.project.manifest.path.display()
                    );
                }
                names.insert(name);
            }
            Update::Only(names)
        };
        let client = RegistryClient::new(&setup.transport, self.package.jobs);
        let cx = Context {
            registry: &client,
            mapper: &setup.mapper,
        };
        let options = InstallOptions {
            update,
            dry_run: self.dry_run,
            ..InstallOptions::default()
        };
        let report = context::runtime()?.block_on(install(&cx, &setup.project, None, &options))?;
        if report.changes.is_empty() && !self.json.json {
            output::status("every dependency is at the newest version its requirement allows");
        }
        packages::print_report(&setup.project, &report, self.json.json)?;
        if !self.dry_run {
            packages::follow_wit(&cx, &setup.project, &report)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
