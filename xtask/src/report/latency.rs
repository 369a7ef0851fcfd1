//! The latency mode's figures ([`Latency`]) and their part of docs/benchmarks.md: the table of
//! wall time, requests, connections and tokens per tool, the targets of the speed issue at a
//! round trip's distance, and "where the round trips go" (each request of a push and a pull).

use std::fmt::Write as _;
use std::time::Duration;

use super::{Op, Target, Tool, Verdict, op_text, ratio_text, time_text};

/// How the registry lets clients in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Access {
    /// Everyone may pull and push.
    Anonymous,
    /// Docker's token auth: a challenge, then a Bearer token from a token server.
    Token,
}

impl Access {
    /// How the document names it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Access::Anonymous => "anonymous",
            Access::Token => "token",
        }
    }
}

/// One step of one tool at one registry, every run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LatencySeries {
    /// Who ran.
    pub(crate) tool: Tool,
    /// What it did ([`Op::PushDirect`] and [`Op::PullDirect`]: without the proxy).
    pub(crate) op: Op,
    /// At which registry.
    pub(crate) access: Access,
    /// Wall time of each run.
    pub(crate) walls: Vec<Duration>,
    /// Requests in the registry's access log, each run.
    pub(crate) requests: Vec<usize>,
    /// Connections the proxy accepted, each run (0 without the proxy).
    pub(crate) connections: Vec<usize>,
    /// Requests to the token server, each run.
    pub(crate) tokens: Vec<usize>,
}

/// The requests of one `wasm` step, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trace {
    /// What ran, where.
    pub(crate) title: String,
    /// `METHOD TARGET → STATUS`, as the registry logged them.
    pub(crate) requests: Vec<String>,
    /// Connections the proxy accepted meanwhile.
    pub(crate) connections: usize,
    /// Requests to the token server meanwhile.
    pub(crate) tokens: usize,
}

/// Everything the latency mode measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Latency {
    /// The round trip the proxy added.
    pub(crate) round_trip: Duration,
    /// Every step.
    pub(crate) series: Vec<LatencySeries>,
    /// The requests of `wasm`'s first push, pull, re-push and re-pull at each registry.
    pub(crate) traces: Vec<Trace>,
    /// Peers dropped from the latency steps, and why.
    pub(crate) failures: Vec<String>,
}

/// The median of `values`; the lower middle one for an even count.
fn median<T: Copy + Ord>(values: &[T]) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

impl Latency {
    fn find(&self, tool: Tool, op: Op, access: Access) -> Option<&LatencySeries> {
        self.series
            .iter()
            .find(|s| s.tool == tool && s.op == op && s.access == access)
    }

    fn wall(&self, tool: Tool, op: Op, access: Access) -> Option<Duration> {
        median(&self.find(tool, op, access)?.walls)
    }

    fn requests(&self, tool: Tool, op: Op, access: Access) -> Option<usize> {
        median(&self.find(tool, op, access)?.requests)
    }

    fn most_requests(&self, tool: Tool, op: Op, access: Access) -> Option<usize> {
        self.find(tool, op, access)?.requests.iter().max().copied()
    }

    fn most_tokens(&self, tool: Tool, op: Op, access: Access) -> Option<usize> {
        self.find(tool, op, access)?.tokens.iter().max().copied()
    }

    /// The round trips that the distance added to a `wasm` step: its wall time through the
    /// proxy less its wall time without, in round trips.
    fn added_round_trips(&self, op: Op, direct: Op, access: Access) -> Option<f64> {
        let far = self.wall(Tool::Wasm, op, access)?;
        let near = self.wall(Tool::Wasm, direct, access)?;
        Some(far.saturating_sub(near).as_secs_f64() / self.round_trip.as_secs_f64())
    }
}

/// The latency table: one row per tool and step.
pub(crate) fn table(latency: &Latency) -> String {
    let mut out = String::from(
        "| registry | step | tool | wall (median) | spread (min–max) | requests | connections | \
         token requests | ratio to wkg |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for series in &latency.series {
        let (Some(wall), Some(min), Some(max)) = (
            median(&series.walls),
            series.walls.iter().min(),
            series.walls.iter().max(),
        ) else {
            continue;
        };
        let ratio = match (
            series.tool,
            latency.wall(Tool::Wkg, series.op, series.access),
        ) {
            (Tool::Wasm | Tool::Oras, Some(wkg)) => {
                ratio_text(wall.as_secs_f64() / wkg.as_secs_f64())
            }
            _ => "—".to_owned(),
        };
        let connections = if matches!(series.op, Op::PushDirect | Op::PullDirect) {
            "(no proxy)".to_owned()
        } else {
            spread(&series.connections)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} – {} | {} | {} | {} | {} |",
            series.access.name(),
            op_text(series.op),
            series.tool.name(),
            time_text(wall),
            time_text(*min),
            time_text(*max),
            spread(&series.requests),
            connections,
            if series.access == Access::Token {
                spread(&series.tokens)
            } else {
                "—".to_owned()
            },
            ratio
        );
    }
    out
}

