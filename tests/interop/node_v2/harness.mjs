// Drive dynamic-mcp-server with the TypeScript SDK v2 client
// (`@modelcontextprotocol/client`), as its users do: a Client in the legacy
// era (the 2025 `initialize` handshake, its default) or in `auto` mode (a
// `server/discover` probe, then 2026-07-28), over stdio (the client starts
// the server) or Streamable HTTP (the test starts it). The PID comes from
// the ready file the server writes, changes come from real signals or the
// control endpoint, and the report from GET /report.
// Every wait is bounded by TIMEOUT_MS; nothing sleeps and then asserts.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

import { BIN, Counter, bounded, until } from "../node/common.mjs";

export { BIN, TIMEOUT_MS, Counter, bounded, expectedNames, toolcountFile, until } from "../node/common.mjs";

/** Poll `predicate` every few milliseconds until it holds (bounded). */
export function polled(what, predicate) {
  return until(what, predicate, (check) => {
    const timer = setInterval(() => check() && clearInterval(timer), 5);
  });
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Every server started and not yet closed: killed when a test fails half way. */
const running = new Set();
export function killAll() {
  for (const server of running) {
    server.child?.kill("SIGKILL");
    if (server.pid) {
      try {
        process.kill(server.pid, "SIGKILL");
      } catch {}
    }
    server.client.close().catch(() => {});
    fs.rmSync(server.dir, { recursive: true, force: true });
  }
  running.clear();
}

export class Server {
  constructor({ dir, client, transport, counter, child }) {
    this.dir = dir;
    this.readyFile = path.join(dir, "ready.json");
    this.client = client;
    this.transport = transport;
    this.counter = counter;
    this.child = child;
    this.stderrText = "";
    this.pid = 0;
    this.controlUrl = null;
    this.mcpUrl = null;
  }

  /** The ready file, written before the pidfile: the PID and the URLs. */
  async waitReady() {
    await polled("the ready file", () => fs.existsSync(this.readyFile));
    const ready = JSON.parse(fs.readFileSync(this.readyFile, "utf8"));
    this.pid = ready.pid;
    this.controlUrl = ready.control_url;
    this.mcpUrl = ready.mcp_url;
    return ready;
  }

  signal(sig = "SIGHUP") {
    process.kill(this.pid, sig);
  }

  async #control(method, route, body) {
    const response = await bounded(
      `${method} ${route}`,
      fetch(`${this.controlUrl}${route}`, {
        method,
        headers: { "content-type": "application/json" },
        body: body && JSON.stringify(body),
      }),
    );
    const answer = await bounded("the control answer", response.json());
    assert.equal(response.status, 200, JSON.stringify(answer));
    return answer;
  }

  /** POST /changes; answered once the change is applied. */
  change(change, fields = {}) {
    return this.#control("POST", "/changes", { change, ...fields });
  }

  report() {
    return this.#control("GET", "/report");
  }

  /**
   * This client's sessions in the report, by role: `notified` is where its
   * list_changed went, `served` where its requests were answered. One
   * session is both, except for 2026-07-28 over HTTP, where requests are
   * stateless: the report credits them to the client's live listen stream
   * (both roles again), and keeps them in "stateless" while it has none.
   */
  async sessions() {
    const { sessions } = await this.report();
    const named = sessions.filter((s) => s.client?.name === "dms-interop-v2");
    if (!this.child || this.client.getNegotiatedProtocolVersion() !== "2026-07-28") {
      assert.equal(sessions.length, 1, JSON.stringify(sessions));
      return { notified: sessions[0], served: sessions[0] };
    }
    assert.ok(named.length <= 1, JSON.stringify(sessions));
    if (named[0]?.closed_ms === null) return { notified: named[0], served: named[0] };
    const served = sessions.filter((s) => s.id === "stateless");
    assert.equal(served.length, 1, JSON.stringify(sessions));
    return { notified: named[0], served: served[0] };
  }

  /** Ask for the report until `predicate(sessions)` holds (bounded). */
  async waitSessions(what, predicate) {
    return bounded(
      what,
      (async () => {
        for (;;) {
          const sessions = await this.sessions().catch(() => null);
          if (sessions && predicate(sessions)) return sessions;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })(),
    );
  }

  async tools(params) {
    const { tools } = await bounded("tools/list", this.client.listTools(params));
    return tools;
  }

  async toolNames(params) {
    return (await this.tools(params)).map((t) => t.name);
  }

  async call(name, args = {}) {
    return bounded(`tools/call ${name}`, this.client.callTool({ name, arguments: args }));
  }

  async callOk(name, args = {}) {
    const result = await this.call(name, args);
    assert.notEqual(result.isError, true, JSON.stringify(result));
    assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);
    return result.structuredContent;
  }

  async callError(name, args) {
    const result = await this.call(name, args);
    assert.equal(result.isError, true, JSON.stringify(result));
    return JSON.parse(result.content[0].text).error;
  }

  /** Close the client; the server exits (stdio: stdin's EOF; HTTP: SIGTERM) and cleans up. */
  async close() {
    await bounded("the client to close", this.client.close());
    if (this.child) this.child.kill("SIGTERM");
    await polled("the server to exit", () => !alive(this.pid));
    assert.equal(fs.existsSync(this.readyFile), false, "the server removes its ready file");
    fs.rmSync(this.dir, { recursive: true, force: true });
    running.delete(this);
  }
}

function clientFor(mode, clientOptions, counter) {
  const client = new Client(
    { name: "dms-interop-v2", version: "1.0.0" },
    { versionNegotiation: { mode }, ...clientOptions },
  );
  if (counter) client.setNotificationHandler("notifications/tools/list_changed", () => counter.bump());
  return client;
}

/**
 * Start the server with the control endpoint, over `transport` ("stdio" or
 * "http"), and connect a v2 Client in `mode` ("legacy" or "auto").
 * `clientOptions` go to the Client; `countWithHandler: false` leaves the
 * list_changed handler to them.
 */
export async function startServer(args = [], options = {}) {
  const { transport: kind = "stdio", mode = "legacy", clientOptions = {}, countWithHandler = true } = options;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dms-ts2-"));
  const flags = ["--pidfile", path.join(dir, "server.pid"), "--control", "127.0.0.1:0", "--ready-file", path.join(dir, "ready.json")];
  const counter = countWithHandler ? new Counter() : null;
  const client = clientFor(mode, clientOptions, counter);
  let transport;
  let child;
  if (kind === "stdio") {
    transport = new StdioClientTransport({ command: BIN, args: [...flags, ...args], stderr: "pipe" });
  } else {
    child = spawn(BIN, [...flags, "--http", "127.0.0.1:0", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  }
  const server = new Server({ dir, client, transport, counter, child });
  running.add(server);
  (transport?.stderr ?? child.stderr).on("data", (chunk) => {
    server.stderrText += chunk.toString();
  });
  if (child) {
    await server.waitReady();
    server.transport = transport = new StreamableHTTPClientTransport(new URL(server.mcpUrl));
  }
  await bounded("connect", client.connect(transport));
  if (!child) {
    // In auto mode connect() resolves before the server it connected to has
    // written its files (the probe ran on a sibling process): wait for them.
    await server.waitReady();
    assert.equal(server.pid, transport.pid, "the ready file names the server the client talks to");
  }
  return server;
}
