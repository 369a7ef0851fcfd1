//! Faults and hostile registries (the matrix in docs/reliability.md): `wasm` rides out transient network faults, fails
//! clearly and in bounded time on persistent ones, refuses what a broken or hostile registry
//! sends, and never leaves a partial file, a bad cache entry or a tag on an incomplete push.
//!
//! Faults are injected by [`FaultProxy`] between `wasm` and a real registry; hostile answers
//! come from a [`HostileRegistry`]. After every failure, [`assert_nothing_written`] checks the
//! output directory and the cache.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::component::component_of_size_seeded;
use crate::support::fault_proxy::{Fault, FaultProxy};
use crate::support::hostile::{Artifact, Behaviour, HostileRegistry, RecordingListener};
use crate::support::{
    ALICE_PASSWORD, ALICE_USER, CAROL_PASSWORD, CAROL_USER, MANIFEST_ACCEPT, Output, Registry,
    Sandbox, WasmCommand, docker_auths, non_loopback_address, sha256_digest, shared_anonymous,
    shared_token, unique_repo,
};

/// A generous bound for a command that must fail in bounded time with `--timeout 2`: four
/// attempts of about 2 s each plus their backoff take about 11 s.
const BOUNDED: Duration = Duration::from_secs(20);

/// A component large enough (512 KiB) for a fault to break its transfer midway.
fn big_component(seed: u64) -> Vec<u8> {
    component_of_size_seeded(512 << 10, seed)
}

/// Pushes `bytes` as `repo:1` straight to `registry` from a sandbox of its own (so the
/// sandbox that pulls later starts with an empty cache); returns the layer digest.
fn publish(registry: &Registry, repo: &str, bytes: &[u8]) -> String {
    let publisher = Sandbox::new();
    let file = publisher.write_file("work/app.wasm", bytes);
    publisher.push_ok(&registry.reference(repo, "1"), &file);
    sha256_digest(bytes)
}

/// Runs `command` and panics unless it finishes within [`BOUNDED`].
#[track_caller]
fn run_bounded(command: WasmCommand) -> Output {
    let started = Instant::now();
    let out = command.run();
    let took = started.elapsed();
    assert!(took < BOUNDED, "took {took:?}");
    out
}

/// A sandbox with an empty `work/out/` to pull into; returns it and `work/out/app.wasm`.
fn puller() -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.work_dir().join("out")).unwrap();
    let output = sandbox.work_dir().join("out/app.wasm");
    (sandbox, output)
}

/// The status and body of `GET /v2/{repo}/manifests/{tag}`, straight from the registry.
fn manifest_status(registry: &Registry, repo: &str, tag: &str) -> (u16, String) {
    let response = registry.request(
        "GET",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Accept", MANIFEST_ACCEPT)],
        None,
    );
    (response.status, response.text())
}

/// Panics unless the tag does not exist on the registry (404 `MANIFEST_UNKNOWN`).
#[track_caller]
fn assert_no_tag(registry: &Registry, repo: &str, tag: &str) {
    let (status, body) = manifest_status(registry, repo, tag);
    assert_eq!(status, 404, "the tag exists: {body}");
    assert!(body.contains("MANIFEST_UNKNOWN"), "{body}");
}

/// Panics if a failed pull to `output` left anything behind: a file at `output`, a temporary
/// file in its directory, a cached blob that does not match its name, a cached blob for one of
/// `digests`, or anything in the cache's `tmp/`.
#[track_caller]
fn assert_nothing_written(sandbox: &Sandbox, output: &Path, digests: &[&str]) {
    assert!(!output.exists(), "{} was written", output.display());
    let dir = output.parent().expect("an output directory");
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".part") || name.starts_with(".wasm-pull-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let cache = sandbox.cache_home().join("wasm");
    let blobs = cache.join("blobs/sha256");
    if let Ok(entries) = std::fs::read_dir(&blobs) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".repos") {
                continue;
            }
            let bytes = std::fs::read(entry.path()).unwrap();
            assert_eq!(
                sha256_digest(&bytes),
                format!("sha256:{name}"),
                "the cache holds a blob that does not match its name"
            );
        }
    }
    for digest in digests {
        let hex = digest.split_once(':').map_or(*digest, |(_, hex)| hex);
        assert!(
            !blobs.join(hex).exists(),
            "the cache holds the blob {digest}"
        );
    }
    let tmp: Vec<_> = std::fs::read_dir(cache.join("tmp"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "the cache's tmp/ holds {tmp:?}");
}

/// A docker `config.json` with Basic credentials of alice for `host`.
fn alice_docker_config(host: &str) -> String {
    docker_auths(&[(host, ALICE_USER, ALICE_PASSWORD)])
}

