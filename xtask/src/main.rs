//! `cargo xtask`: developer automation for the `wasm` workspace, in Rust so that it runs the same
//! on every machine that can build the workspace (the cargo-xtask convention).
//!
//! This file only parses the command line (clap) and dispatches; each command has its own module,
//! whose `Options` are its flags. Exit status: 0 on success, 1 when a command fails, 2 on bad
//! usage, 130 after Ctrl-C.

// Printing progress is this program's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod ci;
mod cmd;
mod demo;
mod deps;
mod fuzz;
mod generator;
mod interop;
mod interrupt;
mod registry;
mod report;
mod sandbox;

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Result;
use clap::error::ErrorKind;
use clap::{CommandFactory as _, Parser, Subcommand};

/// Developer automation for the `wasm` workspace
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    arg_required_else_help = true,
    after_help = "Exit status: 0 on success, 1 when a command fails, 2 on bad usage, 130 after Ctrl-C."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The commands.
#[derive(Debug, PartialEq, Eq, Subcommand)]
enum Command {
    /// The whole CI run, what .ci/run calls: deps, fmt, clippy, fuzz, tests
    Ci,
    /// Check the system tools the tests need; install the missing ones (as root)
    Deps,
    /// Serve a local plain-HTTP registry on 127.0.0.1 until Ctrl-C
    Registry(registry::Options),
    /// Build `wasm` and round-trip examples/hello.wasm through a local registry
    Demo,
    /// Measure push/pull against a local registry beside the floors and peers; write
    /// docs/benchmarks.md
    Bench(bench::Options),
    /// Build the cargo-fuzz targets in fuzz/ and run each for a while
    Fuzz(fuzz::Options),
    /// WIT packages between `wasm` and the real wkg binary, both ways, against a local registry
    Interop(interop::Options),
}

impl Command {
    /// Runs the command.
    fn run(self) -> Result<()> {
        match self {
            Command::Ci => ci::run(),
            Command::Deps => deps::ensure(deps::ALL),
            Command::Registry(options) => registry::serve(options),
            Command::Demo => demo::run(),
            Command::Bench(options) => bench::run(&options),
            Command::Fuzz(options) => fuzz::run(&options),
            Command::Interop(options) => interop::run(&options),
        }
    }
}

