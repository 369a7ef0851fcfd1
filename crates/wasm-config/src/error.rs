//! Every error this crate returns, in one place so that the user-facing texts can be read and
//! reviewed together.
//!
//! What must stay true:
//! - messages are lowercase, have no trailing period, and name what to fix: for the config file
//!   its path and the TOML key, for a credential helper its command;
//! - a cause is attached with `#[source]` and its text is not repeated in the message, so that
//!   printing `error: {e}` followed by one `caused by: {source}` line per source reads well;
//! - nothing a credential helper printed on stdout ever reaches an error: it may hold a secret.
//!   Only its exit status and stderr do.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::load::FileRole;
use crate::registry_name::{RegistryName, RegistryNameError};

/// An error reading or validating a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file that must be read could not be: an explicit file that does not exist, or
    /// any file that exists but cannot be opened or is not UTF-8.
    #[error("cannot read config file {path} ({role})")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it was consulted.
        role: FileRole,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// The file is not valid TOML.
    #[error("{path}:{line}:{column}: invalid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The line of the error, from 1.
        line: usize,
        /// The column (in characters) of the error, from 1.
        column: usize,
        /// The TOML parser's description of the problem.
        message: String,
    },

    /// A key that the file format does not have, usually a typo.
    #[error(
        "{path}: unknown key `{key}` in {table}{}(known keys: {})",
        did_you_mean(*.suggestion),
        backticked(known)
    )]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The table holding the key, e.g. `` `registries."ghcr.io"` `` or `the top level`.
        table: String,
        /// The unknown key as written.
        key: String,
        /// A known key that the unknown one looks like a misspelling of.
        suggestion: Option<&'static str>,
        /// The keys this table accepts.
        known: &'static [&'static str],
    },

    /// A value of the wrong type or outside the accepted range.
    #[error("{path}: `{key}` must be {expected}, found {found}")]
    InvalidValue {
        /// The file.
        path: PathBuf,
        /// The full TOML key, e.g. `registries."ghcr.io".insecure`.
        key: String,
        /// What the key accepts.
        expected: &'static str,
        /// What the file has instead: a type (`a string`) or a value.
        found: String,
    },

    /// A `[registries."KEY"]` table whose key is not `HOST` or `HOST:PORT`.
    #[error("{path}: invalid registry key \"{key}\": {}", key_problem(problem))]
    InvalidRegistryKey {
        /// The file.
        path: PathBuf,
        /// The key as written.
        key: String,
        /// What is wrong with it.
        problem: RegistryNameError,
    },

    /// Two keys in one file that name the same registry, e.g. `GHCR.io` and `ghcr.io`, or
    /// `docker.io` and `index.docker.io`.
    #[error(
        "{path}: registry `{registry}` is configured twice, as \"{first}\" and \"{second}\"; \
         keep one of the two tables"
    )]
    DuplicateRegistry {
        /// The file.
        path: PathBuf,
        /// The registry both keys name.
        registry: RegistryName,
        /// The first key as written.
        first: String,
        /// The second key as written.
        second: String,
    },

    /// The trust store could not be read, so whether the project file's risky settings apply
    /// cannot be told.
    #[error("cannot tell whether {path} is trusted")]
    TrustStore {
        /// The project file.
        path: PathBuf,
        /// What is wrong with the store.
        #[source]
        source: TrustStoreError,
    },
}

/// The problem with a registry key, worded for a config file (the name's parser is shared with
/// references and commands, which word it their own way).
fn key_problem(problem: &RegistryNameError) -> String {
    match problem {
        RegistryNameError::Empty => {
            "the host is empty; write HOST or HOST:PORT, like `[registries.\"ghcr.io\"]`".into()
        }
        RegistryNameError::Scheme { scheme, suggested } => format!(
            "a registry key has no scheme; write `[registries.\"{suggested}\"]`{}",
            if scheme.eq_ignore_ascii_case("http") {
                " with `protocol = \"http\"`"
            } else {
                ""
            }
        ),
        RegistryNameError::Path { suggested } => format!(
            "a registry key has no path (credentials apply to the whole registry); \
             write `[registries.\"{suggested}\"]`"
        ),
        RegistryNameError::Character { character } => format!(
            "{character:?} cannot appear in a registry host; \
             write HOST or HOST:PORT, like `[registries.\"localhost:5000\"]`"
        ),
        RegistryNameError::EmptyPort { host } => format!(
            "the port after `:` is empty; write `[registries.\"{host}\"]` or add the port number"
        ),
        RegistryNameError::InvalidPort { .. } => problem.to_string(),
    }
}

