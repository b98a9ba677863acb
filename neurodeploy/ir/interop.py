"""Read NIR graphs written by other frameworks, with every convention NIR lacks made explicit.

Public API::

    load_nir(source, dialect="neurodeploy", dt_s=None, reset=None, *, input_scale=1.0,
             input_shape=None, flatten_indexing=None, time_steps=None,
             reset_delay=None) -> nir.NIRGraph
    snntorch_graph(module, sample_data) -> nir.NIRGraph     # snnTorch's export without its crash
    DIALECTS                                                # name → Dialect (what each one fixes)

``source`` is a path to a ``.nir`` file (read without NIR's type check) or a ``nir.NIRGraph``.
The result is normalised to docs/nir-conventions.md: node names ``<i>_<kind>``, ``r`` and
``w_in`` folded into the preceding weights (r = 1, w_in = 1; IF r = 1/dt), per-neuron arrays,
per-sample shapes, Flatten in per-sample indexing, metadata with ``dt_s``, ``reset``,
``source_dialect`` (and ``time_steps`` when known). It is what ``neurodeploy.ir.to_nir`` would
write for the same network, so every target reads it. See docs/interop.md for the table.

Dialects (``dialect=``):

``neurodeploy``  Our own files: dt and reset from metadata unless given.
``norse``        ``norse.torch.to_nir`` (Norse 1.1): writes ``tau = dt/tau_inv`` (i.e. dt·τ, a
                 bug) — true τ = stored τ / dt when every stored τ < dt (a file with
                 every τ ≥ dt, e.g. braille.nir, is read as seconds, warned; mixed: refused);
                 Norse starts v at v_leak — read as v_leak = 0, θ − v_leak, v_reset − v_leak
                 (exact); to_nir drops v_reset (warned); ``LIFCell`` → CubaLIF whose current jumps by the
                 input without β — w_in = τ_syn/dt; ``IAFCell`` (v += x, dt ignored) → IF r = 1
                 — r = 1/dt; Flatten modules become empty (``None``) nodes — repaired as Flatten
                 when an Affine/Linear follows; Input types include the batch axis. dt is not
                 recorded: ``dt_s`` (the dt given to ``to_nir``, Norse's default 1e-3) is required.
                 Reset: "zero" (Norse's cells reset to v_reset). Flatten indices as written by
                 hand for Norse's reader (``torch.nn.Flatten(start_dim, end_dim)`` on batched
                 tensors): ``flatten_indexing="batch"``.
``snntorch``     snnTorch 1.0: dt fixed to 1e-4 s; Leaky → LIF with τ = dt/(1−β), r = τ/dt (so
                 that v ← βv + x); Synaptic → CubaLIF with w_in = τ_syn/dt; Input/Output types
                 include the batch axis and neuron parameters are scalars (why ``export_to_nir``
                 fails nir 1.0.8's type check); RLeaky/RSynaptic become nested graphs (flattened
                 here). The reset mechanism is not recorded: ``reset`` is required. "zero" is
                 exact for Leaky, and for Synaptic/RSynaptic/RLeaky with ``reset_delay=False``
                 (default True: refused; ``snntorch-no-reset-delay`` = reset_delay=False);
                 "subtract" is refused (delayed or double reset).
``sinabs``       Sinabs 3.1: τ in steps, exact decay exp(−1/τ) (τ ← dt/(1 − exp(−1/τ)));
                 IAF as IF r = 1 (r ← 1/dt); Input type has a time axis; ``reset`` required;
                 MultiSpike / min_v_mem not recorded (warned: bounded).
``rockpool``     Rockpool 3.1: r = τ·exp(−dt/τ)/dt, so dt = τ·W(1/r); exact exponential
                 decays, input gain 1; subtract reset; multi-spike not recorded (warned).
``spyx``         Spyx 1.0 (``spyx-0.1``: 0.1.20, Linear weights stored (in, out)): τ =
                 dt/(1 − β) with r = β ignored by Spyx (r ← τ/dt); ``dt_s`` required; spikes one
                 step late per layer (warned); LIF subtracts θ after the decay (warned).

Every dialect: τ < dt is refused (negative Euler decay); a recurrent Affine's bias is moved into the feed-forward bias (exact; from_nir
would otherwise drop it). ``input_scale`` multiplies the network input (folded into the first synaptic layer's weights;
e.g. spikes of amplitude a → input_scale = a). Missing conventions raise ``ConfigError`` naming
the option; nodes without a mapping raise ``UnsupportedNodeError`` naming the node.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass

import nir
import numpy as np
import torch

from neurodeploy.errors import ConfigError, UnsupportedNodeError
from neurodeploy.ir.conventions import CONVENTION_KEYS, check_version, resolve
from neurodeploy.ir.from_nir import from_nir
from neurodeploy.ir.to_nir import to_nir

FLATTEN_INDEXING = ("per-sample", "batch")


@dataclass(frozen=True)
class Dialect:
    """What a writer does differently from docs/nir-conventions.md."""

    name: str
    fixed_dt_s: float | None       # writer hard-codes this dt (None: read metadata / argument)
    default_reset: str | None      # None: the writer does not record it; the caller must say
    flatten_indexing: str          # how Flatten start_dim/end_dim count axes
    input_has_batch: bool          # Input/Output types include leading axes of 1 (batch, time)
    norse_fixes: bool = False      # tau = dt·τ bug, LIFCell w_in, IAFCell r, v starts at v_leak
    description: str = ""
    default_dt_s: float | None = None  # used when neither dt_s nor metadata give one


DIALECTS: dict[str, Dialect] = {
    "neurodeploy": Dialect("neurodeploy", None, "zero", "per-sample", False,
                           description="neurodeploy.ir.to_nir; conventions in metadata"),
    "norse": Dialect("norse", None, "zero", "batch", True, norse_fixes=True,
                     description="norse.torch.to_nir (Norse 1.1)"),
    "snntorch": Dialect("snntorch", 1e-4, None, "per-sample", True,
                        description="snntorch.export_nir (snnTorch 1.0)"),
    # the same writer, modules built with reset_delay=False (the CLI's way to say so)
    "snntorch-no-reset-delay": Dialect("snntorch-no-reset-delay", 1e-4, None, "per-sample", True,
                                       description="snnTorch 1.0 modules with reset_delay=False"),
    "sinabs": Dialect("sinabs", None, None, "per-sample", True, default_dt_s=1e-3,
                      description="sinabs.to_nir (Sinabs 3.1): tau in steps"),
    "rockpool": Dialect("rockpool", None, "subtract", "per-sample", True,
                        description="rockpool.nn.modules.to_nir (Rockpool 3.1): dt folded into r"),
    "spyx": Dialect("spyx", None, "subtract", "per-sample", True,
                    description="spyx.nir.to_nir (Spyx 1.0): r = β, spikes one step late"),
    "spyx-0.1": Dialect("spyx-0.1", None, "subtract", "per-sample", True,
                        description="spyx.nir.to_nir (Spyx 0.1.20): weights (in, out), r = β"),
}
_TIME_AXIS = ("sinabs", "rockpool")  # Input types include a time axis of any length (nirtorch sample)
_NEURONS = (nir.LIF, nir.CubaLIF, nir.IF)
_SYNAPSES = (nir.Affine, nir.Linear, nir.Conv2d)


def _np(a):
    if a is None or isinstance(a, (str, int, float, tuple)):
        return a
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a) if isinstance(a, (np.ndarray, np.generic, list)) else a


def _numpy_node(node: nir.NIRNode) -> nir.NIRNode:
    """The node with torch tensors / numpy scalars as numpy arrays (Norse writes tensors)."""
    if not dataclasses.is_dataclass(node) or isinstance(node, nir.NIRGraph):
        return node
    changes = {f.name: _np(getattr(node, f.name)) for f in dataclasses.fields(node)
               if f.init and isinstance(getattr(node, f.name), (torch.Tensor, np.generic))}
    return dataclasses.replace(node, **changes) if changes else node


def _flatten_nested(graph: nir.NIRGraph) -> tuple[dict, list]:
    """Inline nested NIRGraphs (snnTorch writes RLeaky/RSynaptic as ``input → lif ⇄ w_rec → output``)."""
    nodes, edges = dict(graph.nodes), list(graph.edges)
    for name in [n for n, v in nodes.items() if isinstance(v, nir.NIRGraph)]:
        sub = nodes.pop(name)
        inner, inner_edges = _flatten_nested(sub)
        ins = [n for n, v in inner.items() if isinstance(v, nir.Input)]
        outs = [n for n, v in inner.items() if isinstance(v, nir.Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise UnsupportedNodeError(f"node {name!r}: nested graph needs exactly one Input and one Output")
        first = [b for a, b in inner_edges if a == ins[0]]
        last = [a for a, b in inner_edges if b == outs[0]]
        for n, v in inner.items():
            if n not in (ins[0], outs[0]):
                nodes[f"{name}.{n}"] = v
        q = lambda n, prefix=name: f"{prefix}.{n}"  # noqa: E731
        edges = ([e for e in edges if name not in e]
                 + [(q(a), q(b)) for a, b in inner_edges if a != ins[0] and b != outs[0]]
                 + [(a, q(f)) for a, b in edges if b == name for f in first]
                 + [(q(s), b) for a, b in edges if a == name for s in last])
    return nodes, edges


def _repair_empty(nodes: dict, edges: list, dialect: Dialect) -> set[str]:
    """Norse writes ``None`` for modules it cannot map (``nn.Flatten``): repair as Flatten (in
    per-sample indexing) where an Affine/Linear follows, else refuse naming the node."""
    repaired = set()
    for name, node in list(nodes.items()):
        if node is not None:
            continue
        succ = [nodes[b] for a, b in edges if a == name]
        if len(succ) == 1 and isinstance(succ[0], (nir.Affine, nir.Linear)):
            nodes[name] = nir.Flatten(input_type=None, start_dim=0, end_dim=-1)
            repaired.add(name)
            continue
        raise UnsupportedNodeError(
            f"node {name!r} is empty (the {dialect.name} writer had no NIR mapping for that module); "
            "only an empty node followed by Affine/Linear can be repaired (as Flatten)")
    return repaired


def _f(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _taus(node: nir.NIRNode) -> dict[str, np.ndarray]:
    """The time-constant fields of a neuron node (seconds in NIR; other units in some dialects)."""
    if isinstance(node, (nir.LIF, nir.LI)):
        return {"tau": _f(node.tau)}
    if isinstance(node, nir.CubaLIF):
        return {"tau_mem": _f(node.tau_mem), "tau_syn": _f(node.tau_syn)}
    return {}


def _warn(msg: str) -> None:
    warnings.warn(msg, stacklevel=4)


@dataclass(frozen=True)
class _Read:
    """What the per-node fixes of one ``load_nir`` call need."""

    dialect: Dialect
    dt: float
    reset: str
    norse_scaled: bool = True      # norse: τ fields store dt·τ (written by norse.torch.to_nir)


def _norse_scaled(nodes: dict, dt: float) -> bool:
    """Was the graph written by ``norse.torch.to_nir`` (τ stored as dt·τ)? Norse's own Euler step
    needs τ ≥ dt, so a to_nir file stores dt·τ < dt whenever τ < 1 s, and a file in NIR's seconds
    has τ ≥ dt. All τ < dt → to_nir (τ ← τ/dt); all τ ≥ dt → seconds (warned: a to_nir file with
    every τ ≥ 1 s would read wrong); mixed → refused."""
    taus = {f"{n}.{k}": v for n, node in nodes.items() for k, v in _taus(node).items()}
    if not taus:
        return True
    small = {k for k, v in taus.items() if np.all(v < dt)}
    if len(small) == len(taus):
        tiny = [k for k, v in taus.items() if np.any(v / dt < dt)]
        if tiny:
            raise ConfigError(f"dialect 'norse': {tiny[0]} = {taus[tiny[0]].min():g} gives τ = stored/dt "
                              f"< dt = {dt:g} s, and read as seconds it is < dt too; check dt_s (--dt)")
        return True
    if all(np.all(v >= dt) for v in taus.values()):
        _warn(f"dialect 'norse': every τ ≥ dt = {dt:g} s, so this graph was not written by "
              "norse.torch.to_nir (which stores dt·τ < dt for τ < 1 s): τ read as seconds, "
              "the to_nir fixes (τ/dt, LIFCell w_in, IAFCell r) are not applied")
        return False
    lo = next(k for k, v in taus.items() if np.any(v < dt))
    hi = next(k for k, v in taus.items() if np.any(v >= dt))
    raise ConfigError(f"dialect 'norse': {lo} < dt = {dt:g} s but {hi} ≥ dt: cannot "
                      "tell whether the graph stores dt·τ (norse.torch.to_nir) or τ in seconds; "
                      "check dt_s (--dt), or rewrite the graph with one convention")


def _norse_fix(name: str, node: nir.NIRNode, ctx: _Read) -> nir.NIRNode:
    """Undo norse.torch.to_nir's conventions (stored τ = dt·τ_true, LIFCell and IAFCell inputs) and
    Norse's initial state v = v_leak: with u = v − v_leak the same neuron has v_leak = 0, threshold
    θ − v_leak and reset v_reset − v_leak, and starts at u = 0 like ours (exact)."""
    dt = ctx.dt
    if ctx.norse_scaled:
        if isinstance(node, (nir.LIF, nir.LI)):
            node = dataclasses.replace(node, tau=_f(node.tau) / dt)
        elif isinstance(node, nir.CubaLIF):
            tau_syn = _f(node.tau_syn) / dt
            node = dataclasses.replace(node, tau_syn=tau_syn, tau_mem=_f(node.tau_mem) / dt,
                                       w_in=_f(node.w_in) * tau_syn / dt)
        elif isinstance(node, nir.IF):
            node = dataclasses.replace(node, r=_f(node.r) / dt)
    if isinstance(node, (nir.LIF, nir.CubaLIF)) and np.any(_f(node.v_leak)):
        leak = _f(node.v_leak)
        reset = _f(node.v_reset) if getattr(node, "v_reset", None) is not None else 0.0
        node = dataclasses.replace(node, v_threshold=_f(node.v_threshold) - leak,
                                   v_reset=np.broadcast_to(reset - leak, leak.shape).copy(),
                                   v_leak=np.zeros_like(leak))
    return node


def _tau_steps(tau_steps: np.ndarray, dt: float) -> np.ndarray:
    """τ (seconds) whose Euler decay 1 − dt/τ equals the exact decay exp(−1/τ_steps)."""
    return dt / -np.expm1(-1.0 / tau_steps)


def _sinabs_fix(name: str, node: nir.NIRNode, ctx: _Read) -> nir.NIRNode:
    """Sinabs 3.1: LIF τ in steps with exact decay α = exp(−1/τ) and (norm_input=True) input
    gain 1 − α; IAF (v += x) written as IF r = 1."""
    if isinstance(node, nir.LIF):
        return dataclasses.replace(node, tau=_tau_steps(_f(node.tau), ctx.dt))
    if isinstance(node, nir.IF):
        return dataclasses.replace(node, r=_f(node.r) / ctx.dt)
    return node


def _rockpool_dt(nodes: dict) -> float | None:
    """Rockpool writes r = τ·exp(−dt/τ)/dt, i.e. (dt/τ)·exp(dt/τ) = 1/r: dt = τ·W(1/r)."""
    from scipy.special import lambertw

    dts = []
    for name, node in nodes.items():
        tau = _f(node.tau) if isinstance(node, nir.LIF) else _f(node.tau_mem) if isinstance(node, nir.CubaLIF) else None
        if tau is None:
            continue
        r = _f(node.r)
        if np.any(r <= 0):
            raise ConfigError(f"dialect 'rockpool': node {name!r} has r ≤ 0; Rockpool writes r = τ·exp(−dt/τ)/dt > 0")
        dts.append((tau * np.real(lambertw(1.0 / r))).ravel())
    if not dts:
        return None
    allv = np.concatenate(dts)
    if not np.allclose(allv, allv[0], rtol=1e-4):
        raise ConfigError(f"dialect 'rockpool': the dt implied by r = τ·exp(−dt/τ)/dt differs between "
                          f"neurons ({allv.min():g} … {allv.max():g} s); was this written by Rockpool?")
    return float(allv[0])


def _rockpool_fix(name: str, node: nir.NIRNode, ctx: _Read) -> nir.NIRNode:
    """Rockpool 3.1 (exact exponential decays, input added with gain 1): LIFNeuronTorch → LIF,
    v ← exp(−dt/τ)·v + x; LIFTorch → CubaLIF, i ← exp(−dt/τ_syn)·(i + x), v ← exp(−dt/τ_mem)·v + i."""
    dt = ctx.dt
    if isinstance(node, nir.LIF):
        tau = dt / -np.expm1(-dt / _f(node.tau))
        return dataclasses.replace(node, tau=tau, r=tau / dt)
    if isinstance(node, nir.CubaLIF):
        tau_mem = dt / -np.expm1(-dt / _f(node.tau_mem))
        decay_syn = np.exp(-dt / _f(node.tau_syn))
        return dataclasses.replace(node, tau_mem=tau_mem, tau_syn=dt / (1 - decay_syn),
                                   r=tau_mem / dt, w_in=decay_syn / (1 - decay_syn))
    return node


def _spyx_fix(name: str, node: nir.NIRNode, ctx: _Read) -> nir.NIRNode:
    """Spyx (to_nir with the same dt): τ = dt/(1−β), r = β but Spyx ignores r (v ← βv + x), so
    r ← τ/dt (and w_in ← τ_syn/dt: i ← αi + x); IF v += x → r = 1/dt. Spyx 0.1.20 stores Linear
    and Affine weights as (in, out)."""
    dt = ctx.dt
    if isinstance(node, (nir.Affine, nir.Linear)) and ctx.dialect.name == "spyx-0.1":
        return dataclasses.replace(node, weight=_f(node.weight).T.copy())
    if isinstance(node, nir.LIF):
        return dataclasses.replace(node, r=_f(node.tau) / dt)
    if isinstance(node, nir.CubaLIF):
        return dataclasses.replace(node, r=_f(node.tau_mem) / dt, w_in=_f(node.tau_syn) / dt)
    if isinstance(node, nir.IF):
        return dataclasses.replace(node, r=np.ones_like(_f(node.r)) / dt)
    return node


def _snntorch_fix(name: str, node: nir.NIRNode, ctx: _Read) -> nir.NIRNode:
    """snnTorch 1.0 writes ``Leaky(beta=1)`` (its integrate-and-fire neuron, v ← v + x) as a LIF with
    τ = dt/(1 − β) = ∞ and r = ∞: read as IF with r = 1/dt (exact). A layer mixing β = 1 and β < 1,
    or a Synaptic with α or β = 1, has no NIR form: refused."""
    if isinstance(node, nir.LIF):
        tau = _f(node.tau)
        inf = ~np.isfinite(tau)
        if np.all(inf):
            reset = getattr(node, "v_reset", None)
            return nir.IF(r=np.full(tau.shape, 1.0 / ctx.dt), v_threshold=_f(node.v_threshold),
                          v_reset=None if reset is None else _f(reset))
        if np.any(inf):
            raise ConfigError(f"dialect {ctx.dialect.name!r}: node {name!r} (Leaky) mixes beta = 1 "
                              "(integrate-and-fire, τ = ∞) with beta < 1; NIR has one neuron type per "
                              "node: give the layer one kind of neuron")
    if isinstance(node, nir.CubaLIF) and not (np.all(np.isfinite(_f(node.tau_mem)))
                                              and np.all(np.isfinite(_f(node.tau_syn)))):
        raise ConfigError(f"dialect {ctx.dialect.name!r}: node {name!r} (Synaptic) has alpha or beta = 1 "
                          "(τ = ∞), which NIR's CubaLIF cannot express; use alpha, beta < 1")
    return node


def _spyx_channels_last(nodes: dict, edges: list) -> None:
    """Spyx runs channels-last (nnx.Conv is NHWC; ``spyx.nn.Flatten`` flattens (H, W, C)) and its
    ``to_nir`` writes the Flatten of a conv output with its NIR (C, H, W) shape but leaves the next
    Affine/Linear's columns in (H, W, C) order. NIR's Flatten flattens (C, H, W): permute those
    columns (exact; a Flatten of a 1-D tensor is unaffected). A SAME SumPool is written with its
    total padding in NIR's per-side field: refused."""
    for name, node in list(nodes.items()):
        if isinstance(node, nir.SumPool2d) and np.any(np.asarray(node.padding)):
            raise UnsupportedNodeError(
                f"node {name!r}: Spyx writes a SAME SumPool's total padding {np.asarray(node.padding).tolist()} "
                "where NIR means padding per side (JAX puts an odd extra row/column at the end); "
                "refused: use padding='VALID' pooling")
        if not isinstance(node, nir.Flatten):
            continue
        shape = tuple(int(d) for d in np.asarray((node.input_type or {}).get("input", ())).ravel())
        succ = [b for a, b in edges if a == name]
        if len(shape) != 3 or len(succ) != 1 or not isinstance(nodes[succ[0]], (nir.Affine, nir.Linear)):
            if len(shape) == 3:
                raise UnsupportedNodeError(
                    f"node {name!r}: a Spyx Flatten of a (C, H, W) tensor must feed one Affine/Linear "
                    "(Spyx flattens channels-last; its columns are reordered there), found "
                    f"{[type(nodes[b]).__name__ for b in succ]}")
            continue
        c, h, w = shape
        lin = nodes[succ[0]]
        weight = _f(lin.weight)
        if weight.shape[1] != c * h * w:
            raise UnsupportedNodeError(f"node {succ[0]!r}: {weight.shape[1]} inputs after Flatten {name!r} "
                                       f"of shape {shape}; the file is inconsistent")
        weight = weight.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(weight.shape[0], -1)
        nodes[succ[0]] = dataclasses.replace(lin, weight=weight.copy())


