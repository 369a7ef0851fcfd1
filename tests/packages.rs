//! The package manager against real registries: resolution over real tag lists, the four ways
//! a name finds its repository (discovery over a real HTTPS server with the test CA), the lock's
//! guarantees (moved tags refused, `--locked`, `--offline`, a second install without any
//! request, counted in the registry's access log), `publish` immutability, and every bad input
//! with its exact message. Secrets are checked in every output by the harness.

use crate::cli::assert_snapshot;
use crate::support::component::component_of_size_seeded;
use crate::support::discovery::DiscoveryServer;
use crate::support::{
    ALICE_PASSWORD, ALICE_USER, CAROL_PASSWORD, CAROL_USER, Output, Sandbox, basic_auth,
    docker_auths, sha256_digest, shared_anonymous, shared_basic_tls, shared_token, unique_repo,
};

/// A small valid component whose digest depends on `seed`.
fn component(seed: u64) -> Vec<u8> {
    component_of_size_seeded(600, seed)
}

/// Pushes a component made from `seed` to `reference` with `wasm push`; returns its bytes.
fn publish(sandbox: &Sandbox, reference: &str, seed: u64) -> Vec<u8> {
    let bytes = component(seed);
    let file = sandbox.write_file(format!("publish/{seed}.wasm"), &bytes);
    sandbox
        .wasm()
        .args(["push", reference])
        .arg(&file)
        .run()
        .assert_success();
    bytes
}

fn manifest(sandbox: &Sandbox, text: &str) {
    sandbox.write_file("work/wasm.toml", text);
}

fn lock(sandbox: &Sandbox) -> String {
    String::from_utf8(sandbox.read_file("work/wasm.lock")).unwrap()
}

/// The anonymous registry with versions of `acme:app` and `acme:lib` under a fresh prefix;
/// returns the prefix (`HOST/PATH`).
fn published_family(sandbox: &Sandbox) -> String {
    let registry = shared_anonymous();
    let prefix = format!("{}/{}", registry.host, unique_repo("pkg"));
    for (tag, seed) in [
        ("1.0.0", 1),
        ("1.2.0", 2),
        ("1.10.0", 3),
        ("2.0.0-rc.1", 4),
        ("latest", 4),
    ] {
        publish(sandbox, &format!("{prefix}/acme/app:{tag}"), seed);
    }
    publish(sandbox, &format!("{prefix}/acme/lib:0.3.1"), 10);
    publish(sandbox, &format!("{prefix}/acme/lib:0.4.0"), 11);
    prefix
}

#[test]
fn install_resolves_semver_over_real_tags_and_locks_by_digest() {
    let sandbox = Sandbox::new();
    let prefix = published_family(&sandbox);
    manifest(
        &sandbox,
        &format!(
            "[dependencies]\n\"acme:app\" = \"1\"\n\"acme:lib\" = \"0.3\"\n\
             \"acme:pre\" = {{ version = \"2.0.0-rc.1\", repository = \"{prefix}/acme/app\" }}\n\
             [namespaces]\nacme = \"{prefix}\"\n"
        ),
    );
    let out = sandbox.wasm().args(["install", "--color", "never"]).run();
    out.assert_success();
    assert_eq!(
        sandbox.read_file("work/vendor/wasm/acme/app.wasm"),
        component(3)
    );
    assert_eq!(
        sandbox.read_file("work/vendor/wasm/acme/lib.wasm"),
        component(10)
    );
    assert_eq!(
        sandbox.read_file("work/vendor/wasm/acme/pre.wasm"),
        component(4)
    );
    let text = lock(&sandbox);
    assert!(text.starts_with("# wasm.lock: written by `wasm`"), "{text}");
    assert!(
        text.contains("version = \"1.10.0\""),
        "1.10 > 1.2, `latest` ignored: {text}"
    );
    assert!(text.contains("version = \"0.3.1\""), "{text}");
    assert!(
        text.contains("version = \"2.0.0-rc.1\""),
        "named pre-release: {text}"
    );
    assert!(text.contains(&format!(
        "layer-digest = \"{}\"",
        sha256_digest(&component(3))
    )));
    assert!(
        out.stderr.contains("locked acme:app 1.10.0 (sha256:"),
        "{}",
        out.stderr
    );

    // Round trip: the lock is rewritten byte for byte the same by a re-resolution.
    sandbox.write_file("work/wasm.lock.old", text.as_bytes());
    let out = sandbox.wasm().args(["update"]).run();
    out.assert_success();
    assert_eq!(
        lock(&sandbox),
        text,
        "deterministic: same packages, same bytes"
    );
}

