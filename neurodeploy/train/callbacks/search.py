"""A2SG: per-layer β search of the ASY surrogate every N training steps."""

from __future__ import annotations

import math
import time

from neurodeploy.surrogates import gradstats
from neurodeploy.train.callbacks.base import (
    BatchTap,
    Callback,
    _json,
    local_gradients,
    neuron_layers,
)


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
        self.tap = BatchTap.of(trainer)

    def on_batch(self, trainer, step, x, y):
        self.tap.on_batch(x, y)

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
                    s, t = gradstats.SGV_OBJECTIVES[p["objective"]](d[-1]), gradstats.mean_tgc(d)
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


