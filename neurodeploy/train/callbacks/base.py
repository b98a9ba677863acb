"""The callback interface (:class:`Callback`, its hooks) and the model helpers callbacks share:
neuron layers, their synaptic weights, the last training batch (:class:`BatchTap`, fed by the
public ``on_batch`` hook) and local gradients on it."""

from __future__ import annotations

import math

import torch
from torch import nn

from neurodeploy.errors import ConfigError


class Callback:
    """Hooks called by :class:`~neurodeploy.train.trainer.Trainer` (all optional)."""

    name = "callback"

    def on_train_start(self, trainer) -> None: ...

    def on_epoch_start(self, trainer, epoch: int) -> None: ...

    def on_batch(self, trainer, step: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """A training batch (time-major, on the device) just before its forward and loss."""

    def on_after_backward(self, trainer, step: int) -> None:
        """Gradients are in ``.grad``; the optimiser has not stepped yet."""

    def on_epoch_end(self, trainer, epoch: int, metrics: dict) -> None:
        """May add JSON-able entries to ``metrics`` (written to metrics.jsonl)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


# ----------------------------------------------------------------------------------------------
# model helpers


def neuron_layers(model: nn.Module) -> list[nn.Module]:
    """The spiking neuron modules of ``model`` in order (anything with a ``.surrogate``; a
    non-spiking LI/CubaLI readout has no surrogate gradient and is not one)."""
    from neurodeploy.neurons import SpikingNeuron

    return [m for m in model.modules() if isinstance(m, SpikingNeuron) and m.spiking]


def synaptic_weights(model: nn.Module) -> list[torch.Tensor | None]:
    """For each neuron layer, the weight of the nearest preceding layer that has one."""
    from neurodeploy.neurons import SpikingNeuron

    out, last = [], None
    for m in model.modules():
        if isinstance(m, SpikingNeuron) and m.spiking:
            out.append(last)
        elif isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.requires_grad:
            last = m.weight
    return out


class BatchTap:
    """The last training batch and the trainer's loss, so that searches and diagnostics can re-run
    the loss on the same batch. A callback owns one and feeds it from its ``on_batch`` hook."""

    def __init__(self, loss):
        self.x = self.y = None
        self.loss = loss

    @classmethod
    def of(cls, trainer) -> BatchTap:
        """A tap on ``trainer``'s loss (``trainer._loss(x, y)`` → (loss, counts))."""
        return cls(trainer._loss)

    def on_batch(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y


_BatchTap = BatchTap  # the name before the per-batch hook existed


def local_gradients(trainer, tap: BatchTap, layers) -> list[torch.Tensor | None]:
    """δ^l = ∂L/∂(input current of neuron layer l), shape (T, B, …), on the tapped batch.

    One extra forward and a partial backward (only to the neuron inputs; no ``.grad`` is
    touched). Density tracking is paused meanwhile."""
    inputs: list = [None] * len(layers)
    hooks = []
    for n, layer in enumerate(layers):
        def pre(_m, args, n=n):
            inputs[n] = args[0]
        hooks.append(layer.register_forward_pre_hook(pre))
    tracking = [layer.surrogate.live.pause() for layer in layers]
    try:
        with torch.enable_grad():
            loss, _ = tap.loss(tap.x, tap.y)
            wanted = [(n, x) for n, x in enumerate(inputs) if x is not None and x.requires_grad]
            grads = torch.autograd.grad(loss, [x for _, x in wanted], allow_unused=True)
    finally:
        for h in hooks:
            h.remove()
        for layer, t in zip(layers, tracking):
            layer.surrogate.live.resume(t)
    out: list = [None] * len(layers)
    for (n, x), g in zip(wanted, grads):
        out[n] = torch.zeros_like(x) if g is None else g
    return out


def check_live_honoured(surrogate, name: str) -> None:
    """Raise if the current kernel backend ignores in-place changes of ``surrogate``'s live value
    ``name`` (a 1-neuron probe: IF neuron, v' = 0.8, v_th = 1 → u = −0.2)."""
    from neurodeploy.neurons.functional import IFParameters, coefficients
    from neurodeploy.neurons.kernels import get_backend, run_sequence

    live = surrogate.live
    old, track = live.get(name), live.pause()
    try:
        live.set(name, old * 1.7)
        x = torch.full((1, 1, 1), 0.8, requires_grad=True)
        z, _ = run_sequence(x, coefficients(IFParameters(v_th=1.0), 1e-3), surrogate)
        z.sum().backward()
        with torch.no_grad():
            expected = float(surrogate.derivative(torch.tensor(-0.2)))
    finally:
        live.set(name, old)
        live.resume(track)
    got = float(x.grad.reshape(()))
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-7):
        raise ConfigError(
            f"surrogate {surrogate.name!r}: the neuron kernel backend {get_backend()!r} ignores the "
            f"live value {name!r} (probe gradient {got:.6g}, expected {expected:.6g}), so its "
            "schedule would have no effect; set NEURODEPLOY_KERNEL=torch (or reference), or use "
            "another width surrogate (sigmoid, arctan, triangle, …)")



def _json(v: float | None):
    """JSON has no inf/nan: None instead."""
    return None if v is None or not math.isfinite(v) else v

