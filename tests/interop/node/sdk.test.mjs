// The core scenarios (1 to 10) as the TypeScript SDK sees them, plus 1000
// tools, every page of a paged server, the SDK's own `listChanged` option
// with autoRefresh, and a removed and a changed tool ("rug pull"), each made
// by a signal and through the control endpoint.

import assert from "node:assert/strict";
import { test } from "node:test";

import { McpError } from "@modelcontextprotocol/sdk/types.js";

import { bounded, expectedNames, startServer, toolcountFile, until } from "./harness.mjs";

test("1: no toolcount file serves only echo", async () => {
  const server = await startServer();
  assert.deepEqual(await server.toolNames(), ["echo"]);
  assert.deepEqual(await server.callOk("echo", { message: "hello" }), { echo_message: "hello" });
  await server.close();
});

test("2: toolcount 3", async () => {
  const server = await startServer(["--toolcount-file", toolcountFile("3\n")]);
  assert.deepEqual(await server.toolNames(), ["echo", "calculator", "counter"]);
  assert.deepEqual(await server.callOk("calculator", { a: 5, b: 7, operation: "add" }), { result: 12 });
  assert.deepEqual(await server.callOk("counter"), { count: 3 });
  await server.close();
});

test("3: one SIGHUP adds the calculator", async () => {
  const server = await startServer();
  server.signal();
  assert.equal(await server.counter.waitFor(1), 1);
  assert.deepEqual(await server.toolNames(), ["echo", "calculator"]);
  assert.deepEqual(await server.callOk("calculator", { a: 10, b: 5, operation: "add" }), { result: 15 });
  assert.deepEqual(await server.callOk("calculator", { a: 10, b: 5, operation: "multiply" }), { result: 50 });
  await server.close();
});

test("4: notifications are counted exactly", async () => {
  const server = await startServer();
  // A round trip after initialize: anything sent before it has arrived.
  assert.deepEqual(await server.toolNames(), ["echo"]);
  assert.equal(server.counter.count, 0);
  server.signal();
  assert.equal(await server.counter.waitFor(1), 1);
  assert.deepEqual(await server.toolNames(), ["echo", "calculator"]);
  assert.equal(server.counter.count, 1);
  server.signal();
  assert.equal(await server.counter.waitFor(2), 2);
  assert.ok((await server.toolNames()).includes("counter"));
  assert.equal(server.counter.count, 2);
  await server.close();
});

test("5: from two tools, two SIGHUPs reach echo4", async () => {
  const server = await startServer(["--toolcount-file", toolcountFile("2")]);
  server.signal();
  await server.counter.waitFor(1);
  assert.deepEqual(await server.callOk("counter"), { count: 3 });
  server.signal();
  await server.counter.waitFor(2);
  assert.deepEqual(await server.callOk("echo4", { message: "four" }), { echo_message: "four", tool_number: 4 });
  await server.close();
});

test("6: three SIGHUPs add tools in order", async () => {
  const server = await startServer();
  for (const [n, tool] of [[1, "calculator"], [2, "counter"], [3, "echo4"]]) {
    server.signal();
    assert.equal(await server.counter.waitFor(n), n);
    const names = await server.toolNames();
    assert.equal(names.at(-1), tool);
    assert.deepEqual(names, expectedNames(n + 1));
  }
  await server.close();
});

test("7: a SIGHUP before initialize is notified after it", async () => {
  const server = await startServer([], { connect: false });
  await bounded("spawn", server.transport.start());
  await server.waitPid();
  server.signal();
  await server.waitStderr("tool added");
  assert.ok(server.alive(), "a SIGHUP before initialize is not fatal");
  // connect() starts the transport itself: it already is.
  server.transport.start = async () => {};
  await bounded("initialize", server.client.connect(server.transport));
  assert.equal(await server.counter.waitFor(1), 1);
  assert.deepEqual(await server.toolNames(), ["echo", "calculator"]);
  assert.equal(server.counter.count, 1);
  await server.close();
});

test("8: a hundred paced SIGHUPs give a hundred tools", async () => {
  const server = await startServer();
  for (let n = 1; n <= 100; n++) {
    server.signal();
    assert.equal(await server.counter.waitFor(n), n);
  }
  assert.deepEqual(await server.toolNames(), expectedNames(101));
  assert.deepEqual(await server.callOk("echo101", { message: "last" }), { echo_message: "last", tool_number: 101 });
  assert.deepEqual(await server.callOk("counter"), { count: 101 });
  assert.equal(server.counter.count, 100);
  await server.close();
});

