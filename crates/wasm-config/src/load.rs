//! Where config files live, reading them, and merging them into one [`Config`].
//!
//! The order, each later file overriding the earlier ones:
//! 1. the global file ([`global_config_path`]), or instead of it the file given with `--config`
//!    or `WASM_CONFIG` ([`LoadOptions::explicit`]);
//! 2. the project file ([`project_config_path`]) in the current directory.
//!
//! The project file comes with the directory (a cloned repository can carry one): its settings
//! that run commands or weaken transport security apply only once the user trusted it (see
//! `trust`); [`ConfigFile::trust`] and [`ConfigFile::ignored`] say what happened.
//!
//! What must stay true: a missing global or project file is not an error, a missing explicit
//! file is; a registry table in a later file replaces the earlier table for that registry whole
//! (settings are never mixed from two files, so `defined_in` is always right), also when its
//! risky keys are ignored: the table without them replaces the earlier one; the I/O happens
//! here and in `trust`, nowhere in `model`.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::model::{Config, ConfigFileContents};
use crate::trust::{RiskySetting, Trust, apply_trust, project_trust};

/// One config file that [`Config::load`] consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// Its path.
    pub path: PathBuf,
    /// Why it was consulted.
    pub role: FileRole,
    /// Whether it exists (a missing global or project file is skipped).
    pub present: bool,
    /// Whether its risky settings apply: [`Trust::Implicit`] for the global and the explicit
    /// file, the store's answer for a project file with risky settings, [`Trust::NotNeeded`]
    /// for a project file without (or a missing one).
    pub trust: Trust,
    /// Its risky settings that were ignored because it is not trusted.
    pub ignored: Vec<RiskySetting>,
}

/// Why a config file was consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileRole {
    /// The per-user file, e.g. `~/.config/wasm/config.toml`.
    Global,
    /// The file given with `--config` or `WASM_CONFIG`, read instead of the global one.
    Explicit,
    /// `.config/wasm/config.toml` in the current directory.
    Project,
}

impl fmt::Display for FileRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileRole::Global => "global",
            FileRole::Explicit => "--config/WASM_CONFIG",
            FileRole::Project => "project",
        })
    }
}

/// What [`Config::load`] needs to know about the invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// The file from `--config` or `WASM_CONFIG` (the CLI decides which wins), read instead of
    /// the global file. A relative path is taken relative to `cwd`.
    pub explicit: Option<PathBuf>,
    /// The current directory, where the project file is looked for.
    pub cwd: PathBuf,
    /// The trust store ([`trust_store_path`](crate::trust_store_path)), read only when the
    /// project file has risky settings; `None` trusts no project file.
    pub trust_store: Option<PathBuf>,
}

/// The global config file: `$XDG_CONFIG_HOME/wasm/config.toml` when `XDG_CONFIG_HOME` is set to
/// an absolute path (on every platform), else `wasm/config.toml` in the platform's config
/// directory (`~/.config` on Linux, `~/Library/Application Support` on macOS, `%APPDATA%` on
/// Windows). `None` when no home directory can be found.
pub fn global_config_path() -> Option<PathBuf> {
    global_config_path_from(
        std::env::var_os("XDG_CONFIG_HOME"),
        directories::BaseDirs::new().map(|dirs| dirs.config_dir().to_owned()),
    )
}

/// [`global_config_path`] from the environment's values, so tests need not change the
/// environment.
fn global_config_path_from(
    xdg_config_home: Option<OsString>,
    platform_config_dir: Option<PathBuf>,
) -> Option<PathBuf> {
    let dir = xdg_dir_or(xdg_config_home, || platform_config_dir)?;
    Some(dir.join("wasm").join("config.toml"))
}

/// The value of an `XDG_*_HOME` variable when it is an absolute path, else `fallback` (like the
/// XDG spec says, a relative value is ignored).
pub(crate) fn xdg_dir_or(
    xdg_value: Option<OsString>,
    fallback: impl FnOnce() -> Option<PathBuf>,
) -> Option<PathBuf> {
    xdg_value
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(fallback)
}

