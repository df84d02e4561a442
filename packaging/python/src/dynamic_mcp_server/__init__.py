"""dynamic-mcp-server for Python tests: the server executable (installed with
this wheel), :class:`DynamicServer` to start and drive it, and
:class:`ListChangedCounter` to count the notifications a client receives,
:func:`check` to grade a client program with ``dynamic-mcp-server check``. The
pytest fixtures live in :mod:`dynamic_mcp_server.pytest_plugin`."""

from importlib.metadata import version as _version

from ._counter import ListChangedCounter
from ._server import (
    Change,
    CheckOutcome,
    ControlError,
    DynamicServer,
    ServerError,
    Verdict,
    check,
    find_executable,
)

__all__ = [
    "Change",
    "CheckOutcome",
    "ControlError",
    "DynamicServer",
    "ListChangedCounter",
    "ServerError",
    "Verdict",
    "check",
    "find_executable",
]
__version__ = _version("dynamic-mcp-server")
