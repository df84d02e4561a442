"""ListChangedCounter: counts list_changed notifications where the mcp SDK's
client hands them over (its ``message_handler``) and lets a test wait for a count."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import anyio


class ListChangedCounter:
    """Pass the counter itself as ``message_handler`` to the mcp SDK's
    ``ClientSession`` (1.x and 2.x); it counts
    ``notifications/{kind}/list_changed`` and ignores every other message."""

    def __init__(self, kind: Literal["tools", "prompts", "resources"] = "tools") -> None:
        self.method = f"notifications/{kind}/list_changed"
        self.count = 0
        self._changed: anyio.Event | None = None

    async def __call__(self, message: object) -> None:
        # mcp 1.x wraps a notification in a RootModel (`.root`); 2.x does not.
        # Matching the method, not a class, fits both without importing either.
        notification = getattr(message, "root", message)
        if getattr(notification, "method", None) == self.method:
            self.count += 1
            if self._changed is not None:
                self._changed.set()
                self._changed = None

    async def wait_for(self, count: int, timeout: float = 30.0) -> int:
        """Wait until at least ``count`` notifications have arrived; returns the
        count then. Raises TimeoutError after ``timeout`` seconds."""
        # anyio comes with the mcp SDK, whose client feeds this counter; it
        # works under asyncio and trio alike.
        import anyio

        with anyio.move_on_after(timeout):
            while self.count < count:
                if self._changed is None:
                    self._changed = anyio.Event()
                await self._changed.wait()
            return self.count
        raise TimeoutError(f"{self.count} of {count} {self.method} notifications after {timeout} s")
