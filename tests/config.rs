//! `wasm self config`, and every bad config input with its exact message.

use crate::cli::assert_snapshot;
use crate::support::{Sandbox, shared_anonymous};

/// Runs `wasm self config` with `--color never` and returns the normalized output.
fn self_config(sandbox: &Sandbox, extra: &[&str]) -> crate::support::Output {
    sandbox
        .wasm()
        .args(["self", "config", "--color", "never"])
        .args(extra)
        .run()
        .normalized(sandbox)
}

#[test]
fn nothing_configured() {
    let sandbox = Sandbox::new();
    let out = self_config(&sandbox, &[]);
    out.assert_success();
    assert_snapshot("self-config-empty", &out.stdout);
}

#[test]
fn every_source_is_shown_with_its_key_and_user() {
    let sandbox = Sandbox::new();
    sandbox.add_script(
        "op",
        r#"printf '[{"id":"username","type":"STRING","purpose":"USERNAME","label":"username","value":"octocat","reference":"op://Private/ghcr/username"},{"id":"password","type":"CONCEALED","purpose":"PASSWORD","label":"password","value":"%s","reference":"op://Private/ghcr/password"}]' "$SPARE""#,
    );
    sandbox.set_env("SPARE", crate::support::SPARE_SECRET);
    sandbox.write_config(
        r#"
[registries."ghcr.io"]
credential-helper = "op item get ghcr --format json --fields username,password"

[registries."registry.example.com:5000"]
credential-helper.username = "echo builder"
credential-helper.password = "echo $SPARE"
"#,
    );
    sandbox.write_docker_config(
        r#"{"auths":{"https://index.docker.io/v1/":{"auth":"ZG9ja2VydXNlcjpodWItcGFzcw=="}}}"#,
    );
    sandbox.write_podman_auth(
        r#"{"auths":{"quay.io/team":{"auth":"cG9kdXNlcjpwb2QtcGFzcw=="}}}"#,
        crate::support::PodmanLocation::Runtime,
    );
    let out = self_config(&sandbox, &[]);
    out.assert_success();
    assert_snapshot("self-config-sources", &out.stdout);
    crate::support::assert_no_secrets(&out.stdout, &["hub-pass", "pod-pass"]);

    let json = self_config(&sandbox, &["--json"]);
    json.assert_success();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let registries = value["registries"].as_array().unwrap();
    let names: Vec<&str> = registries
        .iter()
        .map(|r| r["registry"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "docker.io",
            "ghcr.io",
            "quay.io/team",
            "registry.example.com:5000"
        ]
    );
    assert_eq!(registries[1]["username"], "octocat");
    assert_eq!(
        registries[0]["steps"][1]["key"],
        "https://index.docker.io/v1/"
    );
    crate::support::assert_no_secrets(&json.stdout, &["hub-pass", "pod-pass"]);

    // --no-exec runs nothing: an `op` that would fail is not noticed.
    sandbox.add_script("op", "echo 'not signed in' >&2; exit 1");
    let out = self_config(&sandbox, &["--no-exec"]);
    out.assert_success();
    assert!(
        out.stdout.contains(
            "would run `op item get ghcr --format json --fields username,password` (not run)"
        ),
        "{}",
        out.stdout
    );
    let out = self_config(&sandbox, &[]);
    out.assert_status(3);
    assert!(
        out.stdout.contains("credential helper `op item get ghcr --format json --fields username,password` failed with exit status 1: not signed in"),
        "{}",
        out.stdout
    );
}

/// Each bad config file, and what `wasm` says about it (as a command that needs the config
/// reports it, and as `self config` shows it).
#[test]
fn bad_config_files_name_the_file_key_and_fix() {
    let cases: &[(&str, &str)] = &[
        (
            "syntax",
            "[registries.\"ghcr.io\"\ncredential-helper = \"x\"\n",
        ),
        (
            "unknown-key",
            "[registries.\"ghcr.io\"]\ncredential_helper = \"op item get x\"\n",
        ),
        (
            "wrong-type",
            "[registries.\"ghcr.io\"]\ninsecure = \"yes\"\n",
        ),
        (
            "half-split",
            "[registries.\"ghcr.io\"]\ncredential-helper.username = \"echo u\"\n",
        ),
        (
            "empty-command",
            "[registries.\"ghcr.io\"]\ncredential-helper = \"\"\n",
        ),
        (
            "scheme-key",
            "[registries.\"https://ghcr.io\"]\ncredential-helper = \"x\"\n",
        ),
        (
            "bad-protocol",
            "[registries.\"ghcr.io\"]\nprotocol = \"ftp\"\n",
        ),
        ("zero-timeout", "helper-timeout = 0\n"),
    ];
    let mut all = String::new();
    for (name, toml) in cases {
        let sandbox = Sandbox::new();
        sandbox.write_config(toml);
        let out = sandbox
            .wasm()
            .args(["tags", "ghcr.io/a/b"])
            .run()
            .normalized(&sandbox);
        out.assert_status(1);
        all.push_str(&format!("== {name}\n{toml}-- stderr\n{}\n", out.stderr));
        let report = self_config(&sandbox, &[]);
        report.assert_status(1);
        assert!(
            report.stdout.contains("the configuration has errors"),
            "{}",
            report.stdout
        );
    }
    assert_snapshot("config-errors", &all);
}

#[test]
fn explicit_and_project_files() {
    let sandbox = Sandbox::new();
    // A missing --config file is an error that names it.
    let out = sandbox
        .wasm()
        .args(["self", "config", "--config", "nope.toml"])
        .run()
        .normalized(&sandbox);
    out.assert_status(1);
    assert!(
        out.stdout
            .contains("cannot read config file [SANDBOX]/work/nope.toml"),
        "{}",
        out.stdout
    );

    // WASM_CONFIG replaces the global file; the project file overrides it per registry.
    sandbox.write_config("[registries.\"a.example\"]\ncredential-helper = \"echo global\"\n");
    sandbox.write_file(
        "elsewhere.toml",
        "[registries.\"b.example\"]\ncredential-helper = \"echo explicit\"\n",
    );
    sandbox.write_project_config(
        "[registries.\"b.example\"]\ncredential-helper.username = \"echo project-user\"\ncredential-helper.password = \"echo pw\"\n",
    );
    // Its helpers run once it is trusted (see `trust.rs`).
    sandbox
        .wasm()
        .args(["self", "trust"])
        .run()
        .assert_success();
    let out = sandbox
        .wasm()
        .args(["self", "config", "--json"])
        .env("WASM_CONFIG", sandbox.path("elsewhere.toml"))
        .run();
    out.assert_success();
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let registries = value["registries"].as_array().unwrap();
    assert_eq!(registries.len(), 1, "{registries:?}");
    assert_eq!(registries[0]["registry"], "b.example");
    assert_eq!(registries[0]["username"], "project-user");
}

#[test]
fn a_config_error_stops_a_pull_before_any_request() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    sandbox.write_config("helper-timeout = -1\n");
    let out = sandbox
        .wasm()
        .args(["pull", &registry.reference("cfg/stop", "1")])
        .run();
    out.assert_status(1);
    out.assert_stderr_contains("helper-timeout");
    assert!(
        registry
            .requests()
            .iter()
            .all(|r| !r.uri.contains("cfg/stop"))
    );
}
