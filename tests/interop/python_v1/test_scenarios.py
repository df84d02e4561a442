"""The core scenarios (1 to 10) as the Python SDK 1.x sees them, plus 1000
tools, every page of a paged server, and a removed and a changed tool ("rug
pull"), each made by a signal and through the control endpoint."""

from __future__ import annotations

import signal

import anyio
import mcp.types as types
import pytest
from mcp.shared.exceptions import McpError

from conftest import TIMEOUT, expected_names, running_server, toolcount_file


async def test_1_no_toolcount_file_serves_only_echo(tmp_path):
    async with running_server(tmp_path) as server:
        assert server.initialize_result.protocolVersion == "2025-11-25"
        assert server.initialize_result.capabilities.tools.listChanged is True
        assert await server.tool_names() == ["echo"]
        assert await server.call_ok("echo", {"message": "hello"}) == {"echo_message": "hello"}


async def test_2_toolcount_3(tmp_path):
    async with running_server(tmp_path, "--toolcount-file", toolcount_file(tmp_path, "3\n")) as server:
        assert await server.tool_names() == ["echo", "calculator", "counter"]
        assert await server.call_ok("calculator", {"a": 5, "b": 7, "operation": "add"}) == {"result": 12}
        assert await server.call_ok("counter") == {"count": 3}


async def test_3_one_sighup_adds_the_calculator(tmp_path):
    async with running_server(tmp_path) as server:
        server.signal()
        assert await server.counter.wait_for(1) == 1
        assert await server.tool_names() == ["echo", "calculator"]
        assert await server.call_ok("calculator", {"a": 10, "b": 5, "operation": "add"}) == {"result": 15}
        assert await server.call_ok("calculator", {"a": 10, "b": 5, "operation": "multiply"}) == {"result": 50}


async def test_4_notifications_are_counted_exactly(tmp_path):
    async with running_server(tmp_path) as server:
        # A round trip after initialize: anything sent before it has arrived.
        assert await server.tool_names() == ["echo"]
        assert server.counter.count == 0

        server.signal()
        assert await server.counter.wait_for(1) == 1
        assert await server.tool_names() == ["echo", "calculator"]
        assert server.counter.count == 1

        server.signal()
        assert await server.counter.wait_for(2) == 2
        assert "counter" in await server.tool_names()
        assert server.counter.count == 2


async def test_5_from_two_tools_two_sighups_reach_echo4(tmp_path):
    async with running_server(tmp_path, "--toolcount-file", toolcount_file(tmp_path, "2")) as server:
        server.signal()
        await server.counter.wait_for(1)
        assert await server.call_ok("counter") == {"count": 3}
        server.signal()
        await server.counter.wait_for(2)
        assert await server.call_ok("echo4", {"message": "four"}) == {"echo_message": "four", "tool_number": 4}


async def test_6_three_sighups_add_tools_in_order(tmp_path):
    async with running_server(tmp_path) as server:
        for n, new_tool in [(1, "calculator"), (2, "counter"), (3, "echo4")]:
            server.signal()
            assert await server.counter.wait_for(n) == n
            names = await server.tool_names()
            assert names[-1] == new_tool
            assert names == expected_names(n + 1)


async def test_7_a_sighup_before_initialize_is_notified_after_it(tmp_path):
    async with running_server(tmp_path, initialize=False) as server:
        server.signal()
        await server.wait_stderr("tool added")
        assert server.alive(), "a SIGHUP before initialize is not fatal"
        assert server.counter.count == 0

        with anyio.fail_after(TIMEOUT):
            await server.session.initialize()
        assert await server.counter.wait_for(1) == 1
        assert await server.tool_names() == ["echo", "calculator"]
        assert server.counter.count == 1


