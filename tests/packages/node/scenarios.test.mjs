// The core client scenarios (1 to 6) written as a client's own test suite
// would write them with this package: a server from startDynamicServer(), the
// official TypeScript SDK's Client over stdio, and listChangedCounter(). Every wait is bounded (waitFor's timeout, the SDK's
// request timeout); nothing sleeps and then asserts.

import assert from "node:assert/strict";
import { test } from "node:test";

import { connect } from "./connect.mjs";

test("1: one tool by default", async (t) => {
  const { names, result } = await connect(t);
  assert.deepEqual(await names(), ["echo"]);
  assert.deepEqual(await result("echo", { message: "hello" }), { echo_message: "hello" });
});

test("2: three tools", async (t) => {
  const { names, result } = await connect(t, { tools: 3 });
  assert.deepEqual(await names(), ["echo", "calculator", "counter"]);
  assert.deepEqual(await result("calculator", { a: 5, b: 7, operation: "add" }), { result: 12 });
  assert.deepEqual(await result("counter"), { count: 3 });
});

test("3: one SIGHUP adds the calculator", async (t) => {
  const { server, changes, names, result } = await connect(t);
  await server.addTool();
  assert.equal(await changes.waitFor(1), 1);
  assert.deepEqual(await names(), ["echo", "calculator"]);
  assert.deepEqual(await result("calculator", { a: 10, b: 5, operation: "multiply" }), { result: 50 });
});

test("4: notifications are counted exactly", async (t) => {
  const { server, changes, names } = await connect(t);
  // A round trip after initialize: anything sent before it has arrived.
  assert.deepEqual(await names(), ["echo"]);
  assert.equal(changes.count, 0);
  for (const [n, tool] of [[1, "calculator"], [2, "counter"]]) {
    await server.addTool();
    assert.equal(await changes.waitFor(n), n);
    assert.equal((await names()).at(-1), tool);
    assert.equal(changes.count, n);
  }
});

test("5: from two tools, two SIGHUPs reach echo4", async (t) => {
  const { server, changes, result } = await connect(t, { tools: 2 });
  await server.addTool();
  await changes.waitFor(1);
  assert.deepEqual(await result("counter"), { count: 3 });
  await server.addTool();
  await changes.waitFor(2);
  assert.deepEqual(await result("echo4", { message: "four" }), { echo_message: "four", tool_number: 4 });
});

test("6: three SIGHUPs add tools in order", async (t) => {
  const { server, changes, names } = await connect(t);
  const expected = ["echo", "calculator", "counter", "echo4"];
  for (const n of [1, 2, 3]) {
    await server.addTool();
    assert.equal(await changes.waitFor(n), n);
    assert.deepEqual(await names(), expected.slice(0, n + 1));
  }
});
