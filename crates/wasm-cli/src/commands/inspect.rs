//! `wasm inspect FILE|REF`.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use wasm_registry::{
    Inspection, Location, WasmKind, inspect_file, inspect_layout, inspect_reference,
};

use crate::cli::{GlobalOpts, JsonOpt, NetworkOpts, RegistryOpts};
use crate::context;
use crate::output;

/// Show a component's imports and exports, size and digest, from a file or a registry
///
/// For a reference, only the manifest and the small config blob are fetched, not the
/// component itself. An argument that names an existing file is inspected as a file.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasm inspect hello.wasm
  wasm inspect ghcr.io/me/hello:1.0.0 --json
  wasm inspect oci:./layout:1.0.0")]
pub(crate) struct Opts {
    /// A .wasm file, a reference [REGISTRY/]REPOSITORY[:TAG|@DIGEST], or an OCI image layout
    /// oci:DIR:TAG or oci-archive:FILE:TAG
    target: String,
    #[command(flatten)]
    registry: RegistryOpts,
    #[command(flatten)]
    network: NetworkOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let path = Path::new(&self.target);
        let inspection = if path.exists() || self.target.ends_with(".wasm") {
            inspect_file(path)?
        } else {
            match Location::parse(&self.target)? {
                Location::Layout(layout) => inspect_layout(&layout)?,
                Location::Registry(reference) => {
                    let transport =
                        context::transport(global, &self.registry, Some(&self.network))?;
                    context::runtime()?.block_on(inspect_reference(&transport, &reference))?
                }
            }
        };
        if self.json.json {
            output::json(&inspection)?;
        } else {
            output::data(&render(&inspection))?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn render(i: &Inspection) -> String {
    let mut out = String::new();
    let kind = match i.wasm.kind {
        WasmKind::Component => "component",
        WasmKind::Module => "core module",
    };
    out.push_str(&format!("{}\n", output::bold(&i.source)));
    out.push_str(&format!("  kind:     {kind} (os {})\n", i.wasm.kind.os()));
    out.push_str(&format!(
        "  size:     {} ({} bytes)\n",
        output::human_size(i.wasm.size),
        i.wasm.size
    ));
    out.push_str(&format!("  digest:   {}\n", i.wasm.digest));
    if let Some(d) = &i.manifest_digest {
        out.push_str(&format!("  manifest: {d}\n"));
    }
    for (k, v) in &i.annotations {
        out.push_str(&format!("  {k}: {v}\n"));
    }
    if i.wasm.kind == WasmKind::Component {
        let list = |title: &str, items: &[String], out: &mut String| {
            out.push_str(&format!("  {title}:"));
            if items.is_empty() {
                out.push_str(" (none)\n");
            } else {
                out.push('\n');
                for item in items {
                    out.push_str(&format!("    {item}\n"));
                }
            }
        };
        list("imports", &i.wasm.imports, &mut out);
        list("exports", &i.wasm.exports, &mut out);
    }
    out
}
