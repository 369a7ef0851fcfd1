//! `cargo xtask bench`: the benchmark behind `docs/benchmarks.md`. Builds `wasm` in release mode, starts a local
//! registry, generates components ([`crate::generator`]), measures `wasm` beside the floors (hashing,
//! writing, a bare `curl` upload and download against the same registry) and the peers (`wkg`,
//! the `oras` Python SDK) when they are there, prints the table and writes
//! `docs/benchmarks.md` ([`crate::report`]).
//!
//! What must stay true:
//! - every figure comes from this run: the document is generated, never edited;
//! - nothing is deduplicated by accident: each push goes to a fresh repository, each measured
//!   `wasm`, `wkg` or `oras` command runs in a fresh sandbox (HOME, XDG directories,
//!   DOCKER_CONFIG; so an empty cache), except re-push and re-pull, which keep theirs on purpose;
//! - the tools alternate run by run, so noise from a shared machine falls on all of them;
//! - the developer's own configuration, credentials and cache are never read or written.

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use sha2::{Digest as _, Sha256};

use wasm_testkit::{LocalRegistry, LoggedRequest};

use crate::report::{self, Batch, Counts, MIB, Machine, Op, Peer, Results, Sample, Series, Tool};
use crate::sandbox::Sandbox;
use crate::{cmd, deps, generator, interrupt, registry};

mod latency;

/// Components in the batch.
const BATCH_COUNT: usize = 100;
/// Bytes of each batch component.
const BATCH_SIZE: u64 = 100 * 1024;
/// The seed of the component of `n` MiB is `SIZE_SEED + n`; batch component `i` has
/// `BATCH_SEED + i`.
const SIZE_SEED: u64 = 0x5eed_0000;
const BATCH_SEED: u64 = 0xba7c_0000;
/// How many dependencies the `wasm install` benchmark installs (the first components of the
/// batch, each published as its own package).
pub(crate) const INSTALL_COUNT: usize = 20;
/// The size of the component the latency mode pushes and pulls (the batch's first).
pub(crate) const LATENCY_SIZE: u64 = BATCH_SIZE;
/// The tag every push uses.
const TAG: &str = "1.0.0";
/// Where the document goes, relative to the workspace root.
const DOCUMENT: &str = "docs/benchmarks.md";
/// Runs below which the document is not written: its figures are medians of at least 5.
const MIN_RUNS_FOR_DOCUMENT: usize = 5;

/// `cargo xtask bench`: measure push/pull against a local registry beside the floors and the
/// peers; write docs/benchmarks.md.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
#[command(after_help = "Examples:
  cargo xtask bench --quick                   a first look: 1 and 16 MiB, 3 runs, nothing written
  cargo xtask bench --peers                   the run behind docs/benchmarks.md, wkg and oras too
  cargo xtask bench --quick --latency-ms 100  a registry 100 ms away (0 skips the latency mode)
  cargo xtask bench --wasm ./wasm --no-write  measure another build of `wasm`")]
pub(crate) struct Options {
    /// Runs per step [default: 5; 3 with --quick]; start-up steps run max(N, 30) times
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    runs: Option<u16>,
    /// Component sizes in MiB, 1 to 1024, separated by commas [default: 1,16,64; 1,16 with
    /// --quick]
    #[arg(
        long,
        value_name = "1,16,64",
        value_delimiter = ',',
        value_parser = clap::value_parser!(u64).range(1..=1024)
    )]
    sizes: Vec<u64>,
    /// Install wkg (cargo install, a long build) and oras (pip) first, into target/bench-peers
    #[arg(long)]
    pub(crate) peers: bool,
    /// Print the table only, leave docs/benchmarks.md alone
    #[arg(long)]
    no_write: bool,
    /// 1 and 16 MiB, 3 runs, 10 start-up runs; implies --no-write
    #[arg(long)]
    quick: bool,
    /// Measure this `wasm` binary instead of building the workspace's
    #[arg(long, value_name = "PATH")]
    pub(crate) wasm: Option<PathBuf>,
    /// The round trip the latency mode puts between the tools and the registries, in
    /// milliseconds; 0 skips the latency mode [default: 50]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u16).range(0..=2000))]
    latency_ms: Option<u16>,
}

impl Options {
    /// Runs per step.
    pub(crate) fn runs(&self) -> usize {
        let default = if self.quick { 3 } else { 5 };
        self.runs.map_or(default, usize::from)
    }

    /// Runs per start-up step.
    pub(crate) fn startup_runs(&self) -> usize {
        if self.quick { 10 } else { self.runs().max(30) }
    }

    /// Component sizes in MiB, ascending, without duplicates.
    pub(crate) fn sizes_mib(&self) -> Vec<u64> {
        let mut sizes = match (self.sizes.is_empty(), self.quick) {
            (false, _) => self.sizes.clone(),
            (true, true) => vec![1, 16],
            (true, false) => vec![1, 16, 64],
        };
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    /// The latency mode's round trip; `None`: skipped.
    pub(crate) fn round_trip(&self) -> Option<Duration> {
        match self.latency_ms.unwrap_or(50) {
            0 => None,
            ms => Some(Duration::from_millis(u64::from(ms))),
        }
    }

    /// Whether to write docs/benchmarks.md.
    pub(crate) fn write(&self) -> bool {
        !self.no_write && !self.quick
    }

    /// What clap cannot check alone: a document needs enough runs.
    ///
    /// # Errors
    ///
    /// A one-line message for the user.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.write() && self.runs() < MIN_RUNS_FOR_DOCUMENT {
            return Err(format!(
                "{DOCUMENT} needs at least {MIN_RUNS_FOR_DOCUMENT} runs per step: raise --runs \
                 or add --no-write"
            ));
        }
        Ok(())
    }
}

