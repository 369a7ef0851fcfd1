//! What crosses the network, counted: every request of a push and a pull is one the protocol
//! needs (no repeated `GET /v2/`), a re-pull is one request, a token is fetched once per scope
//! and process, and the scheme of a registry on this machine is learnt once and remembered —
//! within a second even from a port that never answers a TLS hello. Over a real network each
//! sequential request is a round trip: these counts are what `cargo xtask bench` turns into
//! seconds at 50 ms per round trip.

use std::time::{Duration, Instant};

use crate::support::component::component_of_size_seeded;
use crate::support::fault_proxy::{Fault, FaultProxy};
use crate::support::hostile::RecordingListener;
use crate::support::registry::LoggedRequest;
use crate::support::{
    CAROL_PASSWORD, CAROL_USER, Sandbox, assert_no_secrets, docker_auths, non_loopback_address,
    shared_anonymous, shared_token, unique_repo,
};

/// `METHOD PATH` of each request (query dropped, digests and upload ids shortened), in order.
fn shapes(requests: &[LoggedRequest], repo: &str) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.uri == "/v2/" || r.uri.starts_with(&format!("/v2/{repo}/")))
        .map(|r| {
            let path = r.uri.split('?').next().unwrap_or_default();
            let path = path.replace(&format!("/v2/{repo}/"), "");
            let kind = match path.split('/').collect::<Vec<_>>().as_slice() {
                ["blobs", "uploads", ""] => "blobs/uploads/".to_string(),
                ["blobs", "uploads", _] => "blobs/uploads/ID".to_string(),
                ["blobs", _] => "blobs/DIGEST".to_string(),
                ["manifests", _] => "manifests/REF".to_string(),
                _ => path.clone(),
            };
            format!("{} {kind}", r.method)
        })
        .collect()
}

