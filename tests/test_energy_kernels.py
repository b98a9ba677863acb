"""The compiled energy counters (neurodeploy/energy/_count_cpp.py) equal their pure-PyTorch path."""

from __future__ import annotations

import dataclasses
import warnings

import nir
import numpy as np
import pytest
import torch

from neurodeploy.energy import _count_cpp, count_activity
from neurodeploy.energy import counting as counting_mod
from neurodeploy.energy.counting import neuron_counts, recurrent_fanout, updates_from_vpre
from neurodeploy.neurons.functional import LIFParameters
from neurodeploy.neurons.kernels import use_backend
from neurodeploy.neurons.modules import LIF

compiled = pytest.mark.skipif(_count_cpp.load() is None, reason="needs the C++ energy counters (compiler)")


@pytest.fixture(autouse=True)
def _auto_backend():
    """Compiled code allowed even under NEURODEPLOY_KERNEL=torch|reference (which turns it off)."""
    with use_backend("auto"):
        yield


def _layer(reset: str, n: int, per_neuron: bool, gen: torch.Generator) -> LIF:
    v_th = 0.5 + torch.rand(n, generator=gen) if per_neuron else 1.0
    v_reset = 0.3 * torch.rand(n, generator=gen) if per_neuron else 0.0
    return LIF(LIFParameters(v_th=v_th, v_reset=v_reset), reset=reset)


def _trace(t: int, b: int, n: int, dtype, gen: torch.Generator):
    """Pre-reset potentials with many exact repeats (unchanged membranes) and their spikes."""
    v = torch.round(torch.randn(t, b * n, generator=gen, dtype=torch.float64) * 4) / 4
    v[1:][torch.rand(t - 1, b * n, generator=gen) < 0.3] = 0.0
    v = v.to(dtype)
    z = (v > 1.0).to(dtype).reshape(t, b, n)
    return v, z


def _pure(vpre, z, layer):
    t, b = z.shape[:2]
    return updates_from_vpre(vpre.clone(), z, layer), z.reshape(t, b, -1).sum(1).double()


@compiled
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("per_neuron", [False, True])
@pytest.mark.parametrize(("t", "b", "n"), [(1, 1, 1), (7, 3, 5), (16, 40, 300), (5, 300, 10)])
def test_compiled_counts_equal_pytorch(dtype, reset, per_neuron, t, b, n):
    gen = torch.Generator().manual_seed(t * 1000 + b * 10 + n)
    layer = _layer(reset, n, per_neuron, gen)
    vpre, z = _trace(t, b, n, dtype, gen)
    mem, spikes = neuron_counts(vpre.clone(), z, layer)
    want_mem, want_spikes = _pure(vpre, z, layer)
    assert mem.dtype == spikes.dtype == torch.float64
    assert torch.equal(mem, want_mem) and torch.equal(spikes, want_spikes)
    assert mem[0] == b * n and (t == 1 or 0 < mem[1:].sum() < (t - 1) * b * n)


def test_per_sample_coefficient_counts_in_pytorch():
    """A coefficient with a batch axis does not fit the per-neuron kernel: the PyTorch path counts."""
    gen = torch.Generator().manual_seed(3)
    layer = LIF(LIFParameters(v_reset=0.3 * torch.rand(4, 6, generator=gen)), reset="zero")
    vpre, z = _trace(5, 4, 6, torch.float32, gen)
    got = neuron_counts(vpre.clone(), z, layer)
    assert all(torch.equal(a, b) for a, b in zip(got, _pure(vpre, z, layer)))


@compiled
def test_compiled_counts_threads():
    gen = torch.Generator().manual_seed(0)
    layer = _layer("zero", 256, True, gen)
    vpre, z = _trace(9, 200, 256, torch.float32, gen)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = neuron_counts(vpre.clone(), z, layer)
        torch.set_num_threads(max(threads, 2))
        many = neuron_counts(vpre.clone(), z, layer)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(one, many))


