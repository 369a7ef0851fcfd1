//! What a `cargo xtask bench` run measured, and everything said about it: the table, the
//! verdicts on the targets, "where the time goes", and `docs/benchmarks.md`; the latency mode's
//! part (a registry a round trip away) is in [`latency`].
//!
//! What must stay true: every figure printed or written here is computed from the samples of
//! the run at hand. Nothing is typed in: a step that was not measured shows as such, and a
//! target without its measurement is "not measured", never PASS. This module does no I/O, so
//! the tests below pin the wording and the arithmetic.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

mod latency;

pub(crate) use latency::{
    Access, Latency, LatencySeries, Trace, table as latency_table, where_round_trips_go,
};

/// Bytes in a MiB.
pub(crate) const MIB: u64 = 1 << 20;

/// The program that ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tool {
    /// `sha256sum`: the hashing floor.
    Sha256sum,
    /// `cp`: the floor for writing the output file.
    Cp,
    /// `curl`: the registry's own floor for an upload or a download.
    Curl,
    /// Our `wasm`.
    Wasm,
    /// `wkg oci`, the peer the targets of docs/benchmarks.md compare with.
    Wkg,
    /// The `oras` Python SDK, through a small script.
    Oras,
}

impl Tool {
    /// The peers, in the order they run after `wasm`.
    pub(crate) const PEERS: [Tool; 2] = [Tool::Wkg, Tool::Oras];

    /// How the tool is called in prose.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tool::Sha256sum => "sha256sum",
            Tool::Cp => "cp",
            Tool::Curl => "curl",
            Tool::Wasm => "wasm",
            Tool::Wkg => "wkg",
            Tool::Oras => "oras",
        }
    }
}

/// What the tool did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Op {
    /// Hash the file.
    Hash,
    /// Copy the file to the output directory.
    Copy,
    /// Upload to a fresh repository.
    Push,
    /// Download, with an empty cache.
    Pull,
    /// Push the same file to the same reference again.
    RePush,
    /// Pull the same reference again, the cache kept.
    RePull,
    /// Push a file whose validation is remembered (a re-push validated it) to a fresh
    /// repository, nothing to mount from: the transfer without validation.
    PushValidated,
    /// Push the batch's components, each to its own fresh repository.
    BatchPush,
    /// Pull the batch's components, with an empty cache.
    BatchPull,
    /// `wasm --version`.
    Version,
    /// `wasm self config --no-exec`.
    SelfConfig,
    /// `wasm install` of the install benchmark's dependencies: empty cache, no lock.
    InstallCold,
    /// `wasm install` again, nothing changed (no request).
    InstallWarm,
    /// A push straight to the registry, the latency mode's baseline for [`Op::Push`].
    PushDirect,
    /// A push with an empty cache: the first contact with the registry (the latency mode's
    /// [`Op::Push`] has talked to the registry before, as a user's cache has).
    PushFirstContact,
    /// A pull straight from the registry, the latency mode's baseline for [`Op::Pull`].
    PullDirect,
}

/// One run of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// From spawning the (first) process to reaping the (last) one.
    pub(crate) wall: Duration,
    /// The largest `ru_maxrss` of the processes, in KiB.
    pub(crate) rss_kib: u64,
    /// The benchmark's own RSS when the process ran: a reading at or below it only says
    /// "at most this much" (see `bench::reset_own_peak_rss`).
    pub(crate) rss_floor_kib: u64,
    /// The CPU time (user and system) of the processes, from `wait4`.
    pub(crate) cpu: Duration,
    /// The CPU time the registry's process used meanwhile, from `/proc/PID/stat`.
    pub(crate) registry_cpu: Duration,
}

/// Every run of one step.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// Who ran.
    pub(crate) tool: Tool,
    /// What it did.
    pub(crate) op: Op,
    /// The size of the component in bytes; for a batch, of each component; 0 for start-up.
    pub(crate) size: u64,
    /// One per run, in order.
    pub(crate) samples: Vec<Sample>,
    /// The command line of the first run, with placeholders for ports and paths.
    pub(crate) command: String,
}

/// The summary of a [`Series`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stats {
    /// The median wall time (the mean of the middle two for an even count).
    pub(crate) median: Duration,
    /// The fastest run.
    pub(crate) min: Duration,
    /// The slowest run.
    pub(crate) max: Duration,
    /// The largest peak RSS of any run, in KiB.
    pub(crate) peak_rss_kib: u64,
    /// Whether that figure is only an upper bound: at or below the measuring floor.
    pub(crate) peak_rss_bound: bool,
}

impl Series {
    /// Median, spread and peak RSS; `None` without samples.
    pub(crate) fn stats(&self) -> Option<Stats> {
        let mut walls: Vec<Duration> = self.samples.iter().map(|sample| sample.wall).collect();
        walls.sort();
        let median = median_of_sorted(&walls)?;
        let count = walls.len();
        let peak = self.samples.iter().max_by_key(|s| s.rss_kib)?;
        Some(Stats {
            median,
            min: walls[0],
            max: walls[count - 1],
            peak_rss_kib: peak.rss_kib,
            peak_rss_bound: peak.rss_kib <= peak.rss_floor_kib,
        })
    }
}

/// The median of durations sorted in ascending order (the mean of the middle two for an even
/// count); `None` for none.
fn median_of_sorted(values: &[Duration]) -> Option<Duration> {
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

/// Requests counted in the registry's access log, for one component size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Completed `wasm push` runs to fresh repositories.
    pub(crate) pushes: usize,
    /// `PUT` and `PATCH` requests to `/blobs/uploads/` during those pushes.
    pub(crate) push_uploads: usize,
    /// Re-push runs.
    pub(crate) repushes: usize,
    /// `PUT` and `PATCH` requests to `/blobs/uploads/` during re-pushes: bytes sent.
    pub(crate) repush_uploads: usize,
    /// `POST` requests to `/blobs/uploads/` without `mount=` during re-pushes: uploads started.
    pub(crate) repush_sessions: usize,
    /// `POST` requests to `/blobs/uploads/` with `mount=` during re-pushes.
    pub(crate) repush_mounts: usize,
    /// Re-pull runs.
    pub(crate) repulls: usize,
    /// `GET` requests to `/blobs/` during re-pulls: bytes received.
    pub(crate) repull_blob_gets: usize,
    /// `GET` and `HEAD` requests to `/manifests/` during re-pulls.
    pub(crate) repull_manifest_requests: usize,
}

