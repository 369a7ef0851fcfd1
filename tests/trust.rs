//! Project configs and trust: a directory's `.config/wasm/config.toml` (what a cloned repository
//! carries) runs no command and weakens no TLS setting until `wasm self trust`; a change to the
//! file, `--revoke` or a symbolic link takes that back; `--config` names a file the user chose.

use crate::cli::assert_snapshot;
use crate::support::component::hello_wasm;
use crate::support::hostile::RecordingListener;
use crate::support::{
    Output, Sandbox, non_loopback_address, shared_anonymous, shared_basic_tls, unique_repo,
};

/// Where the helper of the project configs below leaves its mark when it runs.
const MARKER: &str = "helper-ran";

/// A sandbox with `project-helper` on PATH: a credential helper that leaves [`MARKER`] in HOME
/// and prints a username and password.
fn sandbox_with_helper() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.add_script(
        "project-helper",
        &format!(
            "touch \"$HOME/{MARKER}\"\n\
             printf '[{{\"id\":\"username\",\"value\":\"u\"}},{{\"id\":\"password\",\"value\":\"p\"}}]'"
        ),
    );
    sandbox
}

/// Whether the helper ran since the last call (which forgets the mark).
fn helper_ran(sandbox: &Sandbox) -> bool {
    let marker = sandbox.path(MARKER);
    let ran = marker.exists();
    if ran {
        std::fs::remove_file(marker).unwrap();
    }
    ran
}

fn wasm(sandbox: &Sandbox, args: &[&str]) -> Output {
    sandbox
        .wasm()
        .args(args)
        .args(["--color", "never"])
        .run()
        .normalized(sandbox)
}

/// `== TITLE`, then the normalized output, for a snapshot of several commands.
fn section(title: &str, out: &Output) -> String {
    let mut text = format!("== {title} (exit {})\n", out.status);
    if !out.stdout.is_empty() {
        text.push_str(&format!("-- stdout\n{}", out.stdout));
    }
    if !out.stderr.is_empty() {
        text.push_str(&format!("-- stderr\n{}", out.stderr));
    }
    text
}

