"""The fastmcp 4.2.3 client (on the Python SDK 2.3), in both of its modes:
`auto` (its default: `server/discover`, then 2026-07-28) and `legacy` (the
2025-11-25 handshake), over stdio and Streamable HTTP. An added tool, a
changed one (rug pull) and a removed one, each as the client sees it and as
the report records it; every page of a paged server; and what fastmcp does
with a repeated cursor, pinned: it stops there, logs a warning and returns
a short list. (Listening on 2026-07-28 is the Python SDK's `Client.listen`,
tested in ../python_v2.)

Every wait is bounded by TIMEOUT; nothing sleeps and then asserts.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import urllib.request
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError
from mcp import MCPError

BIN = os.environ["DMS_BIN"]
TIMEOUT = 30.0
NAMES = ["echo", "calculator", "counter"]


def expected_names(n: int) -> list[str]:
    return [NAMES[i] if i < 3 else f"echo{i + 1}" for i in range(n)]


class ListChangedCounter:
    """Counts `notifications/tools/list_changed` that reach the message handler."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = anyio.Event()

    async def __call__(self, message) -> None:
        if isinstance(getattr(message, "root", message), types.ToolListChangedNotification):
            self.count += 1
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_for(self, n: int) -> int:
        while self.count < n:
            await self._changed.wait()
        return self.count


