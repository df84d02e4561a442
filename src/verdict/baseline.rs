//! The expected-failures baseline and the suite's rule for it.
//!
//! A baseline is the suite's YAML file: `{ client: [...], server: [...] }`,
//! each entry `scenario` (the whole scenario is expected to fail) or
//! `scenario:check-id` (that check is). `check` and `probe` grade clients,
//! so they read the `client` key; the `server` key is checked for shape and
//! otherwise left alone, so one file serves both tools. The refusals say
//! what the suite's say (its `il` and `al`), and [`evaluate`] is its `ol`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use super::{Check, Status};

/// The largest baseline read: a list of names, never data.
const MAX_BASELINE_BYTES: u64 = 1024 * 1024;

/// One baseline entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub scenario: String,
    /// `None`: the whole scenario is expected to fail.
    pub check: Option<String>,
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.check {
            Some(check) => write!(f, "{}:{check}", self.scenario),
            None => f.write_str(&self.scenario),
        }
    }
}

/// The failures a client is known to have (its `client` entries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    /// Scenarios expected to fail as a whole.
    scenarios: BTreeSet<String>,
    /// Checks expected to fail, per scenario.
    checks: BTreeMap<String, BTreeSet<String>>,
}

/// Why a baseline file was refused: one line, in the suite's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid expected-failures file: {0}")]
pub struct BaselineError(String);

impl Baseline {
    /// The `client` entries of the baseline file at `path`.
    pub fn load(path: &Path) -> Result<Self, BaselineError> {
        let bytes =
            crate::input_file::read_regular_file(path, MAX_BASELINE_BYTES).map_err(|e| {
                BaselineError(match e {
                    crate::input_file::InputFileError::Unreadable(e) => {
                        format!("cannot read {}: {e}", path.display())
                    }
                    crate::input_file::InputFileError::TooLong(max) => {
                        format!("{} is longer than {max} bytes", path.display())
                    }
                })
            })?;
        let text = String::from_utf8(bytes)
            .map_err(|e| BaselineError(format!("{} is not UTF-8 text ({e})", path.display())))?;
        Self::parse(&text)
    }

    /// The `client` entries of a baseline written in YAML.
    pub fn parse(text: &str) -> Result<Self, BaselineError> {
        let mut documents = YamlLoader::load_from_str(text)
            .map_err(|e| BaselineError(format!("not valid YAML: {e}")))?;
        if documents.len() > 1 {
            return Err(BaselineError(
                "expected one YAML document, found several".into(),
            ));
        }
        let document = documents.pop().unwrap_or(Yaml::Null);
        let keys = match document {
            Yaml::Null => return Ok(Self::default()),
            Yaml::Hash(keys) => keys,
            _ => {
                return Err(BaselineError(
                    "expected an object with 'server' and/or 'client' keys".into(),
                ));
            }
        };
        let mut baseline = Self::default();
        for role in ["server", "client"] {
            let Some(list) = keys.get(&Yaml::String(role.into())) else {
                continue;
            };
            let Yaml::Array(list) = list else {
                return Err(BaselineError(format!(
                    "'{role}' must be an array of scenario names"
                )));
            };
            let entries = entries(list, role)?;
            if role == "client" {
                for entry in entries {
                    match entry.check {
                        Some(check) => {
                            baseline
                                .checks
                                .entry(entry.scenario)
                                .or_default()
                                .insert(check);
                        }
                        None => {
                            baseline.scenarios.insert(entry.scenario);
                        }
                    }
                }
            }
        }
        Ok(baseline)
    }

    /// Every entry, scenarios first, in name order.
    pub fn entries(&self) -> Vec<Entry> {
        let whole = self.scenarios.iter().map(|scenario| Entry {
            scenario: scenario.clone(),
            check: None,
        });
        let checks = self.checks.iter().flat_map(|(scenario, checks)| {
            checks.iter().map(|check| Entry {
                scenario: scenario.clone(),
                check: Some(check.clone()),
            })
        });
        whole.chain(checks).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.scenarios.is_empty() && self.checks.is_empty()
    }
}