/// An error reading or writing the trust store (see [`TrustStore`](crate::TrustStore)).
#[derive(Debug, thiserror::Error)]
pub enum TrustStoreError {
    /// The store exists but cannot be read.
    #[error("cannot read the trust store {path}")]
    Read {
        /// The store.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The store is not what `wasm` writes.
    #[error(
        "{path}:{line}:{column}: invalid trust store: {message}; fix the line, or delete the \
         file and trust your project configs again"
    )]
    Invalid {
        /// The store.
        path: PathBuf,
        /// The line of the error, from 1.
        line: usize,
        /// The column (in characters) of the error, from 1.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The store cannot be written.
    #[error("cannot write the trust store {path}")]
    Write {
        /// The store.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// An error of `wasm self trust [--revoke] PATH`.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The file is not `DIR/.config/wasm/config.toml`: only project configs need trust.
    #[error(
        "cannot trust {path}: it is not a project config; wasm reads a project config only as \
         `.config/wasm/config.toml` in the current directory, and a file named with --config or \
         WASM_CONFIG is trusted without this"
    )]
    NotProjectConfig {
        /// The file.
        path: PathBuf,
    },
    /// The file does not exist.
    #[error("cannot trust {path}: there is no such file")]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file, or a directory between the project directory and it, is a symbolic link.
    #[error(
        "cannot trust {path}: it leads through a symbolic link to {target}; wasm trusts a \
         project config only where it lies, so that a repository cannot link to a file you \
         trusted elsewhere; replace the link with a copy of the file, or name the file with \
         `--config {target}`"
    )]
    Linked {
        /// The file.
        path: PathBuf,
        /// Where the link leads.
        target: PathBuf,
    },
    /// The store is TOML, which holds only UTF-8 paths.
    #[error("cannot trust {path}: its path is not UTF-8, which the trust store cannot record")]
    NotUtf8 {
        /// The canonical path.
        path: PathBuf,
    },
    /// The file cannot be read or is not a valid config file.
    #[error(transparent)]
    Config(ConfigError),
    /// The store cannot be read, parsed or written.
    #[error(transparent)]
    Store(#[from] TrustStoreError),
}

/// An error running a command with [`run_shell`](crate::run_shell) or
/// [`run_program`](crate::run_program).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program (or, for a shell command, the shell) does not exist.
    #[error("`{program}` was not found: is it installed and on PATH?")]
    NotFound {
        /// The program that was looked up.
        program: String,
    },
    /// The command ran longer than its timeout and was killed with everything it started.
    #[error("`{command}` did not finish within {} and was stopped", seconds(after))]
    TimedOut {
        /// The command line.
        command: String,
        /// The timeout.
        after: Duration,
    },
    /// Starting the command or exchanging data with it failed.
    #[error("cannot run `{command}`")]
    Io {
        /// The command line.
        command: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// An error getting credentials from a credential helper configured in the config file.
///
/// The message names the command (and, for the split form, which of the two) but not the
/// registry: the caller knows which registry it was asking for and adds it.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// The shell could not find the helper's program (exit status 127, or 9009 on Windows).
    #[error(
        "credential helper `{command}` was not found (exit status {}): \
         is the program installed and on PATH?{}",
        crate::exec::SHELL_NOT_FOUND,
        install_hint(command)
    )]
    NotFound {
        /// The command.
        command: String,
    },
    /// The helper exited with a non-zero status.
    #[error("credential helper `{command}` {}", failure(*.status, stderr))]
    Failed {
        /// The command.
        command: String,
        /// The exit status; -1 if the helper was killed by a signal.
        status: i32,
        /// What the helper printed on stderr (trimmed, at most 4 KiB).
        stderr: String,
    },
    /// The helper ran longer than `helper-timeout` and was stopped.
    #[error(
        "credential helper `{command}` did not finish within {} and was stopped; \
         raise `helper-timeout` in the config file or fix the command",
        seconds(after)
    )]
    TimedOut {
        /// The command.
        command: String,
        /// The timeout.
        after: Duration,
    },
    /// The helper succeeded but its output does not hold a username and a password.
    #[error("the output of credential helper `{command}` is not usable")]
    Output {
        /// The command.
        command: String,
        /// What is wrong with the output (never the output itself).
        #[source]
        source: HelperOutputError,
    },
    /// The file that configures the helper can be changed by other users: running its
    /// command would run whatever they put there.
    #[error(
        "refusing to run credential helper `{command}`: {} is writable by {who} (mode {mode:04o}), \
         so another user could change the command; run `chmod go-w {}`",
        path.display(),
        path.display()
    )]
    UnsafeFile {
        /// The command.
        command: String,
        /// The config file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
        /// `group`, `others` or `group and others`.
        who: &'static str,
    },
    /// The helper could not be started (e.g. no shell), or reading its output failed.
    #[error("cannot run credential helper `{command}`")]
    Io {
        /// The command.
        command: String,
        /// The failure.
        #[source]
        source: ExecError,
    },
}