fn main() -> ExitCode {
    // Help goes to stdout with status 0 (a closed pipe is ignored); bad usage to stderr with 2.
    let command = parse(std::env::args_os()).unwrap_or_else(|err| err.exit());
    match command.run() {
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

/// Parses the command line, `cargo xtask` first, including the checks clap cannot make alone.
fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, clap::Error> {
    let cli = Cli::try_parse_from(args)?;
    if let Command::Bench(options) = &cli.command {
        options.check().map_err(|message| {
            // The error shows the usage of `bench`, as clap's own errors about it do.
            let mut cli = Cli::command();
            cli.build();
            let bench = cli
                .find_subcommand_mut("bench")
                .expect("`bench` is a command");
            bench.error(ErrorKind::ArgumentConflict, message)
        })?;
    }
    Ok(cli.command)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `cargo xtask ARGS` through [`parse`].
    pub(crate) fn parse_args(args: &[&str]) -> Result<Command, clap::Error> {
        parse(
            std::iter::once("cargo xtask")
                .chain(args.iter().copied())
                .map(OsString::from),
        )
    }

    /// Panics unless `cargo xtask ARGS` is a usage error of `kind` (exit status 2) whose message
    /// contains `message`.
    #[track_caller]
    pub(crate) fn assert_usage_error(args: &[&str], kind: ErrorKind, message: &str) {
        let err = parse_args(args).unwrap_err();
        assert_eq!(err.kind(), kind, "{args:?}: {err}");
        assert!(err.to_string().contains(message), "{args:?}: {err}");
        assert_eq!(err.exit_code(), 2, "{args:?}");
    }

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn commands() {
        assert_eq!(parse_args(&["ci"]).unwrap(), Command::Ci);
        assert_eq!(parse_args(&["deps"]).unwrap(), Command::Deps);
        assert_eq!(parse_args(&["demo"]).unwrap(), Command::Demo);
        assert!(matches!(
            parse_args(&["bench", "--quick"]),
            Ok(Command::Bench(options)) if !options.write()
        ));
        assert!(matches!(
            parse_args(&["fuzz"]),
            Ok(Command::Fuzz(fuzz::Options {
                seconds: 60,
                target: None
            }))
        ));
        assert_eq!(
            parse_args(&["registry"]).unwrap(),
            Command::Registry(registry::Options {
                port: None,
                dir: None,
                latency_ms: None,
                token: false
            })
        );
    }

    #[test]
    fn help_is_not_an_error() {
        for args in [
            &["help"][..],
            &["--help"],
            &["-h"],
            &["ci", "-h"],
            &["help", "bench"],
        ] {
            let err = parse_args(args).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DisplayHelp, "{args:?}");
            assert_eq!(err.exit_code(), 0, "{args:?}");
        }
    }

    #[test]
    fn help_lists_every_command_and_the_exit_status() {
        let help = Cli::command().render_help().to_string();
        for command in [
            "ci", "deps", "registry", "demo", "bench", "fuzz", "interop", "help",
        ] {
            assert!(
                help.contains(&format!("\n  {command} ")),
                "{command}: {help}"
            );
        }
        assert!(help.contains("Exit status: 0 on success"), "{help}");
    }

    #[test]
    fn registry_flags() {
        assert_eq!(
            parse_args(&["registry", "--port", "0", "--dir=/tmp/r"]).unwrap(),
            Command::Registry(registry::Options {
                port: Some(0),
                dir: Some("/tmp/r".into()),
                latency_ms: None,
                token: false
            })
        );
        assert_eq!(
            parse_args(&["registry", "--port=5000", "--dir", "x=y"]).unwrap(),
            Command::Registry(registry::Options {
                port: Some(5000),
                dir: Some("x=y".into()),
                latency_ms: None,
                token: false
            })
        );
        assert_eq!(
            parse_args(&["registry", "--latency-ms", "50"]).unwrap(),
            Command::Registry(registry::Options {
                port: None,
                dir: None,
                latency_ms: Some(50),
                token: false
            })
        );
    }

    #[test]
    fn bad_input_is_a_usage_error_not_a_panic() {
        assert_usage_error(
            &[],
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand,
            "Usage: cargo xtask <COMMAND>",
        );
        assert_usage_error(
            &["bnech"],
            ErrorKind::InvalidSubcommand,
            "unrecognized subcommand 'bnech'",
        );
        assert_usage_error(
            &["ci", "--fast"],
            ErrorKind::UnknownArgument,
            "unexpected argument '--fast'",
        );
        assert_usage_error(
            &["registry", "--port"],
            ErrorKind::InvalidValue,
            "--port <N>",
        );
        for (args, port) in [
            (&["registry", "--port", "65536"][..], "65536"),
            (&["registry", "--port=-1"], "-1"),
        ] {
            assert_usage_error(
                args,
                ErrorKind::ValueValidation,
                &format!("invalid value '{port}' for '--port <N>'"),
            );
        }
        assert_usage_error(
            &["registry", "--dir="],
            ErrorKind::InvalidValue,
            "--dir <DIR>",
        );
        assert_usage_error(
            &["registry", "--bind", "0.0.0.0"],
            ErrorKind::UnknownArgument,
            "unexpected argument '--bind'",
        );
        // bench's own check is a usage error too, showing bench's usage.
        assert_usage_error(
            &["bench", "--runs", "3"],
            ErrorKind::ArgumentConflict,
            "docs/benchmarks.md needs at least 5 runs per step: raise --runs or add --no-write\n\n\
             Usage: cargo xtask bench [OPTIONS]",
        );
        assert_usage_error(
            &["fuzz", "--target", "nope"],
            ErrorKind::InvalidValue,
            "[possible values: ",
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_arguments_are_refused_where_text_is_expected() {
        use std::os::unix::ffi::OsStringExt as _;
        let args = [
            OsString::from("cargo xtask"),
            OsString::from("registry"),
            OsString::from("--port"),
            OsString::from_vec(vec![0xff]),
        ];
        let err = parse(args).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidUtf8, "{err}");
        assert_eq!(err.exit_code(), 2);
    }
}
