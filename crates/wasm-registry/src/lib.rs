//! Registries for `wasm`: references, the credential chain, and pushing and pulling Wasm
//! components as OCI artifacts in the layout oci-wasm defines.
//!
//! - [`reference`]: `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`, with Docker Hub's rules.
//! - [`credentials`]: the chain of credential sources, each step explained.
//! - [`transport`]: per-registry scheme, certificates and credentials over oci-client.
//! - [`push()`], [`pull()`], [`inspect_reference`], [`tags`]: the operations; an access token
//!   that expires during one is renewed (`renewal`).
//! - [`login`]: `wasm login`/`logout`: check credentials against a registry, then store them
//!   where `docker login` would ([`credentials::store_login`]).
//! - [`diagnose`]: `wasm registry test`: why a registry does or does not work, step by step.
//! - [`component`]: streaming validation of Wasm files with wasmparser.
//!
//! Depends on `wasm-config` only; the CLI depends on this crate.

pub mod cache;
pub mod component;
pub mod credentials;
pub mod diagnose;
mod error;
pub mod login;
mod package_support;
mod progress;
mod pull;
mod push;
mod query;
pub mod reference;
mod renewal;
mod retry;
pub mod token;
mod transport;

pub use cache::{Cache, CacheStats};
pub use component::{ComponentError, WasmFile, WasmKind, check_file};
pub use credentials::{
    ChainError, Credential, CredentialChain, Outcome, Resolution, SourceKind, Step, StoreLocations,
};
pub use error::{Action, RegistryError};
pub use package_support::{ManifestSummary, WellKnown, get_well_known, resolve_manifest};
pub use progress::{NoProgress, Progress};
pub use pull::{
    MAX_MANIFEST_BYTES, PullOptions, PullOutcome, check_manifest_bytes, output_path,
    parse_wasm_config, pull, pull_all,
};
pub use push::{ANNOTATION_CREATED, ANNOTATION_TITLE, PushOutcome, push, push_all};
pub use query::{Inspection, inspect_file, inspect_reference, sort_tags, tags};
pub use reference::{Reference, ReferenceError, Repository};
pub use retry::RetryPolicy;
pub use transport::{Scheme, Session, Transport, TransportOptions};
