//! The credential chain end to end: real helper programs (a scripted `op`, split helpers, the
//! real `docker-credential-pass`), Docker and Podman files in every spelling, against a real
//! registry with Basic auth over TLS — and no secret in any output, at any verbosity.

use crate::cli::assert_snapshot;
use crate::support::{
    ALICE_PASSWORD, ALICE_USER, BOB_PASSWORD, BOB_USER, PassStore, PodmanLocation, Registry,
    Sandbox, assert_no_secrets, auth_field, shared_basic_tls, unique_repo,
};

/// Pushes the sample and pulls it back at -vvv; asserts both work and leak nothing. Returns the
/// pull's stderr.
fn push_and_pull(sandbox: &Sandbox, registry: &Registry, repo: &str) -> String {
    let (_, pull) = sandbox.round_trip_vvv(&registry.reference(repo, "1"), &[]);
    pull.stderr
}

#[test]
fn a_1password_json_helper() {
    let registry = shared_basic_tls();
    let sandbox = Sandbox::for_registry(
        registry,
        "credential-helper = \"op item get registry --format json --fields username,password\"\n",
    );
    // A stand-in for the 1Password CLI printing exactly what `op item get ... --format json`
    // prints, and counting its runs.
    sandbox.add_script(
        "op",
        &format!(
            r#"echo run >> "$HOME/op-runs"
cat <<'JSON'
[
  {{"id": "username", "type": "STRING", "purpose": "USERNAME", "label": "username", "value": "{ALICE_USER}", "reference": "op://Private/registry/username"}},
  {{"id": "password", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": "{ALICE_PASSWORD}", "entropy": 71.2, "reference": "op://Private/registry/password", "password_details": {{"strength": "FANTASTIC"}}}}
]
JSON"#
        ),
    );
    let repo = unique_repo("cred/op");
    let log = push_and_pull(&sandbox, registry, &repo);
    assert!(log.contains("found username/password"), "{log}");
    // Once per process: one run for the push, one for the pull.
    let runs = String::from_utf8(sandbox.read_file("op-runs")).unwrap();
    assert_eq!(runs.lines().count(), 2);
}

#[test]
fn split_helpers() {
    let registry = shared_basic_tls();
    // The password comes from the environment, as a CI job's secret would.
    let sandbox = Sandbox::for_registry(
        registry,
        "credential-helper.username = \"op read op://vault/registry/username\"\ncredential-helper.password = \"printf '%s\\\\n' \\\"$REGISTRY_PASSWORD\\\"\"\n",
    );
    sandbox.set_env("REGISTRY_PASSWORD", BOB_PASSWORD);
    sandbox.add_script("op", &format!("echo {BOB_USER}"));
    push_and_pull(&sandbox, registry, &unique_repo("cred/split"));
}

#[test]
fn docker_auths_in_every_spelling_and_podman_files() {
    let registry = shared_basic_tls();
    let host = &registry.host;
    for key in [
        host.clone(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ] {
        let sandbox = Sandbox::for_registry(registry, "");
        sandbox.write_docker_config(
            &serde_json::json!({"auths": {key.clone(): {"auth": auth_field(ALICE_USER, ALICE_PASSWORD)}}})
                .to_string(),
        );
        let out = sandbox
            .wasm()
            .args(["pull", &registry.reference("spellings/none", "1")])
            .run();
        // Authenticated: the registry answers "not found", not 401.
        out.assert_status(1);
        assert!(
            out.stderr.contains("was not found"),
            "{key}: {}",
            out.stderr
        );
    }
    for location in [
        PodmanLocation::Runtime,
        PodmanLocation::XdgConfig,
        PodmanLocation::EnvFile,
    ] {
        let sandbox = Sandbox::for_registry(registry, "");
        sandbox.write_podman_auth(
            &serde_json::json!({"auths": {
                format!("{host}/team"): {"auth": auth_field(BOB_USER, BOB_PASSWORD)},
                host.clone(): {"auth": auth_field(ALICE_USER, "wrong")},
            }})
            .to_string(),
            location,
        );
        // Under team/ the namespaced entry (bob) serves; elsewhere the host entry (wrong).
        push_and_pull(&sandbox, registry, &unique_repo("team/podman"));
        let out = sandbox
            .wasm()
            .args(["pull", &registry.reference("other/x", "1")])
            .run();
        out.assert_status(3);
        assert!(
            out.stderr.contains("user `alice`"),
            "{location:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn a_real_docker_credential_pass_store() {
    let registry = shared_basic_tls();
    let store = PassStore::new();
    let host = registry.host.clone();

    // credsStore: `docker login` stores the bare host and leaves an empty auths entry.
    let sandbox = Sandbox::for_registry(registry, "");
    sandbox.use_pass_store(&store);
    store.store(&host, ALICE_USER, ALICE_PASSWORD);
    sandbox.write_docker_config(
        &serde_json::json!({"auths": {host.clone(): {}}, "credsStore": "pass"}).to_string(),
    );
    push_and_pull(&sandbox, registry, &unique_repo("pass/store"));

    // credHelpers, with the entry under another spelling: found through `list`.
    store.erase(&host);
    store.store(&format!("https://{host}/v2/"), BOB_USER, BOB_PASSWORD);
    sandbox.write_docker_config(
        &serde_json::json!({"credHelpers": {host.clone(): "pass"}}).to_string(),
    );
    let log = push_and_pull(&sandbox, registry, &unique_repo("pass/helpers"));
    assert!(
        log.contains(&format!("under `https://{host}/v2/`")),
        "{log}"
    );

    // A miss (pass answers exit 0 with empty fields) is "no entry", then anonymous: 401.
    store.erase(&format!("https://{host}/v2/"));
    let out = sandbox
        .wasm()
        .args(["pull", &registry.reference("pass/none", "1")])
        .run()
        .normalized(&sandbox);
    out.assert_status(3);
    out.assert_stderr_contains("no credentials were found");
}

#[test]
fn broken_sources_stop_the_chain_with_their_error() {
    let registry = shared_basic_tls();
    let reference = registry.reference("broken/x", "1");
    let mut all = String::new();
    type Setup = Box<dyn Fn(&Sandbox)>;
    let cases: Vec<(&str, Setup)> = vec![
        (
            "invalid-config-json",
            Box::new(|s: &Sandbox| {
                s.write_docker_config("{\n  \"auths\": {\n    \"x\": {},\n  }\n}\n");
            }),
        ),
        (
            "missing-store-helper",
            Box::new(|s: &Sandbox| {
                s.write_docker_config(r#"{"credsStore": "osxkeychain"}"#);
            }),
        ),
        (
            "failing-helper",
            Box::new(|s: &Sandbox| {
                s.add_script(
                    "op",
                    "echo '[ERROR] You are not currently signed in.' >&2; exit 1",
                );
            }),
        ),
        (
            "helper-not-installed",
            Box::new(|s: &Sandbox| {
                s.add_script("op-missing-marker", "true");
            }),
        ),
        (
            "helper-prints-garbage",
            Box::new(|s: &Sandbox| {
                s.add_script(
                    "op",
                    &format!("echo 'username={ALICE_USER} password={ALICE_PASSWORD}'"),
                );
            }),
        ),
        (
            "helper-lacks-password",
            Box::new(|s: &Sandbox| {
                s.add_script(
                    "op",
                    r#"echo '[{"id":"username","value":"alice"},{"id":"notes","value":"x"}]'"#,
                );
            }),
        ),
        (
            "helper-not-utf8",
            Box::new(|s: &Sandbox| {
                s.add_script("op", r"printf '\377\376'");
            }),
        ),
    ];
    for (name, setup) in cases {
        let helper = match name {
            "helper-not-installed" => "credential-helper = \"op-not-installed item get x\"\n",
            n if n.starts_with("helper") || n.starts_with("failing") => {
                "credential-helper = \"op item get registry --format json\"\n"
            }
            _ => "",
        };
        let sandbox = Sandbox::for_registry(registry, helper);
        setup(&sandbox);
        let out = sandbox
            .wasm()
            .args(["pull", &reference])
            .run()
            .normalized(&sandbox);
        out.assert_status(3);
        assert_no_secrets(&out.stderr, &[]);
        all.push_str(&format!("== {name}\n{}\n", out.stderr));
    }
    assert_snapshot("credential-errors", &all);
}

#[test]
fn a_hanging_helper_is_stopped_at_the_timeout() {
    let registry = shared_basic_tls();
    let sandbox = Sandbox::for_registry(registry, "credential-helper = \"sleep 30; echo never\"\n");
    let config = std::fs::read_to_string(sandbox.config_home().join("wasm/config.toml")).unwrap();
    sandbox.write_config(&format!("helper-timeout = 1\n{config}"));
    let started = std::time::Instant::now();
    let out = sandbox
        .wasm()
        .args(["pull", &registry.reference("hang/x", "1")])
        .run()
        .normalized(&sandbox);
    out.assert_status(3);
    assert!(
        out.stderr
            .contains("did not finish within 1 s and was stopped"),
        "{}",
        out.stderr
    );
    // Generous: the point is that it does not wait the full 30 s.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn helpers_in_a_file_others_can_write_are_not_run() {
    use std::os::unix::fs::PermissionsExt as _;
    let registry = shared_basic_tls();
    let sandbox = Sandbox::for_registry(registry, "credential-helper = \"op item get registry\"\n");
    sandbox.add_script("op", "touch \"$HOME/op-ran\"; exit 1");
    let config = sandbox.config_home().join("wasm/config.toml");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = sandbox
        .wasm()
        .args(["pull", &registry.reference("perm/x", "1")])
        .run()
        .normalized(&sandbox);
    out.assert_status(3);
    assert_eq!(
        out.stderr,
        "error: cannot get credentials for 127.0.0.1:[PORT] from wasm config credential-helper ([SANDBOX]/.config/wasm/config.toml)\n  caused by: refusing to run credential helper `op item get registry`: [SANDBOX]/.config/wasm/config.toml is writable by group and others (mode 0666), so another user could change the command; run `chmod go-w [SANDBOX]/.config/wasm/config.toml`\n"
    );
    assert!(!sandbox.path("op-ran").exists(), "the helper did not run");
}
