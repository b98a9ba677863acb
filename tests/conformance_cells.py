"""The conformance matrix: NIR writer × node kind × reset × leak/reset values (issue 13).

Each :class:`Cell` builds a small network in the writer's own library, runs it there on seeded
spike input (the reference), writes NIR with the writer's own exporter (or the step before it
where the exporter is broken — stated in ``note``), reads it with ``load_nir(dialect=…)`` and
compares our float simulator, our ONNX export (onnxruntime) and our Loihi emulator with the
writer's spikes. Every cell declares its outcome:

``exact``    our float spikes equal the writer's (after the declared per-layer shift);
``bounded``  a warning naming the cause is emitted at read time and the measured mismatch
             fraction is ≤ ``bound``;
``refused``  ``load_nir`` raises a NeurodeployError whose message matches ``error``;
``unwritable`` the writer's own exporter raises (message matches ``error``): no file exists.

The Loihi column has its own declared bound per cell (``loihi``: quantised weights and decays),
or None where our Loihi exporter refuses the graph.

Used by tests/test_conformance.py and scripts/conformance_table.py (writes docs/interop.md's
matrix). Writers that are not installed give ``skipped`` with the reason.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from neurodeploy.sim.against import run_stateful

T, B, N_IN = 30, 4, 12


@dataclass(frozen=True)
class Cell:
    writer: str
    kind: str                    # LIF, CubaLIF, IF, LI readout, recurrent, conv, pool
    reset: str                   # writer's reset mode
    values: str                  # leak/reset/threshold values of the cell
    build: Callable              # () -> (raw NIR graph, x (T, B, …), writer spikes (T, B, …), load_nir kwargs)
    expect: str                  # exact | bounded | refused | unwritable
    bound: float = 0.0           # bounded: max mismatch fraction
    warn: str | None = None      # regex a read-time warning must match (bounded: required)
    error: str | None = None     # refused: regex of our error; unwritable: of the writer's exception
    shift: int = 0               # writer's output = ours delayed by this many steps
    note: str = ""
    needs: tuple[str, ...] = ()  # importable modules the cell needs
    loihi: float | None = None   # Loihi emulator vs writer: max fraction of differing bins
                                 # (None: the Loihi exporter must refuse the graph)


@dataclass
class Result:
    cell: Cell
    status: str                  # exact | bounded | refused | unwritable | skipped | FAIL
    float_mismatch: float | None = None
    onnx: str = ""
    loihi: str = ""
    detail: str = ""
    warnings: list[str] = field(default_factory=list)


def spikes(shape, seed=1, rate=0.3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, *shape, generator=g) < rate).float()


def _scale(module, gain):
    """Multiply the synaptic weights/biases only (neuron parameters may be Parameters too)."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                for p in m.parameters():
                    p.mul_(gain)


# ---------------------------------------------------------------------------------- Norse 1.1
def _norse(kind: str, v_leak: float = 0.0, v_reset: float = 0.0):
    def build():
        import norse.torch as nt

        torch.manual_seed(0)
        full = lambda n, v: torch.full(n if isinstance(n, tuple) else (n,), float(v))  # noqa: E731  (scalars break nir.write)

        def box(n, leak=v_leak):
            return nt.LIFBoxCell(nt.LIFBoxParameters(tau_mem_inv=full(n, 250.), v_leak=full(n, leak),
                                                    v_th=full(n, 1.0), v_reset=full(n, v_reset)))
        if kind == "LIF":
            layers, shape = [torch.nn.Linear(N_IN, 16), box(16), torch.nn.Linear(16, 4), box(4)], (N_IN,)
        elif kind == "CubaLIF":
            p = nt.LIFParameters(tau_mem_inv=full(16, 200.), tau_syn_inv=full(16, 300.),
                                 v_leak=full(16, v_leak), v_th=full(16, 1.0))
            layers, shape = [torch.nn.Linear(N_IN, 16), nt.LIFCell(p), torch.nn.Linear(16, 4), box(4)], (N_IN,)
        elif kind == "IF":
            layers, shape = [torch.nn.Linear(N_IN, 16), nt.IAFCell(nt.IAFParameters(v_th=full(16, 1.0))),
                             torch.nn.Linear(16, 4), nt.IAFCell(nt.IAFParameters(v_th=full(4, 1.0)))], (N_IN,)
        elif kind == "LI readout":
            li = nt.LIBoxCell(nt.LIBoxParameters(tau_mem_inv=full(4, 250.), v_leak=full(4, 0.)))
            layers, shape = [torch.nn.Linear(N_IN, 16), box(16), torch.nn.Linear(16, 4), li], (N_IN,)
        elif kind == "conv":
            layers = [torch.nn.Conv2d(2, 4, 3, stride=2, padding=1), box((4, 4, 4)),
                      torch.nn.Flatten(), torch.nn.Linear(64, 5), box(5)]
            shape = (2, 8, 8)
        elif kind == "pool":
            layers = [torch.nn.Conv2d(2, 4, 3, padding=1), box((4, 8, 8)), torch.nn.AvgPool2d(2),
                      torch.nn.Flatten(), torch.nn.Linear(64, 5), box(5)]
            shape = (2, 8, 8)
        net = nt.SequentialState(*layers)
        _scale(net, 6.0)
        x = spikes(shape, rate=0.4)
        ref = run_stateful(net, x)
        if isinstance(ref, tuple):
            ref = ref[0]
        raw = nt.to_nir(net, torch.zeros(1, *shape), dt=1e-3)
        return raw, x, ref, dict(dialect="norse", dt_s=1e-3)
    return build


