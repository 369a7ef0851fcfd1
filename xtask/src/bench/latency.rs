//! The latency mode of `cargo xtask bench`: the same small component pushed and pulled through a
//! [`LatencyProxy`] (50 ms round trip by default) in front of the anonymous registry, and in
//! front of a token-auth registry and its token server, by `wasm` and the peers, alternating.
//!
//! Users do not talk to a registry on loopback: at 20 to 150 ms away, a push or a pull costs its
//! number of sequential round trips, not its CPU. So every step records, beside its wall time,
//! the requests the registry logged, the connections the proxy accepted and the tokens the token
//! server issued; and the same `wasm` steps run once more without the proxy, so that the report
//! can say how many round trips of the wall time the distance added.
//!
//! What must stay true: every measured command runs in a fresh sandbox (empty cache, no learnt
//! scheme), except re-push and re-pull, which keep the one they share with the first push and
//! pull on purpose; the requests of a step are those logged between its start and its end.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;

use wasm_testkit::{AclRule, Auth, LatencyProxy, Launcher, LocalRegistry, TokenServer};

use super::{Bench, TAG, check_interrupt, fresh_dir};
use crate::interrupt;
use crate::report::{Access, Latency, LatencySeries, Op, Tool, Trace};
use crate::sandbox::Sandbox;

/// The user the token server knows, with every right on every repository.
const USER: &str = "bench";

/// One registry as the latency steps see it: behind its proxy, or direct for the baseline.
struct Remote<'a> {
    access: Access,
    registry: &'a LocalRegistry,
    /// `127.0.0.1:PORT` the clients are given.
    addr: String,
    proxy: Option<&'a LatencyProxy>,
    token_server: Option<&'a TokenServer>,
    /// The Docker `config.json` that logs the clients in, for the token registry.
    docker_config: Option<String>,
    /// The same credentials for the oras SDK, which reads no Docker config.
    password: Option<&'a str>,
}

impl<'a> Remote<'a> {
    /// `registry`, behind `proxy` when given; with token auth from `token` (the token server,
    /// the password, and user and password in base64 for a Docker config) when given.
    fn new(
        registry: &'a LocalRegistry,
        proxy: Option<&'a LatencyProxy>,
        token: Option<(&'a TokenServer, &'a str, &str)>,
    ) -> Self {
        let addr = proxy
            .map_or(registry.addr(), LatencyProxy::addr)
            .to_string();
        Remote {
            access: if token.is_some() {
                Access::Token
            } else {
                Access::Anonymous
            },
            registry,
            docker_config: token.map(|(_, _, auth)| {
                format!("{{\"auths\":{{\"{addr}\":{{\"auth\":\"{auth}\"}}}}}}")
            }),
            addr,
            proxy,
            token_server: token.map(|(server, _, _)| server),
            password: token.map(|(_, password, _)| password),
        }
    }
}

/// What one command did: its wall time and the traffic it caused.
struct Observed {
    wall: Duration,
    requests: Vec<wasm_testkit::LoggedRequest>,
    connections: usize,
    tokens: usize,
}

