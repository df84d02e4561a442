// dynamic-mcp-server for Node tests: startDynamicServer() starts the server
// (over HTTP itself, or on stdio by handing the client its command line),
// learns its PID and URLs from the files the server writes, drives its changes
// and stops it leaving nothing behind; listChangedCounter() counts the
// list_changed notifications an SDK Client receives; check() grades a client
// program with `dynamic-mcp-server check`. Types: index.d.ts.

import { spawn } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const require = createRequire(import.meta.url);
// Polling a file the server writes atomically is the portable way to see it
// appear; 5 ms is far below a server's start-up.
const POLL_MS = 5;

/** The binary: $DYNAMIC_MCP_SERVER_BIN, else the one in this platform's package. */
export function binaryPath() {
  if (process.env.DYNAMIC_MCP_SERVER_BIN) return process.env.DYNAMIC_MCP_SERVER_BIN;
  const name = `@dynamic-mcp-server/${process.platform}-${process.arch}`;
  const exe = process.platform === "win32" ? "dynamic-mcp-server.exe" : "dynamic-mcp-server";
  try {
    return path.join(path.dirname(require.resolve(`${name}/package.json`)), "bin", exe);
  } catch {
    throw new Error(
      `dynamic-mcp-server: ${name} is not installed. It is an optional dependency chosen by platform: ` +
        "was it installed with --omit=optional, or is there no build for this platform?",
    );
  }
}

/** Whether `pid` is a live process (not gone, not a zombie). */
function running(pid) {
  if (!signalled(pid, 0)) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return true; // no /proc (macOS): kill(0) is the answer
  }
}

const address = (value) => (value === true ? "127.0.0.1:0" : String(value));