/// Runs the benchmark.
///
/// # Errors
///
/// When the build, the registry, generation or a measured command fails, or on Ctrl-C.
pub(crate) fn run(options: &Options) -> Result<()> {
    interrupt::install()?;
    deps::ensure(&[deps::DOCKER_REGISTRY])?;
    for program in ["curl", "sha256sum", "cp"] {
        if !cmd::succeeds(Command::new(program).arg("--version")) {
            bail!("`{program}` is needed for the floors (`cargo xtask deps` installs curl)");
        }
    }
    let target = cmd::target_dir()?;
    let peers_dir = target.join("bench-peers");
    if options.peers {
        step("peers")?;
        install_peers(&peers_dir);
    }
    let wasm = match &options.wasm {
        Some(path) => {
            let path = std::path::absolute(path)
                .with_context(|| format!("could not resolve {}", path.display()))?;
            if !path.is_file() {
                bail!("--wasm {}: no such file", path.display());
            }
            path
        }
        None => {
            step("build")?;
            cmd::build_release_wasm(&target).context("could not build wasm")?
        }
    };
    println!("measuring {}", wasm.display());

    step("components")?;
    let components = target.join("bench").join("components");
    let started = Instant::now();
    let mut files = Vec::new();
    for &mib in &options.sizes_mib() {
        let path = generator::cached(&components, usize::try_from(mib * MIB)?, SIZE_SEED + mib)?;
        files.push((mib * MIB, path));
    }
    let mut batch_files = Vec::with_capacity(BATCH_COUNT);
    for index in 0..BATCH_COUNT {
        let seed = BATCH_SEED + u64::try_from(index)?;
        batch_files.push(generator::cached(
            &components,
            usize::try_from(BATCH_SIZE)?,
            seed,
        )?);
    }
    println!(
        "{} components in {} ({:.1} s)",
        files.len() + batch_files.len(),
        components.display(),
        started.elapsed().as_secs_f64()
    );

    step("registry")?;
    let registry = registry::start()?;
    println!("registry: http://{}", registry.addr());
    let work = tempfile::Builder::new()
        .prefix("work-")
        .tempdir_in(target.join("bench"))
        .context("could not create the benchmark's scratch directory")?;

    let wkg = find_wkg(&peers_dir);
    let oras = find_oras(&peers_dir, work.path())?;
    let mut bench = Bench {
        wasm: wasm.clone(),
        addr: registry.addr().to_string(),
        registry: &registry,
        work: work.path().to_path_buf(),
        components: components.clone(),
        runs: options.runs(),
        wkg: wkg.as_ref().ok().cloned(),
        oras: oras.as_ref().ok().cloned(),
        series: Vec::new(),
        counts: BTreeMap::new(),
        sandboxes: 0,
        peer_failures: Vec::new(),
    };
    let mut peers = vec![
        Peer {
            tool: Tool::Wkg,
            status: wkg.and_then(|wkg| bench.version(&wkg.program, &["--version"])),
        },
        Peer {
            tool: Tool::Oras,
            status: oras.and_then(|oras| oras.version()),
        },
    ];
    for peer in &peers {
        match &peer.status {
            Ok(version) => println!("peer {}: {version}", peer.tool.name()),
            Err(reason) => println!("peer {}: not measured: {reason}", peer.tool.name()),
        }
    }
    let machine_before = load_average();
    let mut machine = machine(&wasm, &bench)?;
    machine.wasm_source = match &options.wasm {
        Some(_) => format!("the binary given with --wasm, {}", bench.shown_path(&wasm)),
        None => format!("built from {}", source_revision()),
    };
    machine.load_before = machine_before;

    bench.check_access_log()?;
    for (size, file) in &files {
        step(&format!("{} component", report::size_text(*size)))?;
        bench.size(*size, file)?;
    }
    step("batch")?;
    let batch = bench.batch(&batch_files)?;
    step("install")?;
    bench.install(&batch_files[..INSTALL_COUNT.min(batch_files.len())])?;
    let latency = match options.round_trip() {
        Some(round_trip) => {
            step(&format!(
                "latency: {} ms round trip",
                round_trip.as_millis()
            ))?;
            Some(latency::run(
                &mut bench,
                &batch_files[0],
                &batch_files,
                round_trip,
            )?)
        }
        None => None,
    };
    step("start-up")?;
    bench.startup(options.startup_runs())?;
    machine.load_after = load_average();
    for (tool, reason) in &bench.peer_failures {
        if let Some(peer) = peers.iter_mut().find(|peer| peer.tool == *tool) {
            peer.status = Err(reason.clone());
        }
    }

    let results = Results {
        runs: options.runs(),
        startup_runs: options.startup_runs(),
        sizes: files.iter().map(|(size, _)| *size).collect(),
        series: bench.series,
        counts: bench.counts,
        batch: Some(batch),
        machine,
        peers,
        latency,
    };
    drop(registry);

    step("results")?;
    println!("{}", report::table(&results));
    if let Some(latency) = &results.latency {
        println!("{}", report::latency_table(latency));
        println!("{}", report::where_round_trips_go(latency));
    }
    println!("{}", report::targets_table(&report::targets(&results)));
    println!("{}", report::where_time_goes(&results));
    if options.write() {
        let path = cmd::workspace_root().join(DOCUMENT);
        fs::write(&path, report::document(&results))
            .with_context(|| format!("could not write {}", path.display()))?;
        println!("wrote {}", path.display());
    } else {
        println!("--no-write: {DOCUMENT} left alone");
    }
    Ok(())
}

/// Announces a step, or stops if Ctrl-C came in between.
fn step(name: &str) -> Result<()> {
    if interrupt::requested() {
        bail!("interrupted before `{name}`");
    }
    println!("==> {name}");
    Ok(())
}

/// The state of a benchmark run.
struct Bench<'a> {
    wasm: PathBuf,
    /// `127.0.0.1:PORT`.
    addr: String,
    registry: &'a LocalRegistry,
    /// Scratch: sandboxes, outputs, the children's output.
    work: PathBuf,
    /// Where the generated components are.
    components: PathBuf,
    runs: usize,
    wkg: Option<Wkg>,
    oras: Option<Oras>,
    series: Vec<Series>,
    counts: BTreeMap<u64, Counts>,
    /// Sandboxes made so far, to name the next one.
    sandboxes: usize,
    /// Peers dropped because a command of theirs failed, and why.
    peer_failures: Vec<(Tool, String)>,
}

