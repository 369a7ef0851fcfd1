//! `wasm registry test` against real registries, one test per verdict, each with a snapshot of
//! the output (normalized: sandbox paths and ports) and its exit status; and no secret in any
//! output, at any verbosity.
//!
//! Servers that are not registries (a web page, a proxy that refuses) are a few lines of
//! `std::net` here: they only need to answer one way.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::thread;

use crate::cli::assert_snapshot;
use crate::support::{
    ALICE_PASSWORD, ALICE_USER, CAROL_PASSWORD, CAROL_USER, DAVE_PASSWORD, DAVE_USER, Output,
    Registry, Sandbox, assert_no_secrets, auth_field, ca_file_section, docker_auths,
    shared_anonymous, shared_basic_tls, shared_token,
};

/// `auth` of a Docker `auths` entry.
/// A sandbox whose config trusts the TLS registry's CA, copied into the sandbox so that its path
/// is the same in every run.
fn trusting(registry: &Registry) -> Sandbox {
    let sandbox = Sandbox::new();
    let ca = std::fs::read(registry.ca_pem.as_ref().expect("a TLS registry")).unwrap();
    let path = sandbox.write_file("ca.pem", ca);
    sandbox.write_config(&ca_file_section(&registry.host, &path));
    sandbox
}

/// Runs `wasm registry test ARGS` in `sandbox` (no colors); asserts that no secret shows, also
/// at -vvv, and that the exit status is `status`; returns the normalized output.
#[track_caller]
fn test(sandbox: &Sandbox, args: &[&str], status: i32, secrets: &[&str]) -> Output {
    let out = sandbox
        .wasm()
        .args(["registry", "test", "--color", "never"])
        .args(args)
        .run();
    for text in [&out.stdout, &out.stderr] {
        assert_no_secrets(text, secrets);
    }
    out.assert_status(status);
    let verbose = sandbox
        .wasm()
        .args(["registry", "test", "--color", "never", "-vvv"])
        .args(args)
        .run();
    for text in [&verbose.stdout, &verbose.stderr] {
        assert_no_secrets(text, secrets);
    }
    verbose.assert_status(status);
    out.normalized(sandbox)
}

/// The snapshot text: the command (normalized), then its stdout; stderr must be empty.
#[track_caller]
fn snapshot(name: &str, sandbox: &Sandbox, args: &[&str], out: &Output) {
    assert_eq!(out.stderr, "", "stderr of {name}");
    let command = crate::support::normalize(&args.join(" "), sandbox);
    assert_snapshot(
        &format!("diagnose-{name}"),
        &format!("$ wasm registry test {command}\n{}", out.stdout),
    );
}

/// The verdict line (the one before `fix:`, or the last).
fn verdict_line(out: &Output) -> &str {
    let lines: Vec<&str> = out.stdout.lines().filter(|l| !l.is_empty()).collect();
    match lines.iter().position(|l| l.starts_with("fix: ")) {
        Some(i) => lines[i - 1],
        None => lines.last().copied().unwrap_or_default(),
    }
}

/// A server on a free loopback port answering every connection with `response` (after reading
/// what the client sent first), for as long as the test process runs.
fn canned_server(response: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            drop(stream.read(&mut buf));
            drop(stream.write_all(response.as_bytes()));
        }
    });
    address
}

#[test]
fn help() {
    let sandbox = Sandbox::new();
    let out = sandbox
        .wasm()
        .args(["registry", "test", "--help"])
        .env("COLUMNS", "100")
        .run();
    out.assert_success();
    assert_snapshot("help-registry-test", &out.stdout);
}

#[test]
fn ok_anonymous() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let args = [
        registry.host.as_str(),
        "--repository",
        "diagnose/anonymous",
        "--push",
    ];
    let out = test(&sandbox, &args, 0, &[]);
    snapshot("ok-anonymous", &sandbox, &args, &out);
    // The upload session opened to prove push access is cancelled.
    assert_eq!(
        registry.count("DELETE", "/v2/diagnose/anonymous/blobs/uploads/"),
        2
    );
}

#[test]
fn every_spelling_of_the_registry() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let host = &registry.host;
    for spelling in [
        host.clone(),
        format!("http://{host}"),
        format!("http://{host}/v2/"),
        format!("https://{host}/v1/"),
        format!("HTTPS://{host}/v2"),
    ] {
        let out = sandbox.wasm().args(["registry", "test", &spelling]).run();
        out.assert_success();
        let first = out.stdout.lines().next().unwrap();
        if spelling == *host {
            assert_eq!(first, format!("registry:   {host}"));
        } else {
            assert_eq!(first, format!("registry:   {spelling} -> {host}"));
        }
    }
}