/** Resolve `what()` once it returns something other than undefined, or throw after `timeoutMs`. */
async function poll(what, timeoutMs, describe) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = what();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`dynamic-mcp-server: ${describe()} within ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}

function readIfExists(file) {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    if (error.code === "ENOENT") return undefined;
    throw error;
  }
}

/** Send `signal` to `pid`; false if there is no such process. */
function signalled(pid, signal) {
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if (error.code === "ESRCH") return false;
    throw error;
  }
}

/** The control endpoint refused a change (400, 404 or 409); `status` and `error` say why. */
export class ControlError extends Error {
  constructor(status, error) {
    super(`dynamic-mcp-server control: ${status}: ${error}`);
    this.status = status;
    this.error = error;
  }
}

class DynamicServer {
  #dir;
  #child;
  #exited;
  #spawnError;
  #options;
  // A test that never calls stop() must not leave the server or the folder behind.
  #cleanup = () => {
    this.#child?.kill("SIGKILL");
    fs.rmSync(this.#dir, { recursive: true, force: true });
  };

  constructor(options) {
    const { args = [], http = false, control = true, tools, binary, timeoutMs = 30_000 } = options;
    this.command = binary ?? binaryPath();
    this.#options = { http, control, timeoutMs };
    this.#dir = fs.mkdtempSync(path.join(os.tmpdir(), "dynamic-mcp-server-"));
    process.once("exit", this.#cleanup);
    const flags = ["--pidfile", this.#file("server.pid")];
    if (http || control) flags.push("--ready-file", this.#file("ready.json"));
    if (http) flags.push("--http", address(http));
    if (control) flags.push("--control", address(control));
    if (tools !== undefined) flags.push("--tools", String(tools));
    this.args = [...flags, ...args];
  }

  #file(name) {
    return path.join(this.#dir, name);
  }

  async start() {
    if (!this.#options.http) return;
    const log = fs.openSync(this.#file("stderr.log"), "w");
    try {
      this.#child = spawn(this.command, this.args, { stdio: ["ignore", "ignore", log] });
    } finally {
      fs.closeSync(log);
    }
    this.#exited = new Promise((resolve) => {
      this.#child.once("exit", resolve);
      this.#child.once("error", (error) => {
        this.#spawnError = error;
        resolve(null);
      });
    });
    try {
      await this.#waitPid();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** On stdio, the parameters for the SDK's StdioClientTransport: the client starts the server. */
  get stdioParams() {
    if (this.#options.http) throw new Error("dynamic-mcp-server: an HTTP server has no stdio parameters");
    return { command: this.command, args: this.args };
  }

  /**
   * The PID (on stdio, of the server the client started; throws if none has
   * yet: after connect() in the TypeScript SDK v2's auto mode it may take a
   * moment -- signal(), change() and the rest wait for it).
   */
  get pid() {
    if (this.#child) return this.#child.pid;
    const pid = this.#serverPid();
    if (pid === undefined) throw new Error("dynamic-mcp-server: not started yet (connect the client first)");
    return pid;
  }

  /**
   * The PID in the pidfile, if it is the server to reach. On stdio a client
   * may start the server more than once with the same arguments: the
   * TypeScript SDK v2 in auto mode probes with `server/discover` on a
   * short-lived process first, then starts the one it talks to, and its
   * connect() resolves before that one has written its files. A probe killed
   * before it could remove its files leaves them naming a process that is
   * gone, until the real server replaces them; and a ready file is written
   * before its pidfile, so while the two name different processes, a newer
   * server is half way through starting. Either way: not yet.
   */
  #serverPid() {
    const text = readIfExists(this.#file("server.pid"));
    if (text === undefined) return undefined;
    const pid = Number(text);
    if (!running(pid)) return undefined;
    if (this.#options.http || this.#options.control) {
      const ready = readIfExists(this.#file("ready.json"));
      if (ready === undefined || JSON.parse(ready).pid !== pid) return undefined;
    }
    return pid;
  }

  get mcpUrl() {
    return this.#options.http ? this.#ready().mcp_url : undefined;
  }

  get controlUrl() {
    return this.#options.control ? this.#ready().control_url : undefined;
  }

  /** What an HTTP server logged so far (on stdio, the client has the server's stderr). */
  get stderr() {
    return readIfExists(this.#file("stderr.log")) ?? "";
  }

  #ready() {
    // Written before the pidfile: present whenever the pid is.
    this.pid;
    return JSON.parse(fs.readFileSync(this.#file("ready.json"), "utf8"));
  }

  async #waitPid() {
    const { http, timeoutMs } = this.#options;
    const text = await poll(
      () => {
        if (this.#spawnError) throw new Error(`dynamic-mcp-server: cannot run ${this.command}: ${this.#spawnError.message}`);
        const child = this.#child;
        if (child && (child.exitCode !== null || child.signalCode !== null)) {
          const status = child.exitCode ?? child.signalCode;
          throw new Error(`dynamic-mcp-server exited with status ${status}: ${this.stderr.trim()}`);
        }
        return child ? readIfExists(this.#file("server.pid")) : this.#serverPid();
      },
      timeoutMs,
      () => `no running server wrote its pidfile${http ? "" : " (has the client started it from stdioParams?)"}`,
    );
    return Number(text);
  }

  /** Send `signal` to the server (on stdio, once the client has started it). */
  async signal(signal) {
    process.kill(await this.#waitPid(), signal);
  }

  /** Add the next tool with SIGHUP (no control endpoint needed). */
  addTool() {
    return this.signal("SIGHUP");
  }

  /** Apply one change through the control endpoint; resolves to the new state. */
  async change(change, { name, uri, count } = {}) {
    return this.#control("POST", "/changes", { change, name, uri, count });
  }

  removeTool(name) {
    return this.change("remove_tool", { name });
  }

  changeTool(name) {
    return this.change("change_tool", { name });
  }

  reset() {
    return this.change("reset");
  }

  addPrompt() {
    return this.change("add_prompt");
  }

  removePrompt(name) {
    return this.change("remove_prompt", { name });
  }

  changePrompt(name) {
    return this.change("change_prompt", { name });
  }

  addResource() {
    return this.change("add_resource");
  }

  removeResource(uri) {
    return this.change("remove_resource", { uri });
  }

  updateResource(uri) {
    return this.change("update_resource", { uri });
  }

  state() {
    return this.#control("GET", "/state");
  }

  async report() {
    try {
      return await this.#control("GET", "/report");
    } catch (error) {
      if (error instanceof ControlError && error.status === 404) {
        throw new Error("dynamic-mcp-server: this server has no /report on its control endpoint (a newer release has)");
      }
      throw error;
    }
  }

  /** Grade what this server's clients did so far (GET /verdict): `{ passed, checks, failures }`. */
  async verdict() {
    let answer;
    try {
      answer = await this.#control("GET", "/verdict");
    } catch (error) {
      if (error instanceof ControlError && error.status === 404) {
        throw new Error("dynamic-mcp-server: this server has no /verdict on its control endpoint (a newer release has)");
      }
      throw error;
    }
    const checks = answer.checks ?? [];
    const failed = failures(checks);
    return { passed: answer.passed ?? failed.length === 0, checks, failures: failed };
  }

  async #control(method, route, body) {
    if (!this.#options.control) throw new Error("dynamic-mcp-server: started without control: true");
    await this.#waitPid();
    const response = await fetch(this.controlUrl + route, {
      method,
      headers: { "content-type": "application/json" },
      body: body && JSON.stringify(body),
      signal: AbortSignal.timeout(this.#options.timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) {
      let reason = text;
      try {
        reason = JSON.parse(text).error ?? text;
      } catch {}
      throw new ControlError(response.status, reason);
    }
    return JSON.parse(text);
  }

  /** Stop the server (SIGTERM, SIGKILL if it lingers) and remove its folder; resolves to its exit code. */
  async stop() {
    let code = null;
    process.off("exit", this.#cleanup);
    if (this.#child) {
      const child = this.#child;
      if (child.exitCode === null && child.signalCode === null && !this.#spawnError) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), this.#options.timeoutMs);
      code = await this.#exited;
      clearTimeout(timer);
      this.#child = undefined;
    } else {
      // The client normally stopped it by closing stdin; this is the safety net.
      // Not our child: its pidfile going is the sign that it stopped.
      const pidfile = this.#file("server.pid");
      const pid = this.#serverPid();
      if (pid !== undefined && signalled(pid, "SIGTERM")) {
        const stopped = () => (fs.existsSync(pidfile) ? undefined : true);
        await poll(stopped, this.#options.timeoutMs, () => "the server did not remove its pidfile");
      }
    }
    fs.rmSync(this.#dir, { recursive: true, force: true });
    return code;
  }
}

/** One line per check that fails its scenario (FAILURE or WARNING, the conformance suite's rule). */
function failures(checks, prefix = "") {
  return checks
    .filter((c) => c.status === "FAILURE" || c.status === "WARNING")
    .map((c) => `${prefix}${c.id}: ${c.errorMessage ?? c.description ?? ""}`);
}

/** A command line for `sh -c`: each argument single-quoted. */
const shellJoin = (argv) => argv.map((a) => `'${String(a).replaceAll("'", "'\\''")}'`).join(" ");

/**
 * Run `dynamic-mcp-server check` against a client program (see index.d.ts):
 * resolves to `{ passed, status, table, scenarios, failures, stderr }`.
 */
export async function check(options) {
  const { client, transport = "http", scenarios = [], results, expectedFailures, timeout, binary } = options;
  const folder = results ?? fs.mkdtempSync(path.join(os.tmpdir(), "dynamic-mcp-check-"));
  const args = ["check", "--client", Array.isArray(client) ? shellJoin(client) : client, "--transport", transport];
  args.push("--results", folder);
  for (const name of scenarios) args.push("--scenario", name);
  if (expectedFailures !== undefined) args.push("--expected-failures", expectedFailures);
  if (timeout !== undefined) args.push("--timeout", String(timeout));
  try {
    const child = spawn(binary ?? binaryPath(), args, { stdio: ["ignore", "pipe", "pipe"] });
    let [table, stderr] = ["", ""];
    child.stdout.on("data", (chunk) => (table += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const status = await new Promise((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
    if (status === 2) throw new Error(`dynamic-mcp-server check refused its arguments: ${stderr.trim()}`);
    const found = {};
    for (const name of fs.readdirSync(folder).sort()) {
      const text = readIfExists(path.join(folder, name, "checks.json"));
      if (text !== undefined) found[name] = JSON.parse(text);
    }
    const failed = Object.entries(found).flatMap(([name, checks]) => failures(checks, `${name} `));
    return { passed: status === 0, status, table, scenarios: found, failures: failed, stderr };
  } finally {
    if (results === undefined) fs.rmSync(folder, { recursive: true, force: true });
  }
}

/** Start a dynamic-mcp-server (see index.d.ts for the options). */
export async function startDynamicServer(options = {}) {
  const server = new DynamicServer(options);
  await server.start();
  return server;
}

const SCHEMAS = {
  tools: "ToolListChangedNotificationSchema",
  prompts: "PromptListChangedNotificationSchema",
  resources: "ResourceListChangedNotificationSchema",
};

/** Count `notifications/{kind}/list_changed` on an SDK Client (this sets the client's handler for it). */
export function listChangedCounter(client, kind = "tools") {
  const types = require("@modelcontextprotocol/sdk/types.js");
  let wake = [];
  const counter = {
    count: 0,
    async waitFor(count, timeoutMs = 30_000) {
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${counter.count} of ${count} notifications/${kind}/list_changed after ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      const reached = new Promise((resolve) => {
        const check = () => counter.count >= count && (resolve(counter.count), true);
        if (!check()) wake.push(check);
      });
      try {
        return await Promise.race([reached, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
  client.setNotificationHandler(types[SCHEMAS[kind]], () => {
    counter.count += 1;
    wake = wake.filter((check) => !check());
  });
  return counter;
}