/// What is wrong with the stdout of a credential helper.
///
/// These messages describe the output's shape; they never quote it, because it may hold the
/// password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelperOutputError {
    /// The JSON form's output is not UTF-8.
    #[error("the output is not UTF-8")]
    NotUtf8,
    /// The JSON form's output is not JSON.
    #[error(
        "the output is not JSON (syntax error at line {line}, column {column}); expected {}",
        JSON_EXAMPLE
    )]
    NotJson {
        /// The line of the syntax error, from 1.
        line: usize,
        /// The column of the syntax error, from 1.
        column: usize,
    },
    /// The JSON form's output is JSON but not an array of objects.
    #[error(
        "the output is JSON but not an array of objects; expected {}",
        JSON_EXAMPLE
    )]
    NotFieldList,
    /// No object has the `id` (or `label`) `username` or `password`.
    #[error(
        "the output has no `{field}` field (ids found: {}); name the fields `username` and \
         `password`, e.g. `op item get ITEM --format json --fields username,password`",
        if ids.is_empty() { "none".to_owned() } else { backticked(ids) }
    )]
    MissingField {
        /// `username` or `password`.
        field: &'static str,
        /// The `id`s the output has (ids are field names, not secrets).
        ids: Vec<String>,
    },
    /// A field's `value` is missing or empty.
    #[error("the `{field}` field is empty; fill it in where the helper reads it from")]
    EmptyValue {
        /// `username` or `password`.
        field: &'static str,
    },
    /// A field's `value` is not a JSON string.
    #[error("the `{field}` field's value is not a JSON string")]
    ValueNotString {
        /// `username` or `password`.
        field: &'static str,
    },
    /// One of the split form's commands printed something that is not UTF-8.
    #[error("the output of `{key}` is not UTF-8")]
    SplitNotUtf8 {
        /// `credential-helper.username` or `credential-helper.password`.
        key: &'static str,
    },
    /// One of the split form's commands printed nothing but whitespace.
    #[error("`{key}` printed nothing; the command must print the value on stdout")]
    SplitEmpty {
        /// `credential-helper.username` or `credential-helper.password`.
        key: &'static str,
    },
}

/// The shape the JSON form of a credential helper must print.
const JSON_EXAMPLE: &str =
    r#"a JSON array like [{"id":"username","value":"..."},{"id":"password","value":"..."}]"#;

/// `60 s`, `0.2 s`.
pub(crate) fn seconds(duration: &Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

/// `` `a`, `b`, `c` ``.
fn backticked<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{}`", s.as_ref())).collect();
    quoted.join(", ")
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(key) => format!(": did you mean `{key}`? "),
        None => " ".to_owned(),
    }
}

fn install_hint(command: &str) -> &'static str {
    if command == "op" || command.starts_with("op ") {
        " (for `op`, install the 1Password CLI)"
    } else {
        ""
    }
}

fn failure(status: i32, stderr: &str) -> String {
    let how = if status == -1 {
        "was killed by a signal".to_owned()
    } else {
        format!("failed with exit status {status}")
    };
    if stderr.is_empty() {
        format!("{how} and printed no error message; run it in a terminal to see what it needs")
    } else {
        format!("{how}: {stderr}")
    }
}

/// `error: {e}` and one `caused by: {source}` line per source, as the CLI prints errors.
#[cfg(test)]
pub(crate) fn report(error: &dyn std::error::Error) -> String {
    let mut text = format!("error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!("\ncaused by: {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_error_chain() {
        let err = ConfigError::Read {
            path: PathBuf::from("/tmp/wasm.toml"),
            role: FileRole::Explicit,
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert_eq!(
            report(&err),
            "error: cannot read config file /tmp/wasm.toml (--config/WASM_CONFIG)\n\
             caused by: permission denied"
        );
    }

    #[test]
    fn helper_io_error_chain() {
        let err = HelperError::Io {
            command: "op item get ghcr".to_owned(),
            source: ExecError::NotFound {
                program: "sh".to_owned(),
            },
        };
        assert_eq!(
            report(&err),
            "error: cannot run credential helper `op item get ghcr`\n\
             caused by: `sh` was not found: is it installed and on PATH?"
        );
        let err = HelperError::Io {
            command: "get-creds".to_owned(),
            source: ExecError::Io {
                command: "get-creds".to_owned(),
                source: io::Error::from(io::ErrorKind::BrokenPipe),
            },
        };
        assert_eq!(
            report(&err),
            "error: cannot run credential helper `get-creds`\n\
             caused by: cannot run `get-creds`\n\
             caused by: broken pipe"
        );
    }

    #[test]
    fn helper_output_error_chain() {
        let err = HelperError::Output {
            command: "op item get ghcr --format json".to_owned(),
            source: HelperOutputError::MissingField {
                field: "password",
                ids: vec!["username".to_owned(), "notesPlain".to_owned()],
            },
        };
        assert_eq!(
            report(&err),
            "error: the output of credential helper `op item get ghcr --format json` is not \
             usable\n\
             caused by: the output has no `password` field (ids found: `username`, \
             `notesPlain`); name the fields `username` and `password`, e.g. \
             `op item get ITEM --format json --fields username,password`"
        );
    }

    #[test]
    fn seconds_are_short() {
        assert_eq!(seconds(&Duration::from_secs(60)), "60 s");
        assert_eq!(seconds(&Duration::from_millis(200)), "0.2 s");
        assert_eq!(seconds(&Duration::from_millis(1500)), "1.5 s");
    }
}
