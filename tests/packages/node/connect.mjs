// What the package tests share: a server from startDynamicServer() and the
// official TypeScript SDK's Client connected to it over stdio, both stopped
// after the test, with a list_changed counter and result helpers.

import assert from "node:assert/strict";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { listChangedCounter, startDynamicServer } from "dynamic-mcp-server";

/** A server and a client connected to it over stdio, both stopped after the test. */
export async function connect(t, options = {}) {
  // Warnings and errors only: the info lines would fill the test report.
  const server = await startDynamicServer({ ...options, args: ["--log-level", "warn", ...(options.args ?? [])] });
  const client = new Client({ name: "package-tests", version: "1.0.0" });
  const changes = listChangedCounter(client);
  await client.connect(new StdioClientTransport(server.stdioParams));
  t.after(async () => {
    await client.close();
    await server.stop();
  });
  const names = async () => (await client.listTools()).tools.map((tool) => tool.name);
  const result = async (name, args = {}) => {
    const answer = await client.callTool({ name, arguments: args });
    assert.notEqual(answer.isError, true, JSON.stringify(answer));
    assert.deepEqual(JSON.parse(answer.content[0].text), answer.structuredContent);
    return answer.structuredContent;
  };
  return { server, client, changes, names, result };
}
