//! `wasm login` and `wasm logout` end to end: credentials checked against real registries, then
//! stored in and erased from a real `docker-credential-pass` (as `credsStore` and as
//! `credHelpers`) and Docker's `config.json`; identity tokens from a token server's password
//! grant; and access tokens that expire in the middle of a push or pull, renewed.

use std::os::unix::fs::PermissionsExt as _;

use serde_json::{Value, json};

use crate::cli::assert_snapshot;
use crate::support::component::hello_wasm;
use crate::support::{
    ALICE_PASSWORD, ALICE_USER, AclRule, BOB_PASSWORD, BOB_USER, CAROL_PASSWORD, CAROL_USER,
    Output, PassStore, PodmanLocation, Registry, Sandbox, TokenServer, auth_field, ca_file_section,
    shared_basic_tls, shared_token, unique_repo,
};

/// `wasm login REGISTRY -u USER --password-stdin ARGS...` with `password` and a newline on stdin.
fn login(sandbox: &Sandbox, registry: &str, user: &str, password: &str, args: &[&str]) -> Output {
    sandbox
        .wasm()
        .args(["login", registry, "-u", user, "--password-stdin"])
        .args(args)
        .stdin(format!("{password}\n"))
        .run()
}

fn push(sandbox: &Sandbox, registry: &Registry, repo: &str, args: &[&str]) -> Output {
    sandbox
        .wasm()
        .args(["push", &registry.reference(repo, "1")])
        .arg(hello_wasm())
        .args(args)
        .run()
}

fn docker_config(sandbox: &Sandbox) -> Value {
    serde_json::from_slice(&sandbox.read_file(".docker/config.json")).expect("config.json is JSON")
}

/// Appends a command's normalized output to a snapshot text.
fn record(all: &mut String, title: &str, out: &Output, sandbox: &Sandbox) {
    let out = out.normalized(sandbox);
    all.push_str(&format!(
        "== {title} (exit {})\n{}{}\n",
        out.status, out.stdout, out.stderr
    ));
}

