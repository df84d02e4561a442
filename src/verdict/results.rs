//! Where a scenario's results go (`DIR/<scenario>/`, as the suite lays them
//! out) and the verdict table a person reads.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Check, Outcome, ScenarioVerdict};

/// Write one scenario's results as the suite does: `DIR/<scenario>/checks.json`
/// (the checks, an array), `stdout.txt` and `stderr.txt` (the client's
/// output). Returns the scenario's folder. A scenario name is one plain path
/// component; anything else is refused.
pub fn write_results(
    dir: &Path,
    scenario: &str,
    checks: &[Check],
    stdout: &[u8],
    stderr: &[u8],
) -> std::io::Result<PathBuf> {
    let plain = !scenario.is_empty()
        && scenario != "."
        && scenario != ".."
        && !scenario.contains(['/', '\\', '\0']);
    if !plain {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{scenario:?} is not a scenario name"),
        ));
    }
    let folder = dir.join(scenario);
    std::fs::create_dir_all(&folder)?;
    let mut json = serde_json::to_vec_pretty(checks).map_err(std::io::Error::other)?;
    json.push(b'\n');
    std::fs::write(folder.join("checks.json"), json)?;
    std::fs::write(folder.join("stdout.txt"), stdout)?;
    std::fs::write(folder.join("stderr.txt"), stderr)?;
    Ok(folder)
}

/// The verdict table: one line per scenario that passed, one per failing
/// check (its id and its evidence: the check's error message), one per stale
/// baseline entry; then a summary line.
///
/// ```text
/// scenario                 verdict        check                 evidence
/// tool-removed-then-called FAIL           no-stale-call         tools/call echo4 at 1503 ms: unknown tool (removed at 1002 ms)
/// storm                    PASS           -                     -
/// ```
pub fn render_table<'a>(
    results: impl IntoIterator<Item = (&'a str, &'a [Check])>,
    outcome: &Outcome,
) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    for (scenario, checks) in results {
        let verdict = outcome
            .scenarios
            .iter()
            .find(|(name, _)| name == scenario)
            .map_or(ScenarioVerdict::Pass, |(_, verdict)| *verdict);
        let label = verdict.as_str().to_owned();
        let mut lines = 0;
        for check in checks.iter().filter(|c| c.status.fails()) {
            let expected = outcome.expected_failures.iter().any(|e| {
                e == scenario
                    || e.strip_prefix(scenario).and_then(|e| e.strip_prefix(':')) == Some(&check.id)
            });
            let evidence = check.error_message.as_deref().unwrap_or(&check.description);
            let mut id = check.id.clone();
            if expected {
                id.push_str(" (expected)");
            }
            rows.push([scenario.to_owned(), label.clone(), id, one_line(evidence)]);
            lines += 1;
        }
        for stale in &outcome.stale_entries {
            let check = if stale == scenario {
                Some("-")
            } else {
                stale
                    .strip_prefix(scenario)
                    .and_then(|e| e.strip_prefix(':'))
            };
            if let Some(check) = check {
                rows.push([
                    scenario.to_owned(),
                    label.clone(),
                    check.to_owned(),
                    "passes now: remove it from the expected failures".to_owned(),
                ]);
                lines += 1;
            }
        }
        if lines == 0 {
            rows.push([scenario.to_owned(), label, "-".into(), "-".into()]);
        }
    }
    let header = ["scenario", "verdict", "check", "evidence"].map(String::from);
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut table = String::new();
    for row in [&header].into_iter().chain(&rows) {
        let _ = writeln!(
            table,
            "{:w0$}  {:w1$}  {:w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    let count = |verdict| {
        outcome
            .scenarios
            .iter()
            .filter(|(_, v)| *v == verdict)
            .count()
    };
    let _ = writeln!(
        table,
        "\n{} scenarios: {} passed, {} failed, {} expected failures, {} stale; exit {}",
        outcome.scenarios.len(),
        count(ScenarioVerdict::Pass),
        count(ScenarioVerdict::Fail),
        count(ScenarioVerdict::ExpectedFail),
        count(ScenarioVerdict::Stale),
        outcome.exit_code
    );
    table
}

/// Evidence on one line of the table: whitespace runs become one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Baseline, Status, evaluate};

    #[test]
    fn results_are_laid_out_as_the_suite_lays_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let checks = [Check::new("a", "A", "a", Status::Success)];
        let folder = write_results(dir.path(), "storm", &checks, b"out", b"err").unwrap();
        assert_eq!(folder, dir.path().join("storm"));
        let read: Vec<Check> =
            serde_json::from_slice(&std::fs::read(folder.join("checks.json")).unwrap()).unwrap();
        assert_eq!(read, checks);
        assert_eq!(std::fs::read(folder.join("stdout.txt")).unwrap(), b"out");
        assert_eq!(std::fs::read(folder.join("stderr.txt")).unwrap(), b"err");
        for bad in ["", "..", "a/b", "."] {
            assert!(
                write_results(dir.path(), bad, &checks, b"", b"").is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_table_has_a_line_per_failing_check_and_stale_entry() {
        let failing = [
            Check::new("a", "A", "a", Status::Success),
            Check::new("b", "B", "b", Status::Failure)
                .error("tools/call echo4 at 1503 ms:\n unknown tool"),
            Check::new("c", "C", "c", Status::Warning),
        ];
        let passing = [Check::new("a", "A", "a", Status::Success)];
        let results = [("one", &failing[..]), ("two", &passing[..])];
        let baseline = Baseline::parse("client: ['one:c', 'two']").unwrap();
        let outcome = evaluate(results, &baseline);
        let table = render_table(results, &outcome);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["scenario", "verdict", "check", "evidence"]
        );
        assert!(
            lines[1].starts_with("one") && lines[1].contains("FAIL"),
            "{table}"
        );
        let row: Vec<&str> = lines[1].split_whitespace().take(3).collect();
        assert_eq!(row, ["one", "FAIL", "b"]);
        assert!(
            lines[1].ends_with("  tools/call echo4 at 1503 ms: unknown tool"),
            "{table}"
        );
        assert!(lines[2].contains("c (expected)"), "{table}");
        assert!(
            lines[3].starts_with("two") && lines[3].contains("STALE"),
            "{table}"
        );
        assert!(lines[3].ends_with("passes now: remove it from the expected failures"));
        assert_eq!(
            lines.last().unwrap(),
            &"2 scenarios: 0 passed, 1 failed, 0 expected failures, 1 stale; exit 1"
        );
    }
}
