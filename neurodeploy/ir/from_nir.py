"""``nir.NIRGraph`` → our ``SpikingSequential`` (the float reference of any NIR graph).

Conventions NIR does not carry (dt, reset mode) come from the source's
:class:`neurodeploy.ir.conventions.Conventions`, else from the graph's metadata (one resolver,
one set of messages); explicit arguments override.
NIR's ``r`` and ``w_in`` are folded exactly into the preceding weights (the dynamics are linear in
the input current), so per-neuron values are kept; IF's ``dt·r`` likewise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import nir
import numpy as np
import torch
from torch import nn

from neurodeploy.errors import ConfigError, UnsupportedNodeError
from neurodeploy.ir.conventions import Conventions, of
from neurodeploy.ir.graph import chain
from neurodeploy.neurons import (
    IF,
    LI,
    LIF,
    CubaLI,
    CubaLIF,
    CubaLIFParameters,
    CubaLIParameters,
    IFParameters,
    LIFParameters,
    LIParameters,
    SpikingSequential,
    SumPool2d,
)
from neurodeploy.neurons.delay import StepDelay
from neurodeploy.neurons.readout import READOUTS
from neurodeploy.surrogates import Surrogate


@dataclass(frozen=True)
class GraphConventions:
    """What a NIR graph needs besides its nodes: time step (s), reset mode, one step's input shape;
    ``conventions``: the full :class:`neurodeploy.ir.conventions.Conventions` they came from."""

    dt_s: float
    reset: str
    input_shape: tuple[int, ...]
    time_steps: int | None
    conventions: Conventions | None = None


def graph_conventions(graph: nir.NIRGraph, dt_s: float | None = None, reset: str | None = None,
                      conv: Conventions | None = None) -> GraphConventions:
    """dt and reset from ``conv`` (resolved where the source was read), else from the graph's
    metadata (:func:`neurodeploy.ir.conventions.resolve`); ``dt_s``/``reset`` override."""
    c = of(graph, conv, dt_s, reset)
    meta = dict(getattr(graph, "metadata", {}) or {})
    inputs = [n for n in graph.nodes.values() if isinstance(n, nir.Input)]
    shape = tuple(int(d) for d in np.asarray(inputs[0].input_type["input"]).ravel()) if inputs else ()
    t = meta.get("time_steps")
    return GraphConventions(c.dt_s, c.reset, shape, int(t) if t is not None else None, c)


conventions = graph_conventions  # the name this function had before ir/conventions.py existed


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float32))


def _scalar_or_array(a) -> torch.Tensor:
    t = _t(a)
    flat = t.flatten()
    return flat[0].clone() if flat.numel() and bool((flat == flat[0]).all()) else t


def _fold(prev: nn.Module | None, scale: torch.Tensor, name: str) -> None:
    """Multiply the preceding synaptic layer's outputs by ``scale`` (per output neuron)."""
    if bool((scale == 1).all()):
        return
    if prev is None or not isinstance(prev, (nn.Linear, nn.Conv2d)):
        raise UnsupportedNodeError(f"node {name!r}: r/w_in ≠ 1 needs a preceding Affine/Linear/Conv2d to fold into")
    with torch.no_grad():
        if scale.dim() == 0:  # one value for the layer (snnTorch writes scalars)
            prev.weight.mul_(scale)
            if prev.bias is not None:
                prev.bias.mul_(scale)
            return
        s = scale.reshape(-1) if isinstance(prev, nn.Linear) else scale.reshape(scale.shape[0], -1)[:, 0]
        if isinstance(prev, nn.Conv2d) and not bool((scale.reshape(scale.shape[0], -1) == s[:, None]).all()):
            raise UnsupportedNodeError(f"node {name!r}: r varies within a channel; cannot fold into Conv2d")
        prev.weight.mul_(s.reshape(-1, *([1] * (prev.weight.dim() - 1))))
        if prev.bias is not None:
            prev.bias.mul_(s)


