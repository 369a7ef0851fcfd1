//! One module per subcommand, each an `Opts` struct with a `run` method.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub(crate) mod add;
pub(crate) mod attach;
pub(crate) mod copy;
pub(crate) mod discover;
pub(crate) mod init;
pub(crate) mod inspect;
pub(crate) mod install;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod outdated;
pub(crate) mod publish;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod registry;
pub(crate) mod remove;
pub(crate) mod self_cmd;
pub(crate) mod tags;
pub(crate) mod update;
pub(crate) mod wit;

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match cli.command {
        Command::Push(opts) => opts.run(global),
        Command::Pull(opts) => opts.run(global),
        Command::Inspect(opts) => opts.run(global),
        Command::Tags(opts) => opts.run(global),
        Command::Copy(opts) => opts.run(global),
        Command::Discover(opts) => opts.run(global),
        Command::Attach(opts) => opts.run(global),
        Command::Login(opts) => opts.run(global),
        Command::Logout(opts) => opts.run(global),
        Command::Init(opts) => opts.run(global),
        Command::Add(opts) => opts.run(global),
        Command::Remove(opts) => opts.run(global),
        Command::Install(opts) => opts.run(global),
        Command::Update(opts) => opts.run(global),
        Command::Outdated(opts) => opts.run(global),
        Command::Publish(opts) => opts.run(global),
        Command::Wit(cmd) => cmd.run(global),
        Command::Registry(cmd) => cmd.run(global),
        Command::SelfCmd(cmd) => cmd.run(global),
    }
}
