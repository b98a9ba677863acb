"""Target ``nir``: write the graph itself as a NIR HDF5 file (``nir.write``), atomically."""

from __future__ import annotations

from pathlib import Path

import nir

from neurodeploy.atomic import atomic_path
from neurodeploy.errors import ConfigError
from neurodeploy.ir.conventions import of
from neurodeploy.ir.graph import chain
from neurodeploy.targets.base import ExportResult

OPTIONS = {"dt_s", "check_only", "conventions"}


def export(graph: nir.NIRGraph, out_path: Path, options: dict) -> ExportResult:
    unknown = set(options) - OPTIONS
    if unknown:
        raise ConfigError(f"target nir: unknown option {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(OPTIONS))}")
    conv = of(graph, options.get("conventions"), options.get("dt_s"))
    chain(graph)  # refuse graphs no neurodeploy consumer can run
    graph.metadata = {**(graph.metadata or {}), **conv.to_metadata()}
    out_path = Path(out_path)
    summary = {"nodes": len(graph.nodes), "edges": len(graph.edges), "dt_s": conv.dt_s}
    if options.get("check_only"):
        return ExportResult(out_path, summary=summary)
    with atomic_path(out_path) as tmp:
        nir.write(str(tmp), graph)
    return ExportResult(out_path, summary=summary)