@compiled
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_column_nonzeros_equal_pytorch(dtype):
    gen = torch.Generator().manual_seed(4)
    w = torch.randn(37, 129, generator=gen, dtype=dtype)
    w[torch.rand(w.shape, generator=gen) < 0.4] = 0.0
    w[0, :3] = torch.tensor([-0.0, float("nan"), float("inf")], dtype=dtype)
    got = recurrent_fanout(w, dense=False)
    assert got.dtype == torch.float64
    assert torch.equal(got, torch.count_nonzero(w, dim=0).double())
    assert torch.equal(recurrent_fanout(w.t().contiguous().t(), dense=False), got)  # strided: PyTorch
    assert torch.equal(recurrent_fanout(w[:0], dense=False), torch.zeros(129, dtype=torch.float64))


def _graph(reset: str) -> nir.NIRGraph:
    gen = np.random.default_rng(5)
    w1 = (gen.uniform(-1.5, 1.5, (24, 12)) * (gen.uniform(size=(24, 12)) > 0.3)).astype(np.float32)
    w2 = gen.uniform(-1.5, 1.5, (3, 24)).astype(np.float32)

    def lif(n):
        one = np.ones(n, np.float32)
        return nir.LIF(tau=one * 0.004, r=one, v_leak=0 * one + 0.05, v_threshold=one * 0.8,
                       v_reset=(0.2 * gen.uniform(size=n)).astype(np.float32))
    nodes = {"input": nir.Input(input_type=np.array([12])), "l1": nir.Linear(weight=w1), "n1": lif(24),
             "l2": nir.Linear(weight=w2), "n2": lif(3), "output": nir.Output(output_type=np.array([3]))}
    order = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])),
                        metadata={"neurodeploy_format_version": 1, "dt_s": 1e-3, "reset": reset})


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("analog", [False, True])
def test_count_activity_same_without_compiled_counters(monkeypatch, reset, analog):
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(30, 10, 12, generator=gen) < 0.3).float()
    if analog:
        x = x * torch.rand(x.shape, generator=gen) * 3
    fast = count_activity(_graph(reset), x, batch_size=7)
    monkeypatch.setattr(counting_mod._count_cpp, "load", lambda: None)
    slow = count_activity(_graph(reset), x, batch_size=7)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    assert sum(sum(n.spikes_per_step) for n in fast.neurons) > 0


def test_build_failure_warns_once_and_falls_back(monkeypatch):
    import torch.utils.cpp_extension as ext

    def broken(**kw):
        raise RuntimeError("no compiler")
    monkeypatch.setattr(_count_cpp.EXTENSION, "module", None)
    monkeypatch.setattr(_count_cpp.EXTENSION, "failed", False)
    monkeypatch.setattr(ext, "load_inline", broken)
    gen = torch.Generator().manual_seed(2)
    layer = _layer("zero", 6, True, gen)
    vpre, z = _trace(5, 4, 6, torch.float32, gen)
    with pytest.warns(RuntimeWarning, match="could not build the C\\+\\+ energy counters"):
        got = neuron_counts(vpre.clone(), z, layer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = neuron_counts(vpre.clone(), z, layer)  # no second warning
    want = _pure(vpre, z, layer)
    assert all(torch.equal(a, b) for a, b in (*zip(got, want), *zip(again, want)))


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_backend_torch_runs_no_compiled_counters(monkeypatch, backend):
    def forbidden():
        raise AssertionError("compiled counters used under NEURODEPLOY_KERNEL=" + backend)
    monkeypatch.setattr(_count_cpp, "load", forbidden)
    gen = torch.Generator().manual_seed(6)
    layer = _layer("subtract", 6, True, gen)
    vpre, z = _trace(5, 4, 6, torch.float32, gen)
    with use_backend(backend):
        got = neuron_counts(vpre.clone(), z, layer)
        fan = recurrent_fanout(vpre, dense=False)
    assert all(torch.equal(a, b) for a, b in zip(got, _pure(vpre, z, layer)))
    assert torch.equal(fan, torch.count_nonzero(vpre, dim=0).double())
