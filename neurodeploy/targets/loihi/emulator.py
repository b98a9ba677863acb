"""Batched PyTorch emulator of a lava-dl netx ``.net`` file, bit-exact to Lava's ``fixed_pt`` models.

Public API::

    cuba_step(u, v, a, i_decay, v_decay, bias6, vth6, fp=None) -> (u, v, spikes)   # int64 tensors
    LoihiEmulator(path, device=None, profile=None)
        .latency -> int                   # steps from an input spike to the last layer (1 per layer)
        .input_shape, .output_size
        .run(spikes, record=False) -> EmulatorResult
        .predict(spikes) -> LongTensor (B,)   # argmax of output counts, latency handled

Tensor layouts: ``spikes`` is (T, B, *input_shape) in torch order ((N,) or (C, H, W)), values in
{0, 1}. ``EmulatorResult.output_spikes`` is (T, B, N_out) int8; ``layers`` (when recorded) holds one
(T, B, *shape) int8 tensor per dense/conv layer. Step ``t`` here is Lava time step ``t + 1``:
the input of step t is what ``RingBuffer`` sends at t + 1, and layer ``i`` (0-based) first sees
input step 0 at step ``i + 1`` (a synapse delivers at t what it accumulated at t - 1). State and
synapse buffers start at zero for every run, as in a fresh ``netx.hdf5.Network``.

Arithmetic per step and layer (facts §3). The constants come from the profile
(:class:`~neurodeploy.targets.loihi.fixed_point.FixedPoint`: ``decay_bits`` 12 → 4096,
``state_shift_bits`` 6, ``state_bits`` 24); ``profile`` defaults to the one in the file's
manifest, else the target's default. With Loihi 2's values::

    u = sign(u) * ((|u| * (4096 - iDecay)) >> 12) + (a << 6);  u wraps to 24 bits
    v = sign(v) * ((|v| * (4096 - vDecay)) >> 12) + u + (bias << 6);  v clipped to ±(2^23 - 1)
    s = v > (vThMant << 6);  v[s] = 0

Synaptic sums use float32 (float64 when 256·fan-in ≥ 2^24), exact for these integer ranges;
conv sums wrap to 24 bits like Lava's ``PyConvModelFixed``.

Files are read (and refused) by :func:`neurodeploy.targets.loihi.netx_reader.read_netx`. A dense layer's per-neuron
axonal ``delay`` d delivers neuron n's synaptic input d[n] steps later (Lava's ``DelayDense``:
a queue of d_max + 1 buffers); ``latency`` adds each layer's largest delay. A ``pool`` layer (which
Lava's netx cannot load) runs as the equivalent grouped conv.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neurodeploy.errors import DataError
from neurodeploy.targets.loihi.fixed_point import FixedPoint, fixed_point, profile_of


def _decay(x: torch.Tensor, keep: int, bits: int) -> torch.Tensor:
    """sign(x) * ((|x| * keep) >> bits): truncation toward zero, as Lava does."""
    return torch.sign(x) * ((x.abs() * keep) >> bits)


def cuba_step(u, v, a, i_decay: int, v_decay: int, bias6, vth6: int, fp: FixedPoint | None = None):
    """One fixed-point CUBA step; ``a`` is the synaptic input delivered this step (int64);
    ``bias6``/``vth6`` are already shifted by ``fp.state_shift_bits``; ``fp``: the default profile's."""
    fp = fp or fixed_point()
    half, one, bits = fp.state_half, fp.decay_one, fp.decay_bits
    u = _decay(u, one - i_decay, bits) + (a << fp.state_shift_bits)
    u = torch.where(u > half, u - 2 * half, u)
    u = torch.where(u <= -half, u + 2 * half, u)
    v = _decay(v, one - v_decay, bits) + u + bias6
    v = v.clamp(-half + 1, half - 1)
    s = v > vth6
    v = torch.where(s, torch.zeros_like(v), v)
    return u, v, s


@dataclass
class EmulatorResult:
    output_spikes: torch.Tensor                     # (T, B, N_out) int8
    layers: list[torch.Tensor] = field(default_factory=list)  # (T, B, *shape) int8 per layer


@dataclass
class _Layer:
    kind: str
    shape: tuple[int, ...]
    weight: torch.Tensor | None = None
    weight_rec: torch.Tensor | None = None
    bias6: torch.Tensor | int = 0
    conv: dict | None = None
    i_decay: int = 0
    v_decay: int = 0
    vth6: int = 0
    delay: torch.Tensor | None = None   # (N,) axonal delay in steps (dense), Lava's DelayDense