def _norse_braille(dialect: str):
    def build():
        import nir
        import norse.torch as nt

        path = os.path.join(os.path.dirname(nt.__file__), "utils", "test", "braille.nir")
        x = spikes((12,), rate=0.3)
        logging.getLogger().setLevel(logging.ERROR)
        ref = run_stateful(nt.from_nir(nir.read(path), dt=1e-4), x)
        return path, x, ref, dict(dialect=dialect, dt_s=1e-4)
    return build


# ---------------------------------------------------------------------------------- snnTorch 1.0
def _snntorch(kind: str, reset: str, reset_delay: bool, threshold: float = 1.0):
    def build():
        import snntorch as snn
        import snntorch.utils

        from neurodeploy.ir.interop import snntorch_graph

        torch.manual_seed(0)
        kw = dict(init_hidden=True, reset_mechanism=reset, reset_delay=reset_delay, threshold=threshold)
        if kind == "LIF":
            hidden = snn.Leaky(beta=0.8, **kw)
        elif kind == "IF":           # snnTorch's integrate-and-fire: Leaky(beta=1)
            hidden = snn.Leaky(beta=1.0, **kw)
        elif kind == "LI readout":   # hidden Leaky; the readout below keeps its membrane (no reset)
            hidden = snn.Leaky(beta=0.8, **kw)
        elif kind == "CubaLIF":
            hidden = snn.Synaptic(alpha=0.7, beta=0.8, **kw)
        elif kind == "recurrent":
            hidden = snn.RLeaky(beta=0.8, linear_features=16, **kw)
        shape = (N_IN,)
        if kind == "conv":
            shape = (2, 8, 8)
            net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, stride=2, padding=1), snn.Leaky(beta=0.8, **kw),
                                      torch.nn.Flatten(), torch.nn.Linear(64, 4),
                                      snn.Leaky(beta=0.9, output=True, **kw))
        elif kind == "pool":
            shape = (2, 8, 8)
            net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), snn.Leaky(beta=0.8, **kw),
                                      torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 4),
                                      snn.Leaky(beta=0.9, output=True, **kw))
        else:
            last = (snn.Leaky(beta=0.9, output=True, init_hidden=True, reset_mechanism="none")
                    if kind == "LI readout" else
                    snn.Leaky(beta=1.0 if kind == "IF" else 0.9, output=True, **kw))
            net = torch.nn.Sequential(torch.nn.Linear(N_IN, 16), hidden, torch.nn.Linear(16, 4), last)
        _scale(net, 3.0)
        x = spikes(shape, rate=0.4)
        snntorch.utils.reset(net)
        with torch.no_grad():
            ref = torch.stack([net(x[t])[0] for t in range(T)])
        raw = snntorch_graph(net, torch.zeros(1, *shape))
        opts = dict(dialect="snntorch", reset=reset)
        if not reset_delay:
            opts["reset_delay"] = False
        return raw, x, ref, opts
    return build


