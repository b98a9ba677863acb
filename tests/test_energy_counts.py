"""Hand-computed counts on a tiny IF network, for every energy convention.

Network (dt = 1 s, IF neurons, v_th = 1, zero reset, strict spike v > v_th)::

    input(3) -- W1 = [[1.5, 0, 0.5], [0, 0, 1.2]] --> IF(2) -- W2 = [[1.0, 0.0]] --> IF(1)

Binary input, one sample, T = 3: x = [1,1,0], [0,0,1], [1,0,1].
Layer 1: t0 I=[1.5,0] → z=[1,0], v=[0,0]; t1 I=[0.5,1.2] → z=[0,1], v=[0.5,0];
         t2 I=[2.0,1.2] → z=[1,1], v=[0,0].
Layer 2: t0 I=1 → v=1 (no spike); t1 I=0 → v=1; t2 I=1 → v=2 → spike, v=0.

Fanouts: W1 non-zeros per input column [1, 0, 2], dense fanout 2 each (6 per step);
W2 columns [1, 0], dense fanout 1 each (2 per step).
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from neurodeploy.energy import CONVENTIONS, count_activity, energy_report, neurobench_metrics
from neurodeploy.errors import ConfigError, DataError
from neurodeploy.hw_profiles import load_profile

W1 = np.array([[1.5, 0.0, 0.5], [0.0, 0.0, 1.2]], dtype=np.float32)
W2 = np.array([[1.0, 0.0]], dtype=np.float32)
X_BIN = [[1, 1, 0], [0, 0, 1], [1, 0, 1]]
X_ANALOG = [[0.5, 2.0, 0.0], [0, 0, 1], [1, 0, 1]]


def tiny_graph() -> nir.NIRGraph:
    def if_node(n):
        return nir.IF(r=np.ones(n, np.float32), v_threshold=np.ones(n, np.float32),
                      v_reset=np.zeros(n, np.float32))
    nodes = {"input": nir.Input(input_type=np.array([3])), "0_linear": nir.Linear(weight=W1),
             "1_if": if_node(2), "2_linear": nir.Linear(weight=W2), "3_if": if_node(1),
             "output": nir.Output(output_type=np.array([1]))}
    order = list(nodes)
    meta = {"neurodeploy_format_version": 1, "dt_s": 1.0, "reset": "zero", "time_steps": 3}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])), metadata=meta)


def activity(x, copies: int = 1, batch_size: int = 256):
    xt = torch.tensor([x], dtype=torch.float32).repeat(copies, 1, 1)  # (N, T, 3)
    return count_activity(tiny_graph(), xt, batch_size=batch_size)


def per_layer(counts, cat):
    return {k: v.get(cat, 0.0) for k, v in counts.items()}


def test_spikes_and_membrane_updates_by_hand():
    a = activity(X_BIN)
    l1, l2 = a.neurons
    assert l1.spikes_per_step == [1, 1, 2] and l2.spikes_per_step == [0, 0, 1]
    assert l1.spikes_per_neuron == [2, 2] and l1.raster == [[0], [1], [0, 1]]
    assert l1.membrane_updates_per_step == [2, 1, 1]  # n1 at t1: 0 → 1.2 → reset 0: unchanged
    assert l2.membrane_updates_per_step == [1, 0, 1]
    assert a.input_binary and not a.static_input


def test_fanout_convention_seed004():
    c = CONVENTIONS.get("fanout").count(activity(X_BIN))
    # N_AC = Σ_t Σ_i fanout_i · s_i[t]: layer 0: 2 · (2+1+2); layer 2: 1 · (1+1+2)
    assert per_layer(c.snn, "ac") == {"0_linear": 10, "2_linear": 4}
    assert per_layer(c.snn, "mac") == {"0_linear": 0, "2_linear": 0}
    assert per_layer(c.ann, "mac") == {"0_linear": 6, "2_linear": 2}  # N_MAC = Σ_l Σ_i fanout_i


def test_neurobench_convention():
    a = activity(X_BIN)
    c = CONVENTIONS.get("neurobench").count(a)
    # effective: Σ [x≠0]·[w≠0]: layer 0: 1 + 2 + 3; layer 2: 1 + 0 + 1
    assert per_layer(c.snn, "ac") == {"0_linear": 6, "2_linear": 2}
    assert neurobench_metrics(a) == {"Effective_MACs": 0.0, "Effective_ACs": 8.0, "Dense": 24.0,
                                     "ActivationSparsity": 4 / 9, "MembraneUpdates": 6.0}


def test_rate_flops_convention():
    c = CONVENTIONS.get("rate-flops").count(activity(X_BIN))
    # fr · T · FLOPs: layer 0: 5/9 · 3 · 6 = 10; layer 2: 4/6 · 3 · 2 = 4
    assert per_layer(c.snn, "ac") == pytest.approx({"0_linear": 10, "2_linear": 4})


def test_memory_convention():
    c = CONVENTIONS.get("memory").count(activity(X_BIN))
    assert c.snn["0_linear"] == {"ac": 10, "mac": 0, "weight_reads": 10, "state_reads": 10, "state_writes": 10}
    assert c.snn["1_if"] == {"neuron_update": 6, "state_reads": 6, "state_writes": 6, "spikes": 4}
    assert c.snn["3_if"] == {"neuron_update": 3, "state_reads": 3, "state_writes": 3, "spikes": 1}
    assert c.ann["0_linear"] == {"mac": 6, "weight_reads": 6, "act_reads": 6, "act_writes": 2}


def test_analog_first_layer_is_mac():
    a = activity(X_ANALOG)
    assert not a.input_binary
    fan = CONVENTIONS.get("fanout").count(a)
    # t0 is analog: Σ_i fanout_i = 6 MACs; t1, t2 binary: 2 · (1 + 2) ACs. Layer 1 spikes [0,0],[1,1],[1,1]
    assert fan.snn["0_linear"] == {"ac": 6, "mac": 6}
    assert fan.snn["2_linear"] == {"ac": 4, "mac": 0}
    nb = neurobench_metrics(a)
    assert nb["Effective_MACs"] == 1 and nb["Effective_ACs"] == 5 + 2


def test_per_sample_and_batching():
    one = activity(X_BIN)
    many = activity(X_BIN, copies=5, batch_size=2)
    assert neurobench_metrics(many) == neurobench_metrics(one)
    for name in CONVENTIONS:
        got, want = CONVENTIONS.get(name).count(many).snn, CONVENTIONS.get(name).count(one).snn
        assert {k: pytest.approx(v) for k, v in want.items()} == got


def test_energy_fp32_profile_and_ratio():
    r = energy_report(activity(X_BIN), [load_profile("cmos45-fp32")])
    t = r.totals["cmos45-fp32"]
    assert t["snn_pj"] == pytest.approx(14 * 0.9) and t["ann_pj"] == pytest.approx(8 * 4.6)
    assert t["ratio"] == pytest.approx(12.6 / 36.8)
    assert [n["firing_rate"] for n in r.neurons] == pytest.approx([4 / 6, 1 / 3])
    assert r.neurons[0]["dead"] == 0 and r.neurons[1]["saturated"] == 0


def test_missing_costs_are_unknown_not_zero():
    r = energy_report(activity(X_ANALOG), [load_profile("truenorth")])  # no MAC cost
    t = r.totals["truenorth"]
    assert t["snn_pj"] is None and t["ratio"] is None and t["unknown_costs"] == ["e_mac_pj"]
    assert t["snn_pj_known"] == pytest.approx(26.0 * 10)
    assert any("unknown, not zero" in s for s in r.assumptions)


def test_errors():
    with pytest.raises(ConfigError, match="unknown energy convention 'fanuot'.*Did you mean 'fanout'"):
        energy_report(activity(X_BIN), [load_profile("cmos45-fp32")], convention="fanuot")
    with pytest.raises(ConfigError, match="at least one profile"):
        energy_report(activity(X_BIN), [])
    with pytest.raises(DataError, match=r"x must be \(N, T, …\)"):
        count_activity(tiny_graph(), torch.zeros(3, 3))


def test_static_analog_input_first_layer_once_in_rate_flops():
    a = activity([[0.5, 2.0, 0.0]] * 3)  # direct coding: the same analog frame at every step
    assert a.static_input and not a.input_binary
    assert CONVENTIONS.get("fanout").count(a).snn["0_linear"]["mac"] == 3 * 6  # every step
    assert CONVENTIONS.get("rate-flops").count(a).snn["0_linear"]["mac"] == 6  # Spikformer: once
