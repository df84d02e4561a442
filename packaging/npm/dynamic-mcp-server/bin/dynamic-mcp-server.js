#!/usr/bin/env node
// The `dynamic-mcp-server` command: runs the platform package's binary with
// this process's stdio, passes on the signals that stop it or add a tool, and
// exits as it exits. (Signals sent to the pid in the pidfile reach the binary
// itself: it writes its own PID.)
import { spawn } from "node:child_process";

import { binaryPath } from "../index.js";

const child = spawn(binaryPath(), process.argv.slice(2), { stdio: "inherit" });
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("error", (error) => {
  console.error(`dynamic-mcp-server: ${error.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (!signal) process.exit(code ?? 1);
  // Die of the same signal, as a shell would report it.
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
});