/// The cache directory: `$XDG_CACHE_HOME/wasm` when `XDG_CACHE_HOME` is set and absolute (on
/// every platform), else `wasm` in the platform's cache directory (`~/.cache` on Linux,
/// `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows). `None` without a home directory.
pub fn cache_dir() -> Option<PathBuf> {
    let dir = xdg_dir_or(std::env::var_os("XDG_CACHE_HOME"), || {
        directories::BaseDirs::new().map(|d| d.cache_dir().to_owned())
    })?;
    Some(dir.join("wasm"))
}

/// The project config file: `.config/wasm/config.toml` in `cwd`.
pub fn project_config_path(cwd: &Path) -> PathBuf {
    cwd.join(".config").join("wasm").join("config.toml")
}

impl Config {
    /// Reads and merges the config files, in the order described in the module docs.
    ///
    /// Every file consulted is listed in [`Config::files`], with its trust and the settings
    /// ignored for want of it. When the project file is the global file (running in the home
    /// directory) or the explicit one, it is read once, as that file.
    pub fn load(opts: &LoadOptions) -> Result<Config, ConfigError> {
        let first = match &opts.explicit {
            Some(path) => Some((opts.cwd.join(path), FileRole::Explicit)),
            None => global_config_path().map(|path| (path, FileRole::Global)),
        };
        let project = (project_config_path(&opts.cwd), FileRole::Project);

        let mut config = Config::empty();
        for (path, role) in first.into_iter().chain([project]) {
            if config.files.iter().any(|f| same_file(&f.path, &path)) {
                continue;
            }
            let implicit = match role {
                FileRole::Global | FileRole::Explicit => Trust::Implicit,
                FileRole::Project => Trust::NotNeeded,
            };
            let Some(text) = read(&path, role)? else {
                config.files.push(ConfigFile {
                    path,
                    role,
                    present: false,
                    trust: implicit,
                    ignored: Vec::new(),
                });
                continue;
            };
            let contents = Config::parse(&text, &path)?;
            let trust = match role {
                FileRole::Project => project_trust(
                    &opts.cwd,
                    &contents,
                    text.as_bytes(),
                    opts.trust_store.as_deref(),
                )?,
                FileRole::Global | FileRole::Explicit => implicit,
            };
            let (contents, ignored) = apply_trust(contents, &trust);
            config.files.push(ConfigFile {
                path,
                role,
                present: true,
                trust,
                ignored,
            });
            config.merge(contents);
        }
        Ok(config)
    }

    /// Applies a later file on top of this configuration.
    pub(crate) fn merge(&mut self, later: ConfigFileContents) {
        self.registries.extend(later.registries);
        self.namespaces.extend(later.namespaces);
        if let Some(timeout) = later.helper_timeout {
            self.helper_timeout = timeout;
        }
    }
}

