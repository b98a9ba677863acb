"""Validation of the files neurodeploy reads besides configs: NIR graphs here, exported files
through their target's ``check_file`` (:func:`check_exported`). Each check raises one
:class:`~neurodeploy.errors.NeurodeployError` that names the file, the node/layer/field, what was
expected and what was found.

- :func:`validate_graph`: every parameter finite, time constants > 0, weights of the right rank,
  and the shape of every edge consistent (a LIF of 100 neurons after a Linear of 256 outputs is
  refused naming both nodes). NIR files are read with ``type_check=False`` (other writers' files
  fail nir's own check for harmless reasons), so this is where shapes are checked.
"""

from __future__ import annotations

import math
from pathlib import Path

import nir
import numpy as np

from neurodeploy.constraints import Range, check_number
from neurodeploy.errors import ConfigError

MAX_ELEMENTS = 10**8  # largest tensor a shape may describe (a damaged file must not allocate TBs)
#: NIR neuron parameters that are time constants (seconds): finite and > 0
TIME_CONSTANTS = ("tau", "tau_mem", "tau_syn")
_NEURONS = (nir.LIF, nir.CubaLIF, nir.IF, nir.LI, nir.CubaLI, nir.I)
_NEURON_PARAMS = ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in")


def _arrays(node) -> dict[str, np.ndarray]:
    out = {}
    for key, value in vars(node).items():
        if key in ("input_type", "output_type", "metadata"):
            continue
        if isinstance(value, (np.ndarray, list, tuple, int, float)) and not isinstance(value, bool):
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                continue
            out[key] = arr
    return out


def _prod(shape) -> int:
    return math.prod(int(d) for d in shape)