impl Bench<'_> {
    /// Floors, push, pull (with the peers), re-push and re-pull of the component at `file`.
    fn size(&mut self, size: u64, file: &Path) -> Result<()> {
        let digest = format!("sha256:{}", sha256_file(file)?);
        let mib = size / MIB;
        let out = self.work.join("out");
        let mut hash = self.series(Tool::Sha256sum, Op::Hash, size);
        let mut copy = self.series(Tool::Cp, Op::Copy, size);
        let mut up = self.series(Tool::Curl, Op::Push, size);
        let mut down = self.series(Tool::Curl, Op::Pull, size);
        let mut push = BTreeMap::new();
        let mut pull = BTreeMap::new();
        let mut tools = self.tools();
        for &tool in &tools {
            push.insert(tool, self.series(tool, Op::Push, size));
            pull.insert(tool, self.series(tool, Op::Pull, size));
        }
        let mut counts = Counts::default();
        for run in 0..self.runs {
            check_interrupt()?;
            let mut line = format!("run {}/{}:", run + 1, self.runs);
            let first = run == 0;

            let mut command = Command::new("sha256sum");
            command.arg(file);
            self.record(&mut hash, first, &mut [command], &mut line)?;

            fresh_dir(&out)?;
            let mut command = Command::new("cp");
            command.arg(file).arg(out.join("copy.wasm"));
            self.record(&mut copy, first, &mut [command], &mut line)?;

            let repo = format!("bench/{mib}m/curl-r{run}");
            let sample = self.curl_upload(&repo, file, &digest, first.then_some(&mut up))?;
            push_sample(&mut up, sample, &mut line);
            let url = format!("http://{}/v2/{repo}/blobs/{digest}", self.addr);
            let mut command = curl();
            command.args(["-o", "/dev/null"]).arg(&url);
            self.record(&mut down, first, &mut [command], &mut line)?;

            let mark = self.log_mark();
            for tool in tools.clone() {
                let reference = self.reference(&format!("bench/{mib}m/{}-r{run}", tool.name()));
                let sandbox = self.sandbox()?;
                let mut command = self.push_command(tool, &reference, file, &sandbox)?;
                let series = push.get_mut(&tool).context("series")?;
                let result =
                    self.record(series, first, std::slice::from_mut(&mut command), &mut line);
                if self.peer_failed(tool, "push", result)? {
                    tools.retain(|&t| t != tool);
                    continue;
                }
                if tool == Tool::Wasm {
                    // Only this run's wasm repository: the peers upload in between.
                    let own = format!("/v2/bench/{mib}m/wasm-r{run}/blobs/uploads/");
                    let requests = self.requests_since(mark)?;
                    counts.pushes += 1;
                    counts.push_uploads += requests
                        .iter()
                        .filter(|r| {
                            (r.method == "PUT" || r.method == "PATCH") && r.uri.starts_with(&own)
                        })
                        .count();
                }
            }
            for tool in tools.clone() {
                let reference = self.reference(&format!("bench/{mib}m/{}-r{run}", tool.name()));
                let sandbox = self.sandbox()?;
                fresh_dir(&out)?;
                let (mut command, pulled) = self.pull_command(tool, &reference, &out, &sandbox)?;
                let series = pull.get_mut(&tool).context("series")?;
                let mut result =
                    self.record(series, first, std::slice::from_mut(&mut command), &mut line);
                if first && result.is_ok() {
                    result = check_pulled(&pulled, &digest, tool);
                }
                if self.peer_failed(tool, "pull", result)? {
                    tools.retain(|&t| t != tool);
                }
            }
            println!("{line}");
        }
        self.series.extend([hash, copy, up, down]);
        // A peer that failed is left out entirely: part of its runs would mislead.
        for tool in &tools {
            self.series.extend(push.remove(tool));
            self.series.extend(pull.remove(tool));
        }

        // Re-push and re-pull: one sandbox, its cache primed by a pull that is not measured.
        let reference = self.reference(&format!("bench/{mib}m/wasm-r0"));
        let sandbox = self.sandbox()?;
        fresh_dir(&out)?;
        let target = out.join("component.wasm");
        let mut prime = self.wasm_command(&sandbox);
        prime
            .args([OsStr::new("pull"), OsStr::new(&reference), OsStr::new("-o")])
            .arg(&target);
        self.measure(&mut [prime])
            .context("could not prime the cache for the re-pull")?;
        let mut repush = self.series(Tool::Wasm, Op::RePush, size);
        let mut repull = self.series(Tool::Wasm, Op::RePull, size);
        let mut line = String::from("re-push:");
        let mark = self.log_mark();
        for run in 0..self.runs {
            check_interrupt()?;
            let mut command = self.wasm_command(&sandbox);
            command
                .args([OsStr::new("push"), OsStr::new(&reference)])
                .arg(file);
            self.record(&mut repush, run == 0, &mut [command], &mut line)?;
        }
        for request in self.requests_since(mark)? {
            if !request.uri.contains("/blobs/uploads/") {
                continue;
            }
            match request.method.as_str() {
                "PUT" | "PATCH" => counts.repush_uploads += 1,
                "POST" if request.uri.contains("mount=") => counts.repush_mounts += 1,
                "POST" => counts.repush_sessions += 1,
                _ => {}
            }
        }
        counts.repushes = self.runs;
        println!("{line}");

        // The same file, its validation remembered by the re-pushes, to fresh repositories
        // with nothing to mount from (the cache's record of which repositories hold the blob
        // removed first): the transfer without validation.
        let mut validated = self.series(Tool::Wasm, Op::PushValidated, size);
        let mut line = String::from("push, validated before:");
        let known_sources = sandbox.dir().join("cache/wasm/blobs/sha256");
        let mark = self.log_mark();
        for run in 0..self.runs {
            check_interrupt()?;
            for entry in fs::read_dir(&known_sources)
                .with_context(|| format!("no blob records in {}", known_sources.display()))?
            {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "repos") {
                    fs::remove_file(&path)?;
                }
            }
            let reference = self.reference(&format!("bench/{mib}m/validated-r{run}"));
            let mut command = self.wasm_command(&sandbox);
            command
                .args([OsStr::new("push"), OsStr::new(&reference)])
                .arg(file);
            self.record(&mut validated, run == 0, &mut [command], &mut line)?;
        }
        let own = format!("/v2/bench/{mib}m/validated-r");
        let uploads = self
            .requests_since(mark)?
            .iter()
            .filter(|r| {
                r.method == "PUT" && r.uri.starts_with(&own) && r.uri.contains("/blobs/uploads/")
            })
            .count();
        if uploads < self.runs {
            bail!(
                "the pushes of a file validated before uploaded {uploads} blobs in {} runs: \
                 they were meant to send the layer",
                self.runs
            );
        }
        println!("{line}");
        self.series.push(validated);
        let mut line = String::from("re-pull:");
        let mark = self.log_mark();
        for run in 0..self.runs {
            check_interrupt()?;
            fresh_dir(&out)?;
            let mut command = self.wasm_command(&sandbox);
            command
                .args([OsStr::new("pull"), OsStr::new(&reference), OsStr::new("-o")])
                .arg(&target);
            self.record(&mut repull, run == 0, &mut [command], &mut line)?;
            if run == 0 {
                check_pulled(&target, &digest, Tool::Wasm)?;
            }
        }
        for request in self.requests_since(mark)? {
            let manifest = request.uri.contains("/manifests/");
            match request.method.as_str() {
                "GET" if request.uri.contains("/blobs/") => counts.repull_blob_gets += 1,
                "GET" | "HEAD" if manifest => counts.repull_manifest_requests += 1,
                _ => {}
            }
        }
        counts.repulls = self.runs;
        println!("{line}");
        println!(
            "counted: {} blob uploads over {} pushes; re-push: {} uploads, {} upload POSTs, {} mounts; \
             re-pull: {} blob GETs, {} manifest requests",
            counts.push_uploads,
            counts.pushes,
            counts.repush_uploads,
            counts.repush_sessions,
            counts.repush_mounts,
            counts.repull_blob_gets,
            counts.repull_manifest_requests
        );
        self.series.extend([repush, repull]);
        self.counts.insert(size, counts);
        drop(sandbox);
        fs::remove_dir_all(&out).ok();
        Ok(())
    }

    /// The batch: each run pushes the components to fresh repositories, then pulls them all
    /// with an empty cache; in one invocation each when `--help` says the command takes several.
    fn batch(&mut self, files: &[PathBuf]) -> Result<Batch> {
        let push_usage = self.usage("push")?;
        let pull_usage = self.usage("pull")?;
        let mut push_one = push_usage.contains("...");
        let pull_one = pull_usage.contains("...");
        let mut notes = Vec::new();
        if !pull_one {
            notes.push(format!(
                "The batch pull runs one `wasm pull` per reference: its usage line \
                 (`{pull_usage}`) takes one reference."
            ));
        }
        if !push_one {
            notes.push(format!(
                "The batch push runs one `wasm push` per file: its usage line (`{push_usage}`) \
                 takes one file."
            ));
        }
        let mut push = self.series(Tool::Wasm, Op::BatchPush, BATCH_SIZE);
        let mut pull = self.series(Tool::Wasm, Op::BatchPull, BATCH_SIZE);
        let out = self.work.join("out");
        for run in 0..self.runs {
            check_interrupt()?;
            let first = run == 0;
            let mut line = format!("run {}/{}:", run + 1, self.runs);
            let references: Vec<String> = (0..files.len())
                .map(|index| self.reference(&format!("bench/batch-r{run}/c{index:03}")))
                .collect();
            let sandbox = self.sandbox()?;
            if push_one {
                // `wasm push REF FILE REF FILE ...`: the one form that keeps each file's
                // reference explicit. If the CLI spells it otherwise, fall back to a loop.
                let mut command = self.wasm_command(&sandbox);
                command.arg("push");
                for (reference, file) in references.iter().zip(files) {
                    command.arg(reference).arg(file);
                }
                // `push R1 F1 R2 F2 ... R100 F100`.
                let shown = self.shown(&elided(&command, 5, 2));
                match self.measure(&mut [command]) {
                    Ok(sample) => {
                        if first {
                            push.command = shown;
                        }
                        push_sample(&mut push, sample, &mut line);
                    }
                    Err(err) if first => {
                        let reason = format!("{err:#}");
                        let reason = reason.lines().last().unwrap_or_default().trim().to_owned();
                        notes.push(format!(
                            "`wasm push --help` shows several files, but `wasm push REF FILE REF \
                             FILE ...` failed ({reason}); the batch push runs one invocation per \
                             file."
                        ));
                        println!("batch push in one invocation failed: {reason}; looping instead");
                        push_one = false;
                    }
                    Err(err) => return Err(err),
                }
            }
            if !push_one {
                let mut commands: Vec<Command> = references
                    .iter()
                    .zip(files)
                    .map(|(reference, file)| {
                        let mut command = self.wasm_command(&sandbox);
                        command.arg("push").arg(reference).arg(file);
                        command
                    })
                    .collect();
                if first {
                    push.command = format!(
                        "{} (× {}, one after another)",
                        self.shown(&commands[0]),
                        files.len()
                    );
                }
                let sample = self.measure(&mut commands)?;
                push_sample(&mut push, sample, &mut line);
            }
            drop(sandbox);

            let sandbox = self.sandbox()?;
            fresh_dir(&out)?;
            let mut commands = if pull_one {
                let mut command = self.wasm_command(&sandbox);
                command.arg("pull").args(&references).arg("-o").arg(&out);
                vec![command]
            } else {
                references
                    .iter()
                    .map(|reference| {
                        let mut command = self.wasm_command(&sandbox);
                        command.arg("pull").arg(reference).arg("-o").arg(&out);
                        command
                    })
                    .collect()
            };
            if first {
                pull.command = if pull_one {
                    // `pull R1 R2 ... R100 -o DIR`.
                    self.shown(&elided(&commands[0], 3, 3))
                } else {
                    format!(
                        "{} (× {}, one after another)",
                        self.shown(&commands[0]),
                        files.len()
                    )
                };
            }
            let sample = self.measure(&mut commands)?;
            push_sample(&mut pull, sample, &mut line);
            if first {
                let pulled = fs::read_dir(&out)?.count();
                if pulled != files.len() {
                    bail!(
                        "the batch pull wrote {pulled} files into {}, not {}",
                        out.display(),
                        files.len()
                    );
                }
            }
            println!("{line}");
        }
        fs::remove_dir_all(&out).ok();
        self.series.extend([push, pull]);
        Ok(Batch {
            count: files.len(),
            size: BATCH_SIZE,
            push_one_invocation: push_one,
            pull_one_invocation: pull_one,
            notes,
        })
    }

    /// `wasm install` of a project with one dependency per file: cold (empty cache, no lock,
    /// no files: resolve, lock, fetch concurrently) and warm (the same again: every file hashed,
    /// and no request, which the access log must confirm).
    fn install(&mut self, files: &[PathBuf]) -> Result<()> {
        let prefix = format!("{}/bench/install", self.addr);
        let sandbox = self.sandbox()?;
        let mut publish = self.wasm_command(&sandbox);
        publish.arg("push");
        let mut manifest = String::from("[dependencies]\n");
        for (index, file) in files.iter().enumerate() {
            publish
                .arg(format!("{prefix}/bench/p{index:02}:1.0.0"))
                .arg(file);
            manifest.push_str(&format!(
                "\"bench:p{index:02}\" = {{ version = \"1\", registry = \"{prefix}\" }}\n"
            ));
        }
        cmd::run(&mut publish).context("could not publish the install benchmark's packages")?;
        drop(sandbox);
        let mut cold = self.series(Tool::Wasm, Op::InstallCold, BATCH_SIZE);
        let mut warm = self.series(Tool::Wasm, Op::InstallWarm, BATCH_SIZE);
        for run in 0..self.runs {
            check_interrupt()?;
            let first = run == 0;
            let mut line = format!("run {}/{}:", run + 1, self.runs);
            let sandbox = self.sandbox()?;
            let project = self.work.join("project");
            fresh_dir(&project)?;
            fs::write(project.join("wasm.toml"), &manifest)
                .context("could not write the benchmark's wasm.toml")?;
            let install = |bench: &Self| {
                let mut command = bench.wasm_command(&sandbox);
                command.current_dir(&project).args(["install", "-q"]);
                command
            };
            self.record(&mut cold, first, &mut [install(self)], &mut line)?;
            let mark = self.log_mark();
            self.record(&mut warm, first, &mut [install(self)], &mut line)?;
            let requests = self.requests_since(mark)?;
            if !requests.is_empty() {
                bail!(
                    "the second `wasm install` sent {} request(s); it must send none",
                    requests.len()
                );
            }
            println!("{line}");
        }
        fs::remove_dir_all(self.work.join("project")).ok();
        self.series.extend([cold, warm]);
        Ok(())
    }

    /// `wasm --version` and `wasm self config --no-exec`, alternating, in one sandbox.
    fn startup(&mut self, runs: usize) -> Result<()> {
        let sandbox = self.sandbox()?;
        let mut version = self.series(Tool::Wasm, Op::Version, 0);
        let mut config = self.series(Tool::Wasm, Op::SelfConfig, 0);
        let mut line = String::from("start-up:");
        let mut config_line = String::new();
        for run in 0..runs {
            check_interrupt()?;
            let mut command = self.wasm_command(&sandbox);
            command.arg("--version");
            self.record(&mut version, run == 0, &mut [command], &mut line)?;
            let mut command = self.wasm_command(&sandbox);
            command.args(["self", "config", "--no-exec"]);
            self.record(&mut config, run == 0, &mut [command], &mut config_line)?;
        }
        let (Some(v), Some(c)) = (version.stats(), config.stats()) else {
            bail!("no start-up sample");
        };
        println!(
            "start-up medians: --version {}, self config --no-exec {}",
            report::time_text(v.median),
            report::time_text(c.median)
        );
        self.series.extend([version, config]);
        Ok(())
    }

    /// Passes `result` on for `wasm`; for a peer, turns a failure into `Ok(true)` after
    /// reporting it and dropping the peer from the rest of the run.
    fn peer_failed(&mut self, tool: Tool, what: &str, result: Result<()>) -> Result<bool> {
        let Err(err) = result else {
            return Ok(false);
        };
        if tool == Tool::Wasm || interrupt::requested() {
            return Err(err);
        }
        let text = format!("{err:#}");
        // The registry's log, which `measure` appends, is about us, not about the peer.
        let text = text.split("\nregistry log").next().unwrap_or_default();
        let reason = format!("its {what} failed: {text}");
        println!("peer {}: {reason}\nmeasuring without it", tool.name());
        match tool {
            Tool::Wkg => self.wkg = None,
            Tool::Oras => self.oras = None,
            _ => {}
        }
        // The first line says what failed; the rest (stderr, the registry's log) is on screen.
        let reason = reason.lines().next().unwrap_or_default().to_owned();
        self.peer_failures.push((tool, reason));
        Ok(true)
    }

    /// The tools measured for push and pull, `wasm` first.
    fn tools(&self) -> Vec<Tool> {
        let mut tools = vec![Tool::Wasm];
        if self.wkg.is_some() {
            tools.push(Tool::Wkg);
        }
        if self.oras.is_some() {
            tools.push(Tool::Oras);
        }
        tools
    }

    fn series(&self, tool: Tool, op: Op, size: u64) -> Series {
        Series {
            tool,
            op,
            size,
            samples: Vec::with_capacity(self.runs),
            command: String::new(),
        }
    }

    fn reference(&self, repository: &str) -> String {
        format!("{}/{repository}:{TAG}", self.addr)
    }

    /// `tool`'s push of `file` to `reference`.
    fn push_command(
        &self,
        tool: Tool,
        reference: &str,
        file: &Path,
        sandbox: &Sandbox,
    ) -> Result<Command> {
        self.push_command_at(tool, reference, file, sandbox, &self.addr)
    }

    /// `tool`'s push of `file` to `reference` on the plain-HTTP registry at `addr`.
    fn push_command_at(
        &self,
        tool: Tool,
        reference: &str,
        file: &Path,
        sandbox: &Sandbox,
        addr: &str,
    ) -> Result<Command> {
        Ok(match tool {
            Tool::Wasm => {
                let mut command = self.wasm_command(sandbox);
                command.arg("push").arg(reference).arg(file);
                command
            }
            Tool::Wkg => {
                let wkg = self.wkg.as_ref().context("no wkg")?;
                let mut command = sandbox.command(&wkg.program);
                command
                    .args(["oci", "push"])
                    .arg(format!("--insecure={addr}"));
                command.arg(reference).arg(file);
                command
            }
            Tool::Oras => {
                let oras = self.oras.as_ref().context("no oras")?;
                let mut command = oras.command(sandbox);
                command.arg("push").arg(reference).arg(file);
                command
            }
            other => bail!("{} does not push", other.name()),
        })
    }

    /// `tool`'s pull of `reference` into `out`, and the file it writes.
    fn pull_command(
        &self,
        tool: Tool,
        reference: &str,
        out: &Path,
        sandbox: &Sandbox,
    ) -> Result<(Command, PathBuf)> {
        self.pull_command_at(tool, reference, out, sandbox, &self.addr)
    }

    /// `tool`'s pull of `reference` from the plain-HTTP registry at `addr` into `out`, and the
    /// file it writes.
    fn pull_command_at(
        &self,
        tool: Tool,
        reference: &str,
        out: &Path,
        sandbox: &Sandbox,
        addr: &str,
    ) -> Result<(Command, PathBuf)> {
        let target = out.join("component.wasm");
        Ok(match tool {
            Tool::Wasm => {
                let mut command = self.wasm_command(sandbox);
                command.arg("pull").arg(reference).arg("-o").arg(&target);
                (command, target)
            }
            Tool::Wkg => {
                let wkg = self.wkg.as_ref().context("no wkg")?;
                let mut command = sandbox.command(&wkg.program);
                command
                    .args(["oci", "pull"])
                    .arg(format!("--insecure={addr}"));
                command.arg(reference).arg("-o").arg(&target);
                (command, target)
            }
            Tool::Oras => {
                let oras = self.oras.as_ref().context("no oras")?;
                let mut command = oras.command(sandbox);
                command.arg("pull").arg(reference).arg(out);
                // oras names the file after the pushed file's title annotation.
                (command, out.to_path_buf())
            }
            other => bail!("{} does not pull", other.name()),
        })
    }

    fn wasm_command(&self, sandbox: &Sandbox) -> Command {
        sandbox.command(&self.wasm)
    }

    /// A new, empty sandbox below the scratch directory.
    fn sandbox(&mut self) -> Result<Sandbox> {
        self.sandboxes += 1;
        Sandbox::create(self.work.join(format!("sandbox-{}", self.sandboxes)))
    }

    /// Runs `commands` as one sample into `series`, keeping the first run's command line.
    fn record(
        &self,
        series: &mut Series,
        first: bool,
        commands: &mut [Command],
        line: &mut String,
    ) -> Result<()> {
        if first {
            series.command = commands
                .iter()
                .map(|command| self.shown(command))
                .collect::<Vec<_>>()
                .join(" && ");
        }
        let sample = self.measure(commands)?;
        push_sample(series, sample, line);
        Ok(())
    }

    /// `curl` POST then PUT of `file` into `repository`: the registry's own upload floor.
    fn curl_upload(
        &self,
        repository: &str,
        file: &Path,
        digest: &str,
        show: Option<&mut Series>,
    ) -> Result<Sample> {
        let url = format!("http://{}/v2/{repository}/blobs/uploads/", self.addr);
        let mut post = curl();
        post.args(["-X", "POST", "-D", "-", "-o", "/dev/null"])
            .arg(&url);
        let started = self.measure(std::slice::from_mut(&mut post))?;
        let headers = fs::read_to_string(self.work.join("stdout"))?;
        let location = header(&headers, "location")
            .with_context(|| format!("no Location in the answer to POST {url}:\n{headers}"))?;
        let location = if location.starts_with('/') {
            format!("http://{}{location}", self.addr)
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put_url = format!("{location}{separator}digest={digest}");
        let put_args = |command: &mut Command, url: &str| {
            command
                .args(["-X", "PUT", "-H", "Content-Type: application/octet-stream"])
                // No `Expect: 100-continue` round trip before the body.
                .args(["-H", "Expect:", "--data-binary"])
                .arg(format!("@{}", file.display()))
                .args(["-o", "/dev/null"])
                .arg(url);
        };
        let mut put = curl();
        put_args(&mut put, &put_url);
        let finished = self.measure(std::slice::from_mut(&mut put))?;
        if let Some(series) = show {
            let mut shown = curl();
            put_args(&mut shown, "$LOCATION&digest=sha256:$DIGEST");
            series.command = format!("{} && {}", self.shown(&post), self.shown(&shown));
        }
        Ok(Sample {
            wall: started.wall + finished.wall,
            rss_kib: started.rss_kib.max(finished.rss_kib),
            rss_floor_kib: started.rss_floor_kib.max(finished.rss_floor_kib),
            cpu: started.cpu + finished.cpu,
            registry_cpu: started.registry_cpu + finished.registry_cpu,
        })
    }

    /// Runs `commands` one after another, measured: wall times add up, the largest RSS counts.
    /// Their output goes to `stdout` and `stderr` in the scratch directory.
    fn measure(&self, commands: &mut [Command]) -> Result<Sample> {
        self.measure_at(self.registry, commands)
    }

    /// [`Bench::measure`], with `registry`'s log in the error when a command fails.
    fn measure_at(&self, registry: &LocalRegistry, commands: &mut [Command]) -> Result<Sample> {
        let mut total = Sample {
            wall: Duration::ZERO,
            rss_kib: 0,
            rss_floor_kib: 0,
            cpu: Duration::ZERO,
            registry_cpu: Duration::ZERO,
        };
        for command in commands {
            let stdout = File::create(self.work.join("stdout"))?;
            let stderr = File::create(self.work.join("stderr"))?;
            command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
            let line = cmd::display(command);
            reset_own_peak_rss();
            let registry_cpu = process_cpu(registry.pid());
            let started = Instant::now();
            let child = command
                .spawn()
                .with_context(|| format!("could not start `{line}`"))?;
            let (status, rss_kib, cpu) =
                wait_with_rusage(child).with_context(|| format!("could not wait for `{line}`"))?;
            let wall = started.elapsed();
            let registry_cpu = process_cpu(registry.pid()).saturating_sub(registry_cpu);
            let floor_kib = own_peak_rss_kib();
            if !status.success() {
                let stderr = fs::read_to_string(self.work.join("stderr")).unwrap_or_default();
                let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                let log = registry.log_tail(10).unwrap_or_default();
                bail!(
                    "`{line}` failed ({status}):\n{}\nregistry log (last lines):\n{log}",
                    tail.join("\n")
                );
            }
            total.wall += wall;
            total.cpu += cpu;
            total.registry_cpu += registry_cpu;
            total.rss_kib = total.rss_kib.max(rss_kib);
            total.rss_floor_kib = total.rss_floor_kib.max(floor_kib);
        }
        Ok(total)
    }

    /// A path as the document shows it: relative to the workspace root when below it.
    fn shown_path(&self, path: &Path) -> String {
        path.strip_prefix(cmd::workspace_root())
            .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
    }

    /// The command line for the document: placeholders for the port and the paths.
    fn shown(&self, command: &Command) -> String {
        let components = self
            .components
            .strip_prefix(cmd::workspace_root())
            .map_or_else(
                |_| self.components.display().to_string(),
                |p| p.display().to_string(),
            );
        cmd::display(command)
            .replace(&self.addr, "$REGISTRY")
            .replace(&self.components.display().to_string(), &components)
            .replace(&self.work.display().to_string(), "$WORK")
    }

    /// The usage line of `wasm COMMAND --help`.
    fn usage(&self, command: &str) -> Result<String> {
        let sandbox = Sandbox::create(self.work.join(format!("help-{command}")))?;
        let mut help = self.wasm_command(&sandbox);
        help.args([command, "--help"]);
        let text = cmd::output(&mut help)?;
        let usage = text
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("Usage:"))
            .with_context(|| format!("`wasm {command} --help` shows no Usage line"))?;
        Ok(usage.to_owned())
    }

    /// `program ARGS` in a sandbox, its first line of output.
    fn version(&self, program: &Path, args: &[&str]) -> Result<String, String> {
        let sandbox = Sandbox::create(self.work.join("version")).map_err(|e| format!("{e:#}"))?;
        let mut command = sandbox.command(program);
        command.args(args);
        cmd::output(&mut command)
            .map(|text| text.lines().next().unwrap_or_default().to_owned())
            .map_err(|e| format!("{e:#}"))
    }

    /// Makes sure the registry logs one line per request: the counts depend on it.
    fn check_access_log(&self) -> Result<()> {
        let mark = self.log_mark();
        let mut probe = curl();
        probe
            .args(["-o", "/dev/null"])
            .arg(format!("http://{}/v2/", self.addr));
        self.measure(&mut [probe])?;
        if self.requests_since(mark)?.iter().any(|r| r.uri == "/v2/") {
            return Ok(());
        }
        bail!("the registry's log shows no access-log line for GET /v2/: cannot count requests")
    }

    /// Where the registry's log ends now.
    fn log_mark(&self) -> u64 {
        self.registry.log_len()
    }

    /// The requests in the registry's access log after `mark`.
    fn requests_since(&self, mark: u64) -> Result<Vec<LoggedRequest>> {
        self.requests_at(self.registry, mark)
    }

    /// The requests in `registry`'s access log after `mark`.
    fn requests_at(&self, registry: &LocalRegistry, mark: u64) -> Result<Vec<LoggedRequest>> {
        // Distribution writes the access-log line as it finishes the response; give the last
        // one a moment.
        thread::sleep(Duration::from_millis(50));
        registry
            .requests_since(mark)
            .context("could not read the registry's log")
    }
}

