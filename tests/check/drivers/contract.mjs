// What both TypeScript drivers share: the check client contract
// (docs/check.md) read from the environment, the arguments a call builds from
// the schema the application holds, the view it reports through the `view`
// tool, and the application's loop (one operation at a time: re-list what a
// hook marked changed, report, call on time; a new session when a request
// says its session is gone). Each driver says how its SDK connects, lists,
// hooks and calls.

export const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT || "{}");
export const protocol = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION || "2025-11-25";
// 2026-07-28 asks the SDK for its modern era where it has one.
export const modern = protocol >= "2026-07-28";
export const stdio = context.transport === "stdio";
export const url = stdio ? undefined : process.argv.at(-1);
export const command = context.command ?? [];
export const lists = context.lists ?? ["tools"];
export const subscribe = context.subscribe ?? [];
// The tool check mode offers beside the catalog: never part of the view.
export const VIEW_TOOL = "view";
// A page walk this long is a loop, not a list.
const MAX_PAGES = 100;
// Every operation is given up after this long (an answer lost with a dropped
// stream must not hang the application past its duration).
const OPERATION_MS = 5000;

/** Each required property: its `const`, else a value of its type. */
export function argumentsFor(schema = {}) {
  const args = {};
  for (const name of schema.required ?? []) {
    const prop = schema.properties?.[name] ?? {};
    if ("const" in prop) args[name] = prop.const;
    else args[name] = ["integer", "number"].includes(prop.type) ? 1 : prop.type === "boolean" ? true : "x";
  }
  return args;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * The contract's application; a driver subclasses it with its SDK's calls:
 * `connect()` (sets up `this.client`, hooks and subscriptions),
 * `listPage(kind, cursor) -> {items, nextCursor}` (or `listAll(kind)` where
 * the SDK walks pages itself), `call(tool, args)`, `read(uri)`, `close()`,
 * `refused(error)` (a refused cursor, -32602) and `gone(error)` (a 404).
 */
export class Application {
  held = Object.fromEntries(lists.map((kind) => [kind, []]));
  reported = null;
  stale = new Set();
  chain = Promise.resolve();
  start = undefined;

  /** Run `op` after every operation queued before it, for at most OPERATION_MS. */
  serial(op) {
    const bounded = () => {
      let timer;
      const late = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${OPERATION_MS} ms`)), OPERATION_MS);
      });
      return Promise.race([op(), late]).finally(() => clearTimeout(timer));
    };
    this.chain = this.chain.then(bounded).catch((error) => this.failed(error));
    return this.chain;
  }

  async failed(error) {
    if (!this.gone(error)) return console.error("driver:", error?.message ?? error);
    console.error("driver: session gone, starting a new one");
    await this.close().catch(() => {});
    await this.begin();
  }

  hold(kind, items) {
    this.held[kind] = items.filter((i) => !(kind === "tools" && i.name === VIEW_TOOL));
  }

  /** The SDK's hook saw notifications/{kind}/list_changed. */
  listChanged(kind) {
    if (!(kind in this.held) || this.stale.has(kind)) return;
    this.stale.add(kind);
    this.serial(async () => {
      this.stale.delete(kind);
      await this.relist(kind);
      await this.report();
    });
  }

  /** An SDK's auto-refresh callback, `(error, items)`: hold what it fetched, and report. */
  refreshed(kind) {
    return (error, items) => {
      if (error) return console.error(`driver: refreshing ${kind}:`, error.message);
      this.serial(() => {
        this.hold(kind, items);
        return this.report();
      });
    };
  }

  resourceUpdated(uri) {
    this.serial(() => this.read(uri));
  }

  /**
   * Follow nextCursor to its end: `""` is a cursor; a page that hands back the
   * cursor it was asked with is asked again but kept once; a cursor refused
   * after a change starts the walk again.
   */
  async listAll(kind) {
    let items = [];
    let cursor;
    for (let n = 0; n < MAX_PAGES; n++) {
      let page;
      try {
        page = await this.listPage(kind, cursor);
      } catch (error) {
        if (cursor === undefined || !this.refused(error)) throw error;
        [items, cursor] = [[], undefined];
        continue;
      }
      if (cursor === undefined || page.nextCursor !== cursor) items.push(...page.items);
      if (page.nextCursor === undefined) break;
      cursor = page.nextCursor;
    }
    this.hold(kind, items);
  }

  /** `listAll`, and an error it raises logged (the application keeps what it held); a session gone is for `failed`. */
  async relist(kind) {
    try {
      await this.listAll(kind);
    } catch (error) {
      if (this.gone(error)) throw error;
      console.error(`driver: listing ${kind}:`, error?.message ?? error);
    }
  }

  payload() {
    const view = {};
    for (const [kind, items] of Object.entries(this.held)) {
      if (kind === "tools") view.tools = items.map((t) => ({ name: t.name, revision: t.inputSchema?.properties?.revision?.const ?? 1 }));
      else view[kind] = items.map((i) => (kind === "prompts" ? i.name : i.uri));
    }
    return view;
  }

  /** Call `view` the first time, when what is held changed, and when `always`. */
  async report(always = false) {
    const payload = this.payload();
    if (!always && JSON.stringify(payload) === JSON.stringify(this.reported)) return;
    this.reported = payload;
    await this.call(VIEW_TOOL, payload);
  }

  /** Connect, list everything, report. */
  async begin() {
    await this.connect();
    this.start ??= Date.now();
    for (const kind of lists) await this.relist(kind);
    await this.report(true);
  }

  async run() {
    await this.serial(() => this.begin());
    for (const { atMs, tool } of context.calls ?? []) {
      setTimeout(() => {
        this.serial(async () => {
          const schema = this.held.tools?.find((t) => t.name === tool)?.inputSchema;
          // A tool the application does not hold is not called.
          if (schema) await this.call(tool, argumentsFor(schema)).catch((e) => this.gone(e) && Promise.reject(e));
        });
      }, atMs);
    }
    await sleep(this.start + (context.durationMs ?? 0) - Date.now());
    await this.serial(() => this.report(true));
    await this.close().catch(() => {});
    process.exit(0);
  }
}
