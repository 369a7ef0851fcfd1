//! `wasm copy` between real registries and OCI image layouts: two registries with different
//! credentials (htpasswd over TLS, token auth), mounts within a registry counted in its access
//! log, a copy broken by the fault proxy and repeated, layouts and archives round-tripped,
//! skopeo reading and writing the same layouts, and every bad layout input with its message.

use serde_json::Value;

use crate::support::component::{component_of_size_seeded, hello_wasm};
use crate::support::fault_proxy::{Fault, FaultProxy};
use crate::support::{
    ALICE_PASSWORD, ALICE_USER, CAROL_PASSWORD, CAROL_USER, MANIFEST_ACCEPT, Registry, Sandbox,
    basic_auth, docker_auths, require_tool, sha256_digest, shared_anonymous, shared_basic_tls,
    shared_token, unique_repo,
};

/// The manifest bytes of `repo:reference` straight from `registry`, with `auth` (or none).
fn raw_manifest(registry: &Registry, repo: &str, reference: &str, auth: &str) -> Vec<u8> {
    let mut headers = vec![("Accept", MANIFEST_ACCEPT)];
    if !auth.is_empty() {
        headers.push(("Authorization", auth));
    }
    let r = registry.request(
        "GET",
        &format!("/v2/{repo}/manifests/{reference}"),
        &headers,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.body
}

/// The status of `HEAD /v2/{repo}/manifests/{tag}` on an anonymous registry.
fn manifest_status(registry: &Registry, repo: &str, tag: &str) -> u16 {
    registry
        .request(
            "HEAD",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Accept", MANIFEST_ACCEPT)],
            None,
        )
        .status
}

/// Runs `wasm copy ARGS --json` and returns its JSON summary.
fn copy_json(sandbox: &Sandbox, args: &[&str]) -> Value {
    let out = sandbox.wasm().arg("copy").args(args).arg("--json").run();
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn copies_between_two_registries_with_two_identities_by_tag_and_by_digest() {
    let basic = shared_basic_tls();
    let (server, token) = shared_token();
    // alice for the TLS registry, carol for the token registry: one Docker config, two entries.
    let sandbox = Sandbox::for_registry(basic, "");
    sandbox.write_docker_config(&docker_auths(&[
        (&basic.host, ALICE_USER, ALICE_PASSWORD),
        (&token.host, CAROL_USER, CAROL_PASSWORD),
    ]));
    let repo = unique_repo("copy/two-registries");
    sandbox.push_ok(&basic.reference(&repo, "1.0.0"), hello_wasm());
    let alice = basic_auth(ALICE_USER, ALICE_PASSWORD);
    let source_bytes = raw_manifest(basic, &repo, "1.0.0", &alice);

    let summary = copy_json(
        &sandbox,
        &[
            &basic.reference(&repo, "1.0.0"),
            &token.reference(&repo, "1.0.0"),
        ],
    );
    assert_eq!(summary["digest"], sha256_digest(&source_bytes));
    assert_eq!(summary["blobs_copied"], 2);
    assert_eq!(summary["manifests_copied"], 1);
    let bearer = format!(
        "Bearer {}",
        server.mint_token(Some(CAROL_USER), &[(&repo, &["pull"])])
    );
    // Byte for byte: the same digest at both registries.
    assert_eq!(raw_manifest(token, &repo, "1.0.0", &bearer), source_bytes);

    // Back by digest into another repository: nothing but the manifest by digest, no tag.
    let back = unique_repo("copy/by-digest");
    let digest = sha256_digest(&source_bytes);
    let pinned = format!("{}/{repo}@{digest}", token.host);
    let summary = copy_json(&sandbox, &[&pinned, &format!("{}/{back}", basic.host)]);
    assert_eq!(summary["digest"], digest.as_str());
    assert_eq!(raw_manifest(basic, &back, &digest, &alice), source_bytes);

    // Again: the tag points at the digest already; one HEAD, nothing sent.
    let again = copy_json(
        &sandbox,
        &[
            &basic.reference(&repo, "1.0.0"),
            &token.reference(&repo, "1.0.0"),
        ],
    );
    assert_eq!(again["manifests_present"], 1, "{again}");
    assert_eq!(again["manifests_copied"], 0, "{again}");
    assert_eq!(again["blobs_copied"], 0, "{again}");
}

#[test]
fn a_copy_within_one_registry_mounts_the_blobs() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let from = unique_repo("copy/mount-from");
    let to = unique_repo("copy/mount-to");
    sandbox.push_ok(&registry.reference(&from, "1"), hello_wasm());
    let summary = copy_json(
        &sandbox,
        &[
            &registry.reference(&from, "1"),
            &registry.reference(&to, "1"),
        ],
    );
    assert_eq!(summary["blobs_mounted"], 2);
    assert_eq!(summary["blobs_copied"], 0);
    assert_eq!(
        registry.count("POST", &format!("/v2/{to}/blobs/uploads/?mount=")),
        2
    );
    assert_eq!(
        registry.count("PUT", &format!("/v2/{to}/blobs/uploads/")),
        0
    );
    assert_eq!(
        raw_manifest(registry, &to, "1", ""),
        raw_manifest(registry, &from, "1", "")
    );

    // Several tags at once, into a registry: concurrently, one summary each, in order.
    sandbox.push_ok(&registry.reference(&from, "2"), hello_wasm());
    let tagged = unique_repo("copy/mount-tags");
    let copies = copy_json(
        &sandbox,
        &[
            &format!("{}/{from}", registry.host),
            &format!("{}/{tagged}", registry.host),
            "--tags",
            "1,2",
        ],
    );
    let targets: Vec<&str> = copies
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            registry.reference(&tagged, "1"),
            registry.reference(&tagged, "2")
        ]
    );
    assert_eq!(
        raw_manifest(registry, &tagged, "2", ""),
        raw_manifest(registry, &from, "2", "")
    );
}

