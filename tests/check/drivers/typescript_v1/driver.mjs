// The check client (docs/check.md) on the TypeScript SDK 1.x
// (`@modelcontextprotocol/sdk` 1.32.2), as its users write an application: a
// `Client` with the `listChanged` option (`autoRefresh`, its default, with its
// default 300 ms debounce) whose `onChanged` gets the refreshed list, and a
// `resources/updated` notification handler. 1.x has no pagination helper for
// the first listing: `Application.listAll` follows `nextCursor` over
// `listPage`. Its refresh reads page 1 only: `Client._setupListChangedHandlers`
// (dist/esm/client/index.js) fetches with `this.listTools()` and no cursor,
// and hands that page to `onChanged` (see docs/check.md). A 404 is a
// `StreamableHTTPError` with code 404: the application starts a new session.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError, ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

import * as contract from "../contract.mjs";

const LIST = { tools: "listTools", prompts: "listPrompts", resources: "listResources" };

class App extends contract.Application {
  async connect() {
    this.client = new Client(
      { name: "dms-check-typescript-v1", version: "1.0.0" },
      { listChanged: Object.fromEntries(contract.lists.map((kind) => [kind, { onChanged: this.refreshed(kind) }])) },
    );
    this.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => this.resourceUpdated(n.params.uri));
    this.transport = contract.stdio
      ? new StdioClientTransport({ command: contract.command[0], args: contract.command.slice(1), stderr: "inherit" })
      : new StreamableHTTPClientTransport(new URL(contract.url));
    await this.client.connect(this.transport);
    for (const uri of contract.subscribe) await this.client.subscribeResource({ uri });
  }

  async listPage(kind, cursor) {
    const page = await this.client[LIST[kind]](cursor === undefined ? undefined : { cursor });
    return { items: page[kind], nextCursor: page.nextCursor };
  }

  call(tool, args) {
    return this.client.callTool({ name: tool, arguments: args });
  }

  read(uri) {
    return this.client.readResource({ uri });
  }

  async close() {
    await this.transport.terminateSession?.().catch(() => {});
    await this.client.close();
  }

  refused(error) {
    return error instanceof McpError && error.code === -32602;
  }

  gone(error) {
    return error instanceof StreamableHTTPError && error.code === 404;
  }
}

await new App().run();