/// Runs the latency steps for the component at `file` and the batch `files`, `round_trip` away.
pub(super) fn run(
    bench: &mut Bench<'_>,
    file: &Path,
    batch: &[PathBuf],
    round_trip: Duration,
) -> Result<Latency> {
    let password = wasm_testkit::random_hex(12).context("could not read /dev/urandom")?;
    let token_server = TokenServer::start(
        &[(USER, password.as_str())],
        vec![AclRule::user(USER, "", &["*"])],
    );
    let token_proxy = LatencyProxy::start(
        token_server
            .host()
            .parse()
            .context("the token server's address")?,
        round_trip,
    )?;
    // Two token registries on the same token server: the far one names the token server behind
    // its proxy as its realm, so that tokens cost their round trips too; the near one (the
    // baseline) names the token server itself, so that nothing in the baseline is far away.
    let token_registry_at = |realm: String| {
        Launcher::new()
            .with_cancel(interrupt::requested)
            .with_auth(Auth::Token {
                realm,
                service: TokenServer::SERVICE.to_owned(),
                issuer: TokenServer::ISSUER.to_owned(),
                root_cert_bundle: token_server.cert_pem_path().to_path_buf(),
            })
            .start()
            .context("could not start a token-auth registry")
    };
    let token_registry = token_registry_at(format!("http://{}/token", token_proxy.addr()))?;
    let near_token_registry = token_registry_at(token_server.realm())?;
    let anonymous_proxy = LatencyProxy::start(bench.registry.addr(), round_trip)?;
    let token_registry_proxy = LatencyProxy::start(token_registry.addr(), round_trip)?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
    let logged_in = Some((&token_server, password.as_str(), auth.as_str()));
    let remotes = [
        Remote::new(bench.registry, Some(&anonymous_proxy), None),
        Remote::new(&token_registry, Some(&token_registry_proxy), logged_in),
    ];
    let direct = [
        Remote::new(bench.registry, None, None),
        Remote::new(&near_token_registry, None, logged_in),
    ];

    let mut steps = Steps {
        latency: Latency {
            round_trip,
            series: Vec::new(),
            traces: Vec::new(),
            failures: Vec::new(),
        },
        dropped: Vec::new(),
        line: String::new(),
    };
    let out = bench.work.join("latency-out");
    // Another component, which `wasm`'s push sandboxes pull (unmeasured) before they push:
    // a user's cache has talked to the registry before, just not about this file.
    let other = batch
        .get(1)
        .context("the batch has a second component to warm caches with")?;
    for remote in remotes.iter().chain(&direct) {
        let sandbox = sandbox_for(bench, remote)?;
        let mut command = bench.push_command_at(
            Tool::Wasm,
            &warm_reference(remote),
            other,
            &sandbox,
            &remote.addr,
        )?;
        command.arg("--plain-http");
        bench
            .measure_at(remote.registry, std::slice::from_mut(&mut command))
            .context("could not push the component that warms the caches")?;
    }
    for (remote, baseline) in remotes.iter().zip(&direct) {
        for run in 0..bench.runs {
            check_interrupt()?;
            steps.line = format!("{} run {}/{}:", remote.access.name(), run + 1, bench.runs);
            let first = run == 0;
            let reference = |remote: &Remote<'_>, tool: Tool, what: &str| {
                format!(
                    "{}/bench/lat-{what}-{}-r{run}:{TAG}",
                    remote.addr,
                    tool.name()
                )
            };
            // Push and pull by every tool, alternating; every tool pulls what `wasm` pushed.
            let pushed_by_wasm = reference(remote, Tool::Wasm, "p");
            let mut wasm_sandboxes = None;
            let tools: Vec<Tool> = bench
                .tools()
                .into_iter()
                .filter(|t| !steps.dropped.contains(t))
                .collect();
            // `wasm`'s first contact with the registry: an empty cache.
            let cold_sandbox = sandbox_for(bench, remote)?;
            let command = bench.push_command_at(
                Tool::Wasm,
                &reference(remote, Tool::Wasm, "cold"),
                file,
                &cold_sandbox,
                &remote.addr,
            )?;
            steps.step(
                bench,
                remote,
                Tool::Wasm,
                Op::PushFirstContact,
                command,
                first,
            )?;
            for tool in tools {
                let push_sandbox = sandbox_for(bench, remote)?;
                if tool == Tool::Wasm {
                    warm(bench, remote, &push_sandbox, &out)?;
                }
                let target = reference(remote, tool, "p");
                let command =
                    bench.push_command_at(tool, &target, file, &push_sandbox, &remote.addr)?;
                if steps
                    .step(bench, remote, tool, Op::Push, command, first)?
                    .is_none()
                {
                    continue;
                }
                let pull_sandbox = sandbox_for(bench, remote)?;
                fresh_dir(&out)?;
                let (command, _) = bench.pull_command_at(
                    tool,
                    &pushed_by_wasm,
                    &out,
                    &pull_sandbox,
                    &remote.addr,
                )?;
                if steps
                    .step(bench, remote, tool, Op::Pull, command, first)?
                    .is_none()
                {
                    continue;
                }
                if tool == Tool::Wasm {
                    wasm_sandboxes = Some((push_sandbox, pull_sandbox));
                }
            }
            // What `wasm` does when the registry already has it, in the sandboxes of the first
            // push and pull (their caches kept).
            let (push_sandbox, pull_sandbox) = wasm_sandboxes.context("wasm did not run")?;
            let command = bench.push_command_at(
                Tool::Wasm,
                &pushed_by_wasm,
                file,
                &push_sandbox,
                &remote.addr,
            )?;
            steps.step(bench, remote, Tool::Wasm, Op::RePush, command, first)?;
            fresh_dir(&out)?;
            let (command, _) = bench.pull_command_at(
                Tool::Wasm,
                &pushed_by_wasm,
                &out,
                &pull_sandbox,
                &remote.addr,
            )?;
            steps.step(bench, remote, Tool::Wasm, Op::RePull, command, first)?;

            // The baseline: `wasm`'s push and pull without the proxy.
            let direct_reference = reference(baseline, Tool::Wasm, "direct");
            let sandbox = sandbox_for(bench, baseline)?;
            warm(bench, baseline, &sandbox, &out)?;
            let command = bench.push_command_at(
                Tool::Wasm,
                &direct_reference,
                file,
                &sandbox,
                &baseline.addr,
            )?;
            steps.step(bench, baseline, Tool::Wasm, Op::PushDirect, command, false)?;
            let sandbox = sandbox_for(bench, baseline)?;
            fresh_dir(&out)?;
            let (command, _) = bench.pull_command_at(
                Tool::Wasm,
                &direct_reference,
                &out,
                &sandbox,
                &baseline.addr,
            )?;
            steps.step(bench, baseline, Tool::Wasm, Op::PullDirect, command, false)?;
            println!("{}", steps.line);
        }
        // The batch, `wasm` only: one invocation each way.
        for run in 0..bench.runs {
            check_interrupt()?;
            steps.line = format!(
                "{} batch run {}/{}:",
                remote.access.name(),
                run + 1,
                bench.runs
            );
            let references: Vec<String> = (0..batch.len())
                .map(|index| format!("{}/bench/lat-batch-r{run}/c{index:03}:{TAG}", remote.addr))
                .collect();
            let sandbox = sandbox_for(bench, remote)?;
            let mut push = bench.wasm_command(&sandbox);
            push.arg("push");
            for (reference, file) in references.iter().zip(batch) {
                push.arg(reference).arg(file);
            }
            steps.step(bench, remote, Tool::Wasm, Op::BatchPush, push, false)?;
            let sandbox = sandbox_for(bench, remote)?;
            fresh_dir(&out)?;
            let mut pull = bench.wasm_command(&sandbox);
            pull.arg("pull").args(&references).arg("-o").arg(&out);
            steps.step(bench, remote, Tool::Wasm, Op::BatchPull, pull, false)?;
            let pulled = fs::read_dir(&out)?.count();
            if pulled != batch.len() {
                bail!("the batch pull wrote {pulled} files, not {}", batch.len());
            }
            println!("{}", steps.line);
        }
    }
    fs::remove_dir_all(&out).ok();
    Ok(steps.latency)
}

