//! `wasm push`, `pull`, `inspect` and `tags` against real registries: anonymous over plain
//! HTTP, htpasswd Basic auth over TLS with a test CA, and token auth with a real token server.

use serde_json::Value;

use crate::support::component::{
    component_of_size, core_module, hello_wasm, not_wasm, sample_component,
};
use crate::support::{
    ALICE_PASSWORD, ALICE_USER, CAROL_PASSWORD, CAROL_USER, DAVE_PASSWORD, DAVE_USER,
    MANIFEST_ACCEPT, Registry, Sandbox, assert_no_secrets, auth_field, docker_auths, other_ca_pem,
    sha256_digest, shared_anonymous, shared_basic_tls, shared_token, unique_repo,
};

fn manifest_of(registry: &Registry, repo: &str, tag: &str, auth: &str) -> Value {
    let mut headers = vec![("Accept", MANIFEST_ACCEPT)];
    if !auth.is_empty() {
        headers.push(("Authorization", auth));
    }
    let r = registry.request(
        "GET",
        &format!("/v2/{repo}/manifests/{tag}"),
        &headers,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn round_trip_over_plain_http_without_configuration() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("round-trip/hello");
    let reference = registry.reference(&repo, "1.0.0");

    let push = sandbox
        .wasm()
        .args(["push", &reference])
        .arg(hello_wasm())
        .run();
    push.assert_success();
    let pinned = push.stdout.trim().to_string();
    assert!(
        pinned.starts_with(&format!("{}/{repo}@sha256:", registry.host)),
        "{pinned}"
    );
    assert!(
        push.stderr
            .starts_with(&format!("pushed {reference} (342 B, ")),
        "{}",
        push.stderr
    );

    // Default output: ./NAME.wasm in the current directory.
    let pull = sandbox.wasm().args(["pull", &reference]).run();
    pull.assert_success();
    let name = format!("{}.wasm", repo.rsplit('/').next().unwrap());
    assert_eq!(pull.stdout.trim(), name);
    let original = std::fs::read(hello_wasm()).unwrap();
    assert_eq!(sandbox.read_file(format!("work/{name}")), original);

    // By digest, into a directory.
    std::fs::create_dir(sandbox.path("work/out")).unwrap();
    let by_digest = sandbox.wasm().args(["pull", &pinned, "-o", "out"]).run();
    by_digest.assert_success();
    assert_eq!(sandbox.read_file(format!("work/out/{name}")), original);

    // Tags and inspect from the registry (inspect reads no layer).
    let tags = sandbox
        .wasm()
        .args(["tags", &format!("{}/{repo}", registry.host)])
        .run();
    tags.assert_success();
    assert_eq!(tags.stdout, "1.0.0\n");
    let layer_gets_before = registry.count("GET", &format!("/v2/{repo}/blobs/"));
    let inspect = sandbox.wasm().args(["inspect", &reference, "--json"]).run();
    inspect.assert_success();
    let json: Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(
        json["wasm"]["imports"],
        serde_json::json!(["example:hello/logger@0.1.0"])
    );
    assert_eq!(
        json["wasm"]["exports"],
        serde_json::json!(["example:hello/greeter@0.1.0"])
    );
    assert_eq!(json["wasm"]["size"], 342);
    // One blob GET: the config, not the layer.
    assert_eq!(
        registry.count("GET", &format!("/v2/{repo}/blobs/")) - layer_gets_before,
        1
    );
}

#[test]
fn artifact_has_the_oci_wasm_layout() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("layout/hello");
    let reference = registry.reference(&repo, "v1");
    sandbox
        .wasm()
        .args(["push", &reference])
        .arg(hello_wasm())
        .args([
            "--annotation",
            "org.opencontainers.image.source=https://example.com/hello",
        ])
        .run()
        .assert_success();

    let manifest = manifest_of(registry, &repo, "v1", "");
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    assert_eq!(layers[0]["size"], 342);
    assert_eq!(
        layers[0]["annotations"]["org.opencontainers.image.title"],
        "hello.wasm"
    );
    let annotations = &manifest["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        "https://example.com/hello"
    );
    let created = annotations["org.opencontainers.image.created"]
        .as_str()
        .unwrap();
    assert!(created.len() == 20 && created.ends_with('Z'), "{created}");

    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config = registry.request(
        "GET",
        &format!("/v2/{repo}/blobs/{config_digest}"),
        &[],
        None,
    );
    assert_eq!(config.status, 200);
    let config = config.json();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(
        config["layerDigests"],
        serde_json::json!([layers[0]["digest"]])
    );
    assert_eq!(
        config["component"]["imports"],
        serde_json::json!(["example:hello/logger@0.1.0"])
    );
    assert_eq!(
        config["component"]["exports"],
        serde_json::json!(["example:hello/greeter@0.1.0"])
    );
    // The config parses as oci-wasm's own type: what wkg and other oci-wasm clients read.
    let text = config.to_string();
    let parsed: oci_wasm_config::Config = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed.os, "wasip2");
}

