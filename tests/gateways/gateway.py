"""A small MCP gateway for the probe's own tests: correct, or broken on purpose.

It serves over stdio (as a host application starts it) the tools of several
upstreams, each reached over Streamable HTTP and named `NAME_tool` downstream.
It keeps each upstream's tool list and routes a call only to a tool it lists,
as aggregating gateways do. On an upstream's notifications/tools/list_changed:

  --mode correct          re-list that upstream, then tell its own client
  --mode notify-first     tell its client first, then re-list (hewimetall/vmcp
                          PR #1): a client that re-lists at once gets the old list
  --mode no-list-changed  as correct, but its initialize result never
                          advertises tools.listChanged (agentgateway #2077)
  --mode drop-others      as correct, but an upstream's change empties the
                          other upstreams' lists (agentgateway #742)
  --mode misroute         as correct, but every call goes to the first
                          upstream, whichever upstream's tool it names
  --mode merge-names      as correct, but names are not prefixed: a name two
                          upstreams have is listed once, the first one's
                          (docker/mcp-gateway #11)

The probe must pass `correct` and fail each broken mode on its own check only
(tests/gateways/run). With --bare and one upstream it is a transparent stdio
bridge to an HTTP upstream: the upstream's names, every list read live, every
notification passed on at once, as if its client spoke to the upstream
itself. That is for a gateway under test that must be restarted
(mcp-context-protector after an approval) while the upstream keeps its changes. Python SDK 1.x (tests/gateways/requirements-gateways.txt).

    python3 gateway.py --mode correct --upstream u1=http://127.0.0.1:PORT/mcp ...
"""

import argparse
import contextlib
import sys

import anyio
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.stdio import stdio_server

SEPARATOR = "_"


class Upstream:
    def __init__(self, name: str, url: str):
        self.name = name
        self.url = url
        self.session: ClientSession | None = None
        self.tools: list[types.Tool] = []

    async def relist(self) -> None:
        assert self.session is not None
        self.tools = (await self.session.list_tools()).tools


class Gateway:
    def __init__(self, mode: str, upstreams: list[Upstream], bare: bool):
        self.mode = mode
        self.separator = None if bare else SEPARATOR
        self.upstreams = upstreams
        self.server = Server("in-repo-gateway", version=mode)
        # The client's session, known from its first request: where the
        # gateway's own notifications go.
        self.downstream = None
        self.server.list_tools()(self.list_tools)
        self.server.call_tool(validate_input=False)(self.call_tool)

    async def list_tools(self) -> list[types.Tool]:
        self.downstream = self.server.request_context.session
        if self.separator is None:
            await self.upstreams[0].relist()
        listed = {}
        for upstream in self.upstreams:
            for tool in upstream.tools:
                name = self.downstream_name(upstream, tool.name)
                listed.setdefault(name, tool.model_copy(update={"name": name}))
        return list(listed.values())

    def downstream_name(self, upstream: Upstream, tool: str) -> str:
        if self.separator is None or self.mode == "merge-names":
            return tool
        return f"{upstream.name}{self.separator}{tool}"

    async def call_tool(self, name: str, arguments: dict) -> types.CallToolResult:
        self.downstream = self.server.request_context.session
        for upstream in self.upstreams:
            for known in upstream.tools:
                if self.downstream_name(upstream, known.name) == name:
                    if self.mode == "misroute":
                        upstream = self.upstreams[0]
                    assert upstream.session is not None
                    return await upstream.session.call_tool(known.name, arguments)
        raise ValueError(f"unknown tool: {name}")

    async def changed(self, upstream: Upstream) -> None:
        if self.separator is None:
            await self.notify()
        elif self.mode == "notify-first":
            await self.notify()
            await upstream.relist()
        else:
            await upstream.relist()
            if self.mode == "drop-others":
                for other in self.upstreams:
                    if other is not upstream:
                        other.tools = []
            await self.notify()

    async def notify(self) -> None:
        if self.downstream is not None:
            await self.downstream.send_tool_list_changed()

    async def run(self) -> None:
        async with contextlib.AsyncExitStack() as stack, anyio.create_task_group() as tasks:
            for upstream in self.upstreams:
                read, write, _ = await stack.enter_async_context(
                    streamable_http_client(upstream.url)
                )

                # The handler runs in the session's receive loop: re-listing
                # there would wait on itself, so it runs as a task.
                async def on_message(message, upstream=upstream):
                    if isinstance(message, types.ServerNotification) and isinstance(
                        message.root, types.ToolListChangedNotification
                    ):
                        tasks.start_soon(self.changed, upstream)

                upstream.session = await stack.enter_async_context(
                    ClientSession(read, write, message_handler=on_message)
                )
                await upstream.session.initialize()
                await upstream.relist()
            options = self.server.create_initialization_options(
                notification_options=NotificationOptions(
                    tools_changed=self.mode != "no-list-changed"
                )
            )
            async with stdio_server() as (read, write):
                await self.server.run(read, write, options)
            tasks.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--mode",
        choices=["correct", "notify-first", "no-list-changed", "drop-others", "misroute", "merge-names"],
        default="correct",
    )
    parser.add_argument("--upstream", action="append", required=True, metavar="NAME=URL")
    parser.add_argument("--bare", action="store_true", help="keep the upstream's tool names")
    args = parser.parse_args()
    if args.bare and len(args.upstream) != 1:
        parser.error("--bare takes one --upstream")
    upstreams = []
    for spec in args.upstream:
        name, _, url = spec.partition("=")
        if not name or not url:
            parser.error(f"--upstream {spec}: expected NAME=URL")
        upstreams.append(Upstream(name, url))
    anyio.run(Gateway(args.mode, upstreams, args.bare).run)


if __name__ == "__main__":
    sys.exit(main())
