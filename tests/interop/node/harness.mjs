// Drive dynamic-mcp-server with the TypeScript SDK the way client test suites
// do: Client + StdioClientTransport, the PID from the pidfile, real signals,
// or the control endpoint named in the ready file.
// Every wait is bounded by TIMEOUT_MS; nothing sleeps and then asserts.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

import { BIN, Counter, bounded, until } from "./common.mjs";

export { BIN, TIMEOUT_MS, Counter, bounded, expectedNames, toolcountFile, until } from "./common.mjs";

export class Server {
  constructor(dir, client, transport, counter) {
    this.dir = dir;
    this.pidfile = path.join(dir, "server.pid");
    this.readyFile = path.join(dir, "ready.json");
    this.controlUrl = null;
    this.client = client;
    this.transport = transport;
    this.counter = counter;
    this.stderrText = "";
    this.pid = 0;
  }

  async waitPid() {
    await until(
      "the pidfile",
      () => fs.existsSync(this.pidfile),
      (check) => {
        const timer = setInterval(() => check() && clearInterval(timer), 5);
      },
    );
    const text = fs.readFileSync(this.pidfile, "utf8");
    assert.notEqual(text, "", "the pidfile is never seen empty");
    this.pid = Number(text);
    // The ready file is written before the pidfile: complete once it is there.
    if (fs.existsSync(this.readyFile)) {
      const ready = JSON.parse(fs.readFileSync(this.readyFile, "utf8"));
      assert.equal(ready.pid, this.pid);
      this.controlUrl = ready.control_url;
    }
  }

  signal(sig = "SIGHUP") {
    process.kill(this.pid, sig);
  }

  /** POST /changes to the control endpoint; answered once the change is applied. */
  async change(change) {
    assert.ok(this.controlUrl, "start the server with { control: true }");
    const response = await bounded(
      `POST /changes ${change}`,
      fetch(`${this.controlUrl}/changes`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ change }),
      }),
    );
    const answer = await bounded("the control answer", response.json());
    assert.equal(response.status, 200, JSON.stringify(answer));
    return answer;
  }

  alive() {
    try {
      process.kill(this.pid, 0);
    } catch {
      return false;
    }
    try {
      const stat = fs.readFileSync(`/proc/${this.pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
      return false;
    }
  }

  async waitStderr(needle) {
    await until(
      `stderr to contain ${needle}`,
      () => this.stderrText.includes(needle),
      (check) => this.transport.stderr.on("data", check),
    );
  }

  /** Until the kernel holds no undelivered SIGHUP for the server. */
  async waitSignalsDelivered() {
    const hup = 1n << 0n; // SIGHUP is signal 1
    const pending = () =>
      fs
        .readFileSync(`/proc/${this.pid}/status`, "utf8")
        .split("\n")
        .filter((l) => l.startsWith("SigPnd:") || l.startsWith("ShdPnd:"))
        .reduce((acc, l) => acc | BigInt(`0x${l.split(/\s+/)[1]}`), 0n);
    await until(
      "the SIGHUPs to be delivered",
      () => (pending() & hup) === 0n,
      (check) => {
        const timer = setInterval(() => check() && clearInterval(timer), 1);
      },
    );
  }

  async tools() {
    const { tools } = await bounded("tools/list", this.client.listTools());
    return tools;
  }

  async toolNames() {
    return (await this.tools()).map((t) => t.name);
  }

  async call(name, args = {}) {
    return bounded(`tools/call ${name}`, this.client.callTool({ name, arguments: args }));
  }

  /** A successful call's result object, after checking the text block holds the same JSON. */
  async callOk(name, args = {}) {
    const result = await this.call(name, args);
    assert.notEqual(result.isError, true, JSON.stringify(result));
    assert.equal(result.content.length, 1);
    assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);
    return result.structuredContent;
  }

  async callError(name, args) {
    const result = await this.call(name, args);
    assert.equal(result.isError, true, JSON.stringify(result));
    return JSON.parse(result.content[0].text).error;
  }

  /** Close the client (stdin EOF for the server) and check it cleaned up. */
  async close() {
    await bounded("the client to close", this.client.close());
    await until(
      "the server to exit",
      () => !this.alive(),
      (check) => {
        const timer = setInterval(() => check() && clearInterval(timer), 5);
      },
    );
    assert.equal(fs.existsSync(this.pidfile), false, "the server removes its pidfile");
    assert.equal(fs.existsSync(this.readyFile), false, "and its ready file");
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Start the server through StdioClientTransport. `options.connect: false`
 * leaves the handshake to the test; `options.clientOptions` go to the Client;
 * `options.countWithHandler: false` leaves notification handling to them;
 * `options.control: true` serves the control endpoint on a free port, found
 * through the ready file.
 */
export async function startServer(args = [], options = {}) {
  const { connect = true, clientOptions = {}, countWithHandler = true, control = false } = options;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dms-ts-"));
  const controlArgs = control ? ["--control", "127.0.0.1:0", "--ready-file", path.join(dir, "ready.json")] : [];
  const transport = new StdioClientTransport({
    command: BIN,
    args: ["--pidfile", path.join(dir, "server.pid"), ...controlArgs, ...args],
    stderr: "pipe",
  });
  const client = new Client({ name: "dms-interop", version: "1.0.0" }, clientOptions);
  const counter = new Counter();
  if (countWithHandler) {
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => counter.bump());
  }
  const server = new Server(dir, client, transport, counter);
  transport.stderr.on("data", (chunk) => {
    server.stderrText += chunk.toString();
  });
  if (connect) {
    await bounded("initialize", client.connect(transport));
    await server.waitPid();
  }
  return server;
}
