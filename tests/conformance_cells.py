"""The conformance matrix: NIR writer × node kind × reset × leak/reset values (issue 13).

Each :class:`Cell` builds a small network in the writer's own library, runs it there on seeded
spike input (the reference), writes NIR with the writer's own exporter (or the step before it
where the exporter is broken — stated in ``note``), reads it with ``load_nir(dialect=…)`` and
compares our float simulator, our ONNX export (onnxruntime) and our Loihi emulator with the
writer's spikes. Every cell declares its outcome:

``exact``    our float spikes equal the writer's (after the declared per-layer shift);
``bounded``  a warning naming the cause is emitted at read time and the measured mismatch
             fraction is ≤ ``bound``;
``refused``  ``load_nir`` raises a NeurodeployError whose message matches ``error``.

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

T, B, N_IN = 30, 4, 12


@dataclass(frozen=True)
class Cell:
    writer: str
    kind: str                    # LIF, CubaLIF, IF, LI readout, recurrent, conv, pool
    reset: str                   # writer's reset mode
    values: str                  # leak/reset/threshold values of the cell
    build: Callable              # () -> (raw NIR graph, x (T, B, …), writer spikes (T, B, …), load_nir kwargs)
    expect: str                  # exact | bounded | refused
    bound: float = 0.0           # bounded: max mismatch fraction
    warn: str | None = None      # regex a read-time warning must match (bounded: required)
    error: str | None = None     # refused: regex of the error message
    shift: int = 0               # writer's output = ours delayed by this many steps
    note: str = ""
    needs: tuple[str, ...] = ()  # importable modules the cell needs


@dataclass
class Result:
    cell: Cell
    status: str                  # exact | bounded | refused | skipped | FAIL
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


def _stateful(net, x):
    state, ys = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            y, state = net(x[t], state)
            ys.append(y)
    return torch.stack(ys)


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
        ref = _stateful(net, x)
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
        ref = _stateful(nt.from_nir(nir.read(path), dt=1e-4), x)
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
        else:
            net = torch.nn.Sequential(torch.nn.Linear(N_IN, 16), hidden, torch.nn.Linear(16, 4),
                                      snn.Leaky(beta=0.9, output=True, **kw))
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
        elif kind in ("conv", "pool"):
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
        from rockpool.nn.modules import LIFNeuronTorch, LIFTorch, LinearTorch
        from rockpool.nn.modules.torch.nir import to_nir

        torch.manual_seed(0)
        dt = 1e-3
        extra = {} if multi else dict(max_spikes_per_dt=1.0)
        if kind == "CubaLIF":
            neuron = lambda n: LIFTorch(n, tau_mem=0.02, tau_syn=0.01, dt=dt, has_rec=rec and n == 16,  # noqa: E731
                                        **extra)
        else:
            neuron = lambda n: LIFNeuronTorch(n, tau_mem=0.02, dt=dt, **extra)  # noqa: E731
        net = Sequential(LinearTorch((N_IN, 16), has_bias=False), neuron(16), LinearTorch((16, 4), has_bias=False),
                         neuron(4))
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
        elif kind == "recurrent":
            neuron = lambda n: (snn.RLIF((n,), beta=0.8, rngs=rngs) if n == 16  # noqa: E731
                                else snn.LIF((n,), beta=0.8, rngs=rngs))
        else:
            neuron = lambda n: snn.IF((n,))  # noqa: E731
        model = nnx.Sequential(nnx.Linear(N_IN, 16, rngs=rngs), neuron(16), nnx.Linear(16, 4, rngs=rngs), neuron(4))
        for lin in (model.layers[0], model.layers[2]):
            lin.kernel[...] = lin.kernel[...] * 3.0
        raw = snir.to_nir(model, {"input": np.array([N_IN])}, {"output": np.array([4])}, dt=dt)
        x = spikes((N_IN,), rate=0.4)
        graph = nir.NIRGraph(nodes=raw.nodes, edges=raw.edges, type_check=False)
        _, out = snir.from_nir(graph, jnp.asarray(x.numpy()), dt=dt)
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
        neuron = (lambda: snn.LIF((n,))) if kind == "LIF" else (lambda: snn.CuBaLIF((n,)))
        values = {"w": None, "beta": 0.8, "alpha": 0.7}

        def net(x):
            core = hk.DeepRNN([hk.Linear(n, with_bias=False), neuron(), hk.Linear(n, with_bias=False), neuron()])
            spk, _ = hk.dynamic_unroll(core, x, core.initial_state(x.shape[1]), time_major=True)
            return spk

        model = hk.without_apply_rng(hk.transform(net))
        x = spikes((n,), rate=0.4)
        params = model.init(jax.random.PRNGKey(0), jnp.asarray(x.numpy()))
        params = {k: {p: (a * 3.0 if values[p] is None else jnp.full(a.shape, values[p])) for p, a in v.items()}
                  for k, v in params.items()}
        ref = torch.as_tensor(np.array(model.apply(params, jnp.asarray(x.numpy()))))
        raw = snir.to_nir(params, {"input": np.array([n])}, {"output": np.array([n])}, dt=dt)
        return raw, x, ref, dict(dialect="spyx-0.1", dt_s=dt)
    return build


# ---------------------------------------------------------------------------------- the matrix
_SNN_SUB = r"dialect 'snntorch': subtract reset is not exact in either snnTorch mode"
_SNN_DELAY = r"reset_delay=True \(snnTorch's default\) also discards the input"
_MULTI = r"emit up to floor\(v/θ\) spikes per step"
_SPYX_DELAY = r"Spyx emits a layer's spikes one step after"

CELLS: list[Cell] = [
    Cell("norse", "LIF", "zero", "v_leak = 0", _norse("LIF"), "exact", needs=("norse",)),
    Cell("norse", "LIF", "zero", "v_leak = 0.3", _norse("LIF", 0.3), "exact", needs=("norse",),
         note="Norse starts v at v_leak: read as θ − v_leak, v_reset − v_leak"),
    Cell("norse", "LIF", "zero", "v_reset = 0.5", _norse("LIF", 0.0, 0.5), "bounded", bound=0.05,
         needs=("norse",), warn=r"to_nir does not write v_reset",
         note="to_nir drops v_reset: the file cannot say; warned for every Norse LIF/CubaLIF graph"),
    Cell("norse", "CubaLIF", "zero", "v_leak = 0.3", _norse("CubaLIF", 0.3), "exact", needs=("norse",)),
    Cell("norse", "IF", "zero", "θ = 1", _norse("IF"), "exact", needs=("norse",)),
    Cell("norse", "LI readout", "—", "", _norse("LI readout"), "refused", needs=("norse",),
         error=r"\(LI\) is not supported"),
    Cell("norse", "conv", "zero", "v_leak = 0.2", _norse("conv", 0.2), "exact", needs=("norse",)),
    Cell("norse", "pool", "zero", "", _norse("pool"), "refused", needs=("norse",),
         error=r"is empty \(the norse writer had no NIR mapping", note="to_nir writes AvgPool2d as an empty node"),
    Cell("norse", "recurrent", "zero", "braille.nir, --dialect norse", _norse_braille("norse"), "bounded",
         bound=0.01, needs=("norse",), warn=r"nirtorch \(Norse's from_nir\) skips the recurrent Affine",
         note="file written for Norse's reader, not by to_nir: τ ≥ dt read as seconds (warned)"),
    Cell("snntorch", "LIF", "zero", "reset_delay=True", _snntorch("LIF", "zero", True), "exact", needs=("snntorch",),
         note="export_to_nir fails nir 1.0.8's type check: graph taken before it (snntorch_graph)"),
    Cell("snntorch", "LIF", "zero", "reset_delay=False, θ = 0.7", _snntorch("LIF", "zero", False, 0.7), "exact",
         needs=("snntorch",)),
    Cell("snntorch", "LIF", "subtract", "reset_delay=True", _snntorch("LIF", "subtract", True), "refused",
         needs=("snntorch",), error=_SNN_SUB),
    Cell("snntorch", "LIF", "subtract", "reset_delay=False", _snntorch("LIF", "subtract", False), "refused",
         needs=("snntorch",), error=_SNN_SUB),
    Cell("snntorch", "CubaLIF", "zero", "reset_delay=True", _snntorch("CubaLIF", "zero", True), "refused",
         needs=("snntorch",), error=_SNN_DELAY),
    Cell("snntorch", "CubaLIF", "zero", "reset_delay=False", _snntorch("CubaLIF", "zero", False), "exact",
         needs=("snntorch",)),
    Cell("snntorch", "recurrent", "zero", "reset_delay=True", _snntorch("recurrent", "zero", True), "refused",
         needs=("snntorch",), error=_SNN_DELAY),
    Cell("snntorch", "recurrent", "zero", "reset_delay=False", _snntorch("recurrent", "zero", False), "exact",
         needs=("snntorch",)),
    Cell("snntorch", "conv", "zero", "reset_delay=True", _snntorch("conv", "zero", True), "exact",
         needs=("snntorch",)),
    Cell("sinabs", "IF", "subtract", "SingleSpike", _sinabs("IF", "subtract", False), "bounded", bound=0.0,
         needs=("sinabs",), warn=_MULTI, note="exact on this input: the warning is about what the file cannot say"),
    Cell("sinabs", "IF", "zero", "SingleSpike, θ = 0.8", _sinabs("IF", "zero", False, 0.8), "bounded", bound=0.0,
         needs=("sinabs",), warn=_MULTI),
    Cell("sinabs", "IF", "subtract", "MultiSpike (default)", _sinabs("IF", "subtract", True), "bounded",
         bound=0.15, needs=("sinabs",), warn=_MULTI),
    Cell("sinabs", "LIF", "subtract", "SingleSpike, τ = 5, 8 steps", _sinabs("LIF", "subtract", False), "bounded",
         bound=0.0, needs=("sinabs",), warn=_MULTI),
    Cell("sinabs", "LIF", "subtract", "MultiSpike (default)", _sinabs("LIF", "subtract", True), "bounded",
         bound=0.10, needs=("sinabs",), warn=_MULTI),
    Cell("sinabs", "LI readout", "subtract", "ExpLeak τ = 8 steps", _sinabs("LI readout", "subtract", False),
         "refused", needs=("sinabs",), error=r"\(LI\) is not supported"),
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


def _targets(graph, x, ref, shift: int) -> tuple[str, str]:
    """ONNX: exported and verified equal to our float model (so it agrees with the writer exactly
    as the float model does); Loihi: exported (lossy allowed), emulator vs the writer's spikes."""
    from neurodeploy.errors import NeurodeployError
    from neurodeploy.exporters import loihi as loihi_exp
    from neurodeploy.exporters.onnx import export as export_onnx
    from neurodeploy.sim.loihi_emulator import LoihiEmulator
    from neurodeploy.sim.verify_onnx import verify_onnx

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
            loihi_s = f"{_mismatch(out, ref, shift):.1%} differ"
        except NeurodeployError as exc:
            loihi_s = f"refused: {str(exc).splitlines()[0][:60]}"
    return onnx_s, loihi_s


def run_cell(c: Cell, targets: bool = True) -> Result:
    """Run one cell; never raises for the declared outcome, returns status FAIL with the reason."""
    from neurodeploy.errors import NeurodeployError
    from neurodeploy.ir.interop import load_nir
    from neurodeploy.sim.float_sim import simulate

    why = missing(c)
    if why:
        return Result(c, "skipped", detail=why)
    raw, x, ref, opts = c.build()
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
    onnx_s, loihi_s = _targets(graph, x, ref, c.shift) if targets else ("", "")
    limit = 0.0 if c.expect == "exact" else c.bound
    status = c.expect if mm <= limit and float(ref.sum()) > 0 else "FAIL"
    detail = "" if status != "FAIL" else f"mismatch {mm:.4f} > {limit} (writer spikes {int(ref.sum())})"
    return Result(c, status, mm, onnx_s, loihi_s, detail, texts)