/// How the batch ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Components per run.
    pub(crate) count: usize,
    /// Bytes of each component.
    pub(crate) size: u64,
    /// Whether all of them were pushed by one `wasm push`.
    pub(crate) push_one_invocation: bool,
    /// Whether all of them were pulled by one `wasm pull`.
    pub(crate) pull_one_invocation: bool,
    /// Why the push or the pull ran in a loop.
    pub(crate) notes: Vec<String>,
}

/// The machine and the software versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Machine {
    /// When the run started, UTC.
    pub(crate) date: String,
    /// Logical CPUs.
    pub(crate) cpus: usize,
    /// `model name` from /proc/cpuinfo.
    pub(crate) model: String,
    /// MemTotal from /proc/meminfo, as text.
    pub(crate) memory: String,
    /// `uname -sr`.
    pub(crate) kernel: String,
    /// `docker-registry --version`.
    pub(crate) registry: String,
    /// `wasm --version`.
    pub(crate) wasm: String,
    /// Where that binary came from: the commit it was built from, or the `--wasm` path.
    pub(crate) wasm_source: String,
    /// /proc/loadavg before the measurements.
    pub(crate) load_before: String,
    /// /proc/loadavg after them.
    pub(crate) load_after: String,
}

/// A peer tool: its version when it ran, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peer {
    /// Which one.
    pub(crate) tool: Tool,
    /// `Ok(version)` when measured, `Err(reason)` when not.
    pub(crate) status: Result<String, String>,
}

/// Everything one run of the benchmark found.
#[derive(Debug, Clone)]
pub(crate) struct Results {
    /// Runs per step (start-up excepted).
    pub(crate) runs: usize,
    /// Runs per start-up step.
    pub(crate) startup_runs: usize,
    /// The component sizes, in bytes, ascending.
    pub(crate) sizes: Vec<u64>,
    /// Every measured step.
    pub(crate) series: Vec<Series>,
    /// Access-log counts by component size.
    pub(crate) counts: BTreeMap<u64, Counts>,
    /// The batch, when it ran.
    pub(crate) batch: Option<Batch>,
    /// The machine.
    pub(crate) machine: Machine,
    /// The peers that were looked for.
    pub(crate) peers: Vec<Peer>,
    /// The latency mode's figures, when it ran.
    pub(crate) latency: Option<Latency>,
}

impl Results {
    /// The series of `tool` doing `op` at `size`.
    pub(crate) fn find(&self, tool: Tool, op: Op, size: u64) -> Option<&Series> {
        self.series
            .iter()
            .find(|s| s.tool == tool && s.op == op && s.size == size && !s.samples.is_empty())
    }

    fn stats(&self, tool: Tool, op: Op, size: u64) -> Option<Stats> {
        self.find(tool, op, size).and_then(Series::stats)
    }

    fn median(&self, tool: Tool, op: Op, size: u64) -> Option<f64> {
        self.stats(tool, op, size).map(|s| s.median.as_secs_f64())
    }

    /// The median CPU time of `tool` doing `op` at `size`, and the median CPU time the
    /// registry used meanwhile, in seconds (`None` when the registry's was not read).
    fn median_cpu(&self, tool: Tool, op: Op, size: u64) -> Option<(f64, f64)> {
        let series = self.find(tool, op, size)?;
        let median = |of: fn(&Sample) -> Duration| {
            let mut values: Vec<Duration> = series.samples.iter().map(of).collect();
            values.sort();
            median_of_sorted(&values).map(|d| d.as_secs_f64())
        };
        let own = median(|s| s.cpu)?;
        let registry = median(|s| s.registry_cpu)?;
        (registry > 0.0).then_some((own, registry))
    }

    /// The least wall time `tool` doing `op` at `size` could take on this machine's cores,
    /// from the CPU it and the registry used (both on the same cores): their sum over the
    /// number of cores.
    fn cpu_floor(&self, tool: Tool, op: Op, size: u64) -> Option<f64> {
        let (own, registry) = self.median_cpu(tool, op, size)?;
        Some((own + registry) / self.machine.cpus.max(1) as f64)
    }

    /// The size the single-component targets are about (64 MiB), if measured.
    fn target_size(&self) -> Option<u64> {
        self.sizes.contains(&(64 * MIB)).then_some(64 * MIB)
    }
}

