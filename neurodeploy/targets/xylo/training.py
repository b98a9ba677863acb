"""Hardware-aware training for Xylo: the chip's arithmetic in float, straight-through gradients.

:func:`forward_quantised` runs a ``SpikingSequential`` (Flatten?, Linear → CubaLIF, …) as Xylo
computes it, in each neuron's float units (the integers divided by its scale k_j):

    per neuron j:  α = 2^-round(log2(1/(dt·τ_mem⁻¹))),  β likewise for τ_syn   (bit-shift decays)
                   W'_j = β_j·W_j (w_in = 1; 1 with current_jump),  θ'_j = (1-β_j)/α_j · v_th
                   k_j = min(127 / max|W'_j ∪ W'_rec,j|, 32767 / θ'_j)       (Rockpool's quantiser)
                   W_q = round(k_j W'_j) / k_j,  θ_q = round(k_j θ'_j) / k_j
    per step:      K = I + W_q x[t] + W_rec,q z[t-1];  I = (1-β)K;  V = (1-α)V + I
                   hidden: z = ⌊V/θ_q⌋ clipped to [0, 31] (multi-spike, as on the chip);
                   output: z = 1 if V ≥ θ_q;   V ← V − z·θ_q (subtract reset, as on the chip)
    input counts are clipped to 15 events per channel per step, as on the chip

Every rounding is straight-through (gradient of the unrounded value); the first spike of a step
has the model's surrogate gradient, the extra spikes of a multi-spike step pass no gradient.
Not modelled: the integer truncation of the decays, 16-bit saturation, and the one-step latency
per weight layer after the first (a pure time shift, undone by the evaluation's padding). So the
accuracy a run reports is NOT this forward's: :func:`emulator_evaluate` exports the model to the
exact specification (:func:`~.export.build`, lossy steps allowed: it measures them) and runs the
bit-exact :class:`~.emulator.XyloEmulator` for T + L steps with zero padding, counting output spikes
over [L, T + L), exactly as ``verify`` does.
"""

from __future__ import annotations

import torch
from torch import nn

from neurodeploy.errors import UnsupportedNodeError
from neurodeploy.neurons import SpikingNeuron, SpikingSequential
from neurodeploy.surrogates.base import spike

WEIGHT_MAX = 127
THRESHOLD_MAX = 32767
MAX_SPIKES = 31
MAX_INPUT_EVENTS = 15


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return x + (q - x).detach()


def _pow2_rate(rate: torch.Tensor) -> torch.Tensor:
    """dt/τ rounded to 2^-dash (straight-through)."""
    dash = torch.round(torch.log2(1.0 / rate.detach().clamp(min=1e-12)))
    return _ste(rate, 2.0 ** -dash)


def _pairs(model: SpikingSequential):
    layers = list(model)
    out, pending = [], None
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Flatten) and pending is None and not out:
            continue
        if isinstance(layer, nn.Linear):
            pending = i
        elif isinstance(layer, SpikingNeuron) and getattr(layer, "kind", "") == "cuba_lif" and pending is not None:
            out.append((pending, i))
            pending = None
        else:
            raise UnsupportedNodeError(f"layer {i} ({type(layer).__name__}): Xylo training needs "
                                       "Linear → CubaLIF layers ([model] kind = \"mlp\", neuron = \"cuba_lif\")")
    return out


def quantised_layer(lin: nn.Linear, neu: SpikingNeuron):
    """(W_q (out, in), W_rec,q or None, θ_q (out,), α (out,), β (out,)) in the neuron's float units."""
    n = lin.weight.shape[0]
    ones = torch.ones(n, dtype=lin.weight.dtype, device=lin.weight.device)
    alpha = _pow2_rate(neu.dt_s * neu.tau_mem_inv * ones)
    beta = _pow2_rate(neu.dt_s * neu.tau_syn_inv * ones)
    gain = ones if getattr(neu, "current_jump", False) else beta
    w = lin.weight * gain[:, None]
    w_rec = None
    if neu.w_rec is not None:
        w_rec = neu.w_rec
        if not getattr(neu, "autapses", True):
            w_rec = w_rec * (1 - torch.eye(n, dtype=w_rec.dtype, device=w_rec.device))
        w_rec = w_rec * gain[:, None]
    theta = (1 - beta) / alpha * neu.v_th * ones
    m = w.detach().abs().amax(1)
    if w_rec is not None:
        m = torch.maximum(m, w_rec.detach().abs().amax(1))
    k = torch.minimum(WEIGHT_MAX / m.clamp(min=1e-12), THRESHOLD_MAX / theta.detach().abs().clamp(min=1e-12))
    wq = _ste(w, torch.round(w * k[:, None]) / k[:, None])
    wrq = None if w_rec is None else _ste(w_rec, torch.round(w_rec * k[:, None]) / k[:, None])
    tq = _ste(theta, torch.round(theta * k).clamp(min=1) / k)
    return wq, wrq, tq, alpha, beta