/// Pushes a small component (from `seed`) as `REPO:1` to the shared anonymous registry from a
/// sandbox of its own; returns the fresh repository.
fn publish_small(prefix: &str, seed: u64) -> String {
    let registry = shared_anonymous();
    let repo = unique_repo(prefix);
    let publisher = Sandbox::new();
    let file = publisher.write_file("work/app.wasm", component_of_size_seeded(16 << 10, seed));
    publisher.push_ok_with(&registry.reference(&repo, "1"), &file, &["--plain-http"]);
    repo
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn an_anonymous_push_and_pull_make_only_the_requests_the_protocol_needs() {
    let registry = shared_anonymous();
    let repo = unique_repo("connections/anonymous");
    let sandbox = Sandbox::new();
    let file = sandbox.write_file("work/app.wasm", component_of_size_seeded(64 << 10, 1));
    let reference = registry.reference(&repo, "1");
    let before = registry.requests().len();
    sandbox.push_ok_with(&reference, &file, &["--plain-http"]);
    let push = shapes(&registry.requests()[before..], &repo);
    // Existence checks of layer and config, two upload sessions and their blobs, the manifest.
    assert_eq!(
        sorted(push.clone()),
        [
            "HEAD blobs/DIGEST",
            "HEAD blobs/DIGEST",
            "POST blobs/uploads/",
            "POST blobs/uploads/",
            "PUT blobs/uploads/ID",
            "PUT blobs/uploads/ID",
            "PUT manifests/REF",
        ],
        "{push:?}"
    );
    assert_eq!(push.last().map(String::as_str), Some("PUT manifests/REF"));

    // A fresh cache: the manifest and the blob.
    let puller = Sandbox::new();
    let before = registry.requests().len();
    puller
        .wasm()
        .args(["pull", &reference, "--plain-http", "-o", "a.wasm"])
        .run()
        .assert_success();
    assert_eq!(
        shapes(&registry.requests()[before..], &repo),
        ["GET manifests/REF", "GET blobs/DIGEST"]
    );
    // Unchanged: the manifest only.
    let before = registry.requests().len();
    puller
        .wasm()
        .args(["pull", &reference, "--plain-http", "-o", "b.wasm"])
        .run()
        .assert_success();
    assert_eq!(
        shapes(&registry.requests()[before..], &repo),
        ["GET manifests/REF"]
    );
    // Pinned by digest, with the manifest and the layer in the cache: no request at all.
    let out = puller
        .wasm()
        .args(["pull", &reference, "--plain-http", "-o", "c.wasm", "--json"])
        .run();
    out.assert_success();
    let pinned: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let pinned = format!(
        "{}/{repo}@{}",
        registry.host,
        pinned["digest"].as_str().unwrap()
    );
    let before = registry.requests().len();
    puller
        .wasm()
        .args(["pull", &pinned, "--plain-http", "-o", "d.wasm"])
        .run()
        .assert_success();
    assert_eq!(
        shapes(&registry.requests()[before..], &repo),
        Vec::<String>::new()
    );

    // A re-push of the same file: the existence checks and the manifest.
    let before = registry.requests().len();
    sandbox.push_ok_with(&reference, &file, &["--plain-http"]);
    assert_eq!(
        sorted(shapes(&registry.requests()[before..], &repo)),
        [
            "HEAD blobs/DIGEST",
            "HEAD blobs/DIGEST",
            "PUT manifests/REF"
        ]
    );
}

/// The existence checks of layer and config go out together, then the two uploads: through a
/// proxy that counts connections, a push opens two. One request after another would reuse one
/// kept-alive connection throughout (the pull below does).
#[test]
fn a_push_sends_its_existence_checks_and_uploads_in_parallel() {
    let registry = shared_anonymous();
    let proxy = FaultProxy::start(&registry.host, Fault::None);
    let repo = unique_repo("connections/parallel");
    let sandbox = Sandbox::new();
    let file = sandbox.write_file("work/app.wasm", component_of_size_seeded(16 << 10, 7));
    let reference = proxy.reference(&repo, "1");
    sandbox.push_ok_with(&reference, &file, &["--plain-http"]);
    let requests = proxy.requests();
    assert_eq!(requests.len(), 7, "{requests:?}");
    for method in ["HEAD", "POST"] {
        let connections: std::collections::BTreeSet<u64> = requests
            .iter()
            .filter(|r| r.method == method)
            .map(|r| r.connection)
            .collect();
        assert_eq!(
            connections.len(),
            2,
            "{method}s went out together: {requests:?}"
        );
    }
    assert_eq!(proxy.connections(), 2, "two requests at a time, at most");

    let before = proxy.connections();
    sandbox
        .wasm()
        .args(["pull", &reference, "--plain-http", "-o", "a.wasm"])
        .run()
        .assert_success();
    assert_eq!(
        proxy.connections() - before,
        1,
        "a pull's requests follow each other on one connection"
    );
}

#[test]
fn a_token_registry_adds_its_challenge_and_one_token_per_scope() {
    let (server, registry) = shared_token();
    let (sandbox, repo, file, reference) = carol_at_token_registry("connections/token", 64, 2);
    let before = registry.requests().len();
    sandbox
        .wasm()
        .args(["push", &reference])
        .arg(&file)
        .run()
        .assert_success();
    let push = shapes(&registry.requests()[before..], &repo);
    assert_eq!(
        push.first().map(String::as_str),
        Some("GET /v2/"),
        "{push:?}"
    );
    assert_eq!(
        push.iter().filter(|s| *s == "GET /v2/").count(),
        1,
        "{push:?}"
    );
    assert_eq!(
        push.len(),
        8,
        "the challenge, then the 7 requests of a push: {push:?}"
    );
    let tokens = server.requests_for(&repo);
    assert_eq!(tokens.len(), 1, "one token for the push scope: {tokens:?}");

    // The challenge is remembered: a later run authorizes its first request at once.
    let remembered = remembered_challenge(&sandbox, &registry.host);
    let text = std::fs::read_to_string(&remembered).expect("the challenge is remembered");
    assert!(text.contains(&server.realm()), "{text}");
    assert_no_secrets(&text, &[CAROL_PASSWORD]);
    for secret in server.issued_secrets() {
        assert!(!text.contains(&secret), "a token in the cache: {text}");
    }
    let before = registry.requests().len();
    sandbox
        .wasm()
        .args(["pull", &reference, "-o", "a.wasm"])
        .run()
        .assert_success();
    assert_eq!(
        shapes(&registry.requests()[before..], &repo),
        ["GET manifests/REF", "GET blobs/DIGEST"]
    );
    assert_eq!(
        server.requests_for(&repo).len(),
        2,
        "one more token, for the pull scope"
    );
}

/// A sandbox with Carol's password for the shared token registry in Docker's `config.json`, a
/// fresh repository there, a component of `kib` KiB from `seed`, and `REPO:1`.
fn carol_at_token_registry(
    prefix: &str,
    kib: usize,
    seed: u64,
) -> (Sandbox, String, std::path::PathBuf, String) {
    let (_, registry) = shared_token();
    let repo = unique_repo(prefix);
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        CAROL_USER,
        CAROL_PASSWORD,
    )]));
    let file = sandbox.write_file("work/app.wasm", component_of_size_seeded(kib << 10, seed));
    let reference = registry.reference(&repo, "1");
    (sandbox, repo, file, reference)
}

/// Where a sandbox's runs remember the challenge of `host`.
fn remembered_challenge(sandbox: &Sandbox, host: &str) -> std::path::PathBuf {
    sandbox
        .cache_home()
        .join("wasm/challenges")
        .join(host.replace(':', "+"))
}