/// The step's name in the table.
fn label(series: &Series, batch: Option<&Batch>) -> String {
    let batch_label = |verb: &str, one: bool| match batch {
        Some(batch) => format!(
            "batch: `wasm {verb}` of {} × {} ({})",
            batch.count,
            size_text(batch.size),
            if one {
                "one invocation"
            } else {
                "one invocation each"
            }
        ),
        None => format!("batch: `wasm {verb}`"),
    };
    match (series.tool, series.op) {
        (Tool::Sha256sum, _) => "`sha256sum` (hashing floor)".to_owned(),
        (Tool::Cp, _) => "`cp` to the output directory (write floor)".to_owned(),
        (Tool::Curl, Op::Push) => "`curl` upload, POST + PUT (registry floor)".to_owned(),
        (Tool::Curl, _) => "`curl` download (registry floor)".to_owned(),
        (Tool::Wasm, Op::Push) => "`wasm push`".to_owned(),
        (Tool::Wasm, Op::Pull) => "`wasm pull` (empty cache)".to_owned(),
        (Tool::Wasm, Op::RePush) => "`wasm push` again (re-push)".to_owned(),
        (Tool::Wasm, Op::RePull) => "`wasm pull` again (re-pull, cache kept)".to_owned(),
        (Tool::Wasm, Op::PushValidated) => {
            "`wasm push` of a file validated before, to a new repository (the transfer alone)"
                .to_owned()
        }
        (Tool::Wasm, Op::BatchPush) => {
            batch_label("push", batch.is_some_and(|b| b.push_one_invocation))
        }
        (Tool::Wasm, Op::BatchPull) => {
            batch_label("pull", batch.is_some_and(|b| b.pull_one_invocation))
        }
        (Tool::Wasm, Op::Version) => "`wasm --version`".to_owned(),
        (Tool::Wasm, Op::SelfConfig) => "`wasm self config --no-exec`".to_owned(),
        (Tool::Wasm, Op::InstallCold) => format!(
            "`wasm install` of {} dependencies (empty cache, no lock: resolve, lock, fetch)",
            crate::bench::INSTALL_COUNT
        ),
        (Tool::Wasm, Op::InstallWarm) => {
            "`wasm install` again (nothing changed: files hashed, no request)".to_owned()
        }
        (Tool::Wkg, Op::Push) => "`wkg oci push`".to_owned(),
        (Tool::Wkg, _) => "`wkg oci pull`".to_owned(),
        (Tool::Oras, Op::Push) => "oras (Python) push".to_owned(),
        (Tool::Oras, _) => "oras (Python) pull".to_owned(),
        (tool, op) => format!("{} {op:?}", tool.name()),
    }
}

/// `1 MiB`, `100 KiB`, `1.5 MiB`.
pub(crate) fn size_text(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else if bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

/// `4.2 ms` under 100 ms, `0.253 s` above.
pub(crate) fn time_text(time: Duration) -> String {
    let seconds = time.as_secs_f64();
    if seconds < 0.1 {
        format!("{:.1} ms", seconds * 1000.0)
    } else {
        format!("{seconds:.3} s")
    }
}

/// `12.3 MiB`.
fn rss_text(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `12.3 MiB`, or `≤ 4.1 MiB` when the figure is only a bound.
fn peak_text(stats: &Stats) -> String {
    if stats.peak_rss_bound {
        format!("≤ {}", rss_text(stats.peak_rss_kib))
    } else {
        rss_text(stats.peak_rss_kib)
    }
}

/// `0.87×`.
fn ratio_text(ratio: f64) -> String {
    format!("{ratio:.2}×")
}

/// Megabytes (10⁶) per second for `bytes` in `seconds`.
fn rate_text(bytes: u64, seconds: f64) -> String {
    format!("{:.0} MB/s", bytes as f64 / seconds / 1e6)
}

/// The floor a step compares with: the same-size `curl` upload for pushes, download for pulls.
fn floor_of(series: &Series) -> Option<(Tool, Op)> {
    match (series.tool, series.op) {
        (Tool::Curl, _) | (Tool::Sha256sum | Tool::Cp, _) => None,
        (_, Op::Push | Op::RePush | Op::PushValidated) => Some((Tool::Curl, Op::Push)),
        (_, Op::Pull | Op::RePull) => Some((Tool::Curl, Op::Pull)),
        _ => None,
    }
}

/// The results table in Markdown: step, size, wall median, spread, peak RSS, ratios.
pub(crate) fn table(results: &Results) -> String {
    let mut out = String::from(
        "| step | size | wall (median) | spread (min–max) | peak RSS | ratio to floor | ratio to peer |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for series in &results.series {
        let Some(stats) = series.stats() else {
            continue;
        };
        let floor = floor_of(series)
            .and_then(|(tool, op)| results.median(tool, op, series.size))
            .map(|floor| {
                let name = if matches!(series.op, Op::Push | Op::RePush | Op::PushValidated) {
                    "curl upload"
                } else {
                    "curl download"
                };
                format!("{} {name}", ratio_text(stats.median.as_secs_f64() / floor))
            });
        let floor = match series.tool {
            Tool::Sha256sum | Tool::Cp | Tool::Curl => "(floor)".to_owned(),
            _ => floor.unwrap_or_else(|| "—".to_owned()),
        };
        let peer = match (series.tool, series.op) {
            (Tool::Wasm, Op::Push | Op::Pull) => {
                let ratios: Vec<String> = Tool::PEERS
                    .iter()
                    .filter_map(|&peer| {
                        let theirs = results.median(peer, series.op, series.size)?;
                        Some(format!(
                            "{} {}",
                            ratio_text(stats.median.as_secs_f64() / theirs),
                            peer.name()
                        ))
                    })
                    .collect();
                if ratios.is_empty() {
                    "—".to_owned()
                } else {
                    ratios.join(", ")
                }
            }
            _ => "—".to_owned(),
        };
        let mut step = label(series, results.batch.as_ref());
        if let (Op::BatchPush | Op::BatchPull, Some(batch)) = (series.op, &results.batch) {
            let rate = batch.count as f64 / stats.median.as_secs_f64();
            let _ = write!(step, ": {rate:.0} components/s");
        }
        let size = match series.op {
            Op::Version | Op::SelfConfig => "—".to_owned(),
            _ => size_text(series.size),
        };
        let _ = writeln!(
            out,
            "| {step} | {size} | {} | {} – {} | {} | {floor} | {peer} |",
            time_text(stats.median),
            time_text(stats.min),
            time_text(stats.max),
            peak_text(&stats),
        );
    }
    out
}

/// A target's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Met, by this run's figures.
    Pass,
    /// Missed, by this run's figures.
    Fail,
    /// Not measured in this run (a peer or a size was missing).
    NotMeasured,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NotMeasured => "not measured",
        }
    }

    fn from_bool(met: bool) -> Self {
        if met { Verdict::Pass } else { Verdict::Fail }
    }
}

/// One of the targets docs/benchmarks.md judges, and what this run says about it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    /// The target, as docs/benchmarks.md states it.
    pub(crate) name: &'static str,
    /// Met or not.
    pub(crate) verdict: Verdict,
    /// The figures behind the verdict, or why there are none.
    pub(crate) detail: String,
}