async def test_8_a_hundred_paced_sighups_give_a_hundred_tools(tmp_path):
    async with running_server(tmp_path) as server:
        for n in range(1, 101):
            server.signal()
            assert await server.counter.wait_for(n) == n
        assert await server.tool_names() == expected_names(101)
        assert await server.call_ok("echo101", {"message": "last"}) == {"echo_message": "last", "tool_number": 101}
        assert await server.call_ok("counter") == {"count": 101}
        assert server.counter.count == 100


async def test_9_a_burst_of_ten_thousand_sighups_stays_consistent(tmp_path):
    # Only a bound on waiting for nothing, not a measured duration.
    quiet = 1.0
    async with running_server(tmp_path, "--tools", "3") as server:
        burst = 10_000
        for _ in range(burst):
            server.signal()
        await server.wait_signals_delivered()
        await server.counter.wait_for(1)

        while True:
            seen = server.counter.count
            names = await server.tool_names()
            assert names == expected_names(len(names)), "names stay contiguous"
            if not await server.counter.another_within(seen, quiet):
                break
        tools = len(names)
        assert len(await server.tool_names()) == tools, "a change was not notified"
        assert await server.call_ok("counter") == {"count": tools}
        assert server.alive()
        added = tools - 3
        assert 1 <= added <= burst
        assert 1 <= server.counter.count <= added
        print(f"burst of {burst} SIGHUPs: {added} tools added, {server.counter.count} notifications")


async def test_10_bad_calls_are_answered_and_the_next_is_served(tmp_path):
    async with running_server(tmp_path, "--tools", "3") as server:
        with pytest.raises(McpError) as unknown:
            await server.call("nope", {})
        assert unknown.value.error.code == -32602
        assert "nope" in unknown.value.error.message

        calc = lambda **kw: {"a": 1, "b": 2, "operation": "add", **kw}  # noqa: E731
        cases = [
            ("echo", {}, "message"),
            ("echo", {"message": 42}, "message"),
            ("calculator", {"a": 1, "operation": "add"}, "b"),
            ("calculator", calc(a="1"), "'a'"),
            ("calculator", calc(b=0, operation="divide"), "Cannot divide by zero"),
            ("calculator", calc(operation="power"), "Unknown operation: power"),
            ("calculator", calc(a=2**63 - 1, b=1), "overflow"),
            ("calculator", calc(a=2**63 - 1, b=2, operation="multiply"), "overflow"),
        ]
        for name, arguments, expected in cases:
            message = await server.call_error(name, arguments)
            assert expected in message, (name, arguments, message)
        assert await server.call_error("calculator", calc(b=0, operation="divide")) == "Cannot divide by zero"
        assert await server.call_ok("calculator", {"a": 10, "b": 4, "operation": "divide"}) == {"result": 2.5}
        assert await server.call_ok("echo", {"message": "still here"}) == {"echo_message": "still here"}
        assert server.alive()


async def test_a_thousand_tools(tmp_path):
    async with running_server(tmp_path, "--toolcount-file", toolcount_file(tmp_path, "1000\n")) as server:
        assert await server.tool_names() == expected_names(1000)
        assert await server.call_ok("echo1000", {"message": "m"}) == {"echo_message": "m", "tool_number": 1000}
        assert await server.call_ok("counter") == {"count": 1000}
        server.signal()
        await server.counter.wait_for(1)
        assert (await server.tool_names())[-1] == "echo1001"


@pytest.mark.parametrize("style", ["normal", "empty-once"])
async def test_every_page_of_a_paged_server_in_order(tmp_path, style):
    # nextCursor "" (empty-once) is a cursor like any other: it must not end the listing.
    args = ("--tools", "7", "--prompts", "7", "--resources", "7", "--page-size", "2", "--cursor-style", style)

    async def walk(list_page, items, name) -> list[list[str]]:
        pages, cursor = [], None
        while True:
            with anyio.fail_after(TIMEOUT):
                page = await list_page(params=types.PaginatedRequestParams(cursor=cursor))
            pages.append([name(item) for item in getattr(page, items)])
            assert len(pages) <= 100, "a listing that never ends"
            cursor = page.nextCursor
            if cursor is None:
                return pages

    async with running_server(tmp_path, *args) as server:
        session = server.session
        tools = await walk(session.list_tools, "tools", lambda t: t.name)
        assert [len(page) for page in tools] == [2, 2, 2, 1]
        assert sum(tools, []) == expected_names(7)
        prompts = await walk(session.list_prompts, "prompts", lambda p: p.name)
        assert sum(prompts, []) == [f"prompt{k}" for k in range(1, 8)]
        resources = await walk(session.list_resources, "resources", lambda r: str(r.uri))
        assert sum(resources, []) == [f"dynamic://resources/{k}" for k in range(1, 8)]


