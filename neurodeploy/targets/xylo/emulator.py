"""Batched integer emulator of a Xylo specification; equals XyloSim on every spike and step.

Arithmetic (facts §12, checked against xylosim 0.1.3 in tests/test_xylo_emulator.py). All state
is integer; ``decay(a, d) = a - (a >> d)`` (arithmetic shift) except that a positive value whose
shift is 0 still loses 1. Per step t, for a batch (B, …):

    hidden synapse k:  a_k = I_k ⊕ (x[t] @ W_in[..., k]) << s_in ⊕ (S[t-1] @ W_rec[..., k]) << s_rec
                       I_k = decay(a_k, dash_syn_k)
    hidden membrane:   V = clip(decay(V, dash_mem) + I_1 + I_2 + bias)     (one clip of the total)
                       S[t] = min(V // θ, 31) where V ≥ θ, else 0;  V -= S[t]·θ   (subtract reset)
    output synapse:    a = I_o ⊕ (S[t-1][-N_oen:] @ W_out) << s_out;  I_o = decay(a, dash_syn_out)
    output membrane:   V_o = clip(decay(V_o, dash_mem_out) + I_o + bias_out)
                       O[t] = 1 where V_o ≥ θ_o;  V_o -= O[t]·θ_o

``⊕`` is saturating addition at the signed ``state_bits`` (16) bounds, applied after EACH
presynaptic source in index order (inputs first, then hidden neurons): XyloSim accumulates event
by event, so a sum that leaves the range and comes back differs from a clamped total
(:func:`accumulate`). Hidden neurons may
emit up to ``max_hidden_spikes`` (31) spikes per step; output neurons at most one. An input channel
delivers at most ``max_input_events`` (15) events per step: XyloSim clips larger counts. Input
``x``: integer events (T, B, N_in) (several events per step allowed). Returns a :class:`XyloRun`
with hidden spike counts (T, B, N_hidden) and output spikes (T, B, N_out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

MAX_HIDDEN_SPIKES = 31
MAX_INPUT_EVENTS = 15
STATE_BITS = 16


class XyloState(NamedTuple):
    """Per-batch integer state: synaptic currents (B, H, 2), membrane (B, H), hidden spikes of
    the last step (B, H), output current and membrane (B, O)."""

    i_syn: torch.Tensor
    v_mem: torch.Tensor
    spikes: torch.Tensor
    i_out: torch.Tensor
    v_out: torch.Tensor


@dataclass
class XyloRun:
    hidden_spikes: torch.Tensor   # (T, B, H) int
    output_spikes: torch.Tensor   # (T, B, O) int
    v_mem: torch.Tensor | None = None      # (T, B, H) after reset (record=True)
    v_out: torch.Tensor | None = None      # (T, B, O)


def decay(a: torch.Tensor, dash: torch.Tensor) -> torch.Tensor:
    """``a - (a >> dash)``; a positive value whose shift is 0 still loses 1 (XyloSim)."""
    shifted = torch.bitwise_right_shift(a, dash)
    return a - torch.where((a > 0) & (shifted == 0), torch.ones_like(a), shifted)


def accumulate(start: torch.Tensor, x: torch.Tensor, w: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """``start + x @ w`` added one presynaptic source at a time (in index order), saturating at
    [lo, hi] after each addition, as XyloSim does. ``start`` (B, H), ``x`` (B, N) ≥ 0, ``w`` (N, H).

    Fast path: when ``start`` plus all positive (negative) contributions stays inside the range no
    partial sum can leave it, so the plain sum is exact; only the other (b, h) pairs are replayed
    source by source."""
    pos = x @ w.clamp(min=0)
    neg = x @ w.clamp(max=0)
    out = start + pos + neg
    bad = (start + pos > hi) | (start + neg < lo)
    if bool(bad.any()):
        b, h = bad.nonzero(as_tuple=True)
        acc = start[b, h]
        contrib = x[b] * w[:, h].T            # (K, N) in source order
        for j in range(int(contrib.shape[1])):
            acc = (acc + contrib[:, j]).clamp(lo, hi)
        out = out.clone()
        out[b, h] = acc
    return out


def _arr(spec: dict, key: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    v = spec.get(key)
    if v is None:
        return torch.zeros(shape, dtype=torch.int64)
    return torch.as_tensor(np.asarray(v, dtype=np.int64))


class XyloEmulator:
    """Integer emulator of one specification (the dict :func:`~.spec.load_spec` returns)."""

    def __init__(self, spec: dict, state_bits: int = STATE_BITS, max_hidden_spikes: int = MAX_HIDDEN_SPIKES,
                 max_input_events: int = MAX_INPUT_EVENTS):
        w_in = _arr(spec, "weights_in")
        if w_in.ndim == 2:
            w_in = w_in[..., None]
        self.n_in, self.n_hidden = int(w_in.shape[0]), int(w_in.shape[1])
        w_rec = spec.get("weights_rec")
        w_rec = (torch.zeros((self.n_hidden, self.n_hidden, w_in.shape[2]), dtype=torch.int64)
                 if w_rec is None else _arr(spec, "weights_rec"))
        if w_rec.ndim == 2:
            w_rec = w_rec[..., None]
        nsyn = max(int(w_in.shape[2]), int(w_rec.shape[2]))
        self.w_in = torch.nn.functional.pad(w_in, (0, 2 - int(w_in.shape[2])))
        self.w_rec = torch.nn.functional.pad(w_rec, (0, 2 - int(w_rec.shape[2])))
        self.n_syn = nsyn
        self.w_out = _arr(spec, "weights_out")
        self.n_oen, self.n_out = int(self.w_out.shape[0]), int(self.w_out.shape[1])
        H, No = self.n_hidden, self.n_out
        self.dash_syn = torch.stack([_arr(spec, "dash_syn", (H,)), _arr(spec, "dash_syn_2", (H,))], -1)
        self.dash_mem = _arr(spec, "dash_mem", (H,))
        self.dash_syn_out = _arr(spec, "dash_syn_out", (No,))
        self.dash_mem_out = _arr(spec, "dash_mem_out", (No,))
        self.threshold = _arr(spec, "threshold", (H,))
        self.threshold_out = _arr(spec, "threshold_out", (No,))
        self.bias = _arr(spec, "bias", (H,))
        self.bias_out = _arr(spec, "bias_out", (No,))
        self.shift_in = int(spec.get("weight_shift_in", 0))
        self.shift_rec = int(spec.get("weight_shift_rec", 0))
        self.shift_out = int(spec.get("weight_shift_out", 0))
        # input then recurrent sources, weights pre-shifted: (N_in + H, H, 2)
        self.w_syn = torch.cat([self.w_in << self.shift_in, self.w_rec << self.shift_rec], 0)
        self.w_out_shifted = self.w_out << self.shift_out
        self.lo, self.hi = -(2 ** (state_bits - 1)), 2 ** (state_bits - 1) - 1
        self.max_hidden_spikes = max_hidden_spikes
        self.max_input_events = max_input_events

    def initial_state(self, batch: int) -> XyloState:
        z = torch.zeros
        H, No = self.n_hidden, self.n_out
        return XyloState(z((batch, H, 2), dtype=torch.int64), z((batch, H), dtype=torch.int64),
                         z((batch, H), dtype=torch.int64), z((batch, No), dtype=torch.int64),
                         z((batch, No), dtype=torch.int64))

    def step(self, x: torch.Tensor, state: XyloState) -> tuple[tuple[torch.Tensor, torch.Tensor], XyloState]:
        """One step: ``x`` (B, N_in) int events → ((hidden spikes (B, H), output spikes (B, O)), state)."""
        i_syn, v, s_prev, i_out, v_out = state
        src = torch.cat([x.clamp(0, self.max_input_events), s_prev], 1)
        i_syn = torch.stack([decay(accumulate(i_syn[..., k], src, self.w_syn[..., k], self.lo, self.hi),
                                   self.dash_syn[:, k]) for k in range(self.n_syn)]
                            + [i_syn[..., k] for k in range(self.n_syn, 2)], -1)
        v = (decay(v, self.dash_mem) + i_syn.sum(-1) + self.bias).clamp(self.lo, self.hi)
        th = self.threshold
        n = torch.where((v >= th) & (th > 0), torch.div(v, th.clamp(min=1), rounding_mode="floor"),
                        torch.zeros_like(v)).clamp(max=self.max_hidden_spikes)
        v = v - n * th
        a = accumulate(i_out, s_prev[:, self.n_hidden - self.n_oen:], self.w_out_shifted, self.lo, self.hi)
        i_out = decay(a, self.dash_syn_out)
        v_out = (decay(v_out, self.dash_mem_out) + i_out + self.bias_out).clamp(self.lo, self.hi)
        o = (v_out >= self.threshold_out).to(torch.int64)
        v_out = v_out - o * self.threshold_out
        return (n, o), XyloState(i_syn, v, n, i_out, v_out)

    @torch.no_grad()
    def run(self, x: torch.Tensor, record: bool = False) -> XyloRun:
        """Run from zero state on ``x`` (T, B, N_in) integer events."""
        x = torch.as_tensor(x).to(torch.int64)
        if x.ndim == 2:
            x = x[:, None]
        if x.shape[-1] != self.n_in:
            raise ValueError(f"input has {x.shape[-1]} channels, the specification {self.n_in}")
        state = self.initial_state(int(x.shape[1]))
        hs, os_, vs, vos = [], [], [], []
        for t in range(int(x.shape[0])):
            (n, o), state = self.step(x[t], state)
            hs.append(n)
            os_.append(o)
            if record:
                vs.append(state.v_mem)
                vos.append(state.v_out)
        run = XyloRun(torch.stack(hs), torch.stack(os_))
        if record:
            run.v_mem, run.v_out = torch.stack(vs), torch.stack(vos)
        return run