#[test]
fn login_and_logout_through_a_real_docker_credential_pass() {
    let registry = shared_basic_tls();
    let host = registry.host.clone();
    let store = PassStore::new();
    let sandbox = Sandbox::for_registry(registry, "");
    sandbox.use_pass_store(&store);
    let mut all = String::new();

    // credsStore: the helper gets the credentials under the bare host; auths gets `{}`, as
    // `docker login` leaves it.
    sandbox.write_docker_config(r#"{"credsStore": "pass"}"#);
    let out = login(&sandbox, &host, ALICE_USER, ALICE_PASSWORD, &["-vvv"]);
    out.assert_success();
    let stored = store.get(&host);
    assert_eq!(stored["Username"], ALICE_USER);
    assert_eq!(stored["Secret"], ALICE_PASSWORD);
    assert_eq!(store.list(), json!({ host.clone(): ALICE_USER }));
    assert_eq!(
        docker_config(&sandbox),
        json!({"credsStore": "pass", "auths": { host.clone(): {} }})
    );
    let out = login(&sandbox, &host, ALICE_USER, ALICE_PASSWORD, &[]);
    record(&mut all, "login, credsStore", &out, &sandbox);
    push(&sandbox, registry, &unique_repo("login/pass"), &[]).assert_success();

    let out = sandbox.wasm().args(["logout", &host, "-vvv"]).run();
    out.assert_success();
    assert_eq!(store.list(), json!({}));
    assert_eq!(
        docker_config(&sandbox),
        json!({"credsStore": "pass", "auths": {}})
    );
    store.store(&host, ALICE_USER, ALICE_PASSWORD);
    let out = sandbox.wasm().args(["logout", &host]).run();
    record(&mut all, "logout, credsStore", &out, &sandbox);
    let out = sandbox.wasm().args(["logout", &host]).run();
    out.assert_success();
    record(&mut all, "logout again", &out, &sandbox);

    // credHelpers wins over credsStore, and the registry may be written in any spelling.
    sandbox.write_docker_config(
        &json!({"credsStore": "not-installed", "credHelpers": { host.clone(): "pass" }})
            .to_string(),
    );
    let out = login(
        &sandbox,
        &format!("https://{host}/v2/"),
        BOB_USER,
        BOB_PASSWORD,
        &[],
    );
    out.assert_success();
    record(
        &mut all,
        "login, credHelpers, as https://HOST/v2/",
        &out,
        &sandbox,
    );
    assert_eq!(store.get(&host)["Username"], BOB_USER);
    assert_eq!(store.get(&host)["Secret"], BOB_PASSWORD);
    assert_eq!(
        docker_config(&sandbox)["auths"],
        json!({ host.clone(): {} })
    );
    push(&sandbox, registry, &unique_repo("login/helpers"), &[]).assert_success();

    // Logout erases every spelling the helper holds (another tool stored `https://HOST`).
    store.store(&format!("https://{host}"), ALICE_USER, ALICE_PASSWORD);
    let out = sandbox
        .wasm()
        .args(["logout", &format!("HTTPS://{host}")])
        .run();
    out.assert_success();
    record(
        &mut all,
        "logout, credHelpers, two spellings",
        &out,
        &sandbox,
    );
    assert_eq!(store.list(), json!({}));
    let out = push(&sandbox, registry, &unique_repo("login/out"), &[]);
    out.assert_status(3);
    out.assert_stderr_contains("no credentials were found");
    assert_snapshot("login-pass", &all);
}

#[test]
fn login_to_auths_keeps_the_rest_of_the_file() {
    let registry = shared_basic_tls();
    let host = registry.host.clone();
    let sandbox = Sandbox::for_registry(registry, "");
    let other = auth_field("someone", "else");
    sandbox.write_docker_config(
        &json!({
            "psFormat": "table {{.ID}}\\t{{.Names}}",
            "auths": {"other.example": {"auth": other}},
            "HttpHeaders": {"X-Meta": "1"},
            "experimental": "enabled",
        })
        .to_string(),
    );
    let mut all = String::new();

    login(&sandbox, &host, ALICE_USER, ALICE_PASSWORD, &["-vvv"]).assert_success();
    // Again, for the messages without the logs.
    let out = login(&sandbox, &host, ALICE_USER, ALICE_PASSWORD, &[]);
    out.assert_success();
    record(&mut all, "login, auths", &out, &sandbox);
    let path = sandbox.docker_config_dir().join("config.json");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "config.json is private");
    let config = docker_config(&sandbox);
    let keys: Vec<&String> = config.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["psFormat", "auths", "HttpHeaders", "experimental"]);
    assert_eq!(config["psFormat"], "table {{.ID}}\\t{{.Names}}");
    assert_eq!(config["HttpHeaders"], json!({"X-Meta": "1"}));
    assert_eq!(
        config["auths"],
        json!({
            "other.example": {"auth": other},
            host.clone(): {"auth": auth_field(ALICE_USER, ALICE_PASSWORD)},
        })
    );
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(sandbox.docker_config_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["config.json"]);

    // A fixed name: the error below names it in a snapshot.
    let repo = "login/auths-keep";
    push(&sandbox, registry, repo, &[]).assert_success();

    let out = sandbox.wasm().args(["logout", &host]).run();
    out.assert_success();
    record(&mut all, "logout, auths", &out, &sandbox);
    assert_eq!(
        docker_config(&sandbox)["auths"],
        json!({"other.example": {"auth": other}})
    );
    let out = push(&sandbox, registry, repo, &[]);
    out.assert_status(3);
    record(&mut all, "push after logout", &out, &sandbox);

    // What logout leaves alone is named: Podman's files, and the wasm config's helper (which
    // also comes before what login stores).
    sandbox.write_podman_auth(
        &json!({"auths": { host.clone(): {"auth": auth_field("bob", "x")} }}).to_string(),
        PodmanLocation::Runtime,
    );
    let out = sandbox.wasm().args(["logout", &host]).run();
    out.assert_success();
    record(
        &mut all,
        "logout, podman still has credentials",
        &out,
        &sandbox,
    );
    let ca = registry.ca_pem.as_ref().unwrap();
    sandbox.write_config(&format!(
        "{}credential-helper = \"op item get x\"\n",
        ca_file_section(&host, ca)
    ));
    let out = login(&sandbox, &host, ALICE_USER, ALICE_PASSWORD, &[]);
    out.assert_success();
    record(
        &mut all,
        "login, the wasm config has a helper",
        &out,
        &sandbox,
    );
    let out = sandbox.wasm().args(["logout", &host]).run();
    out.assert_success();
    record(
        &mut all,
        "logout, the wasm config has a helper",
        &out,
        &sandbox,
    );
    assert_snapshot("login-auths", &all);

    // Without a config.json (or its directory), login creates them, private.
    let sandbox = Sandbox::for_registry(registry, "");
    let dir = sandbox.path("fresh/docker");
    let out = sandbox
        .wasm()
        .args(["login", &host, "-u", ALICE_USER, "--password-stdin"])
        .env("DOCKER_CONFIG", &dir)
        .stdin(ALICE_PASSWORD)
        .run();
    out.assert_success();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the new directory is private");
    let mode = std::fs::metadata(dir.join("config.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn wrong_passwords_and_bad_input_store_nothing() {
    let basic = shared_basic_tls();
    let (_server, token) = shared_token();
    let sandbox = Sandbox::for_registry(basic, "");
    let original = r#"{"auths": {}, "psFormat": "x"}"#;
    sandbox.write_docker_config(original);
    let mut all = String::new();

    let out = login(&sandbox, &basic.host, ALICE_USER, "wrong-password", &[]);
    out.assert_status(3);
    record(&mut all, "wrong password, Basic registry", &out, &sandbox);
    let out = login(&sandbox, &token.host, CAROL_USER, "wrong-password", &[]);
    out.assert_status(3);
    record(&mut all, "wrong password, token registry", &out, &sandbox);
    assert_eq!(
        String::from_utf8(sandbox.read_file(".docker/config.json")).unwrap(),
        original
    );

    // A config.json that is not JSON is never overwritten.
    let broken = "{\n  \"auths\": {\n    \"x\": {},\n  }\n}\n";
    sandbox.write_docker_config(broken);
    let out = login(&sandbox, &basic.host, ALICE_USER, ALICE_PASSWORD, &[]);
    out.assert_status(3);
    record(&mut all, "config.json is not JSON", &out, &sandbox);
    let out = sandbox.wasm().args(["logout", &basic.host]).run();
    out.assert_status(3);
    assert_eq!(
        String::from_utf8(sandbox.read_file(".docker/config.json")).unwrap(),
        broken
    );

    // A credsStore helper that is not installed: nothing is stored elsewhere instead.
    let missing = r#"{"credsStore": "not-installed"}"#;
    sandbox.write_docker_config(missing);
    let out = login(&sandbox, &basic.host, ALICE_USER, ALICE_PASSWORD, &[]);
    out.assert_status(3);
    record(&mut all, "credsStore helper not installed", &out, &sandbox);
    assert_eq!(
        String::from_utf8(sandbox.read_file(".docker/config.json")).unwrap(),
        missing
    );

    // Usage errors: no password on stdin, no terminal to ask on, no username, a repository.
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "--password-stdin with nothing on stdin",
            vec!["login", &basic.host, "-u", ALICE_USER, "--password-stdin"],
            "",
        ),
        (
            "no terminal and no --password-stdin",
            vec!["login", &basic.host, "-u", ALICE_USER],
            "",
        ),
        (
            "no username",
            vec!["login", &basic.host, "--password-stdin"],
            "pw\n",
        ),
        (
            "a repository instead of a registry",
            vec!["login", "ghcr.io/me/app", "-u", "me", "--password-stdin"],
            "pw\n",
        ),
        (
            "-p does not exist",
            vec!["login", &basic.host, "-u", ALICE_USER, "-p", "secret"],
            "",
        ),
    ];
    sandbox.write_docker_config(original);
    for (title, args, stdin) in cases {
        let out = sandbox.wasm().args(args).stdin(stdin).run();
        out.assert_failure();
        record(&mut all, title, &out, &sandbox);
    }
    assert_eq!(
        String::from_utf8(sandbox.read_file(".docker/config.json")).unwrap(),
        original
    );
    assert_snapshot("login-errors", &all);
}

