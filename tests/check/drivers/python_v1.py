"""The check client (docs/check.md) on the Python SDK 1.x (`mcp` 1.30.0), as
its users write an application: a `ClientSession` whose `message_handler`
marks a list changed for a task that re-lists (a request awaited inside the
handler would block the session's receive loop). 1.x has no pagination
helper: `contract.Application.list_all` follows `nextCursor` over
`list_page`. A 404 reaches a request as `McpError` code 32600 (sic, not
-32600) "Session terminated" (streamable_http.py,
`_send_session_terminated_error`): the application starts a new session."""

from contextlib import AsyncExitStack

import anyio
from mcp import ClientSession, McpError, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client

import contract

LIST_CHANGED = {
    types.ToolListChangedNotification: "tools",
    types.PromptListChangedNotification: "prompts",
    types.ResourceListChangedNotification: "resources",
}


class App(contract.Application):
    async def on_message(self, message) -> None:
        root = getattr(message, "root", None)
        if type(root) in LIST_CHANGED:
            self.list_changed(LIST_CHANGED[type(root)])
        elif isinstance(root, types.ResourceUpdatedNotification):
            self.resource_updated(root.params.uri)

    async def list_page(self, kind, cursor):
        page = await getattr(self.session, f"list_{kind}")(params=types.PaginatedRequestParams(cursor=cursor))
        return [i.model_dump(by_alias=True, mode="json") for i in getattr(page, kind)], page.nextCursor

    def refused(self, error) -> bool:
        return isinstance(error, McpError) and error.error.code == -32602

    async def call(self, tool, args):
        await self.session.call_tool(tool, args)

    async def read(self, uri):
        await self.session.read_resource(uri)

    async def serve(self) -> None:
        async with AsyncExitStack() as stack:
            if contract.STDIO:
                params = StdioServerParameters(command=contract.COMMAND[0], args=contract.COMMAND[1:])
                read, write = await stack.enter_async_context(stdio_client(params))
            else:
                read, write, _ = await stack.enter_async_context(streamablehttp_client(contract.URL))
            self.session = await stack.enter_async_context(ClientSession(read, write, message_handler=self.on_message))
            await self.session.initialize()
            for uri in contract.SUBSCRIBE:
                await self.session.subscribe_resource(uri)
            await self.until_deadline()


app = App()
anyio.run(app.run, app.serve)