/// The file's text; `None` if a global or project file does not exist.
fn read(path: &Path, role: FileRole) -> Result<Option<String>, ConfigError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e)
            if role != FileRole::Explicit
                && matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
        {
            tracing::debug!(path = %path.display(), %role, "no config file");
            Ok(None)
        }
        Err(source) => Err(ConfigError::Read {
            path: path.to_owned(),
            role,
            source,
        }),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (fs::canonicalize(a), fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn n(name: &str) -> crate::RegistryName {
        crate::RegistryName::parse(name).unwrap()
    }
    use crate::model::CredentialHelper;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn global_path_prefers_an_absolute_xdg_config_home() {
        let platform = Some(PathBuf::from("/home/u/.config"));
        assert_eq!(
            global_config_path_from(Some("/xdg".into()), platform.clone()),
            Some(PathBuf::from("/xdg/wasm/config.toml"))
        );
        for ignored in [None, Some(OsString::new()), Some("relative/dir".into())] {
            assert_eq!(
                global_config_path_from(ignored, platform.clone()),
                Some(PathBuf::from("/home/u/.config/wasm/config.toml"))
            );
        }
        assert_eq!(global_config_path_from(None, None), None);
        assert_eq!(
            global_config_path_from(Some("/xdg".into()), None),
            Some(PathBuf::from("/xdg/wasm/config.toml"))
        );
    }

    #[test]
    fn project_path_is_under_cwd() {
        assert_eq!(
            project_config_path(Path::new("/work/app")),
            PathBuf::from("/work/app/.config/wasm/config.toml")
        );
    }

    #[test]
    fn role_display() {
        assert_eq!(FileRole::Global.to_string(), "global");
        assert_eq!(FileRole::Explicit.to_string(), "--config/WASM_CONFIG");
        assert_eq!(FileRole::Project.to_string(), "project");
    }

    #[test]
    fn the_project_file_replaces_registry_entries_whole() {
        let dir = tempfile::tempdir().unwrap();
        let explicit = dir.path().join("user.toml");
        write(
            &explicit,
            r#"
            helper-timeout = 10
            [registries."ghcr.io"]
            credential-helper = "op item get ghcr --format json --fields username,password"
            insecure = true
            [registries."docker.io"]
            credential-helper = "op item get hub --format json --fields username,password"
            "#,
        );
        let project = project_config_path(dir.path());
        write(
            &project,
            r#"
            helper-timeout = 5.5
            [registries."GHCR.IO"]
            protocol = "http"
            [registries."localhost:5000"]
            credential-helper.username = "printf alice"
            credential-helper.password = "printf secret"
            "#,
        );
        let store = dir.path().join("state/trusted.toml");
        crate::trust_project_config(&store, &project).unwrap();
        let config = Config::load(&LoadOptions {
            explicit: Some(PathBuf::from("user.toml")),
            cwd: dir.path().to_owned(),
            trust_store: Some(store),
        })
        .unwrap();

        assert_eq!(
            config.files,
            [
                ConfigFile {
                    path: explicit.clone(),
                    role: FileRole::Explicit,
                    present: true,
                    trust: Trust::Implicit,
                    ignored: Vec::new(),
                },
                ConfigFile {
                    path: project.clone(),
                    role: FileRole::Project,
                    present: true,
                    trust: Trust::Trusted,
                    ignored: Vec::new(),
                },
            ]
        );
        assert_eq!(config.helper_timeout, Duration::from_millis(5500));
        // Replaced whole: nothing of the explicit file's `ghcr.io` table survives.
        let ghcr = config.registry(&n("ghcr.io")).unwrap();
        assert_eq!(ghcr.credential_helper, None);
        assert!(!ghcr.insecure);
        assert_eq!(ghcr.protocol, Some(crate::Scheme::Http));
        assert_eq!(ghcr.defined_in, project);
        // Kept from the explicit file, and found through an alias.
        let hub = config.registry(&n("index.docker.io")).unwrap();
        assert_eq!(hub.defined_in, explicit);
        assert!(matches!(
            hub.credential_helper,
            Some(CredentialHelper::Json { .. })
        ));
        let keys: Vec<&str> = config.registries().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["docker.io", "ghcr.io", "localhost:5000"]);
    }

    #[test]
    fn an_untrusted_project_table_loses_its_risky_keys_and_still_replaces_the_global_one() {
        let dir = tempfile::tempdir().unwrap();
        let explicit = dir.path().join("user.toml");
        write(
            &explicit,
            r#"
            [registries."ghcr.io"]
            credential-helper = "op item get ghcr --format json --fields username,password"
            [registries."docker.io"]
            credential-helper = "op item get hub --format json --fields username,password"
            "#,
        );
        let project = project_config_path(dir.path());
        let text = r#"
            helper-timeout = 5
            [registries."ghcr.io"]
            credential-helper = "touch pwned"
            protocol = "https"
            [registries."registry.example.com"]
            insecure = true
            protocol = "http"
            "#;
        write(&project, text);
        let store = dir.path().join("state/trusted.toml");
        let load = || {
            Config::load(&LoadOptions {
                explicit: Some(explicit.clone()),
                cwd: dir.path().to_owned(),
                trust_store: Some(store.clone()),
            })
            .unwrap()
        };

        let config = load();
        assert_eq!(config.files[0].trust, Trust::Implicit);
        assert_eq!(config.files[1].trust, Trust::Untrusted);
        let ignored: Vec<String> = config.files[1].ignored.iter().map(|s| s.key()).collect();
        assert_eq!(
            ignored,
            [
                r#"registries."ghcr.io".credential-helper"#,
                r#"registries."registry.example.com".protocol"#,
                r#"registries."registry.example.com".insecure"#,
            ]
        );
        // Safe settings apply; the table, without its helper, still replaces the global one:
        // neither the project's command nor the global one for that registry runs.
        assert_eq!(config.helper_timeout, Duration::from_secs(5));
        let ghcr = config.registry(&n("GHCR.io")).unwrap();
        assert_eq!(ghcr.credential_helper, None);
        assert_eq!(ghcr.protocol, Some(crate::Scheme::Https));
        assert_eq!(ghcr.defined_in, project);
        let example = config.registry(&n("registry.example.com")).unwrap();
        assert!(!example.insecure);
        assert_eq!(example.protocol, None);
        assert_eq!(
            config.registry(&n("docker.io")).unwrap().defined_in,
            explicit
        );
        let ghcr_ignored: Vec<String> = config
            .ignored(&n("GHCR.IO"))
            .map(|(file, setting)| format!("{} {}", file.path.display(), setting.key()))
            .collect();
        assert_eq!(
            ghcr_ignored,
            [format!(
                "{} registries.\"ghcr.io\".credential-helper",
                project.display()
            )]
        );
        assert_eq!(config.files[0].trust_warning(), None);
        let path = project.display().to_string();
        assert_eq!(
            config.files[1].trust_warning().unwrap().replace(&path, "{path}"),
            "ignoring settings of the project config {path}: not trusted
  registries.\"ghcr.io\".credential-helper (runs commands)
  registries.\"registry.example.com\".protocol (sends requests and credentials unencrypted to a registry on another machine)
  registries.\"registry.example.com\".insecure (accepts any TLS certificate from the registry)
a project config comes with its directory (a cloned repository can carry one); if you trust this one, review it and run:
  wasm self trust {path}"
        );

        crate::trust_project_config(&store, &project).unwrap();
        let config = load();
        assert_eq!(config.files[1].trust, Trust::Trusted);
        assert_eq!(config.files[1].ignored, []);
        assert_eq!(config.files[1].trust_warning(), None);
        assert!(
            config
                .registry(&n("ghcr.io"))
                .unwrap()
                .credential_helper
                .is_some()
        );
        assert!(
            config
                .registry(&n("registry.example.com"))
                .unwrap()
                .insecure
        );

        write(&project, &text.replace("touch pwned", "touch pwned2"));
        let config = load();
        assert_eq!(config.files[1].trust, Trust::Changed);
        assert_eq!(
            config.registry(&n("ghcr.io")).unwrap().credential_helper,
            None
        );
        let warning = config.files[1]
            .trust_warning()
            .unwrap()
            .replace(&path, "{path}");
        assert!(
            warning.starts_with(
                "ignoring settings of the project config {path}: changed since you trusted it\n"
            ),
            "{warning}"
        );
        assert!(
            warning.ends_with(
                "review the change; to trust the file as it is now, run:\n  wasm self trust {path}"
            ),
            "{warning}"
        );
    }

    #[test]
    fn a_project_file_named_with_config_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let project = project_config_path(dir.path());
        write(&project, "[registries.r]\ncredential-helper = \"echo\"\n");
        let config = Config::load(&LoadOptions {
            explicit: Some(project.clone()),
            cwd: dir.path().to_owned(),
            trust_store: None,
        })
        .unwrap();
        assert_eq!(config.files.len(), 1);
        assert_eq!(config.files[0].trust, Trust::Implicit);
        assert!(
            config
                .registry(&n("r"))
                .unwrap()
                .credential_helper
                .is_some()
        );
    }

    #[test]
    fn missing_project_file_is_fine_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let explicit = dir.path().join("wasm.toml");
        write(&explicit, "");
        let config = Config::load(&LoadOptions {
            explicit: Some(explicit),
            cwd: dir.path().to_owned(),
            trust_store: None,
        })
        .unwrap();
        assert_eq!(config.helper_timeout, Config::DEFAULT_HELPER_TIMEOUT);
        assert_eq!(config.registries().count(), 0);
        let present: Vec<(FileRole, bool)> =
            config.files.iter().map(|f| (f.role, f.present)).collect();
        assert_eq!(
            present,
            [(FileRole::Explicit, true), (FileRole::Project, false)]
        );
    }

    #[test]
    fn a_missing_global_or_project_file_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for role in [FileRole::Global, FileRole::Project] {
            assert_eq!(read(&dir.path().join("nope.toml"), role).unwrap(), None);
            // A file where a directory is expected is the same as no file.
            write(&dir.path().join("file"), "");
            assert_eq!(
                read(&dir.path().join("file/config.toml"), role).unwrap(),
                None
            );
        }
    }

    #[test]
    fn a_missing_explicit_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.toml");
        let err = Config::load(&LoadOptions {
            explicit: Some(path.clone()),
            cwd: dir.path().to_owned(),
            trust_store: None,
        })
        .unwrap_err();
        assert_eq!(
            err.to_string()
                .replace(&path.display().to_string(), "{path}"),
            "cannot read config file {path} (--config/WASM_CONFIG)"
        );
        let source = std::error::Error::source(&err).unwrap();
        let io = source.downcast_ref::<io::Error>().unwrap();
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn an_unreadable_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory cannot be read as a file, whatever the user running the test may do.
        let project = project_config_path(dir.path());
        fs::create_dir_all(&project).unwrap();
        let err = read(&project, FileRole::Project).unwrap_err();
        assert_eq!(
            err.to_string()
                .replace(&project.display().to_string(), "{path}"),
            "cannot read config file {path} (project)"
        );
    }

    #[test]
    fn errors_in_a_file_name_that_file() {
        let dir = tempfile::tempdir().unwrap();
        let project = project_config_path(dir.path());
        write(&project, "[registries.r]\ninsecure = 1\n");
        let explicit = dir.path().join("empty.toml");
        write(&explicit, "");
        let err = Config::load(&LoadOptions {
            explicit: Some(explicit),
            cwd: dir.path().to_owned(),
            trust_store: None,
        })
        .unwrap_err();
        assert_eq!(
            err.to_string()
                .replace(&project.display().to_string(), "{path}"),
            "{path}: `registries.r.insecure` must be a boolean (`true` or `false`), \
             found an integer"
        );
    }

    #[test]
    fn the_same_file_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let project = project_config_path(dir.path());
        write(&project, "helper-timeout = 3");
        let config = Config::load(&LoadOptions {
            explicit: Some(PathBuf::from(".config/wasm/../wasm/config.toml")),
            cwd: dir.path().to_owned(),
            trust_store: None,
        })
        .unwrap();
        assert_eq!(config.files.len(), 1);
        assert_eq!(config.files[0].role, FileRole::Explicit);
        assert_eq!(config.helper_timeout, Duration::from_secs(3));
    }

    #[test]
    fn merge_keeps_the_earlier_timeout_when_the_later_file_has_none() {
        let mut config = Config::empty();
        config.merge(Config::parse("helper-timeout = 7", Path::new("a.toml")).unwrap());
        config.merge(Config::parse("[registries.r]", Path::new("b.toml")).unwrap());
        assert_eq!(config.helper_timeout, Duration::from_secs(7));
        assert_eq!(
            config.registry(&n("r")).unwrap().defined_in,
            Path::new("b.toml")
        );
    }
}
