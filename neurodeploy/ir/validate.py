"""Validation of the files neurodeploy reads besides configs: NIR graphs, netx ``.net`` HDF5
files and ONNX models. Each check raises one :class:`~neurodeploy.errors.NeurodeployError` that
names the file, the node/layer/field, what was expected and what was found.

- :func:`validate_graph`: every parameter finite, time constants > 0, weights of the right rank,
  and the shape of every edge consistent (a LIF of 100 neurons after a Linear of 256 outputs is
  refused naming both nodes). NIR files are read with ``type_check=False`` (other writers' files
  fail nir's own check for harmless reasons), so this is where shapes are checked.
- :func:`check_netx`: the layer chain, types, integer weights in range and finite, decays and
  thresholds in the ranges netx/Loihi accept (table :data:`NETX_RANGES`).
- :func:`check_onnx`: the file parses, passes ``onnx.checker`` and its weights are finite.
"""

from __future__ import annotations

import math
from pathlib import Path

import nir
import numpy as np

from neurodeploy.constraints import Range, check_number
from neurodeploy.errors import ConfigError, NeurodeployError, UnsupportedNodeError

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


# --------------------------------------------------------------------------- netx
#: field → range in a netx file (lava-dl netx / Loihi 2, docs/… facts §2-§5)
NETX_RANGES: dict[str, Range] = {
    "weight": Range(-256, 255, integer=True),
    "weight_rec": Range(-256, 255, integer=True),
    "bias": Range(-(2 ** 12 - 1), 2 ** 12 - 1, integer=True),
    "iDecay": Range(0, 4096, integer=True),
    "vDecay": Range(0, 4096, integer=True),
    "vThMant": Range(1, 2 ** 17 - 1, integer=True),
    "refDelay": Range(0, 63, integer=True),
    "delay": Range(0, 62, integer=True),
}
NETX_TYPES = ("input", "flatten", "dense", "dense_rec", "conv")


def _netx_values(at: str, data, rng: Range) -> np.ndarray:
    arr = np.asarray(data)
    if arr.dtype.kind not in "iuf" or arr.size == 0:
        raise ConfigError(f"{at}: expected numbers, got {arr.dtype} of shape {arr.shape}")
    a = arr.astype(np.float64).reshape(-1)
    if not np.isfinite(a).all():
        raise ConfigError(f"{at}: {int((~np.isfinite(a)).sum())} NaN/inf values")
    if rng.integer and not (a == np.round(a)).all():
        raise ConfigError(f"{at}: values must be integers (netx truncates floats), got e.g. "
                          f"{a[a != np.round(a)][0]:g}")
    for v in (a.min(), a.max()):
        check_number(at, int(v) if rng.integer else float(v), rng)
    return arr