#[test]
fn a_remembered_challenge_that_no_longer_holds_is_relearnt() {
    let (server, registry) = shared_token();
    let (sandbox, repo, file, reference) =
        carol_at_token_registry("connections/rechallenge", 16, 5);
    sandbox.push_ok(&reference, &file);
    sandbox.pull_ok(&reference, "first.wasm");
    let remembered = remembered_challenge(&sandbox, &registry.host);
    let learnt = std::fs::read_to_string(&remembered).expect("the challenge is remembered");

    let dead_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let elsewhere = RecordingListener::start_on(non_loopback_address());
    let stale = [
        // The token service moved: the remembered realm does not answer.
        format!(
            r#"{{"scheme":"Bearer","params":{{"realm":"http://127.0.0.1:{dead_port}/token","service":"gone"}}}}"#
        ),
        // The registry went from Basic to tokens: Basic is refused with a Bearer challenge.
        r#"{"scheme":"Basic","params":{"realm":"old"}}"#.to_string(),
        // A realm that may not receive credentials (plain HTTP to another host), as a cache
        // edited by someone else could hold: never used, relearnt from the registry.
        format!(
            r#"{{"scheme":"Bearer","params":{{"realm":"http://{}/token","service":"x"}}}}"#,
            elsewhere.host()
        ),
        // Not a challenge at all.
        "{ not json".to_string(),
    ];
    // What each run asks the registry (the blob is in the cache by now: a pull is the
    // manifest): the challenge first where the remembered one could not be used; the request
    // twice where the registry refused the remembered Basic challenge.
    let relearnt = ["GET /v2/", "GET manifests/REF"];
    let expected: [&[&str]; 4] = [
        &relearnt,
        &["GET manifests/REF", "GET manifests/REF"],
        &relearnt,
        &relearnt,
    ];
    for (i, (stale, expected)) in stale.iter().zip(expected).enumerate() {
        std::fs::write(&remembered, stale).unwrap();
        let tokens_before = server.requests_for(&repo).len();
        let before = registry.requests().len();
        let out = sandbox
            .wasm()
            .args(["pull", &reference, "-o", &format!("{i}.wasm")])
            .run();
        out.assert_success();
        assert_eq!(
            shapes(&registry.requests()[before..], &repo),
            expected,
            "after {stale}"
        );
        assert_eq!(
            std::fs::read_to_string(&remembered).unwrap(),
            learnt,
            "relearnt after {stale}"
        );
        assert_eq!(
            server.requests_for(&repo).len(),
            tokens_before + 1,
            "one token from the real realm after {stale}"
        );
    }
    assert!(
        elsewhere.requests().is_empty(),
        "a remembered realm on another host got requests: {:?}",
        elsewhere.requests()
    );
}

#[test]
fn the_scheme_of_a_registry_on_this_machine_is_learnt_once() {
    let registry = shared_anonymous();
    let repo = publish_small("connections/scheme", 3);

    let proxy = FaultProxy::start(&registry.host, Fault::None);
    let sandbox = Sandbox::new();
    let reference = proxy.reference(&repo, "1");
    sandbox
        .wasm()
        .args(["pull", &reference, "-o", "a.wasm"])
        .run()
        .assert_success();
    assert_eq!(
        proxy.not_http_connections(),
        1,
        "one TLS hello to learn the scheme"
    );
    sandbox
        .wasm()
        .args(["pull", &reference, "-o", "b.wasm"])
        .run()
        .assert_success();
    assert_eq!(
        proxy.not_http_connections(),
        1,
        "remembered: no second TLS hello"
    );

    // A remembered scheme that the registry contradicts is relearnt.
    let remembered = sandbox
        .root()
        .join(".cache/wasm/schemes")
        .join(proxy.host().replace(':', "+"));
    assert_eq!(std::fs::read_to_string(&remembered).unwrap(), "http");
    std::fs::write(&remembered, "https").unwrap();
    sandbox
        .wasm()
        .args(["pull", &reference, "-o", "c.wasm"])
        .run()
        .assert_success();
    assert_eq!(std::fs::read_to_string(&remembered).unwrap(), "http");
}

#[test]
fn a_port_silent_to_a_tls_hello_is_spoken_to_in_plain_http_within_a_second() {
    let registry = shared_anonymous();
    let repo = publish_small("connections/silent", 4);
    let proxy = FaultProxy::start(&registry.host, Fault::None);
    proxy.silent_to_tls();
    let sandbox = Sandbox::new();
    let started = Instant::now();
    sandbox
        .wasm()
        .args(["pull", &proxy.reference(&repo, "1"), "-o", "a.wasm"])
        .run()
        .assert_success();
    // A second for the unanswered hello, the rest for the pull itself; without the fallback
    // the pull waits for the connection timeout (15 s) and fails.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