class Server:
    def __init__(self, tmp_path: Path, transport: str) -> None:
        self.ready = tmp_path / "ready.json"
        self.transport = transport

    async def wait_ready(self) -> dict:
        while not self.ready.exists():
            await anyio.sleep(0.005)
        urls = json.loads(self.ready.read_text())
        self.pid, self.control_url, self.mcp_url = urls["pid"], urls["control_url"], urls["mcp_url"]
        return urls

    def signal(self, sig: int = signal.SIGHUP) -> None:
        os.kill(self.pid, sig)

    def _control(self, route: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.control_url + route, data=data, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.load(response)

    def change(self, change: str) -> dict:
        return self._control("/changes", {"change": change})

    def served(self, protocol: str) -> dict:
        """The report's session that answered this client's requests (on
        2026-07-28 over HTTP: the one "stateless" record, since fastmcp opens
        no listen stream for the report to credit them to)."""
        sessions = self._control("/report")["sessions"]
        if self.transport == "http" and protocol == "2026-07-28":
            sessions = [s for s in sessions if s["id"] == "stateless"]
        assert len(sessions) == 1, sessions
        return sessions[0]


@asynccontextmanager
async def connected(tmp_path: Path, transport: str, mode: str, *args: str, **client_options):
    """A server with the control endpoint, and a fastmcp Client in `mode` connected to it."""
    server = Server(tmp_path, transport)
    flags = ["--pidfile", str(tmp_path / "server.pid"), "--control", "127.0.0.1:0", "--ready-file", str(server.ready)]
    process = None
    with anyio.fail_after(TIMEOUT):
        if transport == "stdio":
            # keep_alive=False: the server stops when the client closes (see
            # test_a_stdio_server_outlives_the_client_by_default).
            target = StdioTransport(command=BIN, args=[*flags, *args], keep_alive=False)
        else:
            process = subprocess.Popen(
                [BIN, *flags, "--http", "127.0.0.1:0", *args], stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            target = (await server.wait_ready())["mcp_url"]
        try:
            async with Client(target, mode=mode, **client_options) as client:
                await server.wait_ready()
                yield server, client
        finally:
            if process is not None:
                process.terminate()
                process.wait(TIMEOUT)
        # Closing returns before the server has exited; it removes its
        # pidfile as it does.
        while (tmp_path / "server.pid").exists():
            await anyio.sleep(0.005)


COMBINATIONS = [
    ("stdio", "legacy", "2025-11-25"),
    ("stdio", "auto", "2026-07-28"),
    ("http", "legacy", "2025-11-25"),
    ("http", "auto", "2026-07-28"),
]


def structured(result) -> dict:
    assert not result.is_error, result
    return result.structured_content


@pytest.mark.parametrize(("transport", "mode", "protocol"), COMBINATIONS)
async def test_an_add_a_rug_pull_and_a_removal(tmp_path, transport, mode, protocol):
    counter = ListChangedCounter()
    async with connected(tmp_path, transport, mode, "--tools", "3", message_handler=counter) as (server, client):
        assert client.protocol_version == protocol
        assert [t.name for t in await client.list_tools()] == expected_names(3)

        server.signal()
        if mode == "legacy":
            # 2025-11-25: list_changed reaches the message handler. On
            # 2026-07-28 only a listen stream carries it, and fastmcp opens none.
            assert await counter.wait_for(1) == 1
        while [t.name for t in await client.list_tools()] != expected_names(4):
            await anyio.sleep(0.005)
        assert structured(await client.call_tool("echo4", {"message": "four"})) == {
            "echo_message": "four",
            "tool_number": 4,
        }

        server.change("change_tool")
        tools = await client.list_tools()
        assert tools[3].input_schema["properties"]["revision"]["const"] == 2
        # The stale call reaches the server (fastmcp does not check arguments)
        # and its tool error is raised as ToolError.
        with pytest.raises(ToolError, match="revision"):
            await client.call_tool("echo4", {"message": "stale"})
        assert structured(await client.call_tool("echo4", {"message": "hi", "revision": 2}))["tool_number"] == 4

        server.signal(signal.SIGUSR1)
        while [t.name for t in await client.list_tools()] != expected_names(3):
            await anyio.sleep(0.005)
        with pytest.raises((ToolError, MCPError), match="echo4"):
            await client.call_tool("echo4", {"message": "gone", "revision": 2})

        served = server.served(protocol)
        assert [c["refreshed"] for c in served["changes"]] == [True, True, True]
        assert [(c["tool"], c["reason"]) for c in served["stale_calls"]] == [
            ("echo4", "stale revision"),
            ("echo4", "unknown tool"),
        ]
        if mode == "legacy":
            assert counter.count == 3
            assert served["summary"]["seen"] == 3
        if transport == "http" and protocol == "2026-07-28":
            # Each request names the client, but no listen stream of it is
            # there to credit: the report says so, for every request.
            requests = sum(served["requests"].values())
            assert served["unmatched"] == {"no_client": 0, "no_listen_stream": requests, "several_listen_streams": 0}
        else:
            assert served["unmatched"] is None


@pytest.mark.parametrize(("transport", "mode", "protocol"), COMBINATIONS)
@pytest.mark.parametrize("style", ["normal", "empty-once"])
async def test_list_tools_walks_every_page(tmp_path, transport, mode, protocol, style):
    args = ("--tools", "7", "--prompts", "7", "--page-size", "2", "--cursor-style", style)
    async with connected(tmp_path, transport, mode, *args) as (server, client):
        assert [t.name for t in await client.list_tools()] == expected_names(7)
        assert [p.name for p in await client.list_prompts()] == [f"prompt{k}" for k in range(1, 8)]
        assert server.served(protocol)["requests"]["tools/list"] == 4


@pytest.mark.parametrize(("transport", "mode", "protocol"), COMBINATIONS)
async def test_a_repeated_cursor_ends_the_listing_short(tmp_path, caplog, transport, mode, protocol):
    # --cursor-style repeat-once answers each cursor first with itself as
    # nextCursor. fastmcp stops at a cursor it has seen, logs a warning and
    # returns what it has: 4 of the 5 tools, with no error (pinned).
    args = ("--tools", "5", "--page-size", "2", "--cursor-style", "repeat-once")
    with caplog.at_level(logging.WARNING):
        async with connected(tmp_path, transport, mode, *args) as (server, client):
            assert [t.name for t in await client.list_tools()] == expected_names(4)
            served = server.served(protocol)
            assert served["requests"]["tools/list"] == 2
    assert any("duplicate pagination cursor" in r.getMessage() for r in caplog.records)


async def test_closing_an_http_client_ends_its_session_without_a_warning(tmp_path, caplog):
    # The Python SDK under fastmcp sends DELETE and logs "Session termination
    # failed" for any answer but 200, 204 or 405.
    async with connected(tmp_path, "http", "legacy") as (server, _):
        with caplog.at_level(logging.DEBUG, logger="mcp.client.streamable_http"):
            with anyio.fail_after(TIMEOUT):
                async with Client(server.mcp_url, mode="legacy") as client:
                    assert [t.name for t in await client.list_tools()] == ["echo"]
        sessions = server._control("/report")["sessions"]
        assert [s["closed_ms"] is not None for s in sessions] == [False, True], "the DELETE ended the second"
    assert [r.getMessage() for r in caplog.records if "termination failed" in r.getMessage()] == []


async def test_a_stdio_server_outlives_the_client_by_default(tmp_path):
    # StdioTransport's keep_alive defaults to True: leaving `async with
    # Client` leaves the server running for the next connection, until the
    # transport is closed (pinned).
    pidfile = tmp_path / "server.pid"
    transport = StdioTransport(command=BIN, args=["--pidfile", str(pidfile)])
    with anyio.fail_after(TIMEOUT):
        async with Client(transport) as client:
            assert [t.name for t in await client.list_tools()] == ["echo"]
        pid = int(pidfile.read_text())
        os.kill(pid, 0)
        async with Client(transport) as client:
            assert [t.name for t in await client.list_tools()] == ["echo"]
        assert int(pidfile.read_text()) == pid, "the same server served the second client"
        await transport.close()
        while pidfile.exists():
            await anyio.sleep(0.005)