/// `3` when every run agrees, else `3–4`.
fn spread(values: &[usize]) -> String {
    match (values.iter().min(), values.iter().max()) {
        (Some(min), Some(max)) if min == max => min.to_string(),
        (Some(min), Some(max)) => format!("{min}–{max}"),
        _ => "—".to_owned(),
    }
}

/// The targets at a round trip's distance (docs/benchmarks.md, "Targets").
pub(crate) fn targets(latency: &Latency) -> Vec<Target> {
    let mut targets = Vec::new();
    let rtt = time_text(latency.round_trip);
    for (name, op) in [
        (
            "pull of a small component, empty cache, ≤ 0.5 × wkg's wall time",
            Op::Pull,
        ),
        (
            "push of a new small component ≤ 0.5 × wkg's wall time",
            Op::Push,
        ),
    ] {
        let (verdict, detail) = match (
            latency.wall(Tool::Wasm, op, Access::Anonymous),
            latency.wall(Tool::Wkg, op, Access::Anonymous),
        ) {
            (Some(ours), Some(theirs)) => {
                let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
                (
                    Verdict::from_bool(ratio <= 0.5),
                    format!(
                        "at {rtt}: wasm {} vs wkg {}: {}",
                        time_text(ours),
                        time_text(theirs),
                        ratio_text(ratio)
                    ),
                )
            }
            (_, None) => (Verdict::NotMeasured, "wkg was not measured".to_owned()),
            (None, _) => (Verdict::NotMeasured, "wasm was not measured".to_owned()),
        };
        targets.push(Target {
            name,
            verdict,
            detail,
        });
    }
    let count = |name, op, access, limit: usize, tokens: Option<usize>| {
        let (verdict, detail) = match latency.most_requests(Tool::Wasm, op, access) {
            Some(most) => {
                let issued = latency.most_tokens(Tool::Wasm, op, access).unwrap_or(0);
                let ok = most <= limit && tokens.is_none_or(|t| issued <= t);
                let mut detail = format!("at most {most} request(s) in any run");
                if tokens.is_some() {
                    let _ = write!(detail, ", {issued} token request(s)");
                }
                (Verdict::from_bool(ok), detail)
            }
            None => (Verdict::NotMeasured, "not measured".to_owned()),
        };
        Target {
            name,
            verdict,
            detail,
        }
    };
    targets.push(count(
        "anonymous pull: the manifest and the blob (2 requests)",
        Op::Pull,
        Access::Anonymous,
        2,
        None,
    ));
    targets.push(count(
        "token pull: the challenge, the manifest and the blob, one token",
        Op::Pull,
        Access::Token,
        3,
        Some(1),
    ));
    targets.push(count(
        "re-pull of an unchanged tag: one request",
        Op::RePull,
        Access::Anonymous,
        1,
        None,
    ));
    for (name, access, limit) in [
        (
            "push: ≤ 5 sequential round trips after the connection (anonymous)",
            Access::Anonymous,
            5.0,
        ),
        (
            "push: ≤ 7 sequential round trips after the connection (token)",
            Access::Token,
            7.0,
        ),
    ] {
        let (verdict, detail) = match latency.added_round_trips(Op::Push, Op::PushDirect, access) {
            // One of the added round trips is the connection's.
            Some(added) => (
                Verdict::from_bool(added - 1.0 <= limit + 0.5),
                format!(
                    "the distance added {added:.1} round trips to the wall time (wall at {rtt} \
                     less wall on loopback), one of them the connection's"
                ),
            ),
            None => (Verdict::NotMeasured, "not measured".to_owned()),
        };
        targets.push(Target {
            name,
            verdict,
            detail,
        });
    }
    let repush = latency.find(Tool::Wasm, Op::RePush, Access::Anonymous);
    let push = latency.requests(Tool::Wasm, Op::Push, Access::Anonymous);
    targets.push(match (repush, push) {
        (Some(repush), Some(push)) => {
            let most = repush.requests.iter().max().copied().unwrap_or(0);
            Target {
                name: "re-push: the existence checks and the manifest only",
                // A new push is 2 HEADs, 2 uploads of 2 requests each, and the manifest: the
                // re-push keeps the HEADs and the manifest.
                verdict: Verdict::from_bool(most <= 3),
                detail: format!("at most {most} request(s), against {push} for a new push"),
            }
        }
        _ => Target {
            name: "re-push: the existence checks and the manifest only",
            verdict: Verdict::NotMeasured,
            detail: "not measured".to_owned(),
        },
    });
    for (name, op, limit) in [
        (
            "100 small components pulled in one invocation in under 2 s",
            Op::BatchPull,
            2.0,
        ),
        (
            "100 small components pushed in one invocation in under 4 s",
            Op::BatchPush,
            4.0,
        ),
    ] {
        let (verdict, detail) = match latency.wall(Tool::Wasm, op, Access::Anonymous) {
            Some(wall) => (
                Verdict::from_bool(wall.as_secs_f64() < limit),
                format!("at {rtt}: {}", time_text(wall)),
            ),
            None => (Verdict::NotMeasured, "not measured".to_owned()),
        };
        targets.push(Target {
            name,
            verdict,
            detail,
        });
    }
    targets
}

