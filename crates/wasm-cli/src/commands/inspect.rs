//! `wasm inspect FILE|REF`.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use std::sync::Arc;

use serde::Serialize;
use wasm_package::wit::{Artifact, MAX_WIT_PACKAGE, WitSummary};
use wasm_registry::{
    Inspection, Location, NoProgress, PullOptions, Reference, WasmKind, inspect_file,
    inspect_layout, inspect_reference, pull_from_layout,
};

use crate::cli::{GlobalOpts, JsonOpt, NetworkOpts, RegistryOpts};
use crate::context;
use crate::output;

/// Show a component's imports and exports, size and digest, from a file or a registry
///
/// For a reference, only the manifest and the small config blob are fetched, not the
/// component itself. An argument that names an existing file is inspected as a file.
///
/// A WIT package (a component that holds only types) is shown as one, with its interfaces,
/// worlds and the packages it uses. The oci-wasm config does not say which of the two an
/// artifact is: when it leaves doubt (a component that imports nothing), the layer is fetched
/// and decoded, and the output says so.
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
        let doubt = |i: &Inspection| {
            i.wasm.kind == WasmKind::Component
                && i.wasm.imports.is_empty()
                && i.wasm.size <= MAX_WIT_PACKAGE
        };
        let (inspection, wit) = if path.exists() || self.target.ends_with(".wasm") {
            let inspection = inspect_file(path)?;
            let wit = if doubt(&inspection) {
                wit_of(&std::fs::read(path)?)
            } else {
                None
            };
            (inspection, wit)
        } else {
            match Location::parse(&self.target)? {
                Location::Layout(layout) => {
                    let inspection = inspect_layout(&layout)?;
                    let wit = if doubt(&inspection) {
                        // The config leaves doubt: the layer (small) decides.
                        let dir = tempfile::tempdir()?;
                        let file = dir.path().join("layer.wasm");
                        pull_from_layout(&layout, Some(&file))?;
                        wit_of(&std::fs::read(&file)?)
                    } else {
                        None
                    };
                    (inspection, wit)
                }
                Location::Registry(reference) => {
                    let transport =
                        context::transport(global, &self.registry, Some(&self.network))?;
                    let runtime = context::runtime()?;
                    let inspection = runtime.block_on(inspect_reference(&transport, &reference))?;
                    let wit = if doubt(&inspection) {
                        // The config leaves doubt: the layer (small) decides.
                        let dir = tempfile::tempdir()?;
                        let file = dir.path().join("layer.wasm");
                        let pinned = match &inspection.manifest_digest {
                            Some(digest) => Reference::parse(&reference.pinned(digest))?,
                            None => reference.clone(),
                        };
                        runtime.block_on(wasm_registry::pull(
                            &transport,
                            &pinned,
                            Some(&file),
                            PullOptions::default(),
                            Arc::new(NoProgress),
                        ))?;
                        wit_of(&std::fs::read(&file)?)
                    } else {
                        None
                    };
                    (inspection, wit)
                }
            }
        };
        if self.json.json {
            output::json(&Shown {
                inspection: &inspection,
                wit: wit.as_ref(),
            })?;
        } else {
            output::data(&render(&inspection, wit.as_ref()))?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The inspection, with what a WIT package holds when it is one.
#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    inspection: &'a Inspection,
    /// Present for a WIT package: decided from the layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    wit: Option<&'a WitSummary>,
}

fn wit_of(bytes: &[u8]) -> Option<WitSummary> {
    match Artifact::of(bytes) {
        Artifact::Wit(summary) => Some(summary),
        _ => None,
    }
}

fn render(i: &Inspection, wit: Option<&WitSummary>) -> String {
    let mut out = String::new();
    let kind = match i.wasm.kind {
        WasmKind::Component => "component",
        WasmKind::Module => "core module",
    };
    out.push_str(&format!("{}\n", output::bold(&i.source)));
    match wit {
        Some(w) => out.push_str(&format!(
            "  kind:     WIT package {} (decided from the layer; the oci-wasm config does not \
             say)\n",
            w.package
        )),
        None => out.push_str(&format!("  kind:     {kind} (os {})\n", i.wasm.kind.os())),
    }
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
    if let Some(w) = wit {
        let join = |items: &[String]| {
            if items.is_empty() {
                "(none)".to_owned()
            } else {
                items.join(", ")
            }
        };
        out.push_str(&format!("  interfaces: {}\n", join(&w.interfaces)));
        out.push_str(&format!("  worlds: {}\n", join(&w.worlds)));
        out.push_str(&format!("  uses: {}\n", join(&w.uses)));
    } else if i.wasm.kind == WasmKind::Component {
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