#[test]
fn ok_basic_over_tls() {
    let registry = shared_basic_tls();
    let sandbox = trusting(registry);
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        ALICE_USER,
        ALICE_PASSWORD,
    )]));
    let args = [
        registry.host.as_str(),
        "--repository",
        "diagnose/basic",
        "--push",
    ];
    let out = test(&sandbox, &args, 0, &[]);
    snapshot("ok-basic-tls", &sandbox, &args, &out);
}

#[test]
fn ok_token_pull_and_push() {
    let (_server, registry) = shared_token();
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        CAROL_USER,
        CAROL_PASSWORD,
    )]));
    let args = [
        registry.host.as_str(),
        "--repository",
        "diagnose/token",
        "--push",
    ];
    let out = test(&sandbox, &args, 0, &[]);
    snapshot("ok-token", &sandbox, &args, &out);
}

#[test]
fn ok_with_an_identity_token() {
    let (server, registry) = shared_token();
    let sandbox = Sandbox::new();
    let refresh = server.issue_refresh_token(CAROL_USER);
    sandbox.write_docker_config(
        &serde_json::json!({"auths": {registry.host.clone(): {"identitytoken": refresh}}})
            .to_string(),
    );
    let args = [
        registry.host.as_str(),
        "--repository",
        "diagnose/identity",
        "--push",
    ];
    let out = test(&sandbox, &args, 0, &[&refresh]);
    snapshot("ok-identity-token", &sandbox, &args, &out);
}

#[test]
fn ok_anonymous_on_a_public_repository_of_a_token_registry() {
    let (_server, registry) = shared_token();
    let sandbox = Sandbox::new();
    let out = test(
        &sandbox,
        &[&registry.host, "--repository", "public/diagnose"],
        0,
        &[],
    );
    assert!(
        verdict_line(&out).starts_with("ok: anonymous access works: anyone may pull"),
        "{}",
        out.stdout
    );
}

#[test]
fn other_spelling() {
    let registry = shared_basic_tls();
    let sandbox = trusting(registry);
    let key = format!("https://{}/v2/", registry.host);
    sandbox.write_docker_config(&docker_auths(&[(&key, ALICE_USER, ALICE_PASSWORD)]));
    let args = [registry.host.as_str()];
    let out = test(&sandbox, &args, 0, &[]);
    snapshot("other-spelling", &sandbox, &args, &out);
}

#[test]
fn insufficient_scope() {
    let (_server, registry) = shared_token();
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&docker_auths(&[(&registry.host, DAVE_USER, DAVE_PASSWORD)]));
    let args = [
        registry.host.as_str(),
        "--repository",
        "diagnose/scope",
        "--push",
    ];
    let out = test(&sandbox, &args, 3, &[]);
    snapshot("insufficient-scope", &sandbox, &args, &out);
}

#[test]
fn no_credentials() {
    let (_server, registry) = shared_token();
    let sandbox = Sandbox::new();
    let args = [registry.host.as_str(), "--repository", "private/diagnose"];
    let out = test(&sandbox, &args, 3, &[]);
    snapshot("no-credentials", &sandbox, &args, &out);
}

#[test]
fn credentials_rejected() {
    let (_server, registry) = shared_token();
    let sandbox = Sandbox::new();
    let wrong = "wrong-canary-pw-5c0d";
    sandbox.write_docker_config(&docker_auths(&[(&registry.host, CAROL_USER, wrong)]));
    let args = [registry.host.as_str()];
    let out = test(&sandbox, &args, 3, &[wrong]);
    snapshot("credentials-rejected", &sandbox, &args, &out);
}

#[test]
fn helper_not_installed() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(r#"{"credsStore": "nonexistent"}"#);
    let args = [registry.host.as_str()];
    let out = test(&sandbox, &args, 3, &[]);
    snapshot("helper-not-installed", &sandbox, &args, &out);
}