def _ports(name: str, node) -> tuple[tuple | None, tuple | None, str]:
    """(input shape, output shape, kind) as far as the node's own parameters fix them.

    A shape ``("C", c)`` fixes only the channel count (convolutions)."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = np.asarray(node.weight)
        if w.ndim != 2:
            raise ConfigError(f"node {name!r} ({type(node).__name__}): weight must be 2-D (out, in), "
                              f"got shape {w.shape}")
        bias = getattr(node, "bias", None)
        if bias is not None and np.size(bias) not in (1, w.shape[0]):
            raise ConfigError(f"node {name!r} (Affine): bias has {np.size(bias)} values for "
                              f"{w.shape[0]} outputs")
        return (w.shape[1],), (w.shape[0],), f"{w.shape[1]} inputs, {w.shape[0]} outputs"
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        w = np.asarray(node.weight)
        want = 3 if isinstance(node, nir.Conv1d) else 4
        if w.ndim != want:
            raise ConfigError(f"node {name!r} ({type(node).__name__}): weight must be {want}-D "
                              f"(C_out, C_in/groups, kernel…), got shape {w.shape}")
        c_in = w.shape[1] * int(np.asarray(getattr(node, "groups", 1)).reshape(-1)[0])
        return ("C", c_in), ("C", w.shape[0]), f"{c_in} input and {w.shape[0]} output channels"
    if isinstance(node, _NEURONS):
        shapes = [np.shape(getattr(node, k)) for k in _NEURON_PARAMS if getattr(node, k, None) is not None]
        try:
            shape = tuple(np.broadcast_shapes(*shapes)) if shapes else ()
        except ValueError:
            raise ConfigError(f"node {name!r} ({type(node).__name__}): parameter shapes {shapes} "
                              "do not agree") from None
        if _prod(shape) <= 1:
            return None, None, "scalar parameters"
        return shape, shape, f"{_prod(shape)} neurons {shape}"
    if isinstance(node, nir.Flatten):
        t = np.asarray((node.input_type or {}).get("input", [])).reshape(-1)
        if t.size == 0 or not np.all(t > 0):
            return None, None, "unknown input shape"
        shape = tuple(int(d) for d in t)
        return shape, (_prod(shape),), f"input {shape}"
    if isinstance(node, nir.Scale):
        shape = np.shape(node.scale)
        return (shape, shape, f"{_prod(shape)} values") if _prod(shape) > 1 else (None, None, "")
    return None, None, ""


def _fits(out, inp) -> bool:
    if out is None or inp is None:
        return True
    if out[0] == "C" and inp[0] == "C":
        return out[1] == inp[1]
    if out[0] == "C":
        return len(inp) < 2 or inp[0] == out[1]
    if inp[0] == "C":
        return len(out) < 2 or out[0] == inp[1]
    return _prod(out) == _prod(inp)


def _show(shape) -> str:
    return f"{shape[1]} channels" if shape and shape[0] == "C" else str(tuple(int(d) for d in shape))


def validate_graph(graph: nir.NIRGraph, where: str = "NIR graph", shapes: bool = True) -> None:
    """Finite parameters, positive time constants, consistent edge shapes; see module docstring.

    ``shapes=False`` skips the edge-shape check (for writers whose weight layout is not NIR's
    (out, in) until their dialect is normalised)."""
    meta = dict(getattr(graph, "metadata", None) or {})
    if "dt_s" in meta:
        try:
            dt = float(np.asarray(meta["dt_s"], dtype=np.float64).reshape(-1)[0])
        except (TypeError, ValueError, IndexError):
            raise ConfigError(f"{where}: metadata dt_s = {meta['dt_s']!r} is not a number") from None
        check_number(f"{where}: metadata dt_s", dt, Range(min=0.0, min_open=True))
    ports = {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            validate_graph(node, f"{where}: subgraph {name!r}", shapes)
            continue
        for key, arr in _arrays(node).items():
            if arr.size and not np.isfinite(arr).all():
                bad = int((~np.isfinite(arr)).sum())
                raise ConfigError(f"{where}: node {name!r} ({type(node).__name__}): {key} has {bad} "
                                  "NaN/inf values; every parameter must be a finite number")
            if key in TIME_CONSTANTS and isinstance(node, _NEURONS) and arr.size and not (arr > 0).all():
                raise ConfigError(f"{where}: node {name!r} ({type(node).__name__}): {key} must be > 0 "
                                  f"seconds, got min {arr.min():g}")
        for port in ("input_type", "output_type"):
            for key, dims in (getattr(node, port, None) or {}).items():
                d = np.asarray(dims).reshape(-1)
                if d.size and (d.dtype.kind not in "iuf" or not np.isfinite(d.astype(float)).all()
                               or (d < 0).any() or float(np.prod(d.astype(float))) > MAX_ELEMENTS):
                    raise ConfigError(f"{where}: node {name!r} ({type(node).__name__}): {port} {key!r} = "
                                      f"{d.tolist()} is not a valid shape (non-negative sizes, at most "
                                      f"{MAX_ELEMENTS:.0e} elements)")
        if isinstance(node, (nir.Input, nir.Output)):
            continue
        try:
            ports[name] = _ports(name, node)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    for a, b in graph.edges if shapes else ():
        if a not in ports or b not in ports:
            continue
        out, inp = ports[a][1], ports[b][0]
        if not _fits(out, inp):
            raise ConfigError(
                f"{where}: edge {a!r} → {b!r}: {a!r} ({type(graph.nodes[a]).__name__}, {ports[a][2]}) "
                f"gives {_show(out)} but {b!r} ({type(graph.nodes[b]).__name__}, {ports[b][2]}) takes "
                f"{_show(inp)}; fix the graph's layer sizes")


def check_exported(path: str | Path) -> None:
    """The file check of the target whose suffix ``path`` has (registry entry ``check_file``);
    other suffixes: nothing to check."""
    from neurodeploy.targets.base import target_for_file

    target = target_for_file(path)
    if target is not None and target.check_file is not None:
        target.check_file(Path(path))


__all__ = ["validate_graph", "check_exported"]