test("9: a burst of ten thousand SIGHUPs stays consistent", async () => {
  // Only a bound on waiting for nothing, not a measured duration.
  const quietMs = 1000;
  const burst = 10_000;
  const server = await startServer(["--tools", "3"]);
  for (let i = 0; i < burst; i++) server.signal();
  await server.waitSignalsDelivered();
  await server.counter.waitFor(1);
  let names;
  for (;;) {
    const seen = server.counter.count;
    names = await server.toolNames();
    assert.deepEqual(names, expectedNames(names.length), "names stay contiguous");
    if (!(await server.counter.anotherWithin(seen, quietMs))) break;
  }
  const tools = names.length;
  assert.equal((await server.toolNames()).length, tools, "a change was not notified");
  assert.deepEqual(await server.callOk("counter"), { count: tools });
  assert.ok(server.alive());
  const added = tools - 3;
  assert.ok(added >= 1 && added <= burst, `${added} tools added`);
  assert.ok(server.counter.count >= 1 && server.counter.count <= added);
  console.log(`burst of ${burst} SIGHUPs: ${added} tools added, ${server.counter.count} notifications`);
  await server.close();
});

test("10: bad calls are answered and the next is served", async () => {
  const server = await startServer(["--tools", "3"]);
  await assert.rejects(server.call("nope", {}), (error) => {
    assert.ok(error instanceof McpError);
    assert.equal(error.code, -32602);
    assert.match(error.message, /nope/);
    return true;
  });
  const calc = (over) => ({ a: 1, b: 2, operation: "add", ...over });
  const cases = [
    ["echo", {}, "message"],
    ["echo", { message: 42 }, "message"],
    ["calculator", { a: 1, operation: "add" }, "b"],
    ["calculator", calc({ a: "1" }), "'a'"],
    ["calculator", calc({ b: 0, operation: "divide" }), "Cannot divide by zero"],
    ["calculator", calc({ operation: "power" }), "Unknown operation: power"],
    ["calculator", calc({ a: Number.MAX_SAFE_INTEGER, b: Number.MAX_SAFE_INTEGER, operation: "multiply" }), "overflow"],
  ];
  for (const [name, args, expected] of cases) {
    const message = await server.callError(name, args);
    assert.ok(message.includes(expected), `${name} ${JSON.stringify(args)}: ${message}`);
  }
  assert.equal(await server.callError("calculator", calc({ b: 0, operation: "divide" })), "Cannot divide by zero");
  assert.deepEqual(await server.callOk("calculator", { a: 10, b: 4, operation: "divide" }), { result: 2.5 });
  assert.deepEqual(await server.callOk("echo", { message: "still here" }), { echo_message: "still here" });
  assert.ok(server.alive());
  await server.close();
});

test("a thousand tools", async () => {
  const server = await startServer(["--toolcount-file", toolcountFile("1000\n")]);
  assert.deepEqual(await server.toolNames(), expectedNames(1000));
  assert.deepEqual(await server.callOk("echo1000", { message: "m" }), { echo_message: "m", tool_number: 1000 });
  server.signal();
  await server.counter.waitFor(1);
  assert.equal((await server.toolNames()).at(-1), "echo1001");
  await server.close();
});

