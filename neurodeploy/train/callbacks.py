"""Training callbacks: surrogate schedules, adaptive surrogates, gradient diagnostics.

A callback may implement any of the hooks below; its ``state_dict`` is saved in every
checkpoint and restored on ``--resume`` so that a resumed run continues exactly.
``build_callbacks(cfg, model)`` turns the config into the list the trainer runs:

``[surrogate] schedule`` (``auto`` = the seed method of the chosen surrogate)
    ``adali_log`` / ``adali_linear``: AdaLi boundaries shrink per epoch; compute density per epoch.
    ``slope_interval`` / ``slope_adaptive``: slope k = 1/width of any width surrogate per epoch.
    ``asgl``: ASGL spike probability milestones and the width's own Adam.
    ``a2sg``: per-layer β search of the ASY surrogate (SGV ↓, TGC ↑) every N steps.
``[diagnostics] enabled``
    per-layer SGV, TGC, gradient CV, gradient norm, compute density, firing rate (diag_* keys).

Local gradients δ^l[t] are taken w.r.t. the *input current* of neuron layer l (the output of the
Linear/Conv before it), captured with tensor hooks, so every kernel backend works. For LIF
``∂L/∂x = α·∂L/∂v'`` (α = dt/τ constant): TGC and the argmin of SGV are those of ∂L/∂u.
"""

from __future__ import annotations

import math
import time
import warnings

import torch
from torch import nn

from neurodeploy.errors import ConfigError
from neurodeploy.surrogates import gradstats, schedules
from neurodeploy.train.config import Field


class Callback:
    """Hooks called by :class:`~neurodeploy.train.trainer.Trainer` (all optional)."""

    name = "callback"

    def on_train_start(self, trainer) -> None: ...

    def on_epoch_start(self, trainer, epoch: int) -> None: ...

    def on_after_backward(self, trainer, step: int) -> None:
        """Gradients are in ``.grad``; the optimiser has not stepped yet."""

    def on_epoch_end(self, trainer, epoch: int, metrics: dict) -> None:
        """May add JSON-able entries to ``metrics`` (written to metrics.jsonl)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


# ----------------------------------------------------------------------------------------------
# model helpers


def neuron_layers(model: nn.Module) -> list[nn.Module]:
    """The spiking neuron modules of ``model`` in order (anything with a ``.surrogate``)."""
    from neurodeploy.neurons import SpikingNeuron

    return [m for m in model.modules() if isinstance(m, SpikingNeuron)]


def synaptic_weights(model: nn.Module) -> list[torch.Tensor | None]:
    """For each neuron layer, the weight of the nearest preceding layer that has one."""
    from neurodeploy.neurons import SpikingNeuron

    out, last = [], None
    for m in model.modules():
        if isinstance(m, SpikingNeuron):
            out.append(last)
        elif isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.requires_grad:
            last = m.weight
    return out


class _BatchTap:
    """Remembers the last training batch by wrapping ``trainer._loss`` (one per trainer), so
    that searches and diagnostics can re-run the loss on the same batch."""

    def __init__(self, trainer):
        self.x = self.y = None
        self.loss = trainer._loss

        def tapped(x, y):
            self.x, self.y = x, y
            return self.loss(x, y)

        trainer._loss = tapped

    @classmethod
    def of(cls, trainer) -> _BatchTap:
        tap = getattr(trainer, "_neurodeploy_batch_tap", None)
        if tap is None:
            tap = cls(trainer)
            trainer._neurodeploy_batch_tap = tap
        return tap


def local_gradients(trainer, tap: _BatchTap, layers) -> list[torch.Tensor | None]:
    """δ^l = ∂L/∂(input current of neuron layer l), shape (T, B, …), on the tapped batch.

    One extra forward and a partial backward (only to the neuron inputs; no ``.grad`` is
    touched). Density tracking is paused meanwhile."""
    inputs: list = [None] * len(layers)
    hooks = []
    for n, layer in enumerate(layers):
        def pre(_m, args, n=n):
            inputs[n] = args[0]
        hooks.append(layer.register_forward_pre_hook(pre))
    tracking = [layer.surrogate.live.pause() for layer in layers]
    try:
        with torch.enable_grad():
            loss, _ = tap.loss(tap.x, tap.y)
            wanted = [(n, x) for n, x in enumerate(inputs) if x is not None and x.requires_grad]
            grads = torch.autograd.grad(loss, [x for _, x in wanted], allow_unused=True)
    finally:
        for h in hooks:
            h.remove()
        for layer, t in zip(layers, tracking):
            layer.surrogate.live.resume(t)
    out: list = [None] * len(layers)
    for (n, x), g in zip(wanted, grads):
        out[n] = torch.zeros_like(x) if g is None else g
    return out


def check_live_honoured(surrogate, name: str) -> None:
    """Raise if the current kernel backend ignores in-place changes of ``surrogate``'s live value
    ``name`` (a 1-neuron probe: IF neuron, v' = 0.8, v_th = 1 → u = −0.2)."""
    from neurodeploy.neurons.functional import IFParameters, coefficients
    from neurodeploy.neurons.kernels import get_backend, run_sequence

    live = surrogate.live
    old, track = live.get(name), live.pause()
    try:
        live.set(name, old * 1.7)
        x = torch.full((1, 1, 1), 0.8, requires_grad=True)
        z, _ = run_sequence(x, coefficients(IFParameters(v_th=1.0), 1e-3), surrogate)
        z.sum().backward()
        with torch.no_grad():
            expected = float(surrogate.derivative(torch.tensor(-0.2)))
    finally:
        live.set(name, old)
        live.resume(track)
    got = float(x.grad.reshape(()))
    if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-7):
        raise ConfigError(
            f"surrogate {surrogate.name!r}: the neuron kernel backend {get_backend()!r} ignores the "
            f"live value {name!r} (probe gradient {got:.6g}, expected {expected:.6g}), so its "
            "schedule would have no effect; set NEURODEPLOY_KERNEL=torch (or reference), or use "
            "another width surrogate (sigmoid, arctan, triangle, …)")