#[test]
fn a_proxy_without_faults_changes_nothing() {
    // The harness itself: push, pull, inspect and tags through a proxy that forwards all.
    let registry = shared_anonymous();
    let repo = unique_repo("faults/clean-proxy");
    let proxy = FaultProxy::start(&registry.host, Fault::None);
    let (sandbox, output) = puller();
    let bytes = big_component(0);
    let file = sandbox.write_file("work/app.wasm", &bytes);
    let reference = proxy.reference(&repo, "1");
    sandbox.push_ok(&reference, &file);
    sandbox.pull_ok(&reference, &output);
    assert_eq!(std::fs::read(&output).unwrap(), bytes);
    sandbox
        .wasm()
        .args(["inspect", &reference])
        .run()
        .assert_success();
    let tags = sandbox
        .wasm()
        .args(["tags", &format!("{}/{repo}", proxy.host())])
        .run();
    tags.assert_success();
    assert_eq!(tags.stdout, "1\n");
    assert_eq!(proxy.faulted(), 0);
    assert!(proxy.connections() > 0);
    assert_eq!(
        proxy
            .requests_to("PUT", &format!("/v2/{repo}/manifests/1"))
            .len(),
        1
    );
}

/// Faults that go away: every command succeeds, after retries.
mod transient {
    use super::*;