/// Adds `sample` to `series` and its time to the progress line.
fn push_sample(series: &mut Series, sample: Sample, line: &mut String) {
    series.samples.push(sample);
    let name = match (series.tool, series.op) {
        (Tool::Wasm, Op::Version) => "--version".to_owned(),
        (Tool::Wasm, Op::SelfConfig) => return,
        (tool, Op::Push | Op::BatchPush) => format!("{} push", tool.name()),
        (tool, Op::Pull | Op::BatchPull) => format!("{} pull", tool.name()),
        (tool, _) => tool.name().to_owned(),
    };
    if matches!(
        series.op,
        Op::Version | Op::RePush | Op::RePull | Op::PushValidated
    ) {
        line.push_str(&format!(" {}", report::time_text(sample.wall)));
    } else {
        line.push_str(&format!(" {name} {}", report::time_text(sample.wall)));
    }
}

/// `curl` as the floors run it: no `.curlrc`, quiet but showing errors, failing on HTTP errors.
fn curl() -> Command {
    let mut command = Command::new("curl");
    command.args(["-q", "-sS", "-f"]);
    command
}

/// The value of header `name` (lowercase) in a block of HTTP response headers.
fn header(headers: &str, name: &str) -> Option<String> {
    headers.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// Empties `dir`, creating it if needed.
fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("could not empty {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))
}

/// Checks that a pull wrote the component: `path` is the file, or the directory holding it.
fn check_pulled(path: &Path, digest: &str, tool: Tool) -> Result<()> {
    let file = if path.is_dir() {
        let mut entries = fs::read_dir(path)?.collect::<io::Result<Vec<_>>>()?;
        if entries.len() != 1 {
            bail!(
                "{} pull wrote {} files into {}, not one",
                tool.name(),
                entries.len(),
                path.display()
            );
        }
        entries.remove(0).path()
    } else {
        path.to_path_buf()
    };
    let actual = format!("sha256:{}", sha256_file(&file)?);
    if actual != digest {
        bail!(
            "{} pull wrote {} with digest {actual}, not {digest}",
            tool.name(),
            file.display()
        );
    }
    Ok(())
}

/// Lowercase hex SHA-256 of a file, read in pieces.
fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        File::open(path).with_context(|| format!("could not open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// `command` with its arguments between the first `head` and the last `tail` replaced by
/// `...`, to show a batch invocation in the document.
fn elided(command: &Command, head: usize, tail: usize) -> Command {
    let args: Vec<&OsStr> = command.get_args().collect();
    let mut shown = Command::new(command.get_program());
    if args.len() <= head + tail + 1 {
        shown.args(args);
    } else {
        shown
            .args(&args[..head])
            .arg("...")
            .args(&args[args.len() - tail..]);
    }
    shown
}

fn check_interrupt() -> Result<()> {
    if interrupt::requested() {
        bail!("interrupted");
    }
    Ok(())
}

/// Resets this process's peak RSS ("high water mark", `VmHWM`) to its current RSS, so that the
/// next child's `ru_maxrss` starts from there.
///
/// Why: `std` spawns with `posix_spawn`, which shares our address space until `exec`, and at
/// `exec` Linux folds the old address space's peak into the child's `ru_maxrss`. Without the
/// reset, every child would report at least this process's peak so far (tens of MiB after
/// generating components). After it, a child reports at least our current RSS (a few MiB):
/// [`own_peak_rss_kib`] read after the child gives that floor, and a reading at or below it
/// only says "at most this much". GNU time does not have the problem (it forks from a small
/// process) but cannot time a 5 ms start-up to better than 10 ms.
fn reset_own_peak_rss() {
    // `5` resets the peak (proc(5), since Linux 4.0). Without it the floor is higher, still
    // reported honestly.
    let _ = fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak RSS (`VmHWM`) in KiB; 0 if /proc does not say.
fn own_peak_rss_kib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let value = line.strip_prefix("VmHWM:")?;
                value.trim().trim_end_matches("kB").trim().parse().ok()
            })
        })
        .unwrap_or(0)
}