#[test]
fn an_interrupted_copy_leaves_no_tag_and_a_repeat_sends_only_what_is_missing() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("copy/interrupted");
    let bytes = component_of_size_seeded(512 << 10, 13);
    let file = sandbox.write_file("work/big.wasm", &bytes);
    let layer = sha256_digest(&bytes);
    // The source is a layout; the target is behind a proxy that refuses the layer's upload.
    sandbox.push_ok(&registry.reference(&repo, "1"), &file);
    copy_json(&sandbox, &[&registry.reference(&repo, "1"), "oci:layout"]);
    let proxy = FaultProxy::start(
        &registry.host,
        Fault::Status {
            status: 503,
            times: 100,
            retry_after: None,
        }
        // The query has the digest percent-encoded: match its hex part.
        .on(&["PUT"], &layer[7..]),
    );
    let target = unique_repo("copy/interrupted-target");
    let out = sandbox
        .wasm()
        .args([
            "copy",
            "oci:layout:1",
            &proxy.reference(&target, "1"),
            "--retries",
            "1",
        ])
        .run();
    out.assert_failure();
    // No tag points at the missing layer.
    assert_eq!(manifest_status(registry, &target, "1"), 404);

    proxy.set(Fault::None);
    let summary = copy_json(&sandbox, &["oci:layout:1", &proxy.reference(&target, "1")]);
    assert_eq!(summary["blobs_present"], 1, "{summary}");
    assert_eq!(summary["blobs_copied"], 1, "{summary}");
    assert_eq!(
        raw_manifest(registry, &target, "1", ""),
        raw_manifest(registry, &repo, "1", "")
    );
}

