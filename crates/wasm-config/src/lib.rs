//! Configuration for `wasm`: the config files, and running the credential helpers they name.
//!
//! - [`Config::load`] reads the global (or `--config`/`WASM_CONFIG`) file and the project file
//!   and merges them; [`Config::parse`] checks the text of one file without I/O;
//!   [`Config::registry`] finds the settings for a registry.
//! - [`run_credential_helper`] runs a [`CredentialHelper`] and returns a [`UsernamePassword`].
//! - [`run_shell`] and [`run_program`] run a command with a timeout that kills everything the
//!   command started; the registry crate uses [`run_program`] for `docker-credential-NAME`.
//! - [`Secret`] wraps every value that must not be printed.
//!
//! Errors ([`ConfigError`], [`HelperError`], [`ExecError`]) say what to fix and keep their cause
//! in [`std::error::Error::source`]; print `error: {e}` and then one `caused by: {source}` line
//! per source.

mod error;
mod exec;
mod helper;
mod load;
mod model;
mod secret;
pub mod toml_keys;

pub use error::{ConfigError, ExecError, HelperError, HelperOutputError, RegistryKeyProblem};
pub use exec::{CommandOutput, run_program, run_shell};
pub use helper::{
    UsernamePassword, check_helper_file, parse_json_helper_output, run_credential_helper,
};
pub use load::{
    ConfigFile, FileRole, LoadOptions, cache_dir, global_config_path, project_config_path,
};
pub use model::{
    Config, ConfigFileContents, CredentialHelper, NamespaceConfig, Protocol, RegistryConfig,
};
pub use secret::Secret;