/// "Where the round trips go": each request of `wasm`'s first push, pull, re-push and re-pull.
pub(crate) fn where_round_trips_go(latency: &Latency) -> String {
    let mut out = format!(
        "Each request of `wasm`'s first run of each step, in the order the registry logged \
         them (requests sent in parallel appear in the order they finished), with the \
         connections the proxy accepted and the requests the token server got. At {} a round \
         trip, every request that has to wait for another costs one.\n",
        time_text(latency.round_trip)
    );
    for trace in &latency.traces {
        let _ = writeln!(
            out,
            "\n**{}**: {} request(s), {} connection(s){}\n",
            trace.title,
            trace.requests.len(),
            trace.connections,
            if trace.tokens > 0 {
                format!(", {} token request(s)", trace.tokens)
            } else {
                String::new()
            }
        );
        if trace.requests.is_empty() {
            out.push_str("(none)\n");
        }
        for (index, request) in trace.requests.iter().enumerate() {
            let _ = writeln!(out, "{}. `{request}`", index + 1);
        }
    }
    if !latency.failures.is_empty() {
        out.push_str("\nPeers dropped from the latency steps:\n\n");
        for failure in &latency.failures {
            let _ = writeln!(out, "- {failure}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(tool: Tool, op: Op, access: Access, ms: &[u64], requests: &[usize]) -> LatencySeries {
        LatencySeries {
            tool,
            op,
            access,
            walls: ms.iter().map(|&m| Duration::from_millis(m)).collect(),
            requests: requests.to_vec(),
            connections: vec![1; ms.len()],
            tokens: vec![if access == Access::Token { 1 } else { 0 }; ms.len()],
        }
    }

    fn latency() -> Latency {
        use Access::{Anonymous, Token};
        Latency {
            round_trip: Duration::from_millis(50),
            series: vec![
                series(
                    Tool::Wasm,
                    Op::Push,
                    Anonymous,
                    &[300, 310, 320],
                    &[7, 7, 7],
                ),
                series(
                    Tool::Wkg,
                    Op::Push,
                    Anonymous,
                    &[900, 920, 910],
                    &[15, 15, 15],
                ),
                series(
                    Tool::Wasm,
                    Op::Pull,
                    Anonymous,
                    &[150, 160, 155],
                    &[2, 2, 2],
                ),
                series(Tool::Wkg, Op::Pull, Anonymous, &[470, 480, 475], &[5, 5, 5]),
                series(
                    Tool::Wasm,
                    Op::PushDirect,
                    Anonymous,
                    &[60, 60, 60],
                    &[7, 7, 7],
                ),
                series(Tool::Wasm, Op::RePull, Anonymous, &[70, 70, 70], &[1, 1, 2]),
                series(
                    Tool::Wasm,
                    Op::RePush,
                    Anonymous,
                    &[200, 200, 200],
                    &[3, 3, 3],
                ),
                series(Tool::Wasm, Op::Pull, Token, &[250, 250, 250], &[3, 3, 3]),
                series(
                    Tool::Wasm,
                    Op::BatchPull,
                    Anonymous,
                    &[1900, 2100, 1800],
                    &[200; 3],
                ),
            ],
            traces: vec![],
            failures: vec![],
        }
    }

    #[test]
    fn targets_judge_medians_and_the_worst_run_of_counts() {
        let targets = targets(&latency());
        let verdict = |prefix: &str| crate::report::tests::verdict_of(&targets, prefix);
        assert_eq!(verdict("pull of a small"), Verdict::Pass);
        assert_eq!(verdict("push of a new small"), Verdict::Pass);
        assert_eq!(verdict("anonymous pull"), Verdict::Pass);
        assert_eq!(verdict("token pull"), Verdict::Pass);
        // One run of three made a second request.
        assert_eq!(verdict("re-pull"), Verdict::Fail);
        // (310 - 60) / 50 = 5 round trips, one of them the connection's.
        assert_eq!(verdict("push: ≤ 5"), Verdict::Pass);
        assert_eq!(verdict("push: ≤ 7"), Verdict::NotMeasured);
        assert_eq!(verdict("re-push"), Verdict::Pass);
        assert_eq!(verdict("100 small components pulled"), Verdict::Pass);
        assert_eq!(verdict("100 small components pushed"), Verdict::NotMeasured);
    }

    #[test]
    fn the_table_shows_counts_and_ratios_to_wkg() {
        let table = table(&latency());
        assert!(
            table.contains(
                "| anonymous | push | wasm | 0.310 s | 0.300 s – 0.320 s | 7 | 1 | — | 0.34× |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| anonymous | re-pull | wasm | 70.0 ms | 70.0 ms – 70.0 ms | 1–2 |"),
            "{table}"
        );
        assert!(table.contains("| token | pull | wasm |"), "{table}");
    }
}