/// Waits for `child` and returns its status and peak RSS in KiB (`ru_maxrss`).
///
/// `Child::wait` does not return the child's resource usage, and `getrusage(RUSAGE_CHILDREN)`
/// only gives the largest of all children so far; `wait4` gives this child's. The handle is
/// consumed: once `wait4` has reaped the process, nothing may wait on it again.
#[allow(unsafe_code)] // The workspace denies it; this is the one place that needs libc.
fn wait_with_rusage(child: Child) -> io::Result<(ExitStatus, u64, Duration)> {
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is a plain C struct of integers, for which all-zero bytes are valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid, exclusively borrowed out-pointers for the
        // duration of the call, and `pid` is our own child, not reaped yet.
        let reaped = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
        if reaped == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let rss_kib = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    let cpu = time(usage.ru_utime) + time(usage.ru_stime);
    Ok((ExitStatus::from_raw(status), rss_kib, cpu))
}

/// The CPU time (user and system) process `pid` has used so far, from `/proc/PID/stat`
/// (zero when it cannot be read: the figure is then left out of the report).
#[allow(unsafe_code)] // sysconf, for the clock tick the figures are counted in.
fn process_cpu(pid: u32) -> Duration {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which is in parentheses and may hold spaces): state is
    // field 3, utime 14, stime 15.
    let Some(rest) = stat.rsplit_once(") ").map(|(_, rest)| rest) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).unwrap_or(100).max(1);
    Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / per_second as f64)
}

