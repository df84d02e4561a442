"""Closing a Streamable HTTP client: the SDK sends DELETE and accepts only
200, 204 or 405 (anything else logs "Session termination failed"). The
server answers 200 and ends the session, which the report shows closed.

One file for both SDKs (python_v2/test_http_close.py is a link to it): their
`streamable_http_client` differ only in 1.x's third value, the session id."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import urllib.request

import anyio
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

BIN = os.environ["DMS_BIN"]
TIMEOUT = 30.0


async def test_closing_the_client_ends_its_session_without_a_warning(tmp_path, caplog):
    ready = tmp_path / "ready.json"
    server = subprocess.Popen(
        [BIN, "--http", "127.0.0.1:0", "--control", "127.0.0.1:0", "--ready-file", str(ready),
         "--pidfile", str(tmp_path / "server.pid")],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with anyio.fail_after(TIMEOUT):
            while not ready.exists():
                await anyio.sleep(0.005)
            urls = json.loads(ready.read_text())
            with caplog.at_level(logging.DEBUG, logger="mcp.client.streamable_http"):
                async with streamable_http_client(urls["mcp_url"]) as (read, write, *_):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        assert [t.name for t in (await session.list_tools()).tools] == ["echo"]
            failures = [r.getMessage() for r in caplog.records if "termination failed" in r.getMessage()]
            assert failures == []
            with urllib.request.urlopen(urls["control_url"] + "/report") as response:
                (session_record,) = json.load(response)["sessions"]
            assert session_record["closed_ms"] is not None, "the DELETE ended the session"
    finally:
        server.terminate()
        server.wait(TIMEOUT)
