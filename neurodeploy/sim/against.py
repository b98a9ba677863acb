"""``verify --against WRITER``: the writer library's own simulation of a source NIR file.

Public API::

    WRITERS                                   # name → how to run that library's NIR reader
    against(writer, source, graph, x) -> dict

``source`` is the NIR file as the writer wrote it; ``graph`` is what :func:`load_nir` made of it
(our conventions); ``x`` is (T, B, …) input. The writer's reader runs ``source`` (its own
conventions, its own dt rule), our float simulator runs ``graph``, and the output spikes are
compared bin by bin (Spyx: after its one-step-per-layer delay). The result says how far the
writer's *reader* agrees with our reading; a writer whose reader disagrees with its own modules
(docs/interop.md: Rockpool derives dt as min τ/(1 + r), Sinabs' reader pins nir 1.0.4) shows up
here as a mismatch, which is why the conformance matrix compares with the writer's modules.

Returned dict: ``writer``, ``version``, ``ours_spikes``, ``writer_spikes``, ``shift_steps``,
``differing_bins`` (fraction of output bins), ``count_correlation`` (per-neuron output counts),
``agree`` (no differing bin), ``note``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass

import nir
import numpy as np
import torch

from neurodeploy.errors import ConfigError
from neurodeploy.ir.conventions import Conventions
from neurodeploy.ir.from_nir import conventions
from neurodeploy.sim.float_sim import prepare_input, simulate


@dataclass(frozen=True)
class Writer:
    module: str                                   # the library to import
    run: Callable                                 # (raw graph, x (T, B, …), dt_s) -> (T, B, …) spikes
    note: str = ""
    delay_per_layer: bool = False                 # emits spikes one step after the crossing


def run_stateful(net, x):
    """Step a ``(x, state) -> (y, state)`` module (Norse cells, nirtorch executors) over x (T, B, …)."""
    state, ys = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            y, state = net(x[t], state)
            ys.append(y)
    return torch.stack(ys)


def _norse(raw, x, dt):
    import norse.torch as nt

    logging.getLogger().setLevel(logging.ERROR)
    return run_stateful(nt.from_nir(raw, dt=dt), x)


def _spyx(raw, x, dt):
    if importlib.util.find_spec("flax") is None:
        raise ConfigError("verify --against spyx runs Spyx 1.0's from_nir (flax, Python ≥ 3.11); this "
                          "environment has an older Spyx (0.1.20's reader returns an untrained haiku model)")
    import jax.numpy as jnp
    import spyx.nir as snir

    _, out = snir.from_nir(raw, jnp.asarray(x.numpy()), dt=dt)
    return torch.as_tensor(np.array(out))


def _spyx01(raw, x, dt):
    import importlib.metadata as md

    version = md.version("spyx")
    if not version.startswith("0.1"):
        raise ConfigError(f"verify --against spyx-0.1 runs Spyx 0.1.20's from_nir (haiku, Python 3.10 "
                          f"environment); this environment has Spyx {version}: use --against spyx")
    import copy

    import jax.numpy as jnp
    import spyx.nir as snir

    # batch-major: 0.1.20's time_major=True takes its initial state's batch size from the time axis;
    # from_nir transposes the Affine weights of the graph it is given in place: give it a copy
    xj = jnp.asarray(x.transpose(0, 1).numpy())
    try:
        model, params = snir.from_nir(copy.deepcopy(raw), xj, dt)
        out = model.apply(params, xj)
    except Exception as exc:  # noqa: BLE001  (the writer's reader, not ours: report how it fails)
        raise ConfigError(f"verify --against spyx-0.1: Spyx {version}'s own from_nir fails on this graph "
                          f"({type(exc).__name__}: {exc}); 0.1.20's reader cannot run a Linear followed by "
                          "a LIF (its w_in is unset), so it simulates none of its own files; see "
                          "docs/interop.md") from None
    return torch.as_tensor(np.array(out[0] if isinstance(out, tuple) else out)).transpose(0, 1)


def _rockpool(raw, x, dt):
    from rockpool.nn.modules.torch.nir import from_nir

    with torch.no_grad():
        out = from_nir(raw)(x.transpose(0, 1))
    return (out[0] if isinstance(out, tuple) else out).transpose(0, 1)


def _sinabs(raw, x, dt):
    import sinabs

    with torch.no_grad():
        out = sinabs.from_nir(raw, batch_size=x.shape[1])(x.transpose(0, 1))
    return (out[0] if isinstance(out, tuple) else out).transpose(0, 1)


WRITERS: dict[str, Writer] = {
    "norse": Writer("norse", _norse, "norse.torch.from_nir(graph, dt)"),
    "spyx": Writer("spyx", _spyx, "spyx.nir.from_nir(graph, x, dt)", delay_per_layer=True),
    "spyx-0.1": Writer("spyx", _spyx01, "spyx.nir.from_nir(graph, x, dt) of Spyx 0.1.20 (haiku)",
                       delay_per_layer=True),
    "rockpool": Writer("rockpool", _rockpool, "rockpool from_nir (dt = min τ/(1 + r), its own rule)"),
    "sinabs": Writer("sinabs", _sinabs, "sinabs.from_nir(graph, batch_size)"),
}


def _flat(y: torch.Tensor, t: int, b: int) -> torch.Tensor:
    return torch.as_tensor(y).reshape(t, b, -1).to(torch.float64)


def against(writer: str, source, graph: nir.NIRGraph, x: torch.Tensor) -> dict:
    """Run ``source`` in ``writer``'s own reader and ``graph`` in ours on ``x`` (T, B, …)."""
    if writer not in WRITERS:
        hint = (" (snnTorch's import_from_nir hard-codes dt = 1e-4, rescales thresholds and crashes on "
                "IF: not a simulator of its own files)" if writer == "snntorch" else "")
        raise ConfigError(f"verify --against {writer!r}: known writers: {', '.join(WRITERS)}{hint}")
    w = WRITERS[writer]
    try:
        lib = importlib.import_module(w.module)
    except ImportError:
        raise ConfigError(f"verify --against {writer}: {w.module} is not installed in this "
                              "environment (docs/interop.md lists where each writer installs)") from None
    raw = source if isinstance(source, nir.NIRGraph) else nir.read(str(source), type_check=False)
    dt = Conventions.from_graph(graph).dt_s
    x = prepare_input(torch.as_tensor(x).float(), conventions(graph).input_shape)
    t, b = x.shape[:2]
    ours = _flat(simulate(graph, x).output, t, b)
    theirs = _flat(w.run(raw, x, dt), t, b)
    layers = sum(isinstance(n, (nir.LIF, nir.CubaLIF, nir.IF)) for n in graph.nodes.values())
    shift = layers if w.delay_per_layer else 0
    a, c = (ours[:-shift], theirs[shift:]) if shift else (ours, theirs)
    differ = float((a != c).to(torch.float64).mean()) if a.numel() else 0.0
    ca, cc = a.sum((0, 1)).numpy(), c.sum((0, 1)).numpy()
    corr = float(np.corrcoef(ca, cc)[0, 1]) if ca.std() > 0 and cc.std() > 0 else None
    return {"writer": writer, "version": getattr(lib, "__version__", "?"), "note": w.note,
            "ours_spikes": int(ours.sum()), "writer_spikes": int(theirs.sum()), "shift_steps": shift,
            "differing_bins": differ, "count_correlation": corr, "agree": differ == 0.0}


def against_line(rep: dict) -> str:
    """One line for the CLI: the writer's spikes next to ours and their agreement."""
    corr = rep["count_correlation"]
    shift = f", compared with its {rep['shift_steps']}-step delay" if rep["shift_steps"] else ""
    return (f"{rep['writer']} {rep['version']} ({rep['note']}) vs our float model: "
            f"{'AGREE' if rep['agree'] else 'DIFFER'}  spikes {rep['writer_spikes']} vs ours "
            f"{rep['ours_spikes']}, {rep['differing_bins']:.2%} of output bins differ{shift}, "
            f"count correlation {'n/a' if corr is None else f'{corr:.4f}'}")