#[test]
fn layouts_and_archives_round_trip_with_the_digest_unchanged() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("copy/layouts");
    sandbox.push_ok(&registry.reference(&repo, "1.0.0"), hello_wasm());
    sandbox.push_ok(&registry.reference(&repo, "1.1.0"), hello_wasm());
    let original = raw_manifest(registry, &repo, "1.0.0", "");

    // Two tags by requirement into a directory, then into an archive, then back.
    let dir = format!("{}/{repo}", registry.host);
    let copies = copy_json(&sandbox, &[&dir, "oci:lay", "--tags", "^1"]);
    assert_eq!(copies.as_array().map(Vec::len), Some(2), "{copies}");
    let index: Value = serde_json::from_slice(&sandbox.read_file("work/lay/index.json")).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(names, ["1.0.0", "1.1.0"]);
    assert_eq!(
        String::from_utf8(sandbox.read_file("work/lay/oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    copy_json(&sandbox, &["oci:lay:1.0.0", "oci-archive:deps.tar"]);
    let back = unique_repo("copy/layouts-back");
    let summary = copy_json(
        &sandbox,
        &[
            "oci-archive:deps.tar:1.0.0",
            &registry.reference(&back, "1.0.0"),
        ],
    );
    assert_eq!(summary["digest"], sha256_digest(&original));
    assert_eq!(raw_manifest(registry, &back, "1.0.0", ""), original);
    // A copy into the archive again keeps what it had.
    copy_json(&sandbox, &["oci:lay:1.1.0", "oci-archive:deps.tar"]);
    let tags = sandbox.wasm().args(["tags", "oci-archive:deps.tar"]).run();
    tags.assert_success();
    assert_eq!(tags.stdout, "1.0.0\n1.1.0\n");
}

#[test]
fn bad_layouts_are_refused_with_exact_messages() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("copy/bad-layouts");
    sandbox.push_ok(&registry.reference(&repo, "1"), hello_wasm());
    copy_json(&sandbox, &[&registry.reference(&repo, "1"), "oci:good"]);
    let target = registry.reference(&unique_repo("copy/bad-target"), "1");
    let fails = |source: &str| {
        let out = sandbox
            .wasm()
            .args(["copy", source, &target])
            .run()
            .normalized(&sandbox);
        out.assert_status(1);
        out.stderr
    };

    std::fs::create_dir_all(sandbox.path("work/empty")).unwrap();
    assert_eq!(
        fails("oci:empty:1"),
        "error: empty is not an OCI image layout: it has no `oci-layout` file; give the layout's \
         root directory (the one holding `oci-layout`, `index.json` and `blobs/`)\n"
    );
    sandbox.write_file("work/notes.tar", b"not a tar file\n");
    assert_eq!(
        fails("oci-archive:notes.tar:1"),
        "error: cannot unpack the archive notes.tar\n  caused by: failed to iterate over archive\n  \
         caused by: failed to read entire block\n"
    );
    // A tar of something else.
    std::fs::write(sandbox.path("work/other.tar"), tar_of_one_file()).unwrap();
    assert_eq!(
        fails("oci-archive:other.tar:1"),
        "error: other.tar is not an OCI image layout archive: it has no `oci-layout` file at its \
         top; make one with `wasm copy REF oci-archive:FILE` (or `skopeo copy`)\n"
    );
    assert_eq!(
        fails("oci:good:2"),
        "error: oci:good has no tag `2` (its tags: 1)\n"
    );
    assert_eq!(
        fails("oci:good"),
        "error: oci:good names no tag or digest; add `:TAG` or `@DIGEST`\n"
    );
    assert_eq!(
        fails("oci::1"),
        "error: invalid layout location `oci::1`: it names no path; write `oci:DIR[:TAG|@DIGEST]` \
         or `oci-archive:FILE.tar[:TAG|@DIGEST]`\n"
    );
    // Corrupt the layer (same size, other bytes): refused by its digest, and the target gets
    // no tag.
    let manifest: Value = serde_json::from_slice(&raw_manifest(registry, &repo, "1", "")).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let blob = sandbox.path(format!("work/good/blobs/sha256/{}", &layer[7..]));
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let stderr = fails("oci:good:1");
    assert_eq!(
        stderr,
        format!(
            "error: the blob good/blobs/sha256/{} is corrupt: its content has digest \
             sha256:[DIGEST]; copy the artifact into the layout again\n",
            &layer[7..]
        )
    );
    assert_eq!(manifest_status(registry, &target_repo(&target), "1"), 404);
}

/// A tar archive holding one file, `readme`, made by hand (a 512-byte header, the content
/// padded to 512 bytes, two empty blocks), so that the test needs no `tar` program.
fn tar_of_one_file() -> Vec<u8> {
    let content = b"not a layout\n";
    let mut header = [0u8; 512];
    header[..6].copy_from_slice(b"readme");
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    header[124..135].copy_from_slice(format!("{:011o}", content.len()).as_bytes());
    header[136..147].copy_from_slice(b"00000000000");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut tar = header.to_vec();
    let mut block = [0u8; 512];
    block[..content.len()].copy_from_slice(content);
    tar.extend_from_slice(&block);
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}

fn target_repo(reference: &str) -> String {
    let (_, rest) = reference.split_once('/').unwrap();
    rest.rsplit_once(':').unwrap().0.to_owned()
}

/// skopeo in a sandboxed HOME, with no signature policy to consult.
fn skopeo(sandbox: &Sandbox, args: &[&str]) -> Vec<u8> {
    let bin = require_tool("skopeo", "skopeo");
    let out = std::process::Command::new(bin)
        .arg("--insecure-policy")
        .args(args)
        .current_dir(sandbox.work_dir())
        .env("HOME", sandbox.home())
        .env("XDG_RUNTIME_DIR", sandbox.runtime_dir())
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn skopeo_reads_the_layouts_wasm_writes_and_the_reverse() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("copy/skopeo");
    sandbox.push_ok(&registry.reference(&repo, "1"), hello_wasm());
    let original = raw_manifest(registry, &repo, "1", "");
    let docker = |repo: &str| format!("docker://{}/{repo}:1", registry.host);

    // skopeo writes a layout; wasm copies it to the registry.
    skopeo(
        &sandbox,
        &[
            "copy",
            "--src-tls-verify=false",
            &docker(&repo),
            "oci:by-skopeo:1",
        ],
    );
    let from_skopeo = unique_repo("copy/from-skopeo");
    copy_json(
        &sandbox,
        &["oci:by-skopeo:1", &registry.reference(&from_skopeo, "1")],
    );
    assert_eq!(raw_manifest(registry, &from_skopeo, "1", ""), original);

    // wasm writes a layout and an archive; skopeo copies both to the registry.
    copy_json(
        &sandbox,
        &[&registry.reference(&repo, "1"), "oci:by-wasm:1"],
    );
    copy_json(&sandbox, &["oci:by-wasm:1", "oci-archive:by-wasm.tar:1"]);
    let raw = skopeo(&sandbox, &["inspect", "--raw", "oci:by-wasm:1"]);
    assert_eq!(raw, original);
    for (source, repo) in [
        ("oci:by-wasm:1", unique_repo("copy/to-skopeo")),
        (
            "oci-archive:by-wasm.tar:1",
            unique_repo("copy/to-skopeo-archive"),
        ),
    ] {
        skopeo(
            &sandbox,
            &["copy", "--dest-tls-verify=false", source, &docker(&repo)],
        );
        let raw = skopeo(
            &sandbox,
            &["inspect", "--raw", "--tls-verify=false", &docker(&repo)],
        );
        assert_eq!(raw, original, "{source}");
    }
}

#[test]
fn push_pull_inspect_and_tags_work_on_layouts_as_on_registries() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let original = std::fs::read(hello_wasm()).unwrap();
    for layout in ["oci:lay", "oci-archive:lay.tar"] {
        let push = sandbox
            .wasm()
            .args(["push", &format!("{layout}:1.0.0")])
            .arg(hello_wasm())
            .run();
        push.assert_success();
        let pinned = push.stdout.trim().to_owned();
        let digest = pinned.rsplit_once('@').unwrap().1.to_owned();
        assert_eq!(pinned, format!("{layout}@{digest}"));

        let tags = sandbox.wasm().args(["tags", layout]).run();
        tags.assert_success();
        assert_eq!(tags.stdout, "1.0.0\n");

        let inspect = sandbox
            .wasm()
            .args(["inspect", &format!("{layout}:1.0.0"), "--json"])
            .run();
        inspect.assert_success();
        let json: Value = serde_json::from_str(&inspect.stdout).unwrap();
        assert_eq!(json["manifest_digest"], digest.as_str());
        assert_eq!(json["wasm"]["digest"], sha256_digest(&original));

        let pull = sandbox
            .wasm()
            .args(["pull", &pinned, "-o", "out.wasm"])
            .run();
        pull.assert_success();
        assert_eq!(sandbox.read_file("work/out.wasm"), original);
        std::fs::remove_file(sandbox.path("work/out.wasm")).unwrap();

        // What was pushed into the layout is what a registry gets.
        let repo = unique_repo("copy/pushed-to-layout");
        copy_json(
            &sandbox,
            &[
                &format!("{layout}:1.0.0"),
                &registry.reference(&repo, "1.0.0"),
            ],
        );
        assert_eq!(
            sha256_digest(&raw_manifest(registry, &repo, "1.0.0", "")),
            digest
        );
    }
}

