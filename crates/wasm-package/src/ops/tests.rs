//! The operations against [`FakeRegistry`], an in-memory stand-in for registries that counts
//! every request: resolution, lock drift, moved tags, `--locked`, `--offline`, and the second
//! install that makes no request. The end-to-end tests (`tests/packages.rs`) repeat the
//! important cases against real registries.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `sha256:HEX` of `bytes`.
fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

use wasm_registry::{ManifestSummary, Reference, RegistryError, Repository, WellKnown};

use super::*;
use crate::registry::{Fetched, PackageRegistry};

/// A manifest's layer bytes and annotations.
type Stored = (Vec<u8>, BTreeMap<String, String>);

/// A fake registry (named as one: it implements no protocol, only the trait's contract).
#[derive(Default)]
struct FakeRegistry {
    /// `REGISTRY/REPOSITORY` -> tag -> manifest digest.
    tags: RefCell<BTreeMap<String, BTreeMap<String, String>>>,
    /// Manifest digest -> (layer bytes, annotations).
    manifests: RefCell<BTreeMap<String, Stored>>,
    /// Manifest digests fetched before: the "local cache".
    cache: RefCell<BTreeSet<String>>,
    /// Discovery documents by domain.
    documents: RefCell<BTreeMap<String, String>>,
    /// Every request, as `OPERATION target`.
    requests: RefCell<Vec<String>>,
    pushes: RefCell<usize>,
}

impl FakeRegistry {
    /// Publishes `bytes` as `repo:tag`; returns the manifest digest.
    fn publish(&self, repo: &str, tag: &str, bytes: &[u8]) -> String {
        let n = {
            let mut pushes = self.pushes.borrow_mut();
            *pushes += 1;
            *pushes
        };
        let digest = sha256_digest(format!("manifest {repo} {tag} {n}").as_bytes());
        self.manifests
            .borrow_mut()
            .insert(digest.clone(), (bytes.to_vec(), BTreeMap::new()));
        self.tags
            .borrow_mut()
            .entry(repo.to_owned())
            .or_default()
            .insert(tag.to_owned(), digest.clone());
        digest
    }

    fn requests(&self) -> usize {
        self.requests.borrow().len()
    }

    fn log(&self, what: String) {
        self.requests.borrow_mut().push(what);
    }

    fn not_found(reference: &str) -> RegistryError {
        RegistryError::NotFound {
            registry: "fake".into(),
            reference: reference.into(),
            what: "no such tag".into(),
            detail: String::new(),
        }
    }

    fn summary(&self, digest: &str) -> ManifestSummary {
        let (bytes, annotations) = self.manifests.borrow()[digest].clone();
        ManifestSummary {
            digest: digest.to_owned(),
            layer_digest: sha256_digest(&bytes),
            size: bytes.len() as u64,
            annotations,
        }
    }
}

impl PackageRegistry for FakeRegistry {
    async fn tags(&self, repository: &Repository) -> Result<Vec<String>, RegistryError> {
        self.log(format!("tags {repository}"));
        let tags = self.tags.borrow();
        let tags = tags
            .get(&repository.to_string())
            .ok_or_else(|| Self::not_found(&repository.to_string()))?;
        Ok(tags.keys().cloned().collect())
    }