# ----------------------------------------------------------------------------------------------
# surrogate mode and schedules


class SurrogateMode(Callback):
    """Sets the surrogates' training flag at epoch start and clears it after evaluation, so that a
    model used after ``fit`` behaves as in evaluation (needed for surrogates with ``fused = False``
    until neuron modules forward ``train()/eval()`` to their surrogate)."""

    name = "surrogate_mode"

    def __init__(self, model):
        self.layers = neuron_layers(model)

    def on_epoch_start(self, trainer, epoch):
        for layer in self.layers:
            layer.surrogate.train(True)

    def on_epoch_end(self, trainer, epoch, metrics):
        for layer in self.layers:
            layer.surrogate.eval()


class AdaLiSchedule(Callback):
    """AdaLi boundaries per epoch (``schedules.adali_distance``) and the compute density: the
    fraction of surrogate-derivative entries (neurons × steps × samples) inside [V⁻, V⁺] during
    the epoch's training backward passes."""

    name = "adali"

    def __init__(self, model, kind: str, p: float):
        self.layers = neuron_layers(model)
        self.kind, self.p = kind, p
        self.epochs = 1

    def on_train_start(self, trainer):
        self.epochs = trainer.cfg["train"]["epochs"]

    def set_epoch(self, epoch: int, epochs: int) -> None:
        for layer in self.layers:
            s = layer.surrogate
            s.live.set("left", schedules.adali_distance(epoch, epochs, s.left, self.p, self.kind))
            s.live.set("right", schedules.adali_distance(epoch, epochs, s.right, self.p, self.kind))

    def on_epoch_start(self, trainer, epoch):
        self.set_epoch(epoch, self.epochs)
        for layer in self.layers:
            layer.surrogate.live.reset_density()
            layer.surrogate.live.track = True

    def on_epoch_end(self, trainer, epoch, metrics):
        lives = [layer.surrogate.live for layer in self.layers]
        active = sum(float(v.active) for v in lives)
        total = sum(float(v.total) for v in lives)
        metrics["adali_left"] = lives[0].get("left")
        metrics["adali_right"] = lives[0].get("right")
        metrics["adali_compute_density"] = active / total if total else None
        metrics["adali_compute_density_layers"] = [v.density() for v in lives]

    def state_dict(self):
        return {"live": [layer.surrogate.live.state_dict() for layer in self.layers]}

    def load_state_dict(self, state):
        for layer, s in zip(self.layers, state.get("live", [])):
            layer.surrogate.live.load_state_dict(s)


