// Writes STATUS.md from a conformance run and fails on a regression against
// the STATUS.md it replaces. Called by ./run; not meant to be run by hand.
//
// Usage: node status.mjs PLAN CHECKS_TSV STATUS_MD HEADER
//   PLAN: tab-separated rows "scenario revision outcome detail [note]", where
//   outcome is "ran" (detail: the suite's result directory), "skip" (detail:
//   why) or "check", a check of the run's own (detail: pass or fail; note).
import fs from "node:fs";
import path from "node:path";

const [planFile, checksFile, statusFile, header] = process.argv.slice(2);

const notes = new Map(
  fs
    .readFileSync(checksFile, "utf8")
    .split("\n")
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => line.split("\t")),
);

const RANK = { "not run": 0, fail: 1, "pass, warnings": 2, pass: 3 };

function checksOf(dir) {
  // The suite writes DIR/<scenario>-<timestamp>/checks.json.
  if (!fs.existsSync(dir)) return null;
  for (const sub of fs.readdirSync(dir)) {
    const file = path.join(dir, sub, "checks.json");
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, "utf8"));
  }
  return null;
}

function describe(checks, status) {
  const ids = [...new Set(checks.filter((c) => c.status === status).map((c) => c.id))];
  return ids.map((id) => (notes.has(id) ? `\`${id}\` (${notes.get(id)})` : `\`${id}\``));
}

const rows = [];
for (const line of fs.readFileSync(planFile, "utf8").split("\n")) {
  if (!line) continue;
  const [scenario, revision, outcome, detail, note] = line.split("\t");
  if (outcome === "skip") {
    rows.push({ scenario, revision, status: "not run", notes: detail });
  } else if (outcome === "check") {
    rows.push({ scenario, revision, status: detail === "pass" ? "pass" : "fail", notes: note });
  } else {
    const checks = checksOf(detail);
    if (!checks) {
      rows.push({ scenario, revision, status: "fail", notes: "the suite wrote no result" });
      continue;
    }
    const failures = describe(checks, "FAILURE");
    const warnings = describe(checks, "WARNING");
    const count = (status) => checks.filter((c) => c.status === status).length;
    const status = failures.length ? "fail" : warnings.length ? "pass, warnings" : "pass";
    const others = checks.length - count("SUCCESS") - count("FAILURE") - count("WARNING");
    const parts = [
      `${count("SUCCESS")} of ${checks.length} checks succeed` +
        (others ? `, ${others} informational or skipped` : ""),
    ];
    if (failures.length) parts.push(`failing: ${failures.join("; ")}`);
    if (warnings.length) parts.push(`warning: ${warnings.join("; ")}`);
    rows.push({ scenario, revision, status, notes: parts.join(". ") });
  }
}

// The table this run replaces, as committed.
const before = new Map();
if (fs.existsSync(statusFile)) {
  for (const line of fs.readFileSync(statusFile, "utf8").split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim());
    if (cells.length >= 5 && cells[3] in RANK) before.set(`${cells[1]} ${cells[2]}`, cells[3]);
  }
}

const revisions = [...new Set(rows.map((r) => r.revision))].sort();
const summary = revisions.map((revision) => {
  const of = rows.filter((r) => r.revision === revision);
  const count = (status) => of.filter((r) => r.status === status).length;
  return `| ${revision} | ${count("pass")} | ${count("pass, warnings")} | ${count("fail")} | ${count("not run")} |`;
});

const table = [
  "# Conformance status",
  "",
  header,
  "",
  "Status per revision (a scenario counts once for each revision the suite tags it with):",
  "",
  "| revision | pass | pass, warnings | fail | not run |",
  "|---|---|---|---|---|",
  ...summary,
  "",
  "| scenario | revision | status | notes |",
  "|---|---|---|---|",
  ...rows.map((r) => `| ${r.scenario} | ${r.revision} | ${r.status} | ${r.notes.replaceAll("|", "\\|")} |`),
  "",
].join("\n");
fs.writeFileSync(statusFile, table);

let regressions = 0;
for (const row of rows) {
  const was = before.get(`${row.scenario} ${row.revision}`);
  if (was !== undefined && RANK[row.status] < RANK[was]) {
    console.error(`REGRESSION ${row.scenario} ${row.revision}: ${was} -> ${row.status}: ${row.notes}`);
    regressions++;
  }
}
for (const r of rows) console.log(`${r.status.padEnd(15)} ${r.scenario} ${r.revision}`);
if (regressions) {
  console.error(`${regressions} regression(s) against the committed ${path.basename(statusFile)}`);
  process.exit(1);
}
