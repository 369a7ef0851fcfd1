//! What the speed of `wasm` rests on, checked functionally: the local cache (re-pull without
//! blob requests, `--offline`, two processes at once), re-push and cross-repository mounts
//! without uploads, several references per invocation, and bounded memory of a large pull.

use crate::support::component::component_of_size_seeded;
use crate::support::component::hello_wasm;
use crate::support::{Registry, Sandbox, shared_anonymous, unique_repo};

fn blob_gets(registry: &Registry, repo: &str) -> usize {
    registry.count("GET", &format!("/v2/{repo}/blobs/"))
}

#[test]
fn a_re_pull_of_an_unchanged_reference_sends_no_blob_request() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("cache/repull");
    let reference = registry.reference(&repo, "1");
    let file = sandbox.write_file("work/c.wasm", component_of_size_seeded(2 << 20, 11));
    sandbox.push_ok(&reference, &file);

    sandbox.pull_ok(&reference, "a.wasm");
    assert_eq!(
        blob_gets(registry, &repo),
        1,
        "first pull downloads the layer"
    );
    let manifests = registry.count("GET", &format!("/v2/{repo}/manifests/"));

    let again = sandbox
        .wasm()
        .args(["pull", &reference, "-o", "b.wasm", "-v"])
        .run();
    again.assert_success();
    assert_eq!(
        blob_gets(registry, &repo),
        1,
        "no blob request the second time"
    );
    assert_eq!(
        registry.count("GET", &format!("/v2/{repo}/manifests/")),
        manifests + 1,
        "one manifest request"
    );
    again.assert_stderr_contains("layer served from the cache");
    assert_eq!(
        sandbox.read_file("work/b.wasm"),
        sandbox.read_file("work/c.wasm")
    );

    // `self state` shows the cache; `self clean` empties it.
    let state = sandbox.wasm().args(["self", "state", "--json"]).run();
    state.assert_success();
    let state: serde_json::Value = serde_json::from_str(&state.stdout).unwrap();
    assert_eq!(
        state["cache"]["root"],
        sandbox.cache_home().join("wasm").display().to_string()
    );
    assert_eq!(state["cache"]["blobs"], 2, "manifest and layer");
    assert!(state["cache"]["bytes"].as_u64().unwrap() > 2 << 20);
    sandbox
        .wasm()
        .args(["self", "clean"])
        .run()
        .assert_success();
    let state = sandbox.wasm().args(["self", "state", "--json"]).run();
    let state: serde_json::Value = serde_json::from_str(&state.stdout).unwrap();
    assert_eq!(state["cache"]["blobs"], 0);
}

#[test]
fn offline_pulls_come_from_the_cache_or_fail_clearly() {
    let registry = Registry::anonymous_http();
    let sandbox = Sandbox::new();
    let reference = registry.reference("offline/app", "1");
    sandbox.push_ok(&reference, hello_wasm());
    sandbox.pull_ok(&reference, "first.wasm");
    let pinned = {
        let out = sandbox
            .wasm()
            .args(["pull", &reference, "--json", "-o", "x.wasm"])
            .run();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        format!(
            "{}/offline/app@{}",
            registry.host,
            v["digest"].as_str().unwrap()
        )
    };
    let host = registry.host.clone();
    drop(registry); // no network from here on

    let out = sandbox
        .wasm()
        .args(["pull", &reference, "--offline", "-o", "off.wasm"])
        .run();
    out.assert_success();
    assert_eq!(
        sandbox.read_file("work/off.wasm"),
        std::fs::read(hello_wasm()).unwrap()
    );
    sandbox
        .wasm()
        .args(["pull", &pinned, "--offline", "-o", "pinned.wasm"])
        .run()
        .assert_success();

    let out = sandbox
        .wasm()
        .args([
            "pull",
            &format!("{host}/offline/app:2"),
            "--offline",
            "-o",
            "none.wasm",
        ])
        .run()
        .normalized(&sandbox);
    out.assert_status(1);
    assert_eq!(
        out.stderr,
        "error: cannot pull 127.0.0.1:[PORT]/offline/app:2 offline: the tag `2` has not been pulled before; pull it once with network access\n"
    );
    assert!(!sandbox.path("work/none.wasm").exists());
}

#[test]
fn two_processes_share_the_cache() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("cache/concurrent");
    let reference = registry.reference(&repo, "1");
    let bytes = component_of_size_seeded(8 << 20, 21);
    let file = sandbox.write_file("work/big.wasm", &bytes);
    sandbox.push_ok(&reference, &file);

    let run = |out: &'static str| {
        let cmd = sandbox.wasm().args(["pull", &reference, "-o", out]);
        move || cmd.run()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(run("one.wasm"));
        let b = s.spawn(run("two.wasm"));
        (a.join().unwrap(), b.join().unwrap())
    });
    a.assert_success();
    b.assert_success();
    assert!(sandbox.read_file("work/one.wasm") == bytes);
    assert!(sandbox.read_file("work/two.wasm") == bytes);
    // The cache holds whole, verified blobs only, and nothing is left in its tmp dir.
    let tmp = sandbox.cache_home().join("wasm/tmp");
    let leftovers = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0);
    // A third pull is served from the cache.
    let before = blob_gets(registry, &repo);
    sandbox.pull_ok(&reference, "three.wasm");
    assert_eq!(blob_gets(registry, &repo), before);
}

