//! `dynamic-mcp-server probe`: grade what a gateway (an MCP proxy in front of
//! several servers) passes on to its clients when an upstream's tools change.
//!
//! The probe is a client of the gateway under test (its downstream
//! Streamable HTTP address, or a stdio gateway's command) and drives the
//! changes itself, through the upstreams' control endpoints (a fleet's one
//! endpoint with `"upstream": NAME`, or single servers' own). After each
//! change it records whether the gateway said so, how soon, whether its list
//! was current when it did, whether it lists the change, how it routes calls
//! (the upstreams' reports say which one served a call), and whether it lists
//! the upstream before every call. The verdict is `check`'s: checks in the
//! conformance suite's format under `--results`, the same baseline rule and
//! exit codes (0 pass, 1 an unexpected failure or a stale baseline entry, 2
//! a usage error). See docs/probe.md.

mod gateway;
mod scenarios;
mod upstream;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use self::gateway::Target;
use self::scenarios::{Probe, SCENARIOS};
use self::upstream::Upstream;
use crate::verdict::{Baseline, Check, Grading, evaluate, render_table, write_results};

/// Grade a gateway: change its upstreams' tools and check what it passes on.
///
/// The gateway sits in front of the upstreams named by --upstream (this
/// server's processes, each with --control, or a fleet's upstreams); the
/// probe connects to the gateway as its client, changes the last upstream's
/// tools through the control endpoint, and writes one checks.json per
/// scenario under --results, in the MCP conformance suite's format.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The gateway's downstream Streamable HTTP URL (or --command).
    #[arg(value_name = "URL", required_unless_present_any = ["command", "list"])]
    pub url: Option<String>,

    /// A stdio gateway: the command line that starts it (run through sh -c).
    #[arg(long, value_name = "CMD", conflicts_with = "url")]
    pub command: Option<String>,

    /// A fleet's control endpoint: each --upstream NAME is changed through
    /// it, its requests naming the upstream.
    #[arg(long, value_name = "URL")]
    pub control: Option<String>,

    /// An upstream behind the gateway: NAME with --control (a fleet's), or
    /// NAME=URL, URL being a single server's control endpoint. Repeatable;
    /// the changes go to the last one, the others stay still.
    #[arg(
        long = "upstream",
        value_name = "NAME[=URL]",
        required_unless_present = "list"
    )]
    pub upstreams: Vec<String>,

    /// Run only this scenario (repeatable) [default: all].
    #[arg(long, value_name = "NAME")]
    pub scenario: Vec<String>,

    /// List the scenarios with what each shows, and exit.
    #[arg(long)]
    pub list: bool,

    #[command(flatten)]
    pub grading: Grading,

    /// The longest wait for any one thing the gateway owes (a notification,
    /// a changed list, an answer), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// A gateway that holds changes until someone approves them: this
    /// command approves the upstream's current tools (run through sh -c
    /// before connecting, and when a change does not show, followed by a
    /// reconnect).
    #[arg(long, value_name = "CMD")]
    pub approve: Option<String>,
}

