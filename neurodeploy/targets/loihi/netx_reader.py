"""Read lava-dl netx ``.net`` files (HDF5) as a source: validated integer layers, then NIR.

Public API::

    read_netx(path) -> NetxFile              # every layer checked; refuses with one line
    check_layer(path, key, group) -> None    # the same checks for one h5py group (emulator)
    netx_to_nir(netx, dt_s=None) -> nir.NIRGraph
    load_netx(path, dt_s=None) -> nir.NIRGraph

What lava-dl 0.6.0's slayer blocks write (``block.export_hdf5``) and this reader accepts, per
``/layer/i``: ``input`` (shape only), ``flatten``, ``dense`` (``weight`` (out, in), optional
``bias`` (out,), optional axonal ``delay`` (out,)), ``dense_rec`` (+ ``weight_rec``), ``conv``
(``weight`` (C_out, C_in/g, kH, kW), ``stride``, ``padding``, ``dilation``, ``groups``), ``pool``
(``weight`` (1, 1, kH, kW) shared by every channel, i.e. a grouped conv; Lava's netx cannot load
it), each compute layer with ``neuron/{type CUBA, iDecay, vDecay, vThMant, refDelay, gradedSpike}``.

Refused (``UnsupportedNodeError`` naming file, layer and feature): other neuron types (sigma-delta
``SDNN``, resonate-and-fire), graded spikes / ``messageBits``, ``refDelay`` ≠ 1 (netx ignores it,
the chip would not), ``wgtExp``/``weight_exp`` ≠ 0 (netx ignores them), an ``input`` layer with a
neuron, complex weights, non-integer or out-of-range weights (Lava truncates/clips), delays on
conv/pool/dense_rec layers (netx drops them) or outside 0…62, slayer ``Affine`` readouts
(vThMant ≥ 2^17: never spike), and the types netx does not implement (``average``, ``concat``,
``convT``, ``unpool``, ``dense_comp``).

NIR mapping (docs/nir-conventions.md) with a per-layer scale k = 2^floor(log2 vThMant) (a power
of two, so dividing by it is exact in floating point; v_float = v_fixed / (64 k), thresholds in
[1, 2)): α = vDecay/4096, β = iDecay/4096, τ_mem = dt/α, τ_syn = dt/β, weight
W = W_int / (k α β), v_threshold = vThMant / k, v_leak = bias / (k α), v_reset = 0,
r = w_in = 1 → CubaLIF. iDecay = 4096 with vDecay = 0 is an exact ``IF`` (r = 1/dt, W = W_int / k). An axonal delay d (per neuron, in steps) becomes a NIR
``Delay`` (d·dt seconds) between the synapse and the neuron (Lava delays each neuron's input
current by d steps). The integers and k of each layer are recorded in the graph metadata
(``netx_layers``, ``loihi_layer_scale``) so the Loihi exporter reproduces them. Float and fixed
point differ only by Lava's truncating decays (exact when iDecay = 4096 and vDecay ∈ {0, 4096}).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import nir
import numpy as np

from neurodeploy.errors import ConfigError, DataError, UnsupportedNodeError
from neurodeploy.ir.conventions import Conventions
from neurodeploy.targets.loihi.fixed_point import FixedPoint, fixed_point, profile_of

DT_DEFAULT_S = 1e-3
_ACCEPTED = ("input", "flatten", "dense", "dense_rec", "conv", "pool")
_NOT_IN_NETX = ("average", "concat", "convT", "unpool", "dense_comp")
_NEURON_KEYS = {"type", "iDecay", "vDecay", "vThMant", "refDelay", "gradedSpike", "wgtExp",
                "weight_exp"}


@dataclass(frozen=True)
class NetxLayer:
    """One compute or flatten layer, integers as Lava uses them. ``shape``: torch order."""

    index: int
    kind: str                              # dense | dense_rec | conv | pool | flatten
    shape: tuple[int, ...]
    weight: np.ndarray | None = None       # int64; conv/pool as a conv kernel (C_out, C_in/g, kH, kW)
    weight_rec: np.ndarray | None = None
    bias: np.ndarray | None = None         # int64 per neuron (dense) or per channel (conv)
    delay: np.ndarray | None = None        # int64 per neuron, steps (dense only)
    conv: dict | None = None               # stride, padding, dilation (H, W), groups
    i_decay: int = 0
    v_decay: int = 0
    v_th_mant: int = 1


@dataclass(frozen=True)
class NetxFile:
    path: Path
    input_shape: tuple[int, ...]
    layers: tuple[NetxLayer, ...]
    fp: FixedPoint | None = None   # number format of the file's profile (manifest, else default)


def _err(path, key, what: str, fix: str) -> UnsupportedNodeError:
    return UnsupportedNodeError(f"{path}: layer {key}: {what}; {fix}")


def _str(ds) -> str:
    v = ds[()]
    v = v[0] if np.ndim(v) else v
    return v.decode("ascii") if isinstance(v, bytes) else str(v)


def _ints(ds, path, key, field) -> np.ndarray:
    a = np.asarray(ds[()])
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise _err(path, key, f"{field} has non-integer values (Lava truncates them toward zero)",
                       "quantise to integers before export_hdf5")
    elif a.dtype.kind not in "iub":
        raise _err(path, key, f"{field} has dtype {a.dtype}", "store integers")
    return a.astype(np.int64)


def _scalar(g, name, path, key) -> int:
    a = _ints(g[name], path, key, f"neuron/{name}").reshape(-1)
    if a.size != 1:
        raise _err(path, key, f"neuron/{name} has {a.size} values", "netx has one value per layer")
    return int(a[0])


def _pair(x) -> tuple[int, int]:
    a = np.asarray(x).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def check_neuron(path, key, g, fp: FixedPoint | None = None) -> tuple[int, int, int]:
    """Validate a layer's ``neuron`` group; return (iDecay, vDecay, vThMant)."""
    fp = fp or fixed_point()
    if "neuron" not in g:
        raise _err(path, key, "compute layer without a neuron group", "export the block with its neuron")
    n = g["neuron"]
    ntype = _str(n["type"]) if "type" in n else "?"
    if ntype not in ("CUBA", "LOIHI"):
        raise _err(path, key, f"neuron type {ntype!r} (sigma-delta / resonate-and-fire / other) is not "
                   "supported", "only CUBA neurons are read; convert the network to slayer.block.cuba")
    unknown = sorted(set(n.keys()) - _NEURON_KEYS - {"messageBits"})
    if unknown:
        raise _err(path, key, f"unknown neuron field(s) {unknown}", "remove them or use plain CUBA blocks")
    if "gradedSpike" in n and bool(np.asarray(n["gradedSpike"][()]).reshape(-1)[0]):
        raise _err(path, key, "graded spikes (gradedSpike = True)", "only unary (binary) spikes are supported")
    if "messageBits" in n and int(np.asarray(n["messageBits"][()]).reshape(-1)[0]) != 0:
        raise _err(path, key, "graded spikes (messageBits ≠ 0)", "only unary (binary) spikes are supported")
    for exp in ("wgtExp", "weight_exp"):
        if exp in n and _scalar(n, exp, path, key) != 0:
            raise _err(path, key, f"neuron/{exp} = {_scalar(n, exp, path, key)} (netx ignores it, so Lava "
                       "and the chip disagree)", "fold the exponent into the weights and remove it")
    if "refDelay" in n and _scalar(n, "refDelay", path, key) != 1:
        raise _err(path, key, f"refractory delay refDelay = {_scalar(n, 'refDelay', path, key)} (netx ignores "
                   "it; slayer CUBA always writes 1)", "set refDelay to 1")
    i_decay, v_decay, vth = (_scalar(n, k, path, key) for k in ("iDecay", "vDecay", "vThMant"))
    one = fp.decay_one
    if not 0 <= i_decay <= one or not 0 <= v_decay <= one:
        raise _err(path, key, f"iDecay {i_decay} / vDecay {v_decay} outside [0, {one}]", "fix the decays")
    if fp.threshold_mant_max is not None and vth > fp.threshold_mant_max:
        raise _err(path, key, f"vThMant {vth} > {fp.threshold_mant_max}: a non-spiking readout (slayer Affine) "
                   "whose output is its voltage", "non-spiking readouts are not supported; end with a "
                   "spiking Dense block")
    if vth < 0:
        raise _err(path, key, f"vThMant {vth} < 0", "use a non-negative threshold")
    return i_decay, v_decay, vth