    #[test]
    fn a_pull_survives_two_dropped_downloads() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/dropped-pull");
        let bytes = big_component(1);
        let layer = publish(registry, &repo, &bytes);
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::DropAfter {
                bytes: 100_000,
                times: 2,
            }
            .on(&["GET"], "/blobs/sha256:"),
        );
        let (sandbox, output) = puller();

        let out = sandbox
            .wasm()
            .args(["pull", &proxy.reference(&repo, "1"), "-o"])
            .arg(&output)
            .arg("-v")
            .run();
        out.assert_success();
        assert_eq!(std::fs::read(&output).unwrap(), bytes);
        out.assert_stderr_contains("retrying in");
        assert_eq!(proxy.faulted(), 2);
        assert!(proxy.connections() >= 3, "each cut ends its connection");
        assert_eq!(
            proxy.requests_to("GET", &format!("/blobs/{layer}")).len(),
            3,
            "two broken downloads and a whole one"
        );
        let tmp = sandbox.cache_home().join("wasm/tmp");
        let left = std::fs::read_dir(&tmp).map_or(0, |entries| entries.count());
        assert_eq!(
            left, 0,
            "the broken downloads left files in the cache's tmp/"
        );
    }

    #[test]
    fn a_pull_survives_a_connection_dropped_before_the_answer() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/dropped-manifest");
        let bytes = big_component(2);
        publish(registry, &repo, &bytes);
        // The manifest request gets no answer at all, once.
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::DropAfter { bytes: 0, times: 1 }.on(&["GET"], "/manifests/"),
        );
        let (sandbox, output) = puller();
        let out = sandbox
            .wasm()
            .args(["pull", &proxy.reference(&repo, "1"), "-v", "-o"])
            .arg(&output)
            .run();
        out.assert_success();
        assert_eq!(std::fs::read(&output).unwrap(), bytes);
        out.assert_stderr_contains("retrying in");
        assert_eq!(proxy.requests_to("GET", "/manifests/").len(), 2);
    }

    #[test]
    fn a_push_survives_503_answers() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/push-503");
        // The first two requests about the repository (not the `/v2/` probes, whose status
        // the client ignores).
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::Status {
                status: 503,
                times: 2,
                retry_after: None,
            }
            .on(&[], &format!("/v2/{repo}/")),
        );
        let sandbox = Sandbox::new();
        let file = sandbox.write_file("work/app.wasm", big_component(3));
        let out = sandbox
            .wasm()
            .args(["push", &proxy.reference(&repo, "1"), "-v"])
            .arg(&file)
            .run();
        out.assert_success();
        assert_eq!(proxy.faulted(), 2);
        assert_eq!(
            out.stderr.matches("retrying in").count(),
            2,
            "{}",
            out.stderr
        );
        assert_eq!(manifest_status(registry, &repo, "1").0, 200);
    }

    #[test]
    fn a_503_while_authenticating_is_survived() {
        // Token auth: `GET /v2/` (where the client learns the token realm) answers 503 twice.
        let (_, registry) = shared_token();
        let repo = unique_repo("faults/auth-503");
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::Status {
                status: 503,
                times: 2,
                retry_after: None,
            }
            .on_path(&["GET"], "/v2/"),
        );
        let sandbox = Sandbox::new();
        sandbox.write_docker_config(&docker_auths(&[(
            &proxy.host(),
            CAROL_USER,
            CAROL_PASSWORD,
        )]));
        let bytes = big_component(8);
        let file = sandbox.write_file("work/app.wasm", &bytes);
        let reference = proxy.reference(&repo, "1");
        sandbox
            .wasm()
            .args(["push", &reference, "-v"])
            .arg(&file)
            .run()
            .assert_success();
        assert_eq!(proxy.faulted(), 2);

        proxy.set(
            Fault::Status {
                status: 503,
                times: 2,
                retry_after: None,
            }
            .on_path(&["GET"], "/v2/"),
        );
        std::fs::create_dir_all(sandbox.work_dir().join("out")).unwrap();
        let output = sandbox.work_dir().join("out/app.wasm");
        sandbox.pull_ok(&reference, &output);
        assert_eq!(std::fs::read(&output).unwrap(), bytes);
    }

    #[test]
    fn a_push_survives_a_429_with_retry_after() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/push-429");
        // The start of the layer upload is refused once.
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::Status {
                status: 429,
                times: 1,
                retry_after: Some(1),
            }
            .on(&["POST"], "/blobs/uploads/"),
        );
        let sandbox = Sandbox::new();
        let file = sandbox.write_file("work/app.wasm", big_component(4));
        let out = sandbox
            .wasm()
            .args(["push", &proxy.reference(&repo, "1"), "-v"])
            .arg(&file)
            .run();
        out.assert_success();
        assert_eq!(proxy.faulted(), 1);
        out.assert_stderr_contains("retrying in");
        assert_eq!(manifest_status(registry, &repo, "1").0, 200);
    }

    /// The registry's `Retry-After` sets the wait before the retry; one longer than the retry
    /// budget ends the command at once, with the registry's advice.
    #[test]
    fn retry_after_is_honoured() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/retry-after");
        let bytes = big_component(3);
        publish(registry, &repo, &bytes);
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::Status {
                status: 503,
                times: 1,
                retry_after: Some(2),
            }
            .on(&["GET"], "/manifests/"),
        );
        let (sandbox, output) = puller();
        let started = Instant::now();
        let out = sandbox
            .wasm()
            .args(["pull", &proxy.reference(&repo, "1"), "-v", "-o"])
            .arg(&output)
            .run();
        out.assert_success();
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        out.assert_stderr_contains("retrying in 2.0 s");
        assert_eq!(std::fs::read(&output).unwrap(), bytes);

        proxy.set(
            Fault::Status {
                status: 429,
                times: 1,
                retry_after: Some(3600),
            }
            .on(&["GET"], "/manifests/"),
        );
        let started = Instant::now();
        let out = sandbox
            .wasm()
            .args(["pull", &proxy.reference(&repo, "1"), "-o"])
            .arg(&output)
            .run();
        out.assert_status(1);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        out.assert_stderr_contains("try again in 3600 s (it said so in Retry-After)");
        assert_eq!(proxy.faulted(), 2);
    }

    #[test]
    fn a_429_with_a_registry_error_body_is_retried() {
        // What Docker Hub answers at its rate limit: 429 with a JSON error `TOOMANYREQUESTS`.
        let registry = shared_anonymous();
        let repo = unique_repo("faults/toomanyrequests");
        let bytes = big_component(6);
        publish(registry, &repo, &bytes);
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::RegistryError {
                status: 429,
                code: "TOOMANYREQUESTS",
                times: 1,
                retry_after: None,
            }
            .on(&["GET"], "/manifests/"),
        );
        let (sandbox, output) = puller();
        let out = sandbox
            .wasm()
            .args(["pull", &proxy.reference(&repo, "1"), "-o"])
            .arg(&output)
            .run();
        out.assert_success();
        assert_eq!(std::fs::read(&output).unwrap(), bytes);
        assert_eq!(proxy.requests_to("GET", "/manifests/").len(), 2);
    }

    #[test]
    fn tags_survive_a_503() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/tags-503");
        publish(registry, &repo, &big_component(9));
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::Status {
                status: 503,
                times: 1,
                retry_after: None,
            }
            .on(&["GET"], "/tags/list"),
        );
        let sandbox = Sandbox::new();
        let out = sandbox
            .wasm()
            .args(["tags", &format!("{}/{repo}", proxy.host())])
            .run();
        out.assert_success();
        assert_eq!(out.stdout, "1\n");
    }

    #[test]
    fn inspect_survives_a_503_on_the_config() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/inspect-503");
        publish(registry, &repo, &big_component(10));
        // `inspect` reads one blob: the config.
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::Status {
                status: 503,
                times: 1,
                retry_after: None,
            }
            .on(&["GET"], "/blobs/sha256:"),
        );
        let sandbox = Sandbox::new();
        let out = sandbox
            .wasm()
            .args(["inspect", &proxy.reference(&repo, "1"), "--json"])
            .run();
        out.assert_success();
        assert_eq!(proxy.faulted(), 1);
    }

    #[test]
    fn a_push_survives_an_upload_cut_midway() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/upload-cut-once");
        // The first layer upload reaches the registry only in part; the upload starts again.
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::DropRequestAfter {
                bytes: 64 << 10,
                times: 1,
            }
            .on(&["PUT", "PATCH"], "/blobs/uploads/"),
        );
        let sandbox = Sandbox::new();
        let bytes = big_component(7);
        let file = sandbox.write_file("work/app.wasm", &bytes);
        let out = sandbox
            .wasm()
            .args(["push", &proxy.reference(&repo, "1"), "-v"])
            .arg(&file)
            .run();
        out.assert_success();
        assert_eq!(proxy.faulted(), 1);
        out.assert_stderr_contains("retrying in");
        let layer = sha256_digest(&bytes);
        let blob = registry.request("GET", &format!("/v2/{repo}/blobs/{layer}"), &[], None);
        assert_eq!(blob.status, 200);
        assert_eq!(blob.body, bytes);
    }
}