#[test]
fn a_second_install_makes_no_request_and_says_so() {
    let sandbox = Sandbox::new();
    let prefix = published_family(&sandbox);
    let registry = shared_anonymous();
    manifest(
        &sandbox,
        &format!("[dependencies]\n\"acme:app\" = \"1.2\"\n[namespaces]\nacme = \"{prefix}\"\n"),
    );
    sandbox.wasm().arg("install").run().assert_success();
    let before = registry.requests().len();
    let out = sandbox.wasm().args(["install", "--json"]).run();
    out.assert_success();
    assert_eq!(registry.requests().len(), before, "no request at all");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["network"], false);
    assert_eq!(report["packages"][0]["action"], "up-to-date");
    let out = sandbox.wasm().arg("install").run();
    assert_eq!(
        out.stderr,
        "up to date: 1 package(s) match wasm.lock (no network request)\n"
    );
    assert_eq!(registry.requests().len(), before);

    // The demo's path: the file goes, install brings it back from the lock by digest.
    std::fs::remove_file(sandbox.path("work/vendor/wasm/acme/app.wasm")).unwrap();
    let repo = format!("{}/acme/app", prefix.split_once('/').unwrap().1);
    let tag_lists = registry.count("GET", &format!("/v2/{repo}/tags/list"));
    sandbox.wasm().arg("install").run().assert_success();
    assert_eq!(
        sandbox.read_file("work/vendor/wasm/acme/app.wasm"),
        component(3)
    );
    assert_eq!(
        registry.count("GET", &format!("/v2/{repo}/tags/list")),
        tag_lists,
        "the lock is not resolved again"
    );
}

#[test]
fn a_moved_tag_is_refused_and_update_moves_on_purpose() {
    let sandbox = Sandbox::new();
    let prefix = published_family(&sandbox);
    manifest(
        &sandbox,
        &format!(
            "[dependencies]\n\"acme:app\" = \"1\"\n\"acme:lib\" = \"0.3\"\n\
             [namespaces]\nacme = \"{prefix}\"\n"
        ),
    );
    sandbox.wasm().arg("install").run().assert_success();
    let locked = lock(&sandbox);
    std::fs::remove_dir_all(sandbox.path("work/vendor")).unwrap();
    publish(&sandbox, &format!("{prefix}/acme/app:1.10.0"), 99);

    let out = sandbox.wasm().args(["install", "--color", "never"]).run();
    out.assert_status(1);
    let normalized = out.normalized(&sandbox);
    let stderr = normalized
        .stderr
        .replace(prefix.split_once('/').unwrap().1, "[PREFIX]");
    assert_eq!(
        stderr,
        "error: a tag in wasm.lock now points at other content:\n  - acme:app \
         (127.0.0.1:[PORT]/[PREFIX]/acme/app:1.10.0): locked sha256:[DIGEST], now \
         sha256:[DIGEST]\na published version that changes is a supply-chain event: nothing was \
         written; if you trust the new content, run `wasm update acme:app`\n"
    );
    let digests: Vec<&str> = out
        .stderr
        .match_indices("sha256:")
        .map(|(i, _)| &out.stderr[i..i + 71])
        .collect();
    assert_ne!(digests[0], digests[1], "both digests shown");
    assert!(locked.contains(digests[0]));
    assert!(
        !sandbox.path("work/vendor/wasm/acme/lib.wasm").exists(),
        "nothing written"
    );
    assert_eq!(lock(&sandbox), locked);

    let out = sandbox
        .wasm()
        .args(["update", "acme:app", "--color", "never"])
        .run();
    out.assert_success();
    assert!(
        out.stderr.contains(&format!(
            "updated acme:app 1.10.0 ({}) -> 1.10.0 (",
            &digests[0][..19]
        )),
        "{}",
        out.stderr
    );
    assert_eq!(
        sandbox.read_file("work/vendor/wasm/acme/app.wasm"),
        component(99)
    );
}