# ---------------------------------------------------------------------------------- Sinabs 3.1
def _sinabs(kind: str, reset: str, multi: bool, threshold: float = 1.0):
    def build():
        import sinabs
        import sinabs.activation as sa
        import sinabs.layers as sl

        torch.manual_seed(0)
        kw = dict(spike_fn=sa.MultiSpike if multi else sa.SingleSpike,
                  reset_fn=sa.MembraneSubtract() if reset == "subtract" else sa.MembraneReset(),
                  spike_threshold=torch.tensor(threshold))
        if kind == "IF":
            net = torch.nn.Sequential(torch.nn.Linear(N_IN, 16), sl.IAF(**kw), torch.nn.Linear(16, 4), sl.IAF(**kw))
            shape, gain = (N_IN,), 3.0 if multi else 1.5
        elif kind == "LIF":
            net = torch.nn.Sequential(torch.nn.Linear(N_IN, 16), sl.LIF(tau_mem=torch.tensor(5.0), **kw),
                                      torch.nn.Linear(16, 4), sl.LIF(tau_mem=torch.tensor(8.0), **kw))
            shape, gain = (N_IN,), 10.0
        elif kind == "LI readout":
            net = torch.nn.Sequential(torch.nn.Linear(N_IN, 16), sl.IAF(**kw), torch.nn.Linear(16, 4),
                                      sl.ExpLeak(tau_mem=torch.tensor(8.0)))
            shape, gain = (N_IN,), 1.5
        elif kind == "conv":
            net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, stride=2, padding=1),
                                      sl.IAFSqueeze(batch_size=B, **kw), torch.nn.Flatten(),
                                      torch.nn.Linear(64, 4), sl.IAFSqueeze(batch_size=B, **kw))
            shape, gain = (2, 8, 8), 1.5
        elif kind == "pool":
            net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), sl.IAFSqueeze(batch_size=B, **kw),
                                      sl.SumPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 4),
                                      sl.IAFSqueeze(batch_size=B, **kw))
            shape, gain = (2, 8, 8), 1.0
        _scale(net, gain)
        x = spikes(shape, rate=0.4)
        sinabs.reset_states(net)
        with torch.no_grad():
            if kind in ("conv", "pool"):   # (B·T, C, H, W), batch-major
                out = net(x.transpose(0, 1).reshape(B * T, *shape))
                ref = out.reshape(B, T, -1).transpose(0, 1)
            else:                          # (B, T, N)
                ref = net(x.transpose(0, 1)).transpose(0, 1)
            sample = (x.transpose(0, 1).reshape(B * T, *shape) if kind in ("conv", "pool")
                      else x.transpose(0, 1))
            raw = sinabs.to_nir(net, sample)
        return raw, x, ref, dict(dialect="sinabs", reset=reset)
    return build


# ---------------------------------------------------------------------------------- Rockpool 3.1
def _rockpool(kind: str, multi: bool, rec: bool = False):
    def build():
        from rockpool.nn.combinators import Sequential
        from rockpool.nn.modules import ExpSynTorch, LIFNeuronTorch, LIFTorch, LinearTorch
        from rockpool.nn.modules.torch.nir import to_nir

        torch.manual_seed(0)
        dt = 1e-3
        if kind == "conv":   # Rockpool 3.1 has no conv module: a torch Conv2d in its Sequential
            net = Sequential(torch.nn.Conv2d(2, 4, 3, stride=2, padding=1), torch.nn.Flatten(),
                             LinearTorch((64, 4), has_bias=False), LIFNeuronTorch(4, tau_mem=0.02, dt=dt))
            return to_nir(net, torch.zeros(1, 2, 8, 8)), spikes((2, 8, 8)), None, dict(dialect="rockpool")
        extra = {} if multi else dict(max_spikes_per_dt=1.0)
        if kind == "CubaLIF":
            neuron = lambda n: LIFTorch(n, tau_mem=0.02, tau_syn=0.01, dt=dt, has_rec=rec and n == 16,  # noqa: E731
                                        **extra)
        else:
            neuron = lambda n: LIFNeuronTorch(n, tau_mem=0.02, dt=dt, **extra)  # noqa: E731
        last = ExpSynTorch(4, tau=0.02, dt=dt) if kind == "LI readout" else neuron(4)
        net = Sequential(LinearTorch((N_IN, 16), has_bias=False), neuron(16), LinearTorch((16, 4), has_bias=False),
                         last)
        _scale(net, 2.0)
        x = spikes((N_IN,), rate=0.4)
        with torch.no_grad():
            out = net(x.transpose(0, 1))
            ref = (out[0] if isinstance(out, tuple) else out).transpose(0, 1)
        raw = to_nir(net, torch.zeros(1, N_IN))
        return raw, x, ref, dict(dialect="rockpool")
    return build


