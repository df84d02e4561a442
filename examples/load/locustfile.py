"""MCP clients under load, for Locust: users that behave like correct clients
of a server whose lists change, and a hook that changes the lists on a
schedule.

    locust -f examples/load/locustfile.py --host http://127.0.0.1:8080/mcp

--host is the MCP endpoint (this server's or a gateway's). Two kinds of user,
equally many by default:

- HandshakeUser (2025-11-25): `initialize`, `notifications/initialized`, then
  keeps its `Mcp-Session-Id` and its GET SSE stream open for the whole run.
- StatelessUser (2026-07-28): every request is a plain POST carrying its
  `_meta` (no session); it keeps one `subscriptions/listen` stream open for
  `notifications/tools/list_changed`.

Both list the tools once, then loop: when a `tools/list_changed` has come they
re-list, following every `nextCursor` to the end (a repeated cursor is a
failure, not a loop), and record how long that took from the notification
("refresh after list_changed" in Locust's statistics); otherwise they call
one of the tools they listed.

Changes: set DYNAMIC_MCP_CONTROL_URL to the server's control endpoint
(`--control ADDR`, e.g. http://127.0.0.1:8081) and the master (or the only
process) POSTs `/changes` once all users are spawned:

    DYNAMIC_MCP_CHANGES        change kinds, cycled (default add_tool)
    DYNAMIC_MCP_CHANGE_EVERY   seconds between changes (default 5)
    DYNAMIC_MCP_CHANGE_DELAY   seconds after spawning before the first (default 2)
    DYNAMIC_MCP_CHANGE_COUNT   how many (default: until the test stops)

Without DYNAMIC_MCP_CONTROL_URL no change is made (a gateway's upstream may
be changed by other means). With a finite DYNAMIC_MCP_CHANGE_COUNT the run
ends DYNAMIC_MCP_SETTLE seconds (default 5) after the last change (--run-time
stays an upper bound), and every user reports at its stop whether it is up to
date ("up to date at N tools", or a failure naming what it owes), so that a
run can be checked user by user: set the count on the workers too.

DYNAMIC_MCP_THINK_SECONDS (default 1): how long a user waits for a
notification before it calls a tool instead.
"""

import itertools
import json
import os
import random
import time

import gevent
import requests
from gevent.event import Event
from locust import HttpUser, constant, events, task
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

HANDSHAKE_REVISION = "2025-11-25"
STATELESS_REVISION = "2026-07-28"
CLIENT_INFO = {"name": "locust-mcp-user", "version": "1.0"}
# Numbers each user of this process (see StatelessUser.on_start).
USER_NUMBERS = itertools.count(1)
ACCEPT = "application/json, text/event-stream"
# Every wait on the server is bounded.
TIMEOUT = 30
# A walk longer than this is a server that never ends its list.
MAX_PAGES = 10_000
REFRESH = "refresh after list_changed"

THINK_SECONDS = float(os.environ.get("DYNAMIC_MCP_THINK_SECONDS", "1"))
CONTROL_URL = os.environ.get("DYNAMIC_MCP_CONTROL_URL", "").rstrip("/")
CHANGES = [c.strip() for c in os.environ.get("DYNAMIC_MCP_CHANGES", "add_tool").split(",") if c.strip()]
CHANGE_EVERY = float(os.environ.get("DYNAMIC_MCP_CHANGE_EVERY", "5"))
CHANGE_DELAY = float(os.environ.get("DYNAMIC_MCP_CHANGE_DELAY", "2"))
CHANGE_COUNT = int(os.environ["DYNAMIC_MCP_CHANGE_COUNT"]) if os.environ.get("DYNAMIC_MCP_CHANGE_COUNT") else None
SETTLE = float(os.environ.get("DYNAMIC_MCP_SETTLE", "5"))


def sse_messages(response):
    """The JSON-RPC messages of an SSE response, as they arrive."""
    buffer, data = "", []
    for chunk in response.iter_content(chunk_size=None, decode_unicode=True):
        buffer += chunk
        while "\n" in buffer:
            line, buffer = buffer.split("\n", 1)
            line = line.rstrip("\r")
            if line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
            elif line == "" and data:
                text = "\n".join(data)
                data = []
                if text.strip():
                    yield json.loads(text)


def answer_of(response, request_id):
    """The answer to `request_id` in a POST's response, JSON or SSE."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for message in sse_messages(response):
            if message.get("id") == request_id:
                return message
        return None
    return response.json()


def arguments_for(tool):
    """Arguments that satisfy the tool's input schema, simply."""
    schema = tool.get("inputSchema") or {}
    properties = schema.get("properties") or {}
    arguments = {}
    for name in schema.get("required") or []:
        prop = properties.get(name) or {}
        if "const" in prop:
            arguments[name] = prop["const"]
        elif prop.get("enum"):
            arguments[name] = prop["enum"][0]
        elif prop.get("type") in ("integer", "number"):
            arguments[name] = prop.get("minimum", 1)
        elif prop.get("type") == "boolean":
            arguments[name] = True
        else:
            arguments[name] = "hello from locust"
    return arguments