/// `wkg`, found.
#[derive(Debug, Clone)]
struct Wkg {
    program: PathBuf,
}

/// `target/bench-peers/bin/wkg`, else `wkg` on PATH, if it can push to a plain-HTTP registry.
fn find_wkg(peers_dir: &Path) -> Result<Wkg, String> {
    let program = find_wkg_program(peers_dir)?;
    let help = cmd::output(Command::new(&program).args(["oci", "push", "--help"]))
        .map_err(|e| format!("`wkg oci push --help` failed: {e:#}"))?;
    if !help.contains("--insecure") {
        return Err(
            "`wkg oci push --help` shows no --insecure: it cannot use a plain-HTTP registry"
                .to_owned(),
        );
    }
    Ok(Wkg { program })
}

/// The `oras` Python SDK, driven by a script written into the scratch directory.
#[derive(Debug, Clone)]
struct Oras {
    script: PathBuf,
    python_path: Option<PathBuf>,
}

/// What the oras runs execute: `oras-bench.py push REF FILE` or `pull REF DIR`.
const ORAS_SCRIPT: &str = r#"# Written by `cargo xtask bench`: push or pull one file with the oras Python SDK.
import os
import sys

import oras.client

op, target, path = sys.argv[1:4]
client = oras.client.OrasClient(hostname=target.split("/", 1)[0], insecure=True)
# The SDK reads no Docker config: the latency mode's token registry gives credentials here.
if os.environ.get("ORAS_BENCH_USER"):
    client.auth.set_basic_auth(os.environ["ORAS_BENCH_USER"], os.environ["ORAS_BENCH_PASSWORD"])
