// The TypeScript SDK v2 client (`@modelcontextprotocol/client`, pinned in
// package-lock.json) against the server, in both eras it speaks -- legacy
// (the 2025-11-25 handshake, its default) and auto mode (a `server/discover`
// probe, then 2026-07-28 with `subscriptions/listen`) -- over stdio and
// Streamable HTTP: an added tool, a changed one (rug pull) and a removed one,
// each seen through the report; the `listChanged` auto-refresh over pages;
// listing every page; and what the client itself does with a repeated
// cursor, pinned so that an upgrade that changes it fails here.

import assert from "node:assert/strict";
import { after, test } from "node:test";

import { ProtocolError } from "@modelcontextprotocol/client";

import { alive, bounded, expectedNames, killAll, polled, startServer, until } from "./harness.mjs";

after(killAll);

const COMBINATIONS = [
  ["stdio", "legacy", "2025-11-25"],
  ["stdio", "auto", "2026-07-28"],
  ["http", "legacy", "2025-11-25"],
  ["http", "auto", "2026-07-28"],
];

/** On 2026-07-28 list_changed comes only on a listen stream: open one. */
async function listening(server, mode) {
  if (mode !== "auto") return null;
  const subscription = await bounded("listen", server.client.listen({ toolsListChanged: true }));
  assert.equal(subscription.honoredFilter.toolsListChanged, true);
  return subscription;
}

function isUnknownTool(name) {
  return (error) => {
    assert.ok(error instanceof ProtocolError, String(error));
    assert.equal(error.code, -32602);
    assert.match(error.message, new RegExp(name));
    return true;
  };
}

for (const [transport, mode, protocol] of COMBINATIONS) {
  const where = `${transport}, ${mode}`;

  test(`${where}: negotiates ${protocol}; an add, a rug pull and a removal, each notified and re-listed`, async () => {
    const server = await startServer(["--tools", "3"], { transport, mode });
    assert.equal(server.client.getNegotiatedProtocolVersion(), protocol);
    assert.equal(server.client.getServerCapabilities().tools.listChanged, true);
    const subscription = await listening(server, mode);
    assert.deepEqual(await server.toolNames(), expectedNames(3));

    // Added by SIGHUP.
    server.signal();
    assert.equal(await server.counter.waitFor(1), 1);
    assert.deepEqual(await server.toolNames(), expectedNames(4));
    assert.deepEqual(await server.callOk("echo4", { message: "four" }), { echo_message: "four", tool_number: 4 });

    // Rug pull through the control endpoint: same names, echo4 now requires revision 2.
    await server.change("change_tool");
    assert.equal(await server.counter.waitFor(2), 2);
    const tools = await server.tools();
    assert.deepEqual(tools.map((t) => t.name), expectedNames(4));
    assert.equal(tools[3].inputSchema.properties.revision.const, 2);
    // The client does not check arguments against the schema it holds: the
    // stale call reaches the server, which refuses it as a tool error.
    assert.match(await server.callError("echo4", { message: "stale" }), /revision/);
    assert.deepEqual(await server.callOk("echo4", { message: "hi", revision: 2 }), { echo_message: "hi", tool_number: 4 });

    // Removed by SIGUSR1: a call to it is invalid params naming it.
    server.signal("SIGUSR1");
    assert.equal(await server.counter.waitFor(3), 3);
    assert.deepEqual(await server.toolNames(), expectedNames(3));
    await assert.rejects(server.call("echo4", { message: "gone", revision: 2 }), isUnknownTool("echo4"));
    assert.equal(server.counter.count, 3);

    // The report: each change notified, then re-listed; both calls after a
    // change that the client was told of but did not heed are recorded.
    const { notified, served } = await server.sessions();
    assert.equal(notified.protocol, protocol);
    assert.deepEqual(
      notified.changes.map((c) => [c.version, c.notified_ms !== null, c.not_notified]),
      [[2, true, null], [3, true, null], [4, true, null]],
    );
    assert.equal(notified.summary.seen, 3);
    assert.deepEqual(served.changes.map((c) => [c.version, c.refreshed]), [[2, true], [3, true], [4, true]]);
    assert.equal(served.summary.refreshed, 3);
    assert.equal(served.summary.stale_calls, 2);
    assert.deepEqual(
      served.stale_calls.map((c) => [c.tool, c.reason]),
      [["echo4", "stale revision"], ["echo4", "unknown tool"]],
    );
    await subscription?.close();
    await server.close();
  });

  test(`${where}: listTools() walks every page, in order, whatever the cursors look like`, async () => {
    for (const style of ["normal", "empty-once"]) {
      const server = await startServer(
        ["--tools", "7", "--prompts", "7", "--resources", "7", "--page-size", "2", "--cursor-style", style],
        { transport, mode },
      );
      assert.deepEqual(await server.toolNames(), expectedNames(7), style);
      const { prompts } = await bounded("prompts/list", server.client.listPrompts());
      assert.deepEqual(prompts.map((p) => p.name), Array.from({ length: 7 }, (_, i) => `prompt${i + 1}`));
      const { resources } = await bounded("resources/list", server.client.listResources());
      assert.deepEqual(resources.map((r) => r.uri), Array.from({ length: 7 }, (_, i) => `dynamic://resources/${i + 1}`));
      // One page at a time, when asked with a cursor.
      const first = await bounded("page 1", server.client.listTools({ cursor: undefined }));
      assert.equal(first.tools.length, 7, "no cursor: the whole list");
      const { served } = await server.sessions();
      assert.equal(served.requests["tools/list"], 8, style);
      assert.deepEqual(served.refused_cursors, []);
      await server.close();
    }
  });

  test(`${where}: a repeated cursor's page is kept twice (SDK defect, pinned)`, async () => {
    // --cursor-style repeat-once answers each cursor first with itself as
    // nextCursor. The SDK ends a walk only when a page repeats both items and
    // cursor, so it asks again (right), gets the next cursor, and keeps the
    // repeated page's items twice (wrong): 8 tools where the server has 5.
    const server = await startServer(["--tools", "5", "--page-size", "2", "--cursor-style", "repeat-once"], {
      transport,
      mode,
    });
    const names = await server.toolNames();
    assert.deepEqual(names, ["echo", "calculator", "counter", "echo4", "counter", "echo4", "echo5", "echo5"]);
    assert.equal(new Set(names).size, 5, "every tool is there");
    const { served } = await server.sessions();
    assert.equal(served.requests["tools/list"], 5);
    assert.deepEqual(served.cursor_loops, [], "each cursor asked at most twice");
    await server.close();
  });

  test(`${where}: the listChanged option refreshes every page of the list`, async () => {
    // SDK 1.32.2 refreshes page 1 only (../node/sdk.test.mjs); v2 walks them all.
    const refreshed = [];
    let wake = () => {};
    const server = await startServer(["--tools", "3", "--page-size", "2"], {
      transport,
      mode,
      countWithHandler: false,
      clientOptions: {
        listChanged: {
          tools: {
            autoRefresh: true,
            onChanged: (error, tools) => {
              refreshed.push(error ?? tools.map((t) => t.name));
              wake();
            },
          },
        },
      },
    });
    // On 2026-07-28 the option opens a listen stream itself, acknowledged
    // before connect() resolves.
    assert.equal(server.client.autoOpenedSubscription !== undefined, mode === "auto");
    const refreshes = (n) =>
      until(`${n} refreshed tool lists`, () => refreshed.length >= n, (check) => {
        wake = check;
      });
    // The report credits a change to a session that was open before it: one
    // listing first (on 2026-07-28 over HTTP credited to the listen stream
    // the option opened), seen in the report before the change is made.
    assert.deepEqual(await server.toolNames(), expectedNames(3));
    await server.waitSessions("the listing in the report", ({ served }) => served?.requests["tools/list"] === 2);
    server.signal();
    await refreshes(1);
    assert.deepEqual(refreshed[0], expectedNames(4), "all pages of echo, calculator, counter, echo4");
    const { served } = await server.waitSessions("the refresh in the report", ({ served }) => served.requests["tools/list"] === 4);
    const [change] = served.changes;
    assert.ok(change, JSON.stringify(await server.report()));
    assert.deepEqual([change.pages_fetched, change.pages_total, change.refreshed], [2, 2, true]);
    await server.close();
  });
}

