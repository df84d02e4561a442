// The MCP Inspector's CLI as people script it today: Inspector 2.12
// (`mcp-inspector --cli`, both protocol eras) and the separate v1 CLI
// `@modelcontextprotocol/inspector-cli` 1.0.3 (pinned in package-lock.json).
// One-shot runs against a fresh stdio server: lists, calls and pages,
// checked against ../node/expected and the server's report; and runs
// against one HTTP server between which a tool is added, changed (rug pull)
// and removed. What each CLI does differently is pinned here: Inspector 2.x
// takes options after the server command as its own (server flags go after
// `--`) and walks every page; inspector-cli 1.0.3 passes every argument on,
// reads one page, and starts only from a folder whose parent holds a
// package.json (it looks for its own package.json relative to the working
// directory).

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { BIN, TIMEOUT_MS, expectedNames, polled, toolcountFile } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const INSPECTOR = path.join(here, "node_modules", ".bin", "mcp-inspector");
const CLI_PACKAGE = path.join(here, "node_modules", "@modelcontextprotocol", "inspector-cli");
const CLI = path.join(CLI_PACKAGE, "build", "cli.js");
const toolcount = toolcountFile("3\n");
// Inspector 2.x keeps a catalog of servers; never the user's.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "dms-inspector2-"));
const children = new Set();
after(() => {
  for (const child of children) child.kill("SIGKILL");
});
const env = { ...process.env, MCP_CATALOG_PATH: path.join(scratch, "mcp.json"), MCP_CLIENT_CONFIG_PATH: path.join(scratch, "client.json") };
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

function expected(name) {
  return JSON.parse(fs.readFileSync(path.join(here, "..", "node", "expected", `${name}.json`), "utf8"));
}

/** Run a CLI; resolves to { code, stdout, stderr } whatever its exit status. */
function run(file, args, { cwd = here } = {}) {
  return new Promise((resolve) => {
    execFile(file === CLI ? process.execPath : file, file === CLI ? [CLI, ...args] : args, { cwd, env, timeout: TIMEOUT_MS }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? error.signal) : 0, stdout, stderr });
    });
  });
}

/** A fresh stdio server's flags, with a report to read once it has exited. */
function stdioServer(...flags) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dms-inspector-"));
  const pidfile = path.join(dir, "server.pid");
  const report = path.join(dir, "report.json");
  return {
    flags: ["--pidfile", pidfile, "--report", report, "--log-level", "error", ...flags],
    /** The report, once the server has exited and written it. */
    async report() {
      await polled("the server to write its report", () => fs.existsSync(report) && !fs.existsSync(pidfile));
      const document = JSON.parse(fs.readFileSync(report, "utf8"));
      fs.rmSync(dir, { recursive: true, force: true });
      return document;
    },
  };
}

/** Inspector 2.x on a fresh stdio server: server flags after `--`. */
async function inspector2(era, method, ...serverFlags) {
  const server = stdioServer(...serverFlags);
  const { code, stdout, stderr } = await run(INSPECTOR, [
    "--cli", "--protocol-era", era, "--format", "json", ...method, "--", BIN, ...server.flags,
  ]);
  assert.equal(code, 0, stderr);
  return { answer: JSON.parse(stdout), report: await server.report() };
}

/** inspector-cli 1.0.3 on a fresh stdio server, run from its own build folder. */
async function inspectorCli(method, ...serverFlags) {
  const server = stdioServer(...serverFlags);
  const { code, stdout, stderr } = await run(CLI, ["--cli", BIN, ...server.flags, ...method], {
    cwd: path.join(CLI_PACKAGE, "build"),
  });
  assert.equal(code, 0, stderr);
  return { answer: JSON.parse(stdout), report: await server.report() };
}

const CALLS = [
  ["call-echo", ["--tool-name", "echo", "--tool-arg", "message=hello"]],
  ["call-calculator", ["--tool-name", "calculator", "--tool-arg", "a=5", "--tool-arg", "b=7", "--tool-arg", "operation=add"]],
  ["call-counter", ["--tool-name", "counter"]],
];

for (const [era, protocol] of [["legacy", "2025-11-25"], ["modern", "2026-07-28"]]) {
  test(`inspector 2.12 (${era}): tools/list and each tools/call, as expected`, async () => {
    const { answer, report } = await inspector2(era, ["--method", "tools/list"], "--toolcount-file", toolcount);
    assert.deepEqual(answer.result, expected("tools-list"));
    assert.equal(report.sessions.length, 1);
    assert.equal(report.sessions[0].protocol, protocol);
    for (const [name, args] of CALLS) {
      const call = await inspector2(era, ["--method", "tools/call", ...args], "--toolcount-file", toolcount);
      assert.deepEqual(call.answer.result, expected(name), name);
    }
  });

  test(`inspector 2.12 (${era}): tools/list walks every page`, async () => {
    const { answer, report } = await inspector2(era, ["--method", "tools/list"], "--tools", "5", "--page-size", "2");
    assert.deepEqual(answer.result.tools.map((t) => t.name), expectedNames(5));
    assert.equal(answer.result.nextCursor, undefined);
    assert.equal(report.sessions[0].requests["tools/list"], 3);
  });

  test(`inspector 2.12 (${era}): a repeated cursor's page is kept twice (the TS v2 client's defect, pinned)`, async () => {
    const { answer } = await inspector2(
      era, ["--method", "tools/list"], "--tools", "5", "--page-size", "2", "--cursor-style", "repeat-once",
    );
    assert.deepEqual(
      answer.result.tools.map((t) => t.name),
      ["echo", "calculator", "counter", "echo4", "counter", "echo4", "echo5", "echo5"],
    );
  });
}

