"""What every Python driver shares: the check client contract (docs/check.md)
read from the environment, the arguments a call builds from the schema the
application holds, the view it reports through the `view` tool, and the
application's loop (re-list what a hook marked changed, report, call on
time). Each driver says how its SDK connects, lists, hooks and calls."""

from __future__ import annotations

import json
import os
import sys

import anyio

CONTEXT = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
PROTOCOL = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION") or "2025-11-25"
# 2026-07-28 asks the SDK for its modern era where it has one.
MODERN = PROTOCOL >= "2026-07-28"
STDIO = CONTEXT.get("transport") == "stdio"
URL = None if STDIO else sys.argv[-1]
COMMAND = CONTEXT.get("command") or []
LISTS = CONTEXT.get("lists") or ["tools"]
DURATION_S = CONTEXT.get("durationMs", 0) / 1000
CALLS = sorted(CONTEXT.get("calls") or [], key=lambda call: call["atMs"])
SUBSCRIBE = CONTEXT.get("subscribe") or []
# The tool check mode offers beside the catalog: never part of the view.
VIEW_TOOL = "view"
# A page walk this long is a loop, not a list.
MAX_PAGES = 100
# Every request the application makes is given up after this long (an answer
# lost with a dropped stream must not hang it past its duration).
REQUEST_S = 5.0


def arguments(schema: dict) -> dict:
    """Each required property: its `const`, else a value of its type."""
    props = schema.get("properties") or {}
    args = {}
    for name in schema.get("required") or []:
        prop = props.get(name) or {}
        if "const" in prop:
            args[name] = prop["const"]
        else:
            kind = prop.get("type")
            args[name] = 1 if kind in ("integer", "number") else True if kind == "boolean" else "x"
    return args


class View:
    """What the application holds (plain JSON items by list) and last reported."""

    def __init__(self) -> None:
        self.held: dict[str, list[dict]] = {kind: [] for kind in LISTS}
        self.reported: dict | None = None

    def hold(self, kind: str, items: list[dict]) -> None:
        self.held[kind] = [i for i in items if not (kind == "tools" and i.get("name") == VIEW_TOOL)]

    def schema(self, tool: str) -> dict | None:
        return next((t.get("inputSchema") or {} for t in self.held.get("tools", []) if t["name"] == tool), None)

    def payload(self) -> dict:
        view: dict = {}
        for kind, items in self.held.items():
            if kind == "tools":
                view[kind] = [
                    {"name": t["name"], "revision": ((t.get("inputSchema") or {}).get("properties") or {}).get("revision", {}).get("const", 1)}
                    for t in items
                ]
            else:
                view[kind] = [i["name"] if kind == "prompts" else i["uri"] for i in items]
        return view

    def changed(self) -> dict | None:
        """The payload when it differs from the last one reported, else None."""
        payload = self.payload()
        return None if payload == self.reported else payload


class Application:
    """The contract's application; a driver subclasses it with its SDK's calls:
    `list_page(kind, cursor) -> (items as JSON, nextCursor)` (or `list_all`
    where the SDK walks pages itself), `call(tool, args)`, `read(uri)`, and
    `refused(error)`: whether an error is a refused cursor (-32602)."""

    def gone(self, error) -> bool:
        """Whether a request failed because its session is gone (a 404): the
        Python SDKs say "Session terminated", code 32600 (sic) in 1.x and
        -32600 in 2.x (their streamable_http.py)."""
        code = getattr(error, "code", None) or getattr(getattr(error, "error", None), "code", None)
        return code in (32600, -32600) and "terminated" in str(error)

    def __init__(self) -> None:
        self.view, self.stale, self.updated, self.wake = View(), set(), [], anyio.Event()
        self.start, self.calls = None, list(CALLS)

    def list_changed(self, kind: str) -> None:
        """The SDK's hook saw notifications/{kind}/list_changed."""
        if kind in self.view.held:
            self.stale.add(kind)
            self.wake.set()

    def resource_updated(self, uri: str) -> None:
        self.updated.append(str(uri))
        self.wake.set()

    async def list_all(self, kind: str) -> None:
        """Follow nextCursor to its end: `""` is a cursor; a page that hands back
        the cursor it was asked with is asked again but kept once; a cursor
        refused after a change starts the walk again."""
        items, cursor = [], None
        for _ in range(MAX_PAGES):
            try:
                page, next_cursor = await self.list_page(kind, cursor)
            except Exception as error:
                if cursor is None or not self.refused(error):
                    raise
                items, cursor = [], None
                continue
            if cursor is None or next_cursor != cursor:
                items += page
            if next_cursor is None:
                break
            cursor = next_cursor
        self.view.hold(kind, items)

    async def bounded(self, what: str, operation) -> None:
        """Await `operation` for at most REQUEST_S; an error is logged (the
        application keeps what it held and goes on), as an application does;
        a session gone is for `run`."""
        try:
            with anyio.fail_after(REQUEST_S):
                await operation
        except Exception as error:
            if self.gone(error):
                raise
            print(f"driver: {what}: {error!r}", file=sys.stderr)

    async def report(self, always: bool = False) -> None:
        payload = self.view.payload() if always else self.view.changed()
        if payload is not None:
            self.view.reported = payload
            await self.bounded("reporting the view", self.call(VIEW_TOOL, payload))

    async def refresher(self) -> None:
        while True:
            await self.wake.wait()
            self.wake = anyio.Event()
            while self.stale:
                kind = self.stale.pop()
                await self.bounded(f"listing {kind}", self.list_all(kind))
            while self.updated:
                await self.bounded("reading a resource", self.read(self.updated.pop(0)))
            await self.report()

    async def caller(self) -> None:
        """Each call at its time, with arguments from the schema held then."""
        while self.calls:
            await anyio.sleep_until(self.start + self.calls[0]["atMs"] / 1000)
            tool = self.calls.pop(0)["tool"]
            if (schema := self.view.schema(tool)) is not None:
                await self.bounded(f"calling {tool}", self.call(tool, arguments(schema)))

    async def until_deadline(self, *more) -> None:
        """After the handshake: list, report, then hooks and calls until durationMs."""
        self.start = self.start or anyio.current_time()
        for kind in LISTS:
            await self.bounded(f"listing {kind}", self.list_all(kind))
        await self.report(always=True)
        with anyio.move_on_after(self.start + DURATION_S - anyio.current_time()):
            async with anyio.create_task_group() as tasks:
                for task in (self.refresher, self.caller, *more):
                    tasks.start_soon(task)
        await self.report(always=True)

    async def run(self, serve) -> None:
        """`serve()` once, and again (a new session) while a request says its session is gone."""
        for _ in range(10):
            try:
                return await serve()
            except* Exception as group:
                if group.subgroup(lambda e: not isinstance(e, ExceptionGroup) and not self.gone(e)):
                    raise
