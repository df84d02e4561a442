// The helper under the TypeScript SDK v2 client in auto mode on stdio. That
// client probes with `server/discover` on a short-lived process started
// with the same arguments (pidfile included), then starts the server it
// talks to, and connect() resolves before that one has written its files.
// Every change must still reach the server the client is connected to --
// the PID its transport reports -- even when the probe, killed before it
// could clean up, left its pidfile and ready file behind.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { startDynamicServer } from "dynamic-mcp-server";

/** The PID of a process that has exited: what a killed probe leaves in its files. */
function deadPid() {
  const { pid, status } = spawnSync(process.execPath, ["-e", ""]);
  assert.equal(status, 0);
  return pid;
}

async function autoModeClient(t, server) {
  const client = new Client({ name: "package-tests-v2", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  let changed = 0;
  let wake = () => {};
  client.setNotificationHandler("notifications/tools/list_changed", () => {
    changed += 1;
    wake();
  });
  const transport = new StdioClientTransport(server.stdioParams);
  await client.connect(transport);
  t.after(async () => {
    await client.close();
    await server.stop();
  });
  const notified = (n) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${changed} of ${n} list_changed`)), 30_000);
      wake = () => changed >= n && (clearTimeout(timer), resolve());
      wake();
    });
  return { client, transport, notified };
}

for (const leftover of [false, true]) {
  test(`TS SDK v2 auto mode on stdio: changes reach the connected server${leftover ? " (a killed probe's files left behind)" : ""}`, async (t) => {
    // Warnings and errors only: the info lines would fill the test report.
    const server = await startDynamicServer({ args: ["--log-level", "warn"] });
    if (leftover) {
      const pid = deadPid();
      const file = (flag) => server.args[server.args.indexOf(flag) + 1];
      fs.writeFileSync(file("--ready-file"), JSON.stringify({ control_url: "http://127.0.0.1:9", mcp_url: null, pid }));
      fs.writeFileSync(file("--pidfile"), String(pid));
      // Files that name a process that is gone name no server.
      assert.throws(() => server.pid, /not started yet/);
    }
    const { client, transport, notified } = await autoModeClient(t, server);
    // At once, as a test does: the server may not have written its files yet.
    await server.addTool(); // SIGHUP
    assert.equal(server.pid, transport.pid, "the helper's PID is the connected server's");
    assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
    const names = async () => (await client.listTools()).tools.map((tool) => tool.name);
    // A signal is applied after kill() returns; with no listen stream yet
    // nothing says when: list until it shows (bounded by the test's timeout).
    while ((await names()).length < 2) await sleep(5);
    assert.deepEqual(await names(), ["echo", "calculator"]);
    // On 2026-07-28 list_changed comes on a listen stream.
    await client.listen({ toolsListChanged: true });
    await server.addTool();
    await notified(1);
    assert.deepEqual(await names(), ["echo", "calculator", "counter"]);
    await server.changeTool("counter");
    await notified(2);
    const [session] = (await server.report()).sessions;
    assert.equal(session.protocol, "2026-07-28");
    assert.equal(session.notifications.change, 2, JSON.stringify(session));
  });
}
