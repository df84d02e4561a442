//! `dynamic-mcp-server check --client CMD`: run a battery of scenarios
//! against a client program and grade what it did, in the official
//! conformance suite's own format (docs/check.md).
//!
//! - `battery` (pure): the scenarios: timelines, contexts, checks, reports;
//! - `grade` (pure): a client report (with check mode's views) into checks;
//! - `view` (pure): check mode's `view` tool and its comparison;
//! - `run` (edge): one scenario: its server in this process, the client as
//!   the suite runs it, the checks;
//! - `relay`: the hidden `check-relay` command a stdio client spawns.
//!
//! This file is the command: its arguments, the runs side by side, the
//! results folder and the verdict table.

pub mod battery;
pub mod grade;
pub mod relay;
pub mod run;
pub mod view;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;

use self::battery::{BATTERY, BatteryScenario};
use self::run::{Runner, Transport};
use crate::verdict::{self, Check, Grading};

/// The hidden command a stdio client spawns as its server.
pub const RELAY_COMMAND: &str = "check-relay";

/// Exit status of a usage error (as clap's own).
const USAGE: u8 = 2;

/// Grade an MCP client's handling of changing lists (docs/check.md).
///
/// Runs each scenario against a fresh server and the client program, as the
/// MCP conformance suite runs a client: over HTTP the server's URL is the
/// last argument; the environment has MCP_CONFORMANCE_SCENARIO,
/// MCP_CONFORMANCE_CONTEXT and MCP_CONFORMANCE_PROTOCOL_VERSION. Exits 0 when
/// no check failed outside the expected failures, 1 when one did (or an
/// expected failure passed), 2 on a usage error.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The client program: run with `sh -c`, so quoting works.
    #[arg(long, value_name = "CMD", required_unless_present = "list")]
    pub client: Option<String>,

    /// How the client reaches the server: http (the URL is its last
    /// argument) or stdio (it spawns the context's command).
    #[arg(long, value_enum, default_value = "http")]
    pub transport: Transport,

    /// Run this scenario (repeatable) [default: every scenario the
    /// transport can run].
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,

    /// List the scenarios, what each does and the reports it comes from.
    #[arg(long)]
    pub list: bool,

    #[command(flatten)]
    pub grading: Grading,

    /// Kill a client still running this many seconds after it started.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Run this many scenarios at once.
    #[arg(long, value_name = "N", default_value = "4")]
    pub jobs: NonZeroUsize,
}

/// Run `check`; the exit status as the command promises.
pub fn main(args: CheckArgs) -> ExitCode {
    if args.list {
        print!("{}", list());
        return ExitCode::SUCCESS;
    }
    let usage = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(USAGE)
    };
    let scenarios = match select(&args.scenarios, args.transport) {
        Ok(scenarios) => scenarios,
        Err(message) => return usage(message),
    };
    let baseline = match args.grading.baseline() {
        Ok(baseline) => baseline,
        Err(message) => return usage(message),
    };
    if let Err(error) = std::fs::create_dir_all(&args.grading.results) {
        return usage(format!(
            "--results {}: {error}",
            args.grading.results.display()
        ));
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => return usage(format!("cannot find this program's path: {error}")),
    };
    let runner = Runner {
        client: args.client.clone().unwrap_or_default(),
        transport: args.transport,
        timeout: Duration::from_secs(args.timeout),
        exe,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let results = runtime.block_on(run_all(&runner, &scenarios, &args));
    runtime.shutdown_background();
    let results = match results {
        Ok(results) => results,
        Err(message) => return usage(message),
    };
    let graded: Vec<(&str, &[Check])> = results
        .iter()
        .map(|(name, checks)| (*name, checks.as_slice()))
        .collect();
    let outcome = verdict::evaluate(graded.iter().copied(), &baseline);
    print!(
        "{}",
        verdict::render_table(graded.iter().copied(), &outcome)
    );
    println!("results: {}", args.grading.results.display());
    ExitCode::from(outcome.exit_code)
}

/// The scenarios named, or every one the transport can run.
fn select(names: &[String], transport: Transport) -> Result<Vec<&'static BatteryScenario>, String> {
    let runs = |s: &BatteryScenario| transport == Transport::Http || !s.http_only;
    if names.is_empty() {
        return Ok(BATTERY.iter().filter(|s| runs(s)).collect());
    }
    names
        .iter()
        .map(|name| {
            let scenario = battery::named(name)
                .ok_or_else(|| format!("unknown scenario {name:?}; `check --list` shows them"))?;
            if !runs(scenario) {
                return Err(format!("scenario {name} needs --transport http"));
            }
            Ok(scenario)
        })
        .collect()
}

/// Every scenario run side by side (`--jobs` at once), its results written;
/// the checks in the order given.
async fn run_all<'a>(
    runner: &Runner,
    scenarios: &[&'a BatteryScenario],
    args: &CheckArgs,
) -> Result<Vec<(&'a str, Vec<Check>)>, String> {
    let runs = futures::stream::iter(scenarios.iter().copied())
        .map(|scenario| async move {
            let scratch = scratch_dir(scenario.name)?;
            let ran = runner.run(scenario, &scratch).await;
            let _ = std::fs::remove_dir_all(&scratch);
            let ran = ran?;
            let folder = verdict::write_results(
                &args.grading.results,
                scenario.name,
                &ran.checks,
                &ran.stdout,
                &ran.stderr,
            )
            .map_err(|e| format!("--results {}: {e}", args.grading.results.display()))?;
            let mut report = serde_json::to_vec_pretty(&ran.report).unwrap_or_default();
            report.push(b'\n');
            std::fs::write(folder.join("report.json"), report)
                .map_err(|e| format!("--results {}: {e}", args.grading.results.display()))?;
            Ok::<_, String>((scenario.name, ran.checks))
        })
        .buffered(args.jobs.get());
    runs.collect::<Vec<_>>().await.into_iter().collect()
}

/// A fresh folder for one scenario's socket and report: short, since a Unix
/// socket's path is at most 107 bytes.
fn scratch_dir(name: &str) -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    for attempt in 0..100 {
        let dir = base.join(format!("dms-check-{}-{attempt}-{name}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(format!(
                    "cannot make a scratch folder in {}: {e}",
                    base.display()
                ));
            }
        }
    }
    Err(format!(
        "cannot make a scratch folder in {}",
        base.display()
    ))
}

/// `check --list`: each scenario, what it does, and where it comes from.
pub fn list() -> String {
    let width = BATTERY.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut text = String::new();
    for s in BATTERY {
        let only = if s.http_only { " [http only]" } else { "" };
        text.push_str(&format!("{:width$}  {}{only}\n", s.name, s.description));
        text.push_str(&format!("{:width$}  from: {}\n", "", s.cited()));
    }
    text
}
