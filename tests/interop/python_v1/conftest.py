"""Drive dynamic-mcp-server with the Python SDK 1.x the way client test suites
do: `ClientSession` over `stdio_client`, a `message_handler` that counts
`notifications/tools/list_changed`, the PID from the pidfile and real signals,
or the control endpoint named in the ready file.

Every wait is bounded by TIMEOUT; nothing sleeps and then asserts.
"""

from __future__ import annotations

import json
import os
import signal
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import mcp.types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

BIN = os.environ["DMS_BIN"]
TIMEOUT = 30.0


def expected_names(n: int) -> list[str]:
    return [{1: "echo", 2: "calculator", 3: "counter"}.get(k, f"echo{k}") for k in range(1, n + 1)]


class ListChangedCounter:
    """Counts `notifications/tools/list_changed` and lets a test wait for a count."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = anyio.Event()

    async def handle(self, message) -> None:
        # 1.x hands notifications over wrapped: the typed one is in `.root`.
        if isinstance(message, types.ServerNotification) and isinstance(
            message.root, types.ToolListChangedNotification
        ):
            self.count += 1
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_for(self, n: int) -> int:
        with anyio.fail_after(TIMEOUT):
            while self.count < n:
                await self._changed.wait()
        return self.count

    async def another_within(self, seen: int, quiet: float) -> bool:
        """Whether a notification beyond `seen` arrives within `quiet` seconds."""
        with anyio.move_on_after(quiet):
            while self.count <= seen:
                await self._changed.wait()
            return True
        return False


class Server:
    def __init__(self, pidfile: Path, stderr: Path, counter: ListChangedCounter, session: ClientSession):
        self.pidfile = pidfile
        self.stderr_path = stderr
        self.counter = counter
        self.session = session
        self.pid = 0
        self.initialize_result: types.InitializeResult | None = None
        self.control_url: str | None = None

    async def wait_pid(self) -> None:
        with anyio.fail_after(TIMEOUT):
            while True:
                try:
                    text = self.pidfile.read_text()
                except FileNotFoundError:
                    await anyio.sleep(0.005)
                    continue
                assert text, "the pidfile is never seen empty"
                self.pid = int(text)
                return

    def signal(self, sig: int = signal.SIGHUP) -> None:
        os.kill(self.pid, sig)

    async def change(self, change: str) -> dict:
        """POST /changes to the control endpoint; answered once the change is applied."""
        assert self.control_url, "start the server with control=True"
        with anyio.fail_after(TIMEOUT):
            async with httpx.AsyncClient() as http:
                response = await http.post(f"{self.control_url}/changes", json={"change": change})
        assert response.status_code == 200, response.text
        return response.json()

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        # A zombie is not alive either.
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except FileNotFoundError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    async def wait_stderr(self, needle: str, times: int = 1) -> None:
        with anyio.fail_after(TIMEOUT):
            while self.stderr().count(needle) < times:
                await anyio.sleep(0.005)

    async def wait_signals_delivered(self) -> None:
        """Until the kernel holds no undelivered SIGHUP for the server."""
        hup = 1 << (signal.SIGHUP - 1)
        with anyio.fail_after(TIMEOUT):
            while True:
                pending = 0
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith(("SigPnd:", "ShdPnd:")):
                        pending |= int(line.split()[1], 16)
                if not pending & hup:
                    return
                await anyio.sleep(0)

    async def tools(self) -> list[types.Tool]:
        with anyio.fail_after(TIMEOUT):
            result = await self.session.list_tools()
        return result.tools

    async def tool_names(self) -> list[str]:
        return [tool.name for tool in await self.tools()]

    async def call(self, name: str, arguments: dict | None = None) -> types.CallToolResult:
        with anyio.fail_after(TIMEOUT):
            return await self.session.call_tool(name, arguments or {})

    async def call_ok(self, name: str, arguments: dict | None = None) -> dict:
        result = await self.call(name, arguments)
        assert not result.isError, result
        assert len(result.content) == 1 and result.content[0].type == "text"
        assert json.loads(result.content[0].text) == result.structuredContent
        return result.structuredContent

    async def call_error(self, name: str, arguments: dict) -> str:
        result = await self.call(name, arguments)
        assert result.isError, result
        return json.loads(result.content[0].text)["error"]


@asynccontextmanager
async def running_server(tmp_path: Path, *args: str, initialize: bool = True, control: bool = False):
    """Start the server through `stdio_client`, as a client test suite does,
    and check on the way out that it removed its pidfile. `control`: with the
    control endpoint on a free port, found through the ready file."""
    pidfile = tmp_path / "server.pid"
    stderr = tmp_path / "stderr.log"
    ready = tmp_path / "ready.json"
    if control:
        args = ("--control", "127.0.0.1:0", "--ready-file", str(ready), *args)
    params = StdioServerParameters(command=BIN, args=["--pidfile", str(pidfile), *args])
    counter = ListChangedCounter()
    with open(stderr, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, message_handler=counter.handle) as session:
                server = Server(pidfile, stderr, counter, session)
                await server.wait_pid()
                if control:
                    # Written before the pidfile: complete once the pidfile is there.
                    contents = json.loads(ready.read_text())
                    assert contents["pid"] == server.pid
                    server.control_url = contents["control_url"]
                if initialize:
                    with anyio.fail_after(TIMEOUT):
                        server.initialize_result = await session.initialize()
                yield server
    # stdio_client closed stdin and waited for the process: a clean exit.
    assert not pidfile.exists(), "the server removes its pidfile on EOF"
    assert not ready.exists(), "and its ready file"


def toolcount_file(tmp_path: Path, contents: str) -> str:
    path = tmp_path / "toolcount"
    path.write_text(contents)
    return str(path)