/// The verdicts on the targets: on loopback, then at a round trip's distance when the latency
/// mode ran.
pub(crate) fn targets(results: &Results) -> Vec<Target> {
    let mut targets = Vec::new();
    let size = results.target_size();
    let no_size = || "64 MiB was not in --sizes".to_owned();

    // Versus wkg.
    for (name, op, limit) in [
        ("pull of 64 MiB ≤ 0.5 × wkg's wall time", Op::Pull, 0.5),
        ("push of 64 MiB ≤ 0.6 × wkg's wall time", Op::Push, 0.6),
    ] {
        let (verdict, detail) = match size {
            None => (Verdict::NotMeasured, no_size()),
            Some(size) => match (
                results.median(Tool::Wasm, op, size),
                results.median(Tool::Wkg, op, size),
            ) {
                (Some(ours), Some(theirs)) => (
                    Verdict::from_bool(ours <= limit * theirs),
                    format!(
                        "wasm {} vs wkg {}: {}",
                        time_text(Duration::from_secs_f64(ours)),
                        time_text(Duration::from_secs_f64(theirs)),
                        ratio_text(ours / theirs)
                    ),
                ),
                (_, None) => (Verdict::NotMeasured, "wkg was not measured".to_owned()),
                (None, _) => (Verdict::NotMeasured, "wasm was not measured".to_owned()),
            },
        };
        targets.push(Target {
            name,
            verdict,
            detail,
        });
    }

    // Versus the registry's floor.
    let (verdict, detail) = match size {
        None => (Verdict::NotMeasured, no_size()),
        Some(size) => match (
            results.median(Tool::Wasm, Op::Push, size),
            results.median(Tool::Curl, Op::Push, size),
        ) {
            (Some(ours), Some(floor)) => {
                let mut detail = format!(
                    "wasm {} vs curl {}: {}",
                    time_text(Duration::from_secs_f64(ours)),
                    time_text(Duration::from_secs_f64(floor)),
                    ratio_text(ours / floor)
                );
                if let Some(cpu_floor) = results.cpu_floor(Tool::Wasm, Op::Push, size) {
                    let _ = write!(
                        detail,
                        " (the CPU it and the registry used, over {} cores, is {}: {} curl; see \"Where \
                         the time goes\")",
                        results.machine.cpus,
                        time_text(Duration::from_secs_f64(cpu_floor)),
                        ratio_text(cpu_floor / floor)
                    );
                }
                if let Some(transfer) = results.median(Tool::Wasm, Op::PushValidated, size) {
                    let _ = write!(
                        detail,
                        "; without validation (a file validated before): {}, {}",
                        time_text(Duration::from_secs_f64(transfer)),
                        ratio_text(transfer / floor)
                    );
                }
                (Verdict::from_bool(ours <= 1.15 * floor), detail)
            }
            _ => (Verdict::NotMeasured, "push or floor missing".to_owned()),
        },
    };
    targets.push(Target {
        name: "push of 64 MiB ≤ 1.15 × the curl upload floor",
        verdict,
        detail,
    });

    // Memory.
    let ops = [Op::Push, Op::Pull, Op::RePush, Op::RePull];
    let peaks: Vec<(Op, u64, Stats)> = ops
        .iter()
        .flat_map(|&op| results.sizes.iter().map(move |&size| (op, size)))
        .filter_map(|(op, size)| Some((op, size, results.stats(Tool::Wasm, op, size)?)))
        .collect();
    let (verdict, detail) = match peaks.iter().max_by_key(|(_, _, stats)| stats.peak_rss_kib) {
        None => (Verdict::NotMeasured, "no push or pull measured".to_owned()),
        Some((op, size, stats)) => (
            Verdict::from_bool(stats.peak_rss_kib <= 24 * 1024),
            format!(
                "largest: {} at {} ({})",
                peak_text(stats),
                size_text(*size),
                op_text(*op)
            ),
        ),
    };
    targets.push(Target {
        name: "peak RSS of push and pull ≤ 24 MiB (re-push and re-pull included)",
        verdict,
        detail,
    });
    let smallest = results.sizes.first().copied();
    let (verdict, detail) = match (smallest, size) {
        (Some(small), Some(large)) if small == MIB => {
            let mut verdict = Verdict::Pass;
            let mut parts = Vec::new();
            for op in [Op::Push, Op::Pull] {
                match (
                    results.stats(Tool::Wasm, op, small),
                    results.stats(Tool::Wasm, op, large),
                ) {
                    (Some(a), Some(b)) => {
                        let delta = a.peak_rss_kib.abs_diff(b.peak_rss_kib);
                        if delta > 4 * 1024 {
                            verdict = Verdict::Fail;
                        }
                        parts.push(format!(
                            "{}: {} → {} (Δ {})",
                            op_text(op),
                            peak_text(&a),
                            peak_text(&b),
                            rss_text(delta)
                        ));
                    }
                    _ => {
                        verdict = Verdict::NotMeasured;
                        parts.push(format!("{}: not measured", op_text(op)));
                    }
                }
            }
            (verdict, parts.join("; "))
        }
        _ => (Verdict::NotMeasured, "needs 1 and 64 in --sizes".to_owned()),
    };
    targets.push(Target {
        name: "peak RSS flat: 1 MiB and 64 MiB within 4 MiB",
        verdict,
        detail,
    });

    // No repeated work.
    let total = results
        .counts
        .values()
        .fold(Counts::default(), |mut sum, c| {
            sum.repushes += c.repushes;
            sum.repush_uploads += c.repush_uploads;
            sum.repush_sessions += c.repush_sessions;
            sum.repush_mounts += c.repush_mounts;
            sum.repulls += c.repulls;
            sum.repull_blob_gets += c.repull_blob_gets;
            sum.repull_manifest_requests += c.repull_manifest_requests;
            sum
        });
    let (verdict, detail) = if total.repushes == 0 {
        (Verdict::NotMeasured, "no re-push ran".to_owned())
    } else {
        (
            Verdict::from_bool(total.repush_uploads == 0 && total.repush_sessions == 0),
            format!(
                "{} re-pushes: {} PUT/PATCH to /blobs/uploads/, {} upload POSTs, {} mounts",
                total.repushes, total.repush_uploads, total.repush_sessions, total.repush_mounts
            ),
        )
    };
    targets.push(Target {
        name: "a re-push uploads no blob",
        verdict,
        detail,
    });
    let (verdict, detail) = if total.repulls == 0 {
        (Verdict::NotMeasured, "no re-pull ran".to_owned())
    } else {
        (
            Verdict::from_bool(total.repull_blob_gets == 0),
            format!(
                "{} re-pulls: {} blob GETs, {} manifest requests",
                total.repulls, total.repull_blob_gets, total.repull_manifest_requests
            ),
        )
    };
    targets.push(Target {
        name: "a re-pull of an unchanged reference transfers no blob",
        verdict,
        detail,
    });

    // Start-up.
    let version = results.median(Tool::Wasm, Op::Version, 0);
    let config = results.median(Tool::Wasm, Op::SelfConfig, 0);
    let (verdict, detail) = match (version, config) {
        (Some(version), Some(config)) => (
            Verdict::from_bool(version < 0.010 && config < 0.010),
            format!(
                "--version {}, self config --no-exec {}",
                time_text(Duration::from_secs_f64(version)),
                time_text(Duration::from_secs_f64(config))
            ),
        ),
        _ => (Verdict::NotMeasured, "start-up not measured".to_owned()),
    };
    targets.push(Target {
        name: "`wasm --version` and `wasm self config --no-exec` start in < 10 ms",
        verdict,
        detail,
    });

    // The batch.
    let (verdict, detail) = match &results.batch {
        Some(batch) => match results.median(Tool::Wasm, Op::BatchPull, batch.size) {
            Some(seconds) => {
                let rate = batch.count as f64 / seconds;
                let mut detail = format!("{rate:.0} components/s");
                if batch.pull_one_invocation {
                    (Verdict::from_bool(rate >= 50.0), detail)
                } else {
                    detail
                        .push_str(", but not in one invocation (`wasm pull` takes one reference)");
                    (Verdict::Fail, detail)
                }
            }
            None => (Verdict::NotMeasured, "batch pull not measured".to_owned()),
        },
        None => (Verdict::NotMeasured, "the batch did not run".to_owned()),
    };
    targets.push(Target {
        name: "100 × 100 KiB pulled in one invocation at ≥ 50 components/s",
        verdict,
        detail,
    });
    if let Some(latency) = &results.latency {
        targets.extend(latency::targets(latency));
    }
    targets
}