/// The fields of oci-wasm's `WasmConfig` that its readers require, spelled as it spells them.
mod oci_wasm_config {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct Config {
        #[allow(dead_code)]
        pub(crate) created: String,
        #[allow(dead_code)]
        pub(crate) author: Option<String>,
        #[allow(dead_code)]
        pub(crate) architecture: String,
        pub(crate) os: String,
        #[allow(dead_code)]
        pub(crate) layer_digests: Vec<String>,
        #[allow(dead_code)]
        pub(crate) component: Option<serde_json::Value>,
    }
}

#[test]
fn core_modules_are_pushed_as_wasip1() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("core/module");
    let file = sandbox.write_file("work/module.wasm", core_module());
    sandbox.push_ok(&registry.reference(&repo, "1"), &file);
    let manifest = manifest_of(registry, &repo, "1", "");
    let digest = manifest["config"]["digest"].as_str().unwrap();
    let config = registry
        .request("GET", &format!("/v2/{repo}/blobs/{digest}"), &[], None)
        .json();
    assert_eq!(config["os"], "wasip1");
    assert!(config["component"].is_null());
}

#[test]
fn re_push_uploads_no_blob() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("repush/hello");
    let file = sandbox.write_file("work/big.wasm", component_of_size(3 << 20));
    let reference = registry.reference(&repo, "1");
    sandbox.push_ok(&reference, &file);
    let uploads = |r: &Registry| r.count("POST", &format!("/v2/{repo}/blobs/uploads/"));
    assert_eq!(uploads(registry), 2, "layer and config uploaded once");
    let again = sandbox.wasm().args(["push", &reference]).arg(&file).run();
    again.assert_success();
    // Neither the layer nor the config is sent again (the config's `created` is the file's
    // modification time, so it is the same blob).
    assert_eq!(uploads(registry), 2, "{:?}", registry.requests());
    again.assert_stderr_contains("already present");
}

#[test]
fn multi_mib_round_trip_over_tls_with_basic_auth() {
    let registry = shared_basic_tls();
    let sandbox = Sandbox::for_registry(registry, "");
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        ALICE_USER,
        ALICE_PASSWORD,
    )]));
    let repo = unique_repo("tls/big");
    let bytes = component_of_size(6 << 20);
    let file = sandbox.write_file("work/big.wasm", &bytes);
    let reference = registry.reference(&repo, "2.0.0");
    let push = sandbox.wasm().args(["push", &reference]).arg(&file).run();
    push.assert_success();
    let pull = sandbox
        .wasm()
        .args(["pull", &reference, "-o", "copy.wasm", "-v"])
        .run();
    pull.assert_success();
    assert!(
        sandbox.read_file("work/copy.wasm") == bytes,
        "round trip differs"
    );
    for out in [&push, &pull] {
        assert_no_secrets(&out.stdout, &[]);
        assert_no_secrets(&out.stderr, &[]);
    }
}