#[test]
fn a_locked_project_installs_from_an_archive_with_networking_refused() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let prefix = format!("{}/{}", registry.host, unique_repo("air-gap"));
    let app = component_of_size_seeded(700, 31);
    let lib = component_of_size_seeded(900, 32);
    for (reference, bytes) in [
        (format!("{prefix}/acme/app:1.2.0"), &app),
        (format!("{prefix}/acme/lib:0.3.1"), &lib),
    ] {
        let file = sandbox.write_file("publish/c.wasm", bytes);
        sandbox.push_ok(&reference, &file);
    }
    sandbox.write_file(
        "work/wasm.toml",
        format!(
            "[dependencies]\n\"acme:app\" = \"1\"\n\"acme:lib\" = \"0.3\"\n\
             [namespaces]\nacme = \"{prefix}\"\n"
        ),
    );
    sandbox.wasm().arg("install").run().assert_success();
    let copies = copy_json(&sandbox, &["--lock", "wasm.lock", "oci-archive:deps.tar"]);
    assert_eq!(copies.as_array().map(Vec::len), Some(2), "{copies}");

    // Across the air gap: no vendored files, no cache, no network.
    std::fs::remove_dir_all(sandbox.path("work/vendor")).unwrap();
    std::fs::remove_dir_all(sandbox.cache_home()).unwrap();
    let refused = sandbox.wasm().arg("install").without_network().run();
    refused.assert_failure();
    let out = sandbox
        .wasm()
        .args(["install", "--from", "oci-archive:deps.tar"])
        .without_network()
        .run();
    out.assert_success();
    assert_eq!(sandbox.read_file("work/vendor/wasm/acme/app.wasm"), app);
    assert_eq!(sandbox.read_file("work/vendor/wasm/acme/lib.wasm"), lib);
    assert!(
        out.stderr
            .contains("installed from oci-archive:deps.tar by the digests of wasm.lock"),
        "{}",
        out.stderr
    );

    // An archive without a locked package says which is missing.
    std::fs::remove_dir_all(sandbox.path("work/vendor")).unwrap();
    let lone = unique_repo("air-gap/lone");
    sandbox.push_ok(&registry.reference(&lone, "1"), hello_wasm());
    copy_json(
        &sandbox,
        &[&registry.reference(&lone, "1"), "oci-archive:other.tar"],
    );
    let out = sandbox
        .wasm()
        .args(["install", "--from", "oci-archive:other.tar"])
        .without_network()
        .run()
        .normalized(&sandbox);
    out.assert_failure();
    assert!(
        out.stderr
            .contains("oci-archive:other.tar lacks the blob sha256:[DIGEST]"),
        "{}",
        out.stderr
    );
    // Without the lock there is nothing to install from.
    std::fs::remove_file(sandbox.path("work/wasm.lock")).unwrap();
    let out = sandbox
        .wasm()
        .args(["install", "--from", "oci-archive:deps.tar"])
        .without_network()
        .run();
    out.assert_status(1);
    assert_eq!(
        out.stderr,
        "error: --from installs exactly what wasm.lock pins, but wasm.lock is missing:\n  - \
         `acme:app` is not in wasm.lock\n  - `acme:lib` is not in wasm.lock\nrun `wasm install` \
         where the registries are reachable, then `wasm copy --lock wasm.lock` into the layout \
         again\n"
    );
}