    async fn manifest(&self, reference: &Reference) -> Result<ManifestSummary, RegistryError> {
        self.log(format!("manifest {reference}"));
        let repo = reference.to_repository().to_string();
        let digest = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_owned(),
            (None, Some(tag)) => self
                .tags
                .borrow()
                .get(&repo)
                .and_then(|t| t.get(tag))
                .cloned()
                .ok_or_else(|| Self::not_found(&reference.to_string()))?,
            (None, None) => unreachable!(),
        };
        Ok(self.summary(&digest))
    }

    async fn fetch_all(
        &self,
        items: &[(Reference, PathBuf)],
        offline: bool,
    ) -> Vec<Result<Fetched, RegistryError>> {
        items
            .iter()
            .map(|(reference, path)| {
                let digest = reference.digest().expect("fetched by digest").to_owned();
                if offline {
                    if !self.cache.borrow().contains(&digest) {
                        return Err(RegistryError::Offline {
                            reference: reference.to_string(),
                            what: format!("its manifest {digest} is not in the cache"),
                        });
                    }
                } else {
                    self.log(format!("fetch {reference}"));
                }
                let (bytes, _) = self.manifests.borrow()[&digest].clone();
                std::fs::write(path, &bytes).unwrap();
                self.cache.borrow_mut().insert(digest.clone());
                Ok(Fetched {
                    manifest_digest: digest,
                    layer_digest: sha256_digest(&bytes),
                    size: bytes.len() as u64,
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
        self.log(format!("push {reference}"));
        let bytes = std::fs::read(file).unwrap();
        let digest = self.publish(
            &reference.to_repository().to_string(),
            reference.tag().unwrap(),
            &bytes,
        );
        self.manifests.borrow_mut().get_mut(&digest).unwrap().1 = annotations.clone();
        Ok(digest)
    }

    async fn discovery(&self, domain: &str) -> Result<WellKnown, RegistryError> {
        self.log(format!("discovery {domain}"));
        let url = format!("https://{domain}/.well-known/wasm-pkg/registry.json");
        Ok(match self.documents.borrow().get(domain) {
            Some(body) => WellKnown {
                url,
                status: 200,
                body: body.clone().into_bytes(),
                max_age: None,
            },
            None => WellKnown {
                url,
                status: 404,
                body: Vec::new(),
                max_age: None,
            },
        })
    }
}

/// A valid component: the fake does not validate, but `publish` does.
fn component(seed: u8) -> Vec<u8> {
    // The smallest component (preamble only), with a custom section to vary the digest.
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    bytes.extend_from_slice(&[0, 3, 1, b'x', seed]);
    bytes
}

/// A project directory with a manifest, a mapper and a fake registry.
struct Fixture {
    dir: tempfile::TempDir,
    registry: FakeRegistry,
    mapper: Mapper,
}

const REG: &str = "registry.test";

impl Fixture {
    fn new(manifest: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wasm.toml"), manifest).unwrap();
        let mapper = Mapper::new(
            &wasm_config::Config::empty(),
            None,
            Some(dir.path().join("cache")),
        )
        .unwrap();
        Fixture {
            dir,
            registry: FakeRegistry::default(),
            mapper,
        }
    }

    fn project(&self) -> Project {
        Project::find(self.dir.path()).unwrap()
    }

    fn cx(&self) -> Context<'_, FakeRegistry> {
        Context {
            registry: &self.registry,
            mapper: &self.mapper,
        }
    }

    fn install(&self, options: InstallOptions) -> Result<InstallReport, PackageError> {
        let project = self.project();
        block_on(install(&self.cx(), &project, None, &options))
    }

    fn lock_text(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("wasm.lock")).ok()
    }

    fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

const MANIFEST: &str = "[dependencies]\n\"acme:a\" = \"1\"\n\"acme:b\" = \"0.2\"\n\n[namespaces]\nacme = \"registry.test/pkgs\"\n";

fn published() -> Fixture {
    let f = Fixture::new(MANIFEST);
    let a = format!("{REG}/pkgs/acme/a");
    let b = format!("{REG}/pkgs/acme/b");
    for (tag, seed) in [
        ("1.0.0", 1),
        ("1.4.0", 2),
        ("2.0.0", 3),
        ("1.5.0-rc.1", 4),
        ("latest", 3),
    ] {
        f.registry.publish(&a, tag, &component(seed));
    }
    f.registry.publish(&b, "0.2.1", &component(10));
    f.registry.publish(&b, "0.3.0", &component(11));
    f
}

#[test]
fn install_resolves_the_newest_allowed_versions_and_locks_them() {
    let f = published();
    let report = f.install(InstallOptions::default()).unwrap();
    assert!(report.network && report.lock_written);
    let versions: Vec<(&str, &str, Action)> = report
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.action))
        .collect();
    assert_eq!(
        versions,
        [
            ("acme:a", "1.4.0", Action::Installed),
            ("acme:b", "0.2.1", Action::Installed)
        ]
    );
    assert_eq!(
        std::fs::read(f.file("vendor/wasm/acme/a.wasm")).unwrap(),
        component(2)
    );
    assert_eq!(
        std::fs::read(f.file("vendor/wasm/acme/b.wasm")).unwrap(),
        component(10)
    );
    let lock = Lock::parse(&f.lock_text().unwrap(), Path::new("wasm.lock")).unwrap();
    let a = &lock.packages[&PackageName::parse("acme:a").unwrap()];
    assert_eq!(a.repository.to_string(), "registry.test/pkgs/acme/a");
    assert_eq!(a.requirement, "1");
    assert_eq!(a.layer_digest, sha256_digest(&component(2)));
}