# ---------------------------------------------------------------------------------- Spyx 1.0
def _spyx(kind: str):
    def build():
        import jax.numpy as jnp
        import nir
        import spyx.nir as snir
        import spyx.nn as snn
        from flax import nnx

        rngs = nnx.Rngs(0)
        dt = 1e-3
        if kind == "LIF":
            neuron = lambda n: snn.LIF((n,), beta=0.8, rngs=rngs)  # noqa: E731
        elif kind == "CubaLIF":
            neuron = lambda n: snn.CuBaLIF((n,), alpha=0.7, beta=0.8, rngs=rngs)  # noqa: E731
        elif kind == "LI readout":   # LIF hidden layer, LI (membrane) readout
            neuron = lambda n: (snn.LIF((n,), beta=0.8, rngs=rngs) if n == 16  # noqa: E731
                                else snn.LI((n,), beta=0.9, rngs=rngs))
        elif kind == "recurrent":
            neuron = lambda n: (snn.RLIF((n,), beta=0.8, rngs=rngs) if n == 16  # noqa: E731
                                else snn.LIF((n,), beta=0.8, rngs=rngs))
        else:
            neuron = lambda n: snn.IF((n,))  # noqa: E731
        shape = (N_IN,)
        if kind in ("conv", "pool"):   # Spyx runs channels-last (NHWC); NIR and we channels-first
            shape = (2, 8, 8)
            conv = nnx.Conv(2, 4, (3, 3), strides=2 if kind == "conv" else 1, padding=((1, 1), (1, 1)), rngs=rngs)
            hw = 4 if kind == "conv" else 8
            pool = [snn.SumPool((2, 2), (2, 2), "VALID")] if kind == "pool" else []
            model = snn.Sequential(conv, snn.IF((hw, hw, 4)), *pool, snn.Flatten(), nnx.Linear(64, 5, rngs=rngs),
                                   snn.IF((5,)))
        else:
            model = nnx.Sequential(nnx.Linear(N_IN, 16, rngs=rngs), neuron(16), nnx.Linear(16, 4, rngs=rngs),
                                   neuron(4))
        for lin in model.layers:
            if isinstance(lin, (nnx.Linear, nnx.Conv)):
                lin.kernel[...] = lin.kernel[...] * 3.0
        raw = snir.to_nir(model, {"input": np.array(shape)}, {"output": np.array([5 if len(shape) == 3 else 4])}, dt=dt)
        x = spikes(shape, rate=0.4)
        graph = nir.NIRGraph(nodes=raw.nodes, edges=raw.edges, type_check=False)
        xin = x.numpy().transpose(0, 1, 3, 4, 2) if len(shape) == 3 else x.numpy()
        _, out = snir.from_nir(graph, jnp.asarray(xin), dt=dt)
        return raw, x, torch.as_tensor(np.array(out)), dict(dialect="spyx", dt_s=dt)
    return build


# ---------------------------------------------------------------------------------- Spyx 0.1.20
def _spyx01(kind: str):
    def build():
        import haiku as hk
        import jax
        import jax.numpy as jnp
        import spyx.nir as snir
        import spyx.nn as snn

        dt, n = 1e-3, 16     # square layers: (in, out) and (out, in) have the same shape
        # per-neuron β (a scalar one makes to_nir fail nir 1.0.8's type check), set after init
        neuron = {"LIF": lambda: snn.LIF((n,)), "CubaLIF": lambda: snn.CuBaLIF((n,)),
                  "IF": lambda: snn.IF((n,)), "conv": lambda: snn.IF((8, 8, 2))}[kind]
        values = {"w": None, "b": None, "beta": 0.8, "alpha": 0.7}

        def net(x):
            if kind == "conv":    # conv2 → IF → flatten → linear → IF, channels-last like haiku
                core = hk.DeepRNN([hk.Conv2D(2, 3), neuron(), hk.Flatten(), hk.Linear(n, with_bias=False),
                                   snn.IF((n,))])
            else:
                core = hk.DeepRNN([hk.Linear(n, with_bias=False), neuron(), hk.Linear(n, with_bias=False),
                                   neuron()])
            spk, _ = hk.dynamic_unroll(core, x, core.initial_state(x.shape[1]), time_major=True)
            return spk

        model = hk.without_apply_rng(hk.transform(net))
        x = spikes((8, 8, 2) if kind == "conv" else (n,), rate=0.4)
        params = model.init(jax.random.PRNGKey(0), jnp.asarray(x.numpy()))
        params = {k: {p: (a * 3.0 if values[p] is None else jnp.full(a.shape, values[p])) for p, a in v.items()}
                  for k, v in params.items()}
        ref = torch.as_tensor(np.array(model.apply(params, jnp.asarray(x.numpy()))))
        raw = snir.to_nir(params, {"input": np.array(x.shape[2:])}, {"output": np.array([n])}, dt=dt)
        return raw, x, ref, dict(dialect="spyx-0.1", dt_s=dt)
    return build


