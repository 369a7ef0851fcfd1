//! WIT interface packages against a real registry: a small `wasi:`-like family (`tst:`) encoded
//! from WIT text at test time — a chain `app -> http -> io -> clocks` and a diamond (`http` and
//! `cli` both use `io`; `http` and `io` both use `clocks`) — fetched by `wasm wit fetch` through
//! discovery on a real HTTPS server with the test CA, resolved by wit-parser afterwards; the
//! lock's guarantees (zero requests when nothing changed, counted in the registry's access log
//! and the discovery server's hits; `--offline`; `--locked`); `add`/`install`/`publish` of WIT
//! packages; every bad input with its exact message; and interoperability with the crate calls
//! wkg makes (oci-wasm's client), both ways.

use std::path::Path;

use crate::cli::assert_snapshot;
use crate::support::discovery::DiscoveryServer;
use crate::support::{Output, Sandbox, shared_anonymous, unique_repo};

const CLOCKS: &str = "package tst:clocks@0.2.0;

interface wall-clock {
  record datetime { seconds: u64, nanoseconds: u32 }
  now: func() -> datetime;
}

interface monotonic-clock {
  now: func() -> u64;
}
";

const IO: &str = "package tst:io@0.2.0;

interface poll {
  use tst:clocks/wall-clock@0.2.0.{datetime};
  resource pollable { ready: func() -> bool; }
  poll-until: func(deadline: datetime) -> bool;
}

interface streams {
  use poll.{pollable};
  resource input-stream {
    read: func(len: u64) -> list<u8>;
    subscribe: func() -> pollable;
  }
}

/// Not used by any other package of the family: only a whole package has it.
interface error {
  resource error { to-debug-string: func() -> string; }
}
";

const HTTP: &str = "package tst:http@0.2.0;

interface types {
  use tst:io/streams@0.2.0.{input-stream};
  use tst:clocks/wall-clock@0.2.0.{datetime};
  resource request {
    body: func() -> input-stream;
    received: func() -> datetime;
  }
}

interface handler {
  use types.{request};
  handle: func(request: request);
}

world proxy {
  import tst:clocks/wall-clock@0.2.0;
  export handler;
}
";

const CLI: &str = "package tst:cli@0.2.0;

interface stdin {
  use tst:io/streams@0.2.0.{input-stream};
  get-stdin: func() -> input-stream;
}

world imports {
  import stdin;
}
";

/// The local world: imports `tst:http` and includes `tst:cli`'s world.
const APP: &str = "package acme:app;

world app {
  import tst:http/handler@0.2.0;
  include tst:cli/imports@0.2.0;
}
";

