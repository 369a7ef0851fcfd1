//! The seam between the package manager and the registries: the few operations it needs, as a
//! trait ([`PackageRegistry`]). The real implementation is [`crate::adapter::RegistryClient`]
//! over `wasm-registry` (the one module that calls it); the tests of the operations use a fake
//! that counts requests, so that "no request at all" and "nothing written" are checked without
//! a network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wasm_registry::{ManifestSummary, Reference, RegistryError, Repository, WellKnown};

/// What a fetch wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The manifest digest.
    pub manifest_digest: String,
    /// The layer's digest: the digest of the file written.
    pub layer_digest: String,
    /// Its size.
    pub size: u64,
}

/// What the package manager needs from registries.
///
/// `async fn` in a trait is fine here: implementations are used through generics on the
/// single-threaded runtime of the CLI, never as trait objects or across threads.
#[allow(async_fn_in_trait)]
pub trait PackageRegistry {
    /// The tags of a repository (any order).
    async fn tags(&self, repository: &Repository) -> Result<Vec<String>, RegistryError>;

    /// The manifest `reference` names now (by tag or digest), without the layer.
    async fn manifest(&self, reference: &Reference) -> Result<ManifestSummary, RegistryError>;

    /// Fetches each reference (pinned by digest) to its path, verified as it streams and
    /// written atomically, concurrently; with `offline`, from the local cache only. One result
    /// per item, in order.
    async fn fetch_all(
        &self,
        items: &[(Reference, PathBuf)],
        offline: bool,
    ) -> Vec<Result<Fetched, RegistryError>>;

    /// Pushes the Wasm file at `file` to `reference` with manifest `annotations`; returns the
    /// manifest digest.
    async fn push(
        &self,
        reference: &Reference,
        file: &Path,
        annotations: &BTreeMap<String, String>,
    ) -> Result<String, RegistryError>;

    /// GETs `/.well-known/wasm-pkg/registry.json` from `domain`.
    async fn discovery(&self, domain: &str) -> Result<WellKnown, RegistryError>;
}
