//! [`PackageRegistry`] over `wasm-registry`: the one module of this crate that calls the
//! registry crate's operations, so that its restructuring touches one file here. Two
//! implementations: [`RegistryClient`] (registries) and [`LayoutSource`] (an OCI image layout
//! or archive, for `wasm install --from`: packages by their locked digest, no network).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasm_registry::{
    ManifestSummary, NoProgress, PullOptions, Reference, RegistryError, Repository, Transport,
    WellKnown,
};

use crate::registry::{Fetched, PackageRegistry};

/// The path of wkg's discovery document.
pub const DISCOVERY_PATH: &str = "/.well-known/wasm-pkg/registry.json";

/// Registries reached through a [`Transport`] (credentials, TLS, retries, the cache).
pub struct RegistryClient<'a> {
    transport: &'a Transport,
    jobs: usize,
}

impl<'a> RegistryClient<'a> {
    /// A client over `transport`, fetching at most `jobs` packages at once.
    pub fn new(transport: &'a Transport, jobs: usize) -> Self {
        Self {
            transport,
            jobs: jobs.max(1),
        }
    }
}

impl PackageRegistry for RegistryClient<'_> {
    async fn tags(&self, repository: &Repository) -> Result<Vec<String>, RegistryError> {
        wasm_registry::tags(self.transport, repository).await
    }

    async fn manifest(&self, reference: &Reference) -> Result<ManifestSummary, RegistryError> {
        wasm_registry::resolve_manifest(self.transport, reference).await
    }

    async fn fetch_all(
        &self,
        items: &[(Reference, PathBuf)],
        offline: bool,
    ) -> Vec<Result<Fetched, RegistryError>> {
        let options = PullOptions { offline };
        wasm_registry::pull_all(self.transport, items, options, self.jobs)
            .await
            .into_iter()
            .map(|result| result.map(fetched))
            .collect()
    }

    async fn push(
        &self,
        reference: &Reference,
        file: &Path,
        annotations: &BTreeMap<String, String>,
    ) -> Result<String, RegistryError> {
        let outcome = wasm_registry::push(
            self.transport,
            reference,
            file,
            annotations,
            Arc::new(NoProgress),
        )
        .await?;
        Ok(outcome.digest)
    }

    async fn discovery(&self, domain: &str) -> Result<WellKnown, RegistryError> {
        let name = wasm_registry::RegistryName::parse(domain).map_err(|e| {
            wasm_registry::ReferenceError {
                input: domain.to_owned(),
                reason: format!("not a domain for discovery: {e}"),
            }
        })?;
        wasm_registry::get_well_known(self.transport, &name, DISCOVERY_PATH).await
    }
}

/// What a pull wrote, as the package manager records it.
fn fetched(outcome: wasm_registry::PullOutcome) -> Fetched {
    Fetched {
        manifest_digest: outcome.digest,
        layer_digest: outcome.layer_digest,
        size: outcome.size,
    }
}

/// Packages from an OCI image layout (`wasm install --from oci:DIR|oci-archive:FILE`): each
/// locked package is found in the layout by its manifest digest, whatever repository it came
/// from, verified and written as a pull writes. Only fetches are possible: it answers no tag
/// list, manifest or discovery question (an install from a layout uses the lock alone).
pub struct LayoutSource {
    opened: wasm_registry::OpenLayout,
}

impl LayoutSource {
    /// Opens the layout (an archive is unpacked once, into a temporary directory).
    pub fn open(location: &wasm_registry::LayoutLocation) -> Result<Self, RegistryError> {
        Ok(Self {
            opened: wasm_registry::OpenLayout::read(location)?,
        })
    }

    fn lock_only(&self, reference: String) -> RegistryError {
        RegistryError::Offline {
            reference,
            what: format!(
                "installing from {} uses wasm.lock only, and the lock lacks it",
                self.opened.layout.shown()
            ),
        }
    }
}

impl PackageRegistry for LayoutSource {
    async fn tags(&self, repository: &Repository) -> Result<Vec<String>, RegistryError> {
        Err(self.lock_only(repository.to_string()))
    }

    async fn manifest(&self, reference: &Reference) -> Result<ManifestSummary, RegistryError> {
        Err(self.lock_only(reference.to_string()))
    }

    async fn fetch_all(
        &self,
        items: &[(Reference, PathBuf)],
        _offline: bool,
    ) -> Vec<Result<Fetched, RegistryError>> {
        items
            .iter()
            .map(|(reference, path)| -> Result<Fetched, RegistryError> {
                let digest = reference
                    .digest()
                    .ok_or_else(|| self.lock_only(reference.to_string()))?;
                let target = wasm_registry::LayoutTarget::Digest(digest.to_owned());
                wasm_registry::pull_from(&self.opened.layout, &target, path).map(fetched)
            })
            .collect()
    }

    async fn push(
        &self,
        reference: &Reference,
        _file: &Path,
        _annotations: &BTreeMap<String, String>,
    ) -> Result<String, RegistryError> {
        Err(self.lock_only(reference.to_string()))
    }

    async fn discovery(&self, domain: &str) -> Result<WellKnown, RegistryError> {
        Err(self.lock_only(domain.to_owned()))
    }
}
