"""Energy counts of a network with a non-spiking membrane readout (NIR ``LI``/``CubaLI``), by hand.

Network (dt = 1 s; the hidden IF layer as in test_energy_counts.py)::

    input(3) -- W1 = [[1.5, 0, 0.5], [0, 0, 1.2]] --> IF(2) -- W2 = [[1.0, 0.0]] --> LI(1), τ = 2 s

Binary input, one sample, T = 3: x = [1,1,0], [0,0,1], [1,0,1].
IF layer: spikes [1,0], [0,1], [1,1] (see test_energy_counts.py), membrane updates [2, 1, 1].
LI readout, forward Euler v ← v + dt/τ·(−v + I) = 0.5·v + 0.5·I with I = W2·z = 1, 0, 1:
v = 0.5, 0.25, 0.625 — it changes at every step (3 membrane updates) and never spikes.

What a readout must (not) change: the synaptic ops into it are counted like any layer's (W2 is
fed by spikes: fanout ACs 1·(1+1+2) = 4); its output is a membrane, not activations: it has no
spikes, no firing rate, is not "silent" in the firing table and is left out of NeuroBench's
ActivationSparsity (zeros / activations over the spiking layers: 2/6); its membrane updates count
in MembraneUpdates (4 + 3 = 7) and its state in the memory convention (1 variable for LI, 2 for
CubaLI).
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from neurodeploy.energy import CONVENTIONS, count_activity, energy_report, neurobench_metrics
from neurodeploy.hw_profiles import load_profile
from neurodeploy.ir.from_nir import from_nir
from neurodeploy.neurons.kernels import set_backend

W1 = np.array([[1.5, 0.0, 0.5], [0.0, 0.0, 1.2]], dtype=np.float32)
W2 = np.array([[1.0, 0.0]], dtype=np.float32)
X_BIN = [[1, 1, 0], [0, 0, 1], [1, 0, 1]]


def graph(readout: str = "li") -> nir.NIRGraph:
    one = np.ones(1, np.float32)
    out = (nir.LI(tau=2 * one, r=one, v_leak=0 * one) if readout == "li" else
           nir.CubaLI(tau_syn=1 * one, tau_mem=2 * one, r=one, v_leak=0 * one, w_in=one))
    nodes = {"input": nir.Input(input_type=np.array([3])), "0_linear": nir.Linear(weight=W1),
             "1_if": nir.IF(r=np.ones(2, np.float32), v_threshold=np.ones(2, np.float32),
                            v_reset=np.zeros(2, np.float32)),
             "2_linear": nir.Linear(weight=W2), "3_out": out, "output": nir.Output(output_type=np.array([1]))}
    order = list(nodes)
    meta = {"neurodeploy_format_version": 1, "dt_s": 1.0, "reset": "zero", "time_steps": 3}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])), metadata=meta)


@pytest.fixture(params=["auto", "reference"])
def backend(request):
    """Compiled scan (auto) and the per-step reference loop: both count paths must agree."""
    set_backend(request.param)
    yield request.param
    set_backend(None)


def activity(readout: str = "li", copies: int = 1):
    x = torch.tensor([X_BIN], dtype=torch.float32).repeat(copies, 1, 1)
    return count_activity(graph(readout), x)


def test_li_membrane_by_hand():
    model, _ = from_nir(graph(), None)
    v = model(torch.tensor([X_BIN], dtype=torch.float32).transpose(0, 1))
    assert v.flatten().tolist() == pytest.approx([0.5, 0.25, 0.625])


def test_li_readout_counts(backend):
    a = activity()
    hidden, readout = a.neurons
    assert hidden.spiking and hidden.spikes_per_step == [1, 1, 2]
    assert not readout.spiking and readout.kind == "li" and readout.state_vars == 1
    assert readout.spikes_per_step == [0, 0, 0] and readout.spikes_per_neuron == [0]
    assert readout.raster == [[], [], []]
    assert readout.membrane_updates_per_step == [1, 1, 1]
    syn = {s.name: s for s in a.synapses}
    assert syn["2_linear"].eff_ac == [1, 0, 1] and syn["2_linear"].fan_ac == [1, 1, 2]


def test_li_readout_conventions(backend):
    a = activity(copies=4)  # per-sample values: same as one sample
    assert neurobench_metrics(a) == {"Effective_MACs": 0.0, "Effective_ACs": 8.0, "Dense": 24.0,
                                     "ActivationSparsity": pytest.approx(2 / 6), "MembraneUpdates": 7.0}
    fan = CONVENTIONS.get("fanout").count(a)
    assert fan.snn["0_linear"] == {"ac": 10, "mac": 0} and fan.snn["2_linear"] == {"ac": 4, "mac": 0}
    mem = CONVENTIONS.get("memory").count(a)
    assert mem.snn["3_out"] == {"neuron_update": 3, "state_reads": 3, "state_writes": 3, "spikes": 0}
    rate = CONVENTIONS.get("rate-flops").count(a)
    assert rate.snn["2_linear"]["ac"] == pytest.approx(4 / 6 * 3 * 2)


def test_li_readout_report_lists_spiking_layers_only(backend):
    r = energy_report(activity(), [load_profile("cmos45-fp32")])
    assert [n["name"] for n in r.neurons] == ["1_if"]  # the readout is not a silent spiking layer
    assert r.neurons[0]["firing_rate"] == pytest.approx(4 / 6)
    assert r.totals["cmos45-fp32"]["snn_pj"] == pytest.approx(14 * 0.9)


def test_cuba_li_readout_state(backend):
    a = activity("cuba_li")
    readout = a.neurons[1]
    assert not readout.spiking and readout.kind == "cuba_li" and readout.state_vars == 2
    assert readout.spikes_per_step == [0, 0, 0]
    mem = CONVENTIONS.get("memory").count(a)
    assert mem.snn["3_out"]["state_reads"] == 6 and mem.snn["3_out"]["spikes"] == 0