/// Faults that stay: commands fail clearly, within bounds, leaving nothing behind.
mod persistent {
    use super::*;

    #[test]
    fn a_download_dropped_every_time_fails_naming_the_registry() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/dropped-always");
        let layer = publish(registry, &repo, &big_component(11));
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::DropAfter {
                bytes: 100_000,
                times: usize::MAX,
            }
            .on(&["GET"], "/blobs/sha256:"),
        );
        let (sandbox, output) = puller();
        let out = run_bounded(
            sandbox
                .wasm()
                .args(["pull", &proxy.reference(&repo, "1"), "-o"])
                .arg(&output),
        );
        out.assert_failure();
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
        out.assert_stderr_contains(&proxy.host());
        // The default: 4 attempts.
        assert_eq!(
            proxy.requests_to("GET", &format!("/blobs/{layer}")).len(),
            4
        );
        assert_nothing_written(&sandbox, &output, &[&layer]);
    }

    #[test]
    fn an_interrupted_pull_keeps_the_old_file() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/keep-old");
        let layer = publish(registry, &repo, &big_component(12));
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::DropAfter {
                bytes: 100_000,
                times: usize::MAX,
            }
            .on(&["GET"], "/blobs/sha256:"),
        );
        let sandbox = Sandbox::new();
        let old = sandbox.write_file("work/app.wasm", b"the old file\n");
        sandbox
            .wasm()
            .args(["pull", &proxy.reference(&repo, "1"), "--retries", "2", "-o"])
            .arg(&old)
            .run()
            .assert_failure();
        assert_eq!(std::fs::read(&old).unwrap(), b"the old file\n");
        let names: Vec<String> = std::fs::read_dir(sandbox.work_dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["app.wasm"]);
        let hex = layer.trim_start_matches("sha256:");
        assert!(
            !sandbox
                .cache_home()
                .join("wasm/blobs/sha256")
                .join(hex)
                .exists()
        );
    }

    #[test]
    fn a_stalled_download_fails_within_the_timeout() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/stalled-download");
        let layer = publish(registry, &repo, &big_component(13));
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::Stall {
                after_bytes: 100_000,
                times: usize::MAX,
            }
            .on(&["GET"], "/blobs/sha256:"),
        );
        let (sandbox, output) = puller();
        let out = run_bounded(
            sandbox
                .wasm()
                .args(["pull", &proxy.reference(&repo, "1"), "--timeout", "2", "-o"])
                .arg(&output)
                .timeout(Duration::from_secs(60)),
        );
        out.assert_status(4);
        out.assert_stderr_contains(&proxy.host());
        assert_nothing_written(&sandbox, &output, &[&layer]);
    }

    #[test]
    fn a_stalled_manifest_fails_within_the_timeout() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/stalled-manifest");
        let layer = publish(registry, &repo, &big_component(14));
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::Stall {
                after_bytes: 0,
                times: usize::MAX,
            }
            .on(&["GET"], "/manifests/"),
        );
        let (sandbox, output) = puller();
        let out = run_bounded(
            sandbox
                .wasm()
                .args(["pull", &proxy.reference(&repo, "1"), "-o"])
                .arg(&output)
                .env("WASM_TIMEOUT", "2")
                .timeout(Duration::from_secs(60)),
        );
        out.assert_status(4);
        out.assert_stderr_contains(&proxy.host());
        assert_nothing_written(&sandbox, &output, &[&layer]);
    }

    #[test]
    fn a_stalled_upload_fails_within_the_timeout_and_tags_nothing() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/stalled-upload");
        // The registry takes the whole upload, but its answer never comes through.
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::Stall {
                after_bytes: 0,
                times: usize::MAX,
            }
            .on(&["PUT", "PATCH"], "/blobs/uploads/"),
        );
        let sandbox = Sandbox::new();
        let file = sandbox.write_file("work/app.wasm", big_component(15));
        let out = run_bounded(
            sandbox
                .wasm()
                .args(["push", &proxy.reference(&repo, "1"), "--timeout", "2"])
                .arg(&file)
                .timeout(Duration::from_secs(60)),
        );
        out.assert_status(4);
        out.assert_stderr_contains(&proxy.host());
        assert_no_tag(registry, &repo, "1");
    }

    #[test]
    fn a_failed_upload_never_exits_0() {
        // A connection cut while the client still sends the body often fails its write with
        // EPIPE; that is a failed push, not a closed stdout. The race goes either way, about
        // half the time each on loopback, so the push is tried 16 times.
        let registry = shared_anonymous();
        let repo = unique_repo("faults/epipe");
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::DropRequestAfter {
                bytes: 1024,
                times: usize::MAX,
            }
            .on(&["PUT", "PATCH"], "/blobs/uploads/"),
        );
        let sandbox = Sandbox::new();
        let file = sandbox.write_file("work/app.wasm", component_of_size_seeded(32 << 20, 20));
        for attempt in 1..=16 {
            let out = sandbox
                .wasm()
                .args(["push", &proxy.reference(&repo, "1"), "--retries", "1"])
                .arg(&file)
                .run();
            assert!(
                out.status != 0 && out.stderr.starts_with("error: "),
                "push {attempt} failed but exited {} with stderr {:?}",
                out.status,
                out.stderr
            );
        }
        assert_no_tag(registry, &repo, "1");
    }

    #[test]
    fn persistent_503_fails_after_the_configured_attempts() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/503-always");
        let layer = publish(registry, &repo, &big_component(16));
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::Status {
                status: 503,
                times: usize::MAX,
                retry_after: None,
            }
            .on(&["GET"], "/manifests/"),
        );
        let (sandbox, output) = puller();
        let reference = proxy.reference(&repo, "1");

        let out = sandbox
            .wasm()
            .args(["pull", &reference, "--retries", "2", "-o"])
            .arg(&output)
            .run();
        out.assert_status(1);
        out.assert_stderr_contains(&format!("{} is unavailable (HTTP 503)", proxy.host()));
        assert_eq!(proxy.requests_to("GET", "/manifests/").len(), 2);
        assert_nothing_written(&sandbox, &output, &[&layer]);

        // The environment variable does the same.
        proxy.set(Fault::Status {
            status: 503,
            times: usize::MAX,
            retry_after: None,
        });
        let before = proxy.requests_to("GET", "/manifests/").len();
        let out = sandbox
            .wasm()
            .args(["pull", &reference, "-o"])
            .arg(&output)
            .env("WASM_RETRIES", "1")
            .run();
        out.assert_status(1);
        out.assert_stderr_contains("unavailable (HTTP 503)");
        assert_eq!(proxy.requests_to("GET", "/manifests/").len() - before, 1);
        assert_nothing_written(&sandbox, &output, &[&layer]);
    }

    #[test]
    fn retries_back_off_exponentially() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/backoff");
        publish(registry, &repo, &big_component(17));
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::Status {
                status: 503,
                times: usize::MAX,
                retry_after: None,
            }
            .on(&["GET"], "/manifests/"),
        );
        let (sandbox, output) = puller();
        let out = sandbox
            .wasm()
            .args(["pull", &proxy.reference(&repo, "1"), "-v", "-o"])
            .arg(&output)
            .run();
        out.assert_status(1);
        // The default: 4 attempts, each retry logged.
        let attempts = proxy.requests_to("GET", "/manifests/");
        assert_eq!(attempts.len(), 4, "{attempts:?}");
        assert_eq!(
            out.stderr.matches("retrying in").count(),
            3,
            "{}",
            out.stderr
        );
        let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].at - w[0].at).collect();
        assert!(gaps[0] >= Duration::from_millis(200), "{gaps:?}");
        assert!(
            gaps[1] > gaps[0] && gaps[2] > gaps[1],
            "the delays do not grow: {gaps:?}"
        );
    }

    #[test]
    fn an_interrupted_push_leaves_no_tag() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/interrupted-push");
        // The registry gets each layer upload whole, but the answer is cut off every time.
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::DropAfter {
                bytes: 0,
                times: usize::MAX,
            }
            .on(&["PUT", "PATCH"], "/blobs/uploads/"),
        );
        let sandbox = Sandbox::new();
        let file = sandbox.write_file("work/app.wasm", big_component(18));
        let reference = proxy.reference(&repo, "1");
        let out = sandbox.wasm().args(["push", &reference]).arg(&file).run();
        out.assert_failure();
        out.assert_stderr_contains(&proxy.host());
        assert_eq!(proxy.requests_to("PUT", "/manifests/").len(), 0);
        assert_no_tag(registry, &repo, "1");

        // Once the network is back, the same push completes.
        proxy.set(Fault::None);
        sandbox.push_ok(&reference, &file);
        assert_eq!(manifest_status(registry, &repo, "1").0, 200);
    }

    #[test]
    fn a_push_cut_mid_upload_leaves_no_tag() {
        let registry = shared_anonymous();
        let repo = unique_repo("faults/cut-push");
        let proxy = FaultProxy::start(
            &registry.host,
            Fault::DropRequestAfter {
                bytes: 64 << 10,
                times: usize::MAX,
            }
            .on(&["PUT", "PATCH"], "/blobs/uploads/"),
        );
        let sandbox = Sandbox::new();
        let bytes = big_component(19);
        let file = sandbox.write_file("work/app.wasm", &bytes);
        let out = sandbox
            .wasm()
            .args(["push", &proxy.reference(&repo, "1"), "--retries", "3"])
            .arg(&file)
            .run();
        out.assert_failure();
        out.assert_stderr_contains(&proxy.host());
        // The config uploads beside the layer (and is cut too): count the layer's uploads.
        let layer = sha256_digest(&bytes);
        let layer_query = format!("digest={}", layer.replace(':', "%3A"));
        let layer_puts = proxy
            .requests_to("PUT", "/blobs/uploads/")
            .into_iter()
            .filter(|r| r.target.contains(&layer_query))
            .count();
        assert_eq!(layer_puts, 3, "each attempt restarts the upload");
        assert_no_tag(registry, &repo, "1");
        let blob = registry.request("HEAD", &format!("/v2/{repo}/blobs/{layer}"), &[], None);
        assert_eq!(blob.status, 404, "a cut upload must not complete the blob");
    }
}

