"""The pytest plugin (entry point ``pytest11``): the ``dynamic_mcp_server`` and
``list_changed`` fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._counter import ListChangedCounter
from ._server import DynamicServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dynamic_mcp_server(*args, http=False, control=True, tools=None): "
        "how the dynamic_mcp_server fixture starts the server (DynamicServer's arguments)",
    )


@pytest.fixture
def dynamic_mcp_server(request: pytest.FixtureRequest) -> Iterator[DynamicServer]:
    """A started DynamicServer, stopped after the test. Configure it with
    ``@pytest.mark.dynamic_mcp_server(...)`` or, with indirect parametrization,
    a dict of DynamicServer's keyword arguments (which wins over the marker)."""
    marker = request.node.get_closest_marker("dynamic_mcp_server")
    args = marker.args if marker else ()
    kwargs = dict(marker.kwargs) if marker else {}
    kwargs.update(getattr(request, "param", None) or {})
    with DynamicServer(*args, **kwargs) as server:
        yield server


@pytest.fixture
def list_changed() -> ListChangedCounter:
    """A counter of ``notifications/tools/list_changed``: the ``message_handler`` to give the client."""
    return ListChangedCounter()
