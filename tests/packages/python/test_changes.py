"""Changes through the control endpoint, as a client's test suite drives them
with DynamicServer: a removal (the client must stop calling the tool) and a
rug pull (the client must refresh a schema under the same name), prompts and
resources, and a refused change. mcp 1.x and 2.x alike, over stdio."""

from __future__ import annotations

import pytest
from dynamic_mcp_server import ControlError, ListChangedCounter

from client import call, connect, names, result, without_client

try:  # mcp 1.x
    from mcp.shared.exceptions import McpError as MCPError
except ImportError:  # mcp 2.x
    from mcp.shared.exceptions import MCPError

pytestmark = pytest.mark.anyio


def tool_names(state: dict) -> list[str]:
    return [item["name"] for item in state["tools"]["items"]]


@pytest.mark.dynamic_mcp_server(tools=4)
async def test_a_removed_tool_is_gone_and_its_number_is_not_reused(dynamic_mcp_server, list_changed):
    async with connect(dynamic_mcp_server, list_changed) as session:
        state = dynamic_mcp_server.remove_tool()
        assert tool_names(state) == ["echo", "calculator", "counter"]
        assert await list_changed.wait_for(1) == 1
        assert await names(session) == ["echo", "calculator", "counter"]
        # A call to a tool that is gone: -32602 naming it (MCP tools spec: unknown tool).
        with pytest.raises(MCPError) as refused:
            await session.call_tool("echo4", {"message": "hi"})
        assert refused.value.error.code == -32602 and "echo4" in refused.value.error.message
        dynamic_mcp_server.add_tool()
        assert await list_changed.wait_for(2) == 2
        assert await names(session) == ["echo", "calculator", "counter", "echo5"]


@pytest.mark.dynamic_mcp_server(tools=4)
async def test_a_rug_pull_keeps_the_name_and_fails_a_call_with_the_stale_schema(dynamic_mcp_server, list_changed):
    async with connect(dynamic_mcp_server, list_changed) as session:
        before = {tool.name: tool for tool in (await session.list_tools()).tools}
        dynamic_mcp_server.change_tool("echo4")
        assert await list_changed.wait_for(1) == 1
        after = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert list(after) == list(before)
        changed = after["echo4"].model_dump(by_alias=True)
        assert changed["description"].endswith("(revision 2)")
        assert changed["inputSchema"]["required"] == ["message", "revision"]
        # The call a client makes with the schema it cached before the change.
        stale = await call(session, "echo4", message="hi")
        assert stale["isError"] is True and "revision" in stale["content"][0]["text"]
        assert await result(session, "echo4", message="hi", revision=2) == {"echo_message": "hi", "tool_number": 4}


@pytest.mark.dynamic_mcp_server("--prompts", "1", "--resources", "1")
async def test_prompt_and_resource_changes_notify_their_own_list(dynamic_mcp_server):
    prompts, resources = ListChangedCounter("prompts"), ListChangedCounter("resources")

    async def both(message):
        await prompts(message)
        await resources(message)

    async with connect(dynamic_mcp_server, both) as session:
        dynamic_mcp_server.add_prompt()
        assert await prompts.wait_for(1) == 1
        assert [p.name for p in (await session.list_prompts()).prompts] == ["prompt1", "prompt2"]
        state = dynamic_mcp_server.add_resource()
        assert [item["uri"] for item in state["resources"]["items"]][-1] == "dynamic://resources/2"
        assert await resources.wait_for(1) == 1
        assert len((await session.list_resources()).resources) == 2
        assert (prompts.count, resources.count) == (1, 1)


def test_count_applies_that_many_changes_and_state_and_reset_show_them(dynamic_mcp_server):
    with without_client(dynamic_mcp_server):
        state = dynamic_mcp_server.change("add_tool", count=5)
        assert state["applied"] == 5 and len(tool_names(state)) == 6
        assert tool_names(dynamic_mcp_server.state()) == tool_names(state)
        assert dynamic_mcp_server.reset()["tools"]["items"] == [{"name": "echo", "revision": 1}]


def test_a_refused_change_raises_with_the_servers_reason(dynamic_mcp_server):
    with without_client(dynamic_mcp_server):
        with pytest.raises(ControlError) as unknown:
            dynamic_mcp_server.remove_tool("nope")
        assert unknown.value.status == 404 and "nope" in unknown.value.error
        with pytest.raises(ControlError) as disabled:
            dynamic_mcp_server.add_prompt()
        assert disabled.value.status == 409
        # Refused changes change nothing, so the client report shows none.
        report = dynamic_mcp_server.report()
        assert report["changes"] == [] and isinstance(report["sessions"], list)
