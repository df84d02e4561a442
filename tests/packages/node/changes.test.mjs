// Changes through the control endpoint, as a client's test suite drives them
// with startDynamicServer(): a removal (the client must stop calling the
// tool) and a rug pull (the client must refresh a schema under the same
// name), prompts and resources, and a refused change.

import assert from "node:assert/strict";
import { test } from "node:test";

import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { ControlError, listChangedCounter } from "dynamic-mcp-server";

import { connect } from "./connect.mjs";

const toolNames = (state) => state.tools.items.map((item) => item.name);

test("a removed tool is gone and its number is not reused", async (t) => {
  const { server, client, changes, names } = await connect(t, { tools: 4 });
  assert.deepEqual(toolNames(await server.removeTool()), ["echo", "calculator", "counter"]);
  assert.equal(await changes.waitFor(1), 1);
  assert.deepEqual(await names(), ["echo", "calculator", "counter"]);
  // A call to a tool that is gone: -32602 naming it (MCP tools spec: unknown tool).
  await assert.rejects(
    client.callTool({ name: "echo4", arguments: { message: "hi" } }),
    (error) => error instanceof McpError && error.code === -32602 && error.message.includes("echo4"),
  );
  await server.addTool();
  assert.equal(await changes.waitFor(2), 2);
  assert.deepEqual(await names(), ["echo", "calculator", "counter", "echo5"]);
});

test("a rug pull keeps the name and fails a call with the stale schema", async (t) => {
  const { server, client, changes, result } = await connect(t, { tools: 4 });
  const before = (await client.listTools()).tools;
  await server.changeTool("echo4");
  assert.equal(await changes.waitFor(1), 1);
  const after = (await client.listTools()).tools;
  assert.deepEqual(after.map((tool) => tool.name), before.map((tool) => tool.name));
  assert.match(after[3].description, /\(revision 2\)$/);
  assert.deepEqual(after[3].inputSchema.required, ["message", "revision"]);
  // The call a client makes with the schema it cached before the change.
  const stale = await client.callTool({ name: "echo4", arguments: { message: "hi" } });
  assert.equal(stale.isError, true);
  assert.match(stale.content[0].text, /revision/);
  assert.deepEqual(await result("echo4", { message: "hi", revision: 2 }), { echo_message: "hi", tool_number: 4 });
});

test("prompt and resource changes notify their own list", async (t) => {
  const { server, client } = await connect(t, { args: ["--prompts", "1", "--resources", "1"] });
  const prompts = listChangedCounter(client, "prompts");
  const resources = listChangedCounter(client, "resources");
  await server.addPrompt();
  assert.equal(await prompts.waitFor(1), 1);
  assert.deepEqual((await client.listPrompts()).prompts.map((prompt) => prompt.name), ["prompt1", "prompt2"]);
  const state = await server.addResource();
  assert.equal(state.resources.items.at(-1).uri, "dynamic://resources/2");
  assert.equal(await resources.waitFor(1), 1);
  assert.equal((await client.listResources()).resources.length, 2);
  assert.deepEqual([prompts.count, resources.count], [1, 1]);
});

test("count applies that many changes, and state shows them", async (t) => {
  const { server, changes, names } = await connect(t);
  const state = await server.change("add_tool", { count: 5 });
  assert.equal(state.applied, 5);
  assert.equal(toolNames(state).length, 6);
  await changes.waitFor(1);
  assert.equal((await names()).length, 6);
  assert.deepEqual(toolNames(await server.state()), toolNames(state));
  assert.deepEqual((await server.reset()).tools.items, [{ name: "echo", revision: 1 }]);
});

test("a refused change rejects with the server's reason", async (t) => {
  const { server } = await connect(t);
  await assert.rejects(server.removeTool("nope"), (error) => error instanceof ControlError && error.status === 404);
  await assert.rejects(server.addPrompt(), (error) => error instanceof ControlError && error.status === 409);
  // Refused changes change nothing, so the client report shows none.
  const report = await server.report();
  assert.deepEqual(report.changes, []);
  assert.ok(Array.isArray(report.sessions), JSON.stringify(report));
});