def _read(path: Path, device, fp: FixedPoint) -> tuple[tuple[int, ...], list[_Layer]]:
    """Layers of a netx file, validated by :func:`neurodeploy.targets.loihi.netx_reader.read_netx` (the same
    refusals as the netx source reader); ``pool`` runs as a grouped conv."""
    from neurodeploy.targets.loihi.netx_reader import read_netx

    netx = read_netx(path)
    layers: list[_Layer] = []
    for nl in netx.layers:
        if nl.kind == "flatten":
            layers.append(_Layer("flatten", nl.shape))
            continue
        kind = "conv" if nl.kind == "pool" else nl.kind
        fan = int(np.prod(nl.weight.shape[1:])) + (nl.shape[0] if kind == "dense_rec" else 0)
        dt = torch.float32 if (fp.weight_max + 2) * fan < 2 ** 24 else torch.float64  # exact sums
        lay = _Layer(kind, nl.shape, torch.tensor(nl.weight, dtype=dt, device=device))
        if nl.weight_rec is not None:
            lay.weight_rec = torch.tensor(nl.weight_rec, dtype=dt, device=device)
        if nl.bias is not None:
            b = nl.bias.reshape(-1, 1, 1) if kind == "conv" else nl.bias
            lay.bias6 = torch.tensor(b << fp.state_shift_bits, device=device)
        if nl.conv is not None:
            lay.conv = dict(nl.conv)
        if nl.delay is not None and nl.delay.max() > 0:
            lay.delay = torch.tensor(nl.delay, device=device)
        lay.i_decay, lay.v_decay, lay.vth6 = nl.i_decay, nl.v_decay, nl.v_th_mant << fp.state_shift_bits
        layers.append(lay)
    return netx.input_shape, layers


class LoihiEmulator:
    """Emulates exactly what is in a netx ``.net`` file (see module docstring)."""

    def __init__(self, path: str | Path, device: str | torch.device | None = None, profile=None):
        self.path = Path(path)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.fp = fixed_point(profile if profile is not None else profile_of(self.path))
        in_shape, self.layers = _read(self.path, self.device, self.fp)
        compute = [lay for lay in self.layers if lay.kind != "flatten"]
        if not compute:
            raise DataError(f"{self.path}: no dense/conv layer found")
        first = compute[0]
        self.input_shape = in_shape or (first.weight.shape[1],)
        self.output_size = int(np.prod(compute[-1].shape))
        # one step per dense/conv layer plus each layer's largest axonal delay
        self.latency = len(compute) + sum(int(lay.delay.max()) for lay in compute if lay.delay is not None)

    def _synapse(self, lay: _Layer, s: torch.Tensor) -> torch.Tensor:
        x = s.to(lay.weight.dtype)
        if lay.kind == "conv":
            c = lay.conv
            a = F.conv2d(x, lay.weight, None, c["stride"], c["padding"], c["dilation"], c["groups"])
            a = a.to(torch.int64)
            half = self.fp.state_half
            return (a + half) % (2 * half) - half   # state_bits signed wrap (PyConvModelFixed)
        return (x.reshape(x.shape[0], -1) @ lay.weight.T).to(torch.int64)

    @torch.no_grad()
    def run(self, spikes: torch.Tensor, record: bool = False) -> EmulatorResult:
        """Run T steps on (T, B, *input_shape) binary spikes; fresh state for the batch."""
        spikes = torch.as_tensor(spikes, device=self.device)
        if spikes.ndim < 3:
            raise DataError(f"spikes must be (T, B, *input_shape), got shape {tuple(spikes.shape)}")
        if not bool(((spikes == 0) | (spikes == 1)).all()):
            raise DataError("Loihi input must be binary spikes {0, 1} (netx uses unary spikes); "
                            "encode analog inputs as spikes first")
        T, B = spikes.shape[:2]
        state = {}
        outs: list[list[torch.Tensor]] = [[] for _ in self.layers]
        for t in range(T):
            s = spikes[t]
            for i, lay in enumerate(self.layers):
                if lay.kind == "flatten":
                    s = s.reshape(B, -1)
                    continue
                if i not in state:
                    z = torch.zeros((B, *lay.shape), dtype=torch.int64, device=self.device)
                    q = (z.clone() if lay.delay is None else
                         torch.zeros((int(lay.delay.max()) + 1, B, *lay.shape), dtype=torch.int64,
                                     device=self.device))
                    state[i] = [z, z.clone(), q, z.clone()]   # u, v, ff buffer (queue), rec buffer
                u, v, buf, rbuf = state[i]
                a = buf if lay.delay is None else buf[0]
                a = a + rbuf if lay.kind == "dense_rec" else a
                nbuf = self._synapse(lay, s).reshape(B, *lay.shape)
                if lay.delay is not None:  # DelayDense: input of neuron n arrives delay[n] steps later
                    slot = torch.arange(buf.shape[0], device=self.device)[:, None] == lay.delay[None, :]
                    nbuf = torch.cat([buf[1:], torch.zeros_like(buf[:1])]) + slot[:, None, :] * nbuf[None]
                u, v, z = cuba_step(u, v, a, lay.i_decay, lay.v_decay, lay.bias6, lay.vth6, self.fp)
                if lay.kind == "dense_rec":
                    rbuf = (z.to(lay.weight_rec.dtype) @ lay.weight_rec.T).to(torch.int64)
                state[i] = [u, v, nbuf, rbuf]
                s = z
                if record or i == len(self.layers) - 1:
                    outs[i].append(z.to(torch.int8))
        per_layer = [torch.stack(o) for o in outs if o]
        out = per_layer[-1].reshape(T, B, -1)
        return EmulatorResult(out, per_layer if record else [])

    def predict(self, spikes: torch.Tensor) -> torch.Tensor:
        """Class = argmax of output spike counts over steps [L, T + L) of a run padded with L
        zero steps (L = :attr:`latency`), i.e. the steps that correspond to input steps 0..T-1."""
        spikes = torch.as_tensor(spikes, device=self.device)
        pad = torch.zeros((self.latency, *spikes.shape[1:]), dtype=spikes.dtype, device=self.device)
        out = self.run(torch.cat([spikes, pad])).output_spikes
        return out[self.latency:].sum(0, dtype=torch.int64).argmax(-1)
