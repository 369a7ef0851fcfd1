//! `wasm tags REPO`.

use std::process::ExitCode;

use clap::Args;
use wasm_registry::{Location, Repository, location_tags, tags};

use crate::cli::{GlobalOpts, JsonOpt, NetworkOpts, RegistryOpts};
use crate::context;
use crate::output;

/// List the tags of a repository, sorted (versions in version order, then the other tags)
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasm tags ghcr.io/me/hello
  wasm tags localhost:5000/hello --json
  wasm tags oci:./layout
  wasm tags oci-archive:deps.tar")]
pub(crate) struct Opts {
    /// The repository: [REGISTRY/]REPOSITORY, or an image layout: oci:DIR or oci-archive:FILE
    repository: String,
    #[command(flatten)]
    registry: RegistryOpts,
    #[command(flatten)]
    network: NetworkOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let location = Location::parse(&self.repository)?;
        let transport = context::transport(global, &self.registry, Some(&self.network))?;
        let (repository, tags) = match location {
            Location::Layout(layout) => {
                let shown = layout.to_string();
                let tags = context::runtime()?
                    .block_on(location_tags(&transport, &Location::Layout(layout)))?;
                (shown, tags)
            }
            Location::Registry(_) => {
                let repository = Repository::parse(&self.repository)?;
                let tags = context::runtime()?.block_on(tags(&transport, &repository))?;
                (repository.to_string(), tags)
            }
        };
        if self.json.json {
            output::json(&serde_json::json!({
                "repository": repository.to_string(),
                "tags": tags,
            }))?;
        } else if tags.is_empty() {
            output::status(&format!("{repository} has no tags"));
        } else {
            output::data(&tags.join("\n"))?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
