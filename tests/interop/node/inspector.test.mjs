// The MCP Inspector's CLI mode, as people script it: tools/list with a
// toolcount file of 3, and tools/call of each tool, compared with the
// expected JSON under expected/.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { BIN, TIMEOUT_MS, toolcountFile, until } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const inspector = path.join(here, "node_modules", ".bin", "mcp-inspector");
const toolcount = toolcountFile("3\n");

/** Run the inspector CLI against a fresh server; its stdout as JSON. */
async function inspect(...method) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dms-inspector-"));
  const pidfile = path.join(dir, "server.pid");
  const { stdout } = await promisify(execFile)(
    inspector,
    ["--cli", BIN, "--pidfile", pidfile, "--toolcount-file", toolcount, "--log-level", "error", ...method],
    { timeout: TIMEOUT_MS },
  );
  // The inspector closes the server's stdin as it exits: the server follows.
  await until(
    "the server to remove its pidfile",
    () => !fs.existsSync(pidfile),
    (check) => {
      const timer = setInterval(() => check() && clearInterval(timer), 5);
    },
  );
  fs.rmSync(dir, { recursive: true, force: true });
  return JSON.parse(stdout);
}

function expected(name) {
  return JSON.parse(fs.readFileSync(path.join(here, "expected", `${name}.json`), "utf8"));
}

test("inspector: tools/list with a toolcount file of 3", async () => {
  assert.deepEqual(await inspect("--method", "tools/list"), expected("tools-list"));
});

test("inspector: tools/call echo", async () => {
  const result = await inspect("--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hello");
  assert.deepEqual(result, expected("call-echo"));
});

test("inspector: tools/call calculator", async () => {
  const result = await inspect(
    "--method", "tools/call", "--tool-name", "calculator",
    "--tool-arg", "a=5", "--tool-arg", "b=7", "--tool-arg", "operation=add",
  );
  assert.deepEqual(result, expected("call-calculator"));
});

test("inspector: tools/call counter", async () => {
  assert.deepEqual(await inspect("--method", "tools/call", "--tool-name", "counter"), expected("call-counter"));
});
