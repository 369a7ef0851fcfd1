//! The command line itself: help texts (snapshots), version, usage errors, and the sample
//! component the repository carries.

use crate::support::Sandbox;
use crate::support::component::hello_wasm;

/// Compares `actual` with `tests/snapshots/NAME.txt`; `UPDATE_SNAPSHOTS=1` rewrites the file.
#[track_caller]
pub(crate) fn assert_snapshot(name: &str, actual: &str) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}; run the tests with UPDATE_SNAPSHOTS=1 and review the file",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "snapshot {name} differs (UPDATE_SNAPSHOTS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

#[test]
fn help_texts() {
    let sandbox = Sandbox::new();
    for args in [
        &["--help"][..],
        &["push", "--help"],
        &["pull", "--help"],
        &["inspect", "--help"],
        &["tags", "--help"],
        &["copy", "--help"],
        &["discover", "--help"],
        &["attach", "--help"],
        &["init", "--help"],
        &["add", "--help"],
        &["remove", "--help"],
        &["install", "--help"],
        &["update", "--help"],
        &["outdated", "--help"],
        &["publish", "--help"],
        &["wit", "--help"],
        &["wit", "fetch", "--help"],
        &["wit", "build", "--help"],
        &["self", "--help"],
        &["self", "config", "--help"],
        &["self", "trust", "--help"],
        &["self", "state", "--help"],
        &["self", "clean", "--help"],
        &["self", "completions", "--help"],
        &["self", "man-pages", "--help"],
    ] {
        let out = sandbox.wasm().args(args).env("COLUMNS", "100").run();
        out.assert_success();
        let name = format!("help-{}", args[..args.len() - 1].join("-"));
        let name = if name == "help-" {
            "help".to_string()
        } else {
            name
        };
        assert_snapshot(&name, &out.stdout);
    }
}

#[test]
fn version_and_usage_errors() {
    let sandbox = Sandbox::new();
    let out = sandbox.wasm().arg("--version").run();
    out.assert_success();
    assert_eq!(out.stdout, format!("wasm {}\n", env!("CARGO_PKG_VERSION")));
    let out = sandbox.wasm().arg("frobnicate").run();
    out.assert_status(2);
    out.assert_stderr_contains("unrecognized subcommand 'frobnicate'");
    let out = sandbox.wasm().args(["push", "x"]).run();
    out.assert_status(2);
}

#[test]
fn sample_component_matches_its_source() {
    let wat = std::fs::read_to_string(hello_wasm().with_extension("wat")).unwrap();
    let built = wat::parse_str(&wat).unwrap();
    assert_eq!(std::fs::read(hello_wasm()).unwrap(), built);
}

#[test]
fn inspect_a_local_file() {
    let sandbox = Sandbox::new();
    let out = sandbox
        .wasm()
        .arg("inspect")
        .arg(hello_wasm())
        .args(["--color", "never"])
        .run();
    out.assert_success();
    let text = out
        .stdout
        .replace(&hello_wasm().display().to_string(), "[FILE]");
    assert_eq!(
        text,
        "[FILE]
  kind:     component (os wasip2)
  size:     342 B (342 bytes)
  digest:   sha256:df0cf1a232f9dda97e05e64454ca16c44d20cc51564a4d2d2ba68912773835e4
  imports:
    example:hello/logger@0.1.0
  exports:
    example:hello/greeter@0.1.0
"
    );
}

#[test]
fn completions_and_man_pages() {
    let sandbox = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = sandbox.wasm().args(["self", "completions", shell]).run();
        out.assert_success();
        assert!(out.stdout.contains("push"), "{shell}");
    }
    sandbox
        .wasm()
        .args(["self", "man-pages", "man"])
        .run()
        .assert_success();
    assert!(sandbox.path("work/man/wasm.1").exists());
    assert!(sandbox.path("work/man/wasm-push.1").exists());
}