#[test]
fn helper_failing() {
    let registry = shared_basic_tls();
    let sandbox = trusting(registry);
    let config = std::fs::read_to_string(sandbox.config_home().join("wasm/config.toml")).unwrap();
    sandbox.write_config(&format!(
        "{config}credential-helper = \"vault-login-helper\"\n"
    ));
    sandbox.add_script(
        "vault-login-helper",
        "echo 'error: not logged in to the vault; run `vault login` first' >&2\nexit 1",
    );
    let args = [registry.host.as_str()];
    let out = test(&sandbox, &args, 3, &[]);
    snapshot("helper-failing", &sandbox, &args, &out);
}

#[test]
fn config_json_invalid() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&format!(
        "{{\n  \"auths\": {{\n    \"{}\": {{\"auth\": \"{}\"}},\n  }}\n}}\n",
        registry.host,
        auth_field(ALICE_USER, ALICE_PASSWORD)
    ));
    let args = [registry.host.as_str()];
    let out = test(&sandbox, &args, 3, &[]);
    snapshot("config-json-invalid", &sandbox, &args, &out);
}

#[test]
fn connection_refused() {
    let sandbox = Sandbox::new();
    let args = ["127.0.0.1:9"];
    let out = test(&sandbox, &args, 4, &[]);
    snapshot("connection-refused", &sandbox, &args, &out);
}

#[test]
fn dns_failure() {
    let sandbox = Sandbox::new();
    let args = ["no-such-host.invalid"];
    let out = test(&sandbox, &args, 4, &[]);
    snapshot("dns-failure", &sandbox, &args, &out);
}

#[test]
fn not_a_registry() {
    let address = canned_server(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 36\r\n\
         Connection: close\r\n\r\n<html><body>Welcome!</body></html>\r\n",
    );
    let sandbox = Sandbox::new();
    let args = [address.as_str()];
    let out = test(&sandbox, &args, 4, &[]);
    snapshot("not-a-registry", &sandbox, &args, &out);
}

#[test]
fn tls_unknown_issuer() {
    let registry = shared_basic_tls();
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        ALICE_USER,
        ALICE_PASSWORD,
    )]));
    let args = [registry.host.as_str()];
    let out = test(&sandbox, &args, 4, &[]);
    snapshot("tls-unknown-issuer", &sandbox, &args, &out);
}

/// `openssl s_server` on a free loopback port with a certificate for `names`, valid until
/// `not_after` (year, month, day), signed by a CA of its own that the sandbox's config trusts
/// for `127.0.0.1:PORT`; killed on drop.
struct OpensslServer {
    child: std::process::Child,
    address: String,
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

fn openssl_server(sandbox: &Sandbox, names: &[&str], not_after: (i32, u8, u8)) -> OpensslServer {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let openssl = crate::support::require_tool("openssl", "openssl");
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "wasm e2e diagnose CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    let ca_path = sandbox.write_file("tls/ca.pem", ca_pem);
    let cert_path = sandbox.write_file("tls/cert.pem", cert.pem());
    let key_path = sandbox.write_file("tls/key.pem", key.serialize_pem());
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut cmd = std::process::Command::new(openssl);
    cmd.args(["s_server", "-quiet", "-www", "-accept", &address, "-cert"])
        .arg(&cert_path)
        .arg("-key")
        .arg(&key_path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = wasm_testkit::spawn_tied_to_process(cmd).unwrap();
    let server = OpensslServer { child, address };
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(&server.address).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "openssl s_server did not start"
        );
        thread::sleep(std::time::Duration::from_millis(20));
    }
    sandbox.write_config(&ca_file_section(&server.address, &ca_path));
    server
}

#[test]
fn insecure_reports_the_certificate_and_carries_on() {
    let registry = shared_basic_tls();
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        ALICE_USER,
        ALICE_PASSWORD,
    )]));
    let out = test(&sandbox, &[&registry.host, "--insecure"], 0, &[]);
    assert!(
        out.stdout.contains(
            "trusted:     NO: issued by an unknown CA (checked against the system's roots); \
             ignored: insecure"
        ),
        "{}",
        out.stdout
    );
    assert!(
        verdict_line(&out).starts_with("ok: user `alice`"),
        "{}",
        out.stdout
    );
}

#[test]
fn tls_name_mismatch() {
    let sandbox = Sandbox::new();
    let server = openssl_server(&sandbox, &["registry.example"], (4000, 1, 1));
    let args = [server.address.as_str()];
    let out = test(&sandbox, &args, 4, &[]);
    snapshot("tls-name-mismatch", &sandbox, &args, &out);
}

