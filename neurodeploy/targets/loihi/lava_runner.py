"""Run a netx ``.net`` file in Lava (``Loihi2SimCfg(select_tag='fixed_pt')``).

Public API::

    lava_available() -> bool
    run_lava(net_path, spikes, record=False, progress=None) -> EmulatorResult

``spikes`` is (T, B, *input_shape) in torch order with values in {0, 1} (numpy or torch); the result
has the layout of :class:`neurodeploy.targets.loihi.emulator.EmulatorResult`: output (T, B, N_out) and,
when ``record``, one (T, B, *shape) tensor per dense/conv layer in torch order.

Each sample runs in a fresh ``lava.lib.dl.netx.hdf5.Network`` (state and synapse buffers start at
zero, exactly as the emulator assumes); that costs Lava's start-up (~0.4 s) per sample. The input
is a ``lava.proc.io.source.RingBuffer`` on ``net.inp`` (it sends ``data[..., t-1]`` at step t) and
every layer's spikes go to a ``lava.proc.io.sink.RingBuffer``. Lava is imported lazily; it exists
only for Python 3.10 (``pip install 'neurodeploy[loihi]'``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from neurodeploy.errors import ConfigError, DataError
from neurodeploy.targets.loihi.emulator import EmulatorResult


def lava_available() -> bool:
    """True when ``lava.lib.dl.netx`` can be imported."""
    try:
        return importlib.util.find_spec("lava.lib.dl.netx") is not None
    except ModuleNotFoundError:
        return False


def _import_lava():
    if not lava_available():
        raise ConfigError("Lava is not installed: run_lava needs lava-nc 0.10 and lava-dl 0.6 "
                          "(Python 3.10 only): pip install 'neurodeploy[loihi]'; or use "
                          "neurodeploy.targets.loihi.emulator.LoihiEmulator, which is bit-exact to it")
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    return netx, RunSteps, Loihi2SimCfg, Source, Sink


def _run_one(mods, path: str, x: np.ndarray, record: bool) -> list[np.ndarray]:
    netx, RunSteps, Loihi2SimCfg, Source, Sink = mods
    T = x.shape[0]
    net = netx.hdf5.Network(net_config=path)
    inp_shape = tuple(net.inp.shape)
    data = x.reshape(T, -1).T if len(inp_shape) == 1 else x.transpose(3, 2, 1, 0)  # → (…, T)
    if data.shape[:-1] != inp_shape:
        raise DataError(f"input of shape {x.shape[1:]} does not fit the network input {inp_shape}")
    source = Source(data=data.astype(np.int32))
    source.s_out.connect(net.inp)
    layers = net.layers if record else [net.layers[-1]]
    sinks = []
    for lay in layers:
        sink = Sink(shape=tuple(lay.out.shape), buffer=T)
        lay.out.connect(sink.a_in)
        sinks.append(sink)
    try:
        net.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        outs = [s.data.get() for s in sinks]
    finally:
        net.stop()
    res = []
    for o in outs:
        # (x, y, f, T) → (T, f, y, x) = (T, C, H, W); (N, T) → (T, N)
        res.append(np.moveaxis(o.transpose(tuple(range(o.ndim - 1))[::-1] + (o.ndim - 1,)), -1, 0))
    return res


def run_lava(net_path: str | Path, spikes, record: bool = False,
             progress: bool | None = None) -> EmulatorResult:
    """Run every sample of ``spikes`` (T, B, …) in a fresh Lava network; see module docstring.

    ``progress``: a progress bar on stderr (one tick per sample; the full digits test set takes
    minutes); default: only on an interactive terminal (:func:`neurodeploy.quiet.show_progress`)."""
    from neurodeploy.quiet import progress as progress_bar

    mods = _import_lava()
    x = spikes.detach().cpu().numpy() if isinstance(spikes, torch.Tensor) else np.asarray(spikes)
    if x.ndim < 3:
        raise DataError(f"spikes must be (T, B, *input_shape), got shape {x.shape}")
    if not np.isin(x, (0, 1)).all():
        raise DataError("Lava input must be binary spikes {0, 1}")
    per_sample = []
    with progress_bar(x.shape[1], "Lava fixed_pt", progress) as advance:
        for b in range(x.shape[1]):
            per_sample.append(_run_one(mods, str(net_path), x[:, b], record))
            advance()
    stacked = [torch.from_numpy(np.stack([s[i] for s in per_sample], axis=1).astype(np.int8))
               for i in range(len(per_sample[0]))]
    T, B = x.shape[:2]
    return EmulatorResult(stacked[-1].reshape(T, B, -1), stacked if record else [])
