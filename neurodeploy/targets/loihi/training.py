"""Hardware-aware fine-tuning for Loihi: train through the quantisation the exporter applies.

In the forward pass every synaptic weight is replaced by its Loihi-representable value and every
membrane/current decay by its ``decay_bits`` value; the backward pass is straight-through (the
gradient of the float weight is the gradient of the quantised one). This mirrors
:mod:`neurodeploy.targets.loihi.export`, with the same profile values
(:func:`~neurodeploy.targets.loihi.fixed_point.fixed_point`, default profile): per layer the integer
weights are even values ``2·round(k·g·W / 2)`` with ``k = weight_max / max|g·W|`` (g the neuron's
input gain), so the float grid step is ``2·max|W| / weight_max``; decays are
``round(D·α) / D`` with ``D = 2**decay_bits``.
Not modelled in training: the truncation of the decay products, the state
wrap-around, and the one-step-per-layer latency. So the accuracy a fine-tuning run *reports* is not
taken from this float surrogate: :func:`emulator_evaluate` exports the model's current weights to
the exact netx integers (the exporter's own :func:`~neurodeploy.targets.loihi.export.build_network`) and
runs the bit-exact :class:`~neurodeploy.targets.loihi.emulator.LoihiEmulator` on the test split, so the
reported test accuracy equals what ``neurodeploy verify`` reports for the exported file.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from neurodeploy.neurons import SpikingNeuron, SpikingSequential
from neurodeploy.targets.loihi.fixed_point import fixed_point


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return x + (q - x).detach()


def quantise_weight(w: torch.Tensor, w_rec: torch.Tensor | None = None,
                    weight_max: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Weights on the exporter's grid (shared scale with the recurrent weights), straight-through;
    ``weight_max`` defaults to the default profile's."""
    m = w.detach().abs().max()
    if w_rec is not None:
        m = torch.maximum(m, w_rec.detach().abs().max())
    step = 2 * m / (weight_max if weight_max is not None else fixed_point().weight_max)
    if not bool(step > 0):
        return w, w_rec
    q = _ste(w, torch.round(w / step) * step)
    qr = None if w_rec is None else _ste(w_rec, torch.round(w_rec / step) * step)
    return q, qr


def _quantise_rate(rate_inv: torch.Tensor, dt_s: float) -> torch.Tensor:
    """τ⁻¹ such that dt·τ⁻¹ is on the profile's decay grid (1 / 2**decay_bits)."""
    one = fixed_point().decay_one
    return _ste(rate_inv, torch.round(one * dt_s * rate_inv) / (one * dt_s))


def loihi_tensors(model: SpikingSequential) -> dict[str, torch.Tensor]:
    """Replacement parameters/buffers for ``functional_call``: Loihi-quantised weights and decays."""
    out: dict[str, torch.Tensor] = {}
    layers = list(model)
    for i, layer in enumerate(layers):
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nxt = next((m for m in layers[i + 1:] if isinstance(m, SpikingNeuron)), None)
            w_rec = nxt.w_rec if nxt is not None else None
            q, qr = quantise_weight(layer.weight, w_rec)
            out[f"{i}.weight"] = q
            if qr is not None:
                j = layers.index(nxt)
                out[f"{j}.w_rec"] = qr
        elif isinstance(layer, SpikingNeuron):
            for name in ("tau_mem_inv", "tau_syn_inv"):
                if hasattr(layer, name):
                    out[f"{i}.{name}"] = _quantise_rate(getattr(layer, name), layer.dt_s)
    return out


def forward_quantised(model: SpikingSequential, x: torch.Tensor, record: bool = False):
    """``model(x, record)`` with Loihi-quantised weights and decays (gradients straight through)."""
    return functional_call(model, loihi_tensors(model), (x,), {"record": record}, strict=False)


@torch.no_grad()
def emulator_evaluate(model: SpikingSequential, dataset, batch_size: int = 256) -> dict:
    """Accuracy and firing rates of ``model`` as the Loihi emulator computes them on ``dataset``.

    Exports to the netx integers (lossy steps allowed: this measures what they do), runs
    T + L steps with zero padding and counts output spikes over the aligned window [L, T + L),
    exactly as :func:`neurodeploy.targets.loihi.verify.verify_loihi`; ties go to the lowest class."""
    import tempfile
    from pathlib import Path

    from neurodeploy.ir import to_nir
    from neurodeploy.targets.loihi.emulator import LoihiEmulator
    from neurodeploy.targets.loihi.export import build_network, write_netx
    from neurodeploy.train.trainer import batches, to_time_major

    correct = total = 0
    sums: list[float] = []
    emu = None
    with tempfile.TemporaryDirectory(prefix="nd-hwa-") as tmp:
        for x, y in batches(dataset, batch_size, shuffle=False):
            xt = to_time_major(x).cpu()
            if emu is None:
                graph = to_nir(model, tuple(xt.shape[2:]), time_steps=int(xt.shape[0]))
                path = Path(tmp) / "hwa.net"
                write_netx(build_network(graph, allow_lossy=True), path)
                emu = LoihiEmulator(path)
            T, B = xt.shape[:2]
            lat = emu.latency
            xs = xt.reshape(T, B, *emu.input_shape).to(torch.int8)
            padded = torch.cat([xs, torch.zeros((lat, *xs.shape[1:]), dtype=xs.dtype)])
            res = emu.run(padded, record=True)
            counts = res.output_spikes[lat:].sum(0, dtype=torch.int64)
            correct += int((counts.argmax(-1) == y.cpu()).sum())
            total += len(y)
            rates = [float(lay[j + 1:j + 1 + T].to(torch.float64).mean()) * len(y)
                     for j, lay in enumerate(res.layers)]
            sums = rates if not sums else [a + b for a, b in zip(sums, rates)]
    return {"accuracy": correct / max(total, 1), "firing_rates": [r / max(total, 1) for r in sums]}