# Each change made both ways: a signal to the PID from the pidfile, or a POST
# to the control endpoint from the ready file.
SIGNAL_FOR = {"remove_tool": signal.SIGUSR1, "change_tool": signal.SIGUSR2}


async def make_change(server, trigger: str, change: str) -> None:
    if trigger == "signal":
        server.signal(SIGNAL_FOR[change])
    else:
        await server.change(change)


@pytest.mark.parametrize("trigger", ["signal", "control"])
async def test_a_removed_tool_is_gone_and_a_call_to_it_is_invalid_params(tmp_path, trigger):
    async with running_server(tmp_path, "--tools", "4", control=trigger == "control") as server:
        assert await server.tool_names() == expected_names(4)
        assert await server.call_ok("echo4", {"message": "four"}) == {"echo_message": "four", "tool_number": 4}

        await make_change(server, trigger, "remove_tool")
        assert await server.counter.wait_for(1) == 1
        assert await server.tool_names() == expected_names(3)
        assert server.counter.count == 1
        # A call from the list cached before the change: -32602 naming the tool
        # (the MCP tools spec's error for an unknown tool).
        with pytest.raises(McpError) as gone:
            await server.call("echo4", {"message": "four"})
        assert gone.value.error.code == -32602
        assert "echo4" in gone.value.error.message

        # Numbers are never reused: the next addition is echo5.
        server.signal()
        assert await server.counter.wait_for(2) == 2
        assert await server.tool_names() == ["echo", "calculator", "counter", "echo5"]
        assert await server.call_ok("counter") == {"count": 4}


@pytest.mark.parametrize("trigger", ["signal", "control"])
async def test_a_changed_tool_refuses_the_stale_schema(tmp_path, trigger):
    async with running_server(tmp_path, "--tools", "4", control=trigger == "control") as server:
        before = await server.tools()
        assert await server.call_ok("echo4", {"message": "hi"}) == {"echo_message": "hi", "tool_number": 4}

        await make_change(server, trigger, "change_tool")
        assert await server.counter.wait_for(1) == 1
        after = await server.tools()
        assert server.counter.count == 1
        # A rug pull: the same names, only echo4's definition changed.
        assert [t.name for t in after] == [t.name for t in before] == expected_names(4)
        assert after[:3] == before[:3]
        old, new = before[3], after[3]
        assert new.description != old.description
        assert new.description.endswith(" (revision 2)")
        assert "revision" not in old.inputSchema["properties"]
        assert new.inputSchema["properties"]["revision"]["type"] == "integer"
        assert new.inputSchema["properties"]["revision"]["const"] == 2
        assert new.inputSchema["required"] == ["message", "revision"]

        # The arguments that fit the cached schema: a tool error naming `revision`.
        assert "revision" in await server.call_error("echo4", {"message": "hi"})
        assert "revision 2" in await server.call_error("echo4", {"message": "hi", "revision": 1})
        assert await server.call_ok("echo4", {"message": "hi", "revision": 2}) == {
            "echo_message": "hi",
            "tool_number": 4,
        }
        assert server.alive()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_the_server_cleanly(tmp_path, sig):
    async with running_server(tmp_path) as server:
        server.signal(sig)
        with anyio.fail_after(TIMEOUT):
            while server.pidfile.exists() or server.alive():
                await anyio.sleep(0.005)