class SlopeSchedule(Callback):
    """Slope k = 1/width of every neuron layer's surrogate, per epoch (seed 002).

    ``interval``: ``schedules.slope_interval``. ``adaptive``: ``schedules.slope_adaptive`` of the
    history of ``signal`` in percent (train accuracy by default), updated after each epoch."""

    name = "slope"

    def __init__(self, model, mode: str, params: dict):
        self.layers = neuron_layers(model)
        self.mode, self.params = mode, dict(params)
        self.history: list[float] = []
        self.k = None
        self.epochs = 1

    def on_train_start(self, trainer):
        self.epochs = trainer.cfg["train"]["epochs"]
        check_live_honoured(self.layers[0].surrogate, "width")

    def slope(self, epoch: int) -> float:
        p = self.params
        if self.mode == "interval":
            return schedules.slope_interval(epoch, self.epochs, p["k_start"], p["k_end"],
                                            p["intervals"], p["spacing"])
        return schedules.slope_adaptive(self.history, p["window"], p["w_level"], p["w_diff"],
                                        p["k_min"], p["k_max"])

    def on_epoch_start(self, trainer, epoch):
        self.k = self.slope(epoch)
        for layer in self.layers:
            layer.surrogate.live.set("width", 1.0 / self.k)

    def on_epoch_end(self, trainer, epoch, metrics):
        metrics["slope_k"] = self.k
        if self.mode == "adaptive":
            self.history.append(100.0 * float(metrics[self.params["signal"]]))

    def state_dict(self):
        return {"history": list(self.history), "k": self.k}

    def load_state_dict(self, state):
        self.history = [float(v) for v in state.get("history", [])]
        self.k = state.get("k")
        if self.k is not None:
            for layer in self.layers:
                layer.surrogate.live.set("width", 1.0 / self.k)


class ASGLSchedule(Callback):
    """ASGL: spike probability p per epoch (milestones, ``schedules.asgl_p``) and the learnable
    widths α (one per layer) stepped by their own Adam (``width_lr``, the seed code's 3e-4) after
    each backward. α below ``min_width`` is set to ``min_width`` with a warning and counted in
    ``asgl_width_clamped``."""

    name = "asgl"

    def __init__(self, model, params: dict):
        self.layers = neuron_layers(model)
        self.params = dict(params)
        self.alphas = [layer.surrogate.alpha for layer in self.layers if layer.surrogate.learn_width]
        self.opt = torch.optim.Adam(self.alphas, lr=params["width_lr"]) if self.alphas else None
        self.checked = False
        self.clamped = 0

    def on_epoch_start(self, trainer, epoch):
        for layer in self.layers:
            s = layer.surrogate
            s.live.set("p", schedules.asgl_p(epoch, s.p, self.params["zeta"], self.params["milestones"]))
            s.train(True)

    def on_after_backward(self, trainer, step):
        if self.opt is None:
            return
        if not self.checked:
            self.checked = True
            if all(a.grad is None for a in self.alphas):
                raise ConfigError(
                    "surrogate 'asgl': its width received no gradient, so the neuron kernel did not "
                    "run the noisy-spike forward (it must fall back to the reference loop when "
                    "surrogate.fused is False); set NEURODEPLOY_KERNEL=reference")
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        low = self.params["min_width"]
        with torch.no_grad():
            for a in self.alphas:
                if float(a) < low:
                    a.fill_(low)
                    self.clamped += 1
                    warnings.warn(f"ASGL width fell below min_width = {low}; set to {low}", stacklevel=2)

    def on_epoch_end(self, trainer, epoch, metrics):
        metrics["asgl_p"] = self.layers[0].surrogate.live.get("p")
        metrics["asgl_width"] = [layer.surrogate.live.get("width") for layer in self.layers]
        metrics["asgl_width_clamped"] = self.clamped
        for layer in self.layers:
            layer.surrogate.eval()

    def state_dict(self):
        return {"live": [layer.surrogate.live.state_dict() for layer in self.layers],
                "opt": self.opt.state_dict() if self.opt is not None else None,
                "checked": self.checked, "clamped": self.clamped}

    def load_state_dict(self, state):
        for layer, s in zip(self.layers, state.get("live", [])):
            layer.surrogate.live.load_state_dict(s)
        if self.opt is not None and state.get("opt"):
            self.opt.load_state_dict(state["opt"])
        self.checked = state.get("checked", False)
        self.clamped = state.get("clamped", 0)


