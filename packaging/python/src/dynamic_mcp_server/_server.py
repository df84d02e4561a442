"""DynamicServer: starts dynamic-mcp-server (over HTTP itself, or on stdio by
handing a client the command line), learns its PID and URLs from the files the
server writes, drives its changes, and stops it leaving nothing behind.

Only the standard library: the wheel has no run-time dependencies.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal as signals
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Sequence

if TYPE_CHECKING:
    from mcp import StdioServerParameters

EXECUTABLE = "dynamic-mcp-server"

Change = Literal[
    "add_tool",
    "remove_tool",
    "change_tool",
    "reset",
    "add_prompt",
    "remove_prompt",
    "change_prompt",
    "add_resource",
    "remove_resource",
    "update_resource",
]

# Polling a file the server writes atomically is the only way to see it appear
# without platform-specific file watching; 5 ms is far below a server's start-up.
_POLL_SECONDS = 0.005
# Loopback only: a proxy from the environment must never see these requests.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerError(RuntimeError):
    """The server could not start, or is not in the state the call needs."""


class ControlError(ServerError):
    """The control endpoint refused a request (400, 404 or 409), with its reason."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"{status}: {error}")
        self.status = status
        self.error = error


# A check's statuses that fail its scenario (the conformance suite's rule).
_FAILING = ("FAILURE", "WARNING")


def _failures(checks: list[dict[str, Any]]) -> list[str]:
    return [f"{c.get('id')}: {c.get('errorMessage') or c.get('description', '')}" for c in checks if c.get("status") in _FAILING]


@dataclass(frozen=True)
class Verdict:
    """The server's grade of what its clients did (``GET /verdict``): ``checks``
    in the MCP conformance suite's format (``id``, ``status``, ``errorMessage``,
    ...); ``passed`` when none of them is a FAILURE or a WARNING."""

    passed: bool
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """One line per failing check: its id and its evidence."""
        return _failures(self.checks)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"Verdict(passed={self.passed}, failures={self.failures!r})"


@dataclass(frozen=True)
class CheckOutcome:
    """What ``dynamic-mcp-server check`` said: its exit ``status`` (0: no check
    failed outside the baseline), its verdict ``table``, and each scenario's
    checks (``scenarios``, read from its results folder)."""

    status: int
    table: str
    scenarios: dict[str, list[dict[str, Any]]]
    stderr: str = ""

    @property
    def passed(self) -> bool:
        return self.status == 0

    @property
    def failures(self) -> list[str]:
        """One line per failing check: scenario, id and evidence."""
        return [f"{name} {line}" for name, checks in self.scenarios.items() for line in _failures(checks)]

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckOutcome(status={self.status}, failures={self.failures!r})"


def check(
    client: str | Sequence[str],
    *,
    transport: Literal["http", "stdio"] = "http",
    scenarios: Sequence[str] = (),
    results: str | os.PathLike[str] | None = None,
    expected_failures: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    executable: str | None = None,
) -> CheckOutcome:
    """Run ``dynamic-mcp-server check`` against a client program and return its
    outcome. ``client`` is its command line (a string as the shell splits it,
    or a list of arguments); over HTTP it gets the server URL as its last
    argument, over stdio the server's command line in its context (see the
    project's docs/check.md). ``scenarios`` picks some (default: all);
    ``results`` keeps the results folder (default: a temporary one, removed);
    ``timeout`` bounds each scenario (seconds)."""
    command = client if isinstance(client, str) else shlex.join(client)
    folder = Path(results) if results is not None else Path(tempfile.mkdtemp(prefix="dynamic-mcp-check-"))
    args = [executable or find_executable(), "check", "--client", command, "--transport", transport]
    args += ["--results", str(folder)]
    for name in scenarios:
        args += ["--scenario", name]
    if expected_failures is not None:
        args += ["--expected-failures", str(expected_failures)]
    if timeout is not None:
        args += ["--timeout", str(timeout)]
    try:
        run = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        if run.returncode == 2:
            raise ServerError(f"dynamic-mcp-server check refused its arguments: {run.stderr.strip()}")
        found = {}
        for checks in sorted(folder.glob("*/checks.json")):
            found[checks.parent.name] = json.loads(checks.read_text())
        return CheckOutcome(run.returncode, run.stdout, found, run.stderr)
    finally:
        if results is None:
            shutil.rmtree(folder, ignore_errors=True)


def find_executable() -> str:
    """The server executable: $DYNAMIC_MCP_SERVER_BIN if set, else the one this
    wheel installed into the interpreter's scripts folder, else one on PATH."""
    override = os.environ.get("DYNAMIC_MCP_SERVER_BIN")
    if override:
        return override
    name = EXECUTABLE + (sysconfig.get_config_var("EXE") or "")
    schemes = {sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")}
    for scheme in schemes:
        candidate = Path(sysconfig.get_path("scripts", scheme)) / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(EXECUTABLE)
    if found:
        return found
    raise ServerError(f"no {name} found beside this Python ({sysconfig.get_path('scripts')}) or on PATH")


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) is the answer
    return stat[stat.rindex(")") + 2] != "Z"


