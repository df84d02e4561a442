"""The check client (docs/check.md) on the Python SDK 2.x (`mcp` 2.3.0), as
its users write an application: the high-level `Client`, in `legacy` mode
(the 2025-11-25 handshake) with a `message_handler` for `list_changed`, or in
`auto` mode (2026-07-28) with `client.listen(...)`, whose events say which
list changed (no replay: when the stream ends it listens again and re-lists
everything). `list_tools()` reads one page (through its response
cache: `cache_mode="use"`), so `contract.Application.list_all` follows
`next_cursor`. A 404 is `MCPError` -32600 "Session terminated"
(streamable_http.py): the application starts a new session."""

import warnings
from contextlib import AsyncExitStack

import anyio
import mcp_types as types
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    SubscriptionLost,
    ToolsListChanged,
)

import contract

# resources/subscribe is deprecated on 2026-07-28, and still the way on 2025-11-25.
warnings.filterwarnings("ignore", "resources/subscribe")

LIST_CHANGED = {
    types.ToolListChangedNotification: "tools",
    types.PromptListChangedNotification: "prompts",
    types.ResourceListChangedNotification: "resources",
    ToolsListChanged: "tools",
    PromptsListChanged: "prompts",
    ResourcesListChanged: "resources",
}


class App(contract.Application):
    async def on_message(self, message) -> None:
        message = getattr(message, "root", message)
        if type(message) in LIST_CHANGED:
            self.list_changed(LIST_CHANGED[type(message)])
        elif isinstance(message, ResourceUpdated):
            self.resource_updated(message.uri)
        elif isinstance(message, types.ResourceUpdatedNotification):
            self.resource_updated(message.params.uri)

    async def list_page(self, kind, cursor):
        page = await getattr(self.client, f"list_{kind}")(cursor=cursor)
        return [i.model_dump(by_alias=True, mode="json") for i in getattr(page, kind)], page.next_cursor

    def refused(self, error) -> bool:
        return isinstance(error, MCPError) and error.code == -32602

    async def call(self, tool, args):
        await self.client.call_tool(tool, args)

    async def read(self, uri):
        await self.client.read_resource(uri)

    def listen(self):
        return self.client.listen(
            tools_list_changed="tools" in contract.LISTS,
            prompts_list_changed="prompts" in contract.LISTS,
            resources_list_changed="resources" in contract.LISTS,
            resource_subscriptions=contract.SUBSCRIBE,
        )

    async def events(self, stack: AsyncExitStack, subscription) -> None:
        """Each event marks its list; a stream that ends (an abrupt
        `SubscriptionLost` or a graceful end while the application runs) is
        listened to again, and every list re-read: nothing is replayed."""
        while True:
            try:
                async for event in subscription:
                    await self.on_message(event)
            except SubscriptionLost:
                pass
            subscription = await stack.enter_async_context(self.listen())
            for kind in contract.LISTS:
                self.list_changed(kind)

    async def serve(self) -> None:
        server = contract.URL or StdioServerParameters(command=contract.COMMAND[0], args=contract.COMMAND[1:])
        mode = "auto" if contract.MODERN else "legacy"
        handler = None if contract.MODERN else self.on_message  # listen events are teed to it too
        async with AsyncExitStack() as stack:
            self.client = await stack.enter_async_context(Client(server, mode=mode, message_handler=handler))
            if self.client.protocol_version >= "2026-07-28":
                subscription = await stack.enter_async_context(self.listen())
                await self.until_deadline(lambda: self.events(stack, subscription))
            else:
                for uri in contract.SUBSCRIBE:
                    await self.client.subscribe_resource(uri)
                await self.until_deadline()


app = App()
anyio.run(app.run, app.serve)