class A2SGSearch(Callback):
    """A2SG width search for the ASY surrogate, per layer, every ``every_n_steps`` steps.

    Black-box search (our cheap stand-in for the paper's Bayesian search): on the current batch,
    evaluate the candidates β_l·c for c ∈ {1/γ, 1, γ} (all layers scaled together, one extra
    forward + partial backward per candidate) and keep per layer the c minimising

        J_l = ln SGV_l[T] − w · mean_t TGC_l[t]

    (SGV minimised at the last step, TGC maximised; ln makes the SGV term a relative change,
    comparable to a cosine). β stays in [beta_min, beta_max]. Time spent is reported as
    ``a2sg_search_seconds`` (cumulative), the per-layer β as ``a2sg_beta``.
    """

    name = "a2sg"

    def __init__(self, model, params: dict):
        self.layers = neuron_layers(model)
        self.params = dict(params)
        self.steps = 0
        self.seconds = 0.0
        self.last: dict = {}
        self.tap = None

    def on_train_start(self, trainer):
        self.tap = _BatchTap.of(trainer)

    def search(self, trainer) -> None:
        p = self.params
        lives = [layer.surrogate.live for layer in self.layers]
        base = [v.get("beta") for v in lives]
        factors = (1.0 / p["factor"], 1.0, p["factor"])
        scores = [[math.inf] * len(factors) for _ in lives]
        sgvs = [[math.inf] * len(factors) for _ in lives]
        tgcs = [[0.0] * len(factors) for _ in lives]
        try:
            for j, c in enumerate(factors):
                for v, b in zip(lives, base):
                    v.set("beta", b * c)
                deltas = local_gradients(trainer, self.tap, self.layers)
                for n, d in enumerate(deltas):
                    if d is None:
                        continue
                    s, t = gradstats.sgv(d[-1]), gradstats.mean_tgc(d)
                    sgvs[n][j], tgcs[n][j] = s, t
                    scores[n][j] = (math.log(s) if 0 < s < math.inf else math.inf) - p["tgc_weight"] * t
        finally:
            for v, b in zip(lives, base):
                v.set("beta", b)
        chosen_sgv, chosen_tgc = [], []
        for n, (v, b) in enumerate(zip(lives, base)):
            j = min(range(len(factors)), key=lambda k, n=n: (scores[n][k], abs(k - 1)))
            v.set("beta", min(max(b * factors[j], p["beta_min"]), p["beta_max"]))
            chosen_sgv.append(sgvs[n][j])
            chosen_tgc.append(tgcs[n][j])
        self.last = {"sgv": chosen_sgv, "tgc": chosen_tgc}

    def on_after_backward(self, trainer, step):
        if self.steps % self.params["every_n_steps"] == 0 and self.tap.x is not None:
            t0 = time.perf_counter()
            self.search(trainer)
            self.seconds += time.perf_counter() - t0
        self.steps += 1

    def on_epoch_end(self, trainer, epoch, metrics):
        metrics["a2sg_beta"] = [layer.surrogate.live.get("beta") for layer in self.layers]
        metrics["a2sg_search_seconds"] = self.seconds
        metrics["a2sg_sgv"] = [_json(v) for v in self.last.get("sgv", [])]
        metrics["a2sg_tgc"] = self.last.get("tgc", [])

    def state_dict(self):
        return {"live": [layer.surrogate.live.state_dict() for layer in self.layers],
                "steps": self.steps, "seconds": self.seconds}

    def load_state_dict(self, state):
        for layer, s in zip(self.layers, state.get("live", [])):
            layer.surrogate.live.load_state_dict(s)
        self.steps = state.get("steps", 0)
        self.seconds = state.get("seconds", 0.0)


def _json(v: float | None):
    """JSON has no inf/nan: None instead."""
    return None if v is None or not math.isfinite(v) else v


# ----------------------------------------------------------------------------------------------
# gradient diagnostics