if op == "push":
    # oras wants files relative to the working directory.
    os.chdir(os.path.dirname(os.path.abspath(path)))
    client.push(target=target, files=[os.path.basename(path)])
elif op == "pull":
    client.pull(target=target, outdir=path)
else:
    sys.exit("usage: oras-bench.py push REF FILE | pull REF DIR")
"#;

impl Oras {
    fn command(&self, sandbox: &Sandbox) -> Command {
        let mut command = sandbox.command(Path::new("python3"));
        command.arg(&self.script);
        if let Some(path) = &self.python_path {
            command.env("PYTHONPATH", path);
        }
        command
    }

    fn version(&self) -> Result<String, String> {
        let mut command = Command::new("python3");
        command.args(["-c", "import oras.version; print(oras.version.__version__)"]);
        if let Some(path) = &self.python_path {
            command.env("PYTHONPATH", path);
        }
        cmd::output(&mut command)
            .map(|version| format!("oras {version} (Python SDK)"))
            .map_err(|e| format!("{e:#}"))
    }
}

/// The oras SDK if `import oras` works, with target/bench-peers/python on PYTHONPATH.
fn find_oras(peers_dir: &Path, work: &Path) -> Result<Result<Oras, String>> {
    let python_dir = peers_dir.join("python");
    let python_path = if python_dir.is_dir() {
        let mut paths = vec![python_dir];
        if let Some(existing) = env::var_os("PYTHONPATH") {
            paths.extend(env::split_paths(&existing));
        }
        Some(PathBuf::from(env::join_paths(paths)?))
    } else {
        None
    };
    let mut probe = Command::new("python3");
    probe.args(["-c", "import oras.client"]);
    if let Some(path) = &python_path {
        probe.env("PYTHONPATH", path);
    }
    if !cmd::succeeds(&mut probe) {
        return Ok(Err(
            "`python3 -c 'import oras'` fails (`cargo xtask bench --peers` installs it)".to_owned(),
        ));
    }
    let script = work.join("oras-bench.py");
    fs::write(&script, ORAS_SCRIPT)
        .with_context(|| format!("could not write {}", script.display()))?;
    Ok(Ok(Oras {
        script,
        python_path,
    }))
}

/// Installs wkg into `dir` unless there; a failure is reported, not fatal.
pub(crate) fn install_wkg(dir: &Path) {
    if dir.join("bin").join("wkg").is_file() {
        println!("wkg: already in {}", dir.join("bin").display());
    } else {
        println!(
            "wkg: `cargo install --locked wkg --version {WKG_VERSION}` is a large build (many \
             minutes on 2 cores)"
        );
        let started = Instant::now();
        let mut install = cmd::cargo();
        install
            .args([
                "install",
                "--locked",
                "wkg",
                "--version",
                WKG_VERSION,
                "--root",
            ])
            .arg(dir);
        match cmd::run(&mut install) {
            Ok(()) => println!("wkg: installed in {:.0} s", started.elapsed().as_secs_f64()),
            Err(err) => println!(
                "wkg: install failed after {:.0} s, continuing without it: {err:#}",
                started.elapsed().as_secs_f64()
            ),
        }
    }
}

/// The wkg the figures compare with (docs/benchmarks.md names it in "Machine").
const WKG_VERSION: &str = "0.16.1";