/// A role's entries, refused as the suite refuses them.
fn entries(list: &[Yaml], role: &str) -> Result<Vec<Entry>, BaselineError> {
    let refuse = |entry: &Yaml, why: &str| {
        BaselineError(format!(
            "'{role}' entry {} is not '<scenario>' or '<scenario>:<check-id>'. {why}",
            json(entry)
        ))
    };
    let entries = list
        .iter()
        .map(|entry| {
            let text = match entry {
                Yaml::Null | Yaml::BadValue => return Err(refuse(entry, "This one is empty.")),
                Yaml::String(text) | Yaml::Real(text) => text.clone(),
                Yaml::Integer(n) => n.to_string(),
                Yaml::Boolean(b) => b.to_string(),
                // `- scenario: check` (a space after the colon) is a map.
                Yaml::Hash(map) => {
                    let single = match (map.len(), map.front()) {
                        (1, Some((key, value))) => scalar(key).zip(scalar(value)),
                        _ => None,
                    };
                    return Err(refuse(
                        entry,
                        &match single {
                            Some((key, value)) if !value.is_empty() => format!(
                                "Did you write '- {key}: {value}'? Remove the space after the colon: '- {key}:{value}'"
                            ),
                            _ => "A per-check entry takes no space after the colon.".into(),
                        },
                    ));
                }
                Yaml::Array(_) | Yaml::Alias(_) => {
                    return Err(refuse(
                        entry,
                        "A per-check entry takes no space after the colon.",
                    ));
                }
            };
            match text.split_once(':') {
                None => Ok(Entry {
                    scenario: text,
                    check: None,
                }),
                Some((scenario, check)) if !scenario.is_empty() && !check.is_empty() => Ok(Entry {
                    scenario: scenario.to_owned(),
                    check: Some(check.to_owned()),
                }),
                Some(_) => Err(refuse(entry, "Both sides of the colon are required.")),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let whole: BTreeSet<&str> = entries
        .iter()
        .filter(|e| e.check.is_none())
        .map(|e| e.scenario.as_str())
        .collect();
    if let Some(redundant) = entries
        .iter()
        .find(|e| e.check.is_some() && whole.contains(e.scenario.as_str()))
    {
        return Err(BaselineError(format!(
            "'{}' expects the whole scenario to fail, so '{redundant}' is redundant. Remove one or the other.",
            redundant.scenario
        )));
    }
    Ok(entries)
}

/// A YAML scalar as text, as JavaScript's `String()` would give it.
fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(text) | Yaml::Real(text) => Some(text.clone()),
        Yaml::Integer(n) => Some(n.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An entry as `JSON.stringify` shows it in the suite's refusal.
fn json(value: &Yaml) -> String {
    fn convert(value: &Yaml) -> Value {
        match value {
            Yaml::String(text) => Value::from(text.as_str()),
            Yaml::Real(text) => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| Value::from(text.as_str()), Value::Number),
            Yaml::Integer(n) => Value::from(*n),
            Yaml::Boolean(b) => Value::from(*b),
            Yaml::Array(items) => items.iter().map(convert).collect(),
            Yaml::Hash(map) => map
                .iter()
                .map(|(k, v)| (scalar(k).unwrap_or_default(), convert(v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Value::Null,
        }
    }
    convert(value).to_string()
}

/// What a scenario's checks come to, beside the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioVerdict {
    /// No check failed, and the baseline expected none to.
    Pass,
    /// A check failed that the baseline does not expect.
    Fail,
    /// Every failure is one the baseline expects.
    ExpectedFail,
    /// The baseline expects a failure that did not happen: remove the entry.
    Stale,
}

impl ScenarioVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioVerdict::Pass => "PASS",
            ScenarioVerdict::Fail => "FAIL",
            ScenarioVerdict::ExpectedFail => "EXPECTED FAIL",
            ScenarioVerdict::Stale => "STALE",
        }
    }
}

/// The baseline rule's result (the suite's `ol`): exit 1 on an unexpected
/// failure or a stale entry, 0 otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub exit_code: u8,
    /// `scenario` or `scenario:check-id`, as the suite names them.
    pub unexpected_failures: Vec<String>,
    pub stale_entries: Vec<String>,
    pub expected_failures: Vec<String>,
    /// Each scenario's verdict, in the order given.
    pub scenarios: Vec<(String, ScenarioVerdict)>,
}

/// Grade each scenario's checks against the baseline, by the suite's rule: a
/// scenario fails if any check is FAILURE or WARNING; a whole-scenario
/// entry expects it to fail; a `scenario:check-id` entry expects that check
/// to fail (a check id given more than once stands for its worst status);
/// an entry whose scenario or check passed is stale. A scenario the run did
/// not include leaves its entries alone.
pub fn evaluate<'a>(
    results: impl IntoIterator<Item = (&'a str, &'a [Check])>,
    baseline: &Baseline,
) -> Outcome {
    let mut outcome = Outcome {
        exit_code: 0,
        unexpected_failures: Vec::new(),
        stale_entries: Vec::new(),
        expected_failures: Vec::new(),
        scenarios: Vec::new(),
    };
    for (scenario, checks) in results {
        let fails = checks.iter().any(|c| c.status.fails());
        let verdict = if baseline.scenarios.contains(scenario) {
            if fails {
                outcome.expected_failures.push(scenario.to_owned());
                ScenarioVerdict::ExpectedFail
            } else {
                outcome.stale_entries.push(scenario.to_owned());
                ScenarioVerdict::Stale
            }
        } else if let Some(expected) = baseline.checks.get(scenario) {
            let worst = worst_per_id(checks);
            let (mut unexpected, mut stale, mut known) = (false, false, false);
            for check in worst.iter().filter(|c| c.status.fails()) {
                let name = format!("{scenario}:{}", check.id);
                if expected.contains(&check.id) {
                    known = true;
                    outcome.expected_failures.push(name);
                } else {
                    unexpected = true;
                    outcome.unexpected_failures.push(name);
                }
            }
            for id in expected {
                let status = worst
                    .iter()
                    .find(|c| &c.id == id && c.status != Status::Info)
                    .map(|c| c.status);
                if status == Some(Status::Success) {
                    stale = true;
                    outcome.stale_entries.push(format!("{scenario}:{id}"));
                }
            }
            match (unexpected, stale, known) {
                (true, _, _) => ScenarioVerdict::Fail,
                (false, true, _) => ScenarioVerdict::Stale,
                (false, false, true) => ScenarioVerdict::ExpectedFail,
                (false, false, false) => ScenarioVerdict::Pass,
            }
        } else if fails {
            outcome.unexpected_failures.push(scenario.to_owned());
            ScenarioVerdict::Fail
        } else {
            ScenarioVerdict::Pass
        };
        outcome.scenarios.push((scenario.to_owned(), verdict));
    }
    outcome.exit_code =
        u8::from(!outcome.unexpected_failures.is_empty() || !outcome.stale_entries.is_empty());
    outcome
}