class GradientDiagnostics(Callback):
    """Per-layer gradient statistics on every N-th training step, averaged per epoch.

    On a measured step, tensor hooks capture δ^l (T, B, …) of the real backward (no extra pass),
    and the keys added to the epoch's metrics (one value per neuron layer) are
    ``diag_sgv`` (Var(δ[T])/Mean|δ[T]|), ``diag_tgc`` (mean_t cos(δ[t], δ[t+1])), ``diag_grad_cv``
    (std(δ)/mean|δ| over all entries), ``diag_grad_norm`` (‖∂L/∂W‖ of the preceding weight),
    ``diag_compute_density`` (fraction of non-zero surrogate-derivative entries; 1 for surrogates
    with unbounded support), ``diag_firing_rate`` (training forward), plus ``diag_steps`` and
    ``diag_seconds``. With ``slope_cosine_every_n_steps``: ``diag_cosine_ref`` = cos(∂L/∂W at the
    current width, ∂L/∂W at width 1/reference_slope) (one extra forward+backward; only for
    surrogates with a live ``width`` and ``fused``; steps where either gradient is zero are skipped).
    """

    name = "diagnostics"
    KEYS = ("sgv", "tgc", "grad_cv", "grad_norm", "compute_density", "firing_rate", "cosine_ref")

    def __init__(self, model, every_n_steps: int = 20, cosine_every: int = 0,
                 reference_slope: float = 100.0):
        self.layers = neuron_layers(model)
        self.weights = synaptic_weights(model)
        self.every, self.cosine_every, self.reference_slope = every_n_steps, cosine_every, reference_slope
        self.steps = 0
        self.armed = False
        self.deltas: list = [None] * len(self.layers)
        self.rates: list = [None] * len(self.layers)
        self.snap: list = []
        self.tap = None
        self._reset()
        for n, layer in enumerate(self.layers):
            layer.register_forward_pre_hook(self._pre_hook(n))
            layer.register_forward_hook(self._post_hook(n))

    def _reset(self):
        self.acc = {k: [[] for _ in self.layers] for k in self.KEYS}
        self.count = 0
        self.seconds = 0.0

    def _pre_hook(self, n):
        def hook(_m, args):
            x = args[0]
            if self.armed and torch.is_grad_enabled() and x.requires_grad:
                def keep(g):
                    self.deltas[n] = g
                x.register_hook(keep)
        return hook

    def _post_hook(self, n):
        def hook(_m, _args, out):
            if self.armed and torch.is_grad_enabled():
                self.rates[n] = float(out.detach().float().mean())
        return hook

    def _arm(self):
        self.armed = self.steps % self.every == 0
        if self.armed:
            lives = [layer.surrogate.live for layer in self.layers]
            self.snap = [(float(v.active), float(v.total)) for v in lives]
            for v in lives:
                v.track_diag = True

    def on_train_start(self, trainer):
        if self.cosine_every:
            self.tap = _BatchTap.of(trainer)
            for layer in self.layers:
                s = layer.surrogate
                if "width" in s.live_names and s.fused:
                    check_live_honoured(s, "width")
        self._arm()

    def on_epoch_start(self, trainer, epoch):
        self._reset()

    def on_after_backward(self, trainer, step):
        if self.armed:
            t0 = time.perf_counter()
            self._measure(trainer)
            self.seconds += time.perf_counter() - t0
        self.steps += 1
        self._arm()

    def _measure(self, trainer):
        lives = [layer.surrogate.live for layer in self.layers]
        for n, (layer, v) in enumerate(zip(self.layers, lives)):
            d = self.deltas[n]
            if d is not None:
                self.acc["sgv"][n].append(gradstats.sgv(d[-1]))
                self.acc["tgc"][n].append(gradstats.mean_tgc(d))
                self.acc["grad_cv"][n].append(gradstats.cv(d))
            w = self.weights[n]
            if w is not None and w.grad is not None:
                self.acc["grad_norm"][n].append(float(w.grad.norm()))
            if layer.surrogate.compact:
                a0, t0 = self.snap[n]
                seen = float(v.total) - t0
                if seen:
                    self.acc["compute_density"][n].append((float(v.active) - a0) / seen)
            else:
                self.acc["compute_density"][n].append(1.0)
            if self.rates[n] is not None:
                self.acc["firing_rate"][n].append(self.rates[n])
            v.track_diag = False
        if self.cosine_every and self.steps % self.cosine_every == 0 and self.tap.x is not None:
            for n, c in enumerate(self._cosine_ref(trainer)):
                if c is not None:
                    self.acc["cosine_ref"][n].append(c)
        self.deltas = [None] * len(self.layers)
        self.rates = [None] * len(self.layers)
        self.armed = False

    def _cosine_ref(self, trainer) -> list:
        ok = ["width" in layer.surrogate.live_names and layer.surrogate.fused for layer in self.layers]
        idx = [n for n, w in enumerate(self.weights) if w is not None and w.grad is not None and ok[n]]
        if not idx:
            return [None] * len(self.layers)
        old = [layer.surrogate.live.get("width") if ok[n] else None for n, layer in enumerate(self.layers)]
        tracking = [layer.surrogate.live.pause() for layer in self.layers]
        try:
            for n, layer in enumerate(self.layers):
                if ok[n]:
                    layer.surrogate.live.set("width", 1.0 / self.reference_slope)
            with torch.enable_grad():
                loss, _ = self.tap.loss(self.tap.x, self.tap.y)
                ref = torch.autograd.grad(loss, [self.weights[n] for n in idx], allow_unused=True)
        finally:
            for n, layer in enumerate(self.layers):
                layer.surrogate.live.resume(tracking[n])
                if ok[n]:
                    layer.surrogate.live.set("width", old[n])
        out: list = [None] * len(self.layers)
        for n, g in zip(idx, ref):
            w = self.weights[n].grad
            if g is not None and float(w.norm()) > 0 and float(g.norm()) > 0:
                out[n] = gradstats.cosine(w, g)  # undefined (skipped) when either is zero
        return out

    def on_epoch_end(self, trainer, epoch, metrics):
        for k in self.KEYS:
            if k == "cosine_ref" and not self.cosine_every:
                continue
            metrics[f"diag_{k}"] = [_json(_mean(v)) for v in self.acc[k]]
        metrics["diag_steps"] = self.count_steps()
        metrics["diag_seconds"] = self.seconds

    def count_steps(self) -> int:
        return max((len(v) for v in self.acc["grad_norm"]), default=0)

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state.get("steps", 0)


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