test("pagination: the SDK lists every page of a paged server, in order", async () => {
  // nextCursor "" (empty-once) is a cursor like any other: it must not end the listing.
  for (const style of ["normal", "empty-once"]) {
    const server = await startServer([
      "--tools", "7", "--prompts", "7", "--resources", "7", "--page-size", "2", "--cursor-style", style,
    ]);
    const walk = async (list, items, name) => {
      const pages = [];
      let cursor;
      do {
        const page = await bounded(`${list} page`, server.client[list](cursor === undefined ? {} : { cursor }));
        pages.push(page[items].map(name));
        assert.ok(pages.length <= 100, "a listing that never ends");
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      return pages;
    };
    const tools = await walk("listTools", "tools", (t) => t.name);
    assert.deepEqual(tools.map((p) => p.length), [2, 2, 2, 1], style);
    assert.deepEqual(tools.flat(), expectedNames(7), style);
    const prompts = await walk("listPrompts", "prompts", (p) => p.name);
    assert.deepEqual(prompts.flat(), Array.from({ length: 7 }, (_, i) => `prompt${i + 1}`));
    const resources = await walk("listResources", "resources", (r) => r.uri);
    assert.deepEqual(resources.flat(), Array.from({ length: 7 }, (_, i) => `dynamic://resources/${i + 1}`));
    await server.close();
  }
});

test("pagination: the listChanged option refreshes only the first page (SDK 1.32.2)", async () => {
  // Its refresh calls listTools() once and ignores nextCursor: with pages, the
  // list it hands to onChanged is page 1 alone. docs/interop.md says so (v2
  // walks every page: ../node_v2/client.test.mjs); when 1.x follows the
  // cursor, this fails and docs/interop.md needs updating.
  const refreshed = [];
  let wake = () => {};
  const server = await startServer(["--tools", "3", "--page-size", "2"], {
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
  server.signal();
  await until("a refreshed tool list", () => refreshed.length >= 1, (check) => {
    wake = check;
  });
  assert.deepEqual(refreshed[0], ["echo", "calculator"], "page 1 of echo, calculator, counter, echo4");
  await server.close();
});

test("the listChanged option refreshes the tool list itself", async () => {
  const refreshed = [];
  let wake = () => {};
  const server = await startServer([], {
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
  const refreshes = (n) =>
    until(`${n} refreshed tool lists`, () => refreshed.length >= n, (check) => {
      wake = check;
    });
  server.signal();
  await refreshes(1);
  assert.deepEqual(refreshed[0], ["echo", "calculator"]);
  // One SIGHUP at a time: the SDK debounces (300 ms by default), so changes
  // closer together than that arrive as one refresh.
  server.signal();
  await refreshes(2);
  assert.deepEqual(refreshed[1], ["echo", "calculator", "counter"]);
  assert.deepEqual(await server.callOk("counter"), { count: 3 });
  await server.close();
});

// Each change made both ways: a signal to the PID from the pidfile, or a POST
// to the control endpoint from the ready file.
const SIGNAL_FOR = { remove_tool: "SIGUSR1", change_tool: "SIGUSR2" };
async function makeChange(server, trigger, change) {
  if (trigger === "signal") server.signal(SIGNAL_FOR[change]);
  else await server.change(change);
}

for (const trigger of ["signal", "control"]) {
  test(`a removed tool is gone and a call to it is invalid params (${trigger})`, async () => {
    const server = await startServer(["--tools", "4"], { control: trigger === "control" });
    assert.deepEqual(await server.toolNames(), expectedNames(4));
    assert.deepEqual(await server.callOk("echo4", { message: "four" }), { echo_message: "four", tool_number: 4 });

    await makeChange(server, trigger, "remove_tool");
    assert.equal(await server.counter.waitFor(1), 1);
    assert.deepEqual(await server.toolNames(), expectedNames(3));
    assert.equal(server.counter.count, 1);
    // A call from the list cached before the change: -32602 naming the tool
    // (the MCP tools spec's error for an unknown tool).
    await assert.rejects(server.call("echo4", { message: "four" }), (error) => {
      assert.ok(error instanceof McpError);
      assert.equal(error.code, -32602);
      assert.match(error.message, /echo4/);
      return true;
    });

    // Numbers are never reused: the next addition is echo5.
    server.signal();
    assert.equal(await server.counter.waitFor(2), 2);
    assert.deepEqual(await server.toolNames(), ["echo", "calculator", "counter", "echo5"]);
    assert.deepEqual(await server.callOk("counter"), { count: 4 });
    await server.close();
  });

  test(`a changed tool refuses the stale schema (${trigger})`, async () => {
    const server = await startServer(["--tools", "4"], { control: trigger === "control" });
    const before = await server.tools();
    assert.deepEqual(await server.callOk("echo4", { message: "hi" }), { echo_message: "hi", tool_number: 4 });

    await makeChange(server, trigger, "change_tool");
    assert.equal(await server.counter.waitFor(1), 1);
    const after = await server.tools();
    assert.equal(server.counter.count, 1);
    // A rug pull: the same names, only echo4's definition changed.
    assert.deepEqual(after.map((t) => t.name), expectedNames(4));
    assert.deepEqual(before.map((t) => t.name), expectedNames(4));
    assert.deepEqual(after.slice(0, 3), before.slice(0, 3));
    const [old, now] = [before[3], after[3]];
    assert.notEqual(now.description, old.description);
    assert.ok(now.description.endsWith(" (revision 2)"), now.description);
    assert.equal(old.inputSchema.properties.revision, undefined);
    assert.equal(now.inputSchema.properties.revision.type, "integer");
    assert.equal(now.inputSchema.properties.revision.const, 2);
    assert.deepEqual(now.inputSchema.required, ["message", "revision"]);

    // The arguments that fit the cached schema: a tool error naming `revision`.
    assert.match(await server.callError("echo4", { message: "hi" }), /revision/);
    assert.match(await server.callError("echo4", { message: "hi", revision: 1 }), /revision 2/);
    assert.deepEqual(await server.callOk("echo4", { message: "hi", revision: 2 }), {
      echo_message: "hi",
      tool_number: 4,
    });
    assert.ok(server.alive());
    await server.close();
  });
}

for (const sig of ["SIGTERM", "SIGINT"]) {
  test(`${sig} stops the server cleanly`, async () => {
    const server = await startServer();
    server.signal(sig);
    await until(
      "the server to exit",
      () => !server.alive(),
      (check) => {
        const timer = setInterval(() => check() && clearInterval(timer), 5);
      },
    );
    await server.close();
  });
}