def _synapse(node: nir.NIRNode, name: str) -> nn.Module:
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = _t(node.weight)
        bias = getattr(node, "bias", None)
        layer = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
        with torch.no_grad():
            layer.weight.copy_(w)
            if bias is not None:
                layer.bias.copy_(_t(bias).reshape(-1))
        return layer
    if isinstance(node, nir.Conv2d):
        w = _t(node.weight)
        pad = node.padding
        if isinstance(pad, str):
            raise UnsupportedNodeError(f"node {name!r}: string padding {pad!r} is not supported")
        layer = nn.Conv2d(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[2:]),
                          stride=tuple(np.atleast_1d(node.stride).tolist()) if np.size(node.stride) > 1 else int(np.asarray(node.stride).ravel()[0]),
                          padding=tuple(int(p) for p in np.broadcast_to(np.asarray(pad), (2,))),
                          dilation=tuple(int(p) for p in np.broadcast_to(np.asarray(node.dilation), (2,))),
                          groups=int(node.groups), bias=node.bias is not None)
        with torch.no_grad():
            layer.weight.copy_(w)
            if node.bias is not None:
                layer.bias.copy_(_t(node.bias).reshape(-1))
        return layer
    if isinstance(node, nir.Flatten):
        return nn.Flatten(1 + int(node.start_dim), int(node.end_dim) if node.end_dim < 0 else 1 + int(node.end_dim))
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        k = np.asarray(node.kernel_size).ravel()
        s = np.asarray(node.stride).ravel()
        kind = type(node).__name__
        if not np.all(np.asarray(node.padding) == 0) or k.size and not np.all(k == k[0]) or not np.all(s == s[0]):
            raise UnsupportedNodeError(f"node {name!r}: {kind} needs square kernels/strides and zero padding")
        if isinstance(node, nir.AvgPool2d):
            return nn.AvgPool2d(int(k[0]), int(s[0]))
        return SumPool2d(int(k[0]), int(s[0]))
    raise UnsupportedNodeError(
        f"node {name!r} ({type(node).__name__}) is not supported; supported: Affine, Linear, Conv2d, "
        "Flatten, SumPool2d, AvgPool2d, Delay, LIF, CubaLIF, IF (and recurrent self-loops), LI/CubaLI "
        "(last layer)")


def _delay(node: nir.Delay, name: str, dt: float) -> nn.Module:
    """NIR Delay (seconds per feature) → whole-step :class:`StepDelay`; refuses fractional steps."""
    d = np.asarray(node.delay, dtype=np.float64) / dt
    steps = np.round(d)
    if np.any(np.abs(d - steps) > 1e-6) or np.any(steps < 0):
        raise UnsupportedNodeError(f"node {name!r} (Delay): delay/dt must be whole non-negative steps, "
                                   f"got {d.min():g} … {d.max():g} steps at dt = {dt:g} s; pass the --dt "
                                   "the delays were written with")
    return StepDelay(torch.as_tensor(steps.astype(np.int64)))


