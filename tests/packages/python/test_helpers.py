"""DynamicServer itself: HTTP start-up, clear errors, and nothing left behind
(the process reaped, the temporary folder removed), with or without pytest;
verdict() and check(), the grades of `dynamic-mcp-server check`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from dynamic_mcp_server import DynamicServer, ListChangedCounter, ServerError, check, find_executable
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from client import call, connect, names, without_client

pytestmark = pytest.mark.anyio


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_wheel_installed_the_executable_into_the_venv():
    assert find_executable() == os.path.join(sys.prefix, "bin", "dynamic-mcp-server")


async def test_http_server_serves_its_mcp_url_and_stops_leaving_nothing(list_changed):
    async with DynamicServer(http=True, tools=2) as server:
        pid, folder = server.pid, Path(server.args[1]).parent
        assert server.mcp_url.startswith("http://127.0.0.1:") and server.mcp_url.endswith("/mcp")
        async with streamable_http_client(server.mcp_url) as streams:
            async with ClientSession(streams[0], streams[1], message_handler=list_changed) as session:
                await session.initialize()
                assert [t.name for t in (await session.list_tools()).tools] == ["echo", "calculator"]
                server.add_tool()
                # The notification rides the SSE stream the client opens in
                # the background; the list itself is the certain witness.
                with anyio.fail_after(30):
                    while len((await session.list_tools()).tools) < 3:
                        await anyio.sleep(0.005)
    assert gone(pid), "the server was stopped and reaped"
    assert not folder.exists(), "the temporary folder is removed"


def test_stdio_server_started_by_the_client_is_cleaned_up_if_the_client_did_not():
    with DynamicServer() as server:
        folder = Path(server.args[1]).parent
        # A client that starts the server and never closes its stdin.
        client = subprocess.Popen([server.executable, *server.args], stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert server.pid == client.pid
    assert client.wait(30) == 0, "stopped by SIGTERM, exit 0"
    client.stdin.close()
    assert not folder.exists()


def test_a_server_that_cannot_start_says_why():
    with pytest.raises(ServerError, match="exited with status 2.*--tools"):
        with DynamicServer("--tools", "0", http=True):
            pass


def test_asking_a_stdio_server_for_its_pid_before_any_client_started_it_fails_clearly():
    with DynamicServer(timeout=0.05) as server, pytest.raises(ServerError, match="stdio_params"):
        server.pid


def test_what_a_server_does_not_have_is_an_error_not_a_guess():
    with DynamicServer(control=False) as server:
        with pytest.raises(ServerError, match="mcp_url exists only for a server started with http"):
            server.mcp_url
        with pytest.raises(ServerError, match="control_url exists only"):
            server.control_url
    with pytest.raises(ServerError, match="start the DynamicServer first"):
        DynamicServer().stdio_params()


@pytest.mark.dynamic_mcp_server(http=True)
def test_the_fixture_takes_the_marker(dynamic_mcp_server):
    assert dynamic_mcp_server.mcp_url.endswith("/mcp")
    dynamic_mcp_server.signal(signal.SIGHUP)


@pytest.mark.dynamic_mcp_server(tools=3)
@pytest.mark.parametrize("dynamic_mcp_server", [{"tools": 2}], indirect=True)
def test_the_fixture_takes_indirect_parameters_over_the_marker(dynamic_mcp_server):
    with without_client(dynamic_mcp_server):
        assert [item["name"] for item in dynamic_mcp_server.state()["tools"]["items"]] == ["echo", "calculator"]


def _dead_pid() -> int:
    """The PID of a process that has exited and been reaped."""
    probe = subprocess.Popen([sys.executable, "-c", ""])
    probe.wait()
    return probe.pid


def test_files_left_by_a_process_that_is_gone_name_no_server():
    # The TypeScript SDK v2 in auto mode on stdio starts a short-lived probe
    # with the same arguments before the server it talks to; a probe killed
    # before it could clean up leaves its pidfile and ready file behind. The
    # helper must wait for the server the client is connected to, never
    # signal the PID in those files.
    with DynamicServer(timeout=0.2) as server:
        folder = Path(server.args[1]).parent
        dead = _dead_pid()
        (folder / "ready.json").write_text(f'{{"control_url": "http://127.0.0.1:9", "mcp_url": null, "pid": {dead}}}')
        (folder / "server.pid").write_text(str(dead))
        with pytest.raises(ServerError, match="no running server"):
            server.pid
        # The client starts the real server, which replaces both files.
        client = subprocess.Popen([server.executable, *server.args], stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
        server.timeout = 30
        assert server.pid == client.pid
        assert server.state()["tools"]["items"][0]["name"] == "echo"
    assert client.wait(30) == 0
    client.stdin.close()


async def test_verdict_passes_a_client_that_re_lists_and_fails_one_that_calls_a_removed_tool():
    counter = ListChangedCounter()
    async with DynamicServer(tools=3) as server:
        async with connect(server, counter) as session:
            assert await names(session) == ["echo", "calculator", "counter"]
            server.add_tool()
            await counter.wait_for(1)
            assert len(await names(session)) == 4
            verdict = server.verdict()
            assert verdict.passed and verdict and verdict.failures == [], verdict
            assert verdict.checks, "the checks it passed are there too"
            server.remove_tool("echo4")
            await counter.wait_for(2)
            with pytest.raises(Exception, match="echo4"):  # the client called what it was told is gone
                await call(session, "echo4", message="stale")
            verdict = server.verdict()
            assert not verdict.passed and not verdict, verdict
            assert any("echo4" in line for line in verdict.failures), verdict
            assert "passed=False" in repr(verdict)


def test_check_fails_a_client_that_does_nothing_in_every_scenario():
    outcome = check(["true"])
    assert outcome.status == 1 and not outcome.passed and not outcome, outcome
    assert len(outcome.scenarios) >= 18, sorted(outcome.scenarios)
    failed = {line.split()[0] for line in outcome.failures}
    assert failed == set(outcome.scenarios), "every scenario has a failing check"
    assert "FAIL" in outcome.table


def test_check_keeps_the_results_where_asked_and_refuses_bad_arguments(tmp_path):
    outcome = check("true", scenarios=["tool-removed-then-called"], results=tmp_path / "results")
    assert list(outcome.scenarios) == ["tool-removed-then-called"]
    assert (tmp_path / "results" / "tool-removed-then-called" / "checks.json").is_file(), "kept where asked"
    with pytest.raises(ServerError, match="refused its arguments"):
        check("true", scenarios=["no-such-scenario"])
