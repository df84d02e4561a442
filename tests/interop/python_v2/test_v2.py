"""The Python SDK 2.x: its high-level `Client` in the default mode, which probes
with `server/discover` and lands on 2026-07-28, where `list_changed` arrives
only on a `subscriptions/listen` stream; and its `ClientSession` handshake path;
and every page of a paged server, on 2026-07-28.

Every wait is bounded by TIMEOUT; nothing sleeps and then asserts.
"""

from __future__ import annotations

import json
import os
import signal
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.client.subscriptions import ToolsListChanged

BIN = os.environ["DMS_BIN"]
TIMEOUT = 30.0


class ListChangedCounter:
    """Counts `notifications/tools/list_changed` that reach the message handler."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = anyio.Event()

    async def handle(self, message) -> None:
        if isinstance(getattr(message, "root", message), types.ToolListChangedNotification):
            self.count += 1
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_for(self, n: int) -> int:
        with anyio.fail_after(TIMEOUT):
            while self.count < n:
                await self._changed.wait()
        return self.count


def params(tmp_path: Path, *args: str) -> StdioServerParameters:
    return StdioServerParameters(command=BIN, args=["--pidfile", str(tmp_path / "server.pid"), *args])


async def read_pid(tmp_path: Path) -> int:
    pidfile = tmp_path / "server.pid"
    with anyio.fail_after(TIMEOUT):
        while not pidfile.exists():
            await anyio.sleep(0.005)
    return int(pidfile.read_text())


def structured(result) -> dict:
    assert not result.is_error, result
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


@asynccontextmanager
async def bounded():
    with anyio.fail_after(TIMEOUT):
        yield


async def test_client_default_mode_reaches_2026_and_listens(tmp_path):
    counter = ListChangedCounter()
    # The bound wraps the whole client: anyio scopes must nest.
    async with bounded(), Client(params(tmp_path), message_handler=counter.handle) as client:
        assert client.protocol_version == "2026-07-28"
        assert client.server_capabilities.tools.list_changed is True
        pid = await read_pid(tmp_path)
        assert [t.name for t in (await client.list_tools()).tools] == ["echo"]

        # No stream yet: the change happens, and nobody is told.
        os.kill(pid, signal.SIGHUP)
        while [t.name for t in (await client.list_tools()).tools] != ["echo", "calculator"]:
            await anyio.sleep(0.005)

        async with client.listen(tools_list_changed=True) as subscription:
            assert subscription.honored.tools_list_changed is True
            for n, new_tool in [(3, "counter"), (4, "echo4")]:
                os.kill(pid, signal.SIGHUP)
                event = await anext(subscription)
                assert isinstance(event, ToolsListChanged), event
                names = [t.name for t in (await client.list_tools()).tools]
                assert len(names) == n and names[-1] == new_tool, names

        assert structured(await client.call_tool("calculator", {"a": 10, "b": 5, "operation": "add"})) == {
            "result": 15
        }
        assert structured(await client.call_tool("echo4", {"message": "new"})) == {
            "echo_message": "new",
            "tool_number": 4,
        }
        assert structured(await client.call_tool("counter", {})) == {"count": 4}
        # The 2.x session tees each stream event to the message handler too:
        # one per SIGHUP while the stream was open, none for the one before.
        assert counter.count == 2
    assert not (tmp_path / "server.pid").exists()


async def test_client_listen_stream_ends_gracefully_when_the_server_stops(tmp_path):
    async with bounded(), Client(params(tmp_path)) as client:
        pid = await read_pid(tmp_path)
        async with client.listen(tools_list_changed=True) as subscription:
            os.kill(pid, signal.SIGHUP)
            assert isinstance(await anext(subscription), ToolsListChanged)
            os.kill(pid, signal.SIGTERM)
            # A graceful close ends the loop; an abrupt one would raise SubscriptionLost.
            rest = [event async for event in subscription]
            assert rest == []
    assert not (tmp_path / "server.pid").exists()


async def test_client_legacy_mode_gets_list_changed_in_the_message_handler(tmp_path):
    counter = ListChangedCounter()
    async with bounded(), Client(params(tmp_path), mode="legacy", message_handler=counter.handle) as client:
        assert client.protocol_version == "2025-11-25"
        pid = await read_pid(tmp_path)
        os.kill(pid, signal.SIGHUP)
        assert await counter.wait_for(1) == 1
        assert [t.name for t in (await client.list_tools()).tools] == ["echo", "calculator"]


async def test_client_session_handshake_path(tmp_path):
    counter = ListChangedCounter()
    async with bounded():
        async with stdio_client(params(tmp_path, "--tools", "2")) as (read, write):
            async with ClientSession(read, write, message_handler=counter.handle) as session:
                result = await session.initialize()
                assert result.protocol_version == "2025-11-25"
                assert result.capabilities.tools.list_changed is True
                pid = await read_pid(tmp_path)
                assert [t.name for t in (await session.list_tools()).tools] == ["echo", "calculator"]
                assert counter.count == 0

                for n in (1, 2):
                    os.kill(pid, signal.SIGHUP)
                    assert await counter.wait_for(n) == n
                names = [t.name for t in (await session.list_tools()).tools]
                assert names == ["echo", "calculator", "counter", "echo4"]
                assert structured(await session.call_tool("counter", {})) == {"count": 4}
                assert structured(await session.call_tool("echo4", {"message": "x"})) == {
                    "echo_message": "x",
                    "tool_number": 4,
                }
                assert counter.count == 2
    assert not (tmp_path / "server.pid").exists()


@pytest.mark.parametrize("style", ["normal", "empty-once"])
async def test_client_lists_every_page_of_a_paged_server_in_order(tmp_path, style):
    # nextCursor "" (empty-once) is a cursor like any other: it must not end the listing.
    args = ("--tools", "7", "--prompts", "7", "--resources", "7", "--page-size", "2", "--cursor-style", style)

    async def walk(list_page, items, name) -> list[list[str]]:
        pages, cursor = [], None
        while True:
            page = await list_page(cursor=cursor)
            pages.append([name(item) for item in getattr(page, items)])
            assert len(pages) <= 100, "a listing that never ends"
            cursor = page.next_cursor
            if cursor is None:
                return pages

    async with bounded(), Client(params(tmp_path, *args)) as client:
        assert client.protocol_version == "2026-07-28"
        tools = await walk(client.list_tools, "tools", lambda t: t.name)
        assert [len(page) for page in tools] == [2, 2, 2, 1]
        assert sum(tools, []) == ["echo", "calculator", "counter", "echo4", "echo5", "echo6", "echo7"]
        prompts = await walk(client.list_prompts, "prompts", lambda p: p.name)
        assert sum(prompts, []) == [f"prompt{k}" for k in range(1, 8)]
        resources = await walk(client.list_resources, "resources", lambda r: str(r.uri))
        assert sum(resources, []) == [f"dynamic://resources/{k}" for k in range(1, 8)]
    assert not (tmp_path / "server.pid").exists()