#[test]
fn a_token_registry_gets_an_identity_token_stored_not_the_password() {
    let (server, registry) = shared_token();
    let host = registry.host.clone();
    let sandbox = Sandbox::new();

    let out = login(&sandbox, &host, CAROL_USER, CAROL_PASSWORD, &["-vvv"]);
    out.assert_success();
    let out = out.normalized(&sandbox);
    assert!(
        out.stderr.ends_with(
            "Login succeeded: credentials for 127.0.0.1:[PORT] stored in [SANDBOX]/.docker/config.json under auths.\"127.0.0.1:[PORT]\" (base64, not encrypted) (an identity token the registry issued, not the password)\n"
        ),
        "{}",
        out.stderr
    );
    // The password grant asked for a refresh token.
    let grant = server
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.param("grant_type") == Some("password"))
        .expect("a password grant");
    assert_eq!(grant.method, "POST");
    assert_eq!(grant.param("access_type"), Some("offline"));
    assert_eq!(grant.param("username"), Some(CAROL_USER));
    assert_eq!(grant.status, 200);

    let config = docker_config(&sandbox);
    let entry = &config["auths"][host.as_str()];
    let token = entry["identitytoken"].as_str().expect("an identity token");
    assert!(server.issued_secrets().iter().any(|s| s == token));
    assert_eq!(entry["auth"], auth_field(CAROL_USER, ""));
    let text = String::from_utf8(sandbox.read_file(".docker/config.json")).unwrap();
    assert!(!text.contains(CAROL_PASSWORD), "the password is not stored");

    // Push and pull work with only the identity token.
    let repo = unique_repo("login/identity");
    let reference = registry.reference(&repo, "1");
    sandbox.round_trip_vvv(&reference, &[token]);
    assert_eq!(
        sandbox.read_file("work/back.wasm"),
        std::fs::read(hello_wasm()).unwrap()
    );
    assert!(
        server
            .requests_for(&repo)
            .iter()
            .all(|r| r.param("grant_type") == Some("refresh_token")),
        "every token for the repository came from the identity token"
    );

    // Logout forgets it.
    sandbox
        .wasm()
        .args(["logout", &host])
        .run()
        .assert_success();
    assert_eq!(docker_config(&sandbox)["auths"], json!({}));

    // In a helper, an identity token is stored as Docker stores it: username `<token>`.
    let store = PassStore::new();
    sandbox.use_pass_store(&store);
    sandbox.write_docker_config(r#"{"credsStore": "pass"}"#);
    login(&sandbox, &host, CAROL_USER, CAROL_PASSWORD, &[]).assert_success();
    let stored = store.get(&host);
    assert_eq!(stored["Username"], "<token>");
    let secret = stored["Secret"].as_str().unwrap();
    assert!(server.issued_secrets().iter().any(|s| s == secret));
    sandbox.pull_ok(&reference, "helper.wasm");
}