#[test]
fn several_references_per_invocation() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let base = unique_repo("batch");
    let mut args = vec!["push".to_string()];
    let mut refs = Vec::new();
    for i in 0..5 {
        let file = sandbox.write_file(
            format!("work/in/c{i}.wasm"),
            component_of_size_seeded(64 << 10, 100 + i),
        );
        let reference = registry.reference(&format!("{base}/c{i}"), "1");
        args.push(reference.clone());
        args.push(file.display().to_string());
        refs.push(reference);
    }
    let push = sandbox.wasm().args(&args).args(["--jobs", "3"]).run();
    push.assert_success();
    assert_eq!(push.stdout.lines().count(), 5, "{}", push.stdout);

    std::fs::create_dir(sandbox.path("work/out")).unwrap();
    let pull = sandbox
        .wasm()
        .arg("pull")
        .args(&refs)
        .args(["-o", "out"])
        .run();
    pull.assert_success();
    for i in 0..5 {
        assert_eq!(
            sandbox.read_file(format!("work/out/c{i}.wasm")),
            sandbox.read_file(format!("work/in/c{i}.wasm"))
        );
    }
    // Two references with one file name, and an odd number of push arguments.
    let out = sandbox
        .wasm()
        .args(["pull", &refs[0], &refs[0], "-o", "out"])
        .run();
    out.assert_status(1);
    out.assert_stderr_contains("would both be written to");
    let out = sandbox
        .wasm()
        .args(["push", &refs[0], "in/c0.wasm", &refs[1]])
        .run();
    out.assert_status(1);
    assert!(
        out.stderr
            .contains("has no file: give pairs of REFERENCE FILE"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_blob_known_from_another_repository_is_mounted_not_uploaded() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let first = unique_repo("mount/first");
    let second = unique_repo("mount/second");
    let file = sandbox.write_file("work/m.wasm", component_of_size_seeded(1 << 20, 31));
    sandbox.push_ok(&registry.reference(&first, "1"), &file);
    sandbox.push_ok(&registry.reference(&second, "1"), &file);
    let requests = registry.requests();
    let mounts = requests
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.uri.contains(&format!("/v2/{second}/blobs/uploads/?"))
                && r.uri.contains("mount=")
        })
        .count();
    assert_eq!(mounts, 1, "{requests:?}");
    // Only the config is uploaded to the second repository (its layer was mounted).
    let puts = registry.count("PUT", &format!("/v2/{second}/blobs/uploads/"));
    assert_eq!(puts, 1, "{requests:?}");
}

#[test]
fn large_pushes_and_pulls_stay_within_bounded_memory() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("memory/big");
    let reference = registry.reference(&repo, "1");
    // 64 MiB, most of it one custom section: a reading validator would hold it all.
    let file = sandbox.write_file("work/big.wasm", component_of_size_seeded(64 << 20, 41));
    // Peak RSS of the `wasm` process itself, measured from outside.
    let push_kib =
        crate::support::max_rss_kib(sandbox.wasm().args(["push", &reference]).arg(&file));
    let pull_kib =
        crate::support::max_rss_kib(sandbox.wasm().args(["pull", &reference, "-o", "copy.wasm"]));
    // Generous for a debug build; the release targets (24 MiB, flat in the size) are measured
    // by `cargo xtask bench`.
    for (what, kib) in [("push", push_kib), ("pull", pull_kib)] {
        assert!(kib < 48 * 1024, "peak RSS {kib} KiB for a 64 MiB {what}");
    }
    assert_eq!(
        std::fs::metadata(sandbox.path("work/copy.wasm"))
            .unwrap()
            .len(),
        64 << 20
    );
}

#[test]
fn a_re_push_of_the_same_file_is_not_validated_again() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("cache/verdict");
    let file = sandbox.write_file("work/c.wasm", component_of_size_seeded(256 << 10, 12));
    let reference = registry.reference(&repo, "1");
    let first = sandbox
        .wasm()
        .args(["push", &reference, "-v"])
        .arg(&file)
        .run();
    first.assert_success();
    assert!(
        !first.stderr.contains("not validating again"),
        "{}",
        first.stderr
    );
    let again = sandbox
        .wasm()
        .args(["push", &registry.reference(&repo, "2"), "-v"])
        .arg(&file)
        .run();
    again.assert_success();
    assert!(
        again.stderr.contains("not validating again"),
        "{}",
        again.stderr
    );
    // Other bytes are validated, whatever the cache says about the first file.
    let other = sandbox.write_file("work/d.wasm", b"\0asm\x0d\0\x01\0broken");
    let out = sandbox
        .wasm()
        .args(["push", &registry.reference(&repo, "3")])
        .arg(&other)
        .run();
    out.assert_status(1);
}