#[test]
fn locked_and_offline() {
    let sandbox = Sandbox::new();
    let prefix = published_family(&sandbox);
    manifest(
        &sandbox,
        &format!("[dependencies]\n\"acme:app\" = \"1\"\n[namespaces]\nacme = \"{prefix}\"\n"),
    );
    let out = sandbox.wasm().args(["install", "--locked"]).run();
    out.assert_status(1);
    assert_eq!(
        out.stderr,
        "error: --locked: wasm.lock is missing:\n  - `acme:app` is not in wasm.lock\nrun `wasm \
         install` without --locked and commit wasm.lock\n"
    );
    let out = sandbox.wasm().args(["install", "--offline"]).run();
    out.assert_status(1);
    assert_eq!(
        out.stderr,
        "error: cannot resolve `acme:app` offline: `acme:app` is not in wasm.lock; run it once \
         with network access\n"
    );
    sandbox.wasm().arg("install").run().assert_success();
    sandbox
        .wasm()
        .args(["install", "--locked"])
        .run()
        .assert_success();

    // Drift under --locked.
    manifest(
        &sandbox,
        &format!("[dependencies]\n\"acme:app\" = \"1.2\"\n[namespaces]\nacme = \"{prefix}\"\n"),
    );
    let out = sandbox.wasm().args(["install", "--locked"]).run();
    out.assert_status(1);
    assert_eq!(
        out.stderr,
        "error: --locked: wasm.lock would change:\n  - `acme:app`: the requirement changed from \
         `1` to `1.2`\nrun `wasm install` without --locked and commit wasm.lock\n"
    );
    manifest(
        &sandbox,
        &format!("[dependencies]\n\"acme:app\" = \"1\"\n[namespaces]\nacme = \"{prefix}\"\n"),
    );

    // Offline from the cache, with no request.
    let registry = shared_anonymous();
    std::fs::remove_file(sandbox.path("work/vendor/wasm/acme/app.wasm")).unwrap();
    let before = registry.requests().len();
    let out = sandbox
        .wasm()
        .args(["install", "--offline", "--color", "never"])
        .run();
    out.assert_success();
    assert_eq!(registry.requests().len(), before);
    assert!(
        out.stderr
            .contains("warning: --offline: installed from the local cache by digest"),
        "{}",
        out.stderr
    );
    assert_eq!(
        sandbox.read_file("work/vendor/wasm/acme/app.wasm"),
        component(3)
    );

    // Offline without the cache: says what is missing.
    sandbox
        .wasm()
        .args(["self", "clean"])
        .run()
        .assert_success();
    std::fs::remove_file(sandbox.path("work/vendor/wasm/acme/app.wasm")).unwrap();
    let out = sandbox.wasm().args(["install", "--offline"]).run();
    out.assert_status(1);
    let stderr = out.normalized(&sandbox).stderr;
    assert!(
        stderr.starts_with("error: cannot install `acme:app` (127.0.0.1:[PORT]/")
            && stderr.ends_with(
                "@sha256:[DIGEST]) offline: its manifest sha256:[DIGEST] is not in the cache; \
                 run it once with network access\n"
            ),
        "{stderr}"
    );
    assert!(!sandbox.path("work/vendor/wasm/acme/app.wasm").exists());
}