test("http, auto: re-lists after two changes are credited to the client's listen stream (issue 20)", async () => {
  // Its re-lists are stateless requests; their `_meta` names the client,
  // whose one live listen stream the report credits with them.
  const server = await startServer(["--tools", "3"], { transport: "http", mode: "auto" });
  const subscription = await listening(server, "auto");
  for (const n of [1, 2]) {
    server.signal();
    assert.equal(await server.counter.waitFor(n), n);
    assert.deepEqual(await server.toolNames(), expectedNames(3 + n));
  }
  const { sessions } = await server.report();
  const listen = sessions.filter((s) => s.client?.name === "dms-interop-v2");
  assert.equal(listen.length, 1, JSON.stringify(sessions));
  assert.equal(listen[0].protocol, "2026-07-28");
  assert.deepEqual(
    [listen[0].summary.refreshed, listen[0].summary.missed],
    [2, 0],
    JSON.stringify(sessions),
  );
  assert.equal(listen[0].requests["tools/list"], 2, JSON.stringify(sessions));
  assert.ok(!sessions.some((s) => s.id === "stateless"), JSON.stringify(sessions));
  await subscription.close();
  await server.close();
});

test("stdio, auto: the listen stream ends gracefully when the server stops", async () => {
  const server = await startServer([], { transport: "stdio", mode: "auto" });
  const subscription = await listening(server, "auto");
  server.signal();
  assert.equal(await server.counter.waitFor(1), 1);
  server.signal("SIGTERM");
  assert.equal(await bounded("the stream to end", subscription.closed), "graceful");
  await polled("the server to exit", () => !alive(server.pid));
  await server.close();
});

test("http, legacy: closing the client ends its session (DELETE) and the report says so", async () => {
  const server = await startServer([], { transport: "http", mode: "legacy" });
  await server.toolNames();
  await bounded("terminateSession", server.transport.terminateSession());
  const { served } = await server.sessions();
  assert.notEqual(served.closed_ms, null, "the DELETE closed the session");
  await server.close();
});