/// A registry that sends what it must not: `wasm` refuses with a clear error, writes nothing.
mod hostile {
    use super::*;

    /// Pulls the hostile registry's artifact to `work/out/app.wasm` with `args` added.
    fn pull(hostile: &HostileRegistry, args: &[&str]) -> (Sandbox, PathBuf, Output, Duration) {
        let (sandbox, output) = puller();
        let started = Instant::now();
        let out = sandbox
            .wasm()
            .args(["pull", &hostile.reference(), "-o"])
            .arg(&output)
            .args(args)
            .timeout(Duration::from_secs(120))
            .run();
        (sandbox, output, out, started.elapsed())
    }

    /// `HOST sent an invalid response: ` for the hostile registry.
    fn invalid(hostile: &HostileRegistry) -> String {
        format!("error: {} sent an invalid response: ", hostile.host())
    }

    #[test]
    fn a_correct_artifact_pulls_and_inspects() {
        // The harness itself: with nothing broken, the hostile registry's artifact is fine.
        let hostile = HostileRegistry::start(Artifact::wasm("hostile/ok", "1"), &[]);
        let (sandbox, output, out, _) = pull(&hostile, &[]);
        out.assert_success();
        assert_eq!(
            std::fs::read(&output).unwrap(),
            hostile.artifact().component
        );
        let inspect = sandbox
            .wasm()
            .args(["inspect", &hostile.reference(), "--json"])
            .run();
        inspect.assert_success();
        let json: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
        assert_eq!(
            json["manifest_digest"].as_str(),
            Some(hostile.artifact().manifest_digest.as_str()),
            "{json}"
        );
        let tags = sandbox
            .wasm()
            .args(["tags", &format!("{}/hostile/ok", hostile.host())])
            .run();
        tags.assert_success();
        assert_eq!(tags.stdout, "1\n");
    }