def _check_weight(w: np.ndarray, path, key, field="weight", fp: FixedPoint | None = None) -> None:
    wmax = (fp or fixed_point()).weight_max  # 254: mixed sign [-256, 254], one sign up to ±255/256
    lo, hi = int(w.min()), int(w.max())
    if lo == 0 and hi == 0:
        raise _err(path, key, f"{field} is all zero", "Lava cannot load an all-zero layer")
    if lo < 0 < hi and (lo < -(wmax + 2) or hi > wmax) or hi > wmax + 1 or lo < -(wmax + 2):
        raise _err(path, key, f"{field} range [{lo}, {hi}] is outside Lava's 8-bit synapse ([{-(wmax + 2)}, "
                   f"{wmax}] mixed sign, [0, {wmax + 1}] excitatory, [{-(wmax + 2)}, 0] inhibitory); netx would "
                   "clip or zero it",
                   "re-quantise the weights")


def check_layer(path, key, g, fp: FixedPoint | None = None) -> NetxLayer | None:
    """Validate one ``/layer/<key>`` group; ``None`` for an ``input`` layer."""
    kind = _str(g["type"]) if "type" in g else "?"
    if kind in _NOT_IN_NETX:
        raise _err(path, key, f"netx layer type {kind!r} (lava-dl's netx raises NotImplementedError for it)",
                   "remove it: neurodeploy reads input, flatten, dense, dense_rec, conv, pool")
    if kind not in _ACCEPTED:
        raise _err(path, key, f"unknown netx layer type {kind!r}", f"supported: {', '.join(_ACCEPTED)}")
    shape = tuple(int(s) for s in np.asarray(g["shape"][()]).reshape(-1)) if "shape" in g else ()
    if kind == "input":
        if "neuron" in g:
            raise _err(path, key, "input layer with a neuron (slayer Input block)", "export the network "
                       "without the Input block (its weight/bias transform has no netx driver)")
        return None
    if kind == "flatten":
        return NetxLayer(int(key), kind, (int(np.prod(shape)),))
    if "weight" not in g or isinstance(g["weight"], h5py.Group):
        raise _err(path, key, "no real-valued 'weight' (complex synapse?)", "complex synapses are not supported")
    fp = fp or fixed_point()
    i_decay, v_decay, vth = check_neuron(path, key, g, fp)
    w = _ints(g["weight"], path, key, "weight")
    _check_weight(w, path, key, fp=fp)
    w_rec = bias = delay = conv = None
    if kind == "dense_rec":
        w_rec = _ints(g["weight_rec"], path, key, "weight_rec")
        _check_weight(np.concatenate([w.reshape(-1), w_rec.reshape(-1)]), path, key, "weight+weight_rec", fp)
    if kind in ("dense", "dense_rec"):
        if w.ndim == 1:
            w = w.reshape(int(np.prod(shape)), -1)
        if w.ndim != 2 or w.shape[0] != int(np.prod(shape)):
            raise _err(path, key, f"weight {w.shape} does not match shape {shape}", "fix the file")
        shape = (w.shape[0],)
    else:
        if len(shape) != 3:
            raise _err(path, key, f"{kind} shape {shape} is not (C, H, W)", "fix the file")
        if kind == "pool":
            k = w.reshape(w.shape[-2:]) if w.size == w.shape[-2] * w.shape[-1] else None
            if k is None:
                raise _err(path, key, f"pool weight {w.shape} is not one (kH, kW) kernel", "fix the file")
            w = np.broadcast_to(k, (shape[0], 1, *k.shape)).copy()
            conv = {"groups": shape[0]}
        else:
            conv = {"groups": int(np.asarray(g["groups"][()]).reshape(-1)[0]) if "groups" in g else 1}
        for f in ("stride", "padding", "dilation"):
            conv[f] = _pair(g[f][()]) if f in g else ((1, 1) if f != "padding" else (0, 0))
        if kind == "pool" and "stride" not in g:
            conv["stride"] = tuple(w.shape[2:])
    if "bias" in g:
        bias = _ints(g["bias"], path, key, "bias").reshape(-1)
        if bias.size != (shape[0] if kind != "dense" and kind != "dense_rec" else int(np.prod(shape))):
            raise _err(path, key, f"bias of {bias.size} values does not fit shape {shape}",
                       "give one bias per neuron (dense) or per channel (conv)")
    if "delay" in g:
        d = np.asarray(g["delay"][()], dtype=np.float64).reshape(-1)
        if np.any(d != 0):
            if kind != "dense":
                raise _err(path, key, f"axonal delays on a {kind} layer (netx drops them, so Lava and slayer "
                           "disagree)", "train without delays on this block or move them to a dense block")
            if d.size != shape[0]:
                raise _err(path, key, f"delay of {d.size} values for {shape[0]} neurons (input delays?)",
                           "give one axonal delay per neuron")
            top = "inf" if fp.delay_max is None else fp.delay_max
            if np.any(d != np.round(d)) or d.min() < 0 or (fp.delay_max is not None and d.max() > fp.delay_max):
                raise _err(path, key, f"delays must be integers in [0, {top}], got "
                           f"[{d.min():g}, {d.max():g}] (netx clamps)", "clamp and floor the delays")
            delay = d.astype(np.int64)
    return NetxLayer(int(key), kind, shape, w, w_rec, bias, delay, conv, i_decay, v_decay, vth)