#[test]
fn a_source_or_target_that_breaks_or_stalls_midway_is_tried_again_and_the_copy_completes() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("copy/flaky-source");
    let bytes = component_of_size_seeded(512 << 10, 17);
    let layer = sha256_digest(&bytes);
    let file = sandbox.write_file("work/big.wasm", &bytes);
    sandbox.push_ok(&registry.reference(&repo, "1"), &file);
    for (fault, target) in [
        (
            Fault::DropAfter {
                bytes: 64 << 10,
                times: 1,
            },
            "oci:broken",
        ),
        (
            Fault::Stall {
                after_bytes: 64 << 10,
                times: 1,
            },
            "oci:stalled",
        ),
    ] {
        let proxy = FaultProxy::start(
            &registry.host,
            fault.on(&["GET"], &format!("/blobs/{layer}")),
        );
        let out = sandbox
            .wasm()
            .args([
                "copy",
                &proxy.reference(&repo, "1"),
                target,
                "--timeout",
                "2",
                "-v",
            ])
            .run();
        out.assert_success();
        assert_eq!(proxy.faulted(), 1, "{target}");
        let blob = sandbox.path(format!(
            "work/{}/blobs/sha256/{}",
            &target[4..],
            &layer[7..]
        ));
        assert_eq!(std::fs::read(blob).unwrap(), bytes, "{target}");
    }

    // A target that takes the upload and then answers nothing: stalled after --timeout, and
    // the upload is made again.
    let proxy = FaultProxy::start(
        &registry.host,
        Fault::Stall {
            after_bytes: 0,
            times: 1,
        }
        .on(&["PUT"], &layer[7..]),
    );
    let target = unique_repo("copy/stalled-target");
    let started = std::time::Instant::now();
    let out = sandbox
        .wasm()
        .args([
            "copy",
            "oci:broken:1",
            &proxy.reference(&target, "1"),
            "--timeout",
            "2",
        ])
        .run();
    out.assert_success();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(proxy.faulted(), 1);
    assert_eq!(
        raw_manifest(registry, &target, "1", ""),
        raw_manifest(registry, &repo, "1", "")
    );
}
