//! `cargo xtask`: developer automation for the `wasm` workspace, in Rust so that it runs the same
//! on every machine that can build the workspace (the cargo-xtask convention).
//!
//! This file only parses the command line and dispatches; each command has its own module.
//! Exit status: 0 on success, 1 when a command fails, 2 on bad usage, 130 after Ctrl-C.

// Printing progress is this program's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod ci;
mod cmd;
mod demo;
mod deps;
mod fuzz;
mod generator;
mod interrupt;
mod registry;
mod report;

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// What `cargo xtask help` prints (`{bench}` stands for [`bench::Options::USAGE`]).
const USAGE: &str = "\
Developer automation for the `wasm` workspace

Usage: cargo xtask <COMMAND>

Commands:
  ci        The whole CI run, what .ci/run calls: deps, fmt, clippy, tests
  deps      Check the system tools the tests need; install the missing ones (as root)
  registry  Serve a local plain-HTTP registry on 127.0.0.1 until Ctrl-C
              --port N   listen on port N (default, or 0: a free port)
              --dir DIR  keep config.yml and storage/ in DIR (default: a temporary directory)
  demo      Build `wasm` and round-trip examples/hello.wasm through a local registry
{bench}
{fuzz}  help      Print this message

Exit status: 0 on success, 1 when a command fails, 2 on bad usage, 130 after Ctrl-C.
";

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Task {
    Help,
    Ci,
    Deps,
    Registry {
        port: Option<u16>,
        dir: Option<PathBuf>,
    },
    Demo,
    Bench(bench::Options),
    Fuzz(fuzz::Options),
}

fn main() -> ExitCode {
    let task = match parse(std::env::args_os().skip(1)) {
        Ok(task) => task,
        Err(message) => {
            eprintln!("error: {message}\n");
            eprint!("{}", usage());
            return ExitCode::from(2);
        }
    };
    let result = match task {
        Task::Help => {
            // `cargo xtask help | head -1` must not panic on the closed pipe.
            let _ = std::io::stdout().write_all(usage().as_bytes());
            Ok(())
        }
        Task::Ci => ci::run(),
        Task::Deps => deps::ensure(deps::ALL),
        Task::Registry { port, dir } => registry::serve(port, dir),
        Task::Demo => demo::run(),
        Task::Bench(options) => bench::run(&options),
        Task::Fuzz(options) => fuzz::run(&options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            let mut causes = err.chain().skip(1).peekable();
            if causes.peek().is_some() {
                eprintln!("\nCaused by:");
                for cause in causes {
                    eprintln!("    {cause}");
                }
            }
            if interrupt::requested() {
                ExitCode::from(interrupt::EXIT_STATUS)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The help text, with every command's lines in it.
fn usage() -> String {
    USAGE
        .replace("{bench}\n", bench::Options::USAGE)
        .replace("{fuzz}", fuzz::Options::USAGE)
}

/// Parses the arguments after `cargo xtask`; the error is a one-line message for the user.
fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Task, String> {
    let args = args
        .into_iter()
        .map(|arg| {
            arg.into_string()
                .map_err(|arg| format!("argument is not valid UTF-8: {}", arg.to_string_lossy()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Some((command, rest)) = args.split_first() else {
        return Err("missing command".to_owned());
    };
    if rest.iter().any(|arg| arg == "-h" || arg == "--help") {
        return Ok(Task::Help);
    }
    let no_arguments = |task: Task| match rest.first() {
        Some(arg) => Err(format!("unexpected argument `{arg}` for `{command}`")),
        None => Ok(task),
    };
    match command.as_str() {
        "help" | "-h" | "--help" => Ok(Task::Help),
        "ci" => no_arguments(Task::Ci),
        "deps" => no_arguments(Task::Deps),
        "demo" => no_arguments(Task::Demo),
        "registry" => parse_registry(rest),
        "bench" => bench::Options::parse(rest).map(Task::Bench),
        "fuzz" => fuzz::Options::parse(rest).map(Task::Fuzz),
        other => Err(format!("unknown command `{other}`")),
    }
}

/// Parses `registry [--port N] [--dir DIR]`, also as `--port=N` and `--dir=DIR`.
fn parse_registry(args: &[String]) -> Result<Task, String> {
    let mut port = None;
    let mut dir = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or_else(|| format!("`{flag}` needs a value"))
        };
        match flag {
            "--port" => {
                let text = value()?;
                let number = text.parse().map_err(|_| {
                    format!("invalid port `{text}`: expected a number from 0 to 65535")
                })?;
                port = Some(number);
            }
            "--dir" => {
                let text = value()?;
                if text.is_empty() {
                    return Err("`--dir` needs a non-empty path".to_owned());
                }
                dir = Some(PathBuf::from(text));
            }
            _ => return Err(format!("unexpected argument `{arg}` for `registry`")),
        }
    }
    Ok(Task::Registry { port, dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Task, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn commands() {
        assert_eq!(parse_str(&["help"]), Ok(Task::Help));
        assert_eq!(parse_str(&["--help"]), Ok(Task::Help));
        assert_eq!(parse_str(&["ci"]), Ok(Task::Ci));
        assert_eq!(parse_str(&["ci", "-h"]), Ok(Task::Help));
        assert_eq!(parse_str(&["deps"]), Ok(Task::Deps));
        assert_eq!(parse_str(&["demo"]), Ok(Task::Demo));
        assert!(matches!(
            parse_str(&["bench", "--quick"]),
            Ok(Task::Bench(bench::Options { write: false, .. }))
        ));
        assert_eq!(
            parse_str(&["registry"]),
            Ok(Task::Registry {
                port: None,
                dir: None
            })
        );
    }

    #[test]
    fn usage_lists_every_command() {
        let usage = usage();
        assert!(!usage.contains('{'), "{usage}");
        for command in ["ci", "deps", "registry", "demo", "bench", "help"] {
            assert!(usage.contains(&format!("\n  {command} ")), "{command}");
        }
    }

    #[test]
    fn registry_flags() {
        assert_eq!(
            parse_str(&["registry", "--port", "0", "--dir=/tmp/r"]),
            Ok(Task::Registry {
                port: Some(0),
                dir: Some("/tmp/r".into())
            })
        );
        assert_eq!(
            parse_str(&["registry", "--port=5000", "--dir", "x=y"]),
            Ok(Task::Registry {
                port: Some(5000),
                dir: Some("x=y".into())
            })
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "missing command"),
            (&["bnech"], "unknown command `bnech`"),
            (&["ci", "--fast"], "unexpected argument `--fast` for `ci`"),
            (&["registry", "--port"], "`--port` needs a value"),
            (
                &["registry", "--port", "65536"],
                "invalid port `65536`: expected a number from 0 to 65535",
            ),
            (
                &["registry", "--port=-1"],
                "invalid port `-1`: expected a number from 0 to 65535",
            ),
            (&["registry", "--dir="], "`--dir` needs a non-empty path"),
            (
                &["registry", "--bind", "0.0.0.0"],
                "unexpected argument `--bind` for `registry`",
            ),
        ];
        for (args, message) in cases {
            assert_eq!(parse_str(args), Err((*message).to_owned()), "{args:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_arguments_are_refused() {
        use std::os::unix::ffi::OsStringExt as _;
        let args = vec![OsString::from("registry"), OsString::from_vec(vec![0xff])];
        assert!(parse(args).unwrap_err().contains("not valid UTF-8"));
    }
}