    #[test]
    fn a_layer_that_does_not_match_its_digest_is_refused() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/corrupt", "1").with_corrupt_layer(),
            &[],
        );
        let artifact = hostile.artifact();
        let (sandbox, output, out, _) = pull(&hostile, &[]);
        out.assert_status(1);
        out.assert_stderr_contains(&format!(
            "{}the layer of {} does not match its digest",
            invalid(&hostile),
            hostile.reference()
        ));
        let served = sha256_digest(&artifact.layer_bytes);
        assert_nothing_written(&sandbox, &output, &[&artifact.layer_digest, &served]);
        // Bad content is not a transient fault: no second download.
        let gets = hostile
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
            .count();
        assert_eq!(gets, 1);

        // Over an existing file: the file stays as it was.
        let old = sandbox.write_file("work/old.wasm", b"the old file\n");
        sandbox
            .wasm()
            .args(["pull", &hostile.reference(), "-o"])
            .arg(&old)
            .run()
            .assert_status(1);
        assert_eq!(std::fs::read(&old).unwrap(), b"the old file\n");
    }

    #[test]
    fn a_layer_longer_than_its_size_is_refused() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/long", "1").with_layer_longer_than_declared(4096),
            &[],
        );
        let artifact = hostile.artifact();
        let (sandbox, output, out, _) = pull(&hostile, &[]);
        out.assert_status(1);
        out.assert_stderr_contains(&format!(
            "{}the layer of {} is longer than its declared size of {} bytes",
            invalid(&hostile),
            hostile.reference(),
            artifact.layer_size
        ));
        assert_nothing_written(&sandbox, &output, &[&artifact.layer_digest]);
    }

    #[test]
    fn a_manifest_over_4_mib_is_refused() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/big-manifest", "1").with_manifest_of_at_least((4 << 20) + 1024),
            &[],
        );
        let artifact = hostile.artifact();
        let (sandbox, output, out, _) = pull(&hostile, &[]);
        out.assert_status(1);
        out.assert_stderr_contains(&format!(
            "{}the manifest of {} is {} bytes, more than the 4194304 allowed",
            invalid(&hostile),
            hostile.reference(),
            artifact.manifest.len()
        ));
        assert_nothing_written(
            &sandbox,
            &output,
            &[&artifact.manifest_digest, &artifact.layer_digest],
        );
    }

    /// A manifest that declares 64 MiB is refused from its `Content-Length`: its body is not
    /// read (the server records how much of it the client took).
    #[test]
    fn a_huge_manifest_is_refused_without_being_read() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/huge-manifest", "1"),
            &[Behaviour::HugeManifest { bytes: 64 << 20 }],
        );
        let (sandbox, output, out, _) = pull(&hostile, &[]);
        out.assert_status(1);
        out.assert_stderr_contains(&format!(
            "{}the manifest of {} is 67108864 bytes, more than the 4194304 allowed",
            invalid(&hostile),
            hostile.reference()
        ));
        let served: u64 = hostile
            .requests()
            .iter()
            .filter(|r| r.path.contains("/manifests/") && r.method == "GET")
            .map(|r| r.body_bytes)
            .sum();
        assert!(
            served < 4 << 20,
            "the client took {served} bytes of the manifest"
        );
        assert_nothing_written(&sandbox, &output, &[]);
    }

    #[test]
    fn a_malformed_manifest_is_refused() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/bad-manifest", "1").with_malformed_manifest(),
            &[],
        );
        let artifact = hostile.artifact();
        let (sandbox, output, out, _) = pull(&hostile, &[]);
        out.assert_status(1);
        out.assert_stderr_contains(&format!(
            "{}the manifest of {} is not valid JSON: ",
            invalid(&hostile),
            hostile.reference()
        ));
        assert_nothing_written(
            &sandbox,
            &output,
            &[&artifact.manifest_digest, &artifact.layer_digest],
        );
    }

    #[test]
    fn a_malformed_config_is_refused_by_inspect() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/bad-config", "1").with_malformed_config(),
            &[],
        );
        let sandbox = Sandbox::new();
        let out = sandbox.wasm().args(["inspect", &hostile.reference()]).run();
        out.assert_status(1);
        out.assert_stderr_contains(&format!(
            "{}the config of {} is not a Wasm config: ",
            invalid(&hostile),
            hostile.reference()
        ));
        assert_eq!(out.stdout, "");
    }

    #[test]
    fn an_unknown_digest_algorithm_is_refused() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/md5", "1")
                .with_layer_digest("md5:0123456789abcdef0123456789abcdef"),
            &[],
        );
        let artifact = hostile.artifact();
        let (sandbox, output, out, _) = pull(&hostile, &[]);
        out.assert_status(1);
        out.assert_stderr_contains(&format!(
            "{}the layer of {}: digest algorithm `md5` is not supported: use `sha256` or \
                 `sha512`",
            invalid(&hostile),
            hostile.reference()
        ));
        assert_nothing_written(&sandbox, &output, &[&sha256_digest(&artifact.layer_bytes)]);
        assert!(
            !hostile
                .requests()
                .iter()
                .any(|r| r.path.contains("/blobs/")),
            "the layer was requested"
        );
    }

    #[test]
    fn a_redirected_download_leaves_the_credentials_behind() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/redirect", "1"),
            &[
                Behaviour::RequireBasic {
                    user: ALICE_USER.into(),
                    password: ALICE_PASSWORD.into(),
                },
                Behaviour::RedirectLayer,
            ],
        );
        let artifact = hostile.artifact();
        let (sandbox, output) = puller();
        sandbox.write_docker_config(&alice_docker_config(&hostile.host()));
        let out = sandbox
            .wasm()
            .args(["pull", &hostile.reference(), "-o"])
            .arg(&output)
            .run();
        out.assert_success();
        assert_eq!(std::fs::read(&output).unwrap(), artifact.component);

        let layer_gets: Vec<_> = hostile
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.contains(&artifact.layer_digest))
            .collect();
        assert!(!layer_gets.is_empty());
        assert!(
            layer_gets
                .iter()
                .all(|r| r.authorization && r.status == 307),
            "the registry got the layer request with credentials and redirected it: {layer_gets:?}"
        );
        let redirected = hostile.redirected_requests();
        assert!(
            redirected
                .iter()
                .any(|r| r.method == "GET" && r.status == 200),
            "the other host served the layer: {redirected:?}"
        );
        assert!(
            redirected.iter().all(|r| !r.authorization),
            "credentials went along to the other host: {redirected:?}"
        );
    }

    #[test]
    fn credentials_never_go_to_a_plain_http_token_realm_elsewhere() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/realm", "1"),
            &[Behaviour::InsecureTokenRealm],
        );
        let (sandbox, output) = puller();
        sandbox.write_docker_config(&alice_docker_config(&hostile.host()));
        let out = sandbox
            .wasm()
            .args(["pull", &hostile.reference(), "-o"])
            .arg(&output)
            .run();
        out.assert_status(3);
        out.assert_stderr_contains(&format!(
            "refusing to send credentials for {} to its token service \
                 http://auth.example.invalid/token",
            hostile.host()
        ));
        let with_credentials: Vec<_> = hostile
            .requests()
            .into_iter()
            .filter(|r| r.authorization)
            .collect();
        assert!(with_credentials.is_empty(), "{with_credentials:?}");
        assert_nothing_written(&sandbox, &output, &[]);
    }

    /// Realms whose text names a loopback host while the URL they parse to goes to another
    /// host (the address of this machine's network interface, standing for a remote host).
    /// The listener there must get nothing carrying credentials, whatever `wasm` command asks.
    #[test]
    fn crafted_realms_never_carry_credentials_to_another_host() {
        let elsewhere = RecordingListener::start_on(non_loopback_address());
        let remote = elsewhere.host();
        for realm in [
            format!("http://{remote}\\@127.0.0.1:9/token"),
            format!("http://{remote}\\@localhost/token"),
            format!("http://{remote}/@127.0.0.1/token"),
            format!("HTTP://{remote}#@127.0.0.1/token"),
        ] {
            let hostile = HostileRegistry::start(
                Artifact::wasm("hostile/crafted-realm", "1"),
                &[Behaviour::TokenRealm(realm.clone())],
            );
            let (sandbox, output) = puller();
            sandbox.write_docker_config(&alice_docker_config(&hostile.host()));
            let out = sandbox
                .wasm()
                .args(["pull", &hostile.reference(), "-o"])
                .arg(&output)
                .run();
            let with_credentials: Vec<_> = elsewhere
                .requests()
                .into_iter()
                .filter(|r| r.authorization)
                .collect();
            assert!(with_credentials.is_empty(), "{realm}: {with_credentials:?}");
            out.assert_status(3);
            out.assert_stderr_contains(&format!(
                "refusing to send credentials for {} to its token service",
                hostile.host()
            ));
            assert_nothing_written(&sandbox, &output, &[]);
            // `registry test` follows the same challenge and must withhold them too.
            let out = sandbox
                .wasm()
                .args([
                    "registry",
                    "test",
                    &hostile.host(),
                    "--repository",
                    "hostile/x",
                ])
                .run();
            out.assert_failure();
        }
        let with_credentials: Vec<_> = elsewhere
            .requests()
            .into_iter()
            .filter(|r| r.authorization)
            .collect();
        assert!(with_credentials.is_empty(), "{with_credentials:?}");
    }

    #[test]
    fn an_endless_layer_fails_within_the_timeout() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/endless-layer", "1"),
            &[Behaviour::EndlessLayer],
        );
        let artifact = hostile.artifact();
        let (sandbox, output, out, took) = pull(&hostile, &["--timeout", "2"]);
        assert!(took < BOUNDED, "took {took:?}");
        out.assert_status(4);
        out.assert_stderr_contains(&hostile.host());
        assert_nothing_written(&sandbox, &output, &[&artifact.layer_digest]);
    }

    #[test]
    fn an_endless_config_fails_inspect_within_the_timeout() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/endless-config", "1"),
            &[Behaviour::EndlessConfig],
        );
        let sandbox = Sandbox::new();
        let out = run_bounded(
            sandbox
                .wasm()
                .args(["inspect", &hostile.reference(), "--timeout", "2"])
                .timeout(2 * BOUNDED),
        );
        out.assert_status(4);
        out.assert_stderr_contains(&hostile.host());
    }

    #[test]
    fn an_endless_tag_list_fails_within_the_timeout() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/endless-tags", "1"),
            &[Behaviour::EndlessTags],
        );
        let sandbox = Sandbox::new();
        let out = run_bounded(
            sandbox
                .wasm()
                .args(["tags", &format!("{}/hostile/endless-tags", hostile.host())])
                .args(["--timeout", "2"])
                .timeout(2 * BOUNDED),
        );
        out.assert_status(4);
        out.assert_stderr_contains(&hostile.host());
    }

    #[test]
    fn an_endless_manifest_fails_within_the_timeout() {
        let hostile = HostileRegistry::start(
            Artifact::wasm("hostile/endless-manifest", "1"),
            &[Behaviour::EndlessManifest],
        );
        let artifact = hostile.artifact();
        let (sandbox, output, out, took) = pull(&hostile, &["--timeout", "2"]);
        assert!(took < BOUNDED, "took {took:?}");
        out.assert_status(4);
        out.assert_stderr_contains(&hostile.host());
        assert_nothing_written(
            &sandbox,
            &output,
            &[&artifact.manifest_digest, &artifact.layer_digest],
        );
    }
}
