"""Validation of an exported netx ``.net`` file before it is read (verify, the netx source reader):
one :class:`~neurodeploy.errors.NeurodeployError` naming the file, layer and field.

- :func:`check_netx`: the layer chain, types, integer weights in range and finite, decays and
  thresholds in the ranges netx and the profile accept (:func:`netx_ranges`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurodeploy.constraints import Range, check_number
from neurodeploy.errors import ConfigError, NeurodeployError, UnsupportedNodeError
from neurodeploy.ir.validate import MAX_ELEMENTS, _prod
from neurodeploy.targets.loihi.fixed_point import FixedPoint, fixed_point, profile_of


# --------------------------------------------------------------------------- netx
def netx_ranges(fp: FixedPoint) -> dict[str, Range]:
    """Field → range a netx file may hold, from the profile's number format (facts §2-§5; with
    Loihi 2's values: weights [-256, 255], |bias| ≤ 4095, decays ≤ 4096, vThMant ≤ 131071,
    refDelay ≤ 63, delay ≤ 62). A limit absent from the profile leaves that side unchecked."""
    def upto(limit, lo=0):
        return Range(lo, None if limit is None else limit, integer=True)

    w = Range(-(fp.weight_max + 2), fp.weight_max + 1, integer=True)  # all-positive: up to weight_max + 1
    bias = Range(None if fp.bias_mant_max is None else -fp.bias_mant_max, fp.bias_mant_max, integer=True)
    return {"weight": w, "weight_rec": w, "bias": bias,
            "iDecay": upto(fp.decay_one), "vDecay": upto(fp.decay_one),
            "vThMant": upto(fp.threshold_mant_max, 1), "refDelay": upto(fp.refractory_max),
            "delay": upto(fp.delay_max)}


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
    NETX_RANGES = netx_ranges(fixed_point(profile_of(path)))  # noqa: N806
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
