// Reads a `dynamic-mcp-server check` results folder with the official MCP
// conformance suite's own code, from its pinned package
// (tests/conformance/package.json; `cd tests/conformance && npm ci`):
// - `ul`, which scores a results folder (every **/checks.json);
// - `al` and `il`, which read and refuse an expected-failures baseline;
// - `ol` (with `Xo` and `rl`), which grades results against the baseline.
// The functions are taken from the suite's dist/index.js by name and run as
// they are, with the imports they use bound to Node's own, so that what this
// prints is what the suite itself would decide. Each check is also checked
// against the suite's check type (fields, types, status values).
//
// Usage (with the suite's Node 22):
//   tests/conformance/node_modules/.bin/node tests/check/suite.mjs RESULTS [BASELINE.yml]
// Prints {"score": ul(RESULTS), "baseline": ol(...) or null, "invalid": [...]}
// and exits 1 if a check is invalid.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const conformance = path.join(here, "../conformance");
const dist = path.join(
  conformance,
  "node_modules/@modelcontextprotocol/conformance/dist/index.js",
);
const require = createRequire(path.join(conformance, "package.json"));
// The suite's YAML parser, from its own dependencies.
const yaml = require("yaml");

const source = fs.readFileSync(dist, "utf-8");

/** The source of `[async] function NAME(...){...}` in the bundle. */
function take(name) {
  let start = source.indexOf(`function ${name}(`);
  if (start < 0) throw new Error(`the suite has no function ${name}: another version?`);
  if (source.slice(start - 6, start) === "async ") start -= 6;
  let depth = 0;
  for (let i = source.indexOf("{", start); i < source.length; i++) {
    const ch = source[i];
    if (ch === "`" || ch === '"' || ch === "'") {
      // Skip a string literal (the functions taken hold no nested templates).
      const quote = ch;
      for (i++; i < source.length && source[i] !== quote; i++) {
        if (source[i] === "\\") i++;
      }
      continue;
    }
    if (ch === "{") depth++;
    if (ch === "}" && --depth === 0) return source.slice(start, i + 1);
  }
  throw new Error(`unbalanced function ${name}`);
}

// The bundle's names for its imports (its first line): i existsSync,
// a globSync, c readFileSync, s fs.promises, p dirname, m join, fe yaml.parse.
const names = ["ul", "ol", "Xo", "rl", "il", "al"];
const suite = new Function(
  "i", "a", "c", "s", "p", "m", "fe",
  `${names.map(take).join("\n")}\nreturn { ${names.join(", ")} };`,
)(fs.existsSync, fs.globSync, fs.readFileSync, fs.promises, path.dirname, path.join, yaml.parse);

const STATUSES = ["SUCCESS", "FAILURE", "WARNING", "SKIPPED", "INFO"];

/** Why `check` is not a check as the suite types it, or null. */
function invalid(check) {
  const string = (key) => typeof check[key] === "string" && check[key].length > 0;
  for (const key of ["id", "name", "description", "timestamp"]) {
    if (!string(key)) return `${key} is not a non-empty string`;
  }
  if (!STATUSES.includes(check.status)) return `status ${check.status} is not one of ${STATUSES}`;
  if (Number.isNaN(Date.parse(check.timestamp)) || new Date(check.timestamp).toISOString() !== check.timestamp) {
    return `timestamp ${check.timestamp} is not ISO 8601 as toISOString writes it`;
  }
  if (!Array.isArray(check.specReferences)) return "specReferences is not an array";
  for (const ref of check.specReferences) {
    if (typeof ref?.id !== "string" || typeof ref?.url !== "string" || !ref.url.startsWith("https://")) {
      return `specReference ${JSON.stringify(ref)} is not {id, url}`;
    }
  }
  if (check.details === null || typeof check.details !== "object" || Array.isArray(check.details)) {
    return "details is not an object";
  }
  if ("errorMessage" in check && typeof check.errorMessage !== "string") return "errorMessage is not a string";
  if ("logs" in check && !(Array.isArray(check.logs) && check.logs.every((l) => typeof l === "string"))) {
    return "logs is not an array of strings";
  }
  const known = ["id", "name", "description", "status", "timestamp", "specReferences", "details", "errorMessage", "logs"];
  const extra = Object.keys(check).filter((k) => !known.includes(k));
  if (extra.length > 0) return `unknown keys ${extra}`;
  return null;
}

const [results, baselineFile] = process.argv.slice(2);
if (!results) {
  console.error("usage: suite.mjs RESULTS [BASELINE.yml]");
  process.exit(2);
}
const scenarios = [];
const problems = [];
for (const file of fs.globSync("**/checks.json", { cwd: results })) {
  const scenario = path.dirname(file);
  const checks = JSON.parse(fs.readFileSync(path.join(results, file), "utf-8"));
  if (!Array.isArray(checks)) problems.push({ scenario, why: "checks.json is not an array" });
  for (const check of checks) {
    const why = invalid(check);
    if (why) problems.push({ scenario, check: check.id, why });
  }
  scenarios.push({ scenario, checks });
}
let baseline = null;
if (baselineFile) {
  const entries = (await suite.al(baselineFile)).client ?? [];
  baseline = suite.ol(scenarios, entries);
}
console.log(JSON.stringify({ score: suite.ul(results), baseline, invalid: problems }));
process.exit(problems.length > 0 ? 1 : 0);