_FIXES = {"norse": _norse_fix, "snntorch": _snntorch_fix, "snntorch-no-reset-delay": _snntorch_fix, "sinabs": _sinabs_fix, "rockpool": _rockpool_fix,
          "spyx": _spyx_fix, "spyx-0.1": _spyx_fix}


def _spyx_omitted(nodes: dict, edges: list, dialect: str) -> None:
    """Spyx's ``to_nir`` leaves layers out of the file: 0.1.20 walks the haiku *parameter* tree, so
    a layer without parameters (every ``spyx.nn.IF``) is missing; 1.0 skips a layer it has no
    mapping for (``spyx.nn.LI``, …) with only a printed "[Warning]". The synapses around the
    missing layer are joined directly; in a Spyx network (synapse, neuron, synapse, neuron, …) a
    synapse feeding a synapse or the Output is that trace: refused (a model that really ends in a
    Linear cannot be told apart and is refused too). A layer missing right after the Input leaves
    no trace (docs/interop.md)."""
    why = ("Spyx 0.1.20's to_nir leaves out layers without parameters (IF neurons)" if dialect == "spyx-0.1"
           else "Spyx 1.0's to_nir skips layers it cannot write (e.g. spyx.nn.LI) with only a printed "
                "'[Warning] Layer ... not recognized'")
    fix = ("export with Spyx 1.0 (which writes IF), or use LIF layers" if dialect == "spyx-0.1"
           else "end the model with a spiking layer (LIF, IF, CuBaLIF)")
    loop = {n for p, q in edges if (q, p) in edges for n in (p, q)}  # recurrent synapse ⇄ neuron
    for a, b in edges:
        if (isinstance(nodes.get(a), _SYNAPSES) and isinstance(nodes.get(b), (*_SYNAPSES, nir.Output))
                and a not in loop and b not in loop):
            raise ConfigError(
                f"dialect {dialect!r}: node {a!r} feeds {b!r} directly: {why}, so a layer between them "
                f"was probably dropped from the file and cannot be recovered; {fix}")