#[test]
fn a_realm_without_the_password_grant_gets_the_password_stored() {
    let server = TokenServer::start(
        &[(CAROL_USER, CAROL_PASSWORD)],
        vec![AclRule::user(CAROL_USER, "", &["pull", "push"])],
    )
    .without_post_grants();
    let registry = Registry::token(&server);
    let sandbox = Sandbox::new();
    login(&sandbox, &registry.host, CAROL_USER, CAROL_PASSWORD, &[]).assert_success();
    let methods: Vec<(String, u16)> = server
        .requests()
        .into_iter()
        .map(|r| (r.method, r.status))
        .collect();
    assert_eq!(
        methods,
        [("POST".to_string(), 405), ("GET".to_string(), 200)],
        "the password grant, then GET with Basic auth"
    );
    assert_eq!(
        docker_config(&sandbox)["auths"][registry.host.as_str()],
        json!({"auth": auth_field(CAROL_USER, CAROL_PASSWORD)})
    );
    push(&sandbox, &registry, "fallback/app", &[]).assert_success();
    let out = login(&sandbox, &registry.host, CAROL_USER, "wrong", &[]);
    out.assert_status(3);
}

#[test]
fn an_access_token_that_expires_mid_operation_is_renewed() {
    let server = TokenServer::start(
        &[(CAROL_USER, CAROL_PASSWORD)],
        vec![AclRule::user(CAROL_USER, "", &["pull", "push"])],
    );
    let registry = Registry::token(&server);
    let sandbox = Sandbox::new();
    let refresh = server.issue_refresh_token(CAROL_USER);
    sandbox.write_docker_config(
        &json!({"auths": { registry.host.clone(): {
            "auth": auth_field(CAROL_USER, ""),
            "identitytoken": refresh,
        }}})
        .to_string(),
    );
    let repo = "renew/app";

    // The push's access token is refused as expired at its first request: it is renewed (a
    // second refresh-token grant) and the push goes on.
    server.expire_next_tokens(1);
    let out = push(&sandbox, &registry, repo, &["-v"]);
    out.assert_success();
    assert!(
        out.stderr
            .contains("renewed the access token; retrying once"),
        "{}",
        out.stderr
    );
    let refused: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.status == 401 && r.uri.starts_with(&format!("/v2/{repo}/")))
        .collect();
    // The two existence checks go out together with the same token: each is refused at most
    // once, and the token is renewed once (below).
    assert!(
        (1..=2).contains(&refused.len()) && refused.iter().all(|r| r.method == "HEAD"),
        "only the first requests were refused: {refused:?}"
    );
    assert_eq!(
        server
            .requests_for(repo)
            .iter()
            .filter(|r| r.param("grant_type") == Some("refresh_token") && r.status == 200)
            .count(),
        2
    );

    // The same for a pull.
    server.expire_next_tokens(1);
    let out = sandbox
        .wasm()
        .args(["pull", &registry.reference(repo, "1"), "-o", "r.wasm", "-v"])
        .run();
    out.assert_success();
    out.assert_stderr_contains("renewed the access token");
    assert_eq!(
        sandbox.read_file("work/r.wasm"),
        std::fs::read(hello_wasm()).unwrap()
    );

    // With a username and password, a token that expired is renewed too.
    sandbox.write_docker_config(
        &json!({"auths": { registry.host.clone(): {
            "auth": auth_field(CAROL_USER, CAROL_PASSWORD),
        }}})
        .to_string(),
    );
    server.expire_next_tokens(1);
    push(&sandbox, &registry, "renew/basic", &[]).assert_success();
}

#[test]
fn help_texts() {
    let sandbox = Sandbox::new();
    for command in ["login", "logout"] {
        let out = sandbox
            .wasm()
            .args([command, "--help"])
            .env("COLUMNS", "100")
            .run();
        out.assert_success();
        assert_snapshot(&format!("help-{command}"), &out.stdout);
    }
}