test("inspector 2.12: options after the server command are its own (server flags go after --)", async () => {
  const { code, stdout, stderr } = await run(INSPECTOR, ["--cli", BIN, "--log-level", "warn", "--method", "tools/list"]);
  assert.notEqual(code, 0);
  assert.match(stdout + stderr, /Invalid log level: warn/);
});

test("inspector-cli 1.0.3: tools/list and each tools/call, as expected; every argument reaches the server", async () => {
  const { answer, report } = await inspectorCli(["--method", "tools/list"], "--toolcount-file", toolcount);
  assert.deepEqual(answer, expected("tools-list"));
  assert.equal(report.sessions[0].protocol, "2025-11-25");
  assert.equal(report.sessions[0].client.name, "inspector-cli");
  for (const [name, args] of CALLS) {
    const call = await inspectorCli(["--method", "tools/call", ...args], "--toolcount-file", toolcount);
    assert.deepEqual(call.answer, expected(name), name);
  }
});

test("inspector-cli 1.0.3: tools/list reads one page only (pinned)", async () => {
  const { answer, report } = await inspectorCli(["--method", "tools/list"], "--tools", "5", "--page-size", "2");
  assert.deepEqual(answer.tools.map((t) => t.name), ["echo", "calculator"]);
  assert.equal(typeof answer.nextCursor, "string", "the cursor is printed, not followed");
  assert.equal(report.sessions[0].requests["tools/list"], 1);
});

test("inspector-cli 1.0.3: started from a folder whose parent has no package.json, it fails (pinned)", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dms-inspector-cli-"));
  const { code, stderr } = await run(CLI, ["--cli", BIN, "--method", "tools/list"], { cwd: dir });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.notEqual(code, 0);
  assert.match(stderr, /Cannot find module .*package\.json/);
});

// One HTTP server, several one-shot runs of each CLI between changes made
// through the control endpoint.
async function httpServer(...flags) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dms-inspector-http-"));
  const readyFile = path.join(dir, "ready.json");
  const child = spawn(BIN, ["--http", "127.0.0.1:0", "--control", "127.0.0.1:0", "--ready-file", readyFile, "--log-level", "error", ...flags], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.add(child);
  await polled("the ready file", () => fs.existsSync(readyFile));
  const ready = JSON.parse(fs.readFileSync(readyFile, "utf8"));
  const control = async (method, route, body) => {
    const response = await fetch(ready.control_url + route, { method, headers: { "content-type": "application/json" }, body: body && JSON.stringify(body) });
    assert.equal(response.status, 200);
    return response.json();
  };
  return {
    url: ready.mcp_url,
    change: (change) => control("POST", "/changes", { change }),
    report: () => control("GET", "/report"),
    async stop() {
      child.kill("SIGTERM");
      await polled("the server to exit", () => child.exitCode !== null);
      children.delete(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const CLIENTS = {
  "inspector 2.12 (legacy)": (url, method) => run(INSPECTOR, ["--cli", url, "--format", "json", ...method]),
  "inspector 2.12 (modern)": (url, method) =>
    run(INSPECTOR, ["--cli", url, "--protocol-era", "modern", "--format", "json", ...method]),
  "inspector-cli 1.0.3": (url, method) =>
    run(CLI, ["--cli", url, "--transport", "http", ...method], { cwd: path.join(CLI_PACKAGE, "build") }),
};
// Inspector 2.x wraps its answer in {"result": ...}; the v1 CLI prints it bare.
const unwrap = (stdout) => {
  const answer = JSON.parse(stdout);
  return answer.result ?? answer;
};

for (const [name, inspect] of Object.entries(CLIENTS)) {
  test(`${name} over HTTP: an added, a changed and a removed tool, each as the next run sees it`, async () => {
    const server = await httpServer("--tools", "3");
    const list = async () => {
      const { code, stdout, stderr } = await inspect(server.url, ["--method", "tools/list"]);
      assert.equal(code, 0, stderr);
      return unwrap(stdout).tools;
    };
    const call = (tool, ...args) =>
      inspect(server.url, ["--method", "tools/call", "--tool-name", tool, ...args.flatMap((a) => ["--tool-arg", a])]);

    assert.deepEqual((await list()).map((t) => t.name), expectedNames(3));
    await server.change("add_tool");
    assert.deepEqual((await list()).map((t) => t.name), expectedNames(4));

    // Rug pull: echo4 now requires revision 2; a call without it is a tool error.
    await server.change("change_tool");
    const tools = await list();
    assert.equal(tools[3].inputSchema.properties.revision.const, 2);
    const stale = await call("echo4", "message=hi");
    if (name.startsWith("inspector-cli")) {
      // The v1 CLI prints the tool error and exits 0.
      assert.equal(stale.code, 0, stale.stderr);
      assert.equal(unwrap(stale.stdout).isError, true);
      assert.match(unwrap(stale.stdout).content[0].text, /revision/);
    } else {
      // Inspector 2.x exits 5 and names the tool error without its text.
      assert.equal(stale.code, 5);
      assert.match(stale.stdout + stale.stderr, /tool_is_error/);
    }

    await server.change("remove_tool");
    assert.deepEqual((await list()).map((t) => t.name), expectedNames(3));
    const gone = await call("echo4", "message=hi");
    assert.notEqual(gone.code, 0, "a call of a removed tool fails");

    const report = await server.report();
    const staleCalls = report.sessions.flatMap((s) => s.stale_calls.map((c) => c.reason));
    // Inspector 2.x checks the tool against tools/list before calling, so
    // the removed tool's call never reaches the server; the v1 CLI sends it.
    assert.deepEqual(staleCalls, name.startsWith("inspector-cli") ? ["stale revision", "unknown tool"] : ["stale revision"]);
    await server.stop();
  });
}
