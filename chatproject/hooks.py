"""Hooks: how a lower app lets higher apps react without importing them.

The lower app owns the hook (a module-level `Hook` in its `hooks.py`) and calls it;
higher apps connect receivers from their `AppConfig.ready()`. Like Django's signals,
but typed by keyword, synchronous, without weak references or senders, and with the
receivers' return values handed back, so a hook can also ask a question
("who of these users is online?").
"""

from collections.abc import Callable
from typing import Any


class Hook:
    def __init__(self, name: str, doc: str = "") -> None:
        self.name = name
        self.__doc__ = doc
        self.receivers: list[Callable[..., Any]] = []

    def connect(self, receiver: Callable[..., Any]) -> Callable[..., Any]:
        """Adds a receiver once (ready() may run twice in tests); usable as a decorator."""
        if receiver not in self.receivers:
            self.receivers.append(receiver)
        return receiver

    def send(self, **kwargs: Any) -> list[Any]:
        """Calls every receiver in connection order; returns their results."""
        return [receiver(**kwargs) for receiver in self.receivers]

    async def asend(self, **kwargs: Any) -> list[Any]:
        """For async receivers: awaits each in connection order; returns their results."""
        return [await receiver(**kwargs) for receiver in self.receivers]

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self.receivers)} receiver(s)>"