#[test]
fn names_map_to_repositories_in_all_four_ways() {
    let sandbox = Sandbox::new();
    let registry = shared_anonymous();
    let base = unique_repo("map");
    let host = &registry.host;
    publish(&sandbox, &format!("{host}/{base}/own/one/x:1.0.0"), 21);
    publish(&sandbox, &format!("{host}/{base}/user/two/x:1.0.0"), 22);
    publish(&sandbox, &format!("{host}/{base}/inline/three/x:1.0.0"), 23);
    publish(&sandbox, &format!("{host}/{base}/disco/four/x:1.0.0"), 24);
    publish(&sandbox, &format!("{host}/five/x:1.0.0"), 25);

    let discovery = DiscoveryServer::start(Some(&format!(
        r#"{{"preferredProtocol":"oci","oci":{{"registry":"{host}","namespacePrefix":"{base}/disco/"}}}}"#
    )));
    // The discovery server's certificate is trusted like a registry's: ca-file in the config.
    sandbox.write_config(&format!(
        "[registries.\"{}\"]\nca-file = \"{}\"\n\n[namespaces]\ntwo = \"{host}/{base}/user\"\n",
        discovery.domain,
        discovery.ca_pem.display()
    ));
    // A domain that answers 404 is the registry itself (wkg's rule).
    let not_found = DiscoveryServer::start(None);
    sandbox.write_file(
        ".config/wasm-pkg/config.toml",
        format!(
            "[namespace_registries]\n\
             three = {{ registry = \"x\", metadata = {{ preferredProtocol = \"oci\", oci = {{ registry = \"{host}\", namespacePrefix = \"{base}/inline/\" }} }} }}\n\
             four = \"{}\"\n\
             five = \"{host}\"\n",
            discovery.domain
        ),
    );
    let _ = not_found;
    manifest(
        &sandbox,
        &format!(
            "[dependencies]\n\
             \"one:x\" = {{ version = \"1\", registry = \"{host}/{base}/own\" }}\n\
             \"two:x\" = \"1\"\n\"three:x\" = \"1\"\n\"four:x\" = \"1\"\n\"five:x\" = \"1\"\n"
        ),
    );
    let out = sandbox
        .wasm()
        .args(["install", "-v", "--color", "never"])
        .run();
    out.assert_success();
    let config = sandbox.config_home();
    for (name, seed, rule) in [
        (
            "one",
            21,
            format!("rule 1: its own `registry = \"{host}/{base}/own\"` in wasm.toml"),
        ),
        (
            "two",
            22,
            format!(
                "rule 2: [namespaces] two in {}",
                config.join("wasm/config.toml").display()
            ),
        ),
        (
            "three",
            23,
            format!(
                "rule 3: `namespace_registries.three` (inline metadata) in wkg's config {}",
                config.join("wasm-pkg/config.toml").display()
            ),
        ),
        (
            "four",
            24,
            format!(
                "rule 4: the discovery document of {} (named by `namespace_registries.four` in \
                 wkg's config {})",
                discovery.domain,
                config.join("wasm-pkg/config.toml").display()
            ),
        ),
        (
            "five",
            25,
            format!(
                "rule 3: {host} used as the registry (named by `namespace_registries.five` in \
                 wkg's config {}; its discovery document answered 404)",
                config.join("wasm-pkg/config.toml").display()
            ),
        ),
    ] {
        assert!(out.stderr.contains(&rule), "{name}: {rule}\n{}", out.stderr);
        assert_eq!(
            sandbox.read_file(format!("work/vendor/wasm/{name}/x.wasm")),
            component(seed),
            "{name}"
        );
    }
    assert_eq!(discovery.hits(), 1);

    // The discovery document is cached with its expiry: resolving again asks nothing, and
    // offline works from the cache.
    std::fs::remove_file(sandbox.path("work/wasm.lock")).unwrap();
    sandbox.wasm().arg("install").run().assert_success();
    assert_eq!(discovery.hits(), 1, "served from the discovery cache");
    drop(discovery);
    sandbox
        .wasm()
        .args(["install", "--offline", "--locked"])
        .run()
        .assert_success();
}