class McpUser(HttpUser):
    """What both kinds of client share: requests, the notification stream,
    the re-list and the calls."""

    abstract = True
    # The wait is for a notification, in `work`.
    wait_time = constant(0)
    protocol = None

    def on_start(self):
        self.ids = itertools.count(1)
        self.told = Event()
        self.told_at = None
        self.notified = 0
        self.tools = None
        self.stopping = False
        self.streaming = Event()
        self.streams = requests.Session()
        self.stream = None
        self.begin()
        self.stream = gevent.spawn(self.read_stream)
        if not self.streaming.wait(timeout=TIMEOUT):
            self.record("STREAM", "open", 0, RuntimeError("the notification stream did not open"))
        self.tools = self.list_tools()

    def on_stop(self):
        self.stopping = True
        if CHANGE_COUNT is not None:
            self.check()
        # The reader closes its stream as it unwinds.
        if self.stream is not None:
            self.stream.kill(block=True, timeout=TIMEOUT)
        self.end()

    # What each kind does differently.
    def begin(self):
        """Whatever comes before the first list."""

    def end(self):
        """Whatever comes after the last request."""

    def headers(self, method, params):
        raise NotImplementedError

    def params(self, params):
        return params

    def open_stream(self):
        raise NotImplementedError

    def record(self, kind, name, started_or_ms, exception=None, length=0):
        """A custom entry in Locust's statistics."""
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=started_or_ms,
            response_length=length,
            exception=exception,
            context={},
        )

    def post(self, method, params=None, notification=False):
        """One JSON-RPC message as a POST; the result, or None on an error
        (recorded as a failure under the method's name)."""
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = self.params(params)
        request_id = None
        if not notification:
            request_id = next(self.ids)
            message["id"] = request_id
        with self.client.post(
            "",
            data=json.dumps(message),
            headers=self.headers(method, params or {}),
            name=method,
            catch_response=True,
            timeout=TIMEOUT,
        ) as response:
            if notification:
                if response.status_code != 202:
                    response.failure(f"HTTP {response.status_code}")
                return None
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return None
            answer = answer_of(response, request_id)
            if answer is None:
                response.failure("no answer")
                return None
            if "error" in answer:
                response.failure(f"{answer['error'].get('code')}: {answer['error'].get('message')}")
                return None
            self.last_response = response
            return answer.get("result")

    def read_stream(self):
        """Read the notification stream until the user stops; a
        `tools/list_changed` asks `work` for a re-list."""
        response = None
        try:
            response = self.open_stream()
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            self.streaming.set()
            for message in sse_messages(response):
                if message.get("method") == "notifications/tools/list_changed":
                    self.notified += 1
                    if not self.told.is_set():
                        self.told_at = time.perf_counter()
                        self.told.set()
            if not self.stopping:
                raise RuntimeError("the server ended the stream")
        except Exception as error:  # noqa: BLE001 - any failure is the stream's
            if not self.stopping:
                self.record("STREAM", "notifications", 0, error)
        finally:
            if response is not None:
                response.close()

    def list_tools(self):
        """Every page of tools/list, following each nextCursor; None if a
        page failed or a cursor came back."""
        tools, cursor, seen = [], None, set()
        for _ in range(MAX_PAGES):
            result = self.post("tools/list", {} if cursor is None else {"cursor": cursor})
            if result is None:
                return None
            tools.extend(result.get("tools") or [])
            cursor = result.get("nextCursor")
            # Only an absent cursor ends the list: "" is a cursor like any other.
            if cursor is None:
                return tools
            if cursor in seen:
                self.record("MCP", "tools/list walk", 0, RuntimeError(f"cursor {cursor!r} repeated"))
                return None
            seen.add(cursor)
        self.record("MCP", "tools/list walk", 0, RuntimeError(f"more than {MAX_PAGES} pages"))
        return None

    @task
    def work(self):
        if self.told.wait(timeout=THINK_SECONDS):
            self.refresh()
        elif self.tools:
            tool = random.choice(self.tools)
            self.post("tools/call", {"name": tool["name"], "arguments": arguments_for(tool)})

    def refresh(self):
        since = self.told_at
        self.told.clear()
        tools = self.list_tools()
        if tools is not None:
            self.tools = tools
            self.record("MCP", REFRESH, (time.perf_counter() - since) * 1000, length=len(tools))

    def check(self):
        """Up to date at the stop: told at least once, and nothing owed."""
        if self.tools is None:
            problem = "its last list failed"
        elif self.notified == 0:
            problem = "never told of a change"
        elif self.told.is_set():
            problem = "told of a change it has not re-listed"
        else:
            self.record("CHECK", f"up to date at {len(self.tools)} tools", 0)
            return
        self.record("CHECK", "up to date", 0, RuntimeError(problem))


