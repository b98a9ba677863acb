"""Training-step benchmark: neurodeploy's fast kernels vs the matmul floor and peer libraries.

Reference workload ("mlp"): MLP 700-256-256-20 with a LIF after every Linear, T=100, batch 64,
5% binary input spikes, loss = cross-entropy of the output spike counts, BPTT, Adam,
``torch.set_num_threads(2)``. Conv workload ("conv"): 2×32×32 event frames (5% active), T=16,
batch 32, Conv(2→16, 3×3)-LIF-SumPool2-Conv(16→32, 3×3)-LIF-SumPool2-Linear(2048→10)-LIF.
Recurrent workload ("rec"): MLP 700-256-20 as "mlp" but the hidden LIF is
recurrent (x[t] + z[t-1]·W_recᵀ, W_rec 256×256) with reset by subtraction, T=100, batch 64; the
feed-forward weights are scaled so that the layers spike (``GAIN``: at PyTorch's default init
nothing spikes in any workload).

Candidates, all with identical synaptic layers (same init) applied to all T·B rows at once:

* ``floor``: the synaptic layers alone (no neurons), forward + backward + Adam: the "matmul floor".
* ``neurodeploy``: ``SpikingSequential`` as a user gets it: the fast kernel, and on the MLP every
  spike-fed Linear on the exact CSR path where its input density is below the measured crossover
  (``sparse_max_density = None``, the default), each hidden LIF fused with the Linear after it
  (``fuse_linear``: the spikes are never written, the Linear reads them from the saved membrane).
* ``neurodeploy-dense``: the same with every Linear dense (``sparse_max_density = 0``, MLP only).
* ``neurodeploy-sparse``: the same with the CSR path at any density (``sparse_max_density = 1``,
  MLP only): shows what the crossover buys.
* ``neurodeploy-unfused`` (conv only): the same with ``fuse_pool = False``: each LIF's spikes
  written in full and pooled by ``SumPool2d`` afterwards, instead of the scan fused with the pool
  (``neurodeploy.neurons.pooled``; the floor runs that ``SumPool2d`` too).
* ``neurodeploy-reference``: the reference per-step loop (``NEURODEPLOY_KERNEL=reference``).
* On "rec": ``neurodeploy`` is the default model (exact CSR first layer on the binary input, the
  C++ recurrent scan: recurrent product and its weight gradient from the active neurons only);
  ``neurodeploy-dense-first`` the same with a dense first layer (``sparse_max_density = 0``), the
  like-for-like comparison with the floor's dense layers; ``neurodeploy-dense-first-sync`` the
  same with the C++ backward's other threading (``recurrent.BACKWARD_SPLIT_ROWS = False``: one
  multi-threaded addmm per step over all rows); ``neurodeploy-torch`` dense first layer and
  backend "torch" (the PyTorch recurrent Function: dense per-step products). The issue's goal
  for this workload (≤ 1.3× the floor) is read on ``neurodeploy``, the default model.
* ``pytorch``: plain per-step PyTorch (LIF step + surrogate autograd Function in a Python loop).
* ``norse``: ``norse.torch.LIFBoxCell`` per step; ``snntorch``: ``snn.Leaky`` per step;
  ``spikingjelly``: ``neuron.LIFNode(step_mode="m")``. Missing peers are skipped
  with a printed note.

On "rec" the floor is the feed-forward layers alone (the recurrent product needs the spikes), and
the peers are those with a recurrent cell: ``snntorch``: ``snn.RLeaky(linear_features=256)`` per
step (decay and subtract reset, but the reset is applied at the next step, undecayed; its
recurrent Linear's bias is zeroed); ``norse``: ``LIFRecurrentCell(700→256)`` per step (Norse's
recurrent LIF is current-based with zero reset, and its input weights, the first Linear's without
bias, are applied per step, so its activity differs). spikingjelly has no recurrent LIF cell of
its own and is skipped there.

Timing: all candidates in one process, interleaved round-robin (one step of each per round, order
rotated every round), ``--warmup`` untimed rounds then ``--steps`` timed rounds; we report the
median ms/step and its ratio to the floor's median.

Peak memory: each candidate runs 3 steps in a fresh subprocess; we report the increase of the
process's peak resident set size (``VmHWM``, reset via ``/proc/self/clear_refs`` just before the
first step) over its RSS at that moment (model, optimizer and input already built). Linux only. This counts everything the step allocates (autograd-saved
tensors, gradients, Adam state, allocator slack), on the CPU the honest number a user sees.

Usage::

    python bench/train_step.py            # all three workloads, 20 timed steps, memory subprocesses,
                                          # then the speed goals of issue #21 against this run
    python bench/train_step.py --quick    # MLP only, 10 timed steps, no memory, no reference loop
    python bench/train_step.py --workload rec --no-memory   # recurrent hidden layer
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

DT, TAU_MEM_INV = 1e-3, 100.0  # α = 0.1
WORKLOADS = {
    "mlp": dict(t=100, b=64, shape=(700,), classes=20),
    "conv": dict(t=16, b=32, shape=(2, 32, 32), classes=10),
    "rec": dict(t=100, b=64, shape=(700,), classes=20),
}
HIDDEN = 256  # recurrent workload's hidden layer
# Weight scale over PyTorch's default init: at the default init nothing spikes (inputs too weak
# for v_th = 1 with α = 0.1), a silent network no one trains. With these gains the neurodeploy
# forward fires ~5 % (mlp: 5.6/6.1/5.5 %), conv 1.9/5.5/14 %, rec ~4 % hidden, 2.5 % output.
GAIN = {"mlp": 40.0, "conv": 30.0, "rec": 30.0}
PEERS = {"norse": "norse", "snntorch": "snntorch", "spikingjelly": "spikingjelly"}


def synaptic_layers(workload: str) -> list[nn.Module]:
    torch.manual_seed(0)
    if workload == "mlp":
        layers = [nn.Linear(700, 256), nn.Linear(256, 256), nn.Linear(256, 20)]
    elif workload == "rec":
        layers = [nn.Linear(700, HIDDEN), nn.Linear(HIDDEN, 20)]
    else:
        from neurodeploy.neurons import SumPool2d
        layers = [nn.Sequential(nn.Conv2d(2, 16, 3, padding=1)),
                  nn.Sequential(SumPool2d(2), nn.Conv2d(16, 32, 3, padding=1)),
                  nn.Sequential(SumPool2d(2), nn.Flatten(), nn.Linear(2048, 10))]
    with torch.no_grad():
        for layer in layers:
            for name, p in layer.named_parameters():
                if name.endswith("weight"):
                    p.mul_(GAIN[workload])
    return layers


def rows(layer, x):
    """Apply a stateless layer to all T·B rows of ``x`` (T, B, …)."""
    t, b = x.shape[:2]
    y = layer(x.reshape(t * b, *x.shape[2:]))
    return y.reshape(t, b, *y.shape[1:])


def layered(syn, neurons):
    """(run, parameters) of each synaptic layer on all T·B rows followed by its neuron module."""
    def run(x):
        for s, n in zip(syn, neurons):
            x = n(rows(s, x))
        return x
    return run, list(nn.ModuleList(syn + neurons).parameters())


class _Heaviside(torch.autograd.Function):  # plain PyTorch: SuperSpike surrogate
    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, g):
        (u,) = ctx.saved_tensors
        return g / (1.0 + u.abs() / 0.1) ** 2


def _stepwise(neuron_step):
    """Neuron nn.Module factory that loops a per-step function over T."""
    class Stepwise(nn.Module):
        def forward(self, x):
            out, state = [], None
            for t in range(x.shape[0]):
                z, state = neuron_step(x[t], state)
                out.append(z)
            return torch.stack(out)
    return Stepwise


def build_rec(name: str):
    """(model, parameters) for the recurrent workload: Linear-LIF(recurrent)-Linear-LIF."""
    syn = synaptic_layers("rec")
    alpha = DT * TAU_MEM_INV
    torch.manual_seed(1)
    w_rec = nn.Parameter(torch.empty(HIDDEN, HIDDEN).uniform_(-HIDDEN ** -0.5, HIDDEN ** -0.5))
    if name.startswith("neurodeploy"):
        from neurodeploy.neurons import LIF, SpikingSequential
        from neurodeploy.neurons.kernels import use_backend

        hidden = LIF(dt_s=DT, reset="subtract", recurrent_features=HIDDEN)
        with torch.no_grad():
            hidden.w_rec.copy_(w_rec)
        model = SpikingSequential(syn[0], hidden, syn[1], LIF(dt_s=DT, reset="subtract")).train()
        if name != "neurodeploy":  # the default keeps the exact CSR first layer (5 % binary input)
            model.sparse_max_density = 0.0
        backend = {"neurodeploy-reference": "reference", "neurodeploy-torch": "torch"}.get(name, "auto")
        from neurodeploy.neurons import recurrent

        split = name != "neurodeploy-dense-first-sync"

        def run(x):
            recurrent.BACKWARD_SPLIT_ROWS = split  # read by the forward, used by its backward
            try:
                with use_backend(backend):
                    return model(x)
            finally:
                recurrent.BACKWARD_SPLIT_ROWS = True
        run.model = model  # for firing_rates
        return run, list(model.parameters())
    if name == "floor":
        neurons = [nn.Identity(), nn.Identity()]
        params = []
    elif name == "pytorch":
        def lif(x, state, w=None):
            v, z = state if state is not None else (torch.zeros_like(x), torch.zeros_like(x))
            if w is not None:
                x = x + z @ w.t()
            v = (1 - alpha) * v + alpha * x
            z = _Heaviside.apply(v - 1.0)
            return z, (v - z * 1.0, z)
        neurons = [_stepwise(lambda x, s: lif(x, s, w_rec))(), _stepwise(lif)()]
        params = [w_rec]
    elif name == "snntorch":
        import snntorch as snn
        from snntorch import surrogate

        grad = surrogate.fast_sigmoid(slope=10)
        rec = snn.RLeaky(beta=1 - alpha, linear_features=HIDDEN, spike_grad=grad,
                         reset_mechanism="subtract")
        out = snn.Leaky(beta=1 - alpha, spike_grad=grad, reset_mechanism="subtract")
        with torch.no_grad():
            rec.recurrent.weight.copy_(w_rec * alpha)  # snnTorch adds input and recurrence unscaled
            rec.recurrent.bias.zero_()
        neurons = [_stepwise(lambda x, s: _snn_rleaky(rec, alpha * x, s))(),
                   _stepwise(lambda x, m: out(alpha * x, out.init_leaky() if m is None else m))()]
        params = list(rec.parameters()) + list(out.parameters())
    elif name == "norse":
        import norse.torch as nt

        cell = nt.LIFRecurrentCell(700, HIDDEN, autapses=True, dt=DT,
                                   input_weights=nn.Parameter(syn[0].weight.detach().clone()),
                                   recurrent_weights=nn.Parameter(w_rec.detach().clone()))
        box = nt.LIFBoxCell(nt.LIFBoxParameters(tau_mem_inv=torch.tensor(TAU_MEM_INV)), dt=DT)
        first = _stepwise(lambda x, s: cell(x, s))()
        second = _stepwise(lambda x, s: box(x, s))()
        model = nn.ModuleList([cell, syn[1]])

        def run(x):
            return second(rows(syn[1], first(x)))
        return run, list(model.parameters())
    else:
        raise SystemExit(f"candidate {name!r} has no recurrent variant")
    run, model_params = layered(syn, neurons)
    return run, model_params + params


def _snn_rleaky(cell, x, state):
    spk, mem = cell(x, *(state if state is not None else (torch.zeros_like(x), torch.zeros_like(x))))
    return spk, (spk, mem)


def build(name: str, workload: str):
    """(model as a callable on x, parameters) for candidate ``name``."""
    if workload == "rec":
        return build_rec(name)
    syn = synaptic_layers(workload)
    alpha = DT * TAU_MEM_INV
    if name == "floor":
        neurons = [nn.Identity() for _ in syn]
    elif name.startswith("neurodeploy"):
        from neurodeploy.neurons import LIF, SpikingSequential
        from neurodeploy.surrogates import make_surrogate

        surrogate = name.partition(":")[2] or "fast_sigmoid"
        model = SpikingSequential(*[m for s in syn for m in (
            s, LIF(dt_s=DT, surrogate=make_surrogate(surrogate)))]).train()
        model.sparse_max_density = {"neurodeploy-dense": 0.0, "neurodeploy-sparse": 1.0}.get(name)
        model.fuse_pool = name != "neurodeploy-unfused"
        if name == "neurodeploy-reference":
            from neurodeploy.neurons.kernels import use_backend

            def run(x):
                with use_backend("reference"):
                    return model(x)
            return run, list(model.parameters())
        return model, list(model.parameters())
    elif name == "pytorch":
        def step(x, v):
            v = (1 - alpha) * v + alpha * x if v is not None else alpha * x
            z = _Heaviside.apply(v - 1.0)
            return z, v - z * v
        neurons = [_stepwise(step)() for _ in syn]
    elif name == "norse":
        import norse.torch as nt

        def factory():
            cell = nt.LIFBoxCell(nt.LIFBoxParameters(tau_mem_inv=torch.tensor(TAU_MEM_INV)), dt=DT)
            return _stepwise(lambda x, s: cell(x, s))()
        neurons = [factory() for _ in syn]
    elif name == "snntorch":
        import snntorch as snn
        from snntorch import surrogate

        def factory():
            lif = snn.Leaky(beta=1 - alpha, spike_grad=surrogate.fast_sigmoid(slope=10),
                            reset_mechanism="zero")
            return _stepwise(lambda x, m: lif(alpha * x, lif.init_leaky() if m is None else m))()
        neurons = [factory() for _ in syn]
    elif name == "spikingjelly":
        from spikingjelly.activation_based import functional, neuron

        neurons = [neuron.LIFNode(tau=1 / alpha, step_mode="m") for _ in syn]
        run, params = layered(syn, neurons)
        stateful = nn.ModuleList(neurons)

        def run_reset(x):
            functional.reset_net(stateful)
            return run(x)
        return run_reset, params
    else:
        raise SystemExit(f"unknown candidate {name!r}")
    return layered(syn, neurons)


def make_step(name: str, workload: str):
    w = WORKLOADS[workload]
    run, params = build(name, workload)
    opt = torch.optim.Adam(params, lr=1e-3)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(w["t"], w["b"], *w["shape"], generator=g) < 0.05).float()
    y = torch.randint(0, w["classes"], (w["b"],), generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        out = run(x)
        loss = F.cross_entropy(out.sum(0), y)
        loss.backward()
        opt.step()
    return step


def candidates(quick: bool, workload: str) -> list[str]:
    names = ["floor", "neurodeploy"]
    if workload == "mlp":
        names += ["neurodeploy-dense", "neurodeploy-sparse"]
    if workload == "rec":
        names.append("neurodeploy-dense-first")
        if not quick:
            names += ["neurodeploy-dense-first-sync", "neurodeploy-torch"]
    if workload == "conv":
        names.append("neurodeploy-unfused")
    if not quick:
        names.append("neurodeploy-reference")
    names.append("pytorch")
    for peer, module in PEERS.items():
        if workload == "rec" and peer == "spikingjelly":
            print("note: spikingjelly has no recurrent LIF cell; skipped on rec")
        elif importlib.util.find_spec(module) is None:
            print(f"note: {peer} is not installed; skipped (pip install neurodeploy[bench])")
        else:
            names.append(peer)
    return names


def time_interleaved(names, workload, warmup, steps):
    fns = {n: make_step(n, workload) for n in names}
    times = {n: [] for n in names}
    for r in range(warmup + steps):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            t0 = time.perf_counter()
            fns[n]()
            dt = time.perf_counter() - t0
            if r >= warmup:
                times[n].append(dt * 1e3)
    return {n: statistics.median(v) for n, v in times.items()}


def firing_rates(workload: str) -> list[float]:
    """Fraction of neurons spiking per step in each spiking layer (neurodeploy, initial weights)."""
    from neurodeploy.neurons import SpikingSequential

    model, _ = build("neurodeploy", workload)
    model = getattr(model, "model", model)
    w = WORKLOADS[workload]
    x = (torch.rand(w["t"], w["b"], *w["shape"], generator=torch.Generator().manual_seed(1))
         < 0.05).float()
    rates = []
    with torch.no_grad():
        for m in (model if isinstance(model, SpikingSequential) else []):
            if hasattr(m, "surrogate"):  # a spiking layer: (T, B, …) in and out
                x = m(x)
                rates.append(float(x.mean()))
            else:
                x = rows(m, x)
    return rates


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory_child(name, workload):
    torch.set_num_threads(2)
    step = make_step(name, workload)
    base = _status_kib("VmRSS")
    # Reset the peak-RSS mark (VmHWM) to the current RSS: ru_maxrss would still hold setup's
    # peak (and, across fork+exec, the parent's), which hides the step's own allocation.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    for _ in range(3):
        step()
    peak = _status_kib("VmHWM")
    print(json.dumps({"peak_mib": max(peak - base, 0) / 1024}))


def peak_memory(name, workload):
    out = subprocess.run([sys.executable, __file__, "--memory-of", name, "--workload", workload],
                         capture_output=True, text=True, env=os.environ.copy())
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]
    except (IndexError, ValueError, KeyError):
        print(f"note: memory run of {name} failed: {out.stderr.strip()[-300:]}")
        return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="MLP only, 10 timed steps, no memory")
    ap.add_argument("--workload", choices=sorted(WORKLOADS), action="append")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--surrogates", action="store_true",
                    help="neurodeploy with every registered surrogate vs fast_sigmoid (no peers)")
    ap.add_argument("--memory-of", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.memory_of:
        return peak_memory_child(a.memory_of, (a.workload or ["mlp"])[0])
    torch.set_num_threads(2)
    workloads = a.workload or (["mlp"] if a.quick else ["mlp", "conv", "rec"])
    steps = a.steps or (10 if a.quick else 20)
    from neurodeploy.neurons import _scan_cpp
    t0 = time.perf_counter()
    ok = _scan_cpp.load() is not None
    print(f"C++ scan {'loaded' if ok else 'UNAVAILABLE'} in {time.perf_counter() - t0:.1f} s; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {steps} timed steps")
    if a.surrogates:
        from neurodeploy.surrogates import SURROGATES

        names = ["floor", "neurodeploy"] + [f"neurodeploy:{n}" for n in SURROGATES if n != "fast_sigmoid"]
        med = time_interleaved(names, "mlp", a.warmup, steps)
        print("\nmlp workload, each surrogate (defaults) vs fast_sigmoid:")
        print("| surrogate | ms/step (median) | × fast_sigmoid | × floor |")
        print("|---|---:|---:|---:|")
        for n in names[1:]:
            label = n.partition(":")[2] or "fast_sigmoid"
            print(f"| {label} | {med[n]:.1f} | {med[n] / med['neurodeploy']:.2f} | {med[n] / med['floor']:.2f} |")
        return
    ratios = {}
    for workload in workloads:
        names = candidates(a.quick, workload)
        med = time_interleaved(names, workload, a.warmup, steps)
        ratios[workload] = med["neurodeploy"] / med["floor"]
        mem = {n: ("–" if a.quick or a.no_memory else f"{peak_memory(n, workload):.0f}")
               for n in names}
        w = WORKLOADS[workload]
        rates = ", ".join(f"{100 * r:.1f} %" for r in firing_rates(workload)) or "not measured"
        print(f"\n{workload}: T={w['t']}, batch {w['b']}, input {w['shape']}, 5% input spikes, "
              f"weights ×{GAIN[workload]:g} (firing rates at init: {rates})")
        print("| candidate | ms/step (median) | × floor | peak memory (MiB) |")
        print("|---|---:|---:|---:|")
        for n in names:
            print(f"| {n} | {med[n]:.1f} | {med[n] / med['floor']:.2f} | {mem[n]} |")
    print_goals(ratios)


# Issue #21's speed goals: `neurodeploy` (the default model) against its workload's floor.
GOALS = {"mlp": 0.5, "conv": 1.15, "rec": 1.3}


def print_goals(ratios: dict[str, float]) -> None:
    """The goals table for the workloads of this run (ratios are `neurodeploy` ÷ floor medians)."""
    print("\nspeed goals (issue #21), this run, 2 threads:")
    print("| workload | goal | measured | |")
    print("|---|---:|---:|---|")
    for workload, r in ratios.items():
        goal = GOALS[workload]
        print(f"| {workload} | ≤ {goal:g}× | {r:.3f}× | {'met' if r <= goal else 'NOT met'} |")


if __name__ == "__main__":
    main()