/// The latency mode's figures as they come in, and the peers dropped on the way.
struct Steps {
    latency: Latency,
    dropped: Vec<Tool>,
    /// The progress line of the current run.
    line: String,
}

impl Steps {
    /// Runs `command` as `tool`'s `op` at `remote` and records it (with its requests in
    /// "where the round trips go" when `traced` and it is `wasm`'s). A peer that fails is
    /// dropped from the rest of the latency steps (`Ok(None)`); `wasm` failing is an error.
    fn step(
        &mut self,
        bench: &Bench<'_>,
        remote: &Remote<'_>,
        tool: Tool,
        op: Op,
        command: Command,
        traced: bool,
    ) -> Result<Option<Observed>> {
        let observed = match observe(bench, remote, command) {
            Ok(observed) => observed,
            Err(err) if tool != Tool::Wasm => {
                self.drop_peer(tool, remote.access, op, &err);
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        record(
            &mut self.latency.series,
            tool,
            op,
            remote.access,
            &observed,
            &mut self.line,
        );
        if traced && tool == Tool::Wasm {
            self.latency
                .traces
                .push(trace(crate::report::op_text(op), remote, &observed));
        }
        Ok(Some(observed))
    }

    /// Drops `tool` from the latency steps, with the last line it printed as the reason.
    fn drop_peer(&mut self, tool: Tool, access: Access, op: Op, err: &anyhow::Error) {
        // The last line the tool printed says why; the registry's log, which `measure`
        // appends, is about the registry.
        let text = format!("{err:#}");
        let printed = text.split("\nregistry log").next().unwrap_or_default();
        let last = printed
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or_default()
            .trim();
        let reason = format!(
            "{} {} ({} registry) failed: {last}",
            tool.name(),
            crate::report::op_text(op),
            access.name()
        );
        println!("latency: {reason}; measuring without {}", tool.name());
        self.latency.failures.push(reason);
        self.dropped.push(tool);
    }
}

/// A fresh sandbox, logged in to `remote` when it needs credentials.
fn sandbox_for(bench: &mut Bench<'_>, remote: &Remote<'_>) -> Result<Sandbox> {
    let sandbox = bench.sandbox()?;
    if let Some(config) = &remote.docker_config {
        for (key, dir) in sandbox.env() {
            // Docker's and oras's own place, and the home directory's, for tools that ignore
            // DOCKER_CONFIG.
            let path = match key {
                "DOCKER_CONFIG" => dir.join("config.json"),
                "HOME" => dir.join(".docker").join("config.json"),
                _ => continue,
            };
            fs::create_dir_all(path.parent().context("config.json has a parent")?)?;
            fs::write(&path, config)
                .with_context(|| format!("could not write {}", path.display()))?;
        }
    }
    Ok(sandbox)
}

/// The component that warms `wasm`'s caches at `remote`.
fn warm_reference(remote: &Remote<'_>) -> String {
    format!("{}/bench/lat-warm:{TAG}", remote.addr)
}

/// Pulls the warming component into `sandbox` (unmeasured): its cache then knows what any
/// earlier run against `remote` would have taught (the registry's challenge), nothing about
/// the file to push.
fn warm(bench: &Bench<'_>, remote: &Remote<'_>, sandbox: &Sandbox, out: &Path) -> Result<()> {
    fresh_dir(out)?;
    let (mut command, _) = bench.pull_command_at(
        Tool::Wasm,
        &warm_reference(remote),
        out,
        sandbox,
        &remote.addr,
    )?;
    command.arg("--plain-http");
    bench
        .measure_at(remote.registry, std::slice::from_mut(&mut command))
        .context("could not warm the cache of a push")?;
    Ok(())
}

/// Runs `command` once, measured, with the traffic it caused at `remote`.
fn observe(bench: &Bench<'_>, remote: &Remote<'_>, mut command: Command) -> Result<Observed> {
    if command.get_program() == bench.wasm.as_os_str() {
        // As wkg's `--insecure`: the scheme is given, not learnt (a fresh sandbox has nothing
        // learnt), so that the figures compare the protocols, not the probe.
        command.arg("--plain-http");
    }
    if let Some(password) = remote.password {
        command
            .env("ORAS_BENCH_USER", USER)
            .env("ORAS_BENCH_PASSWORD", password);
    }
    let mark = remote.registry.log_len();
    let connections = remote.proxy.map_or(0, |p| p.connections());
    let tokens = remote.token_server.map_or(0, |t| t.requests().len());
    let sample = bench.measure_at(remote.registry, std::slice::from_mut(&mut command))?;
    let requests = bench.requests_at(remote.registry, mark)?;
    Ok(Observed {
        wall: sample.wall,
        requests,
        connections: remote.proxy.map_or(0, |p| p.connections()) - connections,
        tokens: remote.token_server.map_or(0, |t| t.requests().len()) - tokens,
    })
}

/// Adds what was observed to its series, creating it on first use.
fn record(
    series: &mut Vec<LatencySeries>,
    tool: Tool,
    op: Op,
    access: Access,
    observed: &Observed,
    line: &mut String,
) {
    let index = match series
        .iter()
        .position(|s| s.tool == tool && s.op == op && s.access == access)
    {
        Some(index) => index,
        None => {
            series.push(LatencySeries {
                tool,
                op,
                access,
                walls: Vec::new(),
                requests: Vec::new(),
                connections: Vec::new(),
                tokens: Vec::new(),
            });
            series.len() - 1
        }
    };
    let s = &mut series[index];
    s.walls.push(observed.wall);
    s.requests.push(observed.requests.len());
    s.connections.push(observed.connections);
    s.tokens.push(observed.tokens);
    line.push_str(&format!(
        " {} {} {:.0} ms/{}r",
        tool.name(),
        crate::report::op_text(op),
        observed.wall.as_secs_f64() * 1000.0,
        observed.requests.len()
    ));
}

/// The requests of one `wasm` step, in order, for "where the round trips go".
fn trace(what: &str, remote: &Remote<'_>, observed: &Observed) -> Trace {
    Trace {
        title: format!("`wasm` {what}, {} registry", remote.access.name()),
        requests: observed
            .requests
            .iter()
            .map(|r| format!("{} {} → {}", r.method, shorten(&r.uri), r.status))
            .collect(),
        connections: observed.connections,
        tokens: observed.tokens,
    }
}

/// A request target without the run's repository name, digests shortened, upload session ids
/// replaced and upload state dropped, so that the document's list stays readable and the same
/// from run to run.
fn shorten(uri: &str) -> String {
    let (path, query) = uri
        .split_once('?')
        .map_or((uri, None), |(p, q)| (p, Some(q)));
    let mut path = match path.strip_prefix("/v2/") {
        Some(rest) => ["/manifests/", "/blobs/uploads/", "/blobs/", "/tags/"]
            .iter()
            .find_map(|marker| {
                rest.find(marker)
                    .map(|at| format!("/v2/REPO{}", &rest[at..]))
            })
            .unwrap_or_else(|| format!("/v2/{rest}")),
        None => path.to_owned(),
    };
    // Upload session ids are UUIDs: one placeholder for all.
    if let Some(at) = path.find("/blobs/uploads/")
        && path.len() > at + "/blobs/uploads/".len()
    {
        path = format!("{}UUID", &path[..at + "/blobs/uploads/".len()]);
    }
    let path = shorten_digests(&path);
    let kept: Vec<String> = query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .filter(|pair| !pair.starts_with("_state="))
        .map(shorten_digests)
        .collect();
    if kept.is_empty() {
        path
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// `sha256:` and the first 8 hex digits of each digest in `text`.
fn shorten_digests(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("sha256:") {
        let start = at + "sha256:".len();
        out.push_str(&rest[..start]);
        let hex = rest[start..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(&rest[start..], |end| &rest[start..start + end]);
        out.push_str(&hex[..hex.len().min(8)]);
        if hex.len() > 8 {
            out.push('…');
        }
        rest = &rest[start + hex.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn request_targets_are_shortened_for_the_document() {
        assert_eq!(shorten("/v2/"), "/v2/");
        assert_eq!(
            shorten("/v2/bench/lat-p-wasm-r0/manifests/1.0.0"),
            "/v2/REPO/manifests/1.0.0"
        );
        assert_eq!(
            shorten(&format!("/v2/a/b/blobs/sha256:{}", "ab".repeat(32))),
            "/v2/REPO/blobs/sha256:abababab…"
        );
        assert_eq!(
            shorten(&format!(
                "/v2/a/blobs/uploads/0f1e-22?_state=xyz&digest=sha256:{}",
                "cd".repeat(32)
            )),
            "/v2/REPO/blobs/uploads/UUID?digest=sha256:cdcdcdcd…"
        );
        assert_eq!(shorten("/v2/a/blobs/uploads/"), "/v2/REPO/blobs/uploads/");
    }
}