#[test]
fn a_second_install_makes_no_request() {
    let f = published();
    f.install(InstallOptions::default()).unwrap();
    let lock = f.lock_text();
    let before = f.registry.requests();
    let report = f.install(InstallOptions::default()).unwrap();
    assert_eq!(f.registry.requests(), before, "no request at all");
    assert!(!report.network && !report.lock_written);
    assert!(report.packages.iter().all(|p| p.action == Action::UpToDate));
    assert_eq!(f.lock_text(), lock);
    // --locked and --offline agree.
    let options = InstallOptions {
        locked: true,
        offline: true,
        ..InstallOptions::default()
    };
    f.install(options).unwrap();
    assert_eq!(f.registry.requests(), before);
}

#[test]
fn a_missing_or_changed_file_is_fetched_by_its_locked_digest_after_a_tag_check() {
    let f = published();
    f.install(InstallOptions::default()).unwrap();
    std::fs::remove_file(f.file("vendor/wasm/acme/a.wasm")).unwrap();
    std::fs::write(f.file("vendor/wasm/acme/b.wasm"), b"tampered").unwrap();
    // A newer 1.x appears: the lock still says 1.4.0.
    f.registry
        .publish(&format!("{REG}/pkgs/acme/a"), "1.9.0", &component(9));
    let before = f.registry.requests.borrow().len();
    let report = f.install(InstallOptions::default()).unwrap();
    let requests: Vec<String> = f.registry.requests.borrow()[before..].to_vec();
    assert!(
        requests.iter().all(|r| !r.starts_with("tags")),
        "{requests:?}"
    );
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.starts_with("manifest"))
            .count(),
        2,
        "one tag check per fetched package: {requests:?}"
    );
    assert_eq!(
        std::fs::read(f.file("vendor/wasm/acme/a.wasm")).unwrap(),
        component(2)
    );
    assert_eq!(
        std::fs::read(f.file("vendor/wasm/acme/b.wasm")).unwrap(),
        component(10)
    );
    assert!(!report.lock_written);
}

#[test]
fn a_moved_tag_is_refused_with_both_digests_and_nothing_is_written() {
    let f = published();
    f.install(InstallOptions::default()).unwrap();
    let lock = f.lock_text().unwrap();
    let locked = Lock::parse(&lock, Path::new("wasm.lock")).unwrap().packages
        [&PackageName::parse("acme:a").unwrap()]
        .manifest_digest
        .clone();
    std::fs::remove_file(f.file("vendor/wasm/acme/a.wasm")).unwrap();
    std::fs::remove_file(f.file("vendor/wasm/acme/b.wasm")).unwrap();
    let now = f
        .registry
        .publish(&format!("{REG}/pkgs/acme/a"), "1.4.0", &component(99));
    let err = f.install(InstallOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "a tag in wasm.lock now points at other content:\n  - acme:a \
             (registry.test/pkgs/acme/a:1.4.0): locked {locked}, now {now}\na published version \
             that changes is a supply-chain event: nothing was written; if you trust the new \
             content, run `wasm update acme:a`"
        )
    );
    assert!(!f.file("vendor/wasm/acme/a.wasm").exists());
    assert!(
        !f.file("vendor/wasm/acme/b.wasm").exists(),
        "nothing written"
    );
    assert_eq!(f.lock_text().unwrap(), lock);

    // `update` is the way to move: it shows the old and new digests.
    let project = f.project();
    let options = InstallOptions {
        update: Update::Only(BTreeSet::from([PackageName::parse("acme:a").unwrap()])),
        ..InstallOptions::default()
    };
    let report = block_on(install(&f.cx(), &project, None, &options)).unwrap();
    assert_eq!(
        report.changes,
        [Change {
            name: "acme:a".into(),
            old: Some(("1.4.0".into(), locked)),
            new: Some(("1.4.0".into(), now)),
        }]
    );
    assert_eq!(
        std::fs::read(f.file("vendor/wasm/acme/a.wasm")).unwrap(),
        component(99)
    );
}

