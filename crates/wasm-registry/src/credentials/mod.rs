//! The credential chain: where the credentials for a registry come from, and why.
//!
//! For a registry the sources are consulted in this order ([`CredentialChain::resolve`]):
//! 1. the `credential-helper` of that registry in `wasm`'s config file;
//! 2. Docker's `config.json`: `credHelpers`, then `auths`, then `credsStore`;
//! 3. Podman's auth files: `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
//!    `$XDG_CONFIG_HOME/containers/auth.json` (keys may carry a namespace);
//! 4. anonymous access.
//!
//! What must stay true: "nothing configured here" moves on to the next source, while a source
//! that is configured but broken (a failing helper, an invalid file) stops the chain with an
//! error naming that source — never a silent fall-back to anonymous. Every lookup records its
//! [`Step`]s, which `self config`, `-v` logs and error messages show. Each helper runs at most
//! once per registry per process.
//!
//! Writing is the other direction: [`store_login`] and [`erase_login`] change Docker's stores as
//! `docker login` and `docker logout` do.

mod auth_file;
mod docker_config;
mod store_helper;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use wasm_config::{
    Config, CredentialHelper, HelperError, Risk, Secret, check_helper_file, run_credential_helper,
};

pub use auth_file::AuthFileError;
pub use docker_config::{Erased, StoreError, StoreSite, erase_login, store_login};
pub use store_helper::{StoreHelperError, TOKEN_USERNAME};
pub(crate) use wasm_config::DOCKER_HUB_KEY;

pub(crate) use auth_file::key_address;
use auth_file::{AuthFile, EntryCredential, find_key};
use store_helper::HelperSite;

use wasm_config::RegistryName;

/// Credentials for one registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// No credentials: anonymous access.
    Anonymous,
    /// A username and password (or access token used as a password).
    Basic {
        /// The username.
        username: String,
        /// The password.
        password: Secret<String>,
    },
    /// An identity token: an OAuth2 refresh token to exchange for access tokens.
    IdentityToken {
        /// The username, when the store knows it.
        username: Option<String>,
        /// The refresh token.
        token: Secret<String>,
    },
}

impl Credential {
    /// The username, if any; never a secret.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credential::Anonymous => None,
            Credential::Basic { username, .. } => Some(username),
            Credential::IdentityToken { username, .. } => username.as_deref(),
        }
    }

    /// A short name of the kind: `anonymous`, `username/password`, `identity token`.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Anonymous => "anonymous",
            Credential::Basic { .. } => "username/password",
            Credential::IdentityToken { .. } => "identity token",
        }
    }
}

/// A source of credentials in the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// `credential-helper` in `wasm`'s config.
    ConfigHelper,
    /// `credHelpers` in Docker's `config.json`.
    DockerCredHelpers,
    /// `auths` in Docker's `config.json`.
    DockerAuths,
    /// `credsStore` in Docker's `config.json`.
    DockerCredsStore,
    /// A Podman auth file.
    Podman,
    /// No credentials.
    Anonymous,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::ConfigHelper => "wasm config credential-helper",
            SourceKind::DockerCredHelpers => "docker credHelpers",
            SourceKind::DockerAuths => "docker auths",
            SourceKind::DockerCredsStore => "docker credsStore",
            SourceKind::Podman => "podman auth file",
            SourceKind::Anonymous => "anonymous access",
        })
    }
}

/// What happened at one source.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The source is not set up at all (no file, no setting).
    NotConfigured {
        /// Why, e.g. `no file`.
        reason: String,
    },
    /// The source is set up but holds nothing for this registry.
    NoEntry {
        /// The keys or spellings looked for.
        tried: Vec<String>,
        /// A note, e.g. `the entry is empty and there is no credsStore`.
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Credentials found.
    Found {
        /// The key they were found under.
        key: String,
        /// The kind of credential.
        kind: String,
        /// The username (never the secret).
        #[serde(skip_serializing_if = "Option::is_none")]
        username: Option<String>,
    },
    /// The source is broken; the chain stopped here.
    Failed {
        /// The error.
        error: String,
    },
    /// Used because nothing else was found.
    Used,
    /// A helper would be asked here, but running helpers was switched off (`--no-exec`).
    NotRun {
        /// The command or program that would run.
        command: String,
    },
}

