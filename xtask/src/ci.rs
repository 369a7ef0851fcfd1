//! `cargo xtask ci`: the whole CI run, the one thing `.ci/run` calls.
//!
//! Steps run in order and all of them run even when one fails, so one CI log shows every
//! problem; the command fails at the end, naming the failed steps. Each step opens with a
//! `==> name` line and closes with its time; a table of all of them ends the run. Nothing differs
//! under `CI=true`: a developer's `cargo xtask ci` is the CI run.
//!
//! The test runner's output goes straight to the log, so its closing summary line is there for
//! whoever reads the log. Nothing here prints a line shaped like a test summary
//! (`N passed, N failed`): counting steps as tests would be a lie.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};

use crate::{cmd, deps};

/// One step of the run.
struct Step {
    /// Its name in the `==>` lines and the summary.
    name: &'static str,
    /// What it does.
    run: fn() -> Result<()>,
}

/// The steps, in order: tools first (the tests need them), cheap checks before the build.
const STEPS: &[Step] = &[
    Step {
        name: "ensure-deps",
        run: ensure_deps,
    },
    Step {
        name: "fmt",
        run: fmt,
    },
    Step {
        name: "clippy",
        run: clippy,
    },
    // Before the tests, so that the test runner's summary closes the log.
    Step {
        name: "fuzz",
        run: fuzz,
    },
    Step {
        name: "test",
        run: test,
    },
];

/// Builds every fuzz target and runs each briefly (longer runs: `cargo xtask fuzz`).
fn fuzz() -> Result<()> {
    crate::fuzz::run(&crate::fuzz::Options {
        seconds: 10,
        target: None,
    })
}

/// Runs every step, prints the summary, and fails if any step failed.
///
/// # Errors
///
/// When at least one step failed; the message names them.
pub(crate) fn run() -> Result<()> {
    let started = Instant::now();
    let mut outcomes = Vec::with_capacity(STEPS.len());
    for step in STEPS {
        println!("==> {}", step.name);
        let step_started = Instant::now();
        let result = (step.run)();
        let elapsed = step_started.elapsed();
        match &result {
            Ok(()) => println!("==> {}: ok ({})", step.name, seconds(elapsed)),
            Err(err) => {
                println!("==> {}: FAILED ({})", step.name, seconds(elapsed));
                eprintln!("error: step {} failed: {err:#}", step.name);
            }
        }
        outcomes.push((step.name, result.is_ok(), elapsed));
    }
    print!("{}", summary(&outcomes, started.elapsed()));
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(name, _, _)| *name)
        .collect();
    if !failed.is_empty() {
        bail!("ci failed: {}", failed.join(", "));
    }
    println!("ci: every step ok");
    Ok(())
}

/// The closing table: one row per step, then the total.
fn summary(outcomes: &[(&str, bool, Duration)], total: Duration) -> String {
    let width = outcomes
        .iter()
        .map(|(name, _, _)| name.len())
        .chain(["total".len()])
        .max()
        .unwrap_or(0);
    let mut table = format!(
        "==> summary\n{:width$}  {:6}  {:>9}\n",
        "step", "result", "time"
    );
    for (name, ok, elapsed) in outcomes {
        let result = if *ok { "ok" } else { "FAILED" };
        table += &format!("{name:width$}  {result:6}  {:>9}\n", seconds(*elapsed));
    }
    table += &format!("{:width$}  {:6}  {:>9}\n", "total", "", seconds(total));
    table
}

/// `12.3 s`.
fn seconds(elapsed: Duration) -> String {
    format!("{:.1} s", elapsed.as_secs_f64())
}

/// The Debian packages the tests need.
fn ensure_deps() -> Result<()> {
    deps::ensure(deps::ALL)
}

/// `cargo fmt --all -- --check`.
fn fmt() -> Result<()> {
    ensure_component("rustfmt", "fmt")?;
    cmd::run(cmd::cargo().args(["fmt", "--all", "--", "--check"]))
}

/// `cargo clippy` over every target, warnings denied.
fn clippy() -> Result<()> {
    ensure_component("clippy", "clippy")?;
    cmd::run(cmd::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))
}

/// The tests: nextest when it is installed, `cargo test` otherwise.
///
/// Both run with `--no-fail-fast`: a CI log should list every failing test, not the first.
/// nextest does not run doctests, so `cargo test --doc` runs them first; nextest runs even when
/// they fail, and last, so that its summary closes the test output.
fn test() -> Result<()> {
    if !cmd::succeeds(cmd::cargo().args(["nextest", "--version"])) {
        println!("cargo-nextest is not installed: running `cargo test`");
        return cmd::run(cmd::cargo().args(["test", "--workspace", "--locked", "--no-fail-fast"]));
    }
    let doctests = cmd::run(cmd::cargo().args(["test", "--workspace", "--locked", "--doc"]));
    let tests = cmd::run(cmd::cargo().args([
        "nextest",
        "run",
        "--workspace",
        "--locked",
        "--no-fail-fast",
    ]));
    match (doctests, tests) {
        (Ok(()), result) | (result, Ok(())) => result,
        (Err(doctests), Err(tests)) => Err(anyhow!("{doctests:#}; {tests:#}")),
    }
}

/// Makes sure `cargo SUBCOMMAND` works, adding the rustup `component` if it does not.
fn ensure_component(component: &str, subcommand: &str) -> Result<()> {
    if cmd::succeeds(cmd::cargo().args([subcommand, "--version"])) {
        return Ok(());
    }
    println!("`cargo {subcommand}` is not available: adding the {component} component");
    let added =
        cmd::run(std::process::Command::new("rustup").args(["component", "add", component]));
    if let Err(err) = added {
        bail!(
            "`cargo {subcommand}` is not available and `rustup component add {component}` failed: {err:#}"
        );
    }
    if !cmd::succeeds(cmd::cargo().args([subcommand, "--version"])) {
        bail!(
            "`cargo {subcommand}` is still not available after `rustup component add {component}`"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_a_table_not_a_test_count() {
        let table = summary(
            &[
                ("ensure-deps", true, Duration::from_millis(120)),
                ("clippy", false, Duration::from_secs(81)),
            ],
            Duration::from_millis(81_150),
        );
        assert_eq!(
            table,
            "==> summary\n\
             step         result       time\n\
             ensure-deps  ok          0.1 s\n\
             clippy       FAILED     81.0 s\n\
             total                   81.2 s\n"
        );
        assert!(!table.contains("passed"));
    }
}