#[test]
fn a_project_helper_runs_only_while_the_file_is_trusted() {
    let registry = shared_anonymous();
    let sandbox = sandbox_with_helper();
    let reference = registry.reference(&unique_repo("trust/helper"), "1");
    sandbox
        .wasm()
        .arg("push")
        .arg(&reference)
        .arg(hello_wasm())
        .run()
        .assert_success();
    let project = sandbox.write_project_config(&format!(
        "[registries.\"{}\"]\ncredential-helper = \"project-helper\"\n",
        registry.host
    ));
    let pull = ["pull", reference.as_str(), "-o", "out.wasm"];
    let mut log = String::new();

    // Untrusted: neither `self config` nor `pull` runs it; both say so, with the fix.
    let out = wasm(&sandbox, &["self", "config"]);
    out.assert_success();
    assert!(!helper_ran(&sandbox), "self config ran the helper");
    log.push_str(&section("self config, untrusted", &out));
    let out = wasm(&sandbox, &pull);
    out.assert_success();
    assert!(!helper_ran(&sandbox), "pull ran the helper");
    assert!(
        out.stderr.contains(
            "warning: ignoring settings of the project config \
             [SANDBOX]/work/.config/wasm/config.toml: not trusted"
        ),
        "{}",
        out.stderr
    );
    // -q: nothing but errors.
    let quiet = wasm(&sandbox, &["pull", &reference, "-o", "out.wasm", "-q"]);
    quiet.assert_success();
    assert_eq!(quiet.stderr, "");

    // Trusted: it runs, for `self config` and for `pull`; the store is private.
    let out = wasm(&sandbox, &["self", "trust"]);
    out.assert_success();
    log.push_str(&section("self trust", &out));
    wasm(&sandbox, &["self", "config"]).assert_success();
    assert!(
        helper_ran(&sandbox),
        "self config did not run the trusted helper"
    );
    let out = wasm(&sandbox, &pull);
    out.assert_success();
    assert!(helper_ran(&sandbox), "pull did not run the trusted helper");
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    let store = sandbox.path(".local/state/wasm/trusted.toml");
    assert_eq!(mode(&store), 0o600);
    assert_eq!(mode(store.parent().unwrap()), 0o700);
    let recorded = String::from_utf8(sandbox.read_file(".local/state/wasm/trusted.toml")).unwrap();
    assert!(
        recorded.contains(&format!(
            "path = \"{}\"",
            project.canonicalize().unwrap().display()
        )),
        "{recorded}"
    );
    let out = wasm(&sandbox, &["self", "trust"]);
    out.assert_success();
    log.push_str(&section("self trust, again", &out));

    // Any change to the content takes trust back.
    let text = std::fs::read_to_string(&project).unwrap();
    std::fs::write(&project, format!("{text}# a harmless-looking edit\n")).unwrap();
    let out = wasm(&sandbox, &pull);
    out.assert_success();
    assert!(
        !helper_ran(&sandbox),
        "pull ran the helper of a changed file"
    );
    log.push_str(&section("pull, changed since trusted", &out));
    let json = sandbox.wasm().args(["self", "config", "--json"]).run();
    assert!(
        !helper_ran(&sandbox),
        "self config ran the helper of a changed file"
    );
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let trust = &value["config_files"][1]["trust"];
    assert_eq!(trust["state"], "changed", "{trust}");
    assert_eq!(trust["description"], "changed since you trusted it");
    assert_eq!(
        trust["ignored"][0]["setting"],
        format!(
            "registries.\"{}\".credential-helper = \"project-helper\"",
            registry.host
        )
    );
    let out = wasm(&sandbox, &["self", "trust"]);
    out.assert_success();
    log.push_str(&section("self trust, changed", &out));
    wasm(&sandbox, &pull).assert_success();
    assert!(helper_ran(&sandbox));

    // So does --revoke.
    let out = wasm(&sandbox, &["self", "trust", "--revoke"]);
    out.assert_success();
    log.push_str(&section("self trust --revoke", &out));
    let out = wasm(&sandbox, &["self", "trust", "--revoke"]);
    out.assert_success();
    log.push_str(&section("self trust --revoke, again", &out));
    wasm(&sandbox, &pull).assert_success();
    assert!(!helper_ran(&sandbox), "pull ran the helper after --revoke");

    // A file the user names is their choice: it runs, untrusted or not.
    wasm(
        &sandbox,
        &[
            "pull",
            &reference,
            "-o",
            "out.wasm",
            "--config",
            ".config/wasm/config.toml",
        ],
    )
    .assert_success();
    assert!(helper_ran(&sandbox), "--config did not run the helper");
    sandbox
        .wasm()
        .args(pull)
        .env("WASM_CONFIG", &project)
        .run()
        .assert_success();
    assert!(helper_ran(&sandbox), "WASM_CONFIG did not run the helper");

    assert_snapshot("trust-helper", &log);
}

#[test]
fn the_store_follows_xdg_state_home() {
    let registry = shared_anonymous();
    let sandbox = sandbox_with_helper();
    sandbox.write_project_config(&format!(
        "[registries.\"{}\"]\ncredential-helper = \"project-helper\"\n",
        registry.host
    ));
    sandbox.set_env("XDG_STATE_HOME", sandbox.path("state"));
    let state = wasm(&sandbox, &["self", "state"]);
    assert!(
        state
            .stdout
            .contains("trusted: [SANDBOX]/state/wasm/trusted.toml\n"),
        "{}",
        state.stdout
    );
    wasm(&sandbox, &["self", "trust"]).assert_success();
    assert!(sandbox.path("state/wasm/trusted.toml").exists());
    assert!(!sandbox.path(".local/state").exists());
    wasm(&sandbox, &["self", "config"]).assert_success();
    assert!(helper_ran(&sandbox));
    // Another state directory holds no trust.
    sandbox.set_env("XDG_STATE_HOME", sandbox.path("other-state"));
    let out = wasm(&sandbox, &["self", "config"]);
    assert!(!helper_ran(&sandbox));
    assert!(out.stderr.contains(": not trusted"), "{}", out.stderr);
}