# ---------------------------------------------------------------------------------- the matrix
_SNN_SUB = r"dialect 'snntorch': subtract reset is not exact in either snnTorch mode"
_SNN_DELAY = r"reset_delay=True \(snnTorch's default\) also discards the input"
_MULTI = r"emit up to floor\(v/θ\) spikes per step"
_SPYX_DELAY = r"Spyx emits a layer's spikes one step after"

CELLS: list[Cell] = [
    Cell("norse", "LIF", "zero", "v_leak = 0", _norse("LIF"), "exact", needs=("norse",), loihi=0.02),
    Cell("norse", "LIF", "zero", "v_leak = 0.3", _norse("LIF", 0.3), "exact", needs=("norse",),
         note="Norse starts v at v_leak: read as θ − v_leak, v_reset − v_leak"),
    Cell("norse", "LIF", "zero", "v_reset = 0.5", _norse("LIF", 0.0, 0.5), "bounded", bound=0.05,
         needs=("norse",), warn=r"to_nir does not write v_reset", loihi=0.05,
         note="to_nir drops v_reset: the file cannot say; warned for every Norse LIF/CubaLIF graph"),
    Cell("norse", "CubaLIF", "zero", "v_leak = 0.3", _norse("CubaLIF", 0.3), "exact", needs=("norse",)),
    Cell("norse", "IF", "zero", "θ = 1", _norse("IF"), "exact", needs=("norse",), loihi=0.02),
    Cell("norse", "LI readout", "—", "", _norse("LI readout"), "refused", needs=("norse",),
         error=r"\(LI\) is not supported"),
    Cell("norse", "conv", "zero", "v_leak = 0.2", _norse("conv", 0.2), "exact", needs=("norse",)),
    Cell("norse", "pool", "zero", "", _norse("pool"), "refused", needs=("norse",),
         error=r"is empty \(the norse writer had no NIR mapping", note="to_nir writes AvgPool2d as an empty node"),
    Cell("norse", "recurrent", "zero", "braille.nir, --dialect norse", _norse_braille("norse"), "bounded",
         bound=0.01, needs=("norse",), loihi=0.30, warn=r"nirtorch \(Norse's from_nir\) skips the recurrent Affine",
         note="file written for Norse's reader, not by to_nir: τ ≥ dt read as seconds (warned)"),
    Cell("snntorch", "LIF", "zero", "reset_delay=True", _snntorch("LIF", "zero", True), "exact", needs=("snntorch",), loihi=0.03,
         note="export_to_nir fails nir 1.0.8's type check: graph taken before it (snntorch_graph)"),
    Cell("snntorch", "LIF", "zero", "reset_delay=False, θ = 0.7", _snntorch("LIF", "zero", False, 0.7), "exact",
         needs=("snntorch",), loihi=0.03),
    Cell("snntorch", "LIF", "subtract", "reset_delay=True", _snntorch("LIF", "subtract", True), "refused",
         needs=("snntorch",), error=_SNN_SUB),
    Cell("snntorch", "LIF", "subtract", "reset_delay=False", _snntorch("LIF", "subtract", False), "refused",
         needs=("snntorch",), error=_SNN_SUB),
    Cell("snntorch", "CubaLIF", "zero", "reset_delay=True", _snntorch("CubaLIF", "zero", True), "refused",
         needs=("snntorch",), error=_SNN_DELAY),
    Cell("snntorch", "CubaLIF", "zero", "reset_delay=False", _snntorch("CubaLIF", "zero", False), "exact",
         needs=("snntorch",), loihi=0.08),
    Cell("snntorch", "recurrent", "zero", "reset_delay=True", _snntorch("recurrent", "zero", True), "refused",
         needs=("snntorch",), error=_SNN_DELAY),
    Cell("snntorch", "recurrent", "zero", "reset_delay=False", _snntorch("recurrent", "zero", False), "exact",
         needs=("snntorch",), loihi=0.08),
    Cell("snntorch", "conv", "zero", "reset_delay=True", _snntorch("conv", "zero", True), "exact",
         needs=("snntorch",), loihi=0.10),
    Cell("snntorch", "IF", "zero", "Leaky(beta=1)", _snntorch("IF", "zero", True), "exact", needs=("snntorch",),
         loihi=0.10, note="written as LIF with τ = r = ∞: read as IF r = 1/dt"),
    Cell("snntorch", "pool", "zero", "conv + AvgPool2d", _snntorch("pool", "zero", True), "exact",
         needs=("snntorch",), loihi=None),
    Cell("snntorch", "LI readout", "none", "readout reset_mechanism='none'",
         _snntorch("LI readout", "zero", True), "bounded", bound=0.15, needs=("snntorch",), loihi=0.30,
         warn=r"snnTorch does not record reset_mechanism",
         note="the file says nothing of a layer's reset mechanism: every snnTorch graph warns"),
    Cell("sinabs", "IF", "subtract", "SingleSpike", _sinabs("IF", "subtract", False), "bounded", bound=0.0,
         needs=("sinabs",), warn=_MULTI, note="exact on this input: the warning is about what the file cannot say"),
    Cell("sinabs", "IF", "zero", "SingleSpike, θ = 0.8", _sinabs("IF", "zero", False, 0.8), "bounded", bound=0.0,
         needs=("sinabs",), warn=_MULTI, loihi=0.06),
    Cell("sinabs", "IF", "subtract", "MultiSpike (default)", _sinabs("IF", "subtract", True), "bounded",
         bound=0.15, needs=("sinabs",), warn=_MULTI),
    Cell("sinabs", "LIF", "subtract", "SingleSpike, τ = 5, 8 steps", _sinabs("LIF", "subtract", False), "bounded",
         bound=0.0, needs=("sinabs",), warn=_MULTI),
    Cell("sinabs", "LIF", "subtract", "MultiSpike (default)", _sinabs("LIF", "subtract", True), "bounded",
         bound=0.10, needs=("sinabs",), warn=_MULTI),
    Cell("sinabs", "LI readout", "subtract", "ExpLeak τ = 8 steps", _sinabs("LI readout", "subtract", False),
         "refused", needs=("sinabs",), error=r"\(LI\) is not supported"),
    Cell("sinabs", "conv", "subtract", "conv stride 2, SingleSpike", _sinabs("conv", "subtract", False),
         "bounded", bound=0.0, needs=("sinabs",), warn=_MULTI),
    Cell("sinabs", "pool", "subtract", "conv + SumPool2d, SingleSpike", _sinabs("pool", "subtract", False),
         "bounded", bound=0.0, needs=("sinabs",), warn=_MULTI),
    Cell("rockpool", "CubaLIF", "subtract", "max_spikes_per_dt = 1", _rockpool("CubaLIF", False), "bounded",
         bound=0.0, needs=("rockpool",), warn=_MULTI),
    Cell("rockpool", "CubaLIF", "subtract", "max_spikes_per_dt = 2^16 (default)", _rockpool("CubaLIF", True),
         "bounded", bound=0.25, needs=("rockpool",), warn=_MULTI),
    Cell("rockpool", "recurrent", "subtract", "has_rec=True, max_spikes_per_dt = 1",
         _rockpool("CubaLIF", False, rec=True), "bounded", bound=0.15, needs=("rockpool",),
         warn=r"recurrent weights are dropped without a trace",
         note="writer bug: to_nir drops w_rec; the file cannot say, so every Rockpool CubaLIF graph warns"),
    Cell("rockpool", "LIF", "subtract", "max_spikes_per_dt = 1", _rockpool("LIF", False), "bounded",
         bound=0.0, needs=("rockpool",), warn=_MULTI),
    Cell("rockpool", "conv", "subtract", "torch Conv2d in Sequential", _rockpool("conv", False), "refused",
         needs=("rockpool",), error=r"is empty \(the rockpool writer had no NIR mapping",
         note="Rockpool 3.1 has no conv module; to_nir writes a torch Conv2d (and Flatten) as empty nodes"),
    Cell("rockpool", "LI readout", "subtract", "ExpSynTorch readout", _rockpool("LI readout", False), "refused",
         needs=("rockpool",), error=r"\(LI\) is not supported"),
    Cell("spyx", "IF", "subtract", "θ = 1", _spyx("IF"), "exact", shift=2, needs=("spyx", "flax"),
         warn=_SPYX_DELAY),
    Cell("spyx", "CubaLIF", "subtract", "β = 0.8, α = 0.7", _spyx("CubaLIF"), "exact", shift=2,
         needs=("spyx", "flax"), warn=_SPYX_DELAY),
    Cell("spyx", "LIF", "subtract", "β = 0.8", _spyx("LIF"), "bounded", bound=0.10, shift=2,
         needs=("spyx", "flax"), warn=r"Spyx's LIF subtracts the threshold after the decay"),
    Cell("spyx", "recurrent", "subtract", "RLIF β = 0.8", _spyx("recurrent"), "refused", shift=2,
         needs=("spyx", "flax"), error=r"only chains \(plus recurrent self-loops\) are supported",
         note="Spyx writes RLIF as input → w_rec ⇄ lif: read as NIR defines it, the input passes "
              "through w_rec (a branch)"),
    Cell("spyx", "conv", "subtract", "IF, channels-last", _spyx("conv"), "exact", shift=2, needs=("spyx", "flax"),
         warn=_SPYX_DELAY, note="Spyx flattens (H, W, C): the Affine after Flatten is reordered to NIR's (C, H, W)"),
    Cell("spyx", "pool", "subtract", "conv + SumPool VALID, IF", _spyx("pool"), "exact", shift=2,
         needs=("spyx", "flax"), warn=_SPYX_DELAY),
    Cell("spyx", "LI readout", "subtract", "LIF → LI", _spyx("LI readout"), "refused", needs=("spyx", "flax"),
         error=r"skips layers it cannot write",
         note="writer bug: to_nir skips spyx.nn.LI (prints a warning, writes a graph ending in Affine)"),
    Cell("spyx-0.1", "IF", "subtract", "square layers", _spyx01("IF"), "refused", needs=("spyx", "haiku"),
         error=r"leaves out layers without parameters",
         note="writer bug: to_nir walks haiku's parameter tree, so IF (no parameters) is dropped from the file; "
              "detected as synapse → synapse / Output (not when the IF follows the Input directly)"),
    Cell("spyx-0.1", "conv", "subtract", "hk.Conv2D + IF", _spyx01("conv"), "unwritable", needs=("spyx", "haiku"),
         error=r"TypeError: .*weight", note="Spyx 0.1.20's to_nir crashes on conv2 layers"),
    Cell("spyx-0.1", "CubaLIF", "subtract", "β = 0.8, α = 0.7, square layers", _spyx01("CubaLIF"), "bounded",
         bound=0.05, shift=2, needs=("spyx", "haiku"), warn=r"CuBaLIF subtracts the threshold twice",
         note="Spyx 0.1.20 (Python 3.10 env): weights stored (in, out); its reference is the haiku model"),
    Cell("spyx-0.1", "LIF", "subtract", "β = 0.8, square layers", _spyx01("LIF"), "bounded", bound=0.12,
         shift=2, needs=("spyx", "haiku"), warn=r"Spyx's LIF subtracts the threshold after the decay"),
]