#[test]
fn locked_fails_when_the_lock_is_missing_or_would_change() {
    let f = published();
    let locked = InstallOptions {
        locked: true,
        ..InstallOptions::default()
    };
    assert_eq!(
        f.install(locked.clone()).unwrap_err().to_string(),
        "--locked: wasm.lock is missing:\n  - `acme:a` is not in wasm.lock\n  - `acme:b` is not \
         in wasm.lock\nrun `wasm install` without --locked and commit wasm.lock"
    );
    assert_eq!(f.registry.requests(), 0);
    f.install(InstallOptions::default()).unwrap();
    let lock = f.lock_text();
    std::fs::write(
        f.file("wasm.toml"),
        MANIFEST.replace("\"acme:b\" = \"0.2\"\n", "\"acme:b\" = \"0.3\"\n"),
    )
    .unwrap();
    let before = f.registry.requests();
    assert_eq!(
        f.install(locked.clone()).unwrap_err().to_string(),
        "--locked: wasm.lock would change:\n  - `acme:b`: the requirement changed from `0.2` to \
         `0.3`\nrun `wasm install` without --locked and commit wasm.lock"
    );
    std::fs::write(
        f.file("wasm.toml"),
        MANIFEST.replace("\"acme:b\" = \"0.2\"\n", ""),
    )
    .unwrap();
    assert_eq!(
        f.install(locked).unwrap_err().to_string(),
        "--locked: wasm.lock would change:\n  - `acme:b` is no longer a dependency\nrun `wasm \
         install` without --locked and commit wasm.lock"
    );
    assert_eq!(f.registry.requests(), before);
    assert_eq!(f.lock_text(), lock);
}

#[test]
fn drift_resolves_only_what_changed_and_removes_dropped_files() {
    let f = published();
    f.install(InstallOptions::default()).unwrap();
    std::fs::write(
        f.file("wasm.toml"),
        MANIFEST
            .replace("\"acme:b\" = \"0.2\"\n", "\"acme:b\" = \"0.3\"\n")
            .replace("\"acme:a\" = \"1\"\n", ""),
    )
    .unwrap();
    let report = f.install(InstallOptions::default()).unwrap();
    let changed: Vec<(&str, Option<&str>, Option<&str>)> = report
        .changes
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.old.as_ref().map(|o| o.0.as_str()),
                c.new.as_ref().map(|n| n.0.as_str()),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("acme:b", Some("0.2.1"), Some("0.3.0")),
            ("acme:a", Some("1.4.0"), None)
        ]
    );
    assert!(!f.file("vendor/wasm/acme/a.wasm").exists());
    assert_eq!(
        std::fs::read(f.file("vendor/wasm/acme/b.wasm")).unwrap(),
        component(11)
    );
    assert!(!f.lock_text().unwrap().contains("acme:a"));
}

#[test]
fn offline_installs_from_the_lock_and_cache_or_says_what_is_missing() {
    let f = published();
    let offline = InstallOptions {
        offline: true,
        ..InstallOptions::default()
    };
    assert_eq!(
        f.install(offline.clone()).unwrap_err().to_string(),
        "cannot resolve `acme:a` offline: `acme:a` is not in wasm.lock; run it once with network \
         access"
    );
    f.install(InstallOptions::default()).unwrap();
    std::fs::remove_file(f.file("vendor/wasm/acme/a.wasm")).unwrap();
    let before = f.registry.requests();
    let report = f.install(offline.clone()).unwrap();
    assert_eq!(f.registry.requests(), before, "no request offline");
    assert!(report.tags_unchecked);
    assert_eq!(
        std::fs::read(f.file("vendor/wasm/acme/a.wasm")).unwrap(),
        component(2)
    );

    f.registry.cache.borrow_mut().clear();
    std::fs::remove_file(f.file("vendor/wasm/acme/a.wasm")).unwrap();
    let err = f.install(offline).unwrap_err().to_string();
    assert!(
        err.starts_with("cannot install `acme:a` (registry.test/pkgs/acme/a@sha256:")
            && err.ends_with("is not in the cache; run it once with network access"),
        "{err}"
    );
}

#[test]
fn no_matching_version_lists_what_there_is() {
    let f = Fixture::new(
        "[dependencies]\n\"acme:a\" = \"3\"\n[namespaces]\nacme = \"registry.test\"\n",
    );
    f.registry
        .publish("registry.test/acme/a", "1.0.0", &component(1));
    f.registry
        .publish("registry.test/acme/a", "latest", &component(1));
    f.registry
        .publish("registry.test/acme/a", "3.0.0-rc.1", &component(1));
    assert_eq!(
        f.install(InstallOptions::default())
            .unwrap_err()
            .to_string(),
        "no version of `acme:a` in registry.test/acme/a matches `3` (versions: 1.0.0, \
         3.0.0-rc.1); change the requirement in wasm.toml"
    );
    assert!(f.lock_text().is_none());
}

