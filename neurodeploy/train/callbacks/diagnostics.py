"""Per-layer gradient diagnostics (diag_* metrics): SGV, TGC, gradient CV and norm, compute
density, firing rate, cosine to a reference slope."""

from __future__ import annotations

import math
import time

import torch

from neurodeploy.surrogates import gradstats
from neurodeploy.train.callbacks.base import (
    BatchTap,
    Callback,
    _json,
    check_live_honoured,
    neuron_layers,
    synaptic_weights,
)

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
            self.tap = BatchTap.of(trainer)
            for layer in self.layers:
                s = layer.surrogate
                if "width" in s.live_names and s.fused:
                    check_live_honoured(s, "width")
        self._arm()

    def on_epoch_start(self, trainer, epoch):
        self._reset()

    def on_batch(self, trainer, step, x, y):
        if self.tap is not None:
            self.tap.on_batch(x, y)

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