_GREEK = str.maketrans({"θ": "theta", "β": "beta", "α": "alpha", "τ": "tau"})


def cell_id(c: Cell) -> str:
    text = f"{c.writer}-{c.kind}-{c.reset}-{c.values}".translate(_GREEK)
    return re.sub(r"[^A-Za-z0-9.]+", "-", text.replace("=", " ")).strip("-")


def missing(c: Cell) -> str | None:
    for mod in c.needs:
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed in this environment"
    return None


def _mismatch(ours: torch.Tensor, ref: torch.Tensor, shift: int) -> float:
    ours = ours.reshape(ours.shape[0], ours.shape[1], -1).float()
    ref = ref.reshape(ref.shape[0], ref.shape[1], -1).float()
    if shift:
        ours, ref = ours[:-shift], ref[shift:]
    return float((ours != ref).float().mean())


def _targets(graph, x, ref, shift: int) -> tuple[str, str, float | None]:
    """ONNX: exported and verified equal to our float model (so it agrees with the writer exactly
    as the float model does); Loihi: exported (lossy allowed), emulator vs the writer's spikes."""
    from neurodeploy.errors import NeurodeployError
    from neurodeploy.targets.loihi import export as loihi_exp
    from neurodeploy.targets.loihi.emulator import LoihiEmulator
    from neurodeploy.targets.onnx.export import export as export_onnx
    from neurodeploy.targets.onnx.verify import verify_onnx

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = export_onnx(graph, Path(tmp) / "m.onnx", {}).path
            res = verify_onnx(path, graph, x, "zero")
            onnx_s = "= float" if res["passed"] else f"≠ float ({res['mismatches']})"
        except NeurodeployError as exc:
            onnx_s = f"refused: {str(exc).splitlines()[0][:60]}"
        try:
            path = loihi_exp.export(graph, Path(tmp) / "m.net", {"allow_lossy": True}).path
            emu = LoihiEmulator(path)
            L = emu.latency
            xin = x.reshape(T, B, -1) if x.dim() == 3 else x
            padded = torch.cat([x, torch.zeros((L, *x.shape[1:]))])
            out = emu.run(padded.to(torch.int8)).output_spikes[L:]
            del xin
            loihi_f = _mismatch(out, ref, shift)
            loihi_s = f"{loihi_f:.1%} differ"
        except NeurodeployError as exc:
            loihi_f, loihi_s = None, f"refused: {str(exc).splitlines()[0][:60]}"
    return onnx_s, loihi_s, loihi_f