/// `insecure`, `ca-file` and `protocol = "http"` for a registry elsewhere are ignored untrusted,
/// and `self config` (text and JSON) says so; the safe settings apply untrusted.
#[test]
fn self_config_shows_what_is_ignored() {
    let sandbox = sandbox_with_helper();
    sandbox.write_project_config(
        r#"helper-timeout = 5

[registries."localhost:5000"]
protocol = "http"

[registries."registry.example.com"]
insecure = true
protocol = "http"
ca-file = "ca.pem"

[registries."secure.example.com"]
protocol = "https"
credential-helper.username = "project-helper"
credential-helper.password = "project-helper"
"#,
    );
    let out = wasm(&sandbox, &["self", "config", "--no-exec"]);
    out.assert_success();
    assert_snapshot("self-config-untrusted", &out.stdout);
    assert_snapshot("trust-warning", &out.stderr);

    let json = sandbox.wasm().args(["self", "config", "--json"]).run();
    json.assert_success();
    assert!(!helper_ran(&sandbox));
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let global = &value["config_files"][0];
    assert_eq!(global["present"], false);
    assert_eq!(global.get("trust"), None);
    let project = &value["config_files"][1];
    assert_eq!(project["role"], "project");
    let trust = &project["trust"];
    assert_eq!(trust["state"], "untrusted");
    assert_eq!(trust["trusted"], false);
    let ignored: Vec<(&str, &str)> = trust["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["key"].as_str().unwrap(), i["effect"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ignored,
        [
            (
                "registries.\"registry.example.com\".protocol",
                "sends requests and credentials unencrypted to a registry on another machine"
            ),
            (
                "registries.\"registry.example.com\".insecure",
                "accepts any TLS certificate from the registry"
            ),
            (
                "registries.\"registry.example.com\".ca-file",
                "trusts a certificate authority chosen by the file"
            ),
            (
                "registries.\"secure.example.com\".credential-helper",
                "runs commands"
            ),
        ]
    );
    let fix = trust["fix"].as_str().unwrap();
    assert_eq!(
        fix,
        format!(
            "wasm self trust {}",
            sandbox
                .work_dir()
                .join(".config/wasm/config.toml")
                .display()
        )
    );

    wasm(&sandbox, &["self", "trust"]).assert_success();
    let json = sandbox
        .wasm()
        .args(["self", "config", "--no-exec", "--json"])
        .run();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let trust = &value["config_files"][1]["trust"];
    assert_eq!(trust["state"], "trusted");
    assert_eq!(trust["trusted"], true);
    assert_eq!(trust.get("ignored"), None);
    assert_eq!(trust.get("fix"), None);
}

/// A project's `ca-file` or `insecure = true` for a TLS registry whose certificate `wasm` does
/// not otherwise accept: refused untrusted (exit 4), accepted trusted (the registry then asks
/// for credentials: exit 3).
#[test]
fn tls_settings_apply_only_once_trusted() {
    let tls = shared_basic_tls();
    for setting in ["ca-file = \"../../../ca.pem\"", "insecure = true"] {
        let sandbox = Sandbox::new();
        std::fs::copy(tls.ca_pem.as_ref().unwrap(), sandbox.path("ca.pem")).unwrap();
        sandbox.write_project_config(&format!("[registries.\"{}\"]\n{setting}\n", tls.host));
        let tags = || {
            sandbox
                .wasm()
                .args([
                    "tags",
                    &format!("{}/trust/none", tls.host),
                    "--retries",
                    "1",
                ])
                .run()
        };
        let out = tags();
        out.assert_status(4);
        assert!(
            out.stderr.contains("certificate"),
            "{setting}: {}",
            out.stderr
        );
        wasm(&sandbox, &["self", "trust"]).assert_success();
        tags().assert_status(3);
    }
}

