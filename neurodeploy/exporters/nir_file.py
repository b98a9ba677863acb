"""Target ``nir``: write the graph itself as a NIR HDF5 file (``nir.write``), atomically."""

from __future__ import annotations

from pathlib import Path

import nir

from neurodeploy.atomic import atomic_path
from neurodeploy.errors import ConfigError
from neurodeploy.exporters.base import ExportResult, Target
from neurodeploy.ir.from_nir import conventions
from neurodeploy.ir.graph import chain

OPTIONS = {"dt_s", "check_only"}


def export(graph: nir.NIRGraph, out_path: Path, options: dict) -> ExportResult:
    unknown = set(options) - OPTIONS
    if unknown:
        raise ConfigError(f"target nir: unknown option {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(OPTIONS))}")
    conv = conventions(graph, options.get("dt_s"))
    chain(graph)  # refuse graphs no neurodeploy consumer can run
    graph.metadata = {**(graph.metadata or {}), "dt_s": conv.dt_s, "reset": conv.reset}
    out_path = Path(out_path)
    summary = {"nodes": len(graph.nodes), "edges": len(graph.edges), "dt_s": conv.dt_s}
    if options.get("check_only"):
        return ExportResult(out_path, summary=summary)
    with atomic_path(out_path) as tmp:
        nir.write(str(tmp), graph)
    return ExportResult(out_path, summary=summary)


TARGET = Target(
    name="nir", suffix=".nir", description="NIR graph (HDF5), dt/reset/spike conventions in metadata",
    export=export,
    supported_nodes=(nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten,
                     nir.SumPool2d, nir.LIF, nir.CubaLIF, nir.IF, nir.Delay, nir.LI, nir.CubaLI),
)