def _dialect_checks(nodes: dict, edges: list, d: Dialect, rst: str, reset_delay: bool | None,
                    norse_scaled: bool = True) -> None:
    """Semantics a dialect's writer has but NIR cannot express: refused (ConfigError) or bounded
    (a warning naming the cause). Called on the raw nodes before the per-node fixes."""
    neurons = {n: v for n, v in nodes.items() if isinstance(v, _NEURONS)}
    recurrent = {a for a, b in edges if (b, a) in edges and a in neurons}
    if d.norse_fixes:
        if norse_scaled and any(isinstance(v, (nir.LIF, nir.CubaLIF)) for v in neurons.values()):
            _warn("dialect 'norse': norse.torch.to_nir does not write v_reset (a Norse bug): read as 0, "
                  "Norse's default; a cell built with another v_reset gives different spikes")
        rec_bias = [b for a, b in edges if a in neurons and (b, a) in edges
                    and isinstance(nodes[b], nir.Affine) and nodes[b].bias is not None and np.any(_f(nodes[b].bias))]
        if rec_bias:
            _warn(f"dialect 'norse': node {rec_bias[0]!r}: nirtorch (Norse's from_nir) skips the recurrent "
                  "Affine and its bias at t = 0; ours applies the bias from t = 0 as NIR defines it, so "
                  "spikes may differ from Norse's (bounded, measured in docs/interop.md)")
    if d.name.startswith("snntorch"):
        if d.name == "snntorch-no-reset-delay":
            reset_delay = False
        if rst == "subtract":
            raise ConfigError(
                "dialect 'snntorch': subtract reset is not exact in either snnTorch mode and is refused: "
                "with reset_delay=True (default) the threshold is subtracted one step later, after the "
                "decay; with reset_delay=False the next step's spike test also subtracts the threshold "
                "while the membrane stays above it ('avoid double reset'). Neither is a NIR neuron; "
                "train with reset_mechanism='zero' (exact)")
        if neurons:
            _warn(f"dialect {d.name!r}: snnTorch does not record reset_mechanism; reset={rst!r} is applied "
                  "to every layer, so a layer built with another mechanism (e.g. reset_mechanism='none', "
                  "a membrane readout that spikes without resetting) gives different spikes (bounded, "
                  "measured in docs/interop.md)")
        delay = True if reset_delay is None else bool(reset_delay)
        odd = [n for n, v in neurons.items() if isinstance(v, nir.CubaLIF) or n in recurrent]
        if delay and odd:
            raise ConfigError(
                f"dialect 'snntorch': node {odd[0]!r} (Synaptic/RSynaptic/RLeaky) with zero reset and "
                "reset_delay=True (snnTorch's default) also discards the input of the step after a "
                "spike, which no NIR neuron expresses; refused. If the module was built with "
                "reset_delay=False, pass reset_delay=False (then exact)")
    elif d.name in ("spyx", "spyx-0.1"):
        layers = len(neurons)
        _warn(f"dialect {d.name!r}: Spyx emits a layer's spikes one step after its membrane crosses "
              f"the threshold; ours in the same step, so Spyx's output is ours delayed by {layers} "
              "step(s) (one per spiking layer)")
        leaky = [n for n, v in neurons.items() if isinstance(v, nir.LIF)]
        if leaky:
            _warn(f"dialect {d.name!r}: node {leaky[0]!r}: Spyx's LIF subtracts the threshold after the "
                  "decay (ours before it), so spikes differ after a neuron fires (bounded, measured in "
                  "docs/interop.md)")
        cuba = [n for n, v in neurons.items() if isinstance(v, nir.CubaLIF)]
        if d.name == "spyx-0.1" and cuba:
            _warn(f"dialect 'spyx-0.1': node {cuba[0]!r}: Spyx 0.1.20's CuBaLIF subtracts the threshold "
                  "twice per spike (before and after the decay; fixed in Spyx 1.0), ours once: spikes "
                  "differ after a neuron fires (bounded, measured in docs/interop.md)")
        _spyx_omitted(nodes, edges, d.name)
        if d.name == "spyx-0.1" and any(isinstance(v, nir.IF) for v in neurons.values()):
            _warn("dialect 'spyx-0.1': Spyx 0.1.20 writes IF thresholds as 1 whatever the layer's "
                  "threshold was")
    elif d.name in ("sinabs", "rockpool"):
        if d.name == "rockpool" and any(isinstance(v, nir.CubaLIF) for v in neurons.values()) and not recurrent:
            _warn("dialect 'rockpool': Rockpool's to_nir writes a LIFTorch with has_rec=True as a plain "
                  "CubaLIF (its recurrent weights are dropped without a trace); a recurrent LIFTorch "
                  "cannot be read from its file")
        if neurons:
            spike = ("MultiSpike (default)" if d.name == "sinabs" else "max_spikes_per_dt (default 2^16)")
            _warn(f"dialect {d.name!r}: {d.name.capitalize()} neurons emit up to floor(v/θ) spikes per "
                  f"step ({spike}) and fire at v ≥ θ; the file records neither, ours emit one spike at "
                  "v > θ: spikes differ where v ≥ 2θ (bounded, measured in docs/interop.md)"
                  + ("; min_v_mem (membrane clamp) and norm_input are not recorded either "
                     "(read as no clamp, norm_input=True)" if d.name == "sinabs" else ""))


