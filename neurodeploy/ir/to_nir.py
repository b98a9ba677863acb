"""Our trained ``SpikingSequential`` → ``nir.NIRGraph`` (conventions: docs/nir-conventions.md).

The output layer's readout (:mod:`neurodeploy.neurons.readout`) is written to the metadata key
``readout``; a non-spiking ``LI`` readout becomes a NIR ``LI`` node (r = 1).

Works on a copy of the parameters (the model is not modified). A leading ``Flatten`` is folded
into the input: the graph's ``Input`` is then 1-D (C·H·W in torch order) and the metadata's
``input_shape`` keeps the dataset layout.
"""

from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

from neurodeploy.errors import UnsupportedNodeError
from neurodeploy.ir.conventions import FORMAT_VERSION, Conventions  # noqa: F401 (FORMAT_VERSION re-exported)
from neurodeploy.neurons import (
    IF,
    LI,
    LIF,
    CubaLI,
    CubaLIF,
    SpikingNeuron,
    SpikingSequential,
    SumPool2d,
)
from neurodeploy.neurons.readout import readout_name


def _np(t: torch.Tensor, shape=None) -> np.ndarray:
    a = t.detach().cpu().double().numpy().astype(np.float32)
    return np.broadcast_to(a, shape).copy() if shape is not None else a.copy()


def _neuron_node(layer: SpikingNeuron, shape: tuple[int, ...]) -> nir.NIRNode:
    p = layer.p
    ones = np.ones(shape, dtype=np.float32)
    if isinstance(layer, LIF):
        return nir.LIF(tau=_np(1.0 / p.tau_mem_inv, shape), r=ones, v_leak=_np(p.v_leak, shape),
                       v_threshold=_np(p.v_th, shape), v_reset=_np(p.v_reset, shape))
    if isinstance(layer, CubaLIF):
        return nir.CubaLIF(tau_syn=_np(1.0 / p.tau_syn_inv, shape), tau_mem=_np(1.0 / p.tau_mem_inv, shape),
                           r=ones, v_leak=_np(p.v_leak, shape), v_threshold=_np(p.v_th, shape),
                           v_reset=_np(p.v_reset, shape), w_in=_w_in(layer, shape))
    if isinstance(layer, CubaLI):
        return nir.CubaLI(tau_syn=_np(1.0 / p.tau_syn_inv, shape), tau_mem=_np(1.0 / p.tau_mem_inv, shape),
                          r=ones, v_leak=_np(p.v_leak, shape), w_in=_w_in(layer, shape))
    if isinstance(layer, LI):
        return nir.LI(tau=_np(1.0 / p.tau_mem_inv, shape), r=ones, v_leak=_np(p.v_leak, shape))
    if isinstance(layer, IF):
        return nir.IF(r=ones / layer.dt_s, v_threshold=_np(p.v_th, shape), v_reset=_np(p.v_reset, shape))
    raise UnsupportedNodeError(f"layer {type(layer).__name__} has no NIR mapping")


def _w_in(layer: SpikingNeuron, shape: tuple[int, ...]) -> np.ndarray:
    """1, or τ_syn/dt for a current-jump neuron (input added to i without β, Norse's LIFCell)."""
    if not getattr(layer, "current_jump", False):
        return np.ones(shape, dtype=np.float32)
    return _np(1.0 / (layer.dt_s * layer.p.tau_syn_inv), shape)


