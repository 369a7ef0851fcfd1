//! Running child processes the way a CI log wants them.
//!
//! Every command that does work is echoed first (`$ cargo fmt --all -- --check`) so a log reads
//! like a shell session, gets no standard input (CI has none, and nothing here may wait for a
//! prompt), and on failure returns an error naming the command line and its exit status. Probes
//! that only ask "does this work?" stay quiet.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context as _, Result, bail};

/// The workspace root: the parent of this crate's manifest directory.
///
/// `cargo xtask` always rebuilds this crate in place, so the compile-time path is the live one.
pub(crate) fn workspace_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
    })
}

/// A `cargo` command run from the workspace root.
///
/// Uses the `cargo` that started this process (`$CARGO`, set by `cargo run`), so a pinned or
/// overridden toolchain is the one that checks the workspace.
pub(crate) fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.current_dir(workspace_root());
    cmd
}

/// `$CARGO_TARGET_DIR` made absolute (cargo reads a relative one from the current directory),
/// or the workspace's `target/`.
///
/// # Errors
///
/// When `CARGO_TARGET_DIR` cannot be made absolute.
pub(crate) fn target_dir() -> Result<PathBuf> {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            std::path::absolute(&dir).context("could not resolve CARGO_TARGET_DIR")
        }
        _ => Ok(workspace_root().join("target")),
    }
}

/// `cargo build --release -p wasm-cli` into `target` (from [`target_dir`]), then the path of the
/// `wasm` binary it made.
///
/// # Errors
///
/// When the build fails, or the binary is not where it should be.
pub(crate) fn build_release_wasm(target: &Path) -> Result<PathBuf> {
    let mut build = cargo();
    build.args(["build", "--release", "-p", "wasm-cli"]);
    // Absolute, because the build runs from the workspace root and not from our directory.
    if std::env::var_os("CARGO_TARGET_DIR").is_some() {
        build.env("CARGO_TARGET_DIR", target);
    }
    run(&mut build)?;
    let wasm = target
        .join("release")
        .join(format!("wasm{}", std::env::consts::EXE_SUFFIX));
    if !wasm.is_file() {
        bail!(
            "the build succeeded but {} is not there (a `build.target-dir` in a cargo config? \
             set CARGO_TARGET_DIR instead)",
            wasm.display()
        );
    }
    Ok(wasm)
}

/// Runs `cmd` after echoing it, with its output going straight to ours.
///
/// # Errors
///
/// When the program cannot be started, or exits unsuccessfully; the error names the command line
/// and the exit status (its stderr has already been shown).
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    println!("$ {line}");
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` quietly and tells whether it exited successfully; a program that cannot be started
/// counts as a failure.
pub(crate) fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `cmd` quietly and returns its standard output, trimmed.
///
/// # Errors
///
/// When the program cannot be started, exits unsuccessfully (the error carries its stderr), or
/// prints something that is not UTF-8.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let line = display(cmd);
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        if stderr.is_empty() {
            bail!("`{line}` failed ({})", output.status);
        }
        bail!("`{line}` failed ({}): {stderr}", output.status);
    }
    let stdout = String::from_utf8(output.stdout)
        .with_context(|| format!("`{line}` printed something that is not UTF-8"))?;
    Ok(stdout.trim().to_owned())
}

/// The command line as a user would type it: the program's file name (not the full path to
/// `target/release/wasm` or to the toolchain's `cargo`), then the arguments, quoted for a POSIX
/// shell where needed. Environment overrides are not shown.
pub(crate) fn display(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    std::iter::once(name)
        .chain(cmd.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes one word for a POSIX shell, leaving plain words alone.
fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@+,%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_file_name_and_quotes_only_where_needed() {
        let mut cmd = Command::new("/work/target/release/wasm");
        cmd.args(["push", "127.0.0.1:5000/demo/hello:1.0.0", "a b", "it's", ""]);
        assert_eq!(
            display(&cmd),
            r"wasm push 127.0.0.1:5000/demo/hello:1.0.0 'a b' 'it'\''s' ''"
        );
    }

    #[test]
    fn run_names_the_failing_command_and_its_status() {
        let err = run(Command::new("sh").args(["-c", "exit 3"])).unwrap_err();
        assert_eq!(err.to_string(), "`sh -c 'exit 3'` failed (exit status: 3)");
    }

    #[test]
    fn output_carries_stderr_on_failure() {
        let err = output(Command::new("sh").args(["-c", "echo boom >&2; exit 1"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sh -c 'echo boom >&2; exit 1'` failed (exit status: 1): boom"
        );
        assert_eq!(output(Command::new("echo").arg(" hi ")).unwrap(), "hi");
    }

    #[test]
    fn missing_program_is_an_error_not_a_panic() {
        assert!(run(&mut Command::new("/nonexistent/xtask-test-program")).is_err());
        assert!(!succeeds(&mut Command::new(
            "/nonexistent/xtask-test-program"
        )));
    }
}
