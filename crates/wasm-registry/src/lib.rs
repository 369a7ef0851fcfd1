//! Registries for `wasm`: names, connection plans, credentials, the session that talks to a
//! registry, the operations on Wasm artifacts, the local cache, and the diagnosis of failures.
//!
//! The seams, each a module (private; the API is re-exported here):
//! - names: [`Reference`] and [`Repository`] (`[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`, with
//!   Docker Hub's rules) over [`RegistryName`], the one registry-name type of every crate;
//! - plans: [`ConnectionPlan`], the one pure decision of scheme, trust and whether
//!   credentials may be sent, for every command;
//! - credentials: the [`CredentialChain`] (config helper, Docker, Podman, anonymous), each step
//!   explained, and storing into Docker's stores for `login`/`logout`;
//! - the session: [`Transport`] and [`Session`], our HTTP client over the plan, the registry's
//!   challenge and tokens, the one retry loop ([`RetryPolicy`]) and typed errors
//!   ([`RegistryError`]);
//! - locations: [`Location`], a registry reference or an OCI image layout ([`Layout`],
//!   `oci:DIR`, `oci-archive:FILE`);
//! - operations: [`push()`], [`pull()`], [`inspect_reference`], [`tags()`], the same on layouts
//!   ([`push_to_layout`], [`pull_from_layout`], [`inspect_layout`], [`location_tags`]),
//!   [`copy()`] between registries and layouts, referrers ([`discover`], [`attach`]), and
//!   `wasm login`'s check ([`verify_login`]); artifacts in the layout oci-wasm defines ([`Manifest`]) and
//!   validated in bounded memory ([`check_file`]);
//! - the cache: [`Cache`], content-addressed, verified, shared by processes;
//! - the diagnosis: [`diagnose`], behind `wasm registry test`.
//!
//! Depends on `wasm-config` only; the CLI depends on this crate.

mod cache;
mod component;
mod credentials;
pub mod diagnose;
mod error;
mod layout;
mod location;
mod manifest;
mod ops;
mod plan;
mod progress;
mod reference;
mod session;

pub use cache::{Cache, CacheStats};
pub use component::{ComponentError, WasmFile, WasmKind, check_file, digest_file};
pub use credentials::{
    AuthFileError, AuthFileSummary, ChainError, Credential, CredentialChain, Erased, Outcome,
    Resolution, SourceError, SourceKind, Step, StoreError, StoreHelperError, StoreLocations,
    StoreSite, TOKEN_USERNAME, docker_config_summary, erase_login, error_chain, store_login,
};
pub use error::{Action, CaFileProblem, RegistryError};
pub use layout::{Layout, LayoutError, OpenLayout, REF_NAME};
pub use location::{LayoutLocation, LayoutTarget, Location, LocationError};
pub use manifest::{Descriptor, MAX_MANIFEST_BYTES, Manifest};
pub use ops::copy::{CopyOptions, CopyOutcome, ReferrersVia, copy, copy_all, copy_each};
pub use ops::discovery::{WellKnown, get_well_known};
pub use ops::local::{inspect_layout, pull_from, pull_from_layout, push_to_layout};
pub use ops::login::{Verified, verify_login};
pub use ops::pull::{PullOptions, PullOutcome, output_path, pull, pull_all};
pub use ops::push::{ANNOTATION_CREATED, ANNOTATION_TITLE, PushOutcome, push, push_all};
pub use ops::query::{
    Inspection, ManifestSummary, inspect_file, inspect_reference, location_tags, manifest_digest,
    resolve_manifest, sort_tags, tags,
};
pub use ops::referrers::{AttachOutcome, Discovery, Referrer, attach, discover};
pub use plan::{
    ConnectionPlan, ExtraRoot, Flags, RootOrigin, SchemeChoice, SchemeReason, Trust,
    url_may_receive_secrets,
};
pub use progress::{NoProgress, Progress};
pub use reference::{
    Reference, ReferenceError, RegistryArgument, RegistryArgumentError, Repository,
};
pub use session::{
    Challenge, DnsError, RetryPolicy, Session, Transport, TransportOptions, realm_is_safe, scope,
};
pub use wasm_config::{RegistryName, Scheme};

/// What the fuzz targets exercise: the parsers of untrusted input, one by one. Not part of the
/// API (only with the `fuzzing` feature, which `fuzz/` turns on).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::component::check_reader;
    pub use crate::credentials::lookup_in_auth_file;
    pub use crate::manifest::{check_manifest_bytes, parse_wasm_config};
}