/// How the document names a step.
pub(crate) fn op_text(op: Op) -> &'static str {
    match op {
        Op::Push => "push",
        Op::Pull => "pull",
        Op::RePush => "re-push",
        Op::RePull => "re-pull",
        Op::PushValidated => "push of a file validated before",
        Op::BatchPush => "batch push",
        Op::BatchPull => "batch pull",
        Op::Hash => "hash",
        Op::Copy => "copy",
        Op::Version => "--version",
        Op::SelfConfig => "self config",
        Op::InstallCold => "install (cold)",
        Op::InstallWarm => "install (warm)",
        Op::PushDirect => "push, no proxy (baseline)",
        Op::PushFirstContact => "push, first contact (empty cache)",
        Op::PullDirect => "pull, no proxy (baseline)",
    }
}

/// The targets as a Markdown table.
pub(crate) fn targets_table(targets: &[Target]) -> String {
    let mut out = String::from("| target | verdict | measured |\n|---|---|---|\n");
    for target in targets {
        let _ = writeln!(
            out,
            "| {} | **{}** | {} |",
            target.name,
            target.verdict.text(),
            target.detail
        );
    }
    out
}

/// "Where the time goes": the measured figures set against each other, for the largest size
/// and, when two sizes ran, as a fixed cost plus a cost per MiB.
pub(crate) fn where_time_goes(results: &Results) -> String {
    let mut out = String::new();
    let Some(&large) = results.sizes.last() else {
        return "No component size was measured.\n".to_owned();
    };
    let get = |tool, op, size| results.median(tool, op, size);
    let secs = |s: f64| time_text(Duration::from_secs_f64(s));
    let mb = large;
    let _ = writeln!(out, "At {} (medians of this run):\n", size_text(large));
    if let Some(hash) = get(Tool::Sha256sum, Op::Hash, large) {
        let _ = writeln!(
            out,
            "- **Hashing**: `sha256sum` reads and hashes the file in {} ({}): a client that \
             hashes before sending pays about this much unless it hashes while it sends.",
            secs(hash),
            rate_text(mb, hash)
        );
    }
    if let Some(copy) = get(Tool::Cp, Op::Copy, large) {
        let _ = writeln!(
            out,
            "- **Disk**: `cp` writes the file to the output directory in {} ({}), from and \
             to the page cache (nothing here calls `fsync`).",
            secs(copy),
            rate_text(mb, copy)
        );
    }
    let upload = get(Tool::Curl, Op::Push, large);
    let download = get(Tool::Curl, Op::Pull, large);
    if let (Some(upload), Some(download)) = (upload, download) {
        let _ = writeln!(
            out,
            "- **The registry**: a bare `curl` upload takes {} ({}) and a download {} ({}). \
             The upload is what any client waits for: the registry receives, hashes and stores \
             every byte.",
            secs(upload),
            rate_text(mb, upload),
            secs(download),
            rate_text(mb, download)
        );
    }
    let startup = get(Tool::Wasm, Op::Version, 0);
    for (op, floor, floor_name) in [
        (Op::Push, upload, "upload"),
        (Op::Pull, download, "download"),
    ] {
        let (Some(ours), Some(floor)) = (get(Tool::Wasm, op, large), floor) else {
            continue;
        };
        let extra = ours - floor;
        let mut line = format!(
            "- **`wasm {}`**: {} ({}), {} the `curl` {floor_name}: the client's own share is {} \
             ({:.0} % of the step)",
            op_text(op),
            secs(ours),
            rate_text(mb, ours),
            ratio_text(ours / floor),
            signed_time(extra),
            100.0 * extra / ours
        );
        if let Some(startup) = startup {
            let _ = write!(
                line,
                ", of which start-up (`wasm --version`) is {}",
                secs(startup)
            );
        }
        if let Some(hash) = get(Tool::Sha256sum, Op::Hash, large) {
            let _ = write!(
                line,
                "; that share is {} the hashing floor",
                ratio_text(extra / hash)
            );
        }
        line.push('.');
        let _ = writeln!(out, "{line}");
    }
    if let (Some((own, registry)), Some((curl_own, curl_registry)), Some(upload)) = (
        results.median_cpu(Tool::Wasm, Op::Push, large),
        results.median_cpu(Tool::Curl, Op::Push, large),
        upload,
    ) {
        let cores = results.machine.cpus.max(1) as f64;
        let floor = (own + registry) / cores;
        let _ = write!(
            out,
            "- **CPU** (the registry runs on the same {} cores): `wasm push` used {} of CPU \
             and the registry {} meanwhile; the `curl` upload {} and the registry {}. Together \
             they cannot take less than {} of wall time here ({} the `curl` upload): full \
             validation (every function body) is most of `wasm`'s share, and runs on every \
             core while the layer uploads.",
            results.machine.cpus,
            secs(own),
            secs(registry),
            secs(curl_own),
            secs(curl_registry),
            secs(floor),
            ratio_text(floor / upload)
        );
        if let Some(transfer) = get(Tool::Wasm, Op::PushValidated, large) {
            let _ = write!(
                out,
                " A file validated before (its verdict remembered by digest) pushed to a new \
                 repository takes {}, {} the `curl` upload: the transfer alone.",
                secs(transfer),
                ratio_text(transfer / upload)
            );
        }
        out.push('\n');
    }
    if let (Some(push), Some(repush)) = (
        get(Tool::Wasm, Op::Push, large),
        get(Tool::Wasm, Op::RePush, large),
    ) {
        let sent = results
            .counts
            .get(&large)
            .map(|c| c.repush_uploads + c.repush_sessions);
        let sent = match sent {
            Some(0) => "no blob sent, by the access log",
            Some(_) => "blobs sent, by the access log",
            None => "uploads not counted",
        };
        let _ = writeln!(
            out,
            "- **`wasm push` again** (re-push, {sent}): {}, {:.0} % of the first push: what a \
             push costs besides sending the blobs.",
            secs(repush),
            100.0 * repush / push
        );
    }
    if let (Some(&small), true) = (results.sizes.first(), results.sizes.len() > 1) {
        let _ = writeln!(
            out,
            "\nFixed cost and cost per MiB, from the {} and {} medians (a straight line \
             through two points):\n",
            size_text(small),
            size_text(large)
        );
        let span_mib = (large - small) as f64 / MIB as f64;
        let mut rows = String::new();
        for (tool, op) in [
            (Tool::Sha256sum, Op::Hash),
            (Tool::Curl, Op::Push),
            (Tool::Wasm, Op::Push),
            (Tool::Wkg, Op::Push),
            (Tool::Oras, Op::Push),
            (Tool::Curl, Op::Pull),
            (Tool::Wasm, Op::Pull),
            (Tool::Wkg, Op::Pull),
            (Tool::Oras, Op::Pull),
        ] {
            let (Some(a), Some(b)) = (get(tool, op, small), get(tool, op, large)) else {
                continue;
            };
            let per_mib = (b - a) / span_mib;
            let fixed = a - per_mib * (small as f64 / MIB as f64);
            let _ = writeln!(
                rows,
                "| {} {} | {} | {:.2} ms |",
                tool.name(),
                op_text(op),
                signed_time(fixed),
                per_mib * 1000.0
            );
        }
        if !rows.is_empty() {
            out.push_str("| step | fixed | per MiB |\n|---|---|---|\n");
            out.push_str(&rows);
        }
    }
    out
}