#[test]
fn publish_is_immutable_over_tls_with_basic_auth() {
    let registry = shared_basic_tls();
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        ALICE_USER,
        ALICE_PASSWORD,
    )]));
    let prefix = unique_repo("publish");
    sandbox.write_config(&format!(
        "[registries.\"{}\"]\nca-file = \"{}\"\n\n[namespaces]\nacme = \"{}/{prefix}\"\n",
        registry.host,
        registry.ca_pem.as_ref().unwrap().display(),
        registry.host
    ));
    manifest(
        &sandbox,
        "[package]\nname = \"acme:greeter\"\nversion = \"1.0.0\"\nfile = \"greeter.wasm\"\n\
         description = \"Says hello\"\nlicense = \"Apache-2.0\"\nauthors = [\"Ann\", \"Bo\"]\n",
    );
    sandbox.write_file("work/greeter.wasm", component(31));
    let reference = format!("{}/{prefix}/acme/greeter:1.0.0", registry.host);

    let out = sandbox
        .wasm()
        .args(["publish", "--dry-run", "--color", "never"])
        .run();
    out.assert_success();
    assert!(
        out.stderr.contains("dry run: would push greeter.wasm"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("org.opencontainers.image.authors = Ann, Bo"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());

    let out = sandbox.wasm().args(["publish", "--color", "never"]).run();
    out.assert_success();
    let pinned = out.stdout.trim().to_owned();
    assert!(pinned.starts_with(&format!("{}/{prefix}/acme/greeter@sha256:", registry.host)));
    let manifest_json = registry
        .request(
            "GET",
            &format!("/v2/{prefix}/acme/greeter/manifests/1.0.0"),
            &[
                ("Accept", crate::support::MANIFEST_ACCEPT),
                ("Authorization", &basic_auth(ALICE_USER, ALICE_PASSWORD)),
            ],
            None,
        )
        .json();
    let annotations = &manifest_json["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.description"],
        "Says hello"
    );
    assert_eq!(
        annotations["org.opencontainers.image.licenses"],
        "Apache-2.0"
    );
    assert_eq!(annotations["org.opencontainers.image.version"], "1.0.0");

    // The same file again: nothing pushed, the same pinned reference.
    let out = sandbox.wasm().args(["publish", "--color", "never"]).run();
    out.assert_success();
    assert_eq!(out.stdout.trim(), pinned);
    assert!(
        out.stderr.contains("already holds greeter.wasm"),
        "{}",
        out.stderr
    );

    // Other content under the same version: refused, unless --force.
    sandbox.write_file("work/greeter.wasm", component(32));
    let out = sandbox.wasm().args(["publish"]).run();
    out.assert_status(1);
    let stderr = out.normalized(&sandbox).stderr;
    assert!(
        stderr.starts_with(&format!(
            "error: refusing to replace 127.0.0.1:[PORT]/{prefix}/acme/greeter:1.0.0: it holds \
             other content (manifest sha256:[DIGEST], layer sha256:[DIGEST]; the file's layer \
             would be sha256:[DIGEST]); published versions are immutable, so bump `version` in \
             [package]; --force replaces it"
        )),
        "{stderr}"
    );
    let out = sandbox.wasm().args(["publish", "--force"]).run();
    out.assert_success();
    assert_ne!(out.stdout.trim(), pinned);

    // And a consumer installs it through the same registry and credentials.
    let consumer = Sandbox::new();
    consumer.write_docker_config(&docker_auths(&[(
        &registry.host,
        ALICE_USER,
        ALICE_PASSWORD,
    )]));
    consumer.write_config(&format!(
        "[registries.\"{}\"]\nca-file = \"{}\"\n",
        registry.host,
        registry.ca_pem.as_ref().unwrap().display(),
    ));
    consumer.write_file(
        "work/wasm.toml",
        format!("[dependencies]\n\"acme:greeter\" = {{ version = \"1\", registry = \"{}/{prefix}\" }}\n", registry.host),
    );
    consumer.wasm().arg("install").run().assert_success();
    assert_eq!(
        consumer.read_file("work/vendor/wasm/acme/greeter.wasm"),
        component(32)
    );
    let _ = reference;
}

