"""The check client (docs/check.md) on the fastmcp client (`fastmcp` 4.2.3,
on `mcp` 2.3.0), as its users write an application: a `Client` with a
`MessageHandler` whose `on_*_list_changed` hooks mark a list for a task that
re-lists, and `list_tools()` / `list_prompts()` / `list_resources()`, its
pagination helpers, which walk every page. Its default `mode="auto"` lands
on 2026-07-28 when the scenario asks for it; there fastmcp opens no listen
stream and so hears of no change (see docs/check.md). A 404 is the SDK's
`MCPError` -32600 "Session terminated": the application starts again."""

import warnings

import anyio
from fastmcp import Client
from fastmcp.client.messages import MessageHandler
from fastmcp.client.transports import StdioTransport

import contract

# resources/subscribe is deprecated on 2026-07-28, and still the way on 2025-11-25.
warnings.filterwarnings("ignore", "resources/subscribe")


class Hooks(MessageHandler):
    def __init__(self, app: "App") -> None:
        self.app = app

    async def on_tool_list_changed(self, message) -> None:
        self.app.list_changed("tools")

    async def on_prompt_list_changed(self, message) -> None:
        self.app.list_changed("prompts")

    async def on_resource_list_changed(self, message) -> None:
        self.app.list_changed("resources")

    async def on_resource_updated(self, message) -> None:
        self.app.resource_updated(message.params.uri)


class App(contract.Application):
    async def list_all(self, kind: str) -> None:
        items = await getattr(self.client, f"list_{kind}")()
        self.view.hold(kind, [i.model_dump(by_alias=True, mode="json") for i in items])

    async def call(self, tool, args):
        await self.client.call_tool(tool, args)

    async def read(self, uri):
        await self.client.read_resource(uri)

    async def serve(self) -> None:
        if contract.STDIO:
            target = StdioTransport(contract.COMMAND[0], contract.COMMAND[1:], keep_alive=False)
        else:
            target = contract.URL
        mode = "auto" if contract.MODERN else "legacy"
        async with Client(target, mode=mode, message_handler=Hooks(self)) as self.client:
            for uri in contract.SUBSCRIBE:
                await self.client.session.subscribe_resource(uri)
            await self.until_deadline()


app = App()
anyio.run(app.run, app.serve)