def run_cell(c: Cell, targets: bool = True) -> Result:
    """Run one cell; never raises for the declared outcome, returns status FAIL with the reason."""
    from neurodeploy.errors import NeurodeployError
    from neurodeploy.ir.interop import load_nir
    from neurodeploy.sim.float_sim import simulate

    why = missing(c)
    if why:
        return Result(c, "skipped", detail=why)
    try:
        raw, x, ref, opts = c.build()
    except Exception as exc:  # the writer's own exporter failed: no file to read
        msg = f"{type(exc).__name__}: {exc}"
        ok = c.expect == "unwritable" and c.error and re.search(c.error, msg)
        if not ok:
            raise
        return Result(c, "unwritable", detail=msg)
    if c.expect == "unwritable":
        return Result(c, "FAIL", detail=f"expected the writer to fail with {c.error!r}; it wrote a graph")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            graph = load_nir(raw, **opts)
        except NeurodeployError as exc:
            msg = str(exc)
            ok = c.expect == "refused" and c.error and re.search(c.error, msg)
            return Result(c, "refused" if ok else "FAIL", detail=msg)
    texts = [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    if c.expect == "refused":
        return Result(c, "FAIL", detail=f"expected refusal matching {c.error!r}, load_nir succeeded",
                      warnings=texts)
    if c.warn and not any(re.search(c.warn, t) for t in texts):
        return Result(c, "FAIL", detail=f"no read-time warning matching {c.warn!r}; got {texts}",
                      warnings=texts)
    ours = simulate(graph, x).output
    mm = _mismatch(ours, ref, c.shift)
    onnx_s, loihi_s, loihi_f = _targets(graph, x, ref, c.shift) if targets else ("", "", None)
    limit = 0.0 if c.expect == "exact" else c.bound
    status = c.expect if mm <= limit and float(ref.sum()) > 0 else "FAIL"
    detail = "" if status != "FAIL" else f"mismatch {mm:.4f} > {limit} (writer spikes {int(ref.sum())})"
    if targets and status != "FAIL" and (loihi_f is None) != (c.loihi is None):
        status, detail = "FAIL", (f"Loihi: declared {'refusal' if c.loihi is None else f'≤ {c.loihi:.0%}'}, "
                                  f"got {loihi_s}")
    elif targets and status != "FAIL" and loihi_f is not None and loihi_f > c.loihi:
        status, detail = "FAIL", f"Loihi emulator: {loihi_f:.2%} of bins differ > declared {c.loihi:.0%}"
    return Result(c, status, mm, onnx_s, loihi_s, detail, texts)
