//! The command line: clap arguments, the toolcount file, and turning both into
//! server [`Options`] or a [`StartupError`].

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, Parser, Subcommand, ValueEnum};

use crate::catalog::CatalogSize;
use crate::control::ControlOptions;
use crate::error::StartupError;
use crate::fleet::{Fleet, FleetError};
use crate::hostile::Hostile;
use crate::http::{self, HttpOptions};
use crate::input_file::{InputFileError, read_regular_file};
use crate::notice::Coalesce;
use crate::pagination::CursorStyle;
use crate::scenario::{Scenario, Setting};
use crate::server::Options;

/// The most tools a server may start with; far past any test's needs, and low
/// enough that a typo cannot exhaust memory.
pub const MAX_INITIAL_TOOLS: usize = 1_000_000;

/// An MCP server whose tool list grows by one tool on every SIGHUP.
///
/// It speaks MCP over stdin and stdout (or, with --http, over Streamable HTTP
/// to any number of clients), writes its PID to the pidfile, and on each
/// SIGHUP adds the next tool (echo4, echo5, ...) and sends
/// notifications/tools/list_changed to every client. Logs go to stderr.
///
/// More changes on demand: SIGUSR1 removes the newest tool, SIGUSR2 changes it
/// under the same name; --control serves a JSON API for every kind of change
/// to tools, prompts (--prompts) and resources (--resources).
#[derive(Debug, Parser)]
#[command(name = "dynamic-mcp-server", version)]
// The server's flags are its own: a command brings its own arguments.
#[command(args_conflicts_with_subcommands = true)]
#[command(group(ArgGroup::new("listener").args(["http", "control"]).multiple(true)))]
#[command(group(ArgGroup::new("paging").multiple(true).args([
    "page_size", "page_size_tools", "page_size_prompts", "page_size_resources",
])))]
pub struct Cli {
    /// A command instead of the server (none: serve, as the flags say).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Where to write the PID (atomically); removed on exit [default:
    /// dynamic_server.pid; with --upstream NAME, dynamic_server.NAME.pid].
    #[arg(long, value_name = "PATH")]
    pub pidfile: Option<PathBuf>,

    /// A file holding the initial number of tools [default: 1 tool].
    #[arg(long, value_name = "PATH", conflicts_with = "tools")]
    pub toolcount_file: Option<PathBuf>,

    /// The initial number of tools [default: 1].
    #[arg(long, value_name = "N")]
    pub tools: Option<String>,

    /// Offer prompts, starting with N (prompt1 ...) [default: no prompts
    /// capability at all].
    #[arg(long, value_name = "N", value_parser = parse_item_count)]
    pub prompts: Option<usize>,

    /// Offer resources, starting with N (dynamic://resources/1 ...)
    /// [default: no resources capability at all].
    #[arg(long, value_name = "N", value_parser = parse_item_count)]
    pub resources: Option<usize>,

    /// Serve the control endpoint (POST /changes, GET /state, GET /report,
    /// GET /metrics) at http://ADDR. ADDR as for --http; port 0 picks a free
    /// one (see --ready-file).
    #[arg(long, value_name = "ADDR", value_parser = http::parse_addr)]
    pub control: Option<SocketAddr>,

    /// Record what each client did about each change and write the client
    /// report (JSON) to PATH at exit, atomically. With --control it is also
    /// served live as GET /report; --control alone records it too.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,

    /// List the MCP conformance suite's fixture tools (test_trigger_tool_change
    /// and others) after the catalog's tools; off, the tool list is exact.
    #[arg(long)]
    pub trigger_tools: bool,

    /// Write the PID and the MCP and control URLs as one JSON object to PATH
    /// (atomically, before the pidfile); removed on exit.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,

    /// Log verbosity on stderr; without it, RUST_LOG applies, else info.
    #[arg(long, value_name = "LEVEL", value_enum)]
    pub log_level: Option<LogLevel>,

    /// Serve MCP over Streamable HTTP at http://ADDR/mcp instead of stdio.
    /// ADDR is IP:PORT, localhost:PORT, or a port (on 127.0.0.1); port 0 picks
    /// a free one, which the log names.
    #[arg(long, value_name = "ADDR", value_parser = http::parse_addr)]
    pub http: Option<SocketAddr>,

