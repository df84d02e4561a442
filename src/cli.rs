//! The command line: clap arguments, the toolcount file, and turning both into
//! server [`Options`] or a [`StartupError`].

use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};

use crate::error::StartupError;
use crate::server::Options;

/// The most tools a server may start with; far past any test's needs, and low
/// enough that a typo cannot exhaust memory.
pub const MAX_INITIAL_TOOLS: usize = 1_000_000;

/// An MCP server whose tool list grows by one tool on every SIGHUP.
///
/// It speaks MCP over stdin and stdout, writes its PID to the pidfile, and on
/// each SIGHUP adds the next tool (echo4, echo5, ...) and sends
/// notifications/tools/list_changed. Logs go to stderr.
#[derive(Debug, Parser)]
#[command(name = "dynamic-mcp-server", version)]
pub struct Cli {
    /// Where to write the PID (atomically); removed on exit.
    #[arg(long, value_name = "PATH", default_value = "dynamic_server.pid")]
    pub pidfile: PathBuf,

    /// A file holding the initial number of tools [default: 1 tool].
    #[arg(long, value_name = "PATH", conflicts_with = "tools")]
    pub toolcount_file: Option<PathBuf>,

    /// The initial number of tools [default: 1].
    #[arg(long, value_name = "N")]
    pub tools: Option<String>,

    /// Log verbosity on stderr; without it, RUST_LOG applies, else info.
    #[arg(long, value_name = "LEVEL", value_enum)]
    pub log_level: Option<LogLevel>,
}

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
        Ok(Options::new(tools)
            .pidfile(&self.pidfile)
            .handle_signals(true))
    }
}

fn read_toolcount_file(path: &Path) -> Result<usize, StartupError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| StartupError::ToolcountUnreadable {
            path: path.to_owned(),
            source,
        })?;
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
    }
}
