"""A JSON description of a ``SpikingSequential``'s architecture, to rebuild it from a checkpoint.

Models given to the trainer directly (``neurodeploy.train(model=…)``: a Norse model converted by
:mod:`neurodeploy.ir.norse_bridge`, or a chain of our public layers) are not described by a
``[model]`` config; the checkpoint stores this spec and the weights (``state_dict``), and
:func:`model_from_spec` rebuilds the same layers. Neuron parameters' shapes come from the
state dict, so per-neuron time constants and thresholds survive.
"""

from __future__ import annotations

from torch import nn

from neurodeploy.errors import CheckpointError, UnsupportedNodeError
from neurodeploy.neurons.modules import IF, LI, LIF, CubaLI, CubaLIF, SpikingNeuron, SumPool2d
from neurodeploy.neurons.readout import READOUTS, readout_name
from neurodeploy.neurons.sequential import SpikingSequential

SPEC_VERSION = 1
_NEURONS = {"lif": LIF, "cuba_lif": CubaLIF, "if": IF, "cuba_li": CubaLI, "li": LI}


def _layer_spec(i: int, m: nn.Module) -> dict:
    if isinstance(m, nn.Linear):
        return {"type": "linear", "in": m.in_features, "out": m.out_features, "bias": m.bias is not None}
    if isinstance(m, nn.Conv2d):
        return {"type": "conv2d", "in": m.in_channels, "out": m.out_channels, "kernel_size": list(m.kernel_size),
                "stride": list(m.stride), "padding": m.padding if isinstance(m.padding, str) else list(m.padding),
                "dilation": list(m.dilation), "groups": m.groups, "bias": m.bias is not None}
    if isinstance(m, nn.Flatten):
        return {"type": "flatten", "start_dim": m.start_dim, "end_dim": m.end_dim}
    if isinstance(m, SumPool2d):
        return {"type": "sum_pool2d", "kernel_size": m.kernel_size, "stride": m.stride}
    if isinstance(m, nn.AvgPool2d):
        return {"type": "avg_pool2d", "kernel_size": m.kernel_size, "stride": m.stride}
    if isinstance(m, SpikingNeuron) and m.kind in _NEURONS:
        return {"type": m.kind, "dt_s": m.dt_s, "reset": m.reset,
                "current_jump": bool(getattr(m, "current_jump", False)),
                "autapses": bool(getattr(m, "autapses", True)),
                "recurrent_features": None if m.w_rec is None else int(m.w_rec.shape[0]),
                "learnable": [n for n, p in m.named_parameters(recurse=False) if n != "w_rec"]}
    raise UnsupportedNodeError(f"layer {i} ({type(m).__name__}) cannot be trained here; use nn.Linear, "
                               "nn.Conv2d, nn.Flatten, nn.AvgPool2d, SumPool2d and the neurons LIF, CubaLIF, "
                               "IF, CubaLI, LI (neurodeploy.neurons)")


def model_spec(model: SpikingSequential) -> dict:
    """JSON-able architecture of ``model`` (no weights); raises for layers it cannot describe."""
    return {"spec_version": SPEC_VERSION, "layers": [_layer_spec(i, m) for i, m in enumerate(model)],
            "readout": readout_name(model)}


def model_from_spec(spec: dict, state_dict: dict, surrogate_factory) -> SpikingSequential:
    """Rebuild the model of ``spec`` and load ``state_dict``; neurons get ``surrogate_factory()``."""
    if spec.get("spec_version") != SPEC_VERSION:
        raise CheckpointError(f"model spec version {spec.get('spec_version')!r} is not {SPEC_VERSION}; "
                              "retrain with this neurodeploy version")
    layers: list[nn.Module] = []
    for i, s in enumerate(spec["layers"]):
        kind = s["type"]
        if kind == "linear":
            layers.append(nn.Linear(s["in"], s["out"], bias=s["bias"]))
        elif kind == "conv2d":
            pad = s["padding"] if isinstance(s["padding"], str) else tuple(s["padding"])
            layers.append(nn.Conv2d(s["in"], s["out"], tuple(s["kernel_size"]), tuple(s["stride"]), pad,
                                    tuple(s["dilation"]), s["groups"], bias=s["bias"]))
        elif kind == "flatten":
            layers.append(nn.Flatten(s["start_dim"], s["end_dim"]))
        elif kind == "sum_pool2d":
            layers.append(SumPool2d(s["kernel_size"], s["stride"]))
        elif kind == "avg_pool2d":
            layers.append(nn.AvgPool2d(s["kernel_size"], s["stride"]))
        elif kind in _NEURONS:
            cls = _NEURONS[kind]
            prefix = f"{i}."
            p = cls._param_type(**{f: state_dict[prefix + f].clone() for f in cls._param_type._fields})
            extra = {"current_jump": s["current_jump"]} if kind in ("cuba_lif", "cuba_li") else {}
            if kind == "cuba_lif":
                extra["autapses"] = s["autapses"]
            learn = set(s.get("learnable", ()))
            layers.append(cls(p, dt_s=s["dt_s"], reset=s["reset"], surrogate=surrogate_factory(),
                              recurrent_features=s["recurrent_features"], learn_tau=bool(learn - {"v_th"}),
                              learn_threshold="v_th" in learn, **extra))
        else:
            raise CheckpointError(f"model spec layer {i}: unknown type {kind!r}")
    model = SpikingSequential(*layers)
    if spec.get("readout") in READOUTS:  # absent in older specs: inferred from the last layer
        model.readout = spec["readout"]
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint weights do not match its model spec: {str(exc).splitlines()[0]}") from None
    return model
