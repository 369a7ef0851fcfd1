//! Configuration for `wasm`: the config files, and running the credential helpers they name.
//!
//! - [`Config::load`] reads the global (or `--config`/`WASM_CONFIG`) file and the project file
//!   and merges them; [`Config::parse`] checks the text of one file without I/O;
//!   [`Config::registry`] finds the settings for a registry.
//! - [`RegistryName`] is the one type for "which registry" in every crate; [`RegistryAddress`]
//!   reads a registry as users type it.
//! - A project file's settings that run commands or weaken transport security ([`Risk`]) apply
//!   only once the user trusted it: [`apply_trust`] decides, [`TrustStore`] records trust
//!   (`wasm self trust`, [`trust_project_config`]), [`ConfigFile::trust_warning`] says what was
//!   ignored and how to trust the file.
//! - [`run_credential_helper`] runs a [`CredentialHelper`] and returns a [`UsernamePassword`].
//! - [`run_shell`] and [`run_program`] run a command with a timeout that kills everything the
//!   command started; the registry crate uses [`run_program`] for `docker-credential-NAME`.
//! - [`Secret`] wraps every value that must not be printed.
//! - [`write_private_file`] replaces a file atomically with mode 0600 (the trust store, and the
//!   registry crate's writes of Docker's `config.json`).
//!
//! Errors ([`ConfigError`], [`HelperError`], [`ExecError`], [`TrustError`]) say what to fix and keep their cause
//! in [`std::error::Error::source`]; print `error: {e}` and then one `caused by: {source}` line
//! per source.

mod error;
mod exec;
mod helper;
mod load;
mod model;
mod registry_name;
mod secret;
pub mod toml_keys;
mod trust;

pub use error::{
    ConfigError, ExecError, HelperError, HelperOutputError, TrustError, TrustStoreError,
};
pub use exec::{CommandOutput, run_program, run_shell};
pub use helper::{
    UsernamePassword, check_helper_file, parse_json_helper_output, run_credential_helper,
};
pub use load::{
    ConfigFile, FileRole, LoadOptions, cache_dir, global_config_path, project_config_path,
};
pub use model::{Config, ConfigFileContents, CredentialHelper, NamespaceConfig, RegistryConfig};
pub use registry_name::{
    DOCKER_HUB, DOCKER_HUB_ALIASES, DOCKER_HUB_KEY, RegistryAddress, RegistryAddressError,
    RegistryName, RegistryNameError, Scheme,
};
pub use secret::Secret;
pub use trust::{
    Risk, RiskySetting, Trust, TrustStore, Trusted, apply_trust, revoke_project_config,
    risky_settings, trust_command, trust_project_config, trust_store_path, write_private_file,
};