# ----------------------------------------------------------------------------------------------
# config → callbacks

P = Field
SCHEDULE_PARAMS: dict[str, dict[str, Field]] = {
    "none": {},
    "adali_log": {"p": P(float, 0.2, "final boundary distance as a fraction of the initial", min=0.0, max=1.0)},
    "adali_linear": {"p": P(float, 0.2, "final boundary distance as a fraction of the initial", min=0.0, max=1.0)},
    "slope_interval": {
        "k_start": P(float, 1.0, "slope k = 1/width of the first interval", min=1e-6),
        "k_end": P(float, 100.0, "slope of the last interval", min=1e-6),
        "intervals": P(int, 5, "number of equal blocks of epochs", min=1),
        "spacing": P(str, "linear", "steps between slopes", choices=("linear", "log")),
    },
    "slope_adaptive": {
        "window": P(int, 10, "epochs in the weighted sum", min=1),
        "w_level": P(float, 0.5, "weight of the signal level"),
        "w_diff": P(float, 0.5, "weight of the signal difference"),
        "k_min": P(float, 1.0, "smallest slope", min=1e-6),
        "k_max": P(float, 100.0, "largest slope", min=1e-6),
        "signal": P(str, "train_accuracy", "signal in percent", choices=("train_accuracy", "test_accuracy")),
    },
    "asgl": {
        "zeta": P(float, 1.0, "p ← 1 − (1 − p)·zeta at each milestone", min=0.0, max=1.0),
        "milestones": P(list, [], "1-based epoch numbers at which p is raised"),
        "width_lr": P(float, 3e-4, "Adam learning rate of the widths α", min=0.0),
        "min_width": P(float, 1e-3, "smallest width α (set with a warning below)", min=1e-9),
    },
    "a2sg": {
        "every_n_steps": P(int, 50, "search every N training steps", min=1),
        "factor": P(float, 1.5, "candidate widths β/γ, β, β·γ", min=1.0 + 1e-9),
        "tgc_weight": P(float, 1.0, "weight w of TGC against ln SGV", min=0.0),
        "beta_min": P(float, 0.05, "smallest β", min=1e-9),
        "beta_max": P(float, 5.0, "largest β", min=1e-9),
    },
}
AUTO_SCHEDULE = {"adali": "adali_log", "asgl": "asgl", "asy": "a2sg"}
NEEDS_SURROGATE = {"adali_log": "adali", "adali_linear": "adali", "asgl": "asgl", "a2sg": "asy"}