def _synapse_node(layer: nn.Module, in_shape: tuple[int, ...], name: str) -> nir.NIRNode:
    if isinstance(layer, nn.Linear):
        if layer.bias is not None:
            return nir.Affine(weight=_np(layer.weight), bias=_np(layer.bias))
        return nir.Linear(weight=_np(layer.weight))
    if isinstance(layer, nn.Conv2d):
        if isinstance(layer.padding, str):
            raise UnsupportedNodeError(f"layer {name}: string padding {layer.padding!r}; use integers")
        bias = _np(layer.bias) if layer.bias is not None else np.zeros(layer.out_channels, np.float32)
        return nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=_np(layer.weight), stride=layer.stride,
                          padding=layer.padding, dilation=layer.dilation, groups=layer.groups, bias=bias)
    if isinstance(layer, nn.Flatten):
        return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)
    if isinstance(layer, nn.AvgPool2d) and layer.padding in (0, (0, 0)) and not layer.ceil_mode:
        k = np.broadcast_to(np.asarray(layer.kernel_size), (2,)).copy()
        s = np.broadcast_to(np.asarray(layer.stride), (2,)).copy()
        return nir.AvgPool2d(kernel_size=k, stride=s, padding=np.array([0, 0]))
    if isinstance(layer, SumPool2d):
        k, s = layer.kernel_size, layer.stride
        return nir.SumPool2d(kernel_size=np.array([k, k]), stride=np.array([s, s]), padding=np.array([0, 0]))
    raise UnsupportedNodeError(f"layer {name} ({type(layer).__name__}) has no NIR mapping; supported: "
                               "Linear, Conv2d, Flatten, SumPool2d, AvgPool2d, LIF, CubaLIF, IF, LI / CubaLI (readout)")


def to_nir(model: SpikingSequential, input_shape: tuple[int, ...], *, time_steps: int,
           input_encoding: str = "binary-events", extra_metadata: dict | None = None) -> nir.NIRGraph:
    """Export ``model`` (input of one step: ``input_shape``, no batch) to a NIR graph; its
    metadata records the model's :class:`Conventions` (``Conventions.to_metadata``)."""
    neurons = [m for m in model if isinstance(m, SpikingNeuron)]
    if not neurons:
        raise UnsupportedNodeError("model has no spiking layer")
    dts = {m.dt_s for m in neurons}
    resets = {m.reset for m in neurons if m.spiking}  # a non-spiking readout has no reset
    if len(dts) != 1 or len(resets) != 1:
        raise UnsupportedNodeError(f"all spiking layers must share dt and reset mode; got dt {sorted(dts)}, "
                                   f"reset {sorted(resets)}")
    with torch.no_grad():
        _, outs = model(torch.zeros(1, 1, *input_shape), record=True)
    shapes = [tuple(o.shape[2:]) for o in outs]
    layers = list(model)
    start = 0
    graph_in = tuple(input_shape)
    if isinstance(layers[0], nn.Flatten):
        start, graph_in = 1, shapes[0]
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array(graph_in))}
    edges: list[tuple[str, str]] = []
    prev, in_shape = "input", graph_in
    for i in range(start, len(layers)):
        layer = layers[i]
        name = f"{i}_{getattr(layer, 'kind', type(layer).__name__.lower())}"
        if isinstance(layer, SpikingNeuron) and not layer.spiking and i != len(layers) - 1:
            raise UnsupportedNodeError(f"layer {name}: the non-spiking readout {type(layer).__name__} must be "
                                       "the last layer")
        if isinstance(layer, SpikingNeuron):
            nodes[name] = _neuron_node(layer, shapes[i])
            if layer.w_rec is not None:
                nodes[f"{i}_rec"] = nir.Linear(weight=_np(layer.w_rec))
                edges += [(name, f"{i}_rec"), (f"{i}_rec", name)]
        else:
            nodes[name] = _synapse_node(layer, in_shape, name)
        edges.append((prev, name))
        prev, in_shape = name, shapes[i]
    nodes["output"] = nir.Output(output_type=np.array(shapes[-1]))
    edges.append((prev, "output"))
    from neurodeploy import __version__

    conv = Conventions(dt_s=float(neurons[0].dt_s), reset=next(iter(resets), neurons[0].reset), spike_amplitude=1.0,
                       nir_version=getattr(nir, "__version__", None), writer="neurodeploy",
                       writer_version=__version__, sources=(("dt_s", "model"), ("reset", "model")))
    metadata = {
        **conv.to_metadata(),
        "time_steps": int(time_steps),
        "input_shape": [int(d) for d in input_shape],
        "input_encoding": input_encoding,
        "readout": readout_name(model),
        **(extra_metadata or {}),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