#[test]
fn tls_expired() {
    let sandbox = Sandbox::new();
    let server = openssl_server(&sandbox, &["127.0.0.1"], (2021, 1, 1));
    let args = [server.address.as_str()];
    let out = test(&sandbox, &args, 4, &[]);
    snapshot("tls-expired", &sandbox, &args, &out);
}

#[test]
fn tls_to_a_plain_http_registry() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    sandbox.write_config(&format!(
        "[registries.\"{}\"]\nprotocol = \"https\"\n",
        registry.host
    ));
    let args = [registry.host.as_str()];
    let out = test(&sandbox, &args, 4, &[]);
    snapshot("not-tls", &sandbox, &args, &out);
}

#[test]
fn plain_http_to_a_tls_registry() {
    let registry = shared_basic_tls();
    let sandbox = trusting(registry);
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        ALICE_USER,
        ALICE_PASSWORD,
    )]));
    let args = [registry.host.as_str(), "--plain-http"];
    let out = test(&sandbox, &args, 4, &[]);
    snapshot("needs-tls", &sandbox, &args, &out);
}

#[test]
fn proxy_unreachable() {
    // reqwest applies HTTPS_PROXY to loopback hosts too (only NO_PROXY exempts a host), so a
    // proxy variable pointing nowhere breaks even a local registry.
    let registry = shared_basic_tls();
    let sandbox = trusting(registry);
    sandbox.write_docker_config(&docker_auths(&[(
        &registry.host,
        ALICE_USER,
        ALICE_PASSWORD,
    )]));
    sandbox.set_env("HTTPS_PROXY", "http://127.0.0.1:9");
    let args = [registry.host.as_str()];
    let out = test(&sandbox, &args, 4, &[]);
    snapshot("proxy-unreachable", &sandbox, &args, &out);

    // NO_PROXY exempts it, and says so.
    sandbox.set_env("NO_PROXY", "127.0.0.1");
    let out = sandbox
        .wasm()
        .args(["registry", "test", &registry.host])
        .run();
    out.assert_success();
    assert!(
        out.stdout
            .contains("proxy:       none: NO_PROXY=127.0.0.1 excludes this host (else http://127.0.0.1:9 from HTTPS_PROXY)"),
        "{}",
        out.stdout
    );
}

#[test]
fn proxy_refused() {
    let registry = shared_basic_tls();
    let proxy = canned_server("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    let sandbox = trusting(registry);
    sandbox.set_env(
        "HTTPS_PROXY",
        format!("http://proxy-user:{ALICE_PASSWORD}@{proxy}"),
    );
    let args = [registry.host.as_str()];
    let out = test(&sandbox, &args, 4, &[]);
    snapshot("proxy-refused", &sandbox, &args, &out);
}

#[test]
fn json_output() {
    let (_server, registry) = shared_token();
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&docker_auths(&[(&registry.host, DAVE_USER, DAVE_PASSWORD)]));
    let out = sandbox
        .wasm()
        .args([
            "registry",
            "test",
            &format!("http://{}/v2/", registry.host),
            "--repository",
            "diagnose/json",
            "--push",
            "--json",
        ])
        .run();
    out.assert_status(3);
    assert_no_secrets(&out.stdout, &[]);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["registry"], registry.host.as_str());
    assert_eq!(
        report["normalized_from"],
        format!("http://{}/v2/", registry.host)
    );
    let names: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "credentials",
            "connection",
            "api",
            "authentication",
            "access"
        ]
    );
    assert_eq!(report["steps"][0]["findings"]["username"], DAVE_USER);
    assert_eq!(
        report["steps"][2]["findings"]["challenge"]["scheme"],
        "Bearer"
    );
    assert_eq!(report["steps"][4]["findings"]["push"]["granted"], false);
    assert_eq!(report["verdict"]["code"], "insufficient-scope");
    assert_eq!(report["verdict"]["ok"], false);
    assert!(report["verdict"]["fix"].is_string());
}

#[test]
fn quiet_prints_only_the_verdict() {
    let sandbox = Sandbox::new();
    let out = sandbox
        .wasm()
        .args(["registry", "test", "127.0.0.1:9", "-q", "--color", "never"])
        .run();
    out.assert_status(4);
    assert_eq!(
        out.stdout,
        "connection refused: nothing accepts connections at 127.0.0.1:9 (connection refused)\n\
         fix: check the host and the port; is the registry running?\n"
    );
}
