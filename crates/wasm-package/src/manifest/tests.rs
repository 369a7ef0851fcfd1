//! `wasm.toml`: every valid form, and the bad inputs not covered by the end-to-end snapshot
//! (`tests/snapshots/packages-errors.txt`), each with its exact message.

use super::*;

const PATH: &str = "/p/wasm.toml";

fn parse(text: &str) -> Result<Manifest, PackageError> {
    Manifest::parse(text, Path::new(PATH))
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string().replace(PATH, "{path}")
}

#[test]
fn every_valid_form() {
    let manifest = parse(
        r#"
[package]
name = "acme:greeter"
version = "1.2.3-rc.1"
file = "target/greeter.wasm"
repository = "ghcr.io/acme/greeter"
description = "Says hello"
license = "MIT"
authors = ["Ann", "Bo"]
homepage = "https://h"
documentation = "https://d"
source = "https://s"
revision = "abc"

[dependencies]
"acme:a" = "1.2"
"acme:b" = { version = "~0.3", registry = "localhost:5000" }
"acme:c" = { version = "*", repository = "ghcr.io/x/y/z" }
"acme:d" = { reference = "ghcr.io/acme/d@sha256:0000000000000000000000000000000000000000000000000000000000000000" }

[namespaces]
acme = "ghcr.io/acme"
my-team = "127.0.0.1:5000/deep/path"

[install]
dir = "deps"
"#,
    )
    .unwrap();
    let package = manifest.package.as_ref().unwrap();
    assert_eq!(package.name.to_string(), "acme:greeter");
    assert_eq!(package.version.to_string(), "1.2.3-rc.1");
    assert_eq!(
        package.repository.as_ref().unwrap().to_string(),
        "ghcr.io/acme/greeter"
    );
    assert_eq!(
        package.annotations.keys().collect::<Vec<_>>(),
        [
            "org.opencontainers.image.authors",
            "org.opencontainers.image.description",
            "org.opencontainers.image.documentation",
            "org.opencontainers.image.licenses",
            "org.opencontainers.image.revision",
            "org.opencontainers.image.source",
            "org.opencontainers.image.url",
        ]
    );
    assert_eq!(
        package.annotations["org.opencontainers.image.authors"],
        "Ann, Bo"
    );
    let dep = |name: &str| &manifest.dependencies[&PackageName::parse(name).unwrap()];
    match dep("acme:a") {
        Dependency::Version {
            requirement,
            source: Source::Mapped,
        } => assert_eq!(requirement.as_str(), "1.2"),
        other => panic!("{other:?}"),
    }
    match dep("acme:b") {
        Dependency::Version {
            source: Source::Prefix(prefix),
            ..
        } => assert_eq!(
            prefix
                .repository(&PackageName::parse("acme:b").unwrap())
                .to_string(),
            "localhost:5000/acme/b"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(dep("acme:c"), Dependency::Version { source: Source::Repository(r), .. } if r.to_string() == "ghcr.io/x/y/z")
    );
    assert!(matches!(dep("acme:d"), Dependency::Reference(r) if r.digest().is_some()));
    assert_eq!(
        manifest.namespaces["my-team"]
            .repository(&PackageName::parse("my-team:x").unwrap())
            .to_string(),
        "127.0.0.1:5000/deep/path/my-team/x"
    );
    assert_eq!(manifest.install_dir, Path::new("deps"));
    assert_eq!(manifest.lock_path(), Path::new("/p/wasm.lock"));
}

#[test]
fn an_empty_manifest_is_valid() {
    let manifest = parse("# nothing yet\n").unwrap();
    assert!(manifest.package.is_none() && manifest.dependencies.is_empty());
    assert_eq!(manifest.install_dir, Path::new(DEFAULT_INSTALL_DIR));
}

#[test]
fn bad_inputs_name_file_line_column_and_key() {
    let cases = [
        (
            "[package]\nname = \"acme:x\"\nversion = \"1.0.0\"\nfile = \"x.wasm\"\nlicence = \"MIT\"\n",
            "{path}:5:1: unknown key `licence` in `package`: did you mean `license`? (known keys: \
             `name`, `version`, `file`, `wit`, `repository`, `description`, `license`, `authors`, \
             `homepage`, `documentation`, `source`, `revision`)",
        ),
        (
            "[package]\nname = \"acme:x\"\nversion = \"1.0.0\"\nfile = \"x.wasm\"\nauthors = \"Ann\"\n",
            "{path}:5:1: `package.authors` must be an array of strings, like [\"Ann \
             <ann@example.com>\"], found a string",
        ),
        (
            "[dependencies]\n\"acme:a\" = 1\n",
            "{path}:2:1: `dependencies.\"acme:a\"` must be a version requirement like \"1.2\", or \
             a table with `version` and `registry` or `repository`, or with `reference`, found an \
             integer",
        ),
        (
            "[dependencies]\n\"acme:a\" = { registry = \"ghcr.io/acme\" }\n",
            "{path}:2:1: `dependencies.\"acme:a\"` must be a table with `version` (or \
             `reference`), found no `version`",
        ),
        (
            "[dependencies]\n\"acme:a\" = { version = \"1\", registry = \"ghcr.io/a\", repository = \"ghcr.io/a/b\" }\n",
            "{path}:2:1: `dependencies.\"acme:a\"` must be a table with either `registry` (a \
             prefix) or `repository` (the whole repository), found both",
        ),
        (
            "[dependencies]\n\"acme:a\" = { version = \"1\", repository = \"acme/a\" }\n",
            "{path}:2:29: `dependencies.\"acme:a\".repository` must be a whole OCI repository \
             REGISTRY/REPOSITORY, like \"ghcr.io/acme/greeter\", found \"acme/a\"",
        ),
        (
            "[namespaces]\nacme = \"https://ghcr.io/acme\"\n",
            "{path}:2:1: `namespaces.acme` must be a registry prefix REGISTRY[/PATH], like \
             \"ghcr.io/acme\"; a registry prefix has no scheme, found \"https://ghcr.io/acme\"",
        ),
        (
            "dependencies = []\n",
            "{path}:1:1: `dependencies` must be a table of dependencies, like `[dependencies]` \
             with `\"acme:greeter\" = \"1.2\"`, found an array",
        ),
        (
            "[install]\ndirectory = \"x\"\n",
            "{path}:2:1: unknown key `directory` in `install` (known keys: `dir`)",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text), expected, "for {text:?}");
    }
}

#[test]
fn edits_keep_comments_and_layout() {
    let text = "# top\n[dependencies]\n# keep me\n\"acme:a\" = \"1\"   # why\n";
    let name = PackageName::parse("acme:b").unwrap();
    let added = edit::set_dependency(
        text,
        &name,
        &edit::NewDependency::VersionAt {
            version: "2".into(),
            registry: "ghcr.io/acme".into(),
        },
    )
    .unwrap();
    assert_eq!(
        added,
        "# top\n[dependencies]\n# keep me\n\"acme:a\" = \"1\"   # why\n\"acme:b\" = { version = \"2\", registry = \"ghcr.io/acme\" }\n"
    );
    let removed = edit::remove_dependency(&added, "acme:a").unwrap().unwrap();
    assert!(removed.starts_with("# top\n[dependencies]\n"), "{removed}");
    assert!(!removed.contains("\"acme:a\""));
    assert_eq!(edit::remove_dependency(&removed, "acme:zz").unwrap(), None);
    parse(&removed).unwrap();
}