def _check_taus(nodes: dict, dt: float, dialect: str) -> None:
    """Every dialect: forward Euler needs τ ≥ dt (decay 1 − dt/τ ≥ 0)."""
    for name, node in nodes.items():
        for field, tau in _taus(node).items():
            if not np.all(np.isfinite(tau)):
                raise ConfigError(f"node {name!r}: {field} is not finite (τ = ∞ is an integrate-and-fire "
                                  "neuron, which NIR writes as IF; NaN is a broken file); check the writer")
            if np.any(tau < dt):
                raise ConfigError(
                    f"node {name!r}: {field} = {tau.min():g} s < dt = {dt:g} s (the per-step decay "
                    f"1 − dt/τ would be negative); check dt_s (--dt) and the dialect (now {dialect!r}: "
                    "Norse's to_nir stores dt·τ, Sinabs counts τ in steps)")


def _flatten_index(name: str, node: nir.Flatten, indexing: str) -> nir.Flatten:
    if indexing == "per-sample":
        return node
    start, end = int(node.start_dim), int(node.end_dim)
    if start == 0:
        raise UnsupportedNodeError(f"node {name!r}: Flatten start_dim=0 with flatten_indexing='batch' "
                                   "would merge the batch axis; pass flatten_indexing='per-sample'")
    return dataclasses.replace(node, start_dim=start - 1 if start > 0 else start,
                               end_dim=end - 1 if end > 0 else end)