def _address(value: bool | str) -> str:
    return "127.0.0.1:0" if value is True else str(value)


class DynamicServer:
    """One dynamic-mcp-server, as a context manager (``with`` or ``async with``).

    With ``http``, entering starts the server over Streamable HTTP and waits
    until it serves (``mcp_url``). Without it (stdio), the MCP client starts the
    server itself from :meth:`stdio_params`; ``pid`` and the changes then reach
    whichever server that client started. ``control`` (on by default) serves
    the control endpoint that every change but ``add_tool`` (a SIGHUP),
    ``state`` and ``report`` go through. Leaving stops the server and removes the
    temporary folder that holds its pidfile, ready file and log.

    Every call is a quick local one and blocks; in async tests that is a few
    milliseconds at most, so no async variants exist.
    """

    def __init__(
        self,
        *args: str,
        http: bool | str = False,
        control: bool | str = True,
        tools: int | None = None,
        executable: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        """``args`` are any further command-line flags; ``http`` and ``control``
        take True (a free loopback port) or an address; ``timeout`` bounds every wait."""
        self.executable = executable or find_executable()
        self.http = http
        self.control = control
        self.timeout = timeout
        self._extra = [*(("--tools", str(tools)) if tools is not None else ()), *args]
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- starting and stopping -------------------------------------------------

    def start(self) -> DynamicServer:
        """Make the temporary folder and, over HTTP, start the server and wait until it serves."""
        if self._dir is not None:
            raise ServerError("this DynamicServer is already started")
        self._dir = Path(tempfile.mkdtemp(prefix="dynamic-mcp-server-"))
        if self.http:
            try:
                with open(self._dir / "stderr.log", "wb") as log:
                    self._process = subprocess.Popen(
                        [self.executable, *self.args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log
                    )
                self._wait_pidfile()
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> int | None:
        """Stop the server (SIGTERM, SIGKILL if it lingers) and remove the folder.
        Returns the exit status of a server this object started, else None."""
        status = None
        if self._process is not None:
            status = self._terminate(self._process)
            self._process = None
        elif self._dir is not None:
            self._terminate_stdio()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        return status

    def _terminate(self, process: subprocess.Popen[bytes]) -> int:
        if process.poll() is None:
            process.terminate()
            try:
                return process.wait(self.timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        return process.wait()

    def _terminate_stdio(self) -> None:
        # The client normally stopped it by closing stdin; this is the safety
        # net when it did not. Not our child, so wait for its pidfile to go.
        pidfile = self._path("server.pid")
        try:
            pid = int(pidfile.read_text())
            if not self._serves(pid):
                return
            os.kill(pid, signals.SIGTERM)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return
        deadline = time.monotonic() + self.timeout
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)

    def __enter__(self) -> DynamicServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> DynamicServer:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what the server is -----------------------------------------------------

    @property
    def args(self) -> list[str]:
        """The server's command-line arguments (without the executable)."""
        args = ["--pidfile", str(self._path("server.pid"))]
        if self.http or self.control:
            args += ["--ready-file", str(self._path("ready.json"))]
        if self.http:
            args += ["--http", _address(self.http)]
        if self.control:
            args += ["--control", _address(self.control)]
        return args + self._extra

    def stdio_params(self, **kwargs: Any) -> StdioServerParameters:
        """The mcp SDK's ``StdioServerParameters`` that start this server (needs the ``mcp`` extra)."""
        if self.http:
            raise ServerError("an HTTP server has no stdio parameters: connect to mcp_url")
        from mcp import StdioServerParameters

        return StdioServerParameters(command=self.executable, args=self.args, **kwargs)

    @property
    def pid(self) -> int:
        """The server's PID. On stdio, that of the server the client started
        (waiting up to ``timeout`` for the client to start it)."""
        if self._process is not None:
            return self._process.pid
        return int(self._wait_pidfile())

    @property
    def mcp_url(self) -> str:
        """The Streamable HTTP endpoint, such as ``http://127.0.0.1:41234/mcp``."""
        return self._ready_field("mcp_url", "started with http")

    @property
    def control_url(self) -> str:
        """The control endpoint's base URL, such as ``http://127.0.0.1:41235``."""
        return self._ready_field("control_url", "started with control")

    @property
    def stderr(self) -> str:
        """What an HTTP server logged so far (on stdio, the client has the server's stderr)."""
        try:
            return self._path("stderr.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- changes ----------------------------------------------------------------

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the server."""
        os.kill(self.pid, sig)

    def add_tool(self) -> None:
        """Add the next tool with SIGHUP (no control endpoint needed)."""
        self.signal(signals.SIGHUP)

    def change(
        self, change: Change, *, name: str | None = None, uri: str | None = None, count: int | None = None
    ) -> dict[str, Any]:
        """Apply one change through the control endpoint (``count`` times) and
        return the new state; raises ControlError when the server refuses it."""
        body: dict[str, Any] = {"change": change}
        for key, value in (("name", name), ("uri", uri), ("count", count)):
            if value is not None:
                body[key] = value
        return self._control("POST", "/changes", body)

    def remove_tool(self, name: str | None = None) -> dict[str, Any]:
        """Remove a tool (the newest by default)."""
        return self.change("remove_tool", name=name)

    def change_tool(self, name: str | None = None) -> dict[str, Any]:
        """Change a tool's definition under the same name, a rug pull (the newest by default)."""
        return self.change("change_tool", name=name)

    def reset(self) -> dict[str, Any]:
        """Put every list back as it was at start-up."""
        return self.change("reset")

    def add_prompt(self) -> dict[str, Any]:
        return self.change("add_prompt")

    def remove_prompt(self, name: str | None = None) -> dict[str, Any]:
        return self.change("remove_prompt", name=name)

    def change_prompt(self, name: str | None = None) -> dict[str, Any]:
        return self.change("change_prompt", name=name)

    def add_resource(self) -> dict[str, Any]:
        return self.change("add_resource")

    def remove_resource(self, uri: str | None = None) -> dict[str, Any]:
        return self.change("remove_resource", uri=uri)

    def update_resource(self, uri: str | None = None) -> dict[str, Any]:
        """Update a resource's contents, notifying its subscribers."""
        return self.change("update_resource", uri=uri)

    def state(self) -> dict[str, Any]:
        """The catalog and the open sessions, as the control endpoint reports them."""
        return self._control("GET", "/state")

    def report(self) -> dict[str, Any]:
        """The server's report of what its clients did."""
        try:
            return self._control("GET", "/report")
        except ControlError as error:
            if error.status == 404:
                raise ServerError("this server has no /report on its control endpoint (a newer release has)") from None
            raise

    def verdict(self) -> Verdict:
        """Grade what this server's clients did so far with the checks of
        ``dynamic-mcp-server check`` (``GET /verdict``), as a :class:`Verdict`:
        end a test with ``assert server.verdict().passed``."""
        try:
            answer = self._control("GET", "/verdict")
        except ControlError as error:
            if error.status == 404:
                raise ServerError("this server has no /verdict on its control endpoint (a newer release has)") from None
            raise
        checks = list(answer.get("checks") or [])
        passed = answer.get("passed")
        return Verdict(bool(passed) if passed is not None else not _failures(checks), checks)

    # -- plumbing ---------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if self._dir is None:
            raise ServerError("start the DynamicServer first (use it with `with` or `async with`)")
        return self._dir / name

    def _wait_pidfile(self) -> str:
        # The server writes the ready file, then the pidfile, each atomically:
        # once the pidfile names a running server, everything is there.
        pidfile = self._path("server.pid")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                text = pidfile.read_text()
            except FileNotFoundError:
                pass
            else:
                if self._serves(int(text)):
                    return text
            if self._process is not None and self._process.poll() is not None:
                raise ServerError(f"the server exited with status {self._process.returncode}: {self.stderr.strip()}")
            if time.monotonic() > deadline:
                started = "" if self.http else " (has the client started it from stdio_params()?)"
                raise ServerError(f"no running server wrote {pidfile} within {self.timeout} s{started}")
            time.sleep(_POLL_SECONDS)

    def _serves(self, pid: int) -> bool:
        """Whether ``pid``, read from the pidfile, is the server to reach.

        On stdio a client may start the server more than once with the same
        arguments: the TypeScript SDK v2 in auto mode probes with
        ``server/discover`` on a short-lived process first, then starts the
        one it talks to. A probe that was killed before it could remove its
        files leaves them naming a process that is gone, until the real
        server replaces them; and a ready file is written before its
        pidfile, so while the two name different processes, a newer server
        is half way through starting. Either way: wait.
        """
        if self._process is not None:
            return pid == self._process.pid
        if not _running(pid):
            return False
        if self.http or self.control:
            try:
                return bool(json.loads(self._path("ready.json").read_text())["pid"] == pid)
            except (FileNotFoundError, ValueError, KeyError):
                return False
        return True

    def _ready_field(self, field: str, needs: str) -> str:
        if not (self.http if field == "mcp_url" else self.control):
            raise ServerError(f"{field} exists only for a server {needs}")
        self._wait_pidfile()
        return str(json.loads(self._path("ready.json").read_text())[field])

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.control_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with _LOCAL.open(request, timeout=self.timeout) as response:
                return json.load(response)  # type: ignore[no-any-return]
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                reason = str(json.loads(text)["error"])
            except (ValueError, KeyError, TypeError):
                reason = text or error.reason
            raise ControlError(error.code, reason) from None
