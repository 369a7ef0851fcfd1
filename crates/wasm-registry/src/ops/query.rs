//! Read-only questions to registries: what an artifact contains (`inspect`) and which tags a
//! repository has (`tags`).

use std::cmp::Ordering;

use serde::Serialize;

use crate::component::{WasmFile, WasmKind, check_file};
use crate::error::RegistryError;
use crate::ops::pull::fetch_manifest;
use crate::reference::{Reference, Repository};
use crate::session::Transport;

/// A Wasm config is a few KiB; more than this is refused.
pub(crate) const MAX_CONFIG_BYTES: usize = 4 * 1024 * 1024;

/// What `inspect` found.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// A file path or a reference.
    pub source: String,
    /// The manifest digest (registry only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// The component's description.
    pub wasm: WasmFile,
    /// Manifest annotations (registry only).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Describes a local Wasm file.
pub fn inspect_file(path: &std::path::Path) -> Result<Inspection, RegistryError> {
    Ok(Inspection {
        source: path.display().to_string(),
        manifest_digest: None,
        wasm: check_file(path)?,
        annotations: Default::default(),
    })
}

/// Describes an artifact in a registry from its manifest and config, without the layer.
pub async fn inspect_reference(
    transport: &Transport,
    reference: &Reference,
) -> Result<Inspection, RegistryError> {
    let session = transport
        .session(reference.registry(), reference.repository())
        .await?;
    let wasm = fetch_manifest(&session, reference, transport.cache()).await?;
    let descriptor = &wasm.manifest.config;
    let config = session
        .read_blob(
            reference.repository(),
            &descriptor.digest,
            u64::try_from(descriptor.size).unwrap_or(u64::MAX),
            &reference.to_string(),
            MAX_CONFIG_BYTES,
        )
        .await?;
    inspection_of(
        reference.to_string(),
        wasm,
        &config,
        session.registry.as_str(),
    )
}

/// What `inspect` shows of a checked manifest and its config blob (from `origin`, a registry
/// or a layout).
pub(crate) fn inspection_of(
    source: String,
    wasm: crate::manifest::WasmManifest,
    config: &[u8],
    origin: &str,
) -> Result<Inspection, RegistryError> {
    let config: oci_wasm::WasmConfig =
        crate::manifest::parse_wasm_config(config).map_err(|e| RegistryError::Protocol {
            registry: origin.to_owned(),
            problem: format!("the config of {source} is not a Wasm config: {e}"),
        })?;
    let (imports, exports) = config
        .component
        .map(|c| (c.imports, c.exports))
        .unwrap_or_default();
    Ok(Inspection {
        source,
        manifest_digest: Some(wasm.digest),
        wasm: WasmFile {
            kind: if config.os == oci_wasm::MODULE_OS {
                WasmKind::Module
            } else {
                WasmKind::Component
            },
            size: wasm.layer.size as u64,
            digest: wasm.layer.digest,
            imports,
            exports,
        },
        annotations: wasm.manifest.annotations.unwrap_or_default(),
    })
}

/// The manifest a reference resolves to now, checked to be a Wasm artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestSummary {
    /// The manifest digest.
    pub digest: String,
    /// The digest of its one `application/wasm` layer.
    pub layer_digest: String,
    /// The layer's size in bytes.
    pub size: u64,
    /// The manifest's annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Asks the registry which manifest `reference` names now: one manifest `GET` (the manifest is
/// small; it is checked to describe a Wasm artifact and kept in the cache), no layer.
pub async fn resolve_manifest(
    transport: &Transport,
    reference: &Reference,
) -> Result<ManifestSummary, RegistryError> {
    let session = transport
        .session(reference.registry(), reference.repository())
        .await?;
    let wasm = fetch_manifest(&session, reference, transport.cache()).await?;
    Ok(ManifestSummary {
        digest: wasm.digest,
        layer_digest: wasm.layer.digest,
        size: u64::try_from(wasm.layer.size).unwrap_or_default(),
        annotations: wasm.manifest.annotations.unwrap_or_default(),
    })
}

/// The digest of the manifest `reference` points at now (one `HEAD` request), or `None` when
/// the registry has no such tag: what a lock compares its pinned digest with.
pub async fn manifest_digest(
    transport: &Transport,
    reference: &Reference,
) -> Result<Option<String>, RegistryError> {
    let session = transport
        .session(reference.registry(), reference.repository())
        .await?;
    let wanted = reference.digest().or(reference.tag()).unwrap_or("latest");
    Ok(session
        .head_manifest(reference.repository(), wanted, &reference.to_string())
        .await?
        .map(|head| head.digest))
}

/// The tags of a repository, sorted: semantic versions in version order (newest last), then
/// the other tags alphabetically.
pub async fn tags(
    transport: &Transport,
    repository: &Repository,
) -> Result<Vec<String>, RegistryError> {
    let session = transport
        .session(&repository.registry, &repository.repository)
        .await?;
    let mut tags = session
        .list_tags(&repository.repository, &repository.to_string())
        .await?;
    sort_tags(&mut tags);
    Ok(tags)
}

/// The tags at a location: a registry repository's (the reference's tag is ignored), or an
/// image layout's, sorted as [`tags()`] sorts them.
pub async fn location_tags(
    transport: &Transport,
    location: &crate::location::Location,
) -> Result<Vec<String>, RegistryError> {
    match location {
        crate::location::Location::Registry(r) => tags(transport, &r.to_repository()).await,
        crate::location::Location::Layout(l) => {
            let opened = crate::layout::OpenLayout::read(l)?;
            let mut tags = opened.layout.tags()?;
            sort_tags(&mut tags);
            tags.dedup();
            Ok(tags)
        }
    }
}

/// Sorts tags: versions (`1.2.3`, `v1.2.3-rc.1`) by semantic version, then the rest by name.
pub fn sort_tags(tags: &mut [String]) {
    tags.sort_by(|a, b| match (parse_version(a), parse_version(b)) {
        (Some(x), Some(y)) => compare_versions(&x, &y).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    });
}

struct Version<'a> {
    numbers: Vec<u64>,
    pre: Option<&'a str>,
}

fn parse_version(tag: &str) -> Option<Version<'_>> {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    let t = t.split('+').next()?;
    let (core, pre) = match t.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (t, None),
    };
    let numbers: Option<Vec<u64>> = core.split('.').map(|n| n.parse().ok()).collect();
    let numbers = numbers?;
    (!numbers.is_empty() && numbers.len() <= 4).then_some(Version { numbers, pre })
}

fn compare_versions(a: &Version<'_>, b: &Version<'_>) -> Ordering {
    let len = a.numbers.len().max(b.numbers.len());
    for i in 0..len {
        let (x, y) = (
            a.numbers.get(i).copied().unwrap_or(0),
            b.numbers.get(i).copied().unwrap_or(0),
        );
        match x.cmp(&y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    match (a.pre, b.pre) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => compare_pre(x, y),
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut xs = a.split('.');
    let mut ys = b.split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_sort_by_version_then_name() {
        let mut tags: Vec<String> = [
            "latest",
            "1.10.0",
            "1.2.0",
            "v1.2.0-rc.2",
            "1.2.0-rc.10",
            "0.9",
            "main",
            "2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        super::sort_tags(&mut tags);
        assert_eq!(
            tags,
            [
                "0.9",
                "v1.2.0-rc.2",
                "1.2.0-rc.10",
                "1.2.0",
                "1.10.0",
                "2",
                "latest",
                "main"
            ]
        );
    }
}
