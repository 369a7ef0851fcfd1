//! OCI manifests: the types, and the check that a manifest describes a Wasm artifact in the
//! layout oci-wasm defines (config `application/vnd.wasm.config.v0+json`, one `application/wasm`
//! layer).
//!
//! Our own types rather than oci-client's (which come with its client) or oci-spec's (whose
//! builders and regular expressions cost start-up time): a manifest is a handful of fields.
//! Unknown fields are kept in `extra`, so a manifest read and written again keeps them.
//!
//! What must stay true: [`check_manifest`] refuses anything that is not exactly one Wasm layer
//! with a valid digest and a non-negative size, naming the reference and what was found.

use std::collections::BTreeMap;

use oci_wasm::{WASM_LAYER_MEDIA_TYPE, WASM_MANIFEST_CONFIG_MEDIA_TYPE};
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::reference::Reference;

/// Manifests larger than this are refused (registries cap them at 4 MiB too).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// The OCI image manifest media type.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI image index media type.
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker's image manifest media type.
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The manifest media types a pull accepts (distribution answers 404 without an `Accept`).
pub(crate) const ACCEPTED_MANIFESTS: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST];

/// A content descriptor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the content.
    pub media_type: String,
    /// `ALGORITHM:HEX`.
    pub digest: String,
    /// The size in bytes (signed in the JSON schema; a negative size is refused by checks).
    pub size: i64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Other fields, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// An OCI image manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.manifest.v1+json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Other fields (`artifactType`, `subject`, ...), kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A Wasm artifact's manifest, checked.
#[derive(Clone, Debug)]
pub(crate) struct WasmManifest {
    pub(crate) digest: String,
    pub(crate) manifest: Manifest,
    pub(crate) layer: Descriptor,
}

/// Checks manifest bytes as a pull does (size limit, JSON, one `application/wasm` layer, the
/// Wasm config media type). For diagnosis and fuzzing.
#[cfg_attr(not(feature = "fuzzing"), allow(dead_code, unreachable_pub))]
pub fn check_manifest_bytes(bytes: &[u8], reference: &Reference) -> Result<(), RegistryError> {
    let digest = crate::component::sha256_digest(bytes);
    check_manifest(bytes, digest, reference).map(|_| ())
}

/// Parses a Wasm config blob (`application/vnd.wasm.config.v0+json`) as oci-wasm defines it.
#[cfg_attr(not(feature = "fuzzing"), allow(unreachable_pub))]
pub fn parse_wasm_config(bytes: &[u8]) -> Result<oci_wasm::WasmConfig, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Checks that a manifest describes a Wasm artifact: one `application/wasm` layer and the Wasm
/// config media type. `digest` is the manifest's digest.
pub(crate) fn check_manifest(
    bytes: &[u8],
    digest: String,
    reference: &Reference,
) -> Result<WasmManifest, RegistryError> {
    check_manifest_of(
        bytes,
        digest,
        reference.digest(),
        &reference.to_string(),
        reference.registry().as_str(),
    )
}

/// [`check_manifest`] for a manifest from anywhere (a registry or an image layout): `expected`
/// is the digest asked for, if any, `shown` names the artifact and `origin` where it came from
/// (a registry, or `oci:DIR`).
pub(crate) fn check_manifest_of(
    bytes: &[u8],
    digest: String,
    expected: Option<&str>,
    shown: &str,
    origin: &str,
) -> Result<WasmManifest, RegistryError> {
    let reference = shown;
    let protocol = |problem: String| RegistryError::Protocol {
        registry: origin.to_owned(),
        problem,
    };
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(protocol(format!(
            "the manifest of {reference} is {} bytes, more than the {MAX_MANIFEST_BYTES} allowed",
            bytes.len()
        )));
    }
    if let Some(expected) = expected
        && expected != digest
    {
        return Err(protocol(format!(
            "asked for {expected} but the manifest's digest is {digest}"
        )));
    }
    let not_wasm = |problem: String| RegistryError::NotWasmArtifact {
        reference: reference.to_string(),
        problem,
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        protocol(format!(
            "the manifest of {reference} is not valid JSON: {e}"
        ))
    })?;
    let media_type = value
        .get("mediaType")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if media_type == OCI_INDEX || value.get("manifests").is_some() {
        return Err(not_wasm(
            "it is an image index (a multi-platform image), not a single Wasm artifact".into(),
        ));
    }
    let manifest: Manifest = serde_json::from_value(value).map_err(|e| {
        protocol(format!(
            "the manifest of {reference} is not an OCI image manifest: {e}"
        ))
    })?;
    if manifest.config.media_type != WASM_MANIFEST_CONFIG_MEDIA_TYPE {
        return Err(not_wasm(format!(
            "its config has media type `{}`, expected `{WASM_MANIFEST_CONFIG_MEDIA_TYPE}` (is it a \
             container image?)",
            manifest.config.media_type
        )));
    }
    let layer = match manifest.layers.as_slice() {
        [layer] if layer.media_type == WASM_LAYER_MEDIA_TYPE => layer.clone(),
        [layer] => {
            return Err(not_wasm(format!(
                "its layer has media type `{}`, expected `{WASM_LAYER_MEDIA_TYPE}`",
                layer.media_type
            )));
        }
        [] => return Err(not_wasm("it has no layer".into())),
        layers => {
            return Err(not_wasm(format!(
                "it has {} layers, expected one `{WASM_LAYER_MEDIA_TYPE}` layer",
                layers.len()
            )));
        }
    };
    crate::reference::validate_digest(&layer.digest)
        .map_err(|problem| protocol(format!("the layer of {reference}: {problem}")))?;
    if layer.size < 0 {
        return Err(protocol(format!(
            "the layer of {reference} has a negative size"
        )));
    }
    Ok(WasmManifest {
        digest,
        manifest,
        layer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x","config":{"mediaType":"a","digest":"sha256:00","size":1,"data":"e30="},"layers":[],"subject":{"mediaType":"b","digest":"sha256:11","size":2}}"#;
        let m: Manifest = serde_json::from_str(text).unwrap();
        assert_eq!(m.extra["artifactType"], "application/x");
        assert_eq!(m.config.extra["data"], "e30=");
        let again: serde_json::Value = serde_json::to_value(&m).unwrap();
        let original: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(again, original);
    }
}