#[test]
fn bad_inputs_have_clear_errors_and_send_nothing() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("bad/inputs");
    let reference = registry.reference(&repo, "1");
    sandbox.write_file("work/notes.txt", not_wasm());
    let mut truncated = sample_component();
    truncated.truncate(truncated.len() - 5);
    sandbox.write_file("work/truncated.wasm", truncated);

    let cases: Vec<(Vec<String>, i32, String)> = vec![
        (
            vec!["push".into(), reference.clone(), "missing.wasm".into()],
            1,
            "error: missing.wasm does not exist; pass the path of the .wasm file to push\n".into(),
        ),
        (
            vec!["push".into(), reference.clone(), "notes.txt".into()],
            1,
            "error: notes.txt is not a WebAssembly file (it does not start with the `\\0asm` magic bytes); pass the `.wasm` file your build produced\n".into(),
        ),
        (
            vec!["push".into(), "127.0.0.1:1/Bad/Name".into(), "notes.txt".into()],
            1,
            "error: invalid reference `127.0.0.1:1/Bad/Name`: repository names must be lowercase: write `bad/name`\n".into(),
        ),
    ];
    for (args, status, stderr) in cases {
        let out = sandbox.wasm().args(&args).run();
        out.assert_status(status);
        assert_eq!(out.stderr, stderr, "{args:?}");
        assert_eq!(out.stdout, "");
    }
    let out = sandbox
        .wasm()
        .args(["push", &reference, "truncated.wasm"])
        .run();
    out.assert_status(1);
    assert!(
        out.stderr
            .starts_with("error: truncated.wasm is not valid WebAssembly: ")
            && out.stderr.contains("(at byte offset "),
        "{}",
        out.stderr
    );
    assert_eq!(
        registry.count("POST", &format!("/v2/{repo}/")),
        0,
        "nothing was sent"
    );

    // An unknown tag: nothing is left at the output path.
    let out = sandbox
        .wasm()
        .args(["pull", &registry.reference(&repo, "nope"), "-o", "x.wasm"])
        .run()
        .normalized(&sandbox);
    out.assert_status(1);
    assert_eq!(
        out.stderr,
        format!(
            "error: 127.0.0.1:[PORT]/{repo}:nope was not found on 127.0.0.1:[PORT]: no such tag or digest (list the tags with `wasm tags 127.0.0.1:[PORT]/{repo}`) (server said: manifest unknown)\n"
        )
    );
    assert!(!sandbox.path("work/x.wasm").exists());
    let leftovers: Vec<_> = std::fs::read_dir(sandbox.work_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Nothing listens: a network error (exit 4).
    let out = sandbox.wasm().args(["pull", "127.0.0.1:9/x/y:1"]).run();
    out.assert_status(4);
    assert_eq!(
        out.stderr,
        "error: cannot connect to 127.0.0.1:9: connection refused; is the registry running, and is the address (host and port) right?\n"
    );
}