#[test]
fn add_remove_and_outdated_with_a_token_registry() {
    let (_server, registry) = shared_token();
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        CAROL_USER,
        CAROL_PASSWORD,
    )]));
    let prefix = unique_repo("token-pkgs");
    for (tag, seed) in [("0.1.0", 41), ("0.2.0", 42), ("1.0.0", 43)] {
        publish(
            &sandbox,
            &format!("{}/{prefix}/acme/tool:{tag}", registry.host),
            seed,
        );
    }
    sandbox
        .wasm()
        .args(["init", "--name", "acme:app"])
        .run()
        .assert_success();
    let init_text = String::from_utf8(sandbox.read_file("work/wasm.toml")).unwrap();
    let out = sandbox
        .wasm()
        .args(["add", "acme:tool@0.1", "--registry"])
        .arg(format!("{}/{prefix}", registry.host))
        .args(["--color", "never"])
        .run();
    out.assert_success();
    let text = String::from_utf8(sandbox.read_file("work/wasm.toml")).unwrap();
    assert!(
        text.starts_with(&init_text[..init_text.find("[dependencies]").unwrap()]),
        "the comments stay"
    );
    assert!(
        text.contains(&format!(
            "\"acme:tool\" = {{ version = \"0.1\", registry = \"{}/{prefix}\" }}",
            registry.host
        )),
        "{text}"
    );
    assert_eq!(
        sandbox.read_file("work/vendor/wasm/acme/tool.wasm"),
        component(41)
    );

    let out = sandbox.wasm().args(["outdated"]).run();
    out.assert_success();
    assert_eq!(
        out.stdout,
        "name                     requirement  locked       compatible   latest\n\
         acme:tool                0.1          0.1.0        0.1.0        1.0.0\n"
    );
    let out = sandbox
        .wasm()
        .args(["update", "--dry-run", "--color", "never"])
        .run();
    out.assert_success();
    assert!(
        out.stderr
            .contains("every dependency is at the newest version"),
        "{}",
        out.stderr
    );

    // A reference, listed under its repository's last two segments.
    let reference = format!("{}/{prefix}/acme/tool:1.0.0", registry.host);
    sandbox
        .wasm()
        .args(["add", &reference, "--name", "acme:tool-one"])
        .run()
        .assert_success();
    assert_eq!(
        sandbox.read_file("work/vendor/wasm/acme/tool-one.wasm"),
        component(43)
    );

    let out = sandbox
        .wasm()
        .args(["remove", "acme:tool", "--color", "never"])
        .run();
    out.assert_success();
    assert!(
        out.stderr.contains("removed vendor/wasm/acme/tool.wasm"),
        "{}",
        out.stderr
    );
    assert!(!sandbox.path("work/vendor/wasm/acme/tool.wasm").exists());
    assert!(!lock(&sandbox).contains("name = \"acme:tool\"\n"));
    let text = String::from_utf8(sandbox.read_file("work/wasm.toml")).unwrap();
    assert!(!text.contains("\n\"acme:tool\" = "), "{text}");
}

/// Runs `wasm ARGS` in a project with `wasm_toml` and returns the normalized stderr.
fn error_of(sandbox: &Sandbox, wasm_toml: &str, args: &[&str]) -> String {
    manifest(sandbox, wasm_toml);
    let out: Output = sandbox.wasm().args(args).args(["--color", "never"]).run();
    out.assert_failure();
    out.normalized(sandbox).stderr
}

