"""What the package tests share: an mcp SDK ClientSession (1.x or 2.x) over
stdio to the server the dynamic_mcp_server fixture describes, results in
their wire form (the same from both SDKs), and a server with no client."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager

from mcp import ClientSession, stdio_client


@asynccontextmanager
async def connect(server, handler=None):
    async with stdio_client(server.stdio_params()) as (read, write):
        async with ClientSession(read, write, message_handler=handler) as session:
            await session.initialize()
            yield session


async def names(session) -> list[str]:
    return [tool.name for tool in (await session.list_tools()).tools]


async def call(session, name: str, **arguments) -> dict:
    """The result in its wire form (camelCase), the same from mcp 1.x and 2.x."""
    result = await session.call_tool(name, arguments)
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


async def result(session, name: str, **arguments) -> dict:
    answer = await call(session, name, **arguments)
    assert not answer.get("isError"), answer
    assert json.loads(answer["content"][0]["text"]) == answer["structuredContent"]
    return answer["structuredContent"]


@contextmanager
def without_client(server) -> Iterator[subprocess.Popen[bytes]]:
    """The stdio server started as a client would start it, but never
    initialized (so it notifies nobody); closing its stdin stops it."""
    process = subprocess.Popen([server.executable, *server.args], stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.stdin.close()
        assert process.wait(30) == 0, "a clean exit on stdin EOF"
