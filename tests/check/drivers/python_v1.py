"""The check client (docs/check.md) on the Python SDK 1.x (`mcp` 1.30.0), as
its users write an application: a `ClientSession` whose `message_handler`
hands each `list_changed` to a task that re-lists (a request awaited inside
the handler would block the session's receive loop). 1.x has no pagination
helper, so `list_all` follows `nextCursor` itself: `""` is a cursor, a page
that hands back the cursor it was asked with is asked again but kept once,
and a cursor refused after a change (-32602) starts the walk again. A 404
reaches a request as `McpError` code 32600 "Session terminated"
(streamable_http.py, `_send_session_terminated_error`): a new session."""

import anyio
from contextlib import AsyncExitStack
from mcp import ClientSession, McpError, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client

import contract as c

LIST_CHANGED = {
    types.ToolListChangedNotification: "tools",
    types.PromptListChangedNotification: "prompts",
    types.ResourceListChangedNotification: "resources",
}


class App:
    def __init__(self) -> None:
        self.view, self.stale, self.updated, self.wake = c.View(), set(), [], anyio.Event()
        self.session: ClientSession | None = None
        self.start, self.calls = None, list(c.CALLS)

    async def on_message(self, message) -> None:
        root = getattr(message, "root", None)
        if LIST_CHANGED.get(type(root)) in self.view.held:
            self.stale.add(LIST_CHANGED[type(root)])
        elif isinstance(root, types.ResourceUpdatedNotification):
            self.updated.append(str(root.params.uri))
        self.wake.set()

    async def list_all(self, kind: str) -> None:
        items, cursor = [], None
        for _ in range(c.MAX_PAGES):
            try:
                page = await getattr(self.session, f"list_{kind}")(params=types.PaginatedRequestParams(cursor=cursor))
            except McpError as error:
                if error.error.code != -32602 or cursor is None:
                    raise
                items, cursor = [], None  # a stale cursor: the list changed, start again
                continue
            if page.nextCursor != cursor or cursor is None:
                items += [i.model_dump(by_alias=True, mode="json") for i in getattr(page, kind)]
            if page.nextCursor is None:
                break
            cursor = page.nextCursor
        self.view.hold(kind, items)

    async def report(self, always: bool = False) -> None:
        payload = self.view.payload() if always else self.view.changed()
        if payload is not None:
            self.view.reported = payload
            await self.session.call_tool(c.VIEW_TOOL, payload)

    async def refresher(self) -> None:
        while True:
            await self.wake.wait()
            self.wake = anyio.Event()
            while self.stale:
                await self.list_all(self.stale.pop())
            while self.updated:
                await self.session.read_resource(self.updated.pop(0))
            await self.report()

    async def caller(self) -> None:
        while self.calls:
            await anyio.sleep_until(self.start + self.calls[0]["atMs"] / 1000)
            tool = self.calls.pop(0)["tool"]
            if (schema := self.view.schema(tool)) is not None:
                try:
                    await self.session.call_tool(tool, c.arguments(schema))
                except McpError as error:
                    if error.error.code == 32600:
                        raise

    async def serve(self) -> None:
        async with AsyncExitStack() as stack:
            if c.STDIO:
                params = StdioServerParameters(command=c.COMMAND[0], args=c.COMMAND[1:])
                read, write = await stack.enter_async_context(stdio_client(params))
            else:
                read, write, _ = await stack.enter_async_context(streamablehttp_client(c.URL))
            self.session = await stack.enter_async_context(ClientSession(read, write, message_handler=self.on_message))
            await self.session.initialize()
            self.start = self.start or anyio.current_time()
            for uri in c.SUBSCRIBE:
                await self.session.subscribe_resource(uri)
            for kind in c.LISTS:
                await self.list_all(kind)
            await self.report(always=True)
            with anyio.move_on_after(self.start + c.DURATION_S - anyio.current_time()):
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(self.refresher)
                    tasks.start_soon(self.caller)
            await self.report(always=True)


async def main() -> None:
    app = App()
    for _ in range(10):
        try:
            return await app.serve()
        except* McpError as group:
            if not all(e.error.code == 32600 for e in group.exceptions):
                raise  # anything but "Session terminated" (a 404): a real failure


anyio.run(main)