/// `dynamic-mcp-server probe ...` (clap's own usage errors exit 2, as
/// `check`'s do).
pub fn main(cli: ProbeArgs) -> ExitCode {
    if cli.list {
        for (name, what) in SCENARIOS {
            println!("{name}\t{what}");
        }
        return ExitCode::SUCCESS;
    }
    let plan = match Plan::new(&cli) {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    // The baseline is read before anything runs: a bad one is a usage error.
    let baseline = match cli.grading.baseline() {
        Ok(baseline) => baseline,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let results = runtime.block_on(plan.run());
    match conclude(&plan.results, &results, &baseline) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

/// Write each scenario's results, print the verdict table, and give the
/// exit code the baseline rule gives (`check`'s, from `crate::verdict`).
fn conclude(
    dir: &Path,
    results: &[(&'static str, Vec<Check>, String)],
    baseline: &Baseline,
) -> std::io::Result<u8> {
    for (scenario, checks, log) in results {
        write_results(dir, scenario, checks, b"", log.as_bytes())?;
    }
    let graded = || {
        results
            .iter()
            .map(|(scenario, checks, _)| (*scenario, checks.as_slice()))
    };
    let outcome = evaluate(graded(), baseline);
    print!("{}", render_table(graded(), &outcome));
    Ok(outcome.exit_code)
}

/// What one run does, checked before anything starts.
struct Plan {
    target: Target,
    upstreams: Vec<Upstream>,
    scenarios: Vec<&'static str>,
    results: PathBuf,

    wait: Duration,
    approve: Option<String>,
}

impl Plan {
    fn new(cli: &ProbeArgs) -> Result<Self, String> {
        let target = match (&cli.url, &cli.command) {
            (Some(url), None) => Target::Url(url.clone()),
            (None, Some(command)) => Target::Command(command.clone()),
            _ => return Err("give the gateway's URL or --command".into()),
        };
        let http = reqwest::Client::new();
        let mut upstreams = Vec::new();
        for spec in &cli.upstreams {
            let upstream = match (spec.split_once('='), &cli.control) {
                (Some((name, url)), _) => Upstream::new(name.to_owned(), url, false, http.clone()),
                (None, Some(control)) => Upstream::new(spec.clone(), control, true, http.clone()),
                (None, None) => {
                    return Err(format!(
                        "--upstream {spec}: give its control endpoint (NAME=URL), or a fleet's --control"
                    ));
                }
            };
            if upstream.name.is_empty()
                || upstreams.iter().any(|u: &Upstream| u.name == upstream.name)
            {
                return Err(format!(
                    "--upstream {spec}: each upstream needs a name of its own"
                ));
            }
            upstreams.push(upstream);
        }
        let mut scenarios = Vec::new();
        for name in &cli.scenario {
            match SCENARIOS.iter().find(|(known, _)| known == name) {
                Some((known, _)) => scenarios.push(*known),
                None => return Err(format!("--scenario {name}: no such scenario (see --list)")),
            }
        }
        if scenarios.is_empty() {
            scenarios = SCENARIOS.iter().map(|(name, _)| *name).collect();
        }
        Ok(Self {
            target,
            upstreams,
            scenarios,
            results: cli.grading.results.clone(),
            wait: Duration::from_secs(cli.timeout),
            approve: cli.approve.clone(),
        })
    }

    /// Run the scenarios in order on one connection; each scenario's checks.
    async fn run(&self) -> Vec<(&'static str, Vec<Check>, String)> {
        let log = self.results.join("gateway.log");
        if let Err(error) = std::fs::create_dir_all(&self.results) {
            return self.failed(&format!("{}: {error}", self.results.display()));
        }
        let _ = std::fs::remove_file(&log);
        let upstreams = self.upstreams.iter().map(Upstream::clone).collect();
        let mut probe = match Probe::connect(
            self.target.clone(),
            upstreams,
            self.wait,
            self.approve.clone(),
            log.clone(),
        )
        .await
        {
            Ok(probe) => probe,
            Err(error) => return self.failed(&error),
        };
        let mut all = Vec::new();
        for scenario in &self.scenarios {
            let start = log_length(&log);
            let checks = probe.run(scenario).await;
            all.push((*scenario, checks, log_since(&log, start)));
        }
        probe.gateway.close().await;
        all
    }

    /// Every scenario failed for one reason (the gateway never answered).
    fn failed(&self, error: &str) -> Vec<(&'static str, Vec<Check>, String)> {
        self.scenarios
            .iter()
            .map(|scenario| {
                let check = Check::new(
                    "gateway-reachable",
                    "The gateway answers",
                    "the probe connects to the gateway and initializes",
                    crate::verdict::Status::Failure,
                )
                .error(error.to_owned());
                (*scenario, vec![check], String::new())
            })
            .collect()
    }
}

fn log_length(log: &Path) -> u64 {
    std::fs::metadata(log).map_or(0, |m| m.len())
}

/// The gateway's (or approval command's) output written since `start`.
fn log_since(log: &Path, start: u64) -> String {
    let bytes = std::fs::read(log).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(start as usize..).unwrap_or_default()).into_owned()
}