/// Encodes the WIT package `text` to its binary form, with `deps` (WIT texts) beside it, the
/// way `wasm-tools component wit --wasm` does.
pub(crate) fn encode_wit(text: &str, deps: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("package.wit"), text).unwrap();
    for (i, dep) in deps.iter().enumerate() {
        let sub = dir.path().join("deps").join(format!("dep{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("package.wit"), dep).unwrap();
    }
    let mut resolve = wit_parser::Resolve::new();
    let (id, _) = resolve.push_dir(dir.path()).unwrap();
    wit_component::encode(&resolve, id, false).unwrap()
}

/// Pushes `bytes` with `wasm push` to `reference`.
fn push(sandbox: &Sandbox, reference: &str, bytes: &[u8]) {
    let name = reference.replace(['/', ':'], "_");
    let file = sandbox.write_file(format!("publish/{name}.wasm"), bytes);
    sandbox.push_ok(reference, &file);
}

/// Publishes the family under `PREFIX/tst/NAME:0.2.0`; returns the prefix (`HOST/PATH`).
fn publish_family(sandbox: &Sandbox) -> String {
    let registry = shared_anonymous();
    let prefix = format!("{}/{}", registry.host, unique_repo("wit"));
    for (name, text, deps) in [
        ("clocks", CLOCKS, &[][..]),
        ("io", IO, &[CLOCKS][..]),
        ("http", HTTP, &[IO, CLOCKS][..]),
        ("cli", CLI, &[IO, CLOCKS][..]),
    ] {
        push(
            sandbox,
            &format!("{prefix}/tst/{name}:0.2.0"),
            &encode_wit(text, deps),
        );
    }
    prefix
}

/// A discovery server for the `tst` namespace (wkg's config names its domain, as wkg users
/// have it), trusted through `ca-file` in the user config.
fn discovery_for(sandbox: &Sandbox, prefix: &str) -> DiscoveryServer {
    let (host, path) = prefix.split_once('/').unwrap();
    let discovery = DiscoveryServer::start(Some(&format!(
        r#"{{"preferredProtocol":"oci","oci":{{"registry":"{host}","namespacePrefix":"{path}/"}}}}"#
    )));
    sandbox.write_config(&format!(
        "[registries.\"{}\"]\nca-file = \"{}\"\n",
        discovery.domain,
        discovery.ca_pem.display()
    ));
    sandbox.write_file(
        ".config/wasm-pkg/config.toml",
        format!("[namespace_registries]\ntst = \"{}\"\n", discovery.domain),
    );
    discovery
}

/// A project whose world imports `tst:clocks`, found under `prefix` through `[namespaces]`.
fn clocks_project(sandbox: &Sandbox, prefix: &str) {
    sandbox.write_file(
        "work/wasm.toml",
        format!("[namespaces]\ntst = \"{prefix}\"\n"),
    );
    sandbox.write_file(
        "work/wit/world.wit",
        "package acme:app;\nworld app { import tst:clocks/wall-clock@0.2.0; }\n",
    );
}

fn read(sandbox: &Sandbox, rel: &str) -> String {
    String::from_utf8(sandbox.read_file(rel)).unwrap()
}

fn fetch(sandbox: &Sandbox, extra: &[&str]) -> Output {
    sandbox
        .wasm()
        .args(["wit", "fetch", "--color", "never"])
        .args(extra)
        .run()
}

/// Resolves `dir` with wit-parser, as the bindgen tools do; returns the package names.
fn resolve_tree(dir: &Path) -> Vec<String> {
    let mut resolve = wit_parser::Resolve::new();
    resolve
        .push_dir(dir)
        .unwrap_or_else(|e| panic!("the fetched tree resolves: {e:?}"));
    let mut names: Vec<String> = resolve
        .packages
        .iter()
        .map(|(_, p)| p.name.to_string())
        .collect();
    names.sort();
    names
}

/// `wasm wit fetch` says all `count` packages are as locked, and neither the registry nor the
/// discovery server got a request.
#[track_caller]
fn assert_up_to_date_without_requests(
    sandbox: &Sandbox,
    discovery: &DiscoveryServer,
    count: usize,
) {
    let registry = shared_anonymous();
    let (requests, hits) = (registry.requests().len(), discovery.hits());
    let out = fetch(sandbox, &[]);
    out.assert_success();
    assert_eq!(
        out.stderr,
        format!(
            "up to date: acme:app uses {count} WIT package(s), all as wasm.lock pins them (no \
             network request)\n"
        )
    );
    assert_eq!(registry.requests().len(), requests, "no registry request");
    assert_eq!(discovery.hits(), hits, "no discovery request");
}

const DEPS: [&str; 4] = [
    "work/wit/deps/tst-cli-0.2.0/package.wit",
    "work/wit/deps/tst-clocks-0.2.0/package.wit",
    "work/wit/deps/tst-http-0.2.0/package.wit",
    "work/wit/deps/tst-io-0.2.0/package.wit",
];

#[test]
fn fetch_closes_a_chain_and_a_diamond_through_discovery_and_locks_them() {
    let sandbox = Sandbox::new();
    let prefix = publish_family(&sandbox);
    let discovery = discovery_for(&sandbox, &prefix);
    let registry = shared_anonymous();
    sandbox.write_file("work/wit/world.wit", APP);

    let out = fetch(&sandbox, &[]);
    out.assert_success();
    for file in DEPS {
        assert!(sandbox.path(file).is_file(), "{file}: {}", out.stderr);
    }
    // Whole packages, not the slices another package embeds: nothing of the family uses
    // `tst:io/error`, and wkg would leave it out.
    let io = read(&sandbox, "work/wit/deps/tst-io-0.2.0/package.wit");
    assert!(io.starts_with("package tst:io@0.2.0;\n"), "{io}");
    assert!(io.contains("interface error {"), "{io}");
    assert!(
        read(&sandbox, "work/wit/deps/tst-clocks-0.2.0/package.wit")
            .contains("interface monotonic-clock {")
    );
    assert_eq!(
        resolve_tree(&sandbox.path("work/wit")),
        [
            "acme:app",
            "tst:cli@0.2.0",
            "tst:clocks@0.2.0",
            "tst:http@0.2.0",
            "tst:io@0.2.0"
        ]
    );
    let lock = read(&sandbox, "work/wasm.lock");
    assert_eq!(lock.matches("kind = \"wit\"").count(), 4, "{lock}");
    assert_eq!(
        lock.matches("requirement = \"=0.2.0\"").count(),
        4,
        "{lock}"
    );
    assert!(
        lock.contains(&format!(
            "repository = \"{}/tst/io\"",
            prefix.split_once('/').unwrap().1
        )),
        "{lock}"
    );
    assert!(
        out.stderr.contains("locked tst:io 0.2.0 (sha256:")
            && out
                .stderr
                .contains("fetched tst:clocks 0.2.0 -> wit/deps/tst-clocks-0.2.0/package.wit")
            && out.stderr.ends_with(
                "acme:app uses 4 WIT package(s); 4 written to wit/deps, wasm.lock written\n"
            ),
        "{}",
        out.stderr
    );

    // Nothing changed: no request to the registry or the discovery server.
    assert_up_to_date_without_requests(&sandbox, &discovery, 4);
    assert_eq!(
        read(&sandbox, "work/wasm.lock"),
        lock,
        "the lock is unchanged"
    );

    // --offline from the lock and the cache: a deleted tree comes back, still without a request.
    let requests = registry.requests().len();
    std::fs::remove_dir_all(sandbox.path("work/wit/deps")).unwrap();
    let out = fetch(&sandbox, &["--offline"]);
    out.assert_success();
    for file in DEPS {
        assert!(sandbox.path(file).is_file(), "{file}: {}", out.stderr);
    }
    assert_eq!(
        registry.requests().len(),
        requests,
        "--offline makes no request"
    );
    assert_eq!(read(&sandbox, "work/wasm.lock"), lock);

    // --locked passes while nothing changes, and fails naming what would.
    fetch(&sandbox, &["--locked"]).assert_success();
    sandbox.write_file(
        "work/wit/world.wit",
        APP.replace("  import tst:http/handler@0.2.0;\n", ""),
    );
    let out = fetch(&sandbox, &["--locked"]);
    out.assert_status(1);
    assert_eq!(
        out.stderr,
        "error: --locked: wasm.lock would change:\n  - `tst:http` is no longer needed\nrun \
         `wasm wit fetch` without --locked and commit wasm.lock\n"
    );
    assert_eq!(
        read(&sandbox, "work/wasm.lock"),
        lock,
        "--locked writes nothing"
    );

    // Without --locked, the package no longer used leaves the lock and the tree.
    let out = fetch(&sandbox, &[]);
    out.assert_success();
    assert!(
        !sandbox.path("work/wit/deps/tst-http-0.2.0").exists(),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("removed tst:http 0.2.0"),
        "{}",
        out.stderr
    );
    let lock = read(&sandbox, "work/wasm.lock");
    assert_eq!(lock.matches("kind = \"wit\"").count(), 3, "{lock}");
    assert_eq!(lock.matches("text-digest = \"sha256:").count(), 3, "{lock}");

    // Without the cache, the texts on disk (their digests in the lock) are enough: no request.
    std::fs::remove_dir_all(sandbox.cache_home()).unwrap();
    assert_up_to_date_without_requests(&sandbox, &discovery, 3);
}

#[test]
fn a_moved_tag_is_refused_when_a_locked_package_must_be_fetched() {
    let sandbox = Sandbox::new();
    let prefix = publish_family(&sandbox);
    clocks_project(&sandbox, &prefix);
    fetch(&sandbox, &[]).assert_success();
    let lock = read(&sandbox, "work/wasm.lock");
    // Someone re-publishes 0.2.0 with other content; this machine's cache is gone.
    push(
        &sandbox,
        &format!("{prefix}/tst/clocks:0.2.0"),
        &encode_wit(
            &CLOCKS.replace("now: func() -> u64;", "now: func() -> u32;"),
            &[],
        ),
    );
    std::fs::remove_dir_all(sandbox.cache_home()).unwrap();
    std::fs::remove_dir_all(sandbox.path("work/wit/deps")).unwrap();
    let out = fetch(&sandbox, &[]);
    out.assert_status(1);
    assert!(
        out.stderr.starts_with(
            "error: a tag in wasm.lock now points at other content:\n  - tst:clocks ("
        ),
        "{}",
        out.stderr
    );
    assert!(!sandbox.path("work/wit/deps").exists(), "nothing written");
    assert_eq!(read(&sandbox, "work/wasm.lock"), lock);
}

#[test]
fn packages_written_by_hand_in_deps_are_left_alone_and_what_they_use_is_fetched() {
    let sandbox = Sandbox::new();
    let prefix = publish_family(&sandbox);
    sandbox.write_file(
        "work/wasm.toml",
        format!("[namespaces]\ntst = \"{prefix}\"\n"),
    );
    sandbox.write_file(
        "work/wit/world.wit",
        "package acme:app;\nworld app { import acme:handmade/clock@1.0.0; }\n",
    );
    let handmade = "package acme:handmade@1.0.0;\ninterface clock {\n  \
                    use tst:clocks/wall-clock@0.2.0.{datetime};\n  now: func() -> datetime;\n}\n";
    sandbox.write_file("work/wit/deps/handmade/clock.wit", handmade);
    let out = fetch(&sandbox, &[]);
    out.assert_success();
    assert_eq!(read(&sandbox, "work/wit/deps/handmade/clock.wit"), handmade);
    assert!(sandbox.path(DEPS[1]).is_file(), "{}", out.stderr);
    let lock = read(&sandbox, "work/wasm.lock");
    assert_eq!(lock.matches("[[package]]").count(), 1, "{lock}");
    assert!(lock.contains("name = \"tst:clocks\""), "{lock}");
    assert_eq!(
        resolve_tree(&sandbox.path("work/wit")),
        ["acme:app", "acme:handmade@1.0.0", "tst:clocks@0.2.0"]
    );
}

#[test]
fn add_install_build_and_publish_of_wit_packages() {
    let sandbox = Sandbox::new();
    let prefix = publish_family(&sandbox);
    let registry = shared_anonymous();
    sandbox.write_file(
        "work/wasm.toml",
        format!(
            "[package]\nname = \"tst:team\"\nversion = \"1.0.0\"\nwit = \"wit\"\n\n\
             [dependencies]\n\n[namespaces]\ntst = \"{prefix}\"\n"
        ),
    );
    // `add` decides the kind from the artifact: a WIT package goes to wit/deps, with the
    // packages it uses.
    let out = sandbox
        .wasm()
        .args(["add", "tst:http@0.2.0", "--color", "never"])
        .run();
    out.assert_success();
    assert!(
        out.stderr
            .contains("installed tst:http 0.2.0 -> wit/deps/tst-http-0.2.0/package.wit"),
        "{}",
        out.stderr
    );
    for file in [DEPS[1], DEPS[2], DEPS[3]] {
        assert!(sandbox.path(file).is_file(), "{file}: {}", out.stderr);
    }
    assert!(!sandbox.path("work/vendor").exists(), "{}", out.stderr);
    let manifest = read(&sandbox, "work/wasm.toml");
    assert!(manifest.contains("\"tst:http\" = \"0.2.0\""), "{manifest}");
    let lock = read(&sandbox, "work/wasm.lock");
    assert_eq!(lock.matches("kind = \"wit\"").count(), 3, "{lock}");
    // wasm.toml's requirement governs the package it lists; the others are as the WIT names.
    assert!(
        lock.contains("name = \"tst:http\"\nkind = \"wit\"\nrequirement = \"0.2.0\"\n"),
        "{lock}"
    );
    assert!(
        lock.contains("name = \"tst:io\"\nkind = \"wit\"\nrequirement = \"=0.2.0\"\n"),
        "{lock}"
    );

    // `install` writes every WIT package of the lock, and a second one makes no request.
    std::fs::remove_dir_all(sandbox.path("work/wit/deps")).unwrap();
    let out = sandbox.wasm().args(["install", "--color", "never"]).run();
    out.assert_success();
    for file in [DEPS[1], DEPS[2], DEPS[3]] {
        assert!(sandbox.path(file).is_file(), "{file}: {}", out.stderr);
    }
    assert!(
        out.stderr
            .ends_with("3 package(s) in wit/deps, 3 installed\n"),
        "{}",
        out.stderr
    );
    let requests = registry.requests().len();
    let out = sandbox.wasm().arg("install").run();
    out.assert_success();
    assert_eq!(
        out.stderr,
        "up to date: 3 package(s) match wasm.lock (no network request)\n"
    );
    assert_eq!(registry.requests().len(), requests);
    // Even without the cache: the lock has the digest of each text.
    std::fs::remove_dir_all(sandbox.cache_home()).unwrap();
    let out = sandbox.wasm().arg("install").run();
    out.assert_success();
    assert_eq!(
        out.stderr,
        "up to date: 3 package(s) match wasm.lock (no network request)\n"
    );
    assert_eq!(registry.requests().len(), requests);

    // `update` moves a WIT dependency within its requirement (^0.2.0), and the packages it
    // uses follow; the old version's directory goes.
    push(
        &sandbox,
        &format!("{prefix}/tst/http:0.2.1"),
        &encode_wit(
            &HTTP.replace("tst:http@0.2.0;", "tst:http@0.2.1;"),
            &[IO, CLOCKS],
        ),
    );
    let out = sandbox
        .wasm()
        .args(["update", "tst:http", "--color", "never"])
        .run();
    out.assert_success();
    assert!(
        out.stderr.contains("updated tst:http 0.2.0 (sha256:")
            && out
                .stderr
                .contains("installed tst:http 0.2.1 -> wit/deps/tst-http-0.2.1/package.wit")
            && out
                .stderr
                .contains("removed wit/deps/tst-http-0.2.0/package.wit"),
        "{}",
        out.stderr
    );
    assert!(!sandbox.path(DEPS[2]).exists(), "{}", out.stderr);
    assert!(
        sandbox
            .path("work/wit/deps/tst-http-0.2.1/package.wit")
            .is_file()
    );

    // A team interface using the fetched packages: built, then published from its WIT text.
    sandbox.write_file(
        "work/wit/team.wit",
        "package tst:team@1.0.0;\n\ninterface greet {\n  use tst:io/streams@0.2.0.{input-stream};\n  \
         greet: func(name: string) -> input-stream;\n}\n\nworld team {\n  export greet;\n  \
         import tst:http/handler@0.2.1;\n}\n",
    );
    let out = sandbox
        .wasm()
        .args(["wit", "build", "-o", "team.wasm", "--color", "never"])
        .run();
    out.assert_success();
    let built = sandbox.read_file("work/team.wasm");
    let wit_component::DecodedWasm::WitPackage(resolve, id) =
        wit_component::decode(&built).unwrap()
    else {
        panic!("wit build writes a WIT package");
    };
    assert_eq!(resolve.packages[id].name.to_string(), "tst:team@1.0.0");
    assert!(
        out.stderr
            .starts_with("built tst:team@1.0.0 -> team.wasm ("),
        "{}",
        out.stderr
    );
    let out = sandbox
        .wasm()
        .args(["inspect", "team.wasm", "--json"])
        .run();
    out.assert_success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["wit"]["package"], "tst:team@1.0.0");
    assert_eq!(json["wit"]["interfaces"][0], "greet");
    assert_eq!(
        json["wit"]["uses"],
        serde_json::json!(["tst:clocks@0.2.0", "tst:http@0.2.1", "tst:io@0.2.0"])
    );

    let out = sandbox.wasm().args(["publish", "--color", "never"]).run();
    out.assert_success();
    assert!(
        out.stderr
            .starts_with(&format!("published {prefix}/tst/team:1.0.0 (")),
        "{}",
        out.stderr
    );
    // What was published is a WIT package that `wasm inspect` tells as one.
    let out = sandbox
        .wasm()
        .args([
            "inspect",
            &format!("{prefix}/tst/team:1.0.0"),
            "--color",
            "never",
        ])
        .run();
    out.assert_success();
    assert!(
        out.stdout.contains("WIT package tst:team@1.0.0"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("interfaces: greet"), "{}", out.stdout);
    assert!(out.stdout.contains("worlds: team"), "{}", out.stdout);

    // `remove` takes a WIT dependency out of wasm.toml, the lock and wit/deps.
    let out = sandbox
        .wasm()
        .args(["remove", "tst:http", "--color", "never"])
        .run();
    out.assert_success();
    assert!(
        !sandbox.path("work/wit/deps/tst-http-0.2.1").exists(),
        "{}",
        out.stderr
    );
    let lock = read(&sandbox, "work/wasm.lock");
    assert!(!lock.contains("name = \"tst:http\""), "{lock}");
    assert!(!read(&sandbox, "work/wasm.toml").contains("tst:http"));
}

#[test]
fn wit_errors() {
    let sandbox = Sandbox::new();
    let prefix = publish_family(&sandbox);
    let registry = shared_anonymous();
    // A component where a WIT package is expected.
    sandbox.push_ok(
        &format!("{prefix}/tst/comp:0.1.0"),
        crate::support::component::hello_wasm(),
    );
    // A package that uses another version of tst:io than tst:cli does.
    let io_next = IO.replace("@0.2.0;\n\ninterface poll", "@0.2.1;\n\ninterface poll");
    push(
        &sandbox,
        &format!("{prefix}/tst/io:0.2.1"),
        &encode_wit(&io_next, &[CLOCKS]),
    );
    let next =
        "package tst:next@0.1.0;\ninterface api { use tst:io/streams@0.2.1.{input-stream}; }\n";
    push(
        &sandbox,
        &format!("{prefix}/tst/next:0.1.0"),
        &encode_wit(next, &[&io_next, CLOCKS]),
    );
    sandbox.write_file(
        "work/wasm.toml",
        format!("[namespaces]\ntst = \"{prefix}\"\n"),
    );

    let mut text = String::new();
    let mut case = |title: &str, world: Option<&str>, args: &[&str]| {
        if let Some(world) = world {
            let _ = std::fs::remove_dir_all(sandbox.path("work/wit"));
            sandbox.write_file("work/wit/world.wit", world);
        }
        let out = sandbox.wasm().args(args).arg("--color").arg("never").run();
        out.assert_status(1);
        assert!(
            !sandbox.path("work/wit/deps").exists(),
            "{title}: nothing written"
        );
        text.push_str(&format!(
            "## {title}: wasm {}\n--\n{}\n",
            args.join(" "),
            out.stderr
        ));
    };
    let fetch = &["wit", "fetch"][..];
    case(
        "WIT syntax error in the local directory",
        Some("package acme:app;\n\nworld app {\n  import tst:http/handler@0.2.0\n}\n"),
        fetch,
    );
    case(
        "no WIT directory",
        None,
        &["wit", "fetch", "--wit-dir", "nowhere"],
    );
    case(
        "unknown package",
        Some("package acme:app;\nworld app { import nope:thing/api@1.0.0; }\n"),
        fetch,
    );
    case(
        "no version matching",
        Some("package acme:app;\nworld app { import tst:http/handler@0.9.0; }\n"),
        fetch,
    );
    case(
        "a component where a WIT package is expected",
        Some("package acme:app;\nworld app { import tst:comp/api@0.1.0; }\n"),
        fetch,
    );
    case(
        "two versions of one package",
        Some(
            "package acme:app;\nworld app {\n  include tst:cli/imports@0.2.0;\n  \
             import tst:next/api@0.1.0;\n}\n",
        ),
        fetch,
    );
    case(
        "offline without a lock",
        Some("package acme:app;\nworld app { import tst:clocks/wall-clock@0.2.0; }\n"),
        &["wit", "fetch", "--offline"],
    );
    case(
        "locked without a lock",
        Some("package acme:app;\nworld app { import tst:clocks/wall-clock@0.2.0; }\n"),
        &["wit", "fetch", "--locked"],
    );
    case(
        "build before fetch",
        Some("package acme:app;\nworld app { import tst:clocks/wall-clock@0.2.0; }\n"),
        &["wit", "build"],
    );
    // The reverse: a WIT package where a component is expected.
    let wit_binary = sandbox.write_file("work/api.wasm", encode_wit(CLOCKS, &[]));
    sandbox.write_file(
        "work/wasm.toml",
        format!(
            "[package]\nname = \"tst:clocks\"\nversion = \"0.3.0\"\nfile = \"api.wasm\"\n\n\
             [namespaces]\ntst = \"{prefix}\"\n"
        ),
    );
    let _ = wit_binary;
    case(
        "a WIT package where a component is expected",
        None,
        &["publish"],
    );
    // A world that uses what a fetched package does not have: reported with file and line.
    sandbox.write_file(
        "work/wasm.toml",
        format!("[namespaces]\ntst = \"{prefix}\"\n"),
    );
    let _ = std::fs::remove_dir_all(sandbox.path("work/wit"));
    sandbox.write_file(
        "work/wit/world.wit",
        "package acme:app;\n\nworld app {\n  import tst:clocks/no-such-clock@0.2.0;\n}\n",
    );
    let out = sandbox
        .wasm()
        .args(["wit", "fetch", "--color", "never"])
        .run();
    out.assert_status(1);
    text.push_str(&format!(
        "## a world using an interface the package lacks: wasm wit fetch\n--\n{}\n",
        out.stderr
    ));

    let text = text
        .replace(&prefix, "[PREFIX]")
        .replace(&registry.host, "127.0.0.1:[PORT]");
    let text = regex_digests(&text);
    assert_snapshot("wit-errors", &crate::support::normalize(&text, &sandbox));
}

/// Replaces `sha256:HEX` by `sha256:[DIGEST]` (digests of components built at test time).
fn regex_digests(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("sha256:") {
        out.push_str(&rest[..i + 7]);
        let tail = &rest[i + 7..];
        let hex = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str(if hex == 64 { "[DIGEST]" } else { "" });
        rest = &tail[if hex == 64 { 64 } else { 0 }..];
    }
    out.push_str(rest);
    out
}

mod interop {
    //! "wkg-equivalent crate calls": wkg publishes and fetches WIT packages through oci-wasm's
    //! client (on oci-client 0.17), with a `WasmConfig` that carries `created`. These tests make
    //! the same calls (the wkg binary itself is not built in tests: too slow for CI).

    use super::*;
    use crate::interop::{oci_wasm_client as client, runtime};

    #[test]
    fn wasm_fetches_what_the_wkg_equivalent_crate_calls_publish() {
        let sandbox = Sandbox::new();
        let registry = shared_anonymous();
        let prefix = format!("{}/{}", registry.host, unique_repo("wit-wkg"));
        let bytes = encode_wit(CLOCKS, &[]);
        let (config, layer) = oci_wasm::WasmConfig::from_raw_component(bytes, None).unwrap();
        assert!(
            config.created.timestamp() > 0,
            "wkg's config carries `created`"
        );
        let image: oci_client_017::Reference =
            format!("{prefix}/tst/clocks:0.2.0").parse().unwrap();
        runtime()
            .block_on(client().push(
                &image,
                &oci_client_017::secrets::RegistryAuth::Anonymous,
                layer,
                config,
                None,
            ))
            .expect("the wkg-equivalent crate calls publish");
        clocks_project(&sandbox, &prefix);
        fetch(&sandbox, &[]).assert_success();
        assert_eq!(
            read(&sandbox, "work/wit/deps/tst-clocks-0.2.0/package.wit"),
            read_back(CLOCKS)
        );
    }

    #[test]
    fn the_wkg_equivalent_crate_calls_decode_what_wasm_publishes() {
        let sandbox = Sandbox::new();
        let registry = shared_anonymous();
        let prefix = format!("{}/{}", registry.host, unique_repo("wit-ours"));
        sandbox.write_file(
            "work/wasm.toml",
            format!(
                "[package]\nname = \"tst:clocks\"\nversion = \"0.2.0\"\nwit = \"api\"\n\n\
                 [namespaces]\ntst = \"{prefix}\"\n"
            ),
        );
        sandbox.write_file("work/api/clocks.wit", CLOCKS);
        sandbox.wasm().arg("publish").run().assert_success();
        let image: oci_client_017::Reference =
            format!("{prefix}/tst/clocks:0.2.0").parse().unwrap();
        let data = runtime()
            .block_on(client().pull(&image, &oci_client_017::secrets::RegistryAuth::Anonymous))
            .expect("oci-wasm pulls what wasm published");
        let config: oci_wasm::WasmConfig = serde_json::from_slice(&data.config.data).unwrap();
        let component = config.component.expect("component metadata");
        assert!(
            component.imports.is_empty(),
            "a WIT package imports nothing"
        );
        let wit_component::DecodedWasm::WitPackage(resolve, id) =
            wit_component::decode(&data.layers[0].data).unwrap()
        else {
            panic!("a WIT package");
        };
        assert_eq!(resolve.packages[id].name.to_string(), "tst:clocks@0.2.0");
        let mut printer = wit_component::WitPrinter::default();
        printer.print(&resolve, id, &[]).unwrap();
        assert_eq!(printer.output.to_string(), read_back(CLOCKS));
    }

    /// `text` as the printer writes it back after encoding.
    fn read_back(text: &str) -> String {
        let bytes = encode_wit(text, &[]);
        let wit_component::DecodedWasm::WitPackage(resolve, id) =
            wit_component::decode(&bytes).unwrap()
        else {
            panic!("a WIT package");
        };
        let mut printer = wit_component::WitPrinter::default();
        printer.print(&resolve, id, &[]).unwrap();
        printer.output.to_string()
    }
}