def schedule_params(schedule: str, given: dict) -> dict:
    """``given`` checked against ``SCHEDULE_PARAMS[schedule]``, defaults filled."""
    table = SCHEDULE_PARAMS[schedule]
    out = {}
    for key, value in given.items():
        if key not in table:
            raise ConfigError(f"[surrogate] schedule_params: unknown key {key!r} for schedule "
                              f"{schedule!r}; known: {', '.join(table) or 'none'}")
        f = table[key]
        if f.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, f.type):
            raise ConfigError(f"[surrogate] schedule_params.{key}: expected "
                              f"{f.type.__name__}, got {value!r}")
        if f.choices is not None and value not in f.choices:
            raise ConfigError(f"[surrogate] schedule_params.{key}: {value!r} is not one of "
                              f"{', '.join(f.choices)}")
        if f.min is not None and value < f.min or f.max is not None and value > f.max:
            raise ConfigError(f"[surrogate] schedule_params.{key}: {value!r} is outside "
                              f"[{f.min}, {f.max}]")
        if f.type is list and not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
            raise ConfigError(f"[surrogate] schedule_params.{key}: expected 1-based epoch numbers, got {value!r}")
        out[key] = value
    for key, f in table.items():
        out.setdefault(key, list(f.default) if isinstance(f.default, list) else f.default)
    return out


def resolve_schedule(surrogate_cfg: dict) -> str:
    schedule = surrogate_cfg.get("schedule", "auto")
    if schedule == "auto":
        schedule = AUTO_SCHEDULE.get(surrogate_cfg["name"], "none")
    return schedule


def build_callbacks(cfg: dict, model) -> list[Callback]:
    """Callbacks requested by ``cfg``: the surrogate's schedule and, if enabled, diagnostics."""
    s_cfg = cfg["surrogate"]
    schedule = resolve_schedule(s_cfg)
    params = schedule_params(schedule, s_cfg.get("schedule_params", {}))
    layers = neuron_layers(model)
    name = s_cfg["name"]
    need = NEEDS_SURROGATE.get(schedule)
    if need is not None and name != need:
        raise ConfigError(f"[surrogate] schedule = {schedule!r} needs name = {need!r}, got {name!r}")
    callbacks: list[Callback] = []
    if any(not layer.surrogate.fused for layer in layers):
        callbacks.append(SurrogateMode(model))
    if schedule in ("adali_log", "adali_linear"):
        callbacks.append(AdaLiSchedule(model, schedule.removeprefix("adali_"), params["p"]))
    elif schedule in ("slope_interval", "slope_adaptive"):
        bad = [layer.surrogate.name for layer in layers
               if "width" not in layer.surrogate.live_names or not layer.surrogate.fused]
        if bad:
            raise ConfigError(f"[surrogate] schedule = {schedule!r} needs a surrogate with a width "
                              f"(fast_sigmoid, sigmoid, arctan, triangle, rectangle, gaussian), got {bad[0]!r}")
        callbacks.append(SlopeSchedule(model, schedule.removeprefix("slope_"), params))
    elif schedule == "asgl":
        callbacks.append(ASGLSchedule(model, params))
    elif schedule == "a2sg":
        callbacks.append(A2SGSearch(model, params))
    elif name == "asgl" and any(layer.surrogate.learn_width for layer in layers):
        raise ConfigError("[surrogate] name = 'asgl' with schedule = 'none' cannot learn its width "
                          "(its optimiser lives in the asgl schedule); use schedule = 'asgl' or "
                          "params.learn_width = false")
    d = cfg.get("diagnostics") or {}
    if d.get("enabled"):
        callbacks.append(GradientDiagnostics(model, d.get("every_n_steps", 20),
                                             d.get("slope_cosine_every_n_steps", 0),
                                             d.get("reference_slope", 100.0)))
    return callbacks