/// `target/bench-peers/bin/wkg`, else `wkg` on PATH.
///
/// # Errors
///
/// Where neither is, a reason for the user.
pub(crate) fn find_wkg_program(peers_dir: &Path) -> Result<PathBuf, String> {
    let local = peers_dir.join("bin").join("wkg");
    if local.is_file() {
        return Ok(local);
    }
    env::var_os("PATH")
        .and_then(|path| {
            env::split_paths(&path)
                .map(|dir| dir.join("wkg"))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| "not installed (`cargo xtask bench --peers` installs it)".to_owned())
}

/// `--peers`: installs wkg and oras into `dir` unless there; a failure is reported, not fatal.
fn install_peers(dir: &Path) {
    install_wkg(dir);
    let python_dir = dir.join("python");
    let mut probe = Command::new("python3");
    probe
        .args(["-c", "import oras.client"])
        .env("PYTHONPATH", &python_dir);
    if cmd::succeeds(&mut probe) {
        println!("oras: already importable from {}", python_dir.display());
        return;
    }
    let started = Instant::now();
    let mut install = Command::new("python3");
    install
        .args(["-m", "pip", "install", "--quiet", "--target"])
        .arg(&python_dir)
        .arg("oras");
    match cmd::run(&mut install) {
        Ok(()) => println!(
            "oras: installed in {:.0} s",
            started.elapsed().as_secs_f64()
        ),
        Err(err) => println!("oras: install failed, continuing without it: {err:#}"),
    }
}

/// The machine, from /proc and a few commands.
fn machine(wasm: &Path, bench: &Bench<'_>) -> Result<Machine> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or_else(
            || "unknown".to_owned(),
            |kib| format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)),
        );
    let text = |command: &mut Command| {
        cmd::output(command).map_or_else(
            |e| format!("unknown ({e:#})"),
            |t| t.lines().next().unwrap_or_default().to_owned(),
        )
    };
    Ok(Machine {
        date: text(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
        cpus: thread::available_parallelism().map_or(0, |n| n.get()),
        model,
        memory,
        kernel: text(Command::new("uname").arg("-sr")),
        registry: text(Command::new("docker-registry").arg("--version")),
        wasm: bench
            .version(wasm, &["--version"])
            .unwrap_or_else(|e| format!("unknown ({e})")),
        wasm_source: String::new(),
        load_before: String::new(),
        load_after: String::new(),
    })
}

/// The workspace's commit, and whether the working tree differs from it: `7a1cf17` or
/// `7a1cf17 with uncommitted changes`. Read-only: `GIT_OPTIONAL_LOCKS=0` keeps `git status`
/// from refreshing the index.
fn source_revision() -> String {
    let git = |args: &[&str]| {
        let mut command = Command::new("git");
        command
            .args(args)
            .current_dir(cmd::workspace_root())
            .env("GIT_OPTIONAL_LOCKS", "0");
        cmd::output(&mut command)
    };
    let Ok(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "a working tree without git".to_owned();
    };
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Ok(changes) if changes.is_empty() => format!("commit {commit}"),
        Ok(_) => format!("commit {commit} with uncommitted changes"),
        Err(_) => format!("commit {commit}"),
    }
}

/// The first three fields of /proc/loadavg.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::error::ErrorKind;

    use crate::Command as Xtask;
    use crate::tests::{assert_usage_error, parse_args};

    /// `cargo xtask bench ARGS` through the clap definitions and [`Options::check`].
    fn parse(args: &[&str]) -> Options {
        match parse_args(&[&["bench"], args].concat()) {
            Ok(Xtask::Bench(options)) => options,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    /// What the options resolve to: runs, start-up runs, sizes, peers, write, wasm.
    fn resolved(options: &Options) -> (usize, usize, Vec<u64>, bool, bool, Option<PathBuf>) {
        (
            options.runs(),
            options.startup_runs(),
            options.sizes_mib(),
            options.peers,
            options.write(),
            options.wasm.clone(),
        )
    }

    #[test]
    fn options() {
        assert_eq!(
            resolved(&parse(&[])),
            (5, 30, vec![1, 16, 64], false, true, None)
        );
        assert_eq!(
            resolved(&parse(&["--quick"])),
            (3, 10, vec![1, 16], false, false, None)
        );
        let custom = parse(&["--runs=7", "--sizes", "64,1,1", "--peers", "--no-write"]);
        assert_eq!((custom.runs(), custom.startup_runs()), (7, 30));
        assert_eq!(custom.sizes_mib(), vec![1, 64]);
        assert!(custom.peers && !custom.write());
        assert_eq!(parse(&["--runs", "40", "--no-write"]).startup_runs(), 40);
        assert_eq!(
            parse(&["--wasm", "target/wasm", "--no-write", "--runs", "1"]).wasm,
            Some(PathBuf::from("target/wasm"))
        );
    }

    #[test]
    fn bad_options() {
        let cases: &[(&[&str], ErrorKind, &str)] = &[
            (&["--runs"], ErrorKind::InvalidValue, "--runs <N>"),
            (
                &["--runs", "0"],
                ErrorKind::ValueValidation,
                "0 is not in 1..=1000",
            ),
            (
                &["--runs", "1001"],
                ErrorKind::ValueValidation,
                "1001 is not in 1..=1000",
            ),
            (
                &["--sizes", "1,x"],
                ErrorKind::ValueValidation,
                "invalid value 'x'",
            ),
            (
                &["--sizes", "1,2000"],
                ErrorKind::ValueValidation,
                "2000 is not in 1..=1024",
            ),
            (
                &["--runs", "3"],
                ErrorKind::ArgumentConflict,
                "docs/benchmarks.md needs at least 5 runs per step: raise --runs or add --no-write",
            ),
            (&["--peers=yes"], ErrorKind::TooManyValues, "--peers"),
            (&["--wasm="], ErrorKind::InvalidValue, "--wasm <PATH>"),
            (
                &["fast"],
                ErrorKind::UnknownArgument,
                "unexpected argument 'fast'",
            ),
        ];
        for &(args, kind, message) in cases {
            assert_usage_error(&[&["bench"], args].concat(), kind, message);
        }
        assert_eq!(parse(&["--runs", "3", "--no-write"]).runs(), 3);
    }

    #[test]
    fn batch_commands_are_elided() {
        let mut command = Command::new("/x/wasm");
        command.args(["pull", "r1", "r2", "r3", "r4", "r5", "-o", "out"]);
        assert_eq!(
            cmd::display(&elided(&command, 3, 3)),
            "wasm pull r1 r2 ... r5 -o out"
        );
        let mut short = Command::new("wasm");
        short.args(["pull", "r1", "-o", "out"]);
        assert_eq!(cmd::display(&elided(&short, 3, 3)), "wasm pull r1 -o out");
    }

    #[test]
    fn headers() {
        let headers =
            "HTTP/1.1 202 Accepted\r\nLocation: http://h/v2/r/blobs/uploads/u?_state=s\r\n\r\n";
        assert_eq!(
            header(headers, "location").as_deref(),
            Some("http://h/v2/r/blobs/uploads/u?_state=s")
        );
        assert_eq!(header(headers, "range"), None);
    }

    #[test]
    fn wait_with_rusage_reports_status_memory_and_cpu() {
        let child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let (status, rss, _) = wait_with_rusage(child).unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(rss > 0);
        // A child that spins for about 0.3 s of CPU.
        let child = Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .spawn()
            .unwrap();
        let (_, _, cpu) = wait_with_rusage(child).unwrap();
        assert!(cpu > Duration::from_millis(50), "{cpu:?}");
    }

    #[test]
    fn process_cpu_reads_proc() {
        let before = process_cpu(std::process::id());
        let mut x = 0u64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let used = process_cpu(std::process::id()).saturating_sub(before);
        assert!(used >= Duration::from_millis(100), "{used:?}");
        assert_eq!(process_cpu(u32::MAX), Duration::ZERO);
    }

    #[test]
    fn our_own_peak_does_not_leak_into_the_childs() {
        let big = vec![1u8; 48 << 20];
        std::hint::black_box(&big);
        drop(big);
        reset_own_peak_rss();
        let child = Command::new("true").spawn().unwrap();
        let (_, rss, _) = wait_with_rusage(child).unwrap();
        let floor = own_peak_rss_kib();
        assert!(floor > 0);
        assert!(
            rss < 40 * 1024,
            "{rss} KiB: the 48 MiB peak leaked (floor {floor} KiB)"
        );
    }
}