def _neuron(node: nir.NIRNode, name: str, conv: GraphConventions, prev: nn.Module | None,
            surrogate: Surrogate | None, rec: nn.Linear | None):
    dt = conv.dt_s
    kw = dict(dt_s=dt, reset=conv.reset, surrogate=surrogate)
    v_reset = _scalar_or_array(node.v_reset) if getattr(node, "v_reset", None) is not None else torch.tensor(0.0)
    if isinstance(node, nir.LIF):
        r = _t(node.r)
        p = LIFParameters(tau_mem_inv=_scalar_or_array(1.0 / np.asarray(node.tau, dtype=np.float64)),
                          v_th=_scalar_or_array(node.v_threshold), v_leak=_scalar_or_array(node.v_leak), v_reset=v_reset)
        module = LIF(p, **kw)
    elif isinstance(node, nir.CubaLIF):
        r = _t(node.r) * _t(node.w_in)
        p = CubaLIFParameters(tau_syn_inv=_scalar_or_array(1.0 / np.asarray(node.tau_syn, dtype=np.float64)),
                              tau_mem_inv=_scalar_or_array(1.0 / np.asarray(node.tau_mem, dtype=np.float64)),
                              v_th=_scalar_or_array(node.v_threshold), v_leak=_scalar_or_array(node.v_leak),
                              v_reset=v_reset)
        module = CubaLIF(p, **kw)
    elif isinstance(node, nir.LI):  # non-spiking readout
        r = _t(node.r)
        module = LI(LIParameters(tau_mem_inv=_scalar_or_array(1.0 / np.asarray(node.tau, dtype=np.float64)),
                                 v_leak=_scalar_or_array(node.v_leak)), **kw)
    elif isinstance(node, nir.CubaLI):  # non-spiking readout
        r = _t(node.r) * _t(node.w_in)
        module = CubaLI(CubaLIParameters(
            tau_syn_inv=_scalar_or_array(1.0 / np.asarray(node.tau_syn, dtype=np.float64)),
            tau_mem_inv=_scalar_or_array(1.0 / np.asarray(node.tau_mem, dtype=np.float64)),
            v_leak=_scalar_or_array(node.v_leak)), **kw)
    elif isinstance(node, nir.IF):
        r = _t(node.r) * dt
        module = IF(IFParameters(v_th=_scalar_or_array(node.v_threshold), v_reset=v_reset), **kw)
    else:
        return None
    _fold(prev, r, name)
    if rec is not None and rec.bias is not None and bool((rec.bias != 0).any()):
        # A recurrent bias adds the same current every step: move it to the feed-forward bias.
        if not isinstance(prev, nn.Linear):
            raise UnsupportedNodeError(f"node {name!r}: a recurrent bias needs a preceding Affine/Linear")
        with torch.no_grad():
            extra = rec.bias * r.reshape(-1)
            if prev.bias is None:
                prev.bias = nn.Parameter(extra.clone())
            else:
                prev.bias.add_(extra)
    if rec is not None:
        rs = r.reshape(-1)
        if not bool((rs == 1).all()):
            with torch.no_grad():
                rec.weight.mul_(rs[:, None])
        module.w_rec = nn.Parameter(rec.weight.detach().clone())
    return module


def from_nir(graph: nir.NIRGraph, dt_s: float | None = None, reset: str | None = None,
             surrogate: Surrogate | None = None, *,
             conventions: Conventions | None = None) -> tuple[SpikingSequential, GraphConventions]:
    """Build the float model of ``graph``; returns (model in eval mode, resolved conventions).
    ``conventions``: the source's :class:`Conventions` (else resolved from the metadata)."""
    conv = graph_conventions(graph, dt_s, reset, conventions)
    order, rec = chain(graph)
    layers: list[nn.Module] = []
    names: list[str] = []
    for name in order:
        node = graph.nodes[name]
        if isinstance(node, (nir.Input, nir.Output)):
            continue
        if isinstance(node, nir.Threshold):
            raise UnsupportedNodeError(f"node {name!r}: a bare Threshold is not supported; use IF/LIF")
        if isinstance(node, nir.Delay):
            layers.append(_delay(node, name, conv.dt_s))
            names.append(name)
            continue
        # a delay commutes with the per-neuron gain: fold r/w_in into the synapse before it
        prev = next((m for m in reversed(layers) if not isinstance(m, StepDelay)), None)
        rec_layer = _synapse(graph.nodes[rec[name]], rec[name]) if name in rec else None
        neuron = _neuron(node, name, conv, prev, surrogate, rec_layer)
        layers.append(neuron if neuron is not None else _synapse(node, name))
        names.append(name)
    if any(getattr(m, "spiking", True) is False for m in layers[:-1]):
        bad = next(n for n, m in zip(names, layers) if getattr(m, "spiking", True) is False)
        raise UnsupportedNodeError(f"node {bad!r}: a non-spiking LI/CubaLI node is supported only as the "
                                   "last layer (the readout)")
    model = SpikingSequential(*layers).eval()
    model.node_names = names  # NIR node name of each layer, for reports
    readout = (getattr(graph, "metadata", None) or {}).get("readout")
    if readout in READOUTS and (readout == "spike-count") == bool(getattr(model[-1], "spiking", True)):
        model.readout = readout  # else inferred from the last layer (neurons.readout)
    if math.isnan(conv.dt_s):  # pragma: no cover - guarded in conventions()
        raise ConfigError("dt is NaN")
    return model, conv
