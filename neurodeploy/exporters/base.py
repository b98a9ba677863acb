"""The target interface every exporter implements, and the target registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nir

from neurodeploy.registry import Registry


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the main file, side files (manifest …) and a JSON-able summary."""

    path: Path
    extra_paths: tuple[Path, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """One deployment target.

    ``export(graph, out_path, options)`` reads a NIR graph (see docs/nir-conventions.md), checks
    it against the target's limits, and writes ``out_path`` atomically (temp file, then rename).
    ``options`` holds target-specific settings (``dt_s``, ``allow_lossy``, ``check_only`` …);
    unknown option names must raise ``ConfigError``.
    """

    name: str
    suffix: str
    description: str
    export: Callable[[nir.NIRGraph, Path, dict[str, Any]], ExportResult]
    supported_nodes: tuple[type, ...] = ()


TARGETS: Registry[Target] = Registry(
    "target",
    entry_point_group="neurodeploy.targets",
    lazy={
        "nir": "neurodeploy.exporters.nir_file:TARGET",
        "loihi": "neurodeploy.exporters.loihi:TARGET",
        "onnx": "neurodeploy.exporters.onnx:TARGET",
    },
)


def get_target(name: str) -> Target:
    return TARGETS.get(name)