def forward_quantised(model: SpikingSequential, x: torch.Tensor, record: bool = False):
    """``model(x, record)`` as Xylo computes it (module docstring); x (T, B, …) → (T, B, classes)."""
    pairs = _pairs(model)
    T, B = x.shape[:2]
    h = x.reshape(T, B, -1).clamp(0, MAX_INPUT_EVENTS)   # the chip clips input counts
    outputs: list[torch.Tensor] = [h] if pairs and pairs[0][0] > 0 else []
    for li, (i_lin, i_neu) in enumerate(pairs):
        lin, neu = model[i_lin], model[i_neu]
        wq, wrq, tq, alpha, beta = quantised_layer(lin, neu)
        last = li == len(pairs) - 1
        drive = h @ wq.T                          # (T, B, n): all steps at once
        i_syn = torch.zeros_like(drive[0])
        v = torch.zeros_like(drive[0])
        z = torch.zeros_like(drive[0])
        zs = []
        for t in range(T):
            k_t = i_syn + drive[t] + (z @ wrq.T if wrq is not None else 0.0)
            i_syn = (1 - beta) * k_t
            v = (1 - alpha) * v + i_syn
            first = spike(v - tq, neu.surrogate)
            if last:
                z = first
            else:
                extra = (torch.floor(v.detach() / tq.detach()) - 1).clamp(0, MAX_SPIKES - 1)
                z = first + extra
            v = v - z * tq
            zs.append(z)
        h = torch.stack(zs)
        if record:
            outputs += [drive, h]
    return (h, outputs) if record else h


@torch.no_grad()
def emulator_evaluate(model: SpikingSequential, dataset, batch_size: int = 256) -> dict:
    """Accuracy and per-layer firing rates (spikes per neuron per step) on the bit-exact emulator."""
    from neurodeploy.ir import to_nir
    from neurodeploy.targets.xylo.emulator import XyloEmulator
    from neurodeploy.targets.xylo.export import build
    from neurodeploy.train.trainer import batches, to_time_major

    correct = total = 0
    sums: list[float] = []
    emu = net = None
    for x, y in batches(dataset, batch_size, shuffle=False):
        xt = to_time_major(x).cpu()
        T, B = xt.shape[:2]
        if emu is None:
            graph = to_nir(model, tuple(xt.shape[2:]), time_steps=int(T))
            net = build(graph)
            if net.spec is None:
                raise UnsupportedNodeError("Xylo evaluation: " + "; ".join(v.text() for v in net.structure))
            emu = XyloEmulator(net.spec)
        L = net.latency_steps
        xs = xt.reshape(T, B, -1).round().to(torch.int64)
        padded = torch.cat([xs, torch.zeros((L, *xs.shape[1:]), dtype=xs.dtype)])
        res = emu.run(padded)
        counts = res.output_spikes[L:L + T].sum(0)
        correct += int((counts.argmax(-1) == y.cpu()).sum())
        total += len(y)
        rates = []
        for j, lay in enumerate(net.layers):
            src = res.hidden_spikes if lay.kind == "hidden" else res.output_spikes
            window = src[j:j + T, :, lay.first:lay.first + lay.size]
            rates.append(float(window.to(torch.float64).mean()) * len(y))
        sums = rates if not sums else [a + b for a, b in zip(sums, rates)]
    return {"accuracy": correct / max(total, 1), "firing_rates": [r / max(total, 1) for r in sums]}
