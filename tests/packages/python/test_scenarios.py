"""The core client scenarios (1 to 6) written as a client's own test suite
would write them with this package: the dynamic_mcp_server and list_changed
fixtures and the mcp SDK's ClientSession, 1.x or 2.x, over stdio. Every wait
is bounded (the counter's wait_for, the helpers' timeouts); nothing sleeps and
then asserts."""

from __future__ import annotations

import pytest

from client import connect, names, result

pytestmark = pytest.mark.anyio


async def test_1_one_tool_by_default(dynamic_mcp_server):
    async with connect(dynamic_mcp_server) as session:
        assert await names(session) == ["echo"]
        assert await result(session, "echo", message="hello") == {"echo_message": "hello"}


@pytest.mark.dynamic_mcp_server(tools=3)
async def test_2_three_tools(dynamic_mcp_server):
    async with connect(dynamic_mcp_server) as session:
        assert await names(session) == ["echo", "calculator", "counter"]
        assert await result(session, "calculator", a=5, b=7, operation="add") == {"result": 12}
        assert await result(session, "counter") == {"count": 3}


async def test_3_one_sighup_adds_the_calculator(dynamic_mcp_server, list_changed):
    async with connect(dynamic_mcp_server, list_changed) as session:
        dynamic_mcp_server.add_tool()
        assert await list_changed.wait_for(1) == 1
        assert await names(session) == ["echo", "calculator"]
        assert await result(session, "calculator", a=10, b=5, operation="multiply") == {"result": 50}


async def test_4_notifications_are_counted_exactly(dynamic_mcp_server, list_changed):
    async with connect(dynamic_mcp_server, list_changed) as session:
        # A round trip after initialize: anything sent before it has arrived.
        assert await names(session) == ["echo"]
        assert list_changed.count == 0
        for n, tool in [(1, "calculator"), (2, "counter")]:
            dynamic_mcp_server.add_tool()
            assert await list_changed.wait_for(n) == n
            assert (await names(session))[-1] == tool
            assert list_changed.count == n


@pytest.mark.dynamic_mcp_server(tools=2)
async def test_5_from_two_tools_two_sighups_reach_echo4(dynamic_mcp_server, list_changed):
    async with connect(dynamic_mcp_server, list_changed) as session:
        dynamic_mcp_server.add_tool()
        await list_changed.wait_for(1)
        assert await result(session, "counter") == {"count": 3}
        dynamic_mcp_server.add_tool()
        await list_changed.wait_for(2)
        assert await result(session, "echo4", message="four") == {"echo_message": "four", "tool_number": 4}


async def test_6_three_sighups_add_tools_in_order(dynamic_mcp_server, list_changed):
    expected = ["echo", "calculator", "counter", "echo4"]
    async with connect(dynamic_mcp_server, list_changed) as session:
        for n in (1, 2, 3):
            dynamic_mcp_server.add_tool()
            assert await list_changed.wait_for(n) == n
            assert await names(session) == expected[: n + 1]