/// The checks with one per id, the worst (the suite's `Xo`): INFO checks are
/// all kept; of the others, the last of the worst status stands for its id.
fn worst_per_id(checks: &[Check]) -> Vec<&Check> {
    let mut standing: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, check) in checks.iter().enumerate() {
        if check.status == Status::Info {
            continue;
        }
        match standing.get(check.id.as_str()) {
            Some(&j) if check.status.rank() < checks[j].status.rank() => {}
            _ => {
                standing.insert(&check.id, i);
            }
        }
    }
    checks
        .iter()
        .enumerate()
        .filter(|(i, c)| c.status == Status::Info || standing.get(c.id.as_str()) == Some(i))
        .map(|(_, c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, status: Status) -> Check {
        Check::new(id, id, id, status)
    }

    fn refusal(text: &str) -> String {
        Baseline::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_baseline_reads_the_client_key_and_checks_the_server_key() {
        let baseline = Baseline::parse(
            "server:\n  - server-initialize\nclient:\n  - storm\n  - paged-change:tools-relisted-to-end\n",
        )
        .unwrap();
        assert_eq!(
            baseline
                .entries()
                .iter()
                .map(Entry::to_string)
                .collect::<Vec<_>>(),
            ["storm", "paged-change:tools-relisted-to-end"]
        );
        // An empty file, or one with only server entries, expects nothing.
        assert!(Baseline::parse("").unwrap().is_empty());
        assert!(Baseline::parse("server: [a]").unwrap().is_empty());
        assert!(Baseline::parse("client: []").unwrap().is_empty());
    }

    #[test]
    fn a_bad_baseline_is_refused_in_the_suites_words() {
        assert_eq!(
            refusal("- a\n- b\n"),
            "Invalid expected-failures file: expected an object with 'server' and/or 'client' keys"
        );
        assert_eq!(
            refusal("client: storm"),
            "Invalid expected-failures file: 'client' must be an array of scenario names"
        );
        assert_eq!(
            refusal("server: {a: 1}"),
            "Invalid expected-failures file: 'server' must be an array of scenario names"
        );
        assert_eq!(
            refusal("client:\n  - storm: tools-relisted\n"),
            "Invalid expected-failures file: 'client' entry {\"storm\":\"tools-relisted\"} is not \
             '<scenario>' or '<scenario>:<check-id>'. Did you write '- storm: tools-relisted'? \
             Remove the space after the colon: '- storm:tools-relisted'"
        );
        assert_eq!(
            refusal("client:\n  -\n"),
            "Invalid expected-failures file: 'client' entry null is not '<scenario>' or \
             '<scenario>:<check-id>'. This one is empty."
        );
        assert_eq!(
            refusal("client: [':x']"),
            "Invalid expected-failures file: 'client' entry \":x\" is not '<scenario>' or \
             '<scenario>:<check-id>'. Both sides of the colon are required."
        );
        assert_eq!(
            refusal("client: [storm, 'storm:tools-relisted']"),
            "Invalid expected-failures file: 'storm' expects the whole scenario to fail, so \
             'storm:tools-relisted' is redundant. Remove one or the other."
        );
        assert!(
            refusal("client: [a").starts_with("Invalid expected-failures file: not valid YAML")
        );
        assert!(refusal("a: 1\n---\nb: 2\n").contains("several"));
    }

    #[test]
    fn no_baseline_fails_on_any_failure_or_warning() {
        let ok = [check("a", Status::Success), check("b", Status::Info)];
        let warned = [check("a", Status::Success), check("b", Status::Warning)];
        let skipped = [check("a", Status::Skipped)];
        let outcome = evaluate(
            [
                ("ok", &ok[..]),
                ("warned", &warned[..]),
                ("skipped", &skipped[..]),
            ],
            &Baseline::default(),
        );
        assert_eq!(outcome.exit_code, 1);
        assert_eq!(outcome.unexpected_failures, ["warned"]);
        assert_eq!(
            outcome.scenarios,
            [
                ("ok".to_owned(), ScenarioVerdict::Pass),
                ("warned".to_owned(), ScenarioVerdict::Fail),
                ("skipped".to_owned(), ScenarioVerdict::Pass),
            ]
        );
        let passing = evaluate([("ok", &ok[..])], &Baseline::default());
        assert_eq!(passing.exit_code, 0);
    }

    #[test]
    fn a_whole_scenario_entry_expects_a_failure_and_is_stale_without_one() {
        let baseline = Baseline::parse("client: [bad, fixed]").unwrap();
        let failed = [check("a", Status::Failure)];
        let passed = [check("a", Status::Success)];
        let outcome = evaluate([("bad", &failed[..])], &baseline);
        assert_eq!(outcome.exit_code, 0);
        assert_eq!(outcome.expected_failures, ["bad"]);
        assert_eq!(outcome.scenarios[0].1, ScenarioVerdict::ExpectedFail);
        let outcome = evaluate([("bad", &failed[..]), ("fixed", &passed[..])], &baseline);
        assert_eq!(outcome.exit_code, 1);
        assert_eq!(outcome.stale_entries, ["fixed"]);
        assert_eq!(outcome.scenarios[1].1, ScenarioVerdict::Stale);
        // An entry for a scenario that did not run is left alone.
        let outcome = evaluate([("other", &passed[..])], &baseline);
        assert_eq!(outcome.exit_code, 0);
    }

    #[test]
    fn a_check_entry_expects_that_check_only() {
        let baseline = Baseline::parse("client: ['s:a', 's:gone']").unwrap();
        let only_a = [check("a", Status::Failure), check("b", Status::Success)];
        let outcome = evaluate([("s", &only_a[..])], &baseline);
        assert_eq!(outcome.exit_code, 0, "{outcome:?}");
        assert_eq!(outcome.expected_failures, ["s:a"]);
        assert_eq!(outcome.scenarios[0].1, ScenarioVerdict::ExpectedFail);
        // Another check failing is unexpected, named with its scenario.
        let both = [check("a", Status::Failure), check("b", Status::Warning)];
        let outcome = evaluate([("s", &both[..])], &baseline);
        assert_eq!(outcome.exit_code, 1);
        assert_eq!(outcome.unexpected_failures, ["s:b"]);
        assert_eq!(outcome.scenarios[0].1, ScenarioVerdict::Fail);
        // The expected check passing makes its entry stale; an absent or
        // skipped one does not.
        let fixed = [check("a", Status::Success), check("gone", Status::Skipped)];
        let outcome = evaluate([("s", &fixed[..])], &baseline);
        assert_eq!(outcome.exit_code, 1);
        assert_eq!(outcome.stale_entries, ["s:a"]);
        assert_eq!(outcome.scenarios[0].1, ScenarioVerdict::Stale);
    }

    #[test]
    fn a_check_id_given_twice_stands_for_its_worst_status() {
        let baseline = Baseline::parse("client: ['s:a']").unwrap();
        let twice = [check("a", Status::Failure), check("a", Status::Success)];
        let outcome = evaluate([("s", &twice[..])], &baseline);
        assert_eq!(outcome.exit_code, 0);
        assert_eq!(outcome.expected_failures, ["s:a"]);
        assert!(outcome.stale_entries.is_empty());
        // INFO never stands for an id, and never fails.
        let info = [check("a", Status::Info)];
        let outcome = evaluate([("s", &info[..])], &baseline);
        assert_eq!(outcome.exit_code, 0);
        assert_eq!(outcome.scenarios[0].1, ScenarioVerdict::Pass);
    }
}
