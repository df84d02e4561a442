// The check client (docs/check.md) on the TypeScript SDK v2 client
// (`@modelcontextprotocol/client` 2.4.0), as its users write an application:
// a `Client` in `versionNegotiation` mode `legacy` (2025-11-25) or `auto`
// (2026-07-28, where the `listChanged` option opens a listen stream itself),
// the `listChanged` option (`autoRefresh`, 300 ms debounce) whose refresh
// walks every page, and `listTools()` / `listPrompts()` / `listResources()`
// without a cursor, its pagination helpers. The SDK does not listen again
// when a stream ends ("No automatic re-listen", `Client.listen`): the
// application does, when the auto-opened subscription's `closed` resolves
// for a remote cause, and re-lists. A 404 is an `SdkHttpError` with status
// 404: the application starts a new session.

import { Client, SdkHttpError, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

import * as contract from "../contract.mjs";

const LIST = { tools: "listTools", prompts: "listPrompts", resources: "listResources" };

class App extends contract.Application {
  async connect() {
    this.client = new Client(
      { name: "dms-check-typescript-v2", version: "1.0.0" },
      {
        versionNegotiation: { mode: contract.modern ? "auto" : "legacy" },
        listChanged: Object.fromEntries(contract.lists.map((kind) => [kind, { onChanged: this.refreshed(kind) }])),
      },
    );
    this.client.setNotificationHandler("notifications/resources/updated", (n) => this.resourceUpdated(n.params.uri));
    this.transport = contract.stdio
      ? new StdioClientTransport({ command: contract.command[0], args: contract.command.slice(1), stderr: "inherit" })
      : new StreamableHTTPClientTransport(new URL(contract.url));
    await this.client.connect(this.transport);
    if (this.client.getNegotiatedProtocolVersion() >= "2026-07-28") {
      this.watch(this.client.autoOpenedSubscription);
      if (contract.subscribe.length) this.watch(await this.client.listen({ resourceSubscriptions: contract.subscribe }));
    } else {
      for (const uri of contract.subscribe) await this.client.subscribeResource({ uri });
    }
  }

  /** When a listen stream ends from the server's side: listen again, re-list everything. */
  watch(subscription) {
    subscription?.closed.then((cause) => {
      if (cause !== "remote" || this.closing) return;
      this.serial(async () => {
        this.watch(await this.client.listen(subscription.honoredFilter));
        for (const kind of contract.lists) this.listChanged(kind);
      });
    });
  }

  async listAll(kind) {
    this.hold(kind, (await this.client[LIST[kind]]())[kind]);
  }

  call(tool, args) {
    return this.client.callTool({ name: tool, arguments: args });
  }

  read(uri) {
    return this.client.readResource({ uri });
  }

  async close() {
    this.closing = true;
    await this.transport.terminateSession?.().catch(() => {});
    await this.client.close();
    this.closing = false;
  }

  gone(error) {
    return error instanceof SdkHttpError && error.status === 404;
  }
}

await new App().run();