#[test]
fn an_unknown_name_names_every_rule_and_the_fix() {
    let f = Fixture::new("[dependencies]\n\"nobody:x\" = \"1\"\n");
    let err = f
        .install(InstallOptions::default())
        .unwrap_err()
        .to_string();
    let manifest = f.file("wasm.toml").display().to_string();
    let expected = format!(
        "no registry known for `nobody:x`; tried:\n  - rule 1: the dependency has no `registry` \
         or `repository`\n  - rule 2: no `nobody` under [namespaces] in {manifest}\n  - rule 2: no \
         `nobody` under [namespaces] in the wasm config"
    );
    assert!(err.starts_with(&expected), "{err}");
    assert!(
        err.ends_with(&format!(
            "  - rule 3: no wkg config location (no home directory)\n  - rule 4: no domain to ask \
             for `nobody` (wkg's built-in domains cover only `wasi` and `ba`)\nto fix it, add \
             `nobody = \"REGISTRY/PREFIX\"` under [namespaces] in {manifest} (or in the wasm \
             config), or give the dependency its own `registry = \"REGISTRY/PREFIX\"`"
        )),
        "{err}"
    );
}

#[test]
fn discovery_is_asked_once_then_cached() {
    let f = Fixture::new("[dependencies]\n\"wasi:http\" = \"0.2\"\n");
    f.registry.documents.borrow_mut().insert(
        "wasi.dev".into(),
        r#"{"preferredProtocol":"oci","oci":{"registry":"registry.test","namespacePrefix":"webassembly/"}}"#.into(),
    );
    f.registry.publish(
        "registry.test/webassembly/wasi/http",
        "0.2.3",
        &component(5),
    );
    f.install(InstallOptions::default()).unwrap();
    let discoveries = || {
        f.registry
            .requests
            .borrow()
            .iter()
            .filter(|r| r.starts_with("discovery"))
            .count()
    };
    assert_eq!(discoveries(), 1);
    std::fs::write(
        f.file("wasm.toml"),
        "[dependencies]\n\"wasi:http\" = \"=0.2.3\"\n",
    )
    .unwrap();
    f.install(InstallOptions::default()).unwrap();
    assert_eq!(
        discoveries(),
        1,
        "the cached document serves the second resolution"
    );
    let lock = f.lock_text().unwrap();
    assert!(
        lock.contains("repository = \"webassembly/wasi/http\""),
        "{lock}"
    );
}

#[test]
fn add_writes_the_newest_version_and_remove_takes_it_all_back() {
    let f = published();
    std::fs::write(
        f.file("wasm.toml"),
        "# my project\n[namespaces]\nacme = \"registry.test/pkgs\"\n",
    )
    .unwrap();
    let target = AddTarget::parse("acme:a", None).unwrap();
    let project = f.project();
    block_on(add(
        &f.cx(),
        &project,
        &target,
        None,
        &InstallOptions::default(),
    ))
    .unwrap();
    let text = std::fs::read_to_string(f.file("wasm.toml")).unwrap();
    assert_eq!(
        text,
        "# my project\n[namespaces]\nacme = \"registry.test/pkgs\"\n\n[dependencies]\n\"acme:a\" = \"2.0.0\"\n"
    );
    assert!(f.file("vendor/wasm/acme/a.wasm").exists());

    let project = f.project();
    block_on(remove(
        &f.cx(),
        &project,
        "acme:a",
        &InstallOptions::default(),
    ))
    .unwrap();
    assert!(!f.file("vendor/wasm/acme/a.wasm").exists());
    assert!(
        !f.file("vendor/wasm/acme").exists(),
        "empty directories go too"
    );
    assert!(!f.lock_text().unwrap().contains("acme:a"));
    let project = f.project();
    assert_eq!(
        block_on(remove(
            &f.cx(),
            &project,
            "acme:a",
            &InstallOptions::default()
        ))
        .unwrap_err()
        .to_string(),
        format!(
            "`acme:a` is not a dependency in {} (dependencies: none)",
            f.file("wasm.toml").display()
        )
    );
}