def _conv_in_shape(lay: NetxLayer, path) -> tuple[int, ...]:
    """Input (C, H, W) of a first conv layer without an ``input`` layer: unique only for stride 1."""
    c = lay.conv
    if c["stride"] != (1, 1):
        raise DataError(f"{path}: layer {lay.index}: first conv layer without an 'input' layer and "
                        "stride ≠ 1: the input size is ambiguous; add an input layer with its shape")
    hw = tuple(lay.shape[1 + i] - 1 + c["dilation"][i] * (lay.weight.shape[2 + i] - 1) - 2 * c["padding"][i] + 1
               for i in range(2))
    return (lay.weight.shape[1] * c["groups"], *hw)


def read_netx(path: str | Path) -> NetxFile:
    """Read and validate every layer of a netx file (see module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"netx file {p} does not exist")
    fp = fixed_point(profile_of(p))
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise DataError(f"{p} is not an HDF5 netx file ({exc})") from None
    with f:
        if "layer" not in f:
            raise DataError(f"{p}: no /layer group: not a lava-dl netx file")
        group = f["layer"]
        in_shape: tuple[int, ...] | None = None
        layers: list[NetxLayer] = []
        for key in sorted(group, key=int):
            g = group[key]
            lay = check_layer(p, key, g, fp)
            if lay is None:
                if layers:
                    raise _err(p, key, "input layer after the first layer", "netx networks are one chain")
                in_shape = tuple(int(s) for s in np.asarray(g["shape"][()]).reshape(-1))
            else:
                layers.append(lay)
    compute = [lay for lay in layers if lay.kind != "flatten"]
    if not compute:
        raise DataError(f"{p}: no dense/conv layer found")
    first = layers[0]
    if in_shape is None:
        in_shape = (first.weight.shape[1],) if first.kind in ("dense", "dense_rec") else _conv_in_shape(first, p)
    elif first.kind in ("dense", "dense_rec"):
        if int(np.prod(in_shape)) != first.weight.shape[1]:
            raise DataError(f"{p}: input shape {in_shape} does not fit layer {first.index}'s weight "
                            f"{first.weight.shape}")
        in_shape = (first.weight.shape[1],)  # Lava drives a first dense layer with flat spikes
    return NetxFile(p, in_shape, tuple(layers), fp)


def ungroup(w: np.ndarray, groups: int) -> np.ndarray:
    """A grouped conv kernel (C_out, C_in/g, kH, kW) as the equivalent groups = 1 kernel
    (C_out, C_in, kH, kW), zero between groups. NIR 1.0.8 infers a Conv2d's input channels as
    weight.shape[1], so a grouped Conv2d fails its type check when a graph is read back."""
    if groups == 1:
        return w
    c_out, c_in_g = w.shape[:2]
    out = np.zeros((c_out, c_in_g * groups, *w.shape[2:]), dtype=w.dtype)
    per = c_out // groups
    for o in range(c_out):
        g = o // per
        out[o, g * c_in_g:(g + 1) * c_in_g] = w[o]
    return out


def _scale(lay: NetxLayer) -> float:
    """k = 2^floor(log2 vThMant) (1 for vThMant = 0)."""
    return float(2 ** int(np.floor(np.log2(lay.v_th_mant)))) if lay.v_th_mant > 0 else 1.0


def _neuron_node(lay: NetxLayer, dt: float, shape, fp: FixedPoint) -> nir.NIRNode:
    one = fp.decay_one
    alpha, beta = lay.v_decay / one, lay.i_decay / one
    full = np.ones(shape)
    k = _scale(lay)
    bias = np.zeros(shape) if lay.bias is None else (
        lay.bias.reshape(shape) if len(shape) == 1 else lay.bias.reshape(-1, 1, 1) * full).astype(np.float64)
    if lay.i_decay == one and lay.v_decay == 0:
        return nir.IF(r=full / dt, v_threshold=lay.v_th_mant / k * full, v_reset=0 * full)
    if lay.i_decay == 0 or lay.v_decay == 0:
        which = "iDecay = 0 (a current that never decays)" if lay.i_decay == 0 else \
            f"vDecay = 0 with iDecay < {one} (a non-leaky membrane behind a current filter)"
        raise UnsupportedNodeError(f"layer {lay.index}: {which} has no NIR CubaLIF/IF equivalent "
                                   "(τ = ∞); retrain with a non-zero decay")
    return nir.CubaLIF(tau_syn=full * dt / beta, tau_mem=full * dt / alpha, r=full, w_in=full,
                       v_leak=bias / (k * alpha), v_threshold=lay.v_th_mant / k * full, v_reset=0 * full)


def netx_to_nir(netx: NetxFile, dt_s: float | None = None) -> nir.NIRGraph:
    """NIR graph of a read netx file (module docstring), metadata in neurodeploy conventions."""
    fp = netx.fp or fixed_point()
    one = fp.decay_one
    dt = float(dt_s) if dt_s is not None else DT_DEFAULT_S
    if not dt > 0:
        raise ConfigError(f"dt must be > 0 seconds, got {dt}")
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array(netx.input_shape))}
    order, scales, record, rec_edges = ["input"], {}, [], []
    cur = netx.input_shape
    for j, lay in enumerate(netx.layers, start=1):
        if lay.kind == "flatten":
            name = f"{j}_flatten"
            nodes[name] = nir.Flatten(input_type={"input": np.array(cur)}, start_dim=0, end_dim=-1)
            order.append(name)
            cur = lay.shape
            continue
        if lay.i_decay == one and lay.v_decay == 0:
            gain = 1.0 / _scale(lay)  # IF: W = W_int / k, r·dt = 1
            if lay.bias is not None and np.any(lay.bias):
                raise UnsupportedNodeError(f"layer {lay.index}: a bias on a non-leaky (IF) layer has no "
                                           "NIR IF equivalent (IF has no v_leak); retrain without bias")
        else:
            gain = 1.0 / (_scale(lay) * (lay.v_decay / one) * (lay.i_decay / one)) \
                if lay.i_decay and lay.v_decay else 1.0
        w = lay.weight.astype(np.float64) * gain
        if lay.kind in ("dense", "dense_rec"):
            syn = nir.Linear(weight=w)
        else:
            c = lay.conv
            syn = nir.Conv2d(input_shape=tuple(cur[1:]), weight=ungroup(w, c["groups"]), stride=c["stride"],
                             padding=c["padding"], dilation=c["dilation"], groups=1, bias=np.zeros(w.shape[0]))
        sname = f"{j}_{'pool' if lay.kind == 'pool' else 'conv' if lay.kind == 'conv' else 'linear'}"
        nodes[sname] = syn
        order.append(sname)
        if lay.delay is not None:
            dname = f"{j}_delay"
            nodes[dname] = nir.Delay(delay=lay.delay.astype(np.float64) * dt)
            order.append(dname)
        nname = f"{j}_{'if' if lay.i_decay == one and lay.v_decay == 0 else 'cubalif'}"
        nodes[nname] = _neuron_node(lay, dt, lay.shape, fp)
        order.append(nname)
        rec_name = None
        if lay.weight_rec is not None:
            rec_name = f"{j}_rec"
            nodes[rec_name] = nir.Linear(weight=lay.weight_rec.astype(np.float64) * gain)
            rec_edges += [(nname, rec_name), (rec_name, nname)]
        scales[nname] = _scale(lay)
        record.append({"netx_index": lay.index, "netx_type": lay.kind, "nodes": [sname, nname],
                       "iDecay": lay.i_decay, "vDecay": lay.v_decay, "vThMant": lay.v_th_mant,
                       "refDelay": 1, "scale_k": _scale(lay),
                       "delay_max": 0 if lay.delay is None else int(lay.delay.max()),
                       "bias_abs_max": 0 if lay.bias is None else int(np.abs(lay.bias).max()),
                       "weight_abs_max": int(np.abs(lay.weight).max())})
        if rec_name:
            record[-1]["nodes"].append(rec_name)
        cur = lay.shape
    nodes["output"] = nir.Output(output_type=np.array(cur))
    order.append("output")
    edges = list(zip(order[:-1], order[1:])) + rec_edges
    conv = Conventions(dt_s=dt, reset="zero", writer="lava-dl netx", sources=(
        ("dt_s", "--dt" if dt_s is not None else "default (assumed; netx files carry no dt)"),
        ("reset", "netx CUBA neurons reset v to 0")), assumed=() if dt_s is not None else ("dt_s",))
    meta = {**conv.to_metadata(),
            "input_shape": list(netx.input_shape), "input_encoding": "binary-events",
            "readout": "spike-count", "source_format": "lava-dl netx",
            "source_file": str(netx.path),
            "dt_source": "--dt" if dt_s is not None else f"assumed {DT_DEFAULT_S} s (netx files carry no dt; "
            "the fixed-point dynamics per step do not depend on it)",
            "state_scale": f"v_float = v_fixed / ({fp.state_scale} k), k per layer in loihi_layer_scale",
            "netx_layers": json.dumps(record), "loihi_layer_scale": json.dumps(scales)}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def load_netx(path: str | Path, dt_s: float | None = None) -> nir.NIRGraph:
    """:func:`read_netx` then :func:`netx_to_nir`."""
    return netx_to_nir(read_netx(path), dt_s)
