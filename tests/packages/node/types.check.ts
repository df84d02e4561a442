// Type-checked (tsc --noEmit, strict), never run: the npm package's index.d.ts
// must fit the helper's documented use with the official SDK's Client.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  type CheckOutcome,
  ControlError,
  check,
  type DynamicServer,
  type ListChangedCounter,
  listChangedCounter,
  startDynamicServer,
  type Verdict,
} from "dynamic-mcp-server";

export async function typed(): Promise<void> {
  const server: DynamicServer = await startDynamicServer({ tools: 2, args: ["--prompts", "1"], control: true });
  const client = new Client({ name: "types", version: "1.0.0" });
  const changes: ListChangedCounter = listChangedCounter(client, "prompts");
  await client.connect(new StdioClientTransport(server.stdioParams));
  await server.addTool();
  const state: Record<string, unknown> = await server.change("add_tool", { count: 2 });
  const seen: number = await changes.waitFor(1, 1000);
  try {
    await server.removeTool("nope");
  } catch (error) {
    if (error instanceof ControlError) console.log(error.status, error.error);
  }
  const verdict: Verdict = await server.verdict();
  const failed: string[] = verdict.passed ? [] : verdict.failures;
  const outcome: CheckOutcome = await check({ client: ["node", "client.mjs"], transport: "stdio", scenarios: ["storm"], timeout: 10 });
  console.log(failed, verdict.checks[0]?.status, outcome.passed, outcome.scenarios["storm"]?.[0]?.id);
  const pid: number = server.pid;
  const url: string | undefined = server.mcpUrl ?? server.controlUrl;
  const code: number | null = await server.stop();
  console.log(state, seen, pid, url, code);
}
