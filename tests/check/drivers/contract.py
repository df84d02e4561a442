"""What every Python driver shares: the check client contract (docs/check.md,
CONTRACT §2) read from the environment, the arguments a call builds from the
schema the application holds, and the view it reports through the `view` tool.
The SDK-specific half (connect, list, hooks, calls) is in each driver."""

from __future__ import annotations

import json
import os
import sys

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