def _netx(path: Path) -> None:
    import h5py

    try:
        f = h5py.File(path, "r")
    except Exception as exc:  # h5py raises OSError/ValueError… for a file that is not HDF5
        raise ConfigError(f"{path} is not a readable netx .net file ({type(exc).__name__}); "
                          "export it again with `neurodeploy export … --target loihi`") from None
    with f:
        group = f.get("layer")
        if not isinstance(group, h5py.Group) or not len(group):
            raise ConfigError(f"{path}: no /layer group: not a lava-dl netx network")
        keys = list(group)
        if sorted(keys, key=lambda k: int(k) if k.isdigit() else -1) != [str(i) for i in range(len(keys))]:
            raise ConfigError(f"{path}: layers must be named 0…{len(keys) - 1}, found {sorted(keys)}")
        prev = None
        for i in range(len(keys)):
            g, at = group[str(i)], f"{path}: layer {i}"
            if not isinstance(g, h5py.Group) or "type" not in g:
                raise ConfigError(f"{at}: missing 'type'")
            raw = np.asarray(g["type"][()]).reshape(-1)
            try:
                kind = raw[0].decode("ascii") if isinstance(raw[0], bytes) else str(raw[0])
            except (UnicodeDecodeError, IndexError):
                raise ConfigError(f"{at}: 'type' is not readable text") from None
            if kind not in NETX_TYPES:
                raise UnsupportedNodeError(f"{at}: netx layer type {kind!r} is not supported; "
                                           f"supported: {', '.join(NETX_TYPES)}")
            shape = None
            if "shape" in g:
                s = _netx_values(f"{at} shape", g["shape"][()], Range(1, MAX_ELEMENTS, integer=True))
                shape = tuple(int(d) for d in s.reshape(-1))
                if _prod(shape) > MAX_ELEMENTS:
                    raise ConfigError(f"{at}: shape {shape} has more than {MAX_ELEMENTS:.0e} elements")
            if kind in ("dense", "dense_rec", "conv"):
                if shape is None or "weight" not in g or "neuron" not in g:
                    raise ConfigError(f"{at} ({kind}): needs 'shape', 'weight' and a 'neuron' group")
                w = _netx_values(f"{at} weight", g["weight"][()], NETX_RANGES["weight"])
                if kind != "conv":
                    if w.ndim != 2 or w.shape[0] != _prod(shape) or (prev is not None and w.shape[1] != prev):
                        raise ConfigError(f"{at} ({kind}): weight of shape {w.shape} does not connect "
                                          f"{prev if prev is not None else '?'} inputs to {_prod(shape)} "
                                          f"neurons {shape}")
                elif w.ndim != 4 or w.shape[0] not in shape:
                    raise ConfigError(f"{at} (conv): weight of shape {w.shape} does not fit the layer shape {shape}")
                if kind == "dense_rec":
                    if "weight_rec" not in g:
                        raise ConfigError(f"{at} (dense_rec): missing weight_rec")
                    wr = _netx_values(f"{at} weight_rec", g["weight_rec"][()], NETX_RANGES["weight_rec"])
                    if wr.shape != (w.shape[0], w.shape[0]):
                        raise ConfigError(f"{at}: weight_rec of shape {wr.shape}, expected {(w.shape[0],) * 2}")
                for key in ("bias", "delay"):
                    if key in g:
                        _netx_values(f"{at} {key}", g[key][()], NETX_RANGES[key])
                n = g["neuron"]
                for key in ("iDecay", "vDecay", "vThMant"):
                    if key not in n:
                        raise ConfigError(f"{at}: neuron/{key} is missing")
                    _netx_values(f"{at} neuron/{key}", n[key][()], NETX_RANGES[key])
                if "refDelay" in n:
                    _netx_values(f"{at} neuron/refDelay", n["refDelay"][()], NETX_RANGES["refDelay"])
            if shape is not None:
                prev = _prod(shape)


def check_netx(path: str | Path) -> None:
    """Refuse a ``.net`` file that is unreadable, malformed or holds values netx would mangle."""
    p = Path(path)
    try:
        _netx(p)
    except NeurodeployError:
        raise
    except Exception as exc:  # malformed groups/datasets of every kind
        raise ConfigError(f"{p}: malformed netx file ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:200]})") from None


# --------------------------------------------------------------------------- onnx
def check_onnx(path: str | Path) -> None:
    """Refuse an ``.onnx`` file that does not parse, fails ``onnx.checker`` or has NaN/inf weights."""
    p = Path(path)
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ConfigError("verifying .onnx needs the onnx package: pip install onnx onnxruntime") from None
    try:
        model = onnx.load(str(p))
        onnx.checker.check_model(model)
    except Exception as exc:  # DecodeError, ValidationError, … for truncated or garbage files
        why = " ".join(str(exc).split())[:200]
        raise ConfigError(f"{p} is not a valid ONNX model ({type(exc).__name__}{': ' + why if why else ''}); "
                          "export it again with `neurodeploy export … --target onnx`") from None
    try:
        from neurodeploy.targets.onnx.export import onnx_metadata

        onnx_metadata(model)
    except Exception as exc:  # damaged JSON in metadata_props
        raise ConfigError(f"{p}: its metadata_props are damaged ({type(exc).__name__}); export it "
                          "again with `neurodeploy export … --target onnx`") from None
    try:
        import onnxruntime as ort

        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except ImportError:
        pass
    except Exception as exc:  # onnxruntime's own graph checks (types, shapes, attributes)
        why = " ".join(str(exc).split())[:200]
        raise ConfigError(f"{p}: onnxruntime cannot load it ({why}); export it again") from None
    for init in model.graph.initializer:
        try:
            arr = numpy_helper.to_array(init)
        except Exception:
            raise ConfigError(f"{p}: initializer {init.name!r} is unreadable; the file is damaged") from None
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ConfigError(f"{p}: initializer {init.name!r} has {int((~np.isfinite(arr)).sum())} "
                              "NaN/inf values")


def check_exported(path: str | Path) -> None:
    """:func:`check_netx` or :func:`check_onnx` by suffix (other suffixes: nothing to check)."""
    suffix = Path(path).suffix
    if suffix == ".net":
        check_netx(path)
    elif suffix == ".onnx":
        check_onnx(path)


__all__ = ["validate_graph", "check_netx", "check_onnx", "check_exported", "NETX_RANGES"]