#[test]
fn every_bad_input_has_its_exact_message() {
    let sandbox = Sandbox::new();
    let registry = shared_anonymous();
    let host = &registry.host;
    let mut text = String::new();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "syntax error",
            "[dependencies]\n\"acme:a\" = 1.2.3\n".into(),
            vec!["install"],
        ),
        (
            "unknown top-level key",
            "[dependency]\n\"acme:a\" = \"1\"\n".into(),
            vec!["install"],
        ),
        (
            "misspelt dependency key",
            "[dependencies]\n\"acme:a\" = { verison = \"1\", registry = \"ghcr.io/acme\" }\n"
                .into(),
            vec!["install"],
        ),
        (
            "bad package name",
            "[dependencies]\ngreeter = \"1\"\n".into(),
            vec!["install"],
        ),
        (
            "bad requirement",
            "[dependencies]\n\"acme:a\" = \"one\"\n".into(),
            vec!["install"],
        ),
        (
            "reference and version",
            "[dependencies]\n\"acme:a\" = { reference = \"ghcr.io/a/b:1\", version = \"1\" }\n"
                .into(),
            vec!["install"],
        ),
        (
            "reference without registry",
            "[dependencies]\n\"acme:a\" = { reference = \"acme/a:1\" }\n".into(),
            vec!["install"],
        ),
        (
            "registry prefix without host",
            "[dependencies]\n\"acme:a\" = { version = \"1\", registry = \"acme\" }\n".into(),
            vec!["install"],
        ),
        (
            "namespace key",
            "[namespaces]\nAcme = \"ghcr.io/acme\"\n".into(),
            vec!["install"],
        ),
        (
            "install dir absolute",
            "[install]\ndir = \"/tmp/x\"\n".into(),
            vec!["install"],
        ),
        (
            "package version",
            "[package]\nname = \"acme:a\"\nversion = \"1.0\"\nfile = \"a.wasm\"\n".into(),
            vec!["publish"],
        ),
        (
            "package without file",
            "[package]\nname = \"acme:a\"\nversion = \"1.0.0\"\n".into(),
            vec!["publish"],
        ),
        (
            "publish without package",
            "[dependencies]\n".into(),
            vec!["publish"],
        ),
        (
            "publish of a missing file",
            "[package]\nname = \"acme:a\"\nversion = \"1.0.0\"\nfile = \"missing.wasm\"\n".into(),
            vec!["publish"],
        ),
        (
            "unknown name",
            "[dependencies]\n\"nobody:x\" = \"1\"\n".into(),
            vec!["install"],
        ),
        (
            "no matching version",
            format!(
                "[dependencies]\n\"acme:a\" = {{ version = \"9\", repository = \"{host}/bad-input/acme/a\" }}\n"
            ),
            vec!["install"],
        ),
        (
            "repository that does not exist",
            format!(
                "[dependencies]\n\"acme:zz\" = {{ version = \"1\", registry = \"{host}/bad-input\" }}\n"
            ),
            vec!["install"],
        ),
        (
            "registry that is down",
            "[dependencies]\n\"acme:a\" = { version = \"1\", registry = \"127.0.0.1:9/x\" }\n"
                .into(),
            vec!["install"],
        ),
        (
            "remove of a non-dependency",
            "[dependencies]\n".into(),
            vec!["remove", "acme:x"],
        ),
        (
            "add of a bad argument",
            "[dependencies]\n".into(),
            vec!["add", "Greeter"],
        ),
        (
            "update of a non-dependency",
            "[dependencies]\n".into(),
            vec!["update", "acme:x"],
        ),
    ];
    publish(&sandbox, &format!("{host}/bad-input/acme/a:1.0.0"), 51);
    for (title, toml, args) in cases {
        let stderr = error_of(&sandbox, &toml, &args);
        text.push_str(&format!(
            "## {title}: wasm {}\n{toml}--\n{stderr}\n",
            args.join(" ")
        ));
    }
    // No wasm.toml at all; init refuses to overwrite.
    std::fs::remove_file(sandbox.path("work/wasm.toml")).unwrap();
    let out = sandbox.wasm().arg("install").run().normalized(&sandbox);
    text.push_str(&format!(
        "## no wasm.toml: wasm install\n--\n{}\n",
        out.stderr
    ));
    manifest(&sandbox, "");
    let out = sandbox.wasm().arg("init").run().normalized(&sandbox);
    text.push_str(&format!(
        "## init over a wasm.toml: wasm init\n--\n{}\n",
        out.stderr
    ));
    // A broken lock.
    manifest(&sandbox, "[dependencies]\n");
    sandbox.write_file("work/wasm.lock", "version = 7\n");
    let out = sandbox.wasm().arg("install").run().normalized(&sandbox);
    text.push_str(&format!(
        "## lock of a newer format: wasm install\n--\n{}\n",
        out.stderr
    ));
    let text = text.replace(&registry.host, "127.0.0.1:[PORT]");
    assert_snapshot(
        "packages-errors",
        &crate::support::normalize(&text, &sandbox),
    );
}

#[test]
fn the_user_config_namespaces_key_is_checked_like_the_others() {
    let sandbox = Sandbox::new();
    sandbox.write_config("[namespaces]\nacme = \"https://ghcr.io/acme\"\n");
    manifest(&sandbox, "[dependencies]\n");
    let out = sandbox.wasm().arg("install").run();
    out.assert_status(1);
    assert_eq!(
        out.normalized(&sandbox).stderr,
        "error: [SANDBOX]/.config/wasm/config.toml: `namespaces.acme` must be a registry prefix \
         REGISTRY[/PATH], like \"ghcr.io/webassembly\", found \"https://ghcr.io/acme\"\n"
    );
}
