// Types of index.js: the dynamic-mcp-server test helper.

export interface DynamicServerOptions {
  /** Further command-line flags, such as ["--prompts", "2"]. */
  args?: string[];
  /** Serve Streamable HTTP: true for a free loopback port, or an address ("127.0.0.1:8765"). Default: stdio. */
  http?: boolean | string;
  /** The control endpoint for every kind of change, state() and report(): true (the default) for a free loopback port, an address, or false for none (addTool() needs none). */
  control?: boolean | string;
  /** The initial number of tools (default 1). */
  tools?: number;
  /** The server binary (default: $DYNAMIC_MCP_SERVER_BIN, else the platform package's). */
  binary?: string;
  /** The bound on every wait (default 30 000). */
  timeoutMs?: number;
}

export type Change =
  | "add_tool"
  | "remove_tool"
  | "change_tool"
  | "reset"
  | "add_prompt"
  | "remove_prompt"
  | "change_prompt"
  | "add_resource"
  | "remove_resource"
  | "update_resource";

/** The server's state as its control endpoint reports it. */
export type State = Record<string, unknown>;

/** The client report (GET /report): `changes`, `steps` and `sessions`; see the project's docs/report.md. */
export type Report = Record<string, unknown>;

/** A check in the MCP conformance suite's format. */
export interface Check {
  id: string;
  name: string;
  description: string;
  status: "SUCCESS" | "FAILURE" | "WARNING" | "SKIPPED" | "INFO";
  timestamp: string;
  specReferences?: { id: string; url: string }[];
  details?: Record<string, unknown>;
  errorMessage?: string;
  logs?: string[];
}

/** The server's grade of what its clients did (GET /verdict). */
export interface Verdict {
  /** No check is a FAILURE or a WARNING. */
  passed: boolean;
  checks: Check[];
  /** One line per failing check: its id and its evidence. */
  failures: string[];
}

export interface CheckOptions {
  /** The client program: a command line as `sh -c` reads it, or its arguments. Over HTTP it gets the server URL as its last argument. */
  client: string | string[];
  transport?: "http" | "stdio";
  /** Only these scenarios (default: all). */
  scenarios?: string[];
  /** Keep the results here (default: a temporary folder, removed). */
  results?: string;
  /** A baseline of known failures (YAML, the conformance suite's shape). */
  expectedFailures?: string;
  /** Seconds each scenario may take. */
  timeout?: number;
  /** The server binary (default: $DYNAMIC_MCP_SERVER_BIN, else the platform package's). */
  binary?: string;
}

/** What `dynamic-mcp-server check` said. */
export interface CheckOutcome {
  /** Exit status 0: no check failed outside the baseline. */
  passed: boolean;
  status: number;
  /** The verdict table it printed. */
  table: string;
  /** Each scenario's checks, from its results folder. */
  scenarios: Record<string, Check[]>;
  /** One line per failing check: scenario, id and evidence. */
  failures: string[];
  stderr: string;
}

/** Run `dynamic-mcp-server check` against a client program. */
export function check(options: CheckOptions): Promise<CheckOutcome>;

export interface DynamicServer {
  /** The PID; on stdio, of the server the client started (throws if none has yet). */
  readonly pid: number;
  /** With http: the Streamable HTTP endpoint, such as "http://127.0.0.1:41234/mcp". */
  readonly mcpUrl: string | undefined;
  /** With control: the control endpoint's base URL. */
  readonly controlUrl: string | undefined;
  /** On stdio: the StdioClientTransport parameters that start this server. */
  readonly stdioParams: { command: string; args: string[] };
  /** The binary and its arguments. */
  readonly command: string;
  readonly args: string[];
  /** What an HTTP server logged so far. */
  readonly stderr: string;
  /** Send a signal to the server. */
  signal(signal: NodeJS.Signals): Promise<void>;
  /** Add the next tool with SIGHUP. */
  addTool(): Promise<void>;
  /** Apply a change through the control endpoint; rejects with ControlError when refused. */
  change(change: Change, options?: { name?: string; uri?: string; count?: number }): Promise<State>;
  removeTool(name?: string): Promise<State>;
  /** Change a tool's definition under the same name (a rug pull). */
  changeTool(name?: string): Promise<State>;
  reset(): Promise<State>;
  addPrompt(): Promise<State>;
  removePrompt(name?: string): Promise<State>;
  changePrompt(name?: string): Promise<State>;
  addResource(): Promise<State>;
  removeResource(uri?: string): Promise<State>;
  updateResource(uri?: string): Promise<State>;
  state(): Promise<State>;
  /** What each client did about each change (GET /report). */
  report(): Promise<Report>;
  /** Grade what the clients did so far with the checks of `dynamic-mcp-server check` (GET /verdict). */
  verdict(): Promise<Verdict>;
  /** Stop the server and remove its temporary folder; resolves to an HTTP server's exit code. */
  stop(): Promise<number | null>;
}

export class ControlError extends Error {
  readonly status: number;
  readonly error: string;
}

export function startDynamicServer(options?: DynamicServerOptions): Promise<DynamicServer>;

export interface ListChangedCounter {
  readonly count: number;
  /** Resolves to the count once at least `count` notifications have arrived; rejects after timeoutMs (default 30 000). */
  waitFor(count: number, timeoutMs?: number): Promise<number>;
}

/** Minimal shape of the SDK's Client that the counter needs. */
export interface NotificationClient {
  setNotificationHandler(schema: any, handler: (notification: any) => void | Promise<void>): void;
}

/** Count notifications/{kind}/list_changed on an @modelcontextprotocol/sdk Client (sets its handler for them). */
export function listChangedCounter(
  client: NotificationClient,
  kind?: "tools" | "prompts" | "resources",
): ListChangedCounter;

/** The path of the server binary for this platform. */
export function binaryPath(): string;