/// Uploads a blob to `repo` with the monolithic POST+PUT flow; returns its digest.
fn upload_blob(registry: &Registry, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let upload = registry.request("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], None);
    assert_eq!(upload.status, 202);
    let location = upload.header("Location").unwrap().to_string();
    let sep = if location.contains('?') { '&' } else { '?' };
    let path = location
        .split_once(&registry.host)
        .map_or(location.as_str(), |(_, p)| p)
        .to_string();
    let put = registry.request(
        "PUT",
        &format!("{path}{sep}digest={digest}"),
        &[],
        Some(bytes),
    );
    assert_eq!(put.status, 201, "{}", put.text());
    digest
}

#[test]
fn artifacts_that_are_not_wasm_components_are_refused() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("notwasm/app");
    let container_config = br#"{"architecture":"amd64","os":"linux"}"#;
    let container_digest = upload_blob(registry, &repo, container_config);
    let wasm_config = br#"{"architecture":"wasm","os":"wasip2","layerDigests":[]}"#;
    let wasm_config_digest = upload_blob(registry, &repo, wasm_config);
    let layer = sample_component();
    let layer_digest = upload_blob(registry, &repo, &layer);
    let descriptor = |media: &str, digest: &str, size: usize| serde_json::json!({"mediaType": media, "digest": digest, "size": size});
    let wasm_layer = descriptor("application/wasm", &layer_digest, layer.len());
    let cases = [
        (
            "image",
            descriptor(
                "application/vnd.oci.image.config.v1+json",
                &container_digest,
                container_config.len(),
            ),
            vec![],
            "its config has media type `application/vnd.oci.image.config.v1+json`, expected `application/vnd.wasm.config.v0+json` (is it a container image?)",
        ),
        (
            "no-layer",
            descriptor(
                "application/vnd.wasm.config.v0+json",
                &wasm_config_digest,
                wasm_config.len(),
            ),
            vec![],
            "it has no layer",
        ),
        (
            "two-layers",
            descriptor(
                "application/vnd.wasm.config.v0+json",
                &wasm_config_digest,
                wasm_config.len(),
            ),
            vec![wasm_layer.clone(), wasm_layer.clone()],
            "it has 2 layers, expected one `application/wasm` layer",
        ),
        (
            "tar-layer",
            descriptor(
                "application/vnd.wasm.config.v0+json",
                &wasm_config_digest,
                wasm_config.len(),
            ),
            vec![descriptor(
                "application/vnd.oci.image.layer.v1.tar",
                &layer_digest,
                layer.len(),
            )],
            "its layer has media type `application/vnd.oci.image.layer.v1.tar`, expected `application/wasm`",
        ),
    ];
    for (tag, config, layers, problem) in cases {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": layers,
        })
        .to_string();
        let put = registry.request(
            "PUT",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            Some(manifest.as_bytes()),
        );
        assert_eq!(put.status, 201, "{}", put.text());
        let out = sandbox
            .wasm()
            .args(["pull", &registry.reference(&repo, tag), "-o", "n.wasm"])
            .run()
            .normalized(&sandbox);
        out.assert_status(1);
        assert_eq!(
            out.stderr,
            format!("error: 127.0.0.1:[PORT]/{repo}:{tag} is not a Wasm artifact: {problem}\n")
        );
        assert!(!sandbox.path("work/n.wasm").exists());
    }
}

#[test]
fn quiet_and_insecure() {
    let registry = shared_basic_tls();
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        ALICE_USER,
        ALICE_PASSWORD,
    )]));
    let reference = registry.reference(&unique_repo("quiet/app"), "1");
    // --insecure accepts the test CA's certificate without trusting the CA.
    let out = sandbox
        .wasm()
        .args(["push", &reference, "--insecure", "-q"])
        .arg(hello_wasm())
        .run();
    out.assert_success();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    let out = sandbox
        .wasm()
        .args(["pull", &reference, "--insecure", "-q"])
        .run();
    out.assert_success();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    // `insecure = true` in the config does the same.
    sandbox.write_config(&format!(
        "[registries.\"{}\"]\ninsecure = true\n",
        registry.host
    ));
    sandbox
        .wasm()
        .args(["tags", reference.trim_end_matches(":1")])
        .run()
        .assert_success();
}

#[test]
fn basic_auth_errors_name_the_source_and_the_fix() {
    let registry = shared_basic_tls();
    let sandbox = Sandbox::for_registry(registry, "");
    let repo = unique_repo("auth/errors");
    let reference = registry.reference(&repo, "1");

    // No credentials anywhere.
    let out = sandbox
        .wasm()
        .args(["push", &reference])
        .arg(hello_wasm())
        .run()
        .normalized(&sandbox);
    out.assert_status(3);
    assert_eq!(
        out.stderr,
        format!(
            "error: 127.0.0.1:[PORT] requires authentication to push to {repo}, and no credentials were found (tried: wasm config credential-helper, docker auths, podman auth file); log in with `wasm login 127.0.0.1:[PORT]` (or `docker login`) or configure a `credential-helper` for it in the wasm config file\n"
        )
    );

    // A wrong password in Docker's config.
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        ALICE_USER,
        "wrong-password",
    )]));
    let out = sandbox
        .wasm()
        .args(["pull", &reference])
        .run()
        .normalized(&sandbox);
    out.assert_status(3);
    assert_eq!(
        out.stderr,
        "error: 127.0.0.1:[PORT] rejected the credentials of user `alice` from docker auths ([SANDBOX]/.docker/config.json) under `127.0.0.1:[PORT]`: they are wrong or expired; log in again (with an app token where the account uses 2FA/MFA)\n"
    );
}

