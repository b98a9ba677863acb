"""A small named registry: rejects duplicates, lists what exists and suggests the closest name.

Used for surrogates, exporters (targets) and energy conventions. Third-party plugins register
through the entry-point group given to the registry, loaded lazily on the first lookup miss.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from importlib import import_module
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from neurodeploy.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → object. ``lazy`` maps builtin names to ``"module:attr"`` imported on first use."""

    def __init__(self, kind: str, entry_point_group: str | None = None,
                 lazy: dict[str, str] | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = dict(lazy or {})
        self._plugins_loaded = False

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ConfigError(f"{self.kind} {name!r} is already registered; pick another name")
        self._items[name] = item
        self._lazy.pop(name, None)
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        def wrap(item: T) -> T:
            return self.register(name, item)
        return wrap

    def _load_plugins(self) -> None:
        if self._plugins_loaded or self.entry_point_group is None:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.entry_point_group):
            if ep.name not in self._items:
                self.register(ep.name, ep.load())

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(set(self._items) | set(self._lazy))

    def get(self, name: str) -> T:
        if name not in self._items and name in self._lazy:
            module, _, attr = self._lazy.pop(name).partition(":")
            self.register(name, getattr(import_module(module), attr))
        if name not in self._items:
            self._load_plugins()
        if name not in self._items:
            known = self.names()
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {', '.join(known)}.{hint}")
        return self._items[name]

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