    /// With --http or --control: also accept this Host header (host or
    /// host:port; repeatable).
    #[arg(long, value_name = "HOST", requires = "listener")]
    pub allow_host: Vec<String>,

    /// With --http or --control: also accept this Origin (scheme://host:port;
    /// repeatable). It matches exactly: without a port, http and https mean
    /// their default port (80, 443), as browsers send them; scheme://host:*
    /// allows any port.
    #[arg(long, value_name = "ORIGIN", requires = "listener")]
    pub allow_origin: Vec<String>,

    /// Run the steps of this scenario file (TOML or JSON, by extension):
    /// changes and hostile notifications at protocol points or times. The
    /// file is checked before anything is served; see docs/scenarios.md.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,

    /// Serve a fleet: N virtual upstreams (u1 ... uN, built to collide as
    /// real fleets do) or those a fleet file (TOML) names, each its own
    /// server with its own catalog, sessions and report, at
    /// http://ADDR/mcp/{name} with --http (nothing at /mcp), or one of them
    /// over stdio with --upstream. The file is checked before anything is
    /// served; see docs/fleet.md.
    #[arg(long, value_name = "N|FILE")]
    pub fleet: Option<String>,

    /// With --fleet and without --http: serve this upstream of the fleet
    /// over stdin and stdout (one process per upstream, as a gateway's
    /// config lists them).
    #[arg(long, value_name = "NAME", requires = "fleet", conflicts_with = "http")]
    pub upstream: Option<String>,

    /// With --fleet and --http: the change signals (SIGHUP, SIGUSR1,
    /// SIGUSR2) change only this upstream [default: every upstream].
    #[arg(
        long,
        value_name = "NAME",
        requires = "fleet",
        conflicts_with = "upstream"
    )]
    pub signals_to: Option<String>,

    /// With --http: close a session after this many seconds with no request
    /// or stream open [default: 60].
    #[arg(long, value_name = "SECONDS", requires = "http", value_parser = parse_seconds)]
    pub session_timeout: Option<Duration>,

    /// With --http: the time a client has to send a request's head, and then
    /// its body; a stalled request is cut off [default: 30].
    #[arg(long, value_name = "SECONDS", requires = "http", value_parser = parse_seconds)]
    pub request_timeout: Option<Duration>,

    /// Page every list (tools, prompts, resources) by N items. Cursors carry
    /// the list's version: one from before a change gets -32602 [default:
    /// every list on one page].
    #[arg(long, value_name = "N", help_heading = HOSTILE)]
    pub page_size: Option<NonZeroUsize>,

    /// Page tools/list by N items (over --page-size).
    #[arg(long, value_name = "N", help_heading = HOSTILE)]
    pub page_size_tools: Option<NonZeroUsize>,

    /// Page prompts/list by N items (over --page-size).
    #[arg(long, value_name = "N", help_heading = HOSTILE)]
    pub page_size_prompts: Option<NonZeroUsize>,

    /// Page resources/list by N items (over --page-size).
    #[arg(long, value_name = "N", help_heading = HOSTILE)]
    pub page_size_resources: Option<NonZeroUsize>,

    /// The paged lists' cursors: empty-once makes the first page's nextCursor
    /// "" (which continues at page 2); repeat-once answers each cursor the
    /// first time with itself as nextCursor [default: normal].
    #[arg(long, value_name = "STYLE", value_enum, requires = "paging", help_heading = HOSTILE)]
    pub cursor_style: Option<CursorStyle>,

    /// Delay every */list answer by MS milliseconds.
    #[arg(long, value_name = "MS", help_heading = HOSTILE)]
    pub list_delay_ms: Option<u64>,

    /// Delay every tools/call, prompts/get and resources/read answer by MS
    /// milliseconds.
    #[arg(long, value_name = "MS", help_heading = HOSTILE)]
    pub call_delay_ms: Option<u64>,

    /// off: every change is its own list_changed, in order, with no folding
    /// (the storm a burst would be); a client that stops reading is owed at
    /// most 10,000 per list, the rest fold [default: on: changes during a
    /// write fold into one more].
    #[arg(long, value_name = "ON|OFF", value_enum, help_heading = HOSTILE)]
    pub coalesce: Option<Coalesce>,

    /// Write every notification twice (a client must tolerate repeats).
    #[arg(long, help_heading = HOSTILE)]
    pub duplicate_notifications: bool,

    /// Give every list answer the caching hint ttlMs = MS, whatever the
    /// revision (a client must still re-list on list_changed).
    #[arg(long, value_name = "MS", help_heading = HOSTILE)]
    pub list_ttl_ms: Option<u64>,
}

