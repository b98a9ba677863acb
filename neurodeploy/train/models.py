"""Model builders: config → ``SpikingSequential`` of Linear/Conv layers and spiking neurons."""

from __future__ import annotations

import torch
from torch import nn

from neurodeploy.neurons import LI, NEURON_TYPES, SpikingSequential
from neurodeploy.neurons.functional import (
    CubaLIFParameters,
    IFParameters,
    LIFParameters,
    LIParameters,
)
from neurodeploy.surrogates import make_surrogate


def make_neuron(model_cfg: dict, surrogate_cfg: dict, features: int | None = None,
                recurrent: bool = False):
    """One neuron layer from the ``[model]`` and ``[surrogate]`` config sections."""
    kind = model_cfg["neuron"]
    v_th = model_cfg["v_th"]
    if kind == "lif":
        p = LIFParameters(tau_mem_inv=1.0 / model_cfg["tau_mem_s"], v_th=v_th)
    elif kind == "cuba_lif":
        p = CubaLIFParameters(tau_syn_inv=1.0 / model_cfg["tau_syn_s"],
                              tau_mem_inv=1.0 / model_cfg["tau_mem_s"], v_th=v_th)
    else:
        p = IFParameters(v_th=v_th)
    return NEURON_TYPES[kind](
        p, dt_s=model_cfg["dt_s"], reset=model_cfg["reset"],
        surrogate=make_surrogate(surrogate_cfg["name"], **surrogate_cfg["params"]),
        learn_tau=model_cfg["learn_tau"], learn_threshold=model_cfg["learn_threshold"],
        recurrent_features=features if recurrent else None,
    )


def build_model(cfg: dict, input_shape: tuple[int, ...], classes: int) -> SpikingSequential:
    """MLP or conv net of spiking layers; output layer has one spiking neuron per class.

    ``input_shape`` is one time step without batch, e.g. (2, 18, 18) or (700,).
    """
    m, s = cfg["model"], cfg["surrogate"]
    bias = m["bias"]
    layers: list[nn.Module] = []
    if m["kind"] == "conv":
        if len(input_shape) != 3:
            raise_shape(input_shape)
        c, h, w = input_shape
        for out_c in m["channels"]:
            layers += [nn.Conv2d(c, out_c, 3, stride=2, padding=1, bias=bias), make_neuron(m, s)]
            c, h, w = out_c, (h + 1) // 2, (w + 1) // 2
        layers.append(nn.Flatten())
        features = c * h * w
    else:
        layers.append(nn.Flatten())
        features = 1
        for d in input_shape:
            features *= d
    if m["kind"] == "mlp":
        for width in m["hidden"]:
            layers += [nn.Linear(features, width, bias=bias), make_neuron(m, s, width, m["recurrent"])]
            features = width
    layers += [nn.Linear(features, classes, bias=bias), make_readout(m, s)]
    model = SpikingSequential(*layers)
    model.readout = m.get("readout", "spike-count")
    _init(model)
    return model


def make_readout(model_cfg: dict, surrogate_cfg: dict):
    """The output layer: a spiking neuron (``spike-count``) or a non-spiking ``LI`` with the
    config's τ_mem (``membrane-mean`` / ``membrane-max``)."""
    if model_cfg.get("readout", "spike-count") == "spike-count":
        return make_neuron(model_cfg, surrogate_cfg)
    return LI(LIParameters(tau_mem_inv=1.0 / model_cfg["tau_mem_s"]), dt_s=model_cfg["dt_s"],
              reset=model_cfg["reset"], learn_tau=model_cfg["learn_tau"])


def raise_shape(shape):
    from neurodeploy.errors import ConfigError
    raise ConfigError(f"[model] kind = 'conv' needs image input (C, H, W); this dataset gives {tuple(shape)}")


def _init(model: nn.Module) -> None:
    """Kaiming-uniform weights scaled ×2: binary inputs at ~10–20 % rate then drive the first
    layers near threshold from the start."""
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_uniform_(layer.weight, a=5 ** 0.5)
                layer.weight.mul_(2.0)
                if layer.bias is not None:
                    layer.bias.zero_()
