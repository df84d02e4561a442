// The helper itself: HTTP start-up, the `dynamic-mcp-server` command, clear
// errors, and nothing left behind (the process reaped, the temporary folder
// removed).

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { binaryPath, check, startDynamicServer } from "dynamic-mcp-server";

import { connect } from "./connect.mjs";

const gone = (pid) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};
const version = JSON.parse(fs.readFileSync("node_modules/dynamic-mcp-server/package.json", "utf8")).version;

test("the binary comes from this platform's package", () => {
  assert.equal(
    binaryPath(),
    path.resolve(`node_modules/@dynamic-mcp-server/${process.platform}-${process.arch}/bin/dynamic-mcp-server`),
  );
});

test("the command runs the binary, which has the package's version", () => {
  const out = execFileSync("node_modules/.bin/dynamic-mcp-server", ["--version"], { encoding: "utf8" });
  assert.equal(out.trim(), `dynamic-mcp-server ${version}`);
});

test("the command passes SIGTERM on to the server, which exits cleanly", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dms-command-"));
  const pidfile = path.join(dir, "server.pid");
  const command = spawn("node_modules/.bin/dynamic-mcp-server", ["--pidfile", pidfile], { stdio: ["pipe", "ignore", "ignore"] });
  const exited = once(command, "exit");
  t.after(() => {
    command.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const deadline = Date.now() + 30_000; !fs.existsSync(pidfile); await sleep(5)) {
    assert.equal(command.exitCode, null, "the command is still running");
    assert.ok(Date.now() < deadline, "the server wrote its pidfile within 30 s");
  }
  assert.notEqual(Number(fs.readFileSync(pidfile, "utf8")), command.pid, "the pidfile names the server itself");
  command.kill("SIGTERM");
  assert.deepEqual(await exited, [0, null]);
  assert.equal(fs.existsSync(pidfile), false, "the server removed its pidfile");
});

test("an HTTP server serves its mcpUrl and stops leaving nothing behind", async () => {
  const server = await startDynamicServer({ http: true, tools: 2 });
  const { pid } = server;
  const folder = path.dirname(server.args[1]);
  assert.match(server.mcpUrl, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  const client = new Client({ name: "package-tests", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.mcpUrl)));
  assert.deepEqual((await client.listTools()).tools.map((tool) => tool.name), ["echo", "calculator"]);
  await client.close();
  assert.equal(await server.stop(), 0, "SIGTERM stops it cleanly");
  assert.ok(gone(pid), "the server was stopped and reaped");
  assert.equal(fs.existsSync(folder), false, "the temporary folder is removed");
});

test("a server that cannot start says why", async () => {
  await assert.rejects(
    startDynamicServer({ http: true, args: ["--tools", "0"] }),
    /exited with status 2: .*--tools/,
  );
});

test("a stdio server has no pid before a client starts it, and no mcpUrl", async () => {
  const server = await startDynamicServer({ control: false });
  assert.throws(() => server.pid, /connect the client first/);
  assert.equal(server.mcpUrl, undefined);
  await assert.rejects(server.state(), /started without control/);
  await server.stop();
});

test("verdict() passes a client that re-lists and fails one that calls a removed tool", async (t) => {
  const { server, client, changes, names } = await connect(t, { tools: 3 });
  assert.deepEqual(await names(), ["echo", "calculator", "counter"]);
  await server.addTool();
  await changes.waitFor(1);
  assert.equal((await names()).length, 4);
  let verdict = await server.verdict();
  assert.ok(verdict.passed, JSON.stringify(verdict.failures));
  assert.deepEqual(verdict.failures, []);
  assert.ok(verdict.checks.length > 0, "the checks it passed are there too");
  await server.removeTool("echo4");
  await changes.waitFor(2);
  await assert.rejects(client.callTool({ name: "echo4", arguments: { message: "stale" } }), /echo4/);
  verdict = await server.verdict();
  assert.equal(verdict.passed, false);
  assert.ok(verdict.failures.some((line) => line.includes("echo4")), JSON.stringify(verdict.failures));
});

test("check() fails a client that does nothing in every scenario, and refuses bad arguments", async () => {
  const outcome = await check({ client: ["true"] });
  assert.equal(outcome.status, 1);
  assert.equal(outcome.passed, false);
  const scenarios = Object.keys(outcome.scenarios);
  assert.ok(scenarios.length >= 18, scenarios.join(" "));
  assert.deepEqual(new Set(outcome.failures.map((line) => line.split(" ")[0])), new Set(scenarios));
  assert.match(outcome.table, /FAIL/);
  await assert.rejects(check({ client: "true", scenarios: ["no-such-scenario"] }), /refused its arguments/);
});