/// `protocol = "http"` for a registry on another machine (a listener on this machine's network
/// address): untrusted, `wasm` speaks TLS to it, so no plain-HTTP request arrives; trusted, it
/// speaks plain HTTP.
#[test]
fn plain_http_to_another_machine_applies_only_once_trusted() {
    let elsewhere = RecordingListener::start_on(non_loopback_address());
    let sandbox = Sandbox::new();
    sandbox.write_project_config(&format!(
        "[registries.\"{}\"]\nprotocol = \"http\"\n",
        elsewhere.host()
    ));
    let tags = || {
        sandbox
            .wasm()
            .args(["tags", &format!("{}/trust/none", elsewhere.host())])
            .args(["--retries", "1", "--timeout", "5"])
            .run()
    };
    tags().assert_failure();
    assert_eq!(elsewhere.requests(), [], "plain HTTP while untrusted");
    wasm(&sandbox, &["self", "trust"]).assert_success();
    tags();
    assert!(
        !elsewhere.requests().is_empty(),
        "no plain HTTP once trusted"
    );
}

/// What `self trust` refuses, and a project file reached through a symbolic link.
#[test]
fn what_cannot_be_trusted() {
    let sandbox = sandbox_with_helper();
    let mut log = String::new();
    let helper = "[registries.\"localhost:5000\"]\ncredential-helper = \"project-helper\"\n";
    for (title, args, file) in [
        ("no project config", &["self", "trust"][..], None),
        (
            "not a project config",
            &["self", "trust", "wasm.toml"],
            Some(("work/wasm.toml", helper)),
        ),
        (
            "invalid TOML",
            &["self", "trust"],
            Some(("work/.config/wasm/config.toml", "[registries.\"x\"\n")),
        ),
        (
            "invalid value",
            &["self", "trust"],
            Some((
                "work/.config/wasm/config.toml",
                "[registries.x]\ninsecure = \"yes\"\n",
            )),
        ),
    ] {
        if let Some((path, text)) = file {
            sandbox.write_file(path, text);
        }
        let out = wasm(&sandbox, args);
        out.assert_status(1);
        log.push_str(&section(title, &out));
    }
    assert!(!sandbox.path(".local/state/wasm/trusted.toml").exists());

    // A repository whose project config links to a file trusted elsewhere.
    sandbox.write_file("trusted/.config/wasm/config.toml", helper);
    wasm(
        &sandbox,
        &["self", "trust", "../trusted/.config/wasm/config.toml"],
    )
    .assert_success();
    std::fs::remove_dir_all(sandbox.path("work/.config")).unwrap();
    std::os::unix::fs::symlink("../trusted/.config", sandbox.path("work/.config")).unwrap();
    let out = wasm(&sandbox, &["self", "config", "--no-exec"]);
    out.assert_success();
    assert!(
        out.stderr.contains(
            "ignoring settings of the project config [SANDBOX]/work/.config/wasm/config.toml: \
             reached through a symbolic link to [SANDBOX]/trusted/.config/wasm/config.toml, \
             which wasm never trusts"
        ),
        "{}",
        out.stderr
    );
    wasm(&sandbox, &["self", "config"]);
    assert!(!helper_ran(&sandbox));
    let out = wasm(&sandbox, &["self", "trust"]);
    out.assert_status(1);
    log.push_str(&section("reached through a symbolic link", &out));
    // The file where it lies is trusted.
    let out = sandbox
        .wasm()
        .args(["self", "config"])
        .current_dir(sandbox.path("trusted"))
        .run();
    out.assert_success();
    assert!(helper_ran(&sandbox));

    assert_snapshot("trust-errors", &log);
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
