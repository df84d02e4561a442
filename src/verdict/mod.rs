//! The verdict: checks in the official MCP conformance suite's own format, and
//! its baseline rules, so that `check` (and `probe`) results read exactly as
//! the suite's do and an SDK's existing conformance tooling takes them as
//! they are.
//!
//! Pure: no actor, no socket. The format is the suite's (npm
//! `@modelcontextprotocol/conformance` 0.2.0-alpha.12, pinned in
//! `tests/conformance/package.json`):
//!
//! - a [`Check`]: `id`, `name`, `description`, `status` ([`Status`]),
//!   `timestamp` (ISO 8601, UTC), `specReferences` ([`SpecReference`]),
//!   `details`, and optionally `errorMessage` and `logs`;
//! - a scenario's results: `DIR/<scenario>/checks.json` (an array of checks)
//!   with the client's `stdout.txt` and `stderr.txt` ([`write_results`]);
//! - a baseline (`--expected-failures FILE`, YAML, [`Baseline`]) and the
//!   suite's rule for it ([`evaluate`]): exit 1 on an unexpected failure or
//!   a stale entry, else 0;
//! - the verdict table a person reads ([`render_table`]).

mod baseline;
mod results;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use self::baseline::{Baseline, BaselineError, Entry, Outcome, ScenarioVerdict, evaluate};
pub use self::results::{render_table, write_results};

/// The two flags every grading command (`check`, `probe`) takes: where its
/// results go and which failures it expects.
#[derive(Debug, Clone, clap::Args)]
pub struct Grading {
    /// The results folder: `DIR/<scenario>/` per scenario.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "results",
        help = "Write each scenario's checks.json, stdout.txt and stderr.txt (and check's client report, report.json) to DIR/<scenario>/"
    )]
    pub results: std::path::PathBuf,

    /// The conformance suite's YAML baseline of known failures (its
    /// `client` key): `scenario` or `scenario:check-id` entries.
    #[arg(long, value_name = "FILE")]
    pub expected_failures: Option<std::path::PathBuf>,
}

impl Grading {
    /// The baseline (none: empty), read before anything runs, so that a bad
    /// one is a usage error; the message names the flag.
    pub fn baseline(&self) -> Result<Baseline, String> {
        match &self.expected_failures {
            Some(path) => Baseline::load(path)
                .map_err(|error| format!("--expected-failures {}: {error}", path.display())),
            None => Ok(Baseline::default()),
        }
    }
}

/// A check's status, as the suite spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Success,
    Failure,
    Warning,
    Skipped,
    Info,
}

impl Status {
    /// Whether the suite counts it as a failure of its scenario: FAILURE and
    /// WARNING both do (its baseline rule, `ol` in its dist).
    pub fn fails(self) -> bool {
        matches!(self, Status::Failure | Status::Warning)
    }

    /// How bad it is, as the suite ranks a check id seen more than once
    /// (`Xo` in its dist): the worst one stands for the id.
    fn rank(self) -> u8 {
        match self {
            Status::Failure => 3,
            Status::Warning => 2,
            Status::Success => 1,
            Status::Skipped | Status::Info => 0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::Failure => "FAILURE",
            Status::Warning => "WARNING",
            Status::Skipped => "SKIPPED",
            Status::Info => "INFO",
        }
    }
}

/// The rule a check rests on: a name and the page that states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecReference {
    pub id: String,
    pub url: String,
}

impl SpecReference {
    pub fn new(id: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            url: url.into(),
        }
    }
}

/// One check, as the suite writes it in `checks.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: Status,
    /// When it was decided: ISO 8601 in UTC, as JavaScript's
    /// `Date.toISOString` writes it.
    pub timestamp: String,
    pub spec_references: Vec<SpecReference>,
    /// The evidence, as JSON: times, versions, the request that showed it.
    pub details: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Vec<String>>,
}

impl Check {
    /// A check decided now, with no spec reference or details yet.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        description: impl Into<String>,
        status: Status,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            status,
            timestamp: iso8601(SystemTime::now()),
            spec_references: Vec::new(),
            details: Map::new(),
            error_message: None,
            logs: None,
        }
    }

    pub fn spec(mut self, reference: SpecReference) -> Self {
        self.spec_references.push(reference);
        self
    }

    /// Its evidence: `details` must be a JSON object; anything else is kept
    /// under the key `value`.
    pub fn details(mut self, details: Value) -> Self {
        self.details = match details {
            Value::Object(map) => map,
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        self
    }

    /// Why it failed, in one line: what the table shows as its evidence.
    pub fn error(mut self, message: impl Into<String>) -> Self {
        self.error_message = Some(message.into());
        self
    }

    pub fn logs(mut self, logs: Vec<String>) -> Self {
        self.logs = Some(logs);
        self
    }
}

/// `time` as `2026-12-06T16:45:03.123Z`: what JavaScript's
/// `Date.toISOString` writes, and what the suite's checks carry. A time
/// before 1970 (a clock set wrong) is written as the epoch.
pub fn iso8601(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`), for days from the epoch on.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[test]
    fn timestamps_read_as_javascript_writes_them() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let at = UNIX_EPOCH + Duration::from_millis(1_780_000_000_123);
        // new Date(1780000000123).toISOString()
        assert_eq!(iso8601(at), "2026-05-28T20:26:40.123Z");
        // A leap day and the turn of a century that is a leap year.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso8601(leap), "2000-02-29T00:00:00.000Z");
        let end = UNIX_EPOCH + Duration::from_secs(4_102_444_799);
        assert_eq!(iso8601(end), "2099-12-31T23:59:59.000Z");
    }

    #[test]
    fn a_check_serializes_with_the_suites_field_names() {
        let check = Check::new(
            "tools-relisted",
            "ToolsRelisted",
            "re-lists",
            Status::Failure,
        )
        .spec(SpecReference::new("MCP-Tools", "https://example/tools"))
        .details(json!({ "at_ms": 5 }))
        .error("never re-listed");
        let value = serde_json::to_value(&check).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "description",
                "details",
                "errorMessage",
                "id",
                "name",
                "specReferences",
                "status",
                "timestamp"
            ]
        );
        assert_eq!(value["status"], "FAILURE");
        assert_eq!(value["specReferences"][0]["url"], "https://example/tools");
        // No logs, no key: the suite's optional fields are absent, not null.
        assert!(value.get("logs").is_none());
        let back: Check = serde_json::from_value(value).unwrap();
        assert_eq!(back, check);
        // Details that are no object are kept, under `value`.
        let odd = Check::new("x", "X", "x", Status::Info).details(json!(3));
        assert_eq!(Value::Object(odd.details), json!({ "value": 3 }));
    }

    #[test]
    fn statuses_fail_as_the_suite_counts_them() {
        let failing: Vec<Status> = [
            Status::Success,
            Status::Failure,
            Status::Warning,
            Status::Skipped,
            Status::Info,
        ]
        .into_iter()
        .filter(|s| s.fails())
        .collect();
        assert_eq!(failing, [Status::Failure, Status::Warning]);
        assert_eq!(serde_json::to_value(Status::Skipped).unwrap(), "SKIPPED");
        assert_eq!(Status::Warning.as_str(), "WARNING");
    }
}