/// The commands beside the server. Each brings its own arguments from its
/// feature's folder; `process::main` runs it.
#[derive(Debug, Subcommand)]
pub enum Command {
    Check(crate::check::CheckArgs),
    Probe(crate::probe::ProbeArgs),
    /// The server command a stdio client of `check` spawns: it relays its
    /// stdin and stdout to the server `check` runs on SOCKET.
    #[command(name = "check-relay", hide = true)]
    CheckRelay {
        socket: PathBuf,
    },
}

/// The help heading of the hostile flags, all off by default.
const HOSTILE: &str = "Hostile but legal behaviour (each named in the first log line)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl Cli {
    /// The server options these arguments ask for, reading the toolcount file.
    pub fn options(&self) -> Result<Options, StartupError> {
        let tools = match (&self.toolcount_file, &self.tools) {
            (Some(path), _) => read_toolcount_file(path)?,
            (None, Some(text)) => {
                parse_toolcount(text).map_err(|reason| StartupError::ToolsInvalid { reason })?
            }
            (None, None) => 1,
        };
        let mut options = Options::new(tools).handle_signals(true);
        options.prompts = self.prompts;
        options.resources = self.resources;
        options.ready_file = self.ready_file.clone();
        options.trigger_tools = self.trigger_tools;
        options.hostile = self.hostile();
        options.report = self.report.clone();
        if let Some(given) = &self.fleet {
            self.fleet_options(given, &mut options)?;
        }
        let pidfile = match (&self.pidfile, &self.upstream) {
            (Some(path), _) => path.clone(),
            (None, Some(name)) => PathBuf::from(format!("dynamic_server.{name}.pid")),
            (None, None) => PathBuf::from("dynamic_server.pid"),
        };
        options = options.pidfile(pidfile);
        if let Some(path) = &self.scenario {
            let setting = Setting {
                http: self.http.is_some(),
                size: options.size(),
                hostile: options.hostile,
            };
            let fleet = options.fleet.as_deref();
            let scenario =
                Scenario::load_in(path, &setting, fleet).map_err(|e| StartupError::Scenario {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            // The file's [hostile] keys over the flags'.
            options.hostile = scenario.hostile;
            options.scenario = Some(Arc::new(scenario));
        }
        options.control = self.control.map(|addr| ControlOptions {
            addr,
            allowed_hosts: self.allow_host.clone(),
            allowed_origins: self.allow_origin.clone(),
        });
        Ok(options)
    }

    /// Read `--fleet` into `options`: a fleet served over HTTP, or with
    /// `--upstream` the one upstream this process is.
    fn fleet_options(&self, given: &str, options: &mut Options) -> Result<(), StartupError> {
        let refused = |reason: String| StartupError::Fleet {
            given: given.to_owned(),
            reason,
        };
        let fleet = match given.trim().parse::<usize>() {
            // A count: the default fleet, its lists as the flags say, or
            // one prompt and one resource each, to collide.
            Ok(n) => {
                let size = CatalogSize {
                    tools: options.tools,
                    prompts: Some(self.prompts.unwrap_or(1)),
                    resources: Some(self.resources.unwrap_or(1)),
                };
                Fleet::numbered(n, size, options.hostile)
            }
            Err(_) if self.counts_given() => Err(FleetError::new(
                "the file gives each upstream's counts: leave out --tools, --toolcount-file, --prompts and --resources",
            )),
            Err(_) => Fleet::load(Path::new(given), options.hostile),
        }
        .map_err(|e| refused(e.to_string()))?;
        match (&self.upstream, self.http.is_some()) {
            (Some(name), _) => {
                let upstream = fleet.get(name).ok_or_else(|| StartupError::NoUpstream {
                    flag: "--upstream",
                    name: name.clone(),
                    reason: format!("no such upstream in the fleet (one of {})", fleet.names()),
                })?;
                options.tools = upstream.size.tools;
                options.prompts = upstream.size.prompts;
                options.resources = upstream.size.resources;
                options.hostile = upstream.hostile;
                options.upstream = Some(Arc::clone(upstream));
            }
            (None, true) => {
                if let Some(name) = &self.signals_to
                    && fleet.get(name).is_none()
                {
                    return Err(StartupError::NoUpstream {
                        flag: "--signals-to",
                        name: name.clone(),
                        reason: format!("no such upstream in the fleet (one of {})", fleet.names()),
                    });
                }
                if self.report.is_some() {
                    return Err(refused(
                        "--report: a fleet's reports are served by GET /report (--control)".into(),
                    ));
                }
                options.fleet = Some(Arc::new(fleet));
                options.signals_to = self.signals_to.clone();
            }
            (None, false) => {
                return Err(refused(
                    "needs --http (every upstream in this process) or --upstream NAME (one over stdio)"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// Whether the command line sets a list's initial count.
    fn counts_given(&self) -> bool {
        self.tools.is_some()
            || self.toolcount_file.is_some()
            || self.prompts.is_some()
            || self.resources.is_some()
    }

    /// The hostile behaviour these arguments ask for.
    pub fn hostile(&self) -> Hostile {
        Hostile {
            page_size: self.page_size,
            page_size_tools: self.page_size_tools,
            page_size_prompts: self.page_size_prompts,
            page_size_resources: self.page_size_resources,
            cursor_style: self.cursor_style.unwrap_or_default(),
            list_delay_ms: self.list_delay_ms.unwrap_or(0),
            call_delay_ms: self.call_delay_ms.unwrap_or(0),
            coalesce: self.coalesce.unwrap_or_default(),
            duplicate_notifications: self.duplicate_notifications,
            list_ttl_ms: self.list_ttl_ms,
        }
    }

    /// The HTTP transport these arguments ask for, if any.
    pub fn http_options(&self) -> Option<HttpOptions> {
        let mut options = HttpOptions::new(self.http?);
        options.allowed_hosts = self.allow_host.clone();
        options.allowed_origins = self.allow_origin.clone();
        if let Some(timeout) = self.session_timeout {
            options.session_timeout = timeout;
        }
        if let Some(timeout) = self.request_timeout {
            options.request_timeout = timeout;
        }
        Some(options)
    }
}

/// A number of prompts or resources: 0 offers the capability with an empty
/// list, which changes can fill.
fn parse_item_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(count) if count <= MAX_INITIAL_TOOLS => Ok(count),
        _ => Err(format!(
            "expected a whole number from 0 to {MAX_INITIAL_TOOLS}, found {text:?}"
        )),
    }
}

/// A positive number of seconds, fractions allowed.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds.is_finite() => {
            Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text} seconds is too long"))
        }
        _ => Err(format!(
            "expected a positive number of seconds, found {text:?}"
        )),
    }
}