/// One consulted source and its outcome.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// The source.
    pub source: SourceKind,
    /// The file or program behind it.
    pub location: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if !self.location.is_empty() {
            write!(f, " ({})", self.location)?;
        }
        match &self.outcome {
            Outcome::NotConfigured { reason } => write!(f, ": not configured ({reason})"),
            Outcome::NoEntry { tried, note } => {
                write!(f, ": no entry")?;
                if !tried.is_empty() {
                    write!(f, " (tried {})", tried.join(", "))?;
                }
                if let Some(note) = note {
                    write!(f, "; {note}")?;
                }
                Ok(())
            }
            Outcome::Found {
                key,
                kind,
                username,
            } => {
                write!(f, ": found {kind} under `{key}`")?;
                if let Some(u) = username {
                    write!(f, " for user `{u}`")?;
                }
                Ok(())
            }
            Outcome::Failed { error } => write!(f, ": FAILED: {error}"),
            Outcome::Used => write!(f, ": used"),
            Outcome::NotRun { command } => write!(f, ": would run `{command}` (not run)"),
        }
    }
}

/// The credentials for a registry and how they were found.
#[derive(Clone, Debug)]
pub struct Resolution {
    /// The registry.
    pub registry: RegistryName,
    /// The credentials.
    pub credential: Credential,
    /// Every source consulted, in order; the last one provided the credential.
    pub steps: Vec<Step>,
}

impl Resolution {
    /// The step that provided the credential.
    pub fn source(&self) -> &Step {
        self.steps.last().expect("a resolution always has a step")
    }

    /// `docker auths (/home/u/.docker/config.json) key `ghcr.io``, for messages.
    pub fn describe_source(&self) -> String {
        let step = self.source();
        match &step.outcome {
            Outcome::Found { key, .. } => {
                format!("{} ({}) under `{key}`", step.source, step.location)
            }
            _ => step.source.to_string(),
        }
    }
}

/// A configured source that failed; the chain stopped there.
#[derive(Debug, Error)]
#[error("cannot get credentials for {registry} from {source_kind} ({location})")]
pub struct ChainError {
    /// The registry.
    pub registry: RegistryName,
    /// The source that failed.
    pub source_kind: SourceKind,
    /// Its file or program.
    pub location: String,
    /// The sources consulted, the failing one last.
    pub steps: Vec<Step>,
    /// Why it failed.
    #[source]
    pub cause: SourceError,
}