/// A duration that may be negative (a difference of medians).
fn signed_time(seconds: f64) -> String {
    if seconds < 0.0 {
        format!("−{}", time_text(Duration::from_secs_f64(-seconds)))
    } else {
        time_text(Duration::from_secs_f64(seconds))
    }
}

/// The whole of `docs/benchmarks.md`.
pub(crate) fn document(results: &Results) -> String {
    let machine = &results.machine;
    let mut out = String::new();
    out.push_str(
        "# Benchmarks\n\n\
         Generated by `cargo xtask bench` (xtask/src/bench.rs): every figure below was measured \
         by the run that wrote this file. Do not edit it by hand; run the benchmark again.\n\n",
    );
    let _ = writeln!(
        out,
        "Run of {}: {} runs per step ({} for start-up), components of {}, a local \
         `docker-registry` over loopback (plain HTTP).\n",
        machine.date,
        results.runs,
        results.startup_runs,
        results
            .sizes
            .iter()
            .map(|&size| size_text(size))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str("## Results\n\n");
    out.push_str(&table(results));
    if let Some(latency) = &results.latency {
        let _ = writeln!(
            out,
            "\n## At {} a round trip\n\nThe same registry, and a token-auth registry with its \
             token server, each behind a delay-injecting proxy that adds {} to every exchange \
             and to every new connection (`LatencyProxy` in testkit/src/latency.rs), as a \
             registry on the internet is. A small component ({}); `wasm` with `--plain-http`, \
             wkg with `--insecure`. Requests from the registry's access log, connections from \
             the proxy, token requests from the token server.\n",
            time_text(latency.round_trip),
            time_text(latency.round_trip),
            size_text(crate::bench::LATENCY_SIZE)
        );
        out.push_str(&latency::table(latency));
    }
    out.push_str("\n## Targets\n\n");
    out.push_str(&targets_table(&targets(results)));
    out.push_str("\n## Where the time goes\n\n");
    out.push_str(&where_time_goes(results));
    if let Some(latency) = &results.latency {
        out.push_str("\n## Where the round trips go\n\n");
        out.push_str(&latency::where_round_trips_go(latency));
    }
    out.push_str("\n## Requests counted in the registry's access log\n\n");
    out.push_str(&counts_text(results));
    out.push_str("\n## Machine\n\n");
    let _ = writeln!(out, "- CPUs: {} × {}", machine.cpus, machine.model);
    let _ = writeln!(out, "- memory: {}", machine.memory);
    let _ = writeln!(out, "- kernel: {}", machine.kernel);
    let _ = writeln!(out, "- registry: {}", machine.registry);
    let _ = writeln!(out, "- wasm: {} ({})", machine.wasm, machine.wasm_source);
    for peer in &results.peers {
        match &peer.status {
            Ok(version) => {
                let _ = writeln!(out, "- {}: {version}", peer.tool.name());
            }
            Err(reason) => {
                let _ = writeln!(out, "- {}: not measured ({reason})", peer.tool.name());
            }
        }
    }
    let _ = writeln!(
        out,
        "- load average (1, 5, 15 min) before: {}; after: {}",
        machine.load_before, machine.load_after
    );
    out.push_str("\n## Method\n\n");
    out.push_str(METHOD);
    if let Some(batch) = &results.batch {
        for note in &batch.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out.push_str("\n## Commands\n\n");
    out.push_str(
        "`$REGISTRY` is the registry's `127.0.0.1:PORT` and `$WORK` the run's scratch directory; \
         other paths are relative to the workspace root. Shown: the first run of each step at \
         the first size; other runs and sizes differ only in repository and file names.\n\n",
    );
    let mut seen = Vec::new();
    for series in &results.series {
        let label = label(series, results.batch.as_ref());
        if !seen.contains(&label) {
            let _ = writeln!(out, "- {label}: `{}`", series.command);
            seen.push(label);
        }
    }
    out
}

/// How the benchmark measures, for the document.
const METHOD: &str = "\
- Wall time runs from spawning a process to reaping it; peak RSS is the child's `ru_maxrss` \
  from `wait4`. Linux folds the spawning process's own RSS into that figure, so the \
  benchmark resets its own peak before each spawn and marks a reading at or below its own \
  RSS (a few MiB) as a bound: `≤ 3.9 MiB` means \"at most\". A step of several processes (the `curl` upload's POST and PUT, a batch in a \
  loop) adds their wall times and takes the largest RSS.
- Each run pushes to fresh repository names, so no client can skip an upload, and every \
  `wasm`, `wkg` and `oras` command runs with HOME, the XDG directories and DOCKER_CONFIG in a \
  fresh sandbox: the pull starts from an empty cache. Re-push and re-pull keep one sandbox \
  (and its cache), primed by one pull that is not measured. The push of a file validated \
  before runs in that sandbox too (the re-push left its verdict in the cache), to fresh \
  repositories, with the cache's record of which repositories hold the blob removed first, so \
  that the layer is uploaded, not mounted.
- CPU is the child's user and system time from `wait4`, and the registry's from \
  `/proc/PID/stat` before and after; both share this machine's cores, so their sum over the \
  number of cores is the least wall time the step could take here.
- Within a run the tools alternate (wasm, wkg, oras), so that noise from the machine falls \
  on all of them alike.
- Files are read from the page cache (they were generated or read just before); outputs go \
  to `$WORK` below the target directory, on disk, without `fsync`.
- Components come from xtask/src/generator.rs: one core module of many functions with long runs of \
  simple instructions, wrapped in a component with one import and one export, validated once \
  with `wasmparser` and cached by size, seed and generator version.
- The latency mode (`--latency-ms`, 50 by default; 0 skips it) puts a delay-injecting TCP \
  proxy (testkit/src/latency.rs) in front of the registry, and in front of a token-auth \
  registry and its token server: half the round trip each way for every chunk, chunks that \
  travel together delayed once, and a new connection usable one round trip after it was \
  accepted (the TCP handshake). Bandwidth stays loopback's: the figures count round trips, not \
  throughput. Requests come from each registry's access log, connections from the proxy, token \
  requests from the token server. `wasm`'s push and pull also run without the proxy in the same \
  run; the difference, in round trips, is what the distance cost. `wasm`'s push (and its \
  baseline) starts from a cache that has talked to the registry before, as a user's has: an \
  unmeasured pull of another component in the same sandbox, so the registry's challenge is \
  remembered, the file is not. The first-contact push starts from an empty cache. Every pull \
  starts from an empty cache.
";

/// The access-log counts, one line per size.
fn counts_text(results: &Results) -> String {
    if results.counts.is_empty() {
        return "Nothing counted.\n".to_owned();
    }
    let mut out = String::from(
        "| size | pushes | blob uploads (PUT/PATCH) | re-pushes | their uploads | their upload POSTs | their mounts | re-pulls | their blob GETs | their manifest requests |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (size, c) in &results.counts {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            size_text(*size),
            c.pushes,
            c.push_uploads,
            c.repushes,
            c.repush_uploads,
            c.repush_sessions,
            c.repush_mounts,
            c.repulls,
            c.repull_blob_gets,
            c.repull_manifest_requests
        );
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The verdict on the target whose name starts with `prefix`.
    pub(crate) fn verdict_of(targets: &[Target], prefix: &str) -> Verdict {
        targets
            .iter()
            .find(|t| t.name.starts_with(prefix))
            .unwrap_or_else(|| panic!("no target starts with {prefix:?}"))
            .verdict
    }

    fn sample(ms: u64, rss_kib: u64) -> Sample {
        Sample {
            wall: Duration::from_millis(ms),
            rss_kib,
            rss_floor_kib: 1,
            cpu: Duration::from_millis(ms),
            registry_cpu: Duration::ZERO,
        }
    }

    fn series(tool: Tool, op: Op, size: u64, ms: &[u64], rss: u64) -> Series {
        Series {
            tool,
            op,
            size,
            samples: ms.iter().map(|&ms| sample(ms, rss)).collect(),
            command: String::new(),
        }
    }

    fn results(series: Vec<Series>) -> Results {
        Results {
            runs: 3,
            startup_runs: 3,
            sizes: vec![MIB, 64 * MIB],
            series,
            counts: BTreeMap::new(),
            batch: None,
            machine: Machine::default(),
            peers: Vec::new(),
            latency: None,
        }
    }

    #[test]
    fn stats_are_median_spread_and_peak() {
        let s = Series {
            samples: vec![sample(30, 5), sample(10, 9), sample(20, 7)],
            ..series(Tool::Wasm, Op::Push, MIB, &[], 0)
        };
        let stats = s.stats().unwrap();
        assert_eq!(stats.median, Duration::from_millis(20));
        assert_eq!(
            (stats.min, stats.max),
            (Duration::from_millis(10), Duration::from_millis(30))
        );
        assert_eq!(stats.peak_rss_kib, 9);
        let even = series(Tool::Wasm, Op::Push, MIB, &[10, 20, 30, 40], 1);
        assert_eq!(even.stats().unwrap().median, Duration::from_millis(25));
        assert!(series(Tool::Wasm, Op::Push, MIB, &[], 1).stats().is_none());
    }

    #[test]
    fn formatting() {
        assert_eq!(size_text(64 * MIB), "64 MiB");
        assert_eq!(size_text(100 * 1024), "100 KiB");
        assert_eq!(time_text(Duration::from_micros(4_250)), "4.2 ms");
        assert_eq!(time_text(Duration::from_millis(253)), "0.253 s");
        assert_eq!(signed_time(-0.012), "−12.0 ms");
    }

    #[test]
    fn ratios_and_verdicts_come_from_the_samples() {
        let big = 64 * MIB;
        let r = results(vec![
            series(Tool::Curl, Op::Push, big, &[200, 200, 200], 5000),
            series(Tool::Wasm, Op::Push, big, &[220, 230, 210], 10_000),
            series(Tool::Wkg, Op::Push, big, &[400, 400, 400], 150_000),
            series(Tool::Wasm, Op::Pull, big, &[100, 100, 100], 30_000),
            series(Tool::Wkg, Op::Pull, big, &[150, 150, 150], 90_000),
            series(Tool::Wasm, Op::Push, MIB, &[20, 20, 20], 9_000),
            series(Tool::Wasm, Op::Pull, MIB, &[20, 20, 20], 9_000),
        ]);
        let table = table(&r);
        assert!(
            table.contains("| `wasm push` | 64 MiB | 0.220 s | 0.210 s – 0.230 s | 9.8 MiB | 1.10× curl upload | 0.55× wkg |"),
            "{table}"
        );
        let targets = targets(&r);
        let verdict = |prefix: &str| verdict_of(&targets, prefix);
        assert_eq!(verdict("pull of 64 MiB"), Verdict::Fail);
        assert_eq!(verdict("push of 64 MiB ≤ 0.6"), Verdict::Pass);
        assert_eq!(verdict("push of 64 MiB ≤ 1.15"), Verdict::Pass);
        assert_eq!(verdict("peak RSS of push"), Verdict::Fail);
        assert_eq!(verdict("peak RSS flat"), Verdict::Fail);
        assert_eq!(verdict("a re-push"), Verdict::NotMeasured);
        assert_eq!(verdict("`wasm --version`"), Verdict::NotMeasured);
        assert_eq!(verdict("100 × 100 KiB"), Verdict::NotMeasured);
    }

    #[test]
    fn the_document_has_every_section_and_only_measured_figures() {
        let big = 64 * MIB;
        let mut r = results(vec![
            series(Tool::Sha256sum, Op::Hash, big, &[130], 2000),
            series(Tool::Curl, Op::Push, big, &[220], 5000),
            series(Tool::Curl, Op::Pull, big, &[60], 5000),
            series(Tool::Wasm, Op::Push, big, &[250], 10_000),
            series(Tool::Wasm, Op::RePush, big, &[50], 10_000),
            series(Tool::Wasm, Op::Push, MIB, &[20], 9_000),
        ]);
        r.counts.insert(
            big,
            Counts {
                repushes: 1,
                ..Counts::default()
            },
        );
        let doc = document(&r);
        for section in [
            "## Results",
            "## Targets",
            "## Where the time goes",
            "## Machine",
            "## Method",
            "## Commands",
        ] {
            assert!(doc.contains(section), "{section}");
        }
        assert!(
            doc.contains(
                "re-push, no blob sent, by the access log): 50.0 ms, 20 % of the first push"
            ),
            "{doc}"
        );
        assert!(!doc.contains("NaN") && !doc.contains("inf×"), "{doc}");
        // Pulls were not measured: no line about them.
        assert!(!doc.contains("**`wasm pull`**"), "{doc}");
    }

    #[test]
    fn a_missing_peer_is_not_measured_rather_than_passed() {
        let big = 64 * MIB;
        let r = results(vec![series(Tool::Wasm, Op::Pull, big, &[1], 1)]);
        let target = &targets(&r)[0];
        assert_eq!(target.verdict, Verdict::NotMeasured);
        assert_eq!(target.detail, "wkg was not measured");
    }

    #[test]
    fn the_batch_must_be_one_invocation() {
        let mut r = results(vec![series(
            Tool::Wasm,
            Op::BatchPull,
            100 * 1024,
            &[1000],
            1,
        )]);
        r.batch = Some(Batch {
            count: 100,
            size: 100 * 1024,
            push_one_invocation: false,
            pull_one_invocation: false,
            notes: Vec::new(),
        });
        let target = targets(&r).pop().unwrap();
        assert_eq!(target.verdict, Verdict::Fail);
        assert!(
            target.detail.starts_with("100 components/s, but not"),
            "{}",
            target.detail
        );
    }
}