/// The most bytes of a toolcount file that are read: a valid count has at
/// most 7 digits, and some whitespace around it is fine.
const MAX_TOOLCOUNT_FILE: u64 = 64;

/// Read the toolcount file: only a regular file (a FIFO would hang start-up,
/// `/dev/zero` would fill memory), and only its first bytes.
fn read_toolcount_file(path: &Path) -> Result<usize, StartupError> {
    let bytes = read_regular_file(path, MAX_TOOLCOUNT_FILE).map_err(|e| match e {
        InputFileError::Unreadable(source) => StartupError::ToolcountUnreadable {
            path: path.to_owned(),
            source,
        },
        InputFileError::TooLong(max) => StartupError::ToolcountInvalid {
            path: path.to_owned(),
            reason: format!("longer than {max} bytes; expected a tool count"),
        },
    })?;
    let text = String::from_utf8_lossy(&bytes);
    parse_toolcount(&text).map_err(|reason| StartupError::ToolcountInvalid {
        path: path.to_owned(),
        reason,
    })
}

/// A tool count: a decimal integer from 1 to [`MAX_INITIAL_TOOLS`], with
/// surrounding whitespace (a trailing newline) allowed.
pub fn parse_toolcount(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("expected a tool count (a whole number), found nothing".into());
    }
    let range = || format!("the tool count must be from 1 to {MAX_INITIAL_TOOLS}");
    if !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            if trimmed
                .strip_prefix('-')
                .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
            {
                format!("{}, not {trimmed}", range())
            } else {
                format!("expected a tool count (a whole number), found {trimmed:?}")
            },
        );
    }
    match trimmed.parse::<usize>() {
        Ok(count) if (1..=MAX_INITIAL_TOOLS).contains(&count) => Ok(count),
        _ => Err(format!("{}, not {trimmed}", range())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolcounts() {
        assert_eq!(parse_toolcount("3"), Ok(3));
        assert_eq!(parse_toolcount("  42\n"), Ok(42));
        assert_eq!(parse_toolcount("1000000\r\n"), Ok(1_000_000));
        for bad in [
            "",
            " \n",
            "abc",
            "0",
            "-1",
            "1.5",
            "+3",
            "3 4",
            "1000001",
            "99999999999999999999999",
        ] {
            assert!(parse_toolcount(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_toolcount("abc"),
            Err("expected a tool count (a whole number), found \"abc\"".into())
        );
        assert_eq!(
            parse_toolcount("0"),
            Err("the tool count must be from 1 to 1000000, not 0".into())
        );
    }

    #[test]
    fn tools_conflicts_with_toolcount_file() {
        let parsed = Cli::try_parse_from(["x", "--tools", "3", "--toolcount-file", "f"]);
        assert!(parsed.is_err());
        let cli = Cli::try_parse_from(["x", "--tools", "3"]).unwrap();
        let options = cli.options().unwrap();
        assert_eq!(options.tools, 3);
        assert_eq!(
            options.pidfile.as_deref(),
            Some(Path::new("dynamic_server.pid"))
        );
        assert!(options.handle_signals);
        assert!(cli.http_options().is_none());
        assert_eq!((options.prompts, options.resources), (None, None));
        assert!(options.control.is_none());
        assert_eq!(options.hostile, Hostile::default());
    }

    #[test]
    fn notification_flags() {
        let cli =
            Cli::try_parse_from(["x", "--coalesce", "off", "--duplicate-notifications"]).unwrap();
        let hostile = cli.options().unwrap().hostile;
        assert_eq!(hostile.coalesce, Coalesce::Off);
        assert!(hostile.duplicate_notifications);
        assert_eq!(
            hostile.describe().as_deref(),
            Some("coalesce=off duplicate-notifications")
        );
        let on = Cli::try_parse_from(["x", "--coalesce", "on"]).unwrap();
        assert_eq!(on.options().unwrap().hostile, Hostile::default());
        assert!(Cli::try_parse_from(["x", "--coalesce", "sometimes"]).is_err());
    }

    #[test]
    fn hostile_flags() {
        let cli = Cli::try_parse_from([
            "x",
            "--page-size",
            "2",
            "--page-size-prompts",
            "3",
            "--cursor-style",
            "repeat-once",
            "--list-delay-ms",
            "50",
        ])
        .unwrap();
        let hostile = cli.options().unwrap().hostile;
        assert_eq!(
            hostile.describe().unwrap(),
            "page-size=2 page-size-prompts=3 cursor-style=repeat-once list-delay-ms=50"
        );
        // A cursor style pages nothing by itself; a page has at least one item.
        assert!(Cli::try_parse_from(["x", "--cursor-style", "empty-once"]).is_err());
        assert!(
            Cli::try_parse_from([
                "x",
                "--page-size-tools",
                "1",
                "--cursor-style",
                "empty-once"
            ])
            .is_ok()
        );
        assert!(Cli::try_parse_from(["x", "--page-size", "0"]).is_err());
        assert!(
            Cli::try_parse_from(["x", "--page-size", "2", "--cursor-style", "sideways"]).is_err()
        );
        assert!(Cli::try_parse_from(["x", "--list-delay-ms", "-1"]).is_err());
    }

    #[test]
    fn http_flags() {
        let cli = Cli::try_parse_from([
            "x",
            "--http",
            "0",
            "--allow-host",
            "mcp.example",
            "--session-timeout",
            "0.5",
        ])
        .unwrap();
        let http = cli.http_options().unwrap();
        assert_eq!(http.addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!(http.allowed_hosts, ["mcp.example"]);
        assert_eq!(http.session_timeout, Duration::from_millis(500));
        // The listener flags make no sense without --http or --control.
        assert!(Cli::try_parse_from(["x", "--allow-host", "h"]).is_err());
        assert!(Cli::try_parse_from(["x", "--control", "0", "--allow-host", "h"]).is_ok());
        assert!(Cli::try_parse_from(["x", "--http", "nowhere"]).is_err());
        assert!(Cli::try_parse_from(["x", "--http", "0", "--session-timeout", "0"]).is_err());
    }
}