#[test]
fn add_parses_names_and_references() {
    assert_eq!(
        AddTarget::parse("acme:a@1.2", None).unwrap(),
        AddTarget::Name {
            name: PackageName::parse("acme:a").unwrap(),
            requirement: Some("1.2".into())
        }
    );
    match AddTarget::parse("localhost:5000/tools/acme/thing:1.0", None).unwrap() {
        AddTarget::Reference { name, reference } => {
            assert_eq!(name.to_string(), "acme:thing");
            assert_eq!(reference.to_string(), "localhost:5000/tools/acme/thing:1.0");
        }
        other => panic!("{other:?}"),
    }
    let cases = [
        (
            "acme:a@abc",
            "invalid version requirement `abc` in `acme:a@abc`: unexpected character 'a' while parsing major version number; write it like `acme:a@1.2` (Cargo's rules: ^1.2)",
        ),
        (
            "greeter",
            "invalid package name `greeter`: a package name is `namespace:name`, like `wasi:http` or `acme:greeter`; or give a reference REGISTRY/REPOSITORY:TAG",
        ),
        (
            "acme/tool:1",
            "`acme/tool:1` has no registry: write the whole reference, like `ghcr.io/acme/tool:1.0`",
        ),
        (
            "localhost:5000/Tool_X:1",
            "invalid reference `localhost:5000/Tool_X:1`: repository names must be lowercase: write `tool_x`",
        ),
        (
            "localhost:5000/tool_x:1",
            "cannot name `localhost:5000/tool_x:1` after its repository; give a name with `--name NS:NAME`",
        ),
    ];
    for (arg, expected) in cases {
        assert_eq!(
            AddTarget::parse(arg, None).unwrap_err().to_string(),
            expected,
            "{arg}"
        );
    }
}

#[test]
fn reference_dependencies_pin_their_tag_too() {
    let f = Fixture::new(
        "[dependencies]\n\"acme:tool\" = { reference = \"registry.test/tools/tool:1\" }\n",
    );
    let first = f
        .registry
        .publish("registry.test/tools/tool", "1", &component(1));
    let report = f.install(InstallOptions::default()).unwrap();
    assert_eq!(report.packages[0].version, "registry.test/tools/tool:1");
    assert!(f.lock_text().unwrap().contains(&first));
    std::fs::remove_file(f.file("vendor/wasm/acme/tool.wasm")).unwrap();
    let now = f
        .registry
        .publish("registry.test/tools/tool", "1", &component(2));
    let err = f
        .install(InstallOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("locked {first}, now {now}")), "{err}");
}

#[test]
fn publish_is_immutable_unless_forced() {
    let f = Fixture::new(
        "[package]\nname = \"acme:app\"\nversion = \"1.0.0\"\nfile = \"app.wasm\"\n\
         description = \"An app\"\n[namespaces]\nacme = \"registry.test\"\n",
    );
    std::fs::write(f.file("app.wasm"), component(1)).unwrap();
    let project = f.project();
    let cx = f.cx();
    let dry = block_on(publish(&cx, &project, false, true)).unwrap();
    assert_eq!(dry.outcome, PublishOutcome::WouldPush);
    assert_eq!(dry.reference, "registry.test/acme/app:1.0.0");
    assert!(
        !f.registry
            .requests
            .borrow()
            .iter()
            .any(|r| r.starts_with("push"))
    );
    let first = block_on(publish(&cx, &project, false, false)).unwrap();
    assert_eq!(first.outcome, PublishOutcome::Pushed);
    assert_eq!(
        first
            .annotations
            .get("org.opencontainers.image.description")
            .map(String::as_str),
        Some("An app")
    );
    let again = block_on(publish(&cx, &project, false, false)).unwrap();
    assert_eq!(again.outcome, PublishOutcome::AlreadyPublished);
    assert_eq!(again.pinned, first.pinned);

    std::fs::write(f.file("app.wasm"), component(2)).unwrap();
    let err = block_on(publish(&cx, &project, false, false))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("refusing to replace registry.test/acme/app:1.0.0: it holds other content"),
        "{err}"
    );
    let forced = block_on(publish(&cx, &project, true, false)).unwrap();
    assert_eq!(forced.outcome, PublishOutcome::Replaced);
    assert_ne!(forced.pinned, first.pinned);
}

#[test]
fn init_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let name = PackageName::parse("acme:hello").unwrap();
    let path = init(dir.path(), &name).unwrap();
    let manifest = Manifest::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    assert_eq!(manifest.package.unwrap().name, name);
    assert_eq!(
        init(dir.path(), &name).unwrap_err().to_string(),
        format!(
            "{} already exists; edit it, or remove it first to start over",
            path.display()
        )
    );
}
