//! [`PackageRegistry`] over `wasm-registry`: the one module of this crate that calls the
//! registry crate's operations, so that its restructuring touches one file here.

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
            .map(|result| {
                result.map(|outcome| Fetched {
                    manifest_digest: outcome.digest,
                    layer_digest: outcome.layer_digest,
                    size: outcome.size,
                })
            })
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
