//! `wasm`: push and pull WebAssembly components through OCI registries.
//!
//! The binary is thin: [`cli`] parses, `commands/*` call the libraries, and [`main`] reports an
//! error once, as `error: ...` followed by its causes. A closed stdout (`wasm tags | head`) ends
//! the program quietly.

use std::process::ExitCode;

use clap::Parser as _;

mod cli;
mod commands;
mod context;
mod output;
mod packages;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    output::init(&cli.global);
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            output::report_error(&err);
            ExitCode::from(output::exit_code_of(&err))
        }
    }
}

/// Only a failed write to stdout ends quietly: a broken pipe anywhere else (an upload whose
/// connection the registry closed) is a real failure and must not exit 0.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|cause| cause.downcast_ref::<output::StdoutClosed>().is_some())
}