class HandshakeUser(McpUser):
    protocol = HANDSHAKE_REVISION

    def begin(self):
        self.session = None
        result = self.post(
            "initialize",
            {"protocolVersion": self.protocol, "capabilities": {}, "clientInfo": CLIENT_INFO},
        )
        if result is None:
            raise RuntimeError("initialize failed")
        self.session = self.last_response.headers.get("mcp-session-id")
        self.protocol = result.get("protocolVersion", self.protocol)
        self.post("notifications/initialized", notification=True)

    def headers(self, method, params):
        headers = {"content-type": "application/json", "accept": ACCEPT}
        if self.session:
            headers["mcp-session-id"] = self.session
            headers["mcp-protocol-version"] = self.protocol
        return headers

    def open_stream(self):
        return self.streams.get(
            self.host,
            headers={
                "accept": "text/event-stream",
                "mcp-session-id": self.session or "",
                "mcp-protocol-version": self.protocol,
            },
            stream=True,
            timeout=(TIMEOUT, None),
        )

    def end(self):
        if self.session:
            try:
                self.streams.delete(self.host, headers={"mcp-session-id": self.session}, timeout=TIMEOUT)
            except requests.RequestException:
                pass


class StatelessUser(McpUser):
    protocol = STATELESS_REVISION

    META = {
        "io.modelcontextprotocol/protocolVersion": STATELESS_REVISION,
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
        "io.modelcontextprotocol/clientCapabilities": {},
    }

    def on_start(self):
        # Each user names itself: the server credits a 2026-07-28 client's
        # stateless re-lists to the one live listen stream whose client has
        # the same name and version, and cannot tell two instances of one
        # name apart (docs/report.md), so users sharing a name would all be
        # counted as missing every change.
        name = f"{CLIENT_INFO['name']}-{os.getpid()}-{next(USER_NUMBERS)}"
        self.META = {**self.META, "io.modelcontextprotocol/clientInfo": {**CLIENT_INFO, "name": name}}
        super().on_start()

    def headers(self, method, params):
        headers = {
            "content-type": "application/json",
            "accept": ACCEPT,
            "mcp-protocol-version": self.protocol,
            "mcp-method": method,
        }
        if method == "tools/call":
            headers["mcp-name"] = params["name"]
        return headers

    def params(self, params):
        return {**params, "_meta": self.META}

    def open_stream(self):
        message = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "subscriptions/listen",
            "params": self.params({"notifications": {"toolsListChanged": True}}),
        }
        return self.streams.post(
            self.host,
            data=json.dumps(message),
            headers=self.headers("subscriptions/listen", {}),
            stream=True,
            timeout=(TIMEOUT, None),
        )


# The change schedule: on the master, or on the only process.
injector = None
locust_environment = None


@events.init.add_listener
def remember_environment(environment, **_):
    global locust_environment
    locust_environment = environment


@events.spawning_complete.add_listener
def start_changes(user_count, **_):
    global injector
    environment = locust_environment
    if not CONTROL_URL or environment is None or isinstance(environment.runner, WorkerRunner) or injector:
        return
    injector = gevent.spawn(inject, environment)


@events.test_stopping.add_listener
def stop_changes(**_):
    global injector
    if injector is not None and injector is not gevent.getcurrent():
        injector.kill(block=False)
    injector = None


def inject(environment):
    """POST /changes on the schedule; each is an entry ("CONTROL") in the
    statistics, its answer's tool count the response length."""
    gevent.sleep(CHANGE_DELAY)
    kinds = itertools.cycle(CHANGES)
    counter = itertools.count() if CHANGE_COUNT is None else range(CHANGE_COUNT)
    with requests.Session() as session:
        for n in counter:
            if n:
                gevent.sleep(CHANGE_EVERY)
            kind = next(kinds)
            started = time.perf_counter()
            error, tools = None, 0
            try:
                response = session.post(f"{CONTROL_URL}/changes", json={"change": kind}, timeout=TIMEOUT)
                body = response.json()
                if response.status_code != 200:
                    error = RuntimeError(f"HTTP {response.status_code}: {body.get('error')}")
                else:
                    tools = len((body.get("tools") or {}).get("items") or [])
            except (requests.RequestException, ValueError) as failure:
                error = failure
            environment.events.request.fire(
                request_type="CONTROL",
                name=f"POST /changes {kind}",
                response_time=(time.perf_counter() - started) * 1000,
                response_length=tools,
                exception=error,
                context={},
            )
    if CHANGE_COUNT is not None:
        finish(environment)


def finish(environment):
    """End a finite schedule's run once the users had SETTLE seconds to catch
    up: stop them first (each reports whether it is up to date), then wait
    for the workers' periodic reports to carry that to the master, and only
    then quit. Quitting at once would lose what the workers report while
    they stop: the master waits for their last report only half a second."""
    gevent.sleep(SETTLE)
    environment.runner.stop()
    if isinstance(environment.runner, MasterRunner):
        gevent.sleep(WORKER_REPORT_INTERVAL + 2)
    environment.runner.quit()