#[test]
fn tls_problems_are_named_with_their_fix() {
    let registry = shared_basic_tls();
    let sandbox = Sandbox::new();
    let reference = registry.reference("tls/unknown", "1");

    // The test CA is not trusted.
    let out = sandbox
        .wasm()
        .args(["pull", &reference])
        .run()
        .normalized(&sandbox);
    out.assert_status(4);
    assert_eq!(
        out.stderr,
        "error: the TLS certificate of 127.0.0.1:[PORT] is not trusted (unknown issuer); if the registry uses a private CA, add `ca-file = \"/path/to/ca.pem\"` under [registries.\"127.0.0.1:[PORT]\"] in the wasm config file (or set SSL_CERT_FILE), or as a last resort `insecure = true`\n"
    );

    // Another CA than the one that signed the certificate: still untrusted.
    sandbox.set_env("SSL_CERT_FILE", other_ca_pem());
    let out = sandbox.wasm().args(["pull", &reference]).run();
    out.assert_status(4);

    // SSL_CERT_FILE with the right CA works (here: a 404 for the unknown repository, after auth).
    sandbox.set_env("SSL_CERT_FILE", registry.ca_pem.as_ref().unwrap());
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        ALICE_USER,
        ALICE_PASSWORD,
    )]));
    let out = sandbox.wasm().args(["pull", &reference]).run();
    out.assert_status(1);
    out.assert_stderr_contains("was not found");

    // Plain HTTP forced against a TLS port.
    let out = sandbox
        .wasm()
        .args(["pull", &reference, "--plain-http"])
        .run()
        .normalized(&sandbox);
    out.assert_status(4);
    out.assert_stderr_contains("expects HTTPS");

    // HTTPS forced against a plain HTTP registry.
    let plain = shared_anonymous();
    sandbox.write_config(&format!(
        "[registries.\"{}\"]\nprotocol = \"https\"\n",
        plain.host
    ));
    let out = sandbox
        .wasm()
        .args(["pull", &plain.reference("x/y", "1")])
        .run()
        .normalized(&sandbox);
    out.assert_status(4);
    assert_eq!(
        out.stderr,
        "error: 127.0.0.1:[PORT] does not speak TLS (it answered in plain HTTP); if that is intended, add `protocol = \"http\"` under [registries.\"127.0.0.1:[PORT]\"] in the wasm config file or pass `--plain-http`\n"
    );
}

#[test]
fn token_auth_push_pull_and_scopes() {
    let (server, registry) = shared_token();
    let sandbox = Sandbox::new();
    let repo = unique_repo("token/app");
    let reference = registry.reference(&repo, "1.0.0");

    // carol may push and pull.
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        CAROL_USER,
        CAROL_PASSWORD,
    )]));
    sandbox.push_ok(&reference, hello_wasm());
    sandbox.pull_ok(&reference, "a.wasm");
    assert_eq!(
        sandbox.read_file("work/a.wasm"),
        std::fs::read(hello_wasm()).unwrap()
    );
    assert!(
        server
            .requests_for(&repo)
            .iter()
            .any(|r| r.scopes().iter().any(|s| s.ends_with(":pull,push"))),
        "a push scope was requested"
    );

    // dave may pull but not push.
    sandbox.write_docker_config(&docker_auths(&[(&registry.host, DAVE_USER, DAVE_PASSWORD)]));
    sandbox.pull_ok(&reference, "b.wasm");
    let out = sandbox
        .wasm()
        .args(["push", &registry.reference(&repo, "2")])
        .arg(hello_wasm())
        .run()
        .normalized(&sandbox);
    out.assert_status(3);
    assert!(
        out.stderr.starts_with(&format!(
            "error: user `dave` may not push to {repo} on 127.0.0.1:[PORT] (credentials from docker auths"
        )),
        "{}",
        out.stderr
    );

    // A wrong password is refused by the token server.
    sandbox.write_docker_config(&docker_auths(&[(&registry.host, CAROL_USER, "nope")]));
    let out = sandbox.wasm().args(["pull", &reference]).run();
    out.assert_status(3);
    assert!(
        out.stderr
            .contains("rejected the credentials of user `carol`"),
        "{}",
        out.stderr
    );

    // Anonymous: public/ is readable, the rest asks for credentials.
    std::fs::remove_file(sandbox.docker_config_dir().join("config.json")).unwrap();
    let out = sandbox.wasm().args(["pull", &reference]).run();
    out.assert_status(3);
    out.assert_stderr_contains("no credentials were found");
}