/// Why a source failed.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The `wasm` config helper failed.
    #[error(transparent)]
    Helper(#[from] HelperError),
    /// A Docker or Podman file is unusable.
    #[error(transparent)]
    File(#[from] AuthFileError),
    /// A Docker credential helper failed.
    #[error(transparent)]
    Store(#[from] StoreHelperError),
}

/// Where the container credential stores live.
#[derive(Clone, Debug, Default)]
pub struct StoreLocations {
    /// Docker's `config.json`.
    pub docker_config: Option<PathBuf>,
    /// Podman's auth files, in the order consulted.
    pub podman_files: Vec<PathBuf>,
}

impl StoreLocations {
    /// The locations from the environment: `DOCKER_CONFIG` (else `~/.docker`),
    /// `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `XDG_CONFIG_HOME` (else `~/.config`).
    pub fn from_env() -> Self {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self::from_vars(
            var("HOME"),
            var("DOCKER_CONFIG"),
            var("REGISTRY_AUTH_FILE"),
            var("XDG_RUNTIME_DIR"),
            var("XDG_CONFIG_HOME"),
        )
    }

    /// The pure part of [`StoreLocations::from_env`].
    pub fn from_vars(
        home: Option<PathBuf>,
        docker_config: Option<PathBuf>,
        registry_auth_file: Option<PathBuf>,
        xdg_runtime_dir: Option<PathBuf>,
        xdg_config_home: Option<PathBuf>,
    ) -> Self {
        let docker_config = docker_config
            .or_else(|| home.as_ref().map(|h| h.join(".docker")))
            .map(|d| d.join("config.json"));
        let mut podman_files = Vec::new();
        podman_files.extend(registry_auth_file);
        podman_files.extend(xdg_runtime_dir.map(|d| d.join("containers/auth.json")));
        podman_files.extend(
            xdg_config_home
                .or_else(|| home.map(|h| h.join(".config")))
                .map(|d| d.join("containers/auth.json")),
        );
        podman_files.dedup();
        Self {
            docker_config,
            podman_files,
        }
    }
}

/// Resolves credentials for registries; caches per registry for the life of the process.
pub struct CredentialChain {
    config: Arc<Config>,
    locations: StoreLocations,
    timeout: Duration,
    exec: bool,
    files: Mutex<HashMap<PathBuf, Loaded>>,
    /// By registry (for answers that hold for the whole registry) or by registry and
    /// repository (Podman's namespaced keys, and anonymous access, which may depend on them).
    resolved: Mutex<HashMap<(RegistryName, Option<String>), Resolution>>,
}

/// A parsed auth file (`None`: no file), or why it cannot be used; read once per path.
type Loaded = Arc<Result<Option<AuthFile>, AuthFileError>>;

/// The sources of the chain, in the order they are consulted.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// `credential-helper` in `wasm`'s config.
    ConfigHelper,
    /// Docker's `config.json`: `credHelpers`, `auths`, `credsStore`.
    Docker,
    /// Podman's auth files, in their order.
    Podman,
}

/// The order of [`CredentialChain::resolve`].
const SOURCES: [Source; 3] = [Source::ConfigHelper, Source::Docker, Source::Podman];

/// Why a lookup stopped before the end of the chain.
enum Stop {
    /// A helper would have run, but running helpers is off.
    NotRun,
    /// A configured source failed.
    Failed(SourceKind, String, SourceError),
}

impl From<(SourceKind, String, SourceError)> for Stop {
    fn from((kind, location, error): (SourceKind, String, SourceError)) -> Self {
        Stop::Failed(kind, location, error)
    }
}

impl CredentialChain {
    /// A chain over `config` and the stores at `locations`.
    pub fn new(config: Arc<Config>, locations: StoreLocations) -> Self {
        let timeout = config.helper_timeout;
        Self {
            config,
            locations,
            timeout,
            exec: true,
            files: Mutex::default(),
            resolved: Mutex::default(),
        }
    }

    /// A chain that runs no helper: where one would run, the resolution ends with a
    /// [`Outcome::NotRun`] step and anonymous credentials. For `self config --no-exec`.
    pub fn without_exec(mut self) -> Self {
        self.exec = false;
        self
    }

    /// The configuration this chain reads.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store locations this chain reads.
    pub fn locations(&self) -> &StoreLocations {
        &self.locations
    }

    /// The credentials for `registry`, for `repository` when known (Podman keys may be
    /// namespaced). The sources, in order; the first that has credentials wins, one that is not
    /// set up or has no entry moves on, one that is broken stops the chain:
    /// 1. the registry's `credential-helper` in `wasm`'s config;
    /// 2. Docker's `config.json`: `credHelpers`, then `auths`, then `credsStore`;
    /// 3. Podman's auth files;
    /// 4. anonymous access.
    pub fn resolve(
        &self,
        registry: &RegistryName,
        repository: Option<&str>,
    ) -> Result<Resolution, ChainError> {
        // Helpers and stores answer per registry: their results are cached per registry, so
        // each runs at most once per process. Podman keys may depend on the repository.
        let whole = (registry.clone(), None);
        let under = (registry.clone(), repository.map(str::to_owned));
        {
            let cache = self.resolved.lock().expect("poisoned");
            if let Some(hit) = cache.get(&whole).or_else(|| cache.get(&under)) {
                return Ok(hit.clone());
            }
        }
        let resolution = self.resolve_uncached(registry, repository)?;
        let per_registry = !matches!(
            resolution.source().source,
            SourceKind::Podman | SourceKind::Anonymous
        );
        self.resolved
            .lock()
            .expect("poisoned")
            .insert(if per_registry { whole } else { under }, resolution.clone());
        Ok(resolution)
    }

    fn resolve_uncached(
        &self,
        registry: &RegistryName,
        repository: Option<&str>,
    ) -> Result<Resolution, ChainError> {
        let mut steps = Vec::new();
        let mut found = Ok(None);
        for source in SOURCES {
            found = match source {
                Source::ConfigHelper => self.config_helper(registry, &mut steps),
                Source::Docker => self.docker(registry, &mut steps),
                Source::Podman => self.podman(registry, repository, &mut steps),
            };
            if !matches!(found, Ok(None)) {
                break;
            }
        }
        let credential = match found {
            Ok(Some(c)) => c,
            Ok(None) => {
                steps.push(Step {
                    source: SourceKind::Anonymous,
                    location: String::new(),
                    outcome: Outcome::Used,
                });
                Credential::Anonymous
            }
            Err(Stop::NotRun) => Credential::Anonymous,
            Err(Stop::Failed(source_kind, location, cause)) => {
                steps.push(Step {
                    source: source_kind,
                    location: location.clone(),
                    outcome: Outcome::Failed {
                        error: error_chain(&cause),
                    },
                });
                return Err(ChainError {
                    registry: registry.clone(),
                    source_kind,
                    location,
                    steps,
                    cause,
                });
            }
        };
        for step in &steps {
            tracing::debug!(registry = %registry, "credential chain: {step}");
        }
        Ok(Resolution {
            registry: registry.clone(),
            credential,
            steps,
        })
    }

    fn config_helper(
        &self,
        registry: &RegistryName,
        steps: &mut Vec<Step>,
    ) -> Result<Option<Credential>, Stop> {
        let source = SourceKind::ConfigHelper;
        let Some(entry) = self.config.registry(registry) else {
            let files: Vec<_> = self
                .config
                .files
                .iter()
                .filter(|f| f.present)
                .map(|f| f.path.display().to_string())
                .collect();
            steps.push(Step {
                source,
                location: files.join(", "),
                outcome: if files.is_empty() {
                    Outcome::NotConfigured {
                        reason: "no config file".into(),
                    }
                } else {
                    Outcome::NoEntry {
                        tried: vec![format!("[registries.\"{registry}\"]")],
                        note: None,
                    }
                },
            });
            return Ok(None);
        };
        let location = entry.defined_in.display().to_string();
        let Some(helper) = &entry.credential_helper else {
            let ignored = self
                .config
                .ignored(registry)
                .find(|(_, setting)| matches!(setting.risk, Risk::CredentialHelper(_)));
            let note = match ignored {
                Some((file, _)) => format!("its credential-helper is ignored: {}", file.trust),
                None => "the registry has settings but no credential-helper".into(),
            };
            steps.push(Step {
                source,
                location,
                outcome: Outcome::NoEntry {
                    tried: vec![format!("registries.\"{registry}\".credential-helper")],
                    note: Some(note),
                },
            });
            return Ok(None);
        };
        let key = match helper {
            CredentialHelper::Json { .. } => {
                format!("registries.\"{registry}\".credential-helper")
            }
            CredentialHelper::Split { .. } => {
                format!("registries.\"{registry}\".credential-helper.username/.password")
            }
        };
        if !self.exec {
            let command = match helper {
                CredentialHelper::Json { command } => command.clone(),
                CredentialHelper::Split { username, password } => {
                    format!("{username}` and `{password}")
                }
            };
            steps.push(Step {
                source,
                location,
                outcome: Outcome::NotRun { command },
            });
            return Err(Stop::NotRun);
        }
        if let Err(e) = check_helper_file(helper, &entry.defined_in) {
            return Err(Stop::Failed(source, location, e.into()));
        }
        match run_credential_helper(helper, self.timeout) {
            Ok(up) => {
                steps.push(Step {
                    source,
                    location,
                    outcome: Outcome::Found {
                        key,
                        kind: "username/password".into(),
                        username: Some(up.username.clone()),
                    },
                });
                Ok(Some(Credential::Basic {
                    username: up.username,
                    password: up.password,
                }))
            }
            Err(e) => Err(Stop::Failed(source, location, e.into())),
        }
    }

    fn load(&self, path: &Path) -> Loaded {
        // Each file is read once per process: every registry sees the same content, even when
        // another tool rewrites the file meanwhile.
        let mut files = self.files.lock().expect("poisoned");
        files
            .entry(path.to_path_buf())
            .or_insert_with(|| Arc::new(AuthFile::load(path)))
            .clone()
    }

    fn load_checked(&self, path: &Path, source: SourceKind) -> Result<Option<Loaded>, Stop> {
        let loaded = self.load(path);
        match loaded.as_ref() {
            Ok(None) => Ok(None),
            Ok(Some(_)) => Ok(Some(loaded)),
            Err(err) => Err(Stop::Failed(
                source,
                path.display().to_string(),
                err.clone().into(),
            )),
        }
    }

    fn docker(
        &self,
        registry: &RegistryName,
        steps: &mut Vec<Step>,
    ) -> Result<Option<Credential>, Stop> {
        let Some(path) = &self.locations.docker_config else {
            steps.push(Step {
                source: SourceKind::DockerAuths,
                location: String::new(),
                outcome: Outcome::NotConfigured {
                    reason: "neither DOCKER_CONFIG nor HOME is set".into(),
                },
            });
            return Ok(None);
        };
        let location = path.display().to_string();
        let Some(loaded) = self.load_checked(path, SourceKind::DockerAuths)? else {
            steps.push(Step {
                source: SourceKind::DockerAuths,
                location,
                outcome: Outcome::NotConfigured {
                    reason: "no file".into(),
                },
            });
            return Ok(None);
        };
        let file = loaded
            .as_ref()
            .as_ref()
            .expect("checked")
            .as_ref()
            .expect("checked");
        self.lookup_file(file, path, registry, None, false, steps)
    }

    fn podman(
        &self,
        registry: &RegistryName,
        repository: Option<&str>,
        steps: &mut Vec<Step>,
    ) -> Result<Option<Credential>, Stop> {
        let mut any = false;
        for path in &self.locations.podman_files {
            let Some(loaded) = self.load_checked(path, SourceKind::Podman)? else {
                continue;
            };
            any = true;
            let file = loaded
                .as_ref()
                .as_ref()
                .expect("checked")
                .as_ref()
                .expect("checked");
            if let Some(c) = self.lookup_file(file, path, registry, repository, true, steps)? {
                return Ok(Some(c));
            }
        }
        if !any {
            let list: Vec<_> = self
                .locations
                .podman_files
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            steps.push(Step {
                source: SourceKind::Podman,
                location: list.join(", "),
                outcome: Outcome::NotConfigured {
                    reason: "no file".into(),
                },
            });
        }
        Ok(None)
    }

    /// `credHelpers`, `auths`, `credsStore` of one file.
    fn lookup_file(
        &self,
        file: &AuthFile,
        path: &Path,
        registry: &RegistryName,
        repository: Option<&str>,
        namespaces: bool,
        steps: &mut Vec<Step>,
    ) -> Result<Option<Credential>, Stop> {
        let is_podman = namespaces;
        let file_name = path.display().to_string();
        let kind = |docker| {
            if is_podman {
                SourceKind::Podman
            } else {
                docker
            }
        };
        let tried = registry.credential_keys();

        // 1. credHelpers
        if let Some((m, name)) = find_key(&file.cred_helpers, registry, repository, namespaces) {
            let site = HelperSite {
                name: name.clone(),
                key: format!("credHelpers.\"{}\"", m),
                file: file_name.clone(),
            };
            let source = kind(SourceKind::DockerCredHelpers);
            let location = format!("{file_name}: {} -> {}", site.key, site.program());
            let note = "run `wasm login` (or `docker login`) again";
            return self.consult_helper(source, location, &site, registry, Some(note), steps);
        }

        // 2. auths
        let auths_source = kind(SourceKind::DockerAuths);
        let mut defer_to_store = false;
        match find_key(&file.auths, registry, repository, namespaces) {
            Some((m, entry)) => match entry.decode(path, m) {
                Ok(EntryCredential::Basic { username, password }) => {
                    let c = Credential::Basic { username, password };
                    steps.push(found(auths_source, file_name.clone(), m.to_string(), &c));
                    return Ok(Some(c));
                }
                Ok(EntryCredential::IdentityToken { username, token }) => {
                    let c = Credential::IdentityToken { username, token };
                    steps.push(found(auths_source, file_name.clone(), m.to_string(), &c));
                    return Ok(Some(c));
                }
                Ok(EntryCredential::Empty) => {
                    defer_to_store = true;
                    steps.push(Step {
                        source: auths_source,
                        location: file_name.clone(),
                        outcome: Outcome::NoEntry {
                            tried: vec![m.to_string()],
                            note: Some(if file.creds_store.is_some() {
                                "the entry is empty: its credentials are in credsStore".into()
                            } else {
                                "the entry is empty and there is no credsStore".into()
                            }),
                        },
                    });
                }
                Err(e) => return Err(Stop::Failed(auths_source, file_name, e.into())),
            },
            None => steps.push(Step {
                source: auths_source,
                location: file_name.clone(),
                outcome: Outcome::NoEntry {
                    tried: tried.clone(),
                    note: None,
                },
            }),
        }

        // 3. credsStore
        if let Some(name) = &file.creds_store {
            let site = HelperSite {
                name: name.clone(),
                key: "credsStore".into(),
                file: file_name.clone(),
            };
            let source = kind(SourceKind::DockerCredsStore);
            let location = format!("{file_name}: credsStore -> {}", site.program());
            let note = defer_to_store
                .then_some("auths has an empty entry but the store has none; log in again");
            return self.consult_helper(source, location, &site, registry, note, steps);
        }
        Ok(None)
    }

    /// Asks a Docker credential helper (`credHelpers` or `credsStore`) and records the step;
    /// `note` is added when it has no entry.
    fn consult_helper(
        &self,
        source: SourceKind,
        location: String,
        site: &HelperSite,
        registry: &RegistryName,
        note: Option<&str>,
        steps: &mut Vec<Step>,
    ) -> Result<Option<Credential>, Stop> {
        if !self.exec {
            return self.not_run(source, location, site, registry, steps);
        }
        match self.ask_helper(site, registry) {
            Ok(Some((key, c))) => {
                steps.push(found(source, location, key, &c));
                Ok(Some(c))
            }
            Ok(None) => {
                steps.push(Step {
                    source,
                    location,
                    outcome: Outcome::NoEntry {
                        tried: registry.helper_servers(),
                        note: note.map(str::to_string),
                    },
                });
                Ok(None)
            }
            Err(e) => Err(Stop::Failed(source, location, e.into())),
        }
    }

    fn not_run(
        &self,
        source: SourceKind,
        location: String,
        site: &HelperSite,
        registry: &RegistryName,
        steps: &mut Vec<Step>,
    ) -> Result<Option<Credential>, Stop> {
        let server = registry.helper_servers().remove(0);
        steps.push(Step {
            source,
            location,
            outcome: Outcome::NotRun {
                command: format!("echo {server} | {} get", site.program()),
            },
        });
        Err(Stop::NotRun)
    }

    /// Asks a credential helper, trying the usual spellings of the registry; on a miss, asks
    /// `list` for a key in another spelling. Returns the key that matched.
    fn ask_helper(
        &self,
        site: &HelperSite,
        registry: &RegistryName,
    ) -> Result<Option<(String, Credential)>, StoreHelperError> {
        let spellings = registry.helper_servers();
        for server in &spellings {
            if let Some(c) = site.get(server, self.timeout)? {
                return Ok(Some((server.clone(), helper_credential(c))));
            }
        }
        // Another spelling, e.g. `https://host/v2/` stored by some other tool: `list` finds it.
        // A helper whose `list` fails is not broken for `get`; treat it as no entry.
        let listed = match site.list(self.timeout) {
            Ok(listed) => listed,
            Err(e) => {
                tracing::debug!("`{} list` failed: {e}", site.program());
                return Ok(None);
            }
        };
        if let Some((key, _)) = find_key(&listed, registry, None, false) {
            if spellings.iter().any(|s| s == key) {
                return Ok(None);
            }
            if let Some(c) = site.get(key, self.timeout)? {
                return Ok(Some((key.to_string(), helper_credential(c))));
            }
        }
        Ok(None)
    }

    /// Every registry that any source knows about, for `self config`: from `wasm`'s config,
    /// Docker's `auths` and `credHelpers`, the Podman files (as `HOST/NAMESPACE` where a key
    /// names one), and (with `exec`) `credsStore list`.
    /// File errors are returned beside the list, not instead of it.
    pub fn known_registries(&self, exec: bool) -> (BTreeSet<String>, Vec<(String, String)>) {
        let mut out: BTreeSet<String> = self
            .config
            .registries()
            .map(|(k, _)| k.to_string())
            .collect();
        let mut errors = Vec::new();
        let mut files: Vec<&PathBuf> = self.locations.docker_config.iter().collect();
        files.extend(self.locations.podman_files.iter());
        for path in files {
            let loaded = self.load(path);
            let is_podman = self.locations.docker_config.as_ref() != Some(path);
            match loaded.as_ref() {
                Ok(Some(file)) => {
                    let keys = file.auths.keys().chain(file.cred_helpers.keys());
                    // Podman keys may name a namespace (`quay.io/team`): list it as such.
                    out.extend(keys.filter_map(|k| {
                        let address = key_address(k)?;
                        Some(match address.path {
                            Some(path) if is_podman => format!("{}/{path}", address.name),
                            _ => address.name.to_string(),
                        })
                    }));
                    if exec && let Some(name) = &file.creds_store {
                        let site = HelperSite {
                            name: name.clone(),
                            key: "credsStore".into(),
                            file: path.display().to_string(),
                        };
                        match site.list(self.timeout) {
                            Ok(listed) => out.extend(
                                listed
                                    .keys()
                                    .filter_map(|k| key_address(k).map(|a| a.name.to_string())),
                            ),
                            Err(e) => errors.push((site.program(), e.to_string())),
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => errors.push((path.display().to_string(), e.to_string())),
            }
        }
        (out, errors)
    }
}

fn helper_credential(c: store_helper::HelperCredential) -> Credential {
    if c.username == TOKEN_USERNAME {
        Credential::IdentityToken {
            username: None,
            token: c.secret,
        }
    } else {
        Credential::Basic {
            username: c.username,
            password: c.secret,
        }
    }
}

fn found(source: SourceKind, location: String, key: String, c: &Credential) -> Step {
    Step {
        source,
        location,
        outcome: Outcome::Found {
            key,
            kind: c.kind().into(),
            username: c.username().map(str::to_string),
        },
    }
}

/// An error and its sources as one line: `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// What the Docker or Podman file at `path` configures, for `self config`.
pub fn docker_config_summary(path: &Path) -> Result<Option<AuthFileSummary>, AuthFileError> {
    Ok(AuthFile::load(path)?.map(|f| AuthFileSummary {
        creds_store: f.creds_store,
        cred_helpers: f.cred_helpers,
        auths: f.auths.into_keys().collect(),
    }))
}

/// Parses a Docker `config.json` / Podman `auth.json` and looks `registry` up the way the chain
/// does (without running helpers): the `auths` key that serves it, decoded, or the
/// `credHelpers` key naming its helper. For diagnosis and fuzzing.
#[cfg_attr(not(feature = "fuzzing"), allow(dead_code, unreachable_pub))]
pub fn lookup_in_auth_file(
    bytes: &[u8],
    registry: &RegistryName,
    repository: Option<&str>,
) -> Result<Option<String>, AuthFileError> {
    let path = Path::new("auth.json");
    let file = AuthFile::parse(bytes, path)?;
    if let Some((key, _)) = find_key(&file.cred_helpers, registry, repository, true) {
        return Ok(Some(key.to_string()));
    }
    match find_key(&file.auths, registry, repository, true) {
        Some((key, entry)) => entry.decode(path, key).map(|_| Some(key.to_string())),
        None => Ok(None),
    }
}

/// What an auth file configures, without its secrets.
#[derive(Debug, Clone)]
pub struct AuthFileSummary {
    /// `credsStore`.
    pub creds_store: Option<String>,
    /// `credHelpers`: registry key -> helper name.
    pub cred_helpers: BTreeMap<String, String>,
    /// The keys of `auths`.
    pub auths: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(name: &str) -> RegistryName {
        RegistryName::parse(name).unwrap()
    }
    use std::io::Write as _;

    fn chain_with(docker: Option<&str>, podman: &[&str]) -> (tempfile::TempDir, CredentialChain) {
        let dir = tempfile::tempdir().unwrap();
        let docker_config = docker.map(|json| {
            let p = dir.path().join("config.json");
            std::fs::File::create(&p)
                .unwrap()
                .write_all(json.as_bytes())
                .unwrap();
            p
        });
        let podman_files = podman
            .iter()
            .enumerate()
            .map(|(i, json)| {
                let p = dir.path().join(format!("auth{i}.json"));
                std::fs::write(&p, json).unwrap();
                p
            })
            .collect();
        let chain = CredentialChain::new(
            Arc::new(Config::empty()),
            StoreLocations {
                docker_config,
                podman_files,
            },
        );
        (dir, chain)
    }

    #[test]
    fn anonymous_when_nothing_is_configured() {
        let (_d, chain) = chain_with(None, &[]);
        let r = chain.resolve(&n("ghcr.io"), Some("org/app")).unwrap();
        assert_eq!(r.credential, Credential::Anonymous);
        assert_eq!(r.source().source, SourceKind::Anonymous);
    }

    #[test]
    fn auths_in_any_spelling() {
        for key in [
            "ghcr.io",
            "https://ghcr.io",
            "http://ghcr.io",
            "https://ghcr.io/v1/",
            "https://ghcr.io/v2/",
        ] {
            let json = format!(r#"{{"auths":{{"{key}":{{"auth":"YWxpY2U6cHc="}}}}}}"#);
            let (_d, chain) = chain_with(Some(&json), &[]);
            let r = chain.resolve(&n("ghcr.io"), None).unwrap();
            assert_eq!(r.credential.username(), Some("alice"), "{key}");
            assert!(matches!(&r.source().outcome, Outcome::Found { key: k, .. } if k == key));
        }
    }

    #[test]
    fn podman_namespaces_and_order() {
        let (_d, chain) = chain_with(
            Some(r#"{"auths":{}}"#),
            &[
                r#"{"auths":{"quay.io/org":{"auth":"b3JnOnB3"}}}"#,
                r#"{"auths":{"quay.io":{"auth":"aG9zdDpwdw=="}}}"#,
            ],
        );
        let r = chain.resolve(&n("quay.io"), Some("org/app")).unwrap();
        assert_eq!(r.credential.username(), Some("org"));
        let r = chain.resolve(&n("quay.io"), Some("other/app")).unwrap();
        assert_eq!(r.credential.username(), Some("host"));
        assert_eq!(r.source().source, SourceKind::Podman);
    }

    #[test]
    fn broken_docker_config_stops_the_chain() {
        let (_d, chain) = chain_with(Some("{\"auths\": {"), &[]);
        let err = chain.resolve(&n("ghcr.io"), None).unwrap_err();
        assert_eq!(err.source_kind, SourceKind::DockerAuths);
        let text = error_chain(&err);
        assert!(
            text.contains("is not valid: EOF while parsing an object at line 1 column 11"),
            "{text}"
        );
    }

    #[test]
    fn missing_store_helper_is_an_error_not_anonymous() {
        let (_d, chain) = chain_with(Some(r#"{"credsStore":"nonexistent-xyz"}"#), &[]);
        let err = chain.resolve(&n("ghcr.io"), None).unwrap_err();
        assert_eq!(err.source_kind, SourceKind::DockerCredsStore);
        assert!(
            error_chain(&err).contains(
                "credential helper `docker-credential-nonexistent-xyz` is not installed or not on PATH"
            ),
            "{}",
            error_chain(&err)
        );
    }

    /// Each file is read once per process: a file that another tool rewrites after the first
    /// read does not change (or crash) what later lookups see.
    #[test]
    fn a_file_is_read_once() {
        let (dir, chain) = chain_with(Some("{\"auths\": {"), &[]);
        let err = chain.resolve(&n("ghcr.io"), None).unwrap_err();
        assert_eq!(err.source_kind, SourceKind::DockerAuths);
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"quay.io":{"auth":"YWxpY2U6cHc="}}}"#,
        )
        .unwrap();
        let err = chain.resolve(&n("quay.io"), None).unwrap_err();
        assert_eq!(err.source_kind, SourceKind::DockerAuths);
    }

    #[test]
    fn identity_tokens_are_their_own_kind() {
        let (_d, chain) = chain_with(
            Some(r#"{"auths":{"x.azurecr.io":{"identitytoken":"rt","auth":"PHRva2VuPjo="}}}"#),
            &[],
        );
        let r = chain.resolve(&n("x.azurecr.io"), None).unwrap();
        assert!(matches!(
            r.credential,
            Credential::IdentityToken { username: None, .. }
        ));
    }

    #[test]
    fn locations_from_vars() {
        let l = StoreLocations::from_vars(
            Some("/h".into()),
            None,
            Some("/a.json".into()),
            Some("/run/u".into()),
            None,
        );
        assert_eq!(
            l.docker_config,
            Some(PathBuf::from("/h/.docker/config.json"))
        );
        assert_eq!(
            l.podman_files,
            vec![
                PathBuf::from("/a.json"),
                PathBuf::from("/run/u/containers/auth.json"),
                PathBuf::from("/h/.config/containers/auth.json")
            ]
        );
    }
}