def _input_shape(nodes: dict, edges: list, dialect: Dialect, given) -> tuple[int, ...]:
    inputs = [n for n, v in nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise UnsupportedNodeError(f"graph must have exactly one Input node, found {len(inputs)}")
    if given is not None:
        return tuple(int(d) for d in given)
    shape = tuple(int(d) for d in np.asarray(nodes[inputs[0]].input_type["input"]).ravel())
    if not dialect.input_has_batch or len(shape) < 2 or (shape[0] != 1 and dialect.name not in _TIME_AXIS):
        return shape
    # leading axes of 1 (batch; Sinabs/Rockpool add a time axis too) are dropped when the first
    # layer proves the per-sample shape
    first = [nodes[b] for a, b in edges if a == inputs[0]]
    if first and isinstance(first[0], (nir.Affine, nir.Linear)):
        n_in = np.asarray(first[0].weight).shape[1]
        if shape[-1] == n_in and (int(np.prod(shape)) == n_in or dialect.name in _TIME_AXIS):
            return (n_in,)
    elif (first and isinstance(first[0], nir.Conv2d) and len(shape) >= 4
          and (all(d == 1 for d in shape[:-3]) or dialect.name in _TIME_AXIS)):
        return shape[-3:]
    return shape


def _move_recurrent_bias(nodes: dict, edges: list) -> None:
    """A recurrent Affine's bias is a constant input current: add it to the feed-forward synapse's
    bias (exact, the input is summed before r is applied) and keep the recurrent node a Linear."""
    for a, b in edges:
        rec = nodes[b]
        if (b, a) not in edges or a == b or not isinstance(rec, nir.Affine) or not isinstance(nodes[a], _NEURONS):
            continue
        bias = np.asarray(rec.bias, dtype=np.float64) if rec.bias is not None else None
        nodes[b] = nir.Linear(weight=np.asarray(rec.weight))
        if bias is None or not np.any(bias):
            continue
        ff = [p for p, q in edges if q == a and p != b]
        syn = nodes[ff[0]] if len(ff) == 1 else None
        if not isinstance(syn, (nir.Affine, nir.Linear)):
            raise UnsupportedNodeError(f"node {b!r}: recurrent bias needs one feed-forward Affine/Linear "
                                       f"into {a!r} to move into, found {ff}")
        old = np.asarray(getattr(syn, "bias", None) if isinstance(syn, nir.Affine) else 0.0, dtype=np.float64)
        nodes[ff[0]] = nir.Affine(weight=np.asarray(syn.weight), bias=old + bias)


def _scale_input(nodes: dict, edges: list, scale: float) -> None:
    if scale == 1.0:
        return
    inp = next(n for n, v in nodes.items() if isinstance(v, nir.Input))
    first = [b for a, b in edges if a == inp]
    node = nodes[first[0]] if len(first) == 1 else None
    if not isinstance(node, _SYNAPSES):
        raise ConfigError(f"input_scale={scale}: the Input must feed one Affine/Linear/Conv2d to fold "
                          f"the scale into, found {first}")
    nodes[first[0]] = dataclasses.replace(node, weight=np.asarray(node.weight, dtype=np.float64) * scale)


def load_nir(source: str | os.PathLike | nir.NIRGraph, dialect: str = "neurodeploy",
             dt_s: float | None = None, reset: str | None = None, *, input_scale: float = 1.0,
             input_shape: tuple[int, ...] | None = None, flatten_indexing: str | None = None,
             time_steps: int | None = None, reset_delay: bool | None = None) -> nir.NIRGraph:
    """Read ``source`` written by ``dialect`` and return it in neurodeploy's conventions.

    ``reset_delay``: snnTorch only, the modules' ``reset_delay`` (None: snnTorch's default True)."""
    if dialect not in DIALECTS:
        raise ConfigError(f"unknown NIR dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    d = DIALECTS[dialect]
    indexing = flatten_indexing or d.flatten_indexing
    if indexing not in FLATTEN_INDEXING:
        raise ConfigError(f"flatten_indexing must be one of {FLATTEN_INDEXING}, got {indexing!r}")
    graph = source if isinstance(source, nir.NIRGraph) else nir.read(str(source), type_check=False)
    meta = dict(graph.metadata or {})
    check_version(meta)
    nodes, edges = _flatten_nested(graph)
    repaired = _repair_empty(nodes, edges, d)
    nodes = {n: _numpy_node(v) for n, v in nodes.items()}
    if reset_delay is not None and d.name != "snntorch":  # snntorch-no-reset-delay says it already
        raise ConfigError(f"reset_delay is an snnTorch option; dialect {dialect!r} does not take it")
    # the one resolution of dt, reset, spike amplitude, dialect and input scale (ir/conventions.py)
    conv = resolve(meta, rules=d, dt_s=dt_s, reset=reset, input_scale=input_scale,
                   implied_dt_s=_rockpool_dt(nodes) if d.name == "rockpool" else None)
    dt, rst = conv.dt_s, conv.reset
    scaled = _norse_scaled(nodes, dt) if d.norse_fixes else True
    _dialect_checks(nodes, edges, d, rst, reset_delay, scaled)
    ctx = _Read(d, dt, rst, scaled)
    fix = _FIXES.get(d.name)
    for name, node in list(nodes.items()):
        if fix is not None:
            node = fix(name, node, ctx)
        if isinstance(node, nir.Flatten) and name not in repaired:
            node = _flatten_index(name, node, indexing)
        nodes[name] = node
    if d.name == "spyx":
        _spyx_channels_last(nodes, edges)
    _check_taus(nodes, dt, dialect)
    _move_recurrent_bias(nodes, edges)
    shape = _input_shape(nodes, edges, d, input_shape)
    _scale_input(nodes, edges, float(input_scale))
    inp = next(n for n, v in nodes.items() if isinstance(v, nir.Input))
    nodes[inp] = nir.Input(input_type={"input": np.array(shape)})
    for name, node in nodes.items():
        if d.name != "neurodeploy" and isinstance(node, (nir.LI, nir.CubaLI)):
            raise UnsupportedNodeError(
                f"node {name!r} ({type(node).__name__}) is not supported from dialect {dialect!r}: a "
                "non-spiking membrane readout is read only from neurodeploy-written graphs (its reading "
                "of other writers' LI is not yet checked against their simulators); replace the readout "
                "with a spiking layer")
    raw = nir.NIRGraph(nodes=nodes, edges=edges, metadata={}, type_check=False)
    model, _ = from_nir(raw, dt, rst)
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, *shape))
    except RuntimeError as exc:
        raise ConfigError(f"dialect {dialect!r}: the graph does not run on input shape {shape} "
                          f"({str(exc).splitlines()[0]}); check input_shape= and flatten_indexing= "
                          f"(now {indexing!r})") from None
    steps = time_steps if time_steps is not None else meta.get("time_steps")
    extra = {k: v for k, v in meta.items() if k not in CONVENTION_KEYS and k != "time_steps"}
    out = to_nir(model, shape, time_steps=int(steps) if steps is not None else 0,
                 input_encoding=str(meta.get("input_encoding", "analog" if input_scale != 1.0 else "binary-events")),
                 extra_metadata=extra)
    if steps is None:
        out.metadata.pop("time_steps", None)
    out.metadata.update(conv.to_metadata())
    return out


def snntorch_graph(module: torch.nn.Module, sample_data: torch.Tensor) -> nir.NIRGraph:
    """What ``snntorch.export_nir.export_to_nir`` builds, returned before its type check fails
    (nir 1.0.8: Input type has the batch axis, neuron parameters are scalars). Read the result
    with ``load_nir(graph, dialect="snntorch", reset=...)``."""
    import nirtorch
    from snntorch import RLeaky, RSynaptic
    from snntorch.export_nir import _extract_snntorch_module

    return nirtorch.extract_nir_graph(module, _extract_snntorch_module, sample_data,
                                      model_name="snntorch", ignore_submodules_of=[RLeaky, RSynaptic])