#[test]
fn anonymous_token_flow_pulls_public_repositories() {
    let (_server, registry) = shared_token();
    let pusher = Sandbox::new();
    let repo = unique_repo("public/app");
    let reference = registry.reference(&repo, "1");
    pusher.write_docker_config(&docker_auths(&[(
        &registry.host,
        CAROL_USER,
        CAROL_PASSWORD,
    )]));
    pusher.push_ok(&reference, hello_wasm());

    let anonymous = Sandbox::new();
    anonymous
        .wasm()
        .args(["pull", &reference])
        .run()
        .assert_success();
    let name = repo.rsplit('/').next().unwrap();
    assert_eq!(anonymous.read_file(format!("work/{name}.wasm")).len(), 342);
}

#[test]
fn an_identity_token_is_exchanged_for_access() {
    let (server, registry) = shared_token();
    let sandbox = Sandbox::new();
    let repo = unique_repo("identity/app");
    let reference = registry.reference(&repo, "1");
    let refresh = server.issue_refresh_token(CAROL_USER);
    sandbox.write_docker_config(
        &serde_json::json!({
            "auths": { registry.host.clone(): {
                "auth": auth_field("<token>", ""),
                "identitytoken": refresh,
            }}
        })
        .to_string(),
    );
    let push = sandbox
        .wasm()
        .args(["push", &reference, "-vv"])
        .arg(hello_wasm())
        .run();
    push.assert_success();
    let pull = sandbox
        .wasm()
        .args(["pull", &reference, "-o", "i.wasm", "-vvv"])
        .run();
    pull.assert_success();
    assert!(
        server
            .requests_for(&repo)
            .iter()
            .any(|r| r.param("grant_type") == Some("refresh_token")),
        "the refresh-token grant was used"
    );
    for out in [&push, &pull] {
        assert_no_secrets(&out.stdout, &[&refresh]);
        assert_no_secrets(&out.stderr, &[&refresh]);
    }
}

#[test]
fn tags_are_sorted_by_version() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("tags/app");
    for tag in ["1.10.0", "latest", "1.2.0", "1.2.0-rc.1", "0.9.0"] {
        sandbox.push_ok(&registry.reference(&repo, tag), hello_wasm());
    }
    let out = sandbox
        .wasm()
        .args(["tags", &format!("{}/{repo}", registry.host)])
        .run();
    out.assert_success();
    assert_eq!(out.stdout, "0.9.0\n1.2.0-rc.1\n1.2.0\n1.10.0\nlatest\n");
    let json = sandbox
        .wasm()
        .args(["tags", &format!("{}/{repo}", registry.host), "--json"])
        .run();
    let json: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["tags"][4], "latest");
}

#[test]
fn a_large_invalid_file_never_becomes_a_blob() {
    // Files over 16 MiB are validated while their layer uploads; the upload's end waits for the
    // verdict, so an invalid file is abandoned before the registry commits it.
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("invalid/large");
    let mut bytes = component_of_size(20 << 20);
    bytes.extend_from_slice(&[0xff, 0x01, 0x00]); // a section with an unknown id at the end
    let digest = sha256_digest(&bytes);
    let file = sandbox.write_file("work/bad.wasm", &bytes);
    let out = sandbox
        .wasm()
        .args(["push", &registry.reference(&repo, "1")])
        .arg(&file)
        .run();
    out.assert_status(1);
    assert!(
        out.stderr
            .starts_with("error: bad.wasm is not valid WebAssembly: ")
            || out.stderr.contains("is not valid WebAssembly"),
        "{}",
        out.stderr
    );
    let head = registry.request("HEAD", &format!("/v2/{repo}/blobs/{digest}"), &[], None);
    assert_eq!(
        head.status, 404,
        "the invalid layer must not be in the registry"
    );
    let manifest = registry.request(
        "GET",
        &format!("/v2/{repo}/manifests/1"),
        &[("Accept", MANIFEST_ACCEPT)],
        None,
    );
    assert_eq!(manifest.status, 404);
}
