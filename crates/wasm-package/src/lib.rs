//! The package manager of `wasm`: a project's `wasm.toml` names its dependencies, `wasm.lock`
//! pins each to a digest, and the operations install exactly that (docs/packages.md).
//!
//! - [`name`]: package names, `namespace:name`.
//! - [`manifest`]: `wasm.toml`, checked with file, line, column and key in every error, and
//!   edited keeping the user's layout.
//! - [`lock`]: `wasm.lock`, deterministic, with a format version; [`Kind`] decides where a
//!   package is installed.
//! - [`resolve`]: the newest tag a requirement allows (Cargo's semantics).
//! - [`mapping`]: from a name to a repository, four rules, each explained.
//! - [`registry`]: what the operations need from registries ([`PackageRegistry`]), implemented
//!   over `wasm-registry` in [`adapter`].
//! - [`ops`]: `init`, `add`, `remove`, `install`, `update`, `outdated`, `publish`.
//! - [`wit`]: WIT interface packages: `wit fetch` into `wit/deps`, transitively and locked,
//!   and `wit build`.
//!
//! Depends on `wasm-registry` and `wasm-config`; the CLI depends on this crate.

pub mod adapter;
mod error;
mod files;
pub mod lock;
pub mod manifest;
pub mod mapping;
pub mod name;
pub mod ops;
pub mod registry;
pub mod resolve;
pub mod wit;

pub use adapter::{LayoutSource, RegistryClient};
pub use error::{FetchFailure, Location, MovedTag, PackageError};
pub use lock::{Kind, Lock, LockedPackage};
pub use manifest::{Dependency, Manifest, RegistryPrefix, Requirement, Source};
pub use mapping::{Mapped, Mapper, Network, WkgConfig};
pub use name::{NameError, PackageName};
pub use registry::{Fetched, PackageRegistry};
